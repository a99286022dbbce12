#include "failure_throttle.h"

#include <iterator>

namespace credstore::http {

FailureThrottle::FailureThrottle(std::size_t max_failures, std::chrono::seconds window,
                                 std::size_t max_keys)
    : max_failures_(max_failures), window_(window), max_keys_(max_keys) {}

FailureThrottle::Entry* FailureThrottle::Find(const std::string& key, Clock::time_point now) {
  auto it = entries_.find(key);
  if (it != entries_.end()) return &it->second;
  if (entries_.size() < max_keys_) return nullptr;
  // Full: drop the entries whose window ended; if none did, the key shares the overflow.
  for (auto next = entries_.begin(); next != entries_.end();) {
    next = next->second.window_end <= now ? entries_.erase(next) : std::next(next);
  }
  return entries_.size() < max_keys_ ? nullptr : &overflow_;
}

std::optional<std::chrono::seconds> FailureThrottle::Blocked(const std::string& key,
                                                             Clock::time_point now) {
  std::lock_guard lock(mutex_);
  const Entry* entry = Find(key, now);
  if (entry == nullptr || entry->window_end <= now || entry->failures < max_failures_) {
    return std::nullopt;
  }
  // Rounded up, so a client that waits as told is not refused again.
  return std::chrono::ceil<std::chrono::seconds>(entry->window_end - now);
}

void FailureThrottle::Failed(const std::string& key, Clock::time_point now) {
  std::lock_guard lock(mutex_);
  Entry* entry = Find(key, now);
  if (entry == nullptr) entry = &entries_[key];
  if (entry->window_end <= now) *entry = Entry{now + window_, 0};  // a new window
  ++entry->failures;
}

}  // namespace credstore::http
