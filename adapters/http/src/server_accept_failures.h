// server_accept_failures.h — what a listener does about failed accepts (EMFILE, ENFILE,
// ENOBUFS): count every one, log a few.
//
// A full descriptor table makes every accept fail until a descriptor is free again; the
// listener retries after a short pause (never in a busy loop), so failures come about ten a
// second for as long as it lasts. One log line per failure would flood the log when the
// operator most needs it: at most one line per `interval` is written, and the next one says how
// many were not; so does a line when accepting works again after unlogged failures.
//
// Thread safety: Count() and total() may be called from any thread; ShouldLog only from the
// listener's thread.
#ifndef CREDSTORE_HTTP_SRC_SERVER_ACCEPT_FAILURES_H_
#define CREDSTORE_HTTP_SRC_SERVER_ACCEPT_FAILURES_H_

#include <atomic>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace credstore::http {

class AcceptFailures {
 public:
  explicit AcceptFailures(std::chrono::steady_clock::duration interval) : interval_(interval) {}

  // Counts one failure at `now`. Returns the number of failures not logged since the last line
  // when this one is to be logged, nullopt when it is to be suppressed.
  std::optional<std::uint64_t> Count(std::chrono::steady_clock::time_point now) {
    total_.fetch_add(1, std::memory_order_relaxed);
    if (logged_once_ && now - last_logged_ < interval_) {
      ++suppressed_;
      return std::nullopt;
    }
    logged_once_ = true;
    last_logged_ = now;
    const std::uint64_t suppressed = suppressed_;
    suppressed_ = 0;
    return suppressed;
  }

  // Called after an accept succeeded: when failures went unlogged since the last line, returns
  // how many (once), so the end of an outage is logged with its full count.
  std::optional<std::uint64_t> Recovered() {
    if (suppressed_ == 0) return std::nullopt;
    const std::uint64_t suppressed = suppressed_;
    suppressed_ = 0;
    return suppressed;
  }

  // Every failure counted, for /metrics.
  std::uint64_t total() const { return total_.load(std::memory_order_relaxed); }

 private:
  const std::chrono::steady_clock::duration interval_;
  std::atomic<std::uint64_t> total_{0};
  bool logged_once_ = false;  // the listener's thread only, as are the two below
  std::chrono::steady_clock::time_point last_logged_;
  std::uint64_t suppressed_ = 0;
};

// {"ts":…,"level":"warning","event":"http.accept_failed","listener":…,"error":…,
//  "suppressed":N} — one line, no newline. `suppressed`: failures since the last line, not
// logged. An empty `error` makes it the line that says accepting works again:
// {"ts":…,"level":"info","event":"http.accept_recovered","listener":…,"suppressed":N}.
std::string FormatAcceptFailureLine(std::string_view listener, std::string_view error,
                                    std::uint64_t suppressed);

}  // namespace credstore::http

#endif  // CREDSTORE_HTTP_SRC_SERVER_ACCEPT_FAILURES_H_
