// Internal: a counter that many threads add to on a hot path without sharing a cache line.
//
// One atomic counted by every thread makes its cache line travel between cores on each add: two
// threads verifying admin keys, two keyed digests each, spent more on that than on a hash-map
// probe. Each thread adds to one of a few padded slots (chosen once per thread), and reading sums
// them, which is rare (StoreStats, metrics).
#ifndef CREDSTORE_CORE_SRC_SHARDED_COUNTER_H_
#define CREDSTORE_CORE_SRC_SHARDED_COUNTER_H_

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>

namespace credstore::internal {

class ShardedCounter {
 public:
  void Add(std::uint64_t n = 1) {
    slots_[ThisThreadSlot()].value.fetch_add(n, std::memory_order_relaxed);
  }

  // The sum of every add that happened before the call (and perhaps some during it).
  std::uint64_t Sum() const {
    std::uint64_t sum = 0;
    for (const Slot& slot : slots_) sum += slot.value.load(std::memory_order_relaxed);
    return sum;
  }

 private:
  static constexpr std::size_t kSlots = 16;
  struct alignas(64) Slot {
    std::atomic<std::uint64_t> value{0};
  };

  static std::size_t ThisThreadSlot() {
    static std::atomic<std::size_t> next{0};
    thread_local const std::size_t slot = next.fetch_add(1, std::memory_order_relaxed) % kSlots;
    return slot;
  }

  std::array<Slot, kSlots> slots_{};
};

}  // namespace credstore::internal

#endif  // CREDSTORE_CORE_SRC_SHARDED_COUNTER_H_
