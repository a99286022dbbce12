#include "free_space.h"

#include <sys/statvfs.h>

#include <cerrno>
#include <filesystem>
#include <limits>
#include <utility>

namespace credstore::rocksdb_internal {

std::optional<std::uint64_t> MeasureFreeBytes(const std::string& path) {
  // A store about to be created has no folder yet; its parent's file system is the one it gets.
  std::filesystem::path at(path);
  for (int depth = 0; depth < 64 && !at.empty(); ++depth) {
    struct statvfs fs {};
    if (::statvfs(at.c_str(), &fs) == 0) {
      return static_cast<std::uint64_t>(fs.f_bavail) * static_cast<std::uint64_t>(fs.f_frsize);
    }
    if (errno != ENOENT) return std::nullopt;
    if (at == at.parent_path()) break;
    at = at.parent_path();
  }
  return std::nullopt;
}

FreeSpaceGauge::FreeSpaceGauge(std::string path, std::uint64_t reserve_bytes)
    : path_(std::move(path)),
      reserve_bytes_(reserve_bytes),
      measured_at_(std::numeric_limits<std::int64_t>::min()) {}

bool FreeSpaceGauge::Enough() {
  if (reserve_bytes_ == 0) return true;
  const std::int64_t now = std::chrono::steady_clock::now().time_since_epoch().count();
  const std::int64_t interval =
      std::chrono::duration_cast<std::chrono::steady_clock::duration>(kRefreshInterval).count();
  std::int64_t seen = measured_at_.load(std::memory_order_acquire);
  // The first caller to find the figure stale claims the refresh; the others keep the cached
  // answer for the microseconds statvfs takes.
  if ((seen == std::numeric_limits<std::int64_t>::min() || now - seen >= interval) &&
      measured_at_.compare_exchange_strong(seen, now, std::memory_order_acq_rel)) {
    const std::optional<std::uint64_t> free = MeasureFreeBytes(path_);
    free_bytes_.store(free.value_or(0), std::memory_order_relaxed);
    enough_.store(!free || *free >= reserve_bytes_, std::memory_order_release);
  }
  return enough_.load(std::memory_order_acquire);
}

}  // namespace credstore::rocksdb_internal
