// Internal to credstore::redis: the near-cache of records (RedisOptions::cache), without any
// Redis in it. The backend decides what is cached and when an entry is stale; this class keeps
// the entries and enforces the rules that make a fill safe:
//
// - A fill is inserted only if neither an invalidation of its key nor a flush happened since
//   the read was issued. BeginRead (called before the read is sent) returns a ticket holding the
//   flush epoch and marks the key as in flight; Invalidate bumps the key's in-flight sequence,
//   Flush the epoch; Fill compares both under the shard's lock. The read's reply and the
//   invalidation arrive on different sockets, so either may come first.
// - An entry older than `max_age` (counted from when its read was issued) is never answered.
//   Ages are read on a coarse clock (coarse_clock.h) with its tick added, so an entry leaves up
//   to one tick early, never late.
//   A hit on one older than `refresh_after` asks the caller, once per entry, to read the key
//   again (BeginRead, Fill) before it reaches `max_age`: a key in steady use is then replaced
//   while it is still answered, instead of missing once every `max_age`.
// - Bounded by entries and by bytes (key + value), per shard. Eviction is second chance (CLOCK):
//   the oldest entry goes first unless it was hit since it last came up, in which case it is
//   moved to the front once. A hit sets a flag and relinks nothing.
//
// Sharded by key hash, one mutex per shard: no global lock on a lookup.
//
// Thread safety: every method may be called from many threads at once.
#ifndef CREDSTORE_BACKENDS_REDIS_SRC_NEAR_CACHE_H_
#define CREDSTORE_BACKENDS_REDIS_SRC_NEAR_CACHE_H_

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <list>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "coarse_clock.h"
#include "credstore/storage_backend.h"

namespace credstore::redis_internal {

class NearCache {
 public:
  using Clock = CoarseMonotonicClock;

  // One cached answer: the record, or nullopt for "no record" (an absence is cached too).
  using Record = std::optional<VersionedValue>;

  // What a lookup found.
  enum class Found {
    kHit,   // the record (or its absence) was copied out
    kMiss,  // not cached, or older than max_age
    kBusy,  // the shard's lock was held and the caller may not block
  };

  struct Limits {
    std::size_t max_entries = 0;  // >= 1
    std::size_t max_bytes = 0;    // >= 1
    std::chrono::milliseconds max_age{0};
    // Lock shards; each holds max_entries / shards entries and max_bytes / shards bytes at most
    // (so the totals never exceed the bounds). Fewer when max_entries is smaller. >= 1.
    std::size_t shards = 64;
    // A hit at least this old asks for a refresh (Lookup's `refresh_due`); 0: never.
    std::chrono::milliseconds refresh_after{0};
  };

  // What BeginRead hands the reader; pass it to Fill (or to Abandon when no fill follows).
  struct Ticket {
    std::uint64_t epoch = 0;
    std::uint64_t sequence = 0;
    Clock::time_point read_at;
  };

  struct Stats {
    std::uint64_t hits = 0;
    std::uint64_t misses = 0;
    std::uint64_t fills = 0;
    std::uint64_t fills_dropped = 0;  // refused: invalidated or flushed since the read
    std::uint64_t evictions = 0;      // pushed out by the entry or byte bound
    std::uint64_t invalidations = 0;  // entries removed by Invalidate
    std::uint64_t refreshes = 0;      // hits that asked for a refresh (refresh_due)
    std::uint64_t flushes = 0;
    std::uint64_t subscriber_losses = 0;  // CountSubscriberLoss calls: a node's subscriber lost
    std::size_t entries = 0;
    std::size_t bytes = 0;
  };

  explicit NearCache(Limits limits);
  ~NearCache();
  NearCache(const NearCache&) = delete;
  NearCache& operator=(const NearCache&) = delete;

  // On a hit, calls `on_hit` with what is cached under `key`, in place, under the shard's lock
  // (it must be short and must not call the cache); not at all otherwise. With `may_block` false
  // the shard's lock is only tried (kBusy when it is held). Nothing is shared out of the lock
  // and no reference count is touched: a hit writes only the shard's own cache line (its lock
  // and hit counter), so hits on two cores do not pull each other's entries (and whatever lies
  // beside them in memory) from core to core.
  //
  // `refresh_due` (may be null) is set true on a hit of an entry at least `refresh_after` old
  // that no earlier hit asked to refresh: the caller should read `key` again, in the
  // background, so that the entry is replaced before it reaches max_age. Left alone otherwise.
  Found Lookup(std::string_view key, bool may_block, FunctionRef<void(const Record& record)> on_hit,
               bool* refresh_due = nullptr);

  // Marks `key` as being read; call before the read is sent.
  Ticket BeginRead(std::string_view key);
  // Inserts the answer of the read `ticket` began, unless `key` was invalidated or the cache
  // flushed since; ends the read either way. True iff inserted.
  bool Fill(const Ticket& ticket, std::string_view key, std::optional<VersionedValue> record);
  // Ends the read `ticket` began without inserting anything (the read failed).
  void Abandon(const Ticket& ticket, std::string_view key);

  // Drops `key`'s entry, and makes every read of it in flight unfit to fill.
  void Invalidate(std::string_view key);
  // Drops every entry, and makes every read in flight unfit to fill.
  void Flush();
  // Counts the loss of an invalidation subscriber (which flushes): kept here, with the other
  // counters, because a cluster's nodes (and their subscribers) come and go with its map.
  void CountSubscriberLoss() { subscriber_losses_.fetch_add(1, std::memory_order_relaxed); }

  Stats stats() const;
  const Limits& limits() const { return limits_; }

 private:
  struct Shard;
  Shard& ShardOf(std::string_view key);
  void EndRead(Shard& shard, std::string_view key);  // under shard.mutex

  const Limits limits_;
  const Clock::duration tick_;  // Clock::resolution(), added to every age Lookup measures
  std::atomic<std::uint64_t> epoch_{1};
  std::atomic<std::uint64_t> flushes_{0};
  std::atomic<std::uint64_t> subscriber_losses_{0};
  std::vector<std::unique_ptr<Shard>> shards_;
};

}  // namespace credstore::redis_internal

#endif  // CREDSTORE_BACKENDS_REDIS_SRC_NEAR_CACHE_H_
