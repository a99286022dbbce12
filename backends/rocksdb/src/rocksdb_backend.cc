#include <rocksdb/cache.h>
#include <rocksdb/compaction_filter.h>
#include <rocksdb/db.h>
#include <rocksdb/filter_policy.h>
#include <rocksdb/iterator.h>
#include <rocksdb/merge_operator.h>
#include <rocksdb/options.h>
#include <rocksdb/slice.h>
#include <rocksdb/table.h>
#include <rocksdb/write_batch.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <functional>
#include <limits>
#include <mutex>
#include <utility>

#include "credstore/backends/rocksdb.h"
#include "record_format.h"

namespace credstore {
namespace {

namespace rdb = ROCKSDB_NAMESPACE;
using namespace rocksdb_internal;

rdb::Slice ToSlice(std::string_view bytes) { return rdb::Slice(bytes.data(), bytes.size()); }
std::string_view ToView(const rdb::Slice& slice) { return {slice.data(), slice.size()}; }

bool StartsWith(std::string_view text, std::string_view prefix) {
  return text.substr(0, prefix.size()) == prefix;
}

// The smallest key greater than every key that starts with `prefix`; empty when there is none
// (the prefix is empty or all 0xff bytes), meaning "no upper bound".
std::string PrefixSuccessor(std::string_view prefix) {
  std::string bound(prefix);
  while (!bound.empty() && static_cast<unsigned char>(bound.back()) == 0xff) bound.pop_back();
  if (!bound.empty())
    bound.back() = static_cast<char>(static_cast<unsigned char>(bound.back()) + 1);
  return bound;
}

// I/O trouble, a full disk or a shutdown is temporary from the caller's point of view (it maps to
// HTTP 503); anything else means a broken invariant or a damaged store.
Status FromRocks(const rdb::Status& status, std::string_view action) {
  std::string message = "rocksdb " + std::string(action) + " failed: " + status.ToString();
  if (status.IsIOError() || status.IsBusy() || status.IsTimedOut() || status.IsTryAgain() ||
      status.IsShutdownInProgress() || status.IsAborted() || status.IsIncomplete()) {
    return Status::Unavailable(std::move(message));
  }
  return Status::Internal(std::move(message));
}

Status CheckKey(std::string_view key) {
  if (IsReservedKey(key)) {
    return Status::InvalidArgument("rocksdb: keys starting with a NUL byte are reserved");
  }
  return Status::Ok();
}

// What the garbage collector needs to know about time, shared by the backend (which records the
// `now` callers pass) and the compaction filters (which read it).
struct GcState {
  explicit GcState(std::chrono::milliseconds grace)
      : grace_ms(std::max<std::int64_t>(grace.count(), 0)) {}

  void Observe(Timestamp now) {
    const std::int64_t millis = now.time_since_epoch().count();
    std::int64_t seen = latest_now_ms.load(std::memory_order_relaxed);
    while (millis > seen &&
           !latest_now_ms.compare_exchange_weak(seen, millis, std::memory_order_relaxed)) {
    }
  }

  // Records with expires_at <= the horizon may be dropped; nullopt: drop nothing yet.
  //
  // Wall time alone is not enough: a caller's Clock may run behind this machine's (a test's
  // ManualClock sits years in the past), and visibility follows the caller's clock. Taking the
  // earlier of the two means the filter never drops a record some caller could still see live,
  // give or take the grace for callers whose `now` lags the latest one slightly.
  std::optional<std::int64_t> Horizon() const {
    const std::int64_t latest = latest_now_ms.load(std::memory_order_relaxed);
    if (latest == kNeverObserved) return std::nullopt;
    const std::int64_t wall = std::chrono::duration_cast<std::chrono::milliseconds>(
                                  std::chrono::system_clock::now().time_since_epoch())
                                  .count();
    const std::int64_t earlier = std::min(wall, latest);
    if (earlier < std::numeric_limits<std::int64_t>::min() + grace_ms) return std::nullopt;
    return earlier - grace_ms;
  }

  static constexpr std::int64_t kNeverObserved = std::numeric_limits<std::int64_t>::min();
  const std::int64_t grace_ms;
  std::atomic<std::int64_t> latest_now_ms{kNeverObserved};
  std::atomic<std::uint64_t> collected{0};
};

// Drops records that expired before the horizon fixed when the compaction started. Keeps
// everything it does not understand (bookkeeping keys, undecodable values): garbage collection
// must never be the thing that destroys data.
class ExpiredRecordFilter final : public rdb::CompactionFilter {
 public:
  ExpiredRecordFilter(std::shared_ptr<GcState> gc, std::optional<std::int64_t> horizon_ms)
      : gc_(std::move(gc)), horizon_ms_(horizon_ms) {}

  bool Filter(int /*level*/, const rdb::Slice& key, const rdb::Slice& existing_value,
              std::string* /*new_value*/, bool* /*value_changed*/) const override {
    if (!horizon_ms_ || IsReservedKey(ToView(key))) return false;
    const auto record = DecodeRecord(ToView(existing_value));
    if (!record || !record->expires_at) return false;
    if (record->expires_at->time_since_epoch().count() > *horizon_ms_) return false;
    gc_->collected.fetch_add(1, std::memory_order_relaxed);
    return true;
  }

  const char* Name() const override { return "credstore.ExpiredRecordFilter"; }

 private:
  std::shared_ptr<GcState> gc_;
  std::optional<std::int64_t> horizon_ms_;
};

// A factory, so that every compaction reads the clocks once when it starts and each filter is
// used by one thread only.
class ExpiredRecordFilterFactory final : public rdb::CompactionFilterFactory {
 public:
  explicit ExpiredRecordFilterFactory(std::shared_ptr<GcState> gc) : gc_(std::move(gc)) {}

  std::unique_ptr<rdb::CompactionFilter> CreateCompactionFilter(
      const rdb::CompactionFilter::Context& /*context*/) override {
    return std::make_unique<ExpiredRecordFilter>(gc_, gc_->Horizon());
  }

  const char* Name() const override { return "credstore.ExpiredRecordFilterFactory"; }

 private:
  std::shared_ptr<GcState> gc_;
};

// Keeps the largest u64 seen. Used only for kMaxVersionKey: every write batch adds its version as
// an operand, and "max" does not depend on the order in which concurrent batches commit, so the
// stored value is always >= every version in the database. A plain Put of a counter would not
// do: two batches may commit in the opposite order to the one their versions were taken in.
class MaxVersionOperator final : public rdb::AssociativeMergeOperator {
 public:
  bool Merge(const rdb::Slice& /*key*/, const rdb::Slice* existing_value, const rdb::Slice& value,
             std::string* new_value, rdb::Logger* /*logger*/) const override {
    const auto operand = DecodeU64(ToView(value));
    if (!operand) return false;
    std::uint64_t result = *operand;
    if (existing_value != nullptr) {
      const auto existing = DecodeU64(ToView(*existing_value));
      if (!existing) return false;
      result = std::max(result, *existing);
    }
    *new_value = EncodeU64(result);
    return true;
  }

  const char* Name() const override { return "credstore.MaxVersion"; }
};

}  // namespace

// Compare-and-swap: the read-check-write of Create, CompareAndSwap and Erase runs under one of
// `stripes` mutexes, picked by key hash. RocksDB lets only one process open the folder, so
// in-process locks are enough to make each call atomic; writes to keys on different stripes
// still proceed in parallel and share fsyncs through RocksDB's group commit. This was chosen
// over TransactionDB / OptimisticTransactionDB because a call touches exactly one record: a
// plain Get plus one WriteBatch is the least work per call, with no lock manager, no conflict
// tracking and no retry loop inside the backend. Reads take no lock: a Get sees either the
// previous or the new record, never a mix, because each write is one atomic batch.
struct RocksDbBackend::Impl {
  explicit Impl(const RocksDbOptions& options)
      : path(options.path),
        gc(std::make_shared<GcState>(options.expired_gc_grace)),
        stripe_count(std::max<std::size_t>(options.lock_stripes, 1)),
        stripes(std::make_unique<std::mutex[]>(stripe_count)) {}

  std::mutex& StripeFor(std::string_view key) {
    return stripes[std::hash<std::string_view>{}(key) % stripe_count];
  }

  // Versions come from one counter, recovered at Open from kMaxVersionKey; see rocksdb.h.
  Version NextVersion() { return last_version.fetch_add(1, std::memory_order_relaxed) + 1; }

  // The live record under `key`, or nullopt when it is absent or expired at `now`.
  Result<std::optional<VersionedValue>> LoadLive(std::string_view key, Timestamp now) {
    rdb::PinnableSlice bytes;
    const rdb::Status read =
        db->Get(rdb::ReadOptions(), db->DefaultColumnFamily(), ToSlice(key), &bytes);
    if (read.IsNotFound()) return std::optional<VersionedValue>();
    if (!read.ok()) return FromRocks(read, "read");
    const auto record = DecodeRecord(ToView(bytes));
    if (!record) return Status::Internal("rocksdb: a stored record cannot be decoded");
    if (!record->IsLive(now)) return std::optional<VersionedValue>();
    return std::optional<VersionedValue>(
        VersionedValue{std::string(record->value), record->version, record->expires_at});
  }

  // The record and the version counter go in one batch: after any crash either both are on disk
  // or neither is, so the counter never falls behind a stored version.
  Status WriteRecord(std::string_view key, Version version, std::string_view value,
                     const WriteOptions& options) {
    rdb::WriteBatch batch;
    rdb::Status status = batch.Put(ToSlice(key), EncodeRecord(version, options.expires_at, value));
    if (status.ok()) status = batch.Merge(ToSlice(kMaxVersionKey), EncodeU64(version));
    if (!status.ok()) return FromRocks(status, "write");
    rdb::WriteOptions write_options;
    write_options.sync = options.durable;  // the WAL stays on either way
    status = db->Write(write_options, &batch);
    if (!status.ok()) return FromRocks(status, "write");
    return Status::Ok();
  }

  const std::string path;
  const std::shared_ptr<GcState> gc;
  const std::size_t stripe_count;
  std::unique_ptr<std::mutex[]> stripes;
  std::atomic<Version> last_version{0};
  std::unique_ptr<rdb::DB> db;  // declared last: closed first
};

namespace {

// RocksDB's own message for a held LOCK names the file but not the reason a person needs.
Status OpenError(const rdb::Status& status, const RocksDbOptions& options) {
  const std::string text = status.ToString();
  if (status.IsIOError() && text.find("/LOCK") != std::string::npos) {
    if (text.find("current process") != std::string::npos) {
      return Status::Unavailable("rocksdb folder '" + options.path +
                                 "' is already open in this process; a RocksDB store is held "
                                 "by one backend at a time");
    }
    return Status::Unavailable("rocksdb folder '" + options.path +
                               "' is locked: another process holds it open (a RocksDB store is "
                               "held by one process at a time; go through that process)");
  }
  if (!options.create_if_missing && status.IsInvalidArgument() &&
      text.find("does not exist") != std::string::npos) {
    return Status::NotFound("rocksdb: no store in '" + options.path +
                            "' and create_if_missing is false");
  }
  return FromRocks(status, "open of '" + options.path + "'");
}

}  // namespace

RocksDbBackend::RocksDbBackend(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

RocksDbBackend::~RocksDbBackend() {
  if (impl_ && impl_->db) {
    // Close() reports errors that the destructor would swallow anyway; every acknowledged write
    // is already in the WAL, so nothing is lost either way.
    (void)impl_->db->Close();
  }
}

Result<std::shared_ptr<RocksDbBackend>> RocksDbBackend::Open(const RocksDbOptions& options) {
  if (options.path.empty()) return Status::InvalidArgument("rocksdb: the store path is empty");
  auto impl = std::make_unique<Impl>(options);

  rdb::Options db_options;
  db_options.create_if_missing = options.create_if_missing;
  db_options.max_background_jobs = std::max(options.max_background_jobs, 1);
  db_options.write_buffer_size = options.write_buffer_bytes;
  // Replay the log up to its last intact entry: a torn tail from a crash is the unacknowledged
  // end of the log, never a hole in the middle.
  db_options.wal_recovery_mode = rdb::WALRecoveryMode::kPointInTimeRecovery;
  // Stored values are Argon2id strings, keyed digests and ciphertexts: compression would spend
  // CPU for nothing.
  db_options.compression = rdb::kNoCompression;
  db_options.keep_log_file_num = 4;
  db_options.max_log_file_size = std::size_t{4} << 20;
  db_options.merge_operator = std::make_shared<MaxVersionOperator>();
  db_options.compaction_filter_factory = std::make_shared<ExpiredRecordFilterFactory>(impl->gc);

  rdb::BlockBasedTableOptions table_options;
  table_options.block_cache = rdb::NewLRUCache(options.block_cache_bytes);
  // Most Creates look up a key that does not exist yet; a Bloom filter answers without I/O.
  table_options.filter_policy.reset(rdb::NewBloomFilterPolicy(10));
  db_options.table_factory.reset(rdb::NewBlockBasedTableFactory(table_options));

  rdb::DB* raw_db = nullptr;
  const rdb::Status opened = rdb::DB::Open(db_options, options.path, &raw_db);
  if (!opened.ok()) return OpenError(opened, options);
  impl->db.reset(raw_db);
  rdb::DB& db = *impl->db;

  std::string format;
  rdb::Status status = db.Get(rdb::ReadOptions(), ToSlice(kFormatKey), &format);
  if (status.IsNotFound()) {
    std::unique_ptr<rdb::Iterator> any(db.NewIterator(rdb::ReadOptions()));
    any->SeekToFirst();
    if (any->Valid()) {
      return Status::InvalidArgument("rocksdb folder '" + options.path +
                                     "' holds a RocksDB database that is not a credstore store");
    }
    if (!any->status().ok()) return FromRocks(any->status(), "open");
    rdb::WriteOptions synced;
    synced.sync = true;
    status = db.Put(synced, ToSlice(kFormatKey), ToSlice(kStoreFormat));
    if (!status.ok()) return FromRocks(status, "open");
  } else if (!status.ok()) {
    return FromRocks(status, "open");
  } else if (format != kStoreFormat) {
    return Status::InvalidArgument("rocksdb folder '" + options.path +
                                   "' holds a credstore store of an unknown format");
  }

  std::string max_version;
  status = db.Get(rdb::ReadOptions(), ToSlice(kMaxVersionKey), &max_version);
  if (status.ok()) {
    const auto decoded = DecodeU64(max_version);
    if (!decoded) return Status::Internal("rocksdb: the stored version counter is corrupt");
    impl->last_version.store(*decoded, std::memory_order_relaxed);
  } else if (!status.IsNotFound()) {
    return FromRocks(status, "open");
  }

  return std::shared_ptr<RocksDbBackend>(new RocksDbBackend(std::move(impl)));
}

Result<VersionedValue> RocksDbBackend::Get(std::string_view key, Timestamp now) {
  if (Status valid = CheckKey(key); !valid.ok()) return valid;
  impl_->gc->Observe(now);
  auto record = impl_->LoadLive(key, now);
  if (!record.ok()) return record.status();
  if (!record->has_value()) return Status::NotFound("no record");
  return std::move(**record);
}

Result<Version> RocksDbBackend::Create(std::string_view key, std::string_view value,
                                       const WriteOptions& options, Timestamp now) {
  if (Status valid = CheckKey(key); !valid.ok()) return valid;
  impl_->gc->Observe(now);
  std::lock_guard lock(impl_->StripeFor(key));
  auto current = impl_->LoadLive(key, now);
  if (!current.ok()) return current.status();
  // An expired record counts as absent; the Put below replaces it under the same lock.
  if (current->has_value()) return Status::Conflict("record exists");
  const Version version = impl_->NextVersion();
  if (Status written = impl_->WriteRecord(key, version, value, options); !written.ok()) {
    return written;
  }
  return version;
}

Result<Version> RocksDbBackend::CompareAndSwap(std::string_view key, Version expected,
                                               std::string_view value, const WriteOptions& options,
                                               Timestamp now) {
  if (Status valid = CheckKey(key); !valid.ok()) return valid;
  impl_->gc->Observe(now);
  std::lock_guard lock(impl_->StripeFor(key));
  auto current = impl_->LoadLive(key, now);
  if (!current.ok()) return current.status();
  if (!current->has_value()) return Status::NotFound("no record");
  if ((*current)->version != expected) return Status::Conflict("version changed");
  const Version version = impl_->NextVersion();
  if (Status written = impl_->WriteRecord(key, version, value, options); !written.ok()) {
    return written;
  }
  return version;
}

Status RocksDbBackend::Erase(std::string_view key, Version expected, Timestamp now) {
  if (Status valid = CheckKey(key); !valid.ok()) return valid;
  impl_->gc->Observe(now);
  std::lock_guard lock(impl_->StripeFor(key));
  auto current = impl_->LoadLive(key, now);
  if (!current.ok()) return current.status();
  if (!current->has_value()) return Status::NotFound("no record");
  if ((*current)->version != expected) return Status::Conflict("version changed");
  // No tombstone of our own is needed: the version counter already covers the erased version.
  rdb::WriteOptions synced;
  synced.sync = true;
  const rdb::Status erased = impl_->db->Delete(synced, ToSlice(key));
  if (!erased.ok()) return FromRocks(erased, "erase");
  return Status::Ok();
}

Result<ScanPage> RocksDbBackend::Scan(std::string_view prefix, std::string_view cursor,
                                      std::size_t limit, Timestamp now) {
  if (limit == 0) return Status::InvalidArgument("scan limit must be at least 1");
  impl_->gc->Observe(now);

  const std::string upper_bound = PrefixSuccessor(prefix);
  const rdb::Slice upper_bound_slice(upper_bound);
  rdb::ReadOptions read_options;  // one implicit snapshot for the whole page
  if (!upper_bound.empty()) read_options.iterate_upper_bound = &upper_bound_slice;
  std::unique_ptr<rdb::Iterator> it(impl_->db->NewIterator(read_options));

  const bool after_cursor = !cursor.empty() && cursor >= prefix;
  it->Seek(ToSlice(after_cursor ? cursor : prefix));
  if (after_cursor && it->Valid() && ToView(it->key()) == cursor) it->Next();

  // Once the page is full, look a little further for one more live record, so that the last
  // page usually comes back with an empty cursor instead of costing the caller one more call.
  constexpr std::size_t kLookAheadSteps = 64;
  std::size_t look_ahead = 0;
  ScanPage page;
  for (; it->Valid(); it->Next()) {
    const std::string_view key = ToView(it->key());
    if (!StartsWith(key, prefix)) break;
    if (IsReservedKey(key)) continue;
    if (page.entries.size() == limit && ++look_ahead > kLookAheadSteps) {
      page.next_cursor = page.entries.back().key;
      break;
    }
    const auto record = DecodeRecord(ToView(it->value()));
    if (!record) return Status::Internal("rocksdb: a stored record cannot be decoded");
    if (!record->IsLive(now)) continue;
    if (page.entries.size() == limit) {
      page.next_cursor = page.entries.back().key;
      break;
    }
    page.entries.push_back(
        ScanEntry{std::string(key),
                  VersionedValue{std::string(record->value), record->version, record->expires_at}});
  }
  if (!it->status().ok()) return FromRocks(it->status(), "scan");
  return page;
}

Status RocksDbBackend::CollectExpired() {
  rdb::CompactRangeOptions compact_options;
  // Rewrite the last level too: that is where long-lived expired records end up.
  compact_options.bottommost_level_compaction = rdb::BottommostLevelCompaction::kForce;
  const rdb::Status status = impl_->db->CompactRange(compact_options, nullptr, nullptr);
  if (!status.ok()) return FromRocks(status, "compaction");
  return Status::Ok();
}

std::uint64_t RocksDbBackend::ExpiredRecordsCollected() const {
  return impl_->gc->collected.load(std::memory_order_relaxed);
}

const std::string& RocksDbBackend::path() const { return impl_->path; }

}  // namespace credstore
