#include "info_log.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <utility>

namespace credstore::rocksdb_internal {

InfoLog::InfoLog(std::string folder, std::size_t max_bytes)
    : path_(std::move(folder) + "/LOG"), max_bytes_(max_bytes) {}

InfoLog::~InfoLog() {
  if (fd_ >= 0) ::close(fd_);
}

void InfoLog::PrepareLocked(std::size_t next_line) {
  if (fd_ >= 0 && written_ + next_line <= max_bytes_) return;
  if (fd_ >= 0) {
    ::close(fd_);
    fd_ = -1;
    // A rename needs no free blocks; if it fails anyway, the old file is simply continued.
    (void)::rename(path_.c_str(), (path_ + ".old").c_str());
  }
  fd_ = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  written_ = 0;
  struct stat info {};
  if (fd_ >= 0 && ::fstat(fd_, &info) == 0) written_ = static_cast<std::size_t>(info.st_size);
}

void InfoLog::Logv(const char* format, va_list ap) {
  // "2026/12/01-11:52:18.123456 message\n", RocksDB's own line shape.
  const auto now = std::chrono::system_clock::now();
  const std::time_t seconds = std::chrono::system_clock::to_time_t(now);
  const auto micros =
      std::chrono::duration_cast<std::chrono::microseconds>(now.time_since_epoch()).count() %
      1000000;
  std::tm utc{};
  ::gmtime_r(&seconds, &utc);
  char line[4096];
  int used = std::snprintf(line, sizeof line, "%04d/%02d/%02d-%02d:%02d:%02d.%06ld ",
                           utc.tm_year + 1900, utc.tm_mon + 1, utc.tm_mday, utc.tm_hour, utc.tm_min,
                           utc.tm_sec, static_cast<long>(micros));
  if (used < 0) return;
  va_list copy;
  va_copy(copy, ap);
  const int message =
      std::vsnprintf(line + used, sizeof line - static_cast<std::size_t>(used), format, copy);
  va_end(copy);
  if (message < 0) return;
  std::size_t size = std::min(sizeof line - 1, static_cast<std::size_t>(used + message));
  if (size == 0 || line[size - 1] != '\n') line[size++] = '\n';

  std::lock_guard lock(mutex_);
  PrepareLocked(size);
  if (fd_ < 0) return;
  // One write(2) per line; a short or failed write (ENOSPC) only loses this line.
  const ssize_t wrote = ::write(fd_, line, size);
  if (wrote > 0) written_ += static_cast<std::size_t>(wrote);
}

std::size_t InfoLog::GetLogFileSize() const {
  std::lock_guard lock(mutex_);
  return written_;
}

}  // namespace credstore::rocksdb_internal
