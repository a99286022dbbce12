// info_log.h — RocksDB's informational LOG file, written so that a full disk cannot abort.
//
// RocksDB 7.8's own LOG writer (EnvLogger) keeps a WritableFileWriter: once a write to it failed
// (ENOSPC), the next log line fails an assertion and the process aborts — and RocksDB logs
// exactly when something went wrong, e.g. when a write meets the full disk. This logger writes
// each line with one write(2) to `<folder>/LOG` (O_APPEND) and drops the lines the disk has no
// room for. It keeps RocksDB's file names: at `max_bytes` the file becomes LOG.old (one
// generation kept) and a new LOG starts.
//
// Thread safety: Logv may be called from any thread (RocksDB's background threads do).
#ifndef CREDSTORE_BACKENDS_ROCKSDB_SRC_INFO_LOG_H_
#define CREDSTORE_BACKENDS_ROCKSDB_SRC_INFO_LOG_H_

#include <rocksdb/env.h>

#include <cstdarg>
#include <cstddef>
#include <mutex>
#include <string>

namespace credstore::rocksdb_internal {

class InfoLog final : public ROCKSDB_NAMESPACE::Logger {
 public:
  // Opens `<folder>/LOG` on the first line (the folder may not exist before DB::Open).
  InfoLog(std::string folder, std::size_t max_bytes);
  ~InfoLog() override;
  InfoLog(const InfoLog&) = delete;
  InfoLog& operator=(const InfoLog&) = delete;

  using ROCKSDB_NAMESPACE::Logger::Logv;
  void Logv(const char* format, va_list ap) override;
  std::size_t GetLogFileSize() const override;

 private:
  // Precondition: mutex_ held. Opens the file, or rolls it over when it is full.
  void PrepareLocked(std::size_t next_line);

  const std::string path_;
  const std::size_t max_bytes_;
  mutable std::mutex mutex_;
  int fd_ = -1;              // guarded by mutex_
  std::size_t written_ = 0;  // guarded by mutex_: bytes in the current file
};

}  // namespace credstore::rocksdb_internal

#endif  // CREDSTORE_BACKENDS_ROCKSDB_SRC_INFO_LOG_H_
