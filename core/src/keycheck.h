// Internal: refuse to run on data written under other keys.
#ifndef CREDSTORE_CORE_SRC_KEYCHECK_H_
#define CREDSTORE_CORE_SRC_KEYCHECK_H_

#include "credstore/keyring.h"
#include "credstore/status.h"
#include "credstore/storage_backend.h"

namespace credstore::internal {

// On a store without a keycheck record, writes one for `keyring` (create-if-absent, so two
// servers starting at once on an empty store agree on one). On a store with one, OK iff the
// pepper is the same and a master key of `keyring` opens the sealed check; kUnauthorized with an
// operator-facing message otherwise. kInvalidArgument, touching nothing, for a store that holds
// records but no keycheck record (it lost it, or is an unfinished copy) and for the target of an
// unfinished migration (its marker is there, migration.h): neither is a new store.
Status VerifyOrWriteKeycheck(StorageBackend& backend, const Keyring& keyring, Timestamp now);

// The same check of a running store, which never writes: OK iff the keycheck record is there and
// matches `keyring` as above. kUnavailable when the record is gone: the store lost its data
// (flushed, or another database), and serving it as if it were empty would answer "unknown" for
// every customer. The backend's error when it cannot be read.
Status CheckKeycheck(StorageBackend& backend, const Keyring& keyring, Timestamp now);

// What ResealKeycheck did.
enum class KeycheckReseal { kResealed, kAlready };

// Re-seals the keycheck record under the newest master key of `keyring`, by compare-and-swap
// against the record read (retried up to `max_attempts` times on conflict). The stored record
// must first pass CheckKeycheck against `keyring` (its answer otherwise: kUnavailable when it is
// gone, kUnauthorized when other keys wrote it), so only a store these keys already open is
// moved to the newest key. The caller makes sure nothing else still needs an older key.
Result<KeycheckReseal> ResealKeycheck(StorageBackend& backend, const Keyring& keyring,
                                      Timestamp now, int max_attempts);

}  // namespace credstore::internal

#endif  // CREDSTORE_CORE_SRC_KEYCHECK_H_
