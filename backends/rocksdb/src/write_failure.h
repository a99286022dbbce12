// write_failure.h — whether RocksDB stopped taking writes after an error, for the backend's gate.
//
// Noted by the backend's write paths (a write RocksDB answered with an error) and by RocksDB's
// listener (a flush or compaction that failed in the background: RocksDB then answers every
// write with that error until DB::Resume()); cleared by the backend's recovery thread once the
// store takes writes again (rocksdb.h, Full disk).
#ifndef CREDSTORE_BACKENDS_ROCKSDB_SRC_WRITE_FAILURE_H_
#define CREDSTORE_BACKENDS_ROCKSDB_SRC_WRITE_FAILURE_H_

#include <rocksdb/listener.h>
#include <rocksdb/status.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <utility>

namespace credstore::rocksdb_internal {

// The failure and its message. Thread-safe. A generation tells a clear apart from a newer
// failure noted while the recovery thread was busy.
class WriteFailure {
 public:
  void Note(const ROCKSDB_NAMESPACE::Status& status) {
    std::lock_guard lock(mutex_);
    message_ = status.ToString();
    ++generation_;
    failed_.store(true, std::memory_order_release);
  }

  // The generation to pass to ClearIf once the DB has resumed.
  std::uint64_t generation() const {
    std::lock_guard lock(mutex_);
    return generation_;
  }

  void ClearIf(std::uint64_t generation) {
    std::lock_guard lock(mutex_);
    if (generation_ == generation) failed_.store(false, std::memory_order_release);
  }

  bool failed() const { return failed_.load(std::memory_order_acquire); }

  std::string message() const {
    std::lock_guard lock(mutex_);
    return message_;
  }

 private:
  mutable std::mutex mutex_;
  std::string message_;           // guarded by mutex_
  std::uint64_t generation_ = 0;  // guarded by mutex_
  std::atomic<bool> failed_{false};
};

// Tells WriteFailure about background errors (flushes and compactions that failed, e.g. on
// ENOSPC). Called by RocksDB's threads; only records.
class BackgroundErrorListener final : public ROCKSDB_NAMESPACE::EventListener {
 public:
  explicit BackgroundErrorListener(std::shared_ptr<WriteFailure> failure)
      : failure_(std::move(failure)) {}

  void OnBackgroundError(ROCKSDB_NAMESPACE::BackgroundErrorReason /*reason*/,
                         ROCKSDB_NAMESPACE::Status* error) override {
    if (error != nullptr && !error->ok()) failure_->Note(*error);
  }

 private:
  std::shared_ptr<WriteFailure> failure_;
};

}  // namespace credstore::rocksdb_internal

#endif  // CREDSTORE_BACKENDS_ROCKSDB_SRC_WRITE_FAILURE_H_
