// MigrateStore: the steps of credstore/migration.h, on the StorageBackend contract alone.
#include "credstore/migration.h"

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "crypto.h"
#include "records.h"

namespace credstore {
namespace {

using internal::kKeycheckKey;
using internal::kMigrationMarkerKey;

constexpr std::string_view kMarkerText = "credstore migration v1; source keycheck sha256 ";

// The marker names the source by a digest of its keycheck record: the record holds a value
// sealed with a random nonce when the store was created, so no two stores share it, and it does
// not change while the source is offline.
std::string MarkerFor(const VersionedValue& source_keycheck) {
  return std::string(kMarkerText) + internal::ToHex(internal::Sha256(source_keycheck.value));
}

// Calls `visit` with every live record of `backend` at `now`, in the backend's own order (at
// least once each; see StorageBackend::Export).
template <class Visit>
Status ForEachRecord(StorageBackend& backend, Timestamp now, Visit visit) {
  return backend.Export("", now, [&visit](const ScanEntry& entry) { return visit(entry); });
}

// True iff `backend` holds no live record at `now`.
Result<bool> IsEmpty(StorageBackend& backend, Timestamp now) {
  std::string cursor;
  do {
    auto page = backend.Scan("", cursor, 1, now);
    if (!page.ok()) return page.status();
    if (!page->entries.empty()) return false;
    cursor = std::move(page->next_cursor);
  } while (!cursor.empty());
  return true;
}

// Live records of `backend`, the marker not counted.
Result<std::uint64_t> CountRecords(StorageBackend& backend, Timestamp now) {
  std::uint64_t count = 0;
  Status counted = ForEachRecord(backend, now, [&](const ScanEntry& entry) {
    if (entry.key != kMigrationMarkerKey) ++count;
    return Status::Ok();
  });
  if (!counted.ok()) return counted;
  return count;
}

// Makes the target's record under `entry.key` the source's: created when absent, kept when
// identical, replaced otherwise. True iff it wrote. A resumed run finds the records of the run
// before; it trusts none it did not compare.
Result<bool> CopyRecord(StorageBackend& target, const ScanEntry& entry, Timestamp now,
                        bool durable) {
  WriteOptions options;
  options.expires_at = entry.record.expires_at;
  options.durable = durable;
  // A few tries: only a writer we were promised is not there could make one fail.
  for (int attempt = 0; attempt < 3; ++attempt) {
    auto created = target.Create(entry.key, entry.record.value, options, now);
    if (created.ok()) return true;
    if (created.status().code() != StatusCode::kConflict) return created.status();
    auto existing = target.Get(entry.key, now);
    if (existing.status().code() == StatusCode::kNotFound) continue;
    if (!existing.ok()) return existing.status();
    if (existing->value == entry.record.value && existing->expires_at == entry.record.expires_at) {
      return false;
    }
    auto swapped =
        target.CompareAndSwap(entry.key, existing->version, entry.record.value, options, now);
    if (swapped.ok()) return true;
    if (swapped.status().code() != StatusCode::kConflict &&
        swapped.status().code() != StatusCode::kNotFound) {
      return swapped.status();
    }
  }
  return Status::Unavailable(
      "a target record kept changing while it was copied: is a server running on the target?");
}

// Step 1: the target is empty (then it gets the marker) or holds this source's marker already.
// Returns whether the run resumes.
Result<bool> ClaimTarget(StorageBackend& target, const std::string& marker, Timestamp now) {
  auto existing = target.Get(kMigrationMarkerKey, now);
  if (existing.ok()) {
    if (existing->value == marker) return true;
    return Status::InvalidArgument(
        "the target holds an unfinished migration from another source: finish that one (run it "
        "with its own source), or empty the target");
  }
  if (existing.status().code() != StatusCode::kNotFound) return existing.status();
  auto empty = IsEmpty(target, now);
  if (!empty.ok()) return empty.status();
  if (!*empty) {
    return Status::InvalidArgument(
        "the target is not empty and holds no migration marker: migrate into an empty store "
        "only (a new RocksDB folder, or a Redis database without credstore keys)");
  }
  auto created = target.Create(kMigrationMarkerKey, marker, WriteOptions{}, now);
  if (created.status().code() == StatusCode::kConflict) {
    return Status::InvalidArgument("another migration claimed the target at the same moment");
  }
  if (!created.ok()) return created.status();
  return false;
}

// Step 3 of a resumed run: what the target holds that the source does not (the marker and the
// keycheck aside) is erased, so that the copy ends equal to the source.
Result<std::uint64_t> RemoveStale(StorageBackend& source, StorageBackend& target, Timestamp now) {
  std::vector<std::pair<std::string, Version>> stale;
  Status walked = ForEachRecord(target, now, [&](const ScanEntry& entry) {
    if (entry.key == kMigrationMarkerKey || entry.key == kKeycheckKey) return Status::Ok();
    auto there = source.Get(entry.key, now);
    if (there.status().code() == StatusCode::kNotFound) {
      stale.emplace_back(entry.key, entry.record.version);
      return Status::Ok();
    }
    return there.status();
  });
  if (!walked.ok()) return walked;
  std::uint64_t removed = 0;
  for (const auto& [key, version] : stale) {
    Status erased = target.Erase(key, version, now);
    if (!erased.ok() && erased.code() != StatusCode::kNotFound) return erased;
    ++removed;
  }
  return removed;
}

}  // namespace

Result<MigrationReport> MigrateStore(StorageBackend& source, StorageBackend& target, Timestamp now,
                                     const MigrationOptions& options) {
  if (&source == &target) {
    return Status::InvalidArgument("the source and the target are the same store");
  }

  // The source must be a whole store: one a server opened, and not itself a half-made copy.
  auto source_marker = source.Get(kMigrationMarkerKey, now);
  if (source_marker.ok()) {
    return Status::InvalidArgument(
        "the source is the target of an unfinished migration: finish that one first");
  }
  if (source_marker.status().code() != StatusCode::kNotFound) return source_marker.status();
  auto keycheck = source.Get(kKeycheckKey, now);
  if (keycheck.status().code() == StatusCode::kNotFound) {
    return Status::InvalidArgument(
        "the source has no keycheck record: it is not a store a server has opened, or it lost "
        "its data");
  }
  if (!keycheck.ok()) return keycheck.status();

  MigrationReport report;
  auto resumed = ClaimTarget(target, MarkerFor(*keycheck), now);
  if (!resumed.ok()) return resumed.status();
  report.resumed = *resumed;

  // Unsynced one by one: the keycheck's durable write below syncs everything before it (RocksDB
  // syncs its log up to that write; Redis's durability is its own setting either way).
  Status copied = ForEachRecord(source, now, [&](const ScanEntry& entry) {
    if (entry.key == kKeycheckKey) return Status::Ok();
    auto written = CopyRecord(target, entry, now, /*durable=*/false);
    if (!written.ok()) return written.status();
    ++(*written ? report.copied : report.already_there);
    if (options.after_record) options.after_record(report.copied + report.already_there);
    return Status::Ok();
  });
  if (!copied.ok()) return copied;

  if (report.resumed) {
    auto removed = RemoveStale(source, target, now);
    if (!removed.ok()) return removed.status();
    report.removed = *removed;
  }

  // Last: until it is there, a server started on the target refuses it (no keycheck, records).
  auto keycheck_written =
      CopyRecord(target, ScanEntry{std::string(kKeycheckKey), *keycheck}, now, /*durable=*/true);
  if (!keycheck_written.ok()) return keycheck_written.status();
  ++(*keycheck_written ? report.copied : report.already_there);

  auto source_count = CountRecords(source, now);
  if (!source_count.ok()) return source_count.status();
  auto target_count = CountRecords(target, now);
  if (!target_count.ok()) return target_count.status();
  report.source_records = *source_count;
  report.target_records = *target_count;
  if (report.source_records != report.target_records) {
    return Status::Internal("the target holds " + std::to_string(report.target_records) +
                            " records and the source " + std::to_string(report.source_records) +
                            ": did something write to either store meanwhile? The target keeps "
                            "its marker (it is not served); run the migration again");
  }

  auto marker = target.Get(kMigrationMarkerKey, now);
  if (!marker.ok()) return marker.status();
  if (Status erased = target.Erase(kMigrationMarkerKey, marker->version, now); !erased.ok()) {
    return erased;
  }
  return report;
}

}  // namespace credstore
