// credstore/backends/memory.h — an in-memory StorageBackend.
//
// Everything lives in this process and is gone when the backend is destroyed: for tests,
// single-process embedders that keep credentials elsewhere, and as the reference implementation
// of the StorageBackend contract. Keys are spread over shards by hash so that unrelated records
// do not contend for one lock; versions come from one backend-wide counter, so they are never
// reused, even after Erase. `durable` is accepted and ignored.
//
// Not blocking: every call completes in memory (AnswersFromMemory() is true), holding one
// shard's lock for a map operation, or each shard's in turn for Scan and CollectExpired. TryGet
// only tries the shard's lock: it answers nullopt while another call holds it, and otherwise
// exactly what Get answers.
//
// Thread safety: every method is safe to call from many threads at once.
#ifndef CREDSTORE_BACKENDS_MEMORY_H_
#define CREDSTORE_BACKENDS_MEMORY_H_

#include <atomic>
#include <cstddef>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "credstore/storage_backend.h"

namespace credstore {

class MemoryBackend final : public StorageBackend {
 public:
  // `shard_count` (>= 1) independent locks; default 64.
  explicit MemoryBackend(std::size_t shard_count = 64);

  std::string_view Name() const override { return "memory"; }
  Result<VersionedValue> Get(std::string_view key, Timestamp now) override;
  // Get if the key's shard lock is free at once (try_lock); nullopt while another call holds it.
  std::optional<Result<VersionedValue>> TryGet(std::string_view key, Timestamp now) override;
  // Get and TryGet in place: `inspect` runs under the key's shard lock.
  Status Inspect(std::string_view key, Timestamp now, const Inspector& inspect) override;
  std::optional<Status> TryInspect(std::string_view key, Timestamp now,
                                   const Inspector& inspect) override;
  // True: no call does I/O, and each holds a shard lock only for a map operation.
  bool AnswersFromMemory() const override { return true; }
  // OK: nothing here refuses writes (memory that runs out fails the process, not a write).
  Status CheckWrites() override { return Status::Ok(); }
  Result<Version> Create(std::string_view key, std::string_view value, const WriteOptions& options,
                         Timestamp now) override;
  Result<Version> CompareAndSwap(std::string_view key, Version expected, std::string_view value,
                                 const WriteOptions& options, Timestamp now) override;
  Status Erase(std::string_view key, Version expected, Timestamp now) override;
  Result<ScanPage> Scan(std::string_view prefix, std::string_view cursor, std::size_t limit,
                        Timestamp now) override;

  // Removes expired records; returns how many. Expired records are already invisible; this
  // only frees their memory. Each shard also sweeps itself every few thousand Creates, since
  // short-lived records (replay nonces, throttle counters) are only ever written with Create.
  std::size_t CollectExpired(Timestamp now);

 private:
  struct Shard {
    std::mutex mutex;
    // Ordered so Scan can seek to a prefix; std::less<> allows lookups by string_view.
    std::map<std::string, VersionedValue, std::less<>> records;
    std::size_t creates_since_sweep = 0;
  };

  Shard& ShardFor(std::string_view key);
  // The live record under `key`, or kNotFound; the caller holds `shard.mutex`.
  static Result<VersionedValue> Lookup(const Shard& shard, std::string_view key, Timestamp now);
  // The live record under `key` (nullptr if none); the caller holds `shard.mutex`.
  static const VersionedValue* Find(const Shard& shard, std::string_view key, Timestamp now);
  // Inspect's answer, once the caller holds `shard.mutex`.
  static Status InspectLocked(const Shard& shard, std::string_view key, Timestamp now,
                              const Inspector& inspect);
  Version NextVersion() { return next_version_.fetch_add(1, std::memory_order_relaxed) + 1; }

  std::vector<std::unique_ptr<Shard>> shards_;
  std::atomic<Version> next_version_{0};
};

}  // namespace credstore

#endif  // CREDSTORE_BACKENDS_MEMORY_H_
