// credstore/storage_backend.h — the contract every storage backend implements.
//
// A backend is a small, dumb, versioned key-value store. All credential rules live in the core;
// a backend only keeps bytes, versions and expiry. The conformance suite in tests/conformance/
// is the executable form of this contract: a backend that passes it is a credstore backend.
//
// Keys are printable ASCII without spaces (the core builds them); values are arbitrary bytes.
//
// Versions: every successful Create or CompareAndSwap gives the record a new version, strictly
// greater than any version that key ever had — also after Erase, so erase-and-recreate can never
// bring back a version a caller still holds (no ABA). Versions start above zero.
//
// Time: the caller passes `now` (from the core's Clock) to every call. A record whose
// `expires_at` is <= now reads as absent everywhere: Get, Scan, CompareAndSwap and Erase treat
// it as missing, and Create replaces it atomically. Native TTLs or compaction filters may
// collect expired records later; they never decide visibility. A caller's `now` does not go
// backwards for one store (beyond the skew between servers' clocks): once a record has expired
// for some caller, a backend may collect it.
//
// A Scan page may hold fewer than `limit` records, even none, while next_cursor is set; only an
// empty next_cursor says the scan is complete.
//
// Durability: a call with `durable = true` returns only once the write would survive a crash of
// the process and of the machine (per the backend's documented settings). `durable = false`
// (replay nonces, throttle counters) may skip the sync.
//
// Replication: a backend may keep copies of the store on replicas and, when configured to, wait
// for them to acknowledge each write before the call returns (Redis with `wait_replicas`). It
// waits for every write with `replicated = true`, durable or not. A write that applied but was
// acknowledged by fewer replicas than asked in time is not lost yet, only at risk: a failover
// inside that window may bring back the record as it was. Such a write succeeds, with its new
// version, only for a caller that asked to hear it (`WriteOptions::replication` set, which then
// reads kPending); for every other caller it fails with kUnavailable, and the record IS changed
// (the message says so). Either way retrying it blindly is wrong: the write happened. A backend
// that keeps no replicas, or waits for none, never touches `*replication` (it stays kNotAsked).
// A write the store refuses before applying it (Redis `NOREPLICAS`) is kUnavailable with
// nothing changed. Erase always waits as a durable write does and takes no such option: a
// short erase is kUnavailable, with the record erased.
//
// Not blocking: TryGet is Get for callers on an event loop (credstored's I/O threads). It answers
// only what it can answer without I/O and without waiting for a lock (try_lock, never lock), and
// says "would block" (nullopt) otherwise; the caller then calls Get on a thread that may block.
// "Would block" is not a Status: it is never an error and never reaches a client.
//
// Reading in place: Inspect and TryInspect are Get and TryGet for a caller that only looks at the
// record: the backend hands it the record where it keeps it instead of a copy.
//
// Health: CheckHealth says whether the backend can keep this contract right now beyond what each
// call reports by itself (for Redis: that the server is not configured to evict records). A
// host's readiness probe asks it (CredentialStore::CheckReady), so a store that would lose
// acknowledged writes is taken out of service instead of answering as if all were well.
// CheckWrites says, in the same way, whether it accepts writes now: a backend may refuse every
// write (kUnavailable) and still serve reads — RocksDB on a disk below its free-space reserve —
// and then a host keeps it in service for reads and reports the writes as unavailable. The two
// are ordered: CheckWrites is never OK while CheckHealth is not.
//
// Checkpoints (backups): Checkpoint makes an online, consistent copy of the whole store while it
// serves, under a name, in a backups folder of the backend's own (never one the caller names:
// the name is not a path). Only a backend that keeps its data in files of this process has such
// a copy to make (RocksDB); a store kept by a server is backed up by that server (Redis: its
// RDB/AOF persistence), and an in-memory one has nothing to keep. The default answers that.
//
// Thread safety: every method may be called from many threads at once; each call is atomic.
#ifndef CREDSTORE_STORAGE_BACKEND_H_
#define CREDSTORE_STORAGE_BACKEND_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "credstore/clock.h"
#include "credstore/function_ref.h"
#include "credstore/status.h"

namespace credstore {

using Version = std::uint64_t;

struct VersionedValue {
  std::string value;
  Version version = 0;
  std::optional<Timestamp> expires_at;  // as written; nullopt = never expires
};

// A live record where the backend keeps it (see StorageBackend::Inspect): valid only during the
// call it is handed to.
struct RecordView {
  std::string_view value;
  Version version = 0;
  std::optional<Timestamp> expires_at;  // as written; nullopt = never expires
};

// How far one write was replicated when the call returned (see Replication above).
enum class Replication {
  kNotAsked,      // the backend waits for no replicas: as the caller initialised it
  kAcknowledged,  // every replica asked for acknowledged the write
  kPending,       // applied, but fewer replicas acknowledged it in time than asked for
};

struct WriteOptions {
  std::optional<Timestamp> expires_at;  // default: never expires
  bool durable = true;                  // default: synced before the call returns
  // Whether the call waits for replicas where the backend is configured to (see Replication).
  // Default true. False only for records whose loss in a failover costs nothing worth a round
  // trip to the replicas (throttle counters).
  bool replicated = true;
  // Where a caller that can use a write applied with its replication still pending (a call
  // that minted a credential it must hand out) hears how the write was replicated; the backend
  // sets it only when it waited for replicas. Not owned; must outlive the call. Default
  // nullptr: such a write fails with kUnavailable instead.
  Replication* replication = nullptr;
};

struct ScanEntry {
  std::string key;
  VersionedValue record;
};

// True iff `name` may name a checkpoint: 1 to 64 characters of [A-Za-z0-9._-], not starting with
// '.', without "..", and not ending in ".tmp" (RocksDB stages a checkpoint in NAME.tmp). So a
// name is always one plain entry of the backups folder, never a path, a hidden file or another
// checkpoint's staging folder.
inline bool IsValidCheckpointName(std::string_view name) {
  constexpr std::string_view kStaging = ".tmp";
  if (name.empty() || name.size() > 64 || name.front() == '.') return false;
  if (name.find("..") != std::string_view::npos) return false;
  if (name.size() >= kStaging.size() && name.substr(name.size() - kStaging.size()) == kStaging) {
    return false;
  }
  for (char c : name) {
    const bool allowed = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                         (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
    if (!allowed) return false;
  }
  return true;
}

// One number a backend publishes about its own work, for a host's metrics (credstored's
// /metrics renders it as `credstore_storage_<name>`).
struct BackendCounter {
  std::string name;  // [a-z0-9_]+; a name ending in `_total` counts up, any other is a level
  std::string help;  // one line, for operators
  std::uint64_t value = 0;
};

struct ScanPage {
  std::vector<ScanEntry> entries;  // live records, keys in ascending byte order
  std::string next_cursor;         // pass to the next Scan; empty when the scan is complete
};

class StorageBackend {
 public:
  // What Inspect and TryInspect hand the live record to. A reference to the caller's callable
  // (see function_ref.h): the call never keeps it, and handing one over never allocates.
  using Inspector = FunctionRef<void(const RecordView& record)>;

  // Records per Scan page in the default Export.
  static constexpr std::size_t kExportPage = 512;

  // Inspect's answer from a record already read (Get's or TryGet's answer): `inspect` on it, or
  // its error. For the defaults, and for a backend that has a copy in hand on some path.
  static Status InspectCopy(const Result<VersionedValue>& got, const Inspector& inspect) {
    if (!got.ok()) return got.status();
    inspect(RecordView{got->value, got->version, got->expires_at});
    return Status::Ok();
  }

  virtual ~StorageBackend() = default;

  // A short name for logs: "memory", "rocksdb", "redis".
  virtual std::string_view Name() const = 0;

  // The live record under `key`. kNotFound if absent or expired; kUnavailable if the store
  // cannot be reached.
  virtual Result<VersionedValue> Get(std::string_view key, Timestamp now) = 0;

  // Get without blocking. nullopt ("would block") when the answer needs I/O or a lock that is
  // held; otherwise exactly what Get would return at that moment (the record, kNotFound, or an
  // error such as kInternal). A backend may answer nullopt for any reason at any time, so
  // callers always keep the Get fallback. Default: always nullopt, correct for every backend.
  virtual std::optional<Result<VersionedValue>> TryGet(std::string_view key, Timestamp now) {
    (void)key;
    (void)now;
    return std::nullopt;
  }

  // Get without the copy, for callers that only look at a record (verification reads records
  // millions of times, and copying one out is a real share of a read from memory): calls
  // `inspect` once with the live record, where the backend keeps it, and returns OK; or returns
  // what Get would (kNotFound, kUnavailable, ...) without calling it. `inspect` runs while the
  // backend holds the record in place (a shard lock, a pinned block), so it must be short, must
  // not keep the view, and must not call this backend. Default: Get, then `inspect` on the copy.
  virtual Status Inspect(std::string_view key, Timestamp now, const Inspector& inspect) {
    return InspectCopy(Get(key, now), inspect);
  }

  // TryGet without the copy, as Inspect is to Get: nullopt ("would block", `inspect` not called)
  // exactly when TryGet would answer nullopt. Default: TryGet, then `inspect` on the copy.
  virtual std::optional<Status> TryInspect(std::string_view key, Timestamp now,
                                           const Inspector& inspect) {
    std::optional<Result<VersionedValue>> got = TryGet(key, now);
    if (!got) return std::nullopt;
    return InspectCopy(*got, inspect);
  }

  // The backend's own counters (a cache's hits, ...): the same names in the same order on every
  // call, so a host may list them once. Never blocks; cheap enough for every metrics scrape.
  // Default: none.
  virtual std::vector<BackendCounter> Counters() const { return {}; }

  // True iff every call of this backend completes in memory: no I/O, no network, and only
  // critical sections of a few microseconds. Then an event loop may call it directly, writes
  // included. Default: false.
  virtual bool AnswersFromMemory() const { return false; }

  // OK iff nothing the backend knows of keeps it from keeping this contract now; kUnavailable,
  // with a message for operators (it may name the backend and its settings, so it is not for an
  // anonymous client), otherwise. It does not probe the store on every call: a backend that has
  // something to watch checks it on its own schedule (documented with the backend) and answers
  // here from its last check, so CheckHealth never blocks and may be called as often as a
  // readiness probe likes. Reachability is not its business: every other call reports that.
  // Default: OK, correct for a backend with nothing to watch.
  virtual Status CheckHealth() { return Status::Ok(); }

  // OK iff, as far as the backend knows without probing, Create, CompareAndSwap and Erase may
  // succeed now; kUnavailable (message for operators, retry_after set) while it refuses every
  // write, durable or not, before trying it. Reads are not its business: while CheckHealth is
  // OK and CheckWrites is not, Get, TryGet and Scan keep answering, and every write fails with
  // kUnavailable. Never OK while CheckHealth is not (a backend unfit to serve accepts no write
  // either). Never blocks, like CheckHealth. Default: CheckHealth(), correct for a backend that
  // never refuses writes while healthy.
  virtual Status CheckWrites() { return CheckHealth(); }

  // Stores `value` under `key` only if no live record exists there; returns the new version.
  // kConflict if a live record exists (nothing is changed).
  virtual Result<Version> Create(std::string_view key, std::string_view value,
                                 const WriteOptions& options, Timestamp now) = 0;

  // Replaces the live record under `key` if its version is `expected`; returns the new version.
  // kConflict if the version differs; kNotFound if there is no live record.
  virtual Result<Version> CompareAndSwap(std::string_view key, Version expected,
                                         std::string_view value, const WriteOptions& options,
                                         Timestamp now) = 0;

  // Removes the live record under `key` if its version is `expected`. kConflict if the version
  // differs; kNotFound if there is no live record. Erasing is durable.
  virtual Status Erase(std::string_view key, Version expected, Timestamp now) = 0;

  // Up to `limit` (>= 1) live records whose keys start with `prefix`, in ascending key order,
  // starting after `cursor` (empty: from the start). Records written during a scan may or may
  // not appear; every record live for the whole scan appears exactly once.
  virtual Result<ScanPage> Scan(std::string_view prefix, std::string_view cursor, std::size_t limit,
                                Timestamp now) = 0;

  // What Export calls with each record; a non-OK Status stops the walk, and Export returns it.
  using ExportVisitor = std::function<Status(const ScanEntry& entry)>;

  // Calls `visit` with the live records whose keys start with `prefix`, in no particular order,
  // for bulk copies (a migration): every record live for the whole walk is visited at least once;
  // records written meanwhile may or may not be; a record may be visited twice only if the store
  // reorganised itself during the walk (a Redis SCAN across a rehash or a cluster slot moving),
  // so a caller copies idempotently. `visit` runs on the calling thread, with no lock of the
  // backend held, and may call this backend. OK once every record was visited; the visitor's
  // Status if it stopped the walk; kUnavailable (or another error, as Get would answer) when
  // the store fails midway — records visited so far stay visited.
  // Default: the pages of Scan in key order (exactly once each), correct for every backend and
  // cheap where Scan seeks to its cursor (memory, RocksDB: O(records) in all); a backend whose
  // Scan costs O(records) per page (Redis) walks its own order instead.
  virtual Status Export(std::string_view prefix, Timestamp now, const ExportVisitor& visit) {
    std::string cursor;
    do {
      Result<ScanPage> page = Scan(prefix, cursor, kExportPage, now);
      if (!page.ok()) return page.status();
      for (const ScanEntry& entry : page->entries) {
        if (Status visited = visit(entry); !visited.ok()) return visited;
      }
      cursor = std::move(page->next_cursor);
    } while (!cursor.empty());
    return Status::Ok();
  }

  // Makes a checkpoint named `name` (see Checkpoints above) while the store keeps serving: every
  // write acknowledged before the call is in it. Returns where it is (for RocksDB, its folder),
  // for the operator who restores it. Blocks for as long as the copy takes (hard links where it
  // can: seconds, not a copy of the data). Fails with kInvalidArgument when
  // !IsValidCheckpointName(name); kConflict when a checkpoint of that name exists, or the
  // backend takes none (the message says which, and what to use instead); kUnavailable when it
  // cannot be made now (I/O, a full disk). Default: kConflict, "the <Name()> backend takes no
  // checkpoints", correct for a backend without files of its own.
  virtual Result<std::string> Checkpoint(std::string_view name) {
    if (!IsValidCheckpointName(name)) {
      return Status::InvalidArgument("a checkpoint name is 1-64 characters of [A-Za-z0-9._-]");
    }
    return Status::Conflict("the " + std::string(Name()) + " backend takes no checkpoints");
  }
};

}  // namespace credstore

#endif  // CREDSTORE_STORAGE_BACKEND_H_
