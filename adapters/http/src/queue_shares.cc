#include "queue_shares.h"

#include <algorithm>
#include <utility>

#include "credstore/request_context.h"

namespace credstore::http {

QueueShares::Place::Place(Place&& other) noexcept
    : shares_(std::exchange(other.shares_, nullptr)), bucket_(std::move(other.bucket_)) {}

QueueShares::Place& QueueShares::Place::operator=(Place&& other) noexcept {
  if (this != &other) {
    Release();
    shares_ = std::exchange(other.shares_, nullptr);
    bucket_ = std::move(other.bucket_);
  }
  return *this;
}

void QueueShares::Place::Release() {
  if (QueueShares* shares = std::exchange(shares_, nullptr)) shares->Give(bucket_);
}

QueueShares::QueueShares(std::size_t capacity)
    : share_(std::max<std::size_t>((capacity + 3) / 4, 1)) {}

std::optional<QueueShares::Place> QueueShares::TryTake(std::string_view client_address) {
  std::optional<std::string> bucket = ThrottleBucketOf(client_address);
  if (!bucket) return Place();
  {
    std::lock_guard lock(mutex_);
    std::size_t& held = held_[*bucket];
    if (held >= share_) {
      refused_.fetch_add(1, std::memory_order_relaxed);
      return std::nullopt;
    }
    ++held;
  }
  return Place(this, std::move(*bucket));
}

void QueueShares::Give(const std::string& bucket) {
  std::lock_guard lock(mutex_);
  auto it = held_.find(bucket);
  if (it == held_.end()) return;
  if (--it->second == 0) held_.erase(it);
}

}  // namespace credstore::http
