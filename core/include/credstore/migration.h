// credstore/migration.h — copying a whole store from one StorageBackend to another, offline.
//
// MigrateStore copies every live record of `source` to `target` as it is: the same key, the same
// value bytes, the same expiry (customers, integrators, API keys, and the short-lived replay
// records and throttle counters alike). It never decodes a value, so it needs no keys: sealed
// secrets stay sealed, hashes stay hashes. Versions are the target's own (a version means
// nothing outside its store, and no record holds one).
//
// Offline: nothing else may write to either store meanwhile — stop every credstored (and host)
// on both first. RocksDB enforces it for its side (one process holds a folder); Redis cannot.
//
// Order, so that a copy cut short (kill -9, a lost connection) never serves and can be finished:
//   1. the target gets an in-progress marker (durably) naming the source, before any record;
//   2. every record but the keycheck is copied (unsynced: step 4's synced write covers them);
//   3. on a resumed run, target records the source no longer holds are erased;
//   4. the keycheck record is copied last, durably;
//   5. the live records of both are counted; only when the counts are equal is the marker erased.
// CredentialStore::Open refuses a store holding the marker, and a store holding records but no
// keycheck, so a half-copied target is refused at start, never served as an empty store. Running
// MigrateStore again with the same source resumes: records already there and identical are kept,
// others written. A target is accepted only when it is empty or holds the marker of this source
// (the source is recognised by its keycheck record, which is unique to it).
//
// Cost: both stores are walked with StorageBackend::Export (unordered, O(records) for the whole
// walk on every backend, where paging the ordered Scan through a Redis store would be quadratic).
//
// Time: every read and write of one run uses the `now` it was given, so both stores are seen at
// one instant: a record that expires while the copy runs is counted alike on both sides.
//
// Thread safety: one MigrateStore at a time per target; it calls the backends from the calling
// thread only.
#ifndef CREDSTORE_MIGRATION_H_
#define CREDSTORE_MIGRATION_H_

#include <cstddef>
#include <cstdint>
#include <functional>

#include "credstore/clock.h"
#include "credstore/status.h"
#include "credstore/storage_backend.h"

namespace credstore {

struct MigrationOptions {
  // Called after each record of step 2 is on the target, with how many are so far (this run),
  // on the calling thread. For progress reports and for tests that cut a copy short. Default:
  // not set.
  std::function<void(std::uint64_t records_so_far)> after_record;
};

struct MigrationReport {
  bool resumed = false;              // the target held this source's marker at the start
  std::uint64_t source_records = 0;  // live records of the source at the end, keycheck included
  std::uint64_t target_records = 0;  // the same count on the target (the marker not included)
  std::uint64_t copied = 0;          // records this run wrote to the target
  std::uint64_t already_there = 0;   // records found identical on the target (resumed runs)
  std::uint64_t removed = 0;         // target records the source no longer held (resumed runs)
};

// Copies `source` into `target` (see the top of this file). On success the target is a complete
// copy without the marker, and the counts are equal. Fails with:
// - kInvalidArgument: `source` and `target` are one object; the source has no keycheck record
//   (not a store any server opened, or one that lost its data) or holds a migration marker
//   itself; the target is not empty and holds no marker, or holds another source's marker —
//   nothing is written then;
// - kInternal: the counts differ at the end (something else wrote to a store meanwhile); the
//   marker stays, so the target is still refused, and a new run resumes;
// - whatever the backends answer (kUnavailable: unreachable, a full disk); the marker stays.
Result<MigrationReport> MigrateStore(StorageBackend& source, StorageBackend& target, Timestamp now,
                                     const MigrationOptions& options = {});

}  // namespace credstore

#endif  // CREDSTORE_MIGRATION_H_
