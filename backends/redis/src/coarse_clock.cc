#include "coarse_clock.h"

#include <time.h>

namespace credstore::redis_internal {
namespace {

std::chrono::nanoseconds FromTimespec(const timespec& value) {
  return std::chrono::seconds(value.tv_sec) + std::chrono::nanoseconds(value.tv_nsec);
}

}  // namespace

CoarseMonotonicClock::time_point CoarseMonotonicClock::now() noexcept {
  timespec value{};
  // Cannot fail for a clock id the kernel has (Linux 2.6.32 and later): nothing to report.
  clock_gettime(CLOCK_MONOTONIC_COARSE, &value);
  return time_point(FromTimespec(value));
}

CoarseMonotonicClock::duration CoarseMonotonicClock::resolution() noexcept {
  timespec value{};
  // Without an answer, a generous tick (100 Hz) keeps every deadline on the safe side.
  if (clock_getres(CLOCK_MONOTONIC_COARSE, &value) != 0) return std::chrono::milliseconds(10);
  return FromTimespec(value);
}

}  // namespace credstore::redis_internal
