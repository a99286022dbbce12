// free_space.h — how much room the file system under a RocksDB folder has left, cheaply.
//
// RocksDB 7.8 cannot be allowed to run out of disk: an unsynced write that meets ENOSPC fails an
// assertion inside its WAL writer (the process aborts), and so does a read-write open on a full
// disk. The backend therefore refuses writes, and opens read-only, while the free space is below
// a reserve. Every write asks, so the answer is cached: statvfs(2) runs at most once per
// kRefreshInterval, by whichever caller finds the cached figure stale first; the others use it.
#ifndef CREDSTORE_BACKENDS_ROCKSDB_SRC_FREE_SPACE_H_
#define CREDSTORE_BACKENDS_ROCKSDB_SRC_FREE_SPACE_H_

#include <atomic>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

namespace credstore::rocksdb_internal {

// Bytes an unprivileged process may still write under `path` (statvfs f_bavail × f_frsize), or
// of its nearest existing parent folder when `path` does not exist yet; nullopt when statvfs fails.
std::optional<std::uint64_t> MeasureFreeBytes(const std::string& path);

class FreeSpaceGauge {
 public:
  // The cached figure is never older than this when Enough() answers.
  static constexpr std::chrono::milliseconds kRefreshInterval{100};

  // reserve_bytes = 0: Enough() is always true and nothing is measured.
  FreeSpaceGauge(std::string path, std::uint64_t reserve_bytes);

  // True iff the free space is at least the reserve. A figure that cannot be measured counts as
  // enough: then nothing is known, and refusing every write would be an outage of its own.
  // Thread-safe; at most one statvfs per kRefreshInterval.
  bool Enough();

  // The last figure measured (0 before the first one or when it failed).
  std::uint64_t last_free_bytes() const { return free_bytes_.load(std::memory_order_relaxed); }
  std::uint64_t reserve_bytes() const { return reserve_bytes_; }

 private:
  const std::string path_;
  const std::uint64_t reserve_bytes_;
  std::atomic<std::uint64_t> free_bytes_{0};
  std::atomic<bool> enough_{true};
  // steady_clock ticks of the last measurement; min(): never measured.
  std::atomic<std::int64_t> measured_at_;
};

}  // namespace credstore::rocksdb_internal

#endif  // CREDSTORE_BACKENDS_ROCKSDB_SRC_FREE_SPACE_H_
