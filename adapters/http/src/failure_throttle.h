// failure_throttle.h — failed attempts counted per client, in memory: the operator token's
// guard against guessing. A key that failed `max_failures` times in one window waits for the
// window's end; a success does not clear the count (the attempt that succeeds may be a guess).
//
// Memory is bounded: at most `max_keys` keys are tracked. When that many are in a live window,
// new keys share one overflow bucket, so filling the table can only lock out newcomers together,
// never unlock anyone.
//
// Thread safety: every method may be called from many threads at once.
#ifndef CREDSTORE_HTTP_SRC_FAILURE_THROTTLE_H_
#define CREDSTORE_HTTP_SRC_FAILURE_THROTTLE_H_

#include <chrono>
#include <cstddef>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>

namespace credstore::http {

class FailureThrottle {
 public:
  using Clock = std::chrono::steady_clock;

  FailureThrottle(std::size_t max_failures, std::chrono::seconds window, std::size_t max_keys);

  // How long `key` must wait before its next attempt counts, or nullopt when it may try now.
  std::optional<std::chrono::seconds> Blocked(const std::string& key, Clock::time_point now);
  // Counts one failed attempt of `key`.
  void Failed(const std::string& key, Clock::time_point now);

 private:
  struct Entry {
    Clock::time_point window_end;
    std::size_t failures = 0;
  };
  // The entry `key` counts in: its own, the overflow bucket when the table is full of live
  // windows, or nullptr when it has none yet and one may be added. Under mutex_.
  Entry* Find(const std::string& key, Clock::time_point now);

  const std::size_t max_failures_;
  const std::chrono::seconds window_;
  const std::size_t max_keys_;
  std::mutex mutex_;
  std::unordered_map<std::string, Entry> entries_;
  Entry overflow_;
};

}  // namespace credstore::http

#endif  // CREDSTORE_HTTP_SRC_FAILURE_THROTTLE_H_
