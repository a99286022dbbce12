#include "failure_limiter.h"

#include <iterator>

#include "credstore/request_context.h"

namespace credstore::http {
namespace {

constexpr std::string_view kOverflowBucket = "overflow";

}  // namespace

FailureLimiter::FailureLimiter(std::uint32_t failures_per_window, std::chrono::milliseconds window,
                               std::size_t max_tracked)
    : limit_(failures_per_window), window_(window), max_tracked_(max_tracked) {}

std::string FailureLimiter::AddressKey(std::string_view client_address) {
  return ThrottleBucketOf(client_address).value_or("");
}

std::optional<std::chrono::milliseconds> FailureLimiter::Blocked(std::string_view key,
                                                                 Timestamp now) const {
  if (!MayBlock(now)) return std::nullopt;
  const std::string bucket(key);
  std::lock_guard lock(mutex_);
  auto it = windows_.find(bucket);
  if (it == windows_.end() && windows_.size() >= max_tracked_) {
    it = windows_.find(std::string(kOverflowBucket));  // as CountFailure would count it
  }
  if (it == windows_.end() || now >= it->second.ends || it->second.failures < limit_) {
    return std::nullopt;
  }
  return std::chrono::duration_cast<std::chrono::milliseconds>(it->second.ends - now);
}

void FailureLimiter::CountFailure(std::string_view key, Timestamp now) {
  std::string bucket(key);
  std::lock_guard lock(mutex_);
  if (!windows_.contains(bucket) && windows_.size() >= max_tracked_) {
    for (auto it = windows_.begin(); it != windows_.end();) {
      it = now >= it->second.ends ? windows_.erase(it) : std::next(it);
    }
    if (windows_.size() >= max_tracked_) bucket = std::string(kOverflowBucket);
  }
  Window& window = windows_[bucket];
  if (now >= window.ends) window = Window{now + window_, 0};
  if (window.failures < limit_) ++window.failures;
  if (window.failures >= limit_) {
    const Timestamp::rep ends = window.ends.time_since_epoch().count();
    if (ends > blocked_until_.load(std::memory_order_relaxed)) {
      blocked_until_.store(ends, std::memory_order_release);
    }
  }
}

}  // namespace credstore::http
