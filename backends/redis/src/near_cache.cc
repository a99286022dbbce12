#include "near_cache.h"

#include <algorithm>
#include <functional>
#include <utility>

namespace credstore::redis_internal {
namespace {

// A key with its hash, computed once per Lookup for both the shard and the shard's map.
struct HashedKey {
  std::string_view key;
  std::size_t hash;
};

// Transparent, so lookups by string_view or HashedKey build no std::string.
struct KeyHash {
  using is_transparent = void;
  std::size_t operator()(std::string_view key) const { return std::hash<std::string_view>()(key); }
  std::size_t operator()(const HashedKey& key) const { return key.hash; }
};
struct KeyEqual {
  using is_transparent = void;
  bool operator()(std::string_view a, std::string_view b) const { return a == b; }
  bool operator()(std::string_view a, const HashedKey& b) const { return a == b.key; }
  bool operator()(const HashedKey& a, std::string_view b) const { return a.key == b; }
};

std::size_t EntryBytes(std::string_view key, const std::optional<VersionedValue>& record) {
  // The value and key as stored, plus a rough allowance for the nodes that hold them.
  constexpr std::size_t kOverhead = 96;
  return key.size() + (record ? record->value.size() : 0) + kOverhead;
}

}  // namespace

struct alignas(64) NearCache::Shard {
  struct Slot {
    std::string key;
    Record record;
    Clock::time_point read_at;  // when the read that filled it was issued
    std::size_t bytes = 0;
    // Set by a hit, cleared when eviction passes the slot over once (second chance): a hit
    // writes one flag in its own slot instead of relinking the list, whose neighbouring nodes
    // the other threads' hits would otherwise keep pulling from core to core.
    bool referenced = false;
    // Set by the hit that asked for this entry's refresh: one request per entry (the refresh
    // replaces the slot, and a refresh that never comes leaves the entry to expire).
    bool refresh_asked = false;
  };
  // A read in flight: how many readers of the key, and how often it was invalidated meanwhile.
  struct InFlight {
    std::size_t readers = 0;
    std::uint64_t sequence = 0;
  };

  // A hit writes the mutex and one counter: both on the shard's first cache line (the shard
  // is aligned to one), so a hit on another core pulls one line, not two.
  std::mutex mutex;
  std::uint64_t hits = 0;
  std::uint64_t misses = 0;
  std::list<Slot> lru;  // newest first; evicted from the back, second chance for referenced ones
  std::unordered_map<std::string, std::list<Slot>::iterator, KeyHash, KeyEqual> index;
  std::unordered_map<std::string, InFlight, KeyHash, std::equal_to<>> in_flight;
  std::size_t bytes = 0;
  std::size_t max_entries = 0;
  std::size_t max_bytes = 0;
  Stats stats;  // fills..invalidations; the rest are filled in by NearCache::stats()

  void Remove(std::list<Slot>::iterator slot) {
    bytes -= slot->bytes;
    index.erase(slot->key);
    lru.erase(slot);
  }
};

NearCache::NearCache(Limits limits) : limits_(limits), tick_(Clock::resolution()) {
  const std::size_t count = std::max<std::size_t>(1, std::min(limits_.shards, limits_.max_entries));
  shards_.reserve(count);
  for (std::size_t i = 0; i < count; ++i) {
    auto shard = std::make_unique<Shard>();
    shard->max_entries = std::max<std::size_t>(1, limits_.max_entries / count);
    shard->max_bytes = std::max<std::size_t>(1, limits_.max_bytes / count);
    shards_.push_back(std::move(shard));
  }
}

NearCache::~NearCache() = default;

NearCache::Shard& NearCache::ShardOf(std::string_view key) {
  return *shards_[KeyHash()(key) % shards_.size()];
}

NearCache::Found NearCache::Lookup(std::string_view key, bool may_block,
                                   FunctionRef<void(const Record& record)> on_hit,
                                   bool* refresh_due) {
  const HashedKey hashed{key, KeyHash()(key)};
  Shard& shard = *shards_[hashed.hash % shards_.size()];  // as ShardOf, without hashing twice
  std::unique_lock lock(shard.mutex, std::defer_lock);
  if (may_block) {
    lock.lock();
  } else if (!lock.try_lock()) {
    return Found::kBusy;
  }
  const auto found = shard.index.find(hashed);
  if (found == shard.index.end()) {
    ++shard.misses;
    return Found::kMiss;
  }
  const auto slot = found->second;
  // The clock runs behind by up to a tick: with the tick added, the age is never short of the
  // true one (no entry is answered at or past max_age).
  const Clock::duration age = Clock::now() - slot->read_at + tick_;
  if (age >= limits_.max_age) {
    shard.Remove(slot);
    ++shard.misses;
    return Found::kMiss;
  }
  if (!slot->referenced) slot->referenced = true;  // no write (and no line taken) once set
  if (refresh_due != nullptr && limits_.refresh_after.count() > 0 && age >= limits_.refresh_after &&
      !slot->refresh_asked) {
    slot->refresh_asked = true;
    ++shard.stats.refreshes;
    *refresh_due = true;
  }
  ++shard.hits;
  on_hit(slot->record);
  return Found::kHit;
}

NearCache::Ticket NearCache::BeginRead(std::string_view key) {
  Shard& shard = ShardOf(key);
  Ticket ticket;
  // The epoch is read before the read is sent: a flush from now on refuses the fill.
  ticket.epoch = epoch_.load();
  ticket.read_at = Clock::now();
  std::lock_guard lock(shard.mutex);
  auto found = shard.in_flight.find(key);
  if (found == shard.in_flight.end())
    found = shard.in_flight.emplace(std::string(key), Shard::InFlight()).first;
  ++found->second.readers;
  ticket.sequence = found->second.sequence;
  return ticket;
}

void NearCache::EndRead(Shard& shard, std::string_view key) {
  const auto found = shard.in_flight.find(key);
  if (found != shard.in_flight.end() && --found->second.readers == 0) shard.in_flight.erase(found);
}

bool NearCache::Fill(const Ticket& ticket, std::string_view key,
                     std::optional<VersionedValue> record) {
  Shard& shard = ShardOf(key);
  const std::size_t bytes = EntryBytes(key, record);
  std::lock_guard lock(shard.mutex);
  const auto flight = shard.in_flight.find(key);
  // Flush bumps the epoch before it empties the shards (under each shard's lock), so a fill
  // that sees the old epoch here is either emptied by that flush or was never at risk.
  const bool fresh = epoch_.load() == ticket.epoch && flight != shard.in_flight.end() &&
                     flight->second.sequence == ticket.sequence;
  EndRead(shard, key);
  if (!fresh || bytes > shard.max_bytes) {
    ++shard.stats.fills_dropped;
    return false;
  }
  if (const auto old = shard.index.find(key); old != shard.index.end()) shard.Remove(old->second);
  while (!shard.lru.empty() &&
         (shard.lru.size() >= shard.max_entries || shard.bytes + bytes > shard.max_bytes)) {
    const auto oldest = std::prev(shard.lru.end());
    if (oldest->referenced) {  // used since it last came by: goes round once more
      oldest->referenced = false;
      shard.lru.splice(shard.lru.begin(), shard.lru, oldest);
      continue;
    }
    shard.Remove(oldest);
    ++shard.stats.evictions;
  }
  shard.lru.push_front(Shard::Slot{std::string(key), std::move(record), ticket.read_at, bytes});
  shard.index.emplace(shard.lru.front().key, shard.lru.begin());
  shard.bytes += bytes;
  ++shard.stats.fills;
  return true;
}

void NearCache::Abandon(const Ticket& ticket, std::string_view key) {
  (void)ticket;
  Shard& shard = ShardOf(key);
  std::lock_guard lock(shard.mutex);
  EndRead(shard, key);
}

void NearCache::Invalidate(std::string_view key) {
  Shard& shard = ShardOf(key);
  std::lock_guard lock(shard.mutex);
  if (const auto flight = shard.in_flight.find(key); flight != shard.in_flight.end()) {
    ++flight->second.sequence;
  }
  if (const auto found = shard.index.find(key); found != shard.index.end()) {
    shard.Remove(found->second);
    ++shard.stats.invalidations;
  }
}

void NearCache::Flush() {
  epoch_.fetch_add(1);
  flushes_.fetch_add(1, std::memory_order_relaxed);
  for (const auto& shard : shards_) {
    std::lock_guard lock(shard->mutex);
    shard->lru.clear();
    shard->index.clear();
    shard->bytes = 0;
  }
}

NearCache::Stats NearCache::stats() const {
  Stats total;
  for (const auto& shard : shards_) {
    std::lock_guard lock(shard->mutex);
    total.hits += shard->hits;
    total.misses += shard->misses;
    total.fills += shard->stats.fills;
    total.fills_dropped += shard->stats.fills_dropped;
    total.evictions += shard->stats.evictions;
    total.invalidations += shard->stats.invalidations;
    total.refreshes += shard->stats.refreshes;
    total.entries += shard->lru.size();
    total.bytes += shard->bytes;
  }
  total.flushes = flushes_.load(std::memory_order_relaxed);
  total.subscriber_losses = subscriber_losses_.load(std::memory_order_relaxed);
  return total;
}

}  // namespace credstore::redis_internal
