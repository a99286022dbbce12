// Internal to credstore::redis: the connection that receives Redis's invalidation messages for
// the near-cache (near_cache.h), one per Redis node.
//
// Redis client tracking in RESP2 (what hiredis 0.14 speaks): each data connection turns on
// `CLIENT TRACKING on REDIRECT <id> OPTIN`, where <id> is this subscriber's CLIENT ID, and the
// server publishes the keys it must forget on `__redis__:invalidate` to this connection. A
// message with a nil key list (FLUSHALL, FLUSHDB) flushes the whole cache.
//
// RESP2 never says that a redirect target died, so liveness is this class's business: it PINGs
// every `ping_interval`; when no pong came for `pong_timeout`, or the connection fails, it
// flushes the whole cache and stops being live (live_id() == 0) until a new connection has
// subscribed (with a new CLIENT ID, so every data connection must redirect anew, see
// TrackedReads). Reconnects are retried every `ping_interval`.
//
// Thread safety: live_id() may be called from any thread; the rest runs on its own thread,
// started by the constructor and stopped (promptly, through an eventfd) by the destructor.
#ifndef CREDSTORE_BACKENDS_REDIS_SRC_INVALIDATION_SUBSCRIBER_H_
#define CREDSTORE_BACKENDS_REDIS_SRC_INVALIDATION_SUBSCRIBER_H_

#include <atomic>
#include <chrono>
#include <cstdint>
#include <string_view>
#include <thread>

#include "connection.h"
#include "near_cache.h"

namespace credstore::redis_internal {

// Where Redis publishes the keys a tracking client must forget (RESP2 redirect mode).
inline constexpr std::string_view kInvalidationChannel = "__redis__:invalidate";

class InvalidationSubscriber {
 public:
  struct Timing {
    std::chrono::milliseconds ping_interval{100};
    std::chrono::milliseconds pong_timeout{300};
  };

  // Connects to `endpoint` (on its own thread) and keeps `cache` in step with the server.
  // `cache` must outlive this object.
  InvalidationSubscriber(Endpoint endpoint, NearCache& cache, Timing timing);
  ~InvalidationSubscriber();
  InvalidationSubscriber(const InvalidationSubscriber&) = delete;
  InvalidationSubscriber& operator=(const InvalidationSubscriber&) = delete;

  // The CLIENT ID of the subscribed connection while it is live; 0 otherwise. Sequentially
  // consistent with the cache's flush: a reader that takes its ticket, then sees a non-zero id,
  // has its fill refused if that subscriber is declared dead in between.
  std::uint64_t live_id() const { return live_id_.load(); }

  // Times the connection was lost (timeout or drop) since construction.
  std::uint64_t losses() const { return losses_.load(std::memory_order_relaxed); }

 private:
  void Run();
  // One subscribed session: returns when the connection is lost or stop is asked.
  void Serve(Connection& connection);
  // Waits up to `timeout` for the stop signal; true if stop was asked.
  bool WaitForStop(std::chrono::milliseconds timeout);
  void Lost();

  const Endpoint endpoint_;
  NearCache& cache_;
  const Timing timing_;
  int wake_fd_ = -1;
  std::atomic<bool> stop_{false};
  std::atomic<std::uint64_t> live_id_{0};
  std::atomic<std::uint64_t> losses_{0};
  std::thread thread_;
};

}  // namespace credstore::redis_internal

#endif  // CREDSTORE_BACKENDS_REDIS_SRC_INVALIDATION_SUBSCRIBER_H_
