// credstore/clock.h — the one source of time.
//
// Every expiry credstore computes or stores (grace periods, throttle windows, replay windows,
// backend record expiry) comes from the Clock given in Options, so tests drive time by hand
// instead of sleeping. Time is Unix time in whole milliseconds.
//
// Thread safety: implementations must be safe to call from many threads at once.
#ifndef CREDSTORE_CLOCK_H_
#define CREDSTORE_CLOCK_H_

#include <atomic>
#include <chrono>
#include <cstdint>

namespace credstore {

// Milliseconds since the Unix epoch.
using Timestamp = std::chrono::sys_time<std::chrono::milliseconds>;

class Clock {
 public:
  virtual ~Clock() = default;
  virtual Timestamp Now() const = 0;
};

// The system's wall clock (std::chrono::system_clock), truncated to milliseconds.
class SystemClock final : public Clock {
 public:
  Timestamp Now() const override;
};

// A clock that moves only when told to; for tests. Starts at `start`.
class ManualClock final : public Clock {
 public:
  explicit ManualClock(Timestamp start = Timestamp(std::chrono::milliseconds(1'700'000'000'000)))
      : now_ms_(start.time_since_epoch().count()) {}

  Timestamp Now() const override {
    return Timestamp(std::chrono::milliseconds(now_ms_.load(std::memory_order_acquire)));
  }
  void Set(Timestamp t) { now_ms_.store(t.time_since_epoch().count(), std::memory_order_release); }
  void Advance(std::chrono::milliseconds d) {
    now_ms_.fetch_add(d.count(), std::memory_order_acq_rel);
  }

 private:
  std::atomic<std::int64_t> now_ms_;
};

}  // namespace credstore

#endif  // CREDSTORE_CLOCK_H_
