#include "keycheck.h"

#include <string>
#include <utility>

#include "crypto.h"
#include "records.h"

namespace credstore::internal {
namespace {

constexpr std::string_view kCheckText = "credstore keycheck v1";

std::string MasterCheckContext(std::uint32_t master_key_id) {
  return "credstore keycheck master " + std::to_string(master_key_id);
}

KeycheckRecord MakeKeycheck(const Keyring& keyring) {
  KeycheckRecord record;
  record.pepper_id = keyring.pepper().id;
  record.pepper_check = KeyedDigest(keyring.pepper().bytes, DigestKind::kKeycheck, kCheckText);
  record.master_key_id = keyring.current_master().id;
  record.sealed_check =
      Seal(keyring.current_master().bytes, kCheckText, MasterCheckContext(record.master_key_id));
  return record;
}

Status CheckAgainst(const KeycheckRecord& stored, const Keyring& keyring) {
  const Digest pepper_check =
      KeyedDigest(keyring.pepper().bytes, DigestKind::kKeycheck, kCheckText);
  if (stored.pepper_id != keyring.pepper().id || !DigestsEqual(stored.pepper_check, pepper_check)) {
    return Status::Unauthorized("the store was written under another pepper (stored pepper id " +
                                std::to_string(stored.pepper_id) +
                                "): refusing to run with this key file");
  }
  const KeyWithId* master = keyring.FindMaster(stored.master_key_id);
  if (master == nullptr) {
    return Status::Unauthorized("the store was written under master key id " +
                                std::to_string(stored.master_key_id) +
                                ", which this key file does not have");
  }
  if (!Open(master->bytes, stored.sealed_check, MasterCheckContext(stored.master_key_id))) {
    return Status::Unauthorized("master key id " + std::to_string(stored.master_key_id) +
                                " in this key file is not the one the store was written under");
  }
  return Status::Ok();
}

Status KeycheckGone() {
  return Status::Unavailable(
      "the store's keycheck record is gone: its data was lost (flushed, or another database)");
}

// The one comparison of a stored keycheck record with a keyring, for Open and for readiness.
Status CheckStored(const VersionedValue& stored, const Keyring& keyring) {
  auto record = DecodeKeycheck(stored.value);
  if (!record.ok()) return record.status();
  return CheckAgainst(*record, keyring);
}

// True iff the store holds no live record but (perhaps) a keycheck record: one that a server
// starting at the same moment may just have written.
Result<bool> HoldsNoRecords(StorageBackend& backend, Timestamp now) {
  std::string cursor;
  do {
    auto page = backend.Scan("", cursor, 2, now);
    if (!page.ok()) return page.status();
    for (const ScanEntry& entry : page->entries) {
      if (entry.key != kKeycheckKey) return false;
    }
    cursor = std::move(page->next_cursor);
  } while (!cursor.empty());
  return true;
}

// A half-copied store must never be served: its customers would read as unknown.
Status RefuseUnfinishedMigration(StorageBackend& backend, Timestamp now) {
  auto marker = backend.Get(kMigrationMarkerKey, now);
  if (marker.status().code() == StatusCode::kNotFound) return Status::Ok();
  if (!marker.ok()) return marker.status();
  return Status::InvalidArgument(
      "the store is the target of an unfinished `credstore migrate` (its in-progress marker is "
      "there): run the same migrate again to finish it; a half-copied store is never served");
}

}  // namespace

Status VerifyOrWriteKeycheck(StorageBackend& backend, const Keyring& keyring, Timestamp now) {
  if (Status unfinished = RefuseUnfinishedMigration(backend, now); !unfinished.ok()) {
    return unfinished;
  }
  for (int attempt = 0; attempt < 2; ++attempt) {
    auto stored = backend.Get(kKeycheckKey, now);
    if (stored.ok()) return CheckStored(*stored, keyring);
    if (stored.status().code() != StatusCode::kNotFound) return stored.status();
    // Only an empty store is new. Records without a keycheck are a store that lost it, or a
    // copy that never got that far: writing one would declare whatever keys we hold the
    // store's.
    auto empty = HoldsNoRecords(backend, now);
    if (!empty.ok()) return empty.status();
    if (!*empty) {
      // A server starting at the same moment may have written its keycheck, and records, since.
      auto again = backend.Get(kKeycheckKey, now);
      if (again.ok()) return CheckStored(*again, keyring);
      if (again.status().code() != StatusCode::kNotFound) return again.status();
      return Status::InvalidArgument(
          "the store holds records but no keycheck record: it lost it, or it is an unfinished "
          "copy; it is not opened as a new store (restore it, or finish the copy)");
    }
    auto created = backend.Create(kKeycheckKey, Encode(MakeKeycheck(keyring)), WriteOptions{}, now);
    if (created.ok()) return Status::Ok();
    // Another server wrote it first: check against theirs.
    if (created.status().code() != StatusCode::kConflict) return created.status();
  }
  return Status::Unavailable("the keycheck record changed while it was read");
}

Status CheckKeycheck(StorageBackend& backend, const Keyring& keyring, Timestamp now) {
  auto stored = backend.Get(kKeycheckKey, now);
  if (stored.ok()) return CheckStored(*stored, keyring);
  if (stored.status().code() == StatusCode::kNotFound) return KeycheckGone();
  return stored.status();
}

Result<KeycheckReseal> ResealKeycheck(StorageBackend& backend, const Keyring& keyring,
                                      Timestamp now, int max_attempts) {
  for (int attempt = 0; attempt < max_attempts; ++attempt) {
    auto stored = backend.Get(kKeycheckKey, now);
    if (!stored.ok()) {
      if (stored.status().code() != StatusCode::kNotFound) return stored.status();
      return KeycheckGone();
    }
    auto record = DecodeKeycheck(stored->value);
    if (!record.ok()) return record.status();
    if (Status matches = CheckAgainst(*record, keyring); !matches.ok()) return matches;
    if (record->master_key_id == keyring.current_master().id) return KeycheckReseal::kAlready;
    auto swapped = backend.CompareAndSwap(kKeycheckKey, stored->version,
                                          Encode(MakeKeycheck(keyring)), WriteOptions{}, now);
    if (swapped.ok()) return KeycheckReseal::kResealed;
    // Another re-seal (another server) won: read its record and check it again.
    if (swapped.status().code() != StatusCode::kConflict) return swapped.status();
  }
  return Status::Unavailable("the keycheck record kept changing while it was re-sealed");
}

}  // namespace credstore::internal
