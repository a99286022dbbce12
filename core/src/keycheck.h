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

}  // namespace credstore::internal

#endif  // CREDSTORE_CORE_SRC_KEYCHECK_H_
