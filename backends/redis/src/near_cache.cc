#include "near_cache.h"

#include <algorithm>
#include <functional>
#include <utility>

namespace credstore::redis_internal {
namespace {

// Transparent, so lookups by string_view build no std::string.
struct KeyHash {
  using is_transparent = void;
  std::size_t operator()(std::string_view key) const { return std::hash<std::string_view>()(key); }
};

std::size_t EntryBytes(std::string_view key, const std::optional<VersionedValue>& record) {
  // The value and key as stored, plus a rough allowance for the nodes that hold them.
  constexpr std::size_t kOverhead = 96;
  return key.size() + (record ? record->value.size() : 0) + kOverhead;
}

}  // namespace

struct NearCache::Shard {
  struct Slot {
    std::string key;
    EntryPtr entry;
    std::size_t bytes = 0;
  };
  // A read in flight: how many readers of the key, and how often it was invalidated meanwhile.
  struct InFlight {
    std::size_t readers = 0;
    std::uint64_t sequence = 0;
  };

  std::mutex mutex;
  std::list<Slot> lru;  // most recently used first
  std::unordered_map<std::string, std::list<Slot>::iterator, KeyHash, std::equal_to<>> index;
  std::unordered_map<std::string, InFlight, KeyHash, std::equal_to<>> in_flight;
  std::size_t bytes = 0;
  std::size_t max_entries = 0;
  std::size_t max_bytes = 0;
  Stats stats;  // hits..invalidations; entries and bytes are filled in by NearCache::stats()

  void Remove(std::list<Slot>::iterator slot) {
    bytes -= slot->bytes;
    index.erase(slot->key);
    lru.erase(slot);
  }
};

NearCache::NearCache(Limits limits) : limits_(limits) {
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

std::optional<NearCache::EntryPtr> NearCache::Lookup(std::string_view key, bool may_block) {
  Shard& shard = ShardOf(key);
  std::unique_lock lock(shard.mutex, std::defer_lock);
  if (may_block) {
    lock.lock();
  } else if (!lock.try_lock()) {
    return std::nullopt;
  }
  const auto found = shard.index.find(key);
  if (found == shard.index.end()) {
    ++shard.stats.misses;
    return EntryPtr();
  }
  const auto slot = found->second;
  if (Clock::now() - slot->entry->read_at >= limits_.max_age) {
    shard.Remove(slot);
    ++shard.stats.misses;
    return EntryPtr();
  }
  shard.lru.splice(shard.lru.begin(), shard.lru, slot);
  ++shard.stats.hits;
  return slot->entry;
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
  auto entry = std::make_shared<const Entry>(Entry{std::move(record), ticket.read_at});
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
    shard.Remove(std::prev(shard.lru.end()));
    ++shard.stats.evictions;
  }
  shard.lru.push_front(Shard::Slot{std::string(key), std::move(entry), bytes});
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
    total.hits += shard->stats.hits;
    total.misses += shard->stats.misses;
    total.fills += shard->stats.fills;
    total.fills_dropped += shard->stats.fills_dropped;
    total.evictions += shard->stats.evictions;
    total.invalidations += shard->stats.invalidations;
    total.entries += shard->lru.size();
    total.bytes += shard->bytes;
  }
  total.flushes = flushes_.load(std::memory_order_relaxed);
  total.subscriber_losses = subscriber_losses_.load(std::memory_order_relaxed);
  return total;
}

}  // namespace credstore::redis_internal
