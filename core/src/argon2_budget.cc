#include "argon2_budget.h"

namespace credstore::internal {

std::optional<Argon2Budget::Permit> Argon2Budget::TryAcquire() {
  std::lock_guard lock(mutex_);
  if (in_use_ >= capacity_) return std::nullopt;
  ++in_use_;
  return std::optional<Permit>(std::in_place, this);
}

std::size_t Argon2Budget::in_use() const {
  std::lock_guard lock(mutex_);
  return in_use_;
}

void Argon2Budget::Release() {
  std::lock_guard lock(mutex_);
  --in_use_;
}

}  // namespace credstore::internal
