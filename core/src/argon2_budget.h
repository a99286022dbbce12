// Internal: the Argon2id concurrency budget. A non-blocking counting semaphore: a caller either
// gets a permit at once or is told the budget is spent, so callers never pile up holding
// threads, and at most `capacity` hashes (each mem_limit bytes) run at once.
#ifndef CREDSTORE_CORE_SRC_ARGON2_BUDGET_H_
#define CREDSTORE_CORE_SRC_ARGON2_BUDGET_H_

#include <cstddef>
#include <mutex>
#include <optional>

namespace credstore::internal {

class Argon2Budget {
 public:
  // Releases its permit when destroyed.
  class Permit {
   public:
    explicit Permit(Argon2Budget* budget) : budget_(budget) {}
    Permit(Permit&& other) noexcept : budget_(other.budget_) { other.budget_ = nullptr; }
    Permit& operator=(Permit&&) = delete;
    Permit(const Permit&) = delete;
    ~Permit() {
      if (budget_ != nullptr) budget_->Release();
    }

   private:
    Argon2Budget* budget_;
  };

  explicit Argon2Budget(std::size_t capacity) : capacity_(capacity) {}

  // A permit, or nullopt when `capacity` permits are out.
  std::optional<Permit> TryAcquire();
  std::size_t in_use() const;

 private:
  void Release();

  mutable std::mutex mutex_;
  const std::size_t capacity_;
  std::size_t in_use_ = 0;
};

}  // namespace credstore::internal

#endif  // CREDSTORE_CORE_SRC_ARGON2_BUDGET_H_
