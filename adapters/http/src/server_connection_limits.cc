#include "server_connection_limits.h"

#include <utility>

namespace credstore::http {

ConnectionSlot::ConnectionSlot(ConnectionSlot&& other) noexcept
    : limits_(other.limits_),
      bucket_(std::move(other.bucket_)),
      held_(other.held_.exchange(false, std::memory_order_acq_rel)) {}

ConnectionSlot& ConnectionSlot::operator=(ConnectionSlot&& other) noexcept {
  if (this != &other) {
    Release();
    limits_ = other.limits_;
    bucket_ = std::move(other.bucket_);
    held_.store(other.held_.exchange(false, std::memory_order_acq_rel), std::memory_order_release);
  }
  return *this;
}

void ConnectionSlot::Release() {
  // exchange: of an eviction and the connection's own close, only the first gives the place back.
  if (held_.exchange(false, std::memory_order_acq_rel) && limits_ != nullptr) {
    limits_->Give(bucket_);
  }
}

ConnectionLimits::ConnectionLimits(Settings settings) : settings_(settings) {}

ConnectionLimits::Admission ConnectionLimits::TryAdmit(bool reserved, std::string bucket) {
  Admission admission;
  const bool per_address = settings_.max_per_address > 0 && !bucket.empty();
  if (!per_address) bucket.clear();
  if (per_address) {
    std::lock_guard lock(mutex_);
    std::size_t& held = per_address_[bucket];
    if (held >= settings_.max_per_address) {
      admission.refused = Refusal::kPerAddress;
      return admission;  // `held` was at the limit, so the entry existed: nothing to erase
    }
    ++held;
  }
  const std::size_t limit = reserved ? settings_.max_connections
                                     : settings_.max_connections - settings_.reserved_connections;
  std::size_t current = open_.load(std::memory_order_relaxed);
  do {
    if (current >= limit) {
      if (per_address) {
        std::lock_guard lock(mutex_);
        auto it = per_address_.find(bucket);
        if (--it->second == 0) per_address_.erase(it);
      }
      admission.refused = Refusal::kMaxConnections;
      return admission;
    }
  } while (!open_.compare_exchange_weak(current, current + 1, std::memory_order_acq_rel,
                                        std::memory_order_relaxed));
  admission.slot = ConnectionSlot(this, std::move(bucket));
  return admission;
}

void ConnectionLimits::Give(const std::string& bucket) {
  open_.fetch_sub(1, std::memory_order_acq_rel);
  if (bucket.empty()) return;
  std::lock_guard lock(mutex_);
  auto it = per_address_.find(bucket);
  if (it != per_address_.end() && --it->second == 0) per_address_.erase(it);
}

void ConnectionLimits::CountRefusal(Refusal reason) {
  if (reason == Refusal::kMaxConnections) refused_total_.fetch_add(1, std::memory_order_relaxed);
  if (reason == Refusal::kPerAddress) refused_per_address_.fetch_add(1, std::memory_order_relaxed);
}

std::uint64_t ConnectionLimits::refused(Refusal reason) const {
  switch (reason) {
    case Refusal::kMaxConnections:
      return refused_total_.load(std::memory_order_relaxed);
    case Refusal::kPerAddress:
      return refused_per_address_.load(std::memory_order_relaxed);
    case Refusal::kNone:
      break;
  }
  return 0;
}

}  // namespace credstore::http
