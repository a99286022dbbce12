// Internal to credstore::redis: the near-cache as the backend uses it — which reads are
// cacheable, the tracking commands pipelined before them, the fill after them, and the
// invalidation of a key this backend writes. Redis-specific glue between the data connections
// (connection.h), the cache (near_cache.h) and the subscriber (invalidation_subscriber.h).
//
// A read is cached only when all of this holds:
// - its key starts with one of RedisOptions::cache_key_prefixes (the records verification
//   reads; replay and throttle keys are never tracked, since they are read without
//   `CLIENT CACHING yes`);
// - a subscriber is live, and the read's connection redirects its tracking to that subscriber's
//   CLIENT ID: a connection that redirects elsewhere (or nowhere) first gets
//   `CLIENT TRACKING off` + `CLIENT TRACKING on REDIRECT <id> OPTIN`, in the same pipeline
//   (off first: the connection's state is unknown after a failed exchange);
// - `CLIENT CACHING yes` goes right before the read, so only that read is tracked;
// - the cache took a ticket before the read was sent, and no invalidation of the key and no
//   flush came since (NearCache::Fill).
//
// A cluster keeps one TrackedReads (and so one subscriber) per node (node.h), all over the
// backend's one NearCache: keys are unique across nodes, and a lost subscriber flushes all of
// it, which is correct and rare. The cache itself is the backend's: lookups, the invalidation of
// a key this backend writes and the counters go to it directly.
//
// Thread safety: every method may be called from many threads at once; a Connection is used by
// one thread at a time (the pool's lease).
#ifndef CREDSTORE_BACKENDS_REDIS_SRC_TRACKED_READS_H_
#define CREDSTORE_BACKENDS_REDIS_SRC_TRACKED_READS_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "connection.h"
#include "invalidation_subscriber.h"
#include "near_cache.h"

namespace credstore::redis_internal {

// Whether the user `connection` is authenticated as may run everything the near-cache needs: the
// subscriber's CLIENT ID and SUBSCRIBE to kInvalidationChannel, and the data connections'
// CLIENT TRACKING and CLIENT CACHING. Redis 7 grants no channel to a user unless told to
// (acl-pubsub-default resetchannels), so a user made for credstore often lacks the first; without
// any of them the cache would never fill and every read would go to Redis unnoticed.
// kInvalidArgument names what was refused, and the way out. The check leaves `connection`
// subscribed: give it one of its own, and close it after.
Status CheckCachePermissions(Connection& connection);

class TrackedReads {
 public:
  struct Settings {
    InvalidationSubscriber::Timing timing;
    // Test hook: called with the Redis key between a cacheable read's reply and its fill.
    std::function<void(std::string_view)> before_fill;
  };

  // Starts the subscriber for `endpoint` (the node's), which feeds `cache`; `cache` must outlive
  // this object.
  TrackedReads(Endpoint endpoint, NearCache& cache, Settings settings);

  // A cacheable read being sent; Begin fills it in.
  struct Read {
    bool tracked = false;  // false: the read goes out untracked and fills nothing
    NearCache::Ticket ticket;
    std::uint64_t subscriber = 0;
    std::string subscriber_text;
    std::size_t prefix_commands = 0;  // commands appended before the read itself
  };
  // Appends to `commands` what must precede a tracked read of `redis_key` on `connection`
  // (nothing when no subscriber is live). Call right before sending; `read` must outlive the
  // exchange (the commands point into it).
  void Begin(Connection& connection, std::string_view redis_key, Read& read,
             std::vector<Command>& commands);
  // After the exchange: checks the replies to the prefix commands (the first
  // `read.prefix_commands` of `replies`) and, when they succeeded and `answer` points at the
  // read's decoded answer (nullopt: no record), fills the cache. `answer` nullptr: the read
  // failed. Ends `read` in every case.
  void Finish(Connection& connection, std::string_view redis_key, Read& read,
              const std::vector<ReplyPtr>& replies, const std::optional<VersionedValue>* answer);

  std::uint64_t subscriber_losses() const { return subscriber_->losses(); }
  std::uint64_t live_subscriber() const { return subscriber_->live_id(); }

 private:
  const Settings settings_;
  NearCache& cache_;
  std::unique_ptr<InvalidationSubscriber> subscriber_;
};

// Whether reads of the credstore key `key` are cached: it starts with one of `prefixes`
// (RedisOptions::cache_key_prefixes).
bool CacheableKey(const std::vector<std::string>& prefixes, std::string_view key);

}  // namespace credstore::redis_internal

#endif  // CREDSTORE_BACKENDS_REDIS_SRC_TRACKED_READS_H_
