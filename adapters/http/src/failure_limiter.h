// failure_limiter.h — failed bearer-token attempts per client, in memory: the one guard of the
// operator token and the verifier tokens against guessing.
//
// The core's throttle (kept in the store, shared by every instance) has no public form, so the
// token checks keep this one: a fixed window of failures per key. The caller names the client:
// AddressKey gives the buckets the store itself uses (credstore::ThrottleBucketOf: IPv4 /32,
// IPv6 /64); the operator's unix socket counts per peer uid instead. It is per process: with N
// instances a client gets N times the limit, which still turns guessing a 32-character token
// from hopeless into more hopeless; the limit is there to stop a flood early, on the I/O
// thread, before any digest is computed. A success does not clear the count: the attempt that
// succeeds may be a guess.
//
// Memory is bounded: at most `max_tracked` buckets. When full, expired windows are dropped; if
// that frees nothing, new addresses share one overflow bucket, so a flood from many addresses
// is throttled as one rather than let through.
//
// Almost every attempt comes while no key is blocked: MayBlock() tells so from one atomic load
// (when the last window to fill up ends), without the key, the lock or the map. A check that
// races the failure that fills a window may pass, as it would have had it taken the lock just
// before that failure: concurrent attempts were never ordered against each other.
//
// Thread safety: all methods may be called from many threads at once.
#ifndef CREDSTORE_HTTP_SRC_FAILURE_LIMITER_H_
#define CREDSTORE_HTTP_SRC_FAILURE_LIMITER_H_

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "credstore/clock.h"

namespace credstore::http {

class FailureLimiter {
 public:
  FailureLimiter(std::uint32_t failures_per_window, std::chrono::milliseconds window,
                 std::size_t max_tracked);

  // The key of a client address: its throttle bucket ("" for an address with none).
  static std::string AddressKey(std::string_view client_address);

  // False when Blocked() answers nullopt for every key at `now`: a caller can skip building the
  // key. True does not mean a given key is blocked.
  bool MayBlock(Timestamp now) const {
    return now.time_since_epoch().count() < blocked_until_.load(std::memory_order_acquire);
  }

  // How long `key` must wait when it has used up its failures, else nullopt.
  std::optional<std::chrono::milliseconds> Blocked(std::string_view key, Timestamp now) const;

  // Counts one failure of `key`.
  void CountFailure(std::string_view key, Timestamp now);

 private:
  struct Window {
    Timestamp ends;
    std::uint32_t failures = 0;
  };
  const std::uint32_t limit_;
  const std::chrono::milliseconds window_;
  const std::size_t max_tracked_;
  mutable std::mutex mutex_;
  std::unordered_map<std::string, Window> windows_;
  // The latest end of a window that filled up, in Timestamp's milliseconds: no window blocks
  // from then on. Only grows; written under mutex_.
  std::atomic<Timestamp::rep> blocked_until_{0};
};

}  // namespace credstore::http

#endif  // CREDSTORE_HTTP_SRC_FAILURE_LIMITER_H_
