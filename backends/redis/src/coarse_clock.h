// Internal to credstore::redis: a monotonic clock read from the kernel's last tick
// (CLOCK_MONOTONIC_COARSE), for the near-cache's entry ages.
//
// Every near-cache hit reads the time once. steady_clock reads the hardware timer, which in a
// virtual machine costs as much as the rest of the hit's bookkeeping; the coarse clock is one
// read of the time the kernel last stored. In exchange it runs behind the true time by up to
// one tick, `resolution()` (1 to 10 ms, the kernel's CONFIG_HZ), and a reader that must not
// overstay a deadline adds that much to every age it measures (NearCache::Lookup does).
//
// Meets the standard library's Clock requirements; steady: never set back.
#ifndef CREDSTORE_BACKENDS_REDIS_SRC_COARSE_CLOCK_H_
#define CREDSTORE_BACKENDS_REDIS_SRC_COARSE_CLOCK_H_

#include <chrono>

namespace credstore::redis_internal {

struct CoarseMonotonicClock {
  using duration = std::chrono::nanoseconds;
  using rep = duration::rep;
  using period = duration::period;
  using time_point = std::chrono::time_point<CoarseMonotonicClock>;
  static constexpr bool is_steady = true;

  static time_point now() noexcept;
  // How far now() may run behind the true time: the kernel's tick. Not free (a vDSO or a
  // system call): a hot path reads it once and keeps it (NearCache does when it is built).
  static duration resolution() noexcept;
};

}  // namespace credstore::redis_internal

#endif  // CREDSTORE_BACKENDS_REDIS_SRC_COARSE_CLOCK_H_
