#include <rocksdb/cache.h>
#include <rocksdb/compaction_filter.h>
#include <rocksdb/db.h>
#include <rocksdb/env.h>
#include <rocksdb/filter_policy.h>
#include <rocksdb/iterator.h>
#include <rocksdb/merge_operator.h>
#include <rocksdb/options.h>
#include <rocksdb/slice.h>
#include <rocksdb/table.h>
#include <rocksdb/utilities/checkpoint.h>
#include <rocksdb/write_batch.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <filesystem>
#include <functional>
#include <future>
#include <limits>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include "credstore/backends/rocksdb.h"
#include "db_slot.h"
#include "free_space.h"
#include "info_log.h"
#include "record_format.h"
#include "write_failure.h"

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

std::string Mib(std::uint64_t bytes) { return std::to_string(bytes >> 20) + " MiB"; }

// How long a client is told to wait while the disk is below the reserve: freeing space is an
// operator's job, not a matter of a second.
constexpr std::chrono::seconds kFullDiskRetryAfter{5};

// An absolute path with symbolic links resolved as far as it exists, `.` and `..` removed and no
// trailing separator, so two spellings of one folder compare equal.
std::filesystem::path Normalized(const std::string& path) {
  std::error_code error;
  std::filesystem::path absolute = std::filesystem::absolute(path, error);
  if (error) absolute = path;
  std::filesystem::path canonical = std::filesystem::weakly_canonical(absolute, error);
  if (error) canonical = absolute;
  canonical = canonical.lexically_normal();
  if (!canonical.has_filename() && canonical.has_relative_path()) {
    canonical = canonical.parent_path();
  }
  return canonical;
}

// True iff `inner` is `outer` or lies inside it (both Normalized).
bool IsWithin(const std::filesystem::path& inner, const std::filesystem::path& outer) {
  const auto mismatch = std::mismatch(outer.begin(), outer.end(), inner.begin(), inner.end());
  return mismatch.first == outer.end();
}

// RocksDbOptions::backup_dir, or its default beside the data folder.
std::string BackupDirOf(const RocksDbOptions& options) {
  if (!options.backup_dir.empty()) return Normalized(options.backup_dir).string();
  return (Normalized(options.path).parent_path() / "backups").string();
}

// A checkpoint among the live files would be served (and compacted) as data, and a backups
// folder holding the data folder would let a checkpoint take its name.
Status CheckBackupDir(const std::string& data_path, const std::string& backup_dir) {
  const std::filesystem::path data = Normalized(data_path);
  const std::filesystem::path backups = Normalized(backup_dir);
  if (IsWithin(backups, data) || IsWithin(data, backups)) {
    return Status::InvalidArgument("rocksdb: the backups folder '" + backups.string() +
                                   "' and the data folder '" + data.string() +
                                   "' must not contain one another");
  }
  return Status::Ok();
}

}  // namespace

// Compare-and-swap: the read-check-write of Create, CompareAndSwap and Erase runs under one of
// `stripes` mutexes, picked by key hash. RocksDB lets only one process open the folder, so
// in-process locks are enough to make each call atomic. This was chosen over TransactionDB /
// OptimisticTransactionDB because a call touches exactly one record: a plain Get plus one
// WriteBatch is the least work per call, with no lock manager, no conflict tracking and no retry
// loop inside the backend. Reads take no lock: a Get sees either the previous or the new record,
// never a mix, because each write is one atomic batch.
//
// Durable writes go through a commit queue: callers enqueue their mutation and wait; one writer
// thread takes every pending mutation at once, checks each in arrival order against the stored
// record (or against an earlier mutation of the same group on the same key, so two CAS on one key
// in one group behave as if run one after the other), writes the whole group as one WriteBatch
// with one sync, and only then answers every caller. It holds the stripes of the group's keys
// from the checks to the end of the synced write, so non-durable writers (which take their stripe
// and write at once, unsynced) stay atomic with it.
//
// Chosen over "write unsynced under the stripe lock, then share a SyncWAL among the waiters"
// because here nothing ever observes a durable write before it is synced: RocksDB makes a
// sync=true batch visible only after its log sync, so no Get, TryGet or CAS (durable or not)
// can read, answer from or build on a value that a crash could still take back. With the other
// scheme an unsynced value is visible to every reader in between, and each reader that acts on it
// (a non-durable CAS, a Get served to a client) would need its own wait for the covering sync.
// The cost: one thread does the group's checks, so a group of keys that are not in memory pays
// its reads one MultiGet at a time; the sync, which dominates, is shared either way.
struct RocksDbBackend::Impl {
  // One Create, CompareAndSwap or Erase as the caller asked for it; the views outlive the call.
  struct Mutation {
    enum class Kind { kCreate, kSwap, kErase };
    Kind kind;
    std::string_view key;
    Version expected = 0;    // kSwap and kErase
    std::string_view value;  // kCreate and kSwap
    WriteOptions options;    // kCreate and kSwap
    Timestamp now;
  };

  // A durable mutation waiting in the commit queue. The queue owns it (the mutation stays on its
  // caller's stack); the caller holds the future of `answer`.
  //
  // The answer is a promise, not a condition variable under the queue's mutex: notified under
  // that mutex, every caller of a group woke only to block on it again while the writer went on
  // through the group, two context switches per write where one will do. A future's shared state
  // outlives whichever side lets go of it last, so the writer sets it with no lock held.
  struct Pending {
    explicit Pending(const Mutation& asked) : mutation(&asked) {}

    const Mutation* mutation;
    Result<Version> result = Status::Internal("rocksdb: the commit queue never answered");
    std::promise<Result<Version>> answer;
  };

  explicit Impl(const RocksDbOptions& options)
      : path(options.path),
        backup_dir(BackupDirOf(options)),
        gc(std::make_shared<GcState>(options.expired_gc_grace)),
        stripe_count(std::max<std::size_t>(options.lock_stripes, 1)),
        stripes(std::make_unique<std::mutex[]>(stripe_count)),
        space(options.path,
              options.min_free_disk_bytes.value_or(
                  RocksDbOptions::DefaultMinFreeDiskBytes(options.write_buffer_bytes))),
        recovery_interval(std::max(options.write_recovery_interval, std::chrono::milliseconds(1))) {
  }

  // Also on a failed Open: the LOCK may have been taken before the store was checked.
  ~Impl() { UnlockFolder(); }
  Impl(const Impl&) = delete;
  Impl& operator=(const Impl&) = delete;

  std::size_t StripeIndex(std::string_view key) const {
    return std::hash<std::string_view>{}(key) % stripe_count;
  }

  // Versions come from one counter, recovered at Open from kMaxVersionKey; see rocksdb.h.
  Version NextVersion() { return last_version.fetch_add(1, std::memory_order_relaxed) + 1; }

  // A callback for Inspect that copies the record it is handed into `copy`.
  static auto CopyInto(std::optional<VersionedValue>& copy) {
    return [&copy](const RecordView& record) {
      copy = VersionedValue{std::string(record.value), record.version, record.expires_at};
    };
  }

  // What RocksDB's answer for a key means at `now`: the live record, or nullopt when it is absent
  // or expired. InspectLive with the record copied out, for both write paths.
  static Result<std::optional<VersionedValue>> DecodeLive(const rdb::Status& read,
                                                          const rdb::Slice& bytes, Timestamp now) {
    std::optional<VersionedValue> live;
    const Status inspected = InspectLive(read, bytes, now, CopyInto(live));
    if (!inspected.ok() && inspected.code() != StatusCode::kNotFound) return inspected;
    return live;
  }

  // The one decoding path of every read (Inspect, TryInspect, and through them Get and TryGet;
  // DecodeLive for the writes): `inspect` on the live record, or kNotFound when there is none
  // (absent or expired), or the read's or the decoding's error.
  static Status InspectLive(const rdb::Status& read, const rdb::Slice& bytes, Timestamp now,
                            const Inspector& inspect) {
    if (read.IsNotFound()) return Status::NotFound("no record");
    if (!read.ok()) return FromRocks(read, "read");
    const auto record = DecodeRecord(ToView(bytes));
    if (!record) return Status::Internal("rocksdb: a stored record cannot be decoded");
    if (!record->IsLive(now)) return Status::NotFound("no record");
    inspect(RecordView{record->value, record->version, record->expires_at});
    return Status::Ok();
  }

  static Result<std::optional<VersionedValue>> LoadLive(rdb::DB& db, std::string_view key,
                                                        Timestamp now) {
    rdb::PinnableSlice bytes;
    const rdb::Status read =
        db.Get(rdb::ReadOptions(), db.DefaultColumnFamily(), ToSlice(key), &bytes);
    return DecodeLive(read, bytes, now);
  }

  // The rules of Create, CompareAndSwap and Erase (storage_backend.h), given the version of the
  // live record the mutation finds (nullopt: none). Ok when the mutation may be written.
  static Status Admit(const Mutation& mutation, std::optional<Version> live) {
    if (mutation.kind == Mutation::Kind::kCreate) {
      // An expired record counts as absent; the Put replaces it.
      return live ? Status::Conflict("record exists") : Status::Ok();
    }
    if (!live) return Status::NotFound("no record");
    if (*live != mutation.expected) return Status::Conflict("version changed");
    return Status::Ok();
  }

  // Adds an admitted mutation to `batch`: the new version for Create and CompareAndSwap, 0 for
  // Erase. The record and the version counter go in one batch: after any crash either both are
  // on disk or neither is, so the counter never falls behind a stored version.
  Result<Version> Stage(const Mutation& mutation, rdb::WriteBatch& batch) {
    if (mutation.kind == Mutation::Kind::kErase) {
      // No tombstone of our own is needed: the version counter already covers the erased one.
      const rdb::Status status = batch.Delete(ToSlice(mutation.key));
      if (!status.ok()) return FromRocks(status, "erase");
      return Version{0};
    }
    const Version version = NextVersion();
    rdb::Status status = batch.Put(
        ToSlice(mutation.key), EncodeRecord(version, mutation.options.expires_at, mutation.value));
    if (status.ok()) status = batch.Merge(ToSlice(kMaxVersionKey), EncodeU64(version));
    if (!status.ok()) return FromRocks(status, "write");
    return version;
  }

  // A non-durable mutation: checked and written at once under its stripe, without a sync (the
  // write-ahead log stays on).
  Result<Version> ApplyUnsynced(const Mutation& mutation) {
    const DbSlot::Pinned db_pin = db.Pin();
    if (Status allowed = WritesAllowed(); !allowed.ok()) return allowed;  // swapped meanwhile
    std::lock_guard lock(stripes[StripeIndex(mutation.key)]);
    auto current = LoadLive(*db_pin, mutation.key, mutation.now);
    if (!current.ok()) return current.status();
    const std::optional<Version> live =
        *current ? std::optional<Version>((*current)->version) : std::nullopt;
    if (Status admitted = Admit(mutation, live); !admitted.ok()) return admitted;
    rdb::WriteBatch batch;
    auto version = Stage(mutation, batch);
    if (!version.ok()) return version;
    const rdb::Status written = db_pin->Write(rdb::WriteOptions(), &batch);
    if (!written.ok()) {
      NoteWriteError(written);
      return FromRocks(written, "write");
    }
    return version;
  }

  // A durable mutation: through the commit queue; returns once the group holding it is synced.
  Result<Version> Commit(const Mutation& mutation) {
    std::future<Result<Version>> answered;
    {
      std::lock_guard lock(queue_mutex);
      if (stopping) return Status::Unavailable("rocksdb: the backend is shutting down");
      answered = queue.emplace_back(mutation).answer.get_future();
    }
    // Outside the lock, so the writer does not wake only to wait for it.
    queue_ready.notify_one();
    return answered.get();
  }

  void StartWriter() {
    writer = std::thread([this] { WriterLoop(); });
  }

  // Answers everything already queued, then ends the writer thread.
  void StopWriter() {
    {
      std::lock_guard lock(queue_mutex);
      stopping = true;
    }
    queue_ready.notify_one();
    if (writer.joinable()) writer.join();
  }

  void WriterLoop() {
    std::vector<Pending> group;
    std::unique_lock lock(queue_mutex);
    while (true) {
      queue_ready.wait(lock, [&] { return stopping || !queue.empty(); });
      if (queue.empty()) return;  // stopping, and nothing is left to answer
      group.swap(queue);
      lock.unlock();
      CommitGroup(group);
      // Each caller may return, and its mutation go, as soon as its answer is set.
      for (Pending& pending : group) pending.answer.set_value(std::move(pending.result));
      group.clear();
      lock.lock();
    }
  }

  // Checks every mutation of `group` in order, writes the admitted ones in one synced batch and
  // fills in every result. A failed write fails the whole group, refusals included: they may
  // rest on a mutation of the group that was never written.
  void CommitGroup(std::vector<Pending>& group) {
    const DbSlot::Pinned db_pin = db.Pin();
    if (Status allowed = WritesAllowed(); !allowed.ok()) {  // refused or swapped meanwhile
      for (Pending& pending : group) pending.result = allowed;
      return;
    }
    std::vector<std::size_t> held;
    held.reserve(group.size());
    for (const Pending& pending : group) held.push_back(StripeIndex(pending.mutation->key));
    std::sort(held.begin(), held.end());
    held.erase(std::unique(held.begin(), held.end()), held.end());
    // Only this thread ever holds more than one stripe, so taking several cannot deadlock.
    std::vector<std::unique_lock<std::mutex>> locks;
    locks.reserve(held.size());
    for (std::size_t index : held) locks.emplace_back(stripes[index]);

    // The stored records of the group's keys, read in one MultiGet.
    std::unordered_map<std::string_view, std::size_t> slot;  // key -> index in keys
    std::vector<rdb::Slice> keys;
    for (const Pending& pending : group) {
      const std::string_view key = pending.mutation->key;
      if (slot.emplace(key, keys.size()).second) keys.push_back(ToSlice(key));
    }
    std::vector<rdb::PinnableSlice> stored(keys.size());
    std::vector<rdb::Status> reads(keys.size());
    db_pin->MultiGet(rdb::ReadOptions(), db_pin->DefaultColumnFamily(), keys.size(), keys.data(),
                     stored.data(), reads.data());

    // What the group itself has written so far, per key: the version and expiry of the record,
    // or nullopt after an Erase.
    struct Written {
      Version version;
      std::optional<Timestamp> expires_at;
    };
    std::unordered_map<std::string_view, std::optional<Written>> written;
    rdb::WriteBatch batch;
    bool any_staged = false;
    for (Pending& pending : group) {
      const Mutation& mutation = *pending.mutation;
      std::optional<Version> live;
      if (const auto earlier = written.find(mutation.key); earlier != written.end()) {
        if (earlier->second && IsLiveAt(earlier->second->expires_at, mutation.now)) {
          live = earlier->second->version;
        }
      } else {
        const std::size_t i = slot.at(mutation.key);
        auto current = DecodeLive(reads[i], stored[i], mutation.now);
        if (!current.ok()) {
          pending.result = current.status();
          continue;
        }
        if (*current) live = (*current)->version;
      }
      if (Status admitted = Admit(mutation, live); !admitted.ok()) {
        pending.result = std::move(admitted);
        continue;
      }
      pending.result = Stage(mutation, batch);
      if (!pending.result.ok()) continue;
      written[mutation.key] =
          mutation.kind == Mutation::Kind::kErase
              ? std::nullopt
              : std::optional<Written>(Written{*pending.result, mutation.options.expires_at});
      any_staged = true;
    }
    if (!any_staged) return;
    rdb::WriteOptions synced;
    synced.sync = true;
    const rdb::Status status = db_pin->Write(synced, &batch);
    if (status.ok()) return;
    NoteWriteError(status);
    const Status failed = FromRocks(status, "write");
    for (Pending& pending : group) pending.result = failed;
  }

  Result<Version> Apply(const Mutation& mutation) {
    gc->Observe(mutation.now);
    if (Status allowed = WritesAllowed(); !allowed.ok()) return allowed;
    const bool durable = mutation.kind == Mutation::Kind::kErase || mutation.options.durable;
    return durable ? Commit(mutation) : ApplyUnsynced(mutation);
  }

  // OK iff writes may go to RocksDB now: the store is open read-write, the disk has its reserve
  // free and RocksDB has not stopped after an error. Asked before every write, durable or not:
  // RocksDB 7.8 aborts the process when an unsynced write meets a full disk.
  Status WritesAllowed() {
    if (read_only.load(std::memory_order_acquire)) {
      const std::string why = failure->failed()
                                  ? "a write failed (" + failure->message() + ")"
                                  : "its disk had less free space than the reserve (" +
                                        Mib(space.reserve_bytes()) + ") at open";
      return Status::Unavailable("rocksdb: the store in '" + path + "' is open read-only: " + why +
                                     "; writes resume once the disk has room",
                                 kFullDiskRetryAfter);
    }
    if (!space.Enough()) {
      return Status::Unavailable("rocksdb: the disk of '" + path + "' has " +
                                     Mib(space.last_free_bytes()) + " free, below the reserve of " +
                                     Mib(space.reserve_bytes()) +
                                     " (min_free_disk); writes resume once space is back",
                                 kFullDiskRetryAfter);
    }
    if (failure->failed() || write_failed.load(std::memory_order_acquire)) {
      return Status::Unavailable("rocksdb: writes stopped after an error (" + failure->message() +
                                 "); resuming once the disk has room");
    }
    return Status::Ok();
  }

  // Reads the store's bookkeeping from a freshly opened `opened`: its format (written into an
  // empty database when `may_initialize`), and the version counter.
  Status CheckStore(rdb::DB& opened, bool may_initialize) {
    std::string format;
    rdb::Status status = opened.Get(rdb::ReadOptions(), ToSlice(kFormatKey), &format);
    if (status.IsNotFound()) {
      std::unique_ptr<rdb::Iterator> any(opened.NewIterator(rdb::ReadOptions()));
      any->SeekToFirst();
      if (any->Valid()) {
        return Status::InvalidArgument("rocksdb folder '" + path +
                                       "' holds a RocksDB database that is not a credstore store");
      }
      if (!any->status().ok()) return FromRocks(any->status(), "open");
      if (!may_initialize) {
        return Status::Unavailable("rocksdb: the store in '" + path +
                                       "' is empty and its disk is below the reserve (" +
                                       Mib(space.reserve_bytes()) + "): it cannot be created",
                                   kFullDiskRetryAfter);
      }
      rdb::WriteOptions synced;
      synced.sync = true;
      status = opened.Put(synced, ToSlice(kFormatKey), ToSlice(kStoreFormat));
      if (!status.ok()) return FromRocks(status, "open");
    } else if (!status.ok()) {
      return FromRocks(status, "open");
    } else if (format != kStoreFormat) {
      return Status::InvalidArgument("rocksdb folder '" + path +
                                     "' holds a credstore store of an unknown format");
    }

    std::string max_version;
    status = opened.Get(rdb::ReadOptions(), ToSlice(kMaxVersionKey), &max_version);
    if (status.ok()) {
      const auto decoded = DecodeU64(max_version);
      if (!decoded) return Status::Internal("rocksdb: the stored version counter is corrupt");
      // Never backwards: a reopen reads the same counter, or a later one.
      Version seen = last_version.load(std::memory_order_relaxed);
      while (*decoded > seen &&
             !last_version.compare_exchange_weak(seen, *decoded, std::memory_order_relaxed)) {
      }
    } else if (!status.IsNotFound()) {
      return FromRocks(status, "open");
    }
    return Status::Ok();
  }

  // ---- Getting writes back (see Full disk in rocksdb.h) -------------------------------------

  void StartRecovery() {
    recoverer = std::thread([this] { RecoveryLoop(); });
  }

  void StopRecovery() {
    {
      std::lock_guard lock(recovery_mutex);
      recovery_stopping = true;
    }
    recovery_wake.notify_one();
    if (recoverer.joinable()) recoverer.join();
  }

  void RecoveryLoop() {
    std::unique_lock lock(recovery_mutex);
    while (!recovery_wake.wait_for(lock, recovery_interval, [&] { return recovery_stopping; })) {
      lock.unlock();
      TryRecover();
      lock.lock();
    }
  }

  // A write RocksDB answered with an error. RocksDB 7.8 keeps using the write-ahead-log writer
  // that failed, and its next write through it fails an assertion (the process aborts) — also
  // after DB::Resume() answered OK (tests/durability/full_disk_test.cc, mode "no-reserve",
  // shows it). So the instance is never written to again: the recovery thread swaps it for a
  // read-only one and reopens read-write once there is room.
  void NoteWriteError(const rdb::Status& status) {
    failure->Note(status);
    write_failed.store(true, std::memory_order_release);
  }

  // Once the reserve is free again: a read-only store is reopened read-write, a stopped one
  // resumed. A failed try is tried again on the next tick; nothing here can lose a write, since
  // none was accepted while writes were refused.
  void TryRecover() {
    if (write_failed.load(std::memory_order_acquire)) {
      RetireFailedInstance();
      // Never Resume a failed instance: the next write through it would abort (see above).
      if (write_failed.load(std::memory_order_acquire)) return;
    }
    if (!read_only.load(std::memory_order_acquire) && !failure->failed()) return;
    if (!space.Enough()) return;
    if (read_only.load(std::memory_order_acquire)) {
      ReopenReadWrite();
      return;
    }
    // A background error (a flush or compaction that failed): Resume retries it.
    const std::uint64_t generation = failure->generation();
    const rdb::Status resumed = db.Pin()->Resume();
    // Busy: RocksDB is already recovering on its own (it does after a full disk); ask again.
    if (resumed.ok()) failure->ClearIf(generation);
  }

  // The options of a read-only instance: `options` without the row cache. RocksDB 7.8's read-only
  // Get checks every entry against a sequence-number callback, and an entry replayed from the row
  // cache carries the largest sequence number there is, so it is refused: a record answered once
  // from its table file reads as absent from then on (fixed in RocksDB 8.7, pull request 11816).
  // A read-write Get registers no such callback.
  static rdb::Options ReadOnly(rdb::Options options) {
    options.row_cache.reset();
    return options;
  }

  // Replaces an instance whose write failed by a read-only one (reads go on meanwhile) and closes
  // it, so that its LOCK is free for the read-write reopen. A read-only open writes nothing, so
  // it works on a full disk too.
  void RetireFailedInstance() {
    rdb::DB* raw = nullptr;
    const rdb::Status opened = rdb::DB::OpenForReadOnly(ReadOnly(db_options), path, &raw);
    if (!opened.ok()) return;  // tried again on the next tick; writes stay refused
    // Before the swap: a writer that pins the read-only instance must find it flagged.
    read_only.store(true, std::memory_order_seq_cst);
    std::unique_ptr<rdb::DB> failed = db.Replace(std::unique_ptr<rdb::DB>(raw));
    (void)failed->Close();
    failed.reset();
    write_failed.store(false, std::memory_order_release);
    (void)LockFolder();
  }

  // Opens the folder read-write beside the read-only instance, makes it current, and closes the
  // read-only one once its readers are done. The read-only instance took no lock and accepted no
  // write, so the read-write open recovers exactly what was on disk.
  void ReopenReadWrite() {
    // RocksDB takes the LOCK itself: hand ours over. Another process could take it in between;
    // then the open fails on the lock, this backend stays read-only, and tries again later.
    UnlockFolder();
    rdb::DB* raw = nullptr;
    const rdb::Status opened = rdb::DB::Open(db_options, path, &raw);
    if (!opened.ok()) {
      failure->Note(opened);
      (void)LockFolder();  // fails only if another process holds it; the next try notes that
      return;
    }
    std::unique_ptr<rdb::DB> writable(raw);
    if (Status checked = CheckStore(*writable, /*may_initialize=*/false); !checked.ok()) {
      (void)writable->Close();
      writable.reset();
      failure->Note(rdb::Status::IOError(checked.message()));
      (void)LockFolder();
      return;
    }
    std::unique_ptr<rdb::DB> retired = db.Replace(std::move(writable));
    // A failure noted by a failed reopen belongs to no open instance.
    failure->ClearIf(failure->generation());
    read_only.store(false, std::memory_order_release);
    (void)retired->Close();
  }

  // The folder's LOCK, held while the store is open read-only (see Open).
  rdb::Status LockFolder() {
    if (folder_lock != nullptr) return rdb::Status::OK();
    return db_options.env->LockFile(path + "/LOCK", &folder_lock);
  }

  void UnlockFolder() {
    if (folder_lock == nullptr) return;
    (void)db_options.env->UnlockFile(folder_lock);
    folder_lock = nullptr;
  }

  const std::string path;
  const std::string backup_dir;
  std::mutex checkpoint_mutex;  // one checkpoint at a time: RocksDB stages each in NAME.tmp
  const std::shared_ptr<GcState> gc;
  const std::size_t stripe_count;
  std::unique_ptr<std::mutex[]> stripes;
  std::atomic<Version> last_version{0};

  FreeSpaceGauge space;
  const std::shared_ptr<WriteFailure> failure = std::make_shared<WriteFailure>();
  std::atomic<bool> read_only{false};     // opened read-only, not yet reopened read-write
  std::atomic<bool> write_failed{false};  // the current instance failed a write: never reuse it
  rdb::Options db_options;                // as the first open used them; a reopen uses them again
  rdb::FileLock* folder_lock = nullptr;   // while read-only; only Open, the recovery thread and
                                          // the destructor (after stopping it) touch it
  const std::chrono::milliseconds recovery_interval;
  std::mutex recovery_mutex;
  std::condition_variable recovery_wake;  // the recovery thread waits here between tries
  bool recovery_stopping = false;         // guarded by recovery_mutex
  std::thread recoverer;

  std::mutex queue_mutex;
  std::condition_variable queue_ready;  // the writer waits here for work or for `stopping`
  std::vector<Pending> queue;           // guarded by queue_mutex
  bool stopping = false;                // guarded by queue_mutex
  std::thread writer;

  DbSlot db;  // declared last: destroyed first (the destructor has closed it)
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

std::size_t RocksDbOptions::DefaultBlockCacheBytes() {
  constexpr std::size_t kMin = std::size_t{64} << 20;
  constexpr std::size_t kMax = std::size_t{4} << 30;
  const long pages = ::sysconf(_SC_PHYS_PAGES);
  const long page_bytes = ::sysconf(_SC_PAGESIZE);
  if (pages <= 0 || page_bytes <= 0) return kMin;  // unknown: the smallest share
  const auto physical = static_cast<std::size_t>(pages) * static_cast<std::size_t>(page_bytes);
  return std::clamp(physical / 8, kMin, kMax);
}

std::uint64_t RocksDbOptions::DefaultMinFreeDiskBytes(std::size_t write_buffer_bytes) {
  return 2 * static_cast<std::uint64_t>(write_buffer_bytes) + (std::uint64_t{64} << 20);
}

RocksDbBackend::RocksDbBackend(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

RocksDbBackend::~RocksDbBackend() {
  if (!impl_) return;
  // No reopen may start under the close; then every queued durable write is answered before
  // the database closes under it.
  impl_->StopRecovery();
  impl_->StopWriter();
  // Close() reports errors that the destructor would swallow anyway; every acknowledged write is
  // already in the WAL, so nothing is lost either way.
  (void)impl_->db.Unpinned()->Close();
}

Result<std::shared_ptr<RocksDbBackend>> RocksDbBackend::Open(const RocksDbOptions& options) {
  if (options.path.empty()) return Status::InvalidArgument("rocksdb: the store path is empty");
  auto impl = std::make_unique<Impl>(options);
  if (Status placed = CheckBackupDir(options.path, impl->backup_dir); !placed.ok()) return placed;

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
  // RocksDB's LOG goes through a logger of ours: RocksDB's own aborts the process on its next
  // line once a write to the file failed (a full disk), and it logs exactly then (info_log.h).
  db_options.info_log = std::make_shared<InfoLog>(options.path, std::size_t{4} << 20);
  db_options.merge_operator = std::make_shared<MaxVersionOperator>();
  db_options.compaction_filter_factory = std::make_shared<ExpiredRecordFilterFactory>(impl->gc);

  // Every table file stays open with its reader (RocksDB's default, written here because TryGet
  // depends on it): a reader that had to be reopened would be file I/O, and TryGet would answer
  // "would block" for every key in that file.
  db_options.max_open_files = -1;

  // A Get of a record in a table file costs a walk of the file's index and data block even when
  // the block is cached; the row cache answers the record itself (rocksdb.h, row_cache_bytes).
  // Measured on verifications over HTTP, the RocksDB share of a request fell from 15% to 9%.
  const std::size_t row_cache_bytes =
      options.row_cache_bytes.value_or(options.block_cache_bytes / 4);
  if (row_cache_bytes > 0) db_options.row_cache = rdb::NewLRUCache(row_cache_bytes);

  rdb::BlockBasedTableOptions table_options;
  table_options.block_cache = rdb::NewLRUCache(options.block_cache_bytes);
  // Most Creates look up a key that does not exist yet; a Bloom filter answers without I/O.
  table_options.filter_policy.reset(rdb::NewBloomFilterPolicy(10));
  // Index and filter blocks live in the table readers, loaded when a file is opened, not in the
  // block cache (RocksDB's default, written here because TryGet depends on it): in the cache,
  // they would be missing after a reopen or an eviction, and TryGet of an absent key — which the
  // filter alone can answer — would come back "would block". They cost memory beside the cache,
  // about 1.3 bytes a key for the filter plus the index; docs/operations.md counts them.
  table_options.cache_index_and_filter_blocks = false;
  // Point lookups are what a credential store does: a hash index inside each data block finds a
  // key in one probe instead of a binary search over the block's restart points, which at 10^6
  // customers (records spread over far more memory than the CPU caches hold) is a cache miss a
  // step.
  table_options.data_block_index_type = rdb::BlockBasedTableOptions::kDataBlockBinaryAndHash;
  table_options.data_block_hash_table_util_ratio = 0.75;
  db_options.table_factory.reset(rdb::NewBlockBasedTableFactory(table_options));

  db_options.listeners.push_back(std::make_shared<BackgroundErrorListener>(impl->failure));
  impl->db_options = db_options;

  // Below the reserve, a read-write open is never tried: RocksDB 7.8 aborts the process when it
  // meets a full disk while opening (it writes a new log and manifest). A read-only open writes
  // nothing, serves every read, and is replaced by a read-write one once space is back.
  const bool room = impl->space.Enough();
  if (!room) {
    std::error_code error;
    if (!std::filesystem::exists(std::filesystem::path(options.path) / "CURRENT", error)) {
      if (!options.create_if_missing) {
        return Status::NotFound("rocksdb: no store in '" + options.path +
                                "' and create_if_missing is false");
      }
      return Status::Unavailable("rocksdb: no store in '" + options.path + "' and its disk has " +
                                     Mib(impl->space.last_free_bytes()) +
                                     " free, below the reserve of " +
                                     Mib(impl->space.reserve_bytes()) + ": none is created",
                                 kFullDiskRetryAfter);
    }
  }
  rdb::DB* raw_db = nullptr;
  const rdb::Status opened =
      room ? rdb::DB::Open(db_options, options.path, &raw_db)
           : rdb::DB::OpenForReadOnly(Impl::ReadOnly(db_options), options.path, &raw_db);
  if (!opened.ok()) return OpenError(opened, options);
  impl->db.Install(std::unique_ptr<rdb::DB>(raw_db));
  impl->read_only.store(!room, std::memory_order_release);
  // A read-only open takes no LOCK, so it would let a second process (or backend) in beside the
  // one holding the folder, or let that one in beside us: take the LOCK ourselves, as RocksDB
  // would, until the read-write reopen takes it over.
  if (!room) {
    const rdb::Status locked = impl->LockFolder();
    if (!locked.ok()) return OpenError(locked, options);
  }
  if (Status checked = impl->CheckStore(*impl->db.Unpinned(), /*may_initialize=*/room);
      !checked.ok()) {
    return checked;
  }

  impl->StartWriter();
  impl->StartRecovery();
  return std::shared_ptr<RocksDbBackend>(new RocksDbBackend(std::move(impl)));
}

namespace {

// Get's answer from Inspect's (`inspected`, the record it handed over copied into `copy`): the
// record, or the error (kNotFound included).
Result<VersionedValue> CopiedAnswer(const Status& inspected, std::optional<VersionedValue>& copy) {
  if (!inspected.ok()) return inspected;
  return std::move(*copy);
}

}  // namespace

// Get and TryGet are Inspect and TryInspect with the record copied out: one read per tier.
Result<VersionedValue> RocksDbBackend::Get(std::string_view key, Timestamp now) {
  std::optional<VersionedValue> copy;
  const Status inspected = Inspect(key, now, Impl::CopyInto(copy));
  return CopiedAnswer(inspected, copy);
}

std::optional<Result<VersionedValue>> RocksDbBackend::TryGet(std::string_view key, Timestamp now) {
  std::optional<VersionedValue> copy;
  const std::optional<Status> inspected = TryInspect(key, now, Impl::CopyInto(copy));
  if (!inspected) return std::nullopt;
  return CopiedAnswer(*inspected, copy);
}

Status RocksDbBackend::Inspect(std::string_view key, Timestamp now, const Inspector& inspect) {
  if (Status valid = CheckKey(key); !valid.ok()) return valid;
  impl_->gc->Observe(now);
  rdb::PinnableSlice bytes;  // pins the block in the cache: `inspect` reads it there
  const DbSlot::Pinned db = impl_->db.Pin();
  const rdb::Status read =
      db->Get(rdb::ReadOptions(), db->DefaultColumnFamily(), ToSlice(key), &bytes);
  return Impl::InspectLive(read, bytes, now, inspect);
}

// kBlockCacheTier lets RocksDB answer from the memtables, the table readers' index and Bloom
// filter blocks (kept outside the cache, see Open) and the block cache; whatever would need a
// read from a file comes back as Incomplete, which is "would block". No credstore lock is taken.
std::optional<Status> RocksDbBackend::TryInspect(std::string_view key, Timestamp now,
                                                 const Inspector& inspect) {
  if (Status valid = CheckKey(key); !valid.ok()) return valid;
  impl_->gc->Observe(now);
  rdb::ReadOptions memory_only;
  memory_only.read_tier = rdb::kBlockCacheTier;
  rdb::PinnableSlice bytes;
  const DbSlot::Pinned db = impl_->db.Pin();
  const rdb::Status read = db->Get(memory_only, db->DefaultColumnFamily(), ToSlice(key), &bytes);
  if (read.IsIncomplete()) return std::nullopt;
  return Impl::InspectLive(read, bytes, now, inspect);
}

Result<Version> RocksDbBackend::Create(std::string_view key, std::string_view value,
                                       const WriteOptions& options, Timestamp now) {
  if (Status valid = CheckKey(key); !valid.ok()) return valid;
  return impl_->Apply(Impl::Mutation{.kind = Impl::Mutation::Kind::kCreate,
                                     .key = key,
                                     .value = value,
                                     .options = options,
                                     .now = now});
}

Result<Version> RocksDbBackend::CompareAndSwap(std::string_view key, Version expected,
                                               std::string_view value, const WriteOptions& options,
                                               Timestamp now) {
  if (Status valid = CheckKey(key); !valid.ok()) return valid;
  return impl_->Apply(Impl::Mutation{.kind = Impl::Mutation::Kind::kSwap,
                                     .key = key,
                                     .expected = expected,
                                     .value = value,
                                     .options = options,
                                     .now = now});
}

Status RocksDbBackend::Erase(std::string_view key, Version expected, Timestamp now) {
  if (Status valid = CheckKey(key); !valid.ok()) return valid;
  return impl_
      ->Apply(Impl::Mutation{.kind = Impl::Mutation::Kind::kErase,
                             .key = key,
                             .expected = expected,
                             .value = {},
                             .options = {},  // Erase is always durable
                             .now = now})
      .status();
}

Result<ScanPage> RocksDbBackend::Scan(std::string_view prefix, std::string_view cursor,
                                      std::size_t limit, Timestamp now) {
  if (limit == 0) return Status::InvalidArgument("scan limit must be at least 1");
  impl_->gc->Observe(now);

  const std::string upper_bound = PrefixSuccessor(prefix);
  const rdb::Slice upper_bound_slice(upper_bound);
  rdb::ReadOptions read_options;  // one implicit snapshot for the whole page
  if (!upper_bound.empty()) read_options.iterate_upper_bound = &upper_bound_slice;
  const DbSlot::Pinned db = impl_->db.Pin();  // declared before the iterator: released after it
  std::unique_ptr<rdb::Iterator> it(db->NewIterator(read_options));

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
  // A compaction writes new table files: on a disk below the reserve it would meet ENOSPC.
  if (Status allowed = impl_->WritesAllowed(); !allowed.ok()) return allowed;
  rdb::CompactRangeOptions compact_options;
  // Rewrite the last level too: that is where long-lived expired records end up.
  compact_options.bottommost_level_compaction = rdb::BottommostLevelCompaction::kForce;
  const rdb::Status status = impl_->db.Pin()->CompactRange(compact_options, nullptr, nullptr);
  if (!status.ok()) return FromRocks(status, "compaction");
  return Status::Ok();
}

Result<std::string> RocksDbBackend::Checkpoint(std::string_view name) {
  if (!IsValidCheckpointName(name)) {
    return Status::InvalidArgument("a checkpoint name is 1-64 characters of [A-Za-z0-9._-]");
  }
  std::lock_guard lock(impl_->checkpoint_mutex);
  // The checkpoint flushes the write buffers into new table files: on a disk below the reserve
  // that flush would meet ENOSPC, which RocksDB 7.8 does not survive (see Full disk).
  if (Status allowed = impl_->WritesAllowed(); !allowed.ok()) return allowed;
  const std::string& backups = impl_->backup_dir;
  if (::mkdir(backups.c_str(), 0700) != 0 && errno != EEXIST) {
    return Status::Unavailable("rocksdb: cannot create the backups folder '" + backups +
                               "': " + std::strerror(errno));
  }
  const std::filesystem::path folder = std::filesystem::path(backups) / std::string(name);
  std::error_code error;
  // symlink_status: a dangling link counts as taken too; nothing is ever written through one.
  const std::filesystem::file_type found = std::filesystem::symlink_status(folder, error).type();
  if (found != std::filesystem::file_type::not_found) {
    if (error) {
      return Status::Unavailable("rocksdb: cannot look into the backups folder '" + backups +
                                 "': " + error.message());
    }
    return Status::Conflict("a checkpoint named '" + std::string(name) + "' exists in '" + backups +
                            "'");
  }
  const DbSlot::Pinned db = impl_->db.Pin();
  rdb::Checkpoint* raw = nullptr;
  rdb::Status status = rdb::Checkpoint::Create(&*db, &raw);
  if (!status.ok()) return FromRocks(status, "checkpoint");
  const std::unique_ptr<rdb::Checkpoint> checkpoint(raw);
  // 0: always flush first, so the checkpoint needs (almost) no log replay when it is opened.
  status = checkpoint->CreateCheckpoint(folder.string(), /*log_size_for_flush=*/0);
  if (!status.ok()) return FromRocks(status, "checkpoint in '" + folder.string() + "'");
  return folder.string();
}

const std::string& RocksDbBackend::backup_dir() const { return impl_->backup_dir; }

Status RocksDbBackend::CheckWrites() { return impl_->WritesAllowed(); }

std::uint64_t RocksDbBackend::ExpiredRecordsCollected() const {
  return impl_->gc->collected.load(std::memory_order_relaxed);
}

const std::string& RocksDbBackend::path() const { return impl_->path; }

}  // namespace credstore
