// key_file.h — where credstored's keyring comes from.
//
// The keyring (credstore/keyring.h) is either given in the environment (CREDSTORE_KEYRING holds
// the key file's text, for deployments whose secret store injects it) or kept in a key file.
// A missing key file is created once, with mode 0600, from Keyring::Generate(); an existing one
// is never overwritten. The key file must not sit inside the RocksDB data folder: whoever copies
// or backs up the data must not get the keys with it (docs/security-model.md).
//
// Thread safety: call from one thread at startup.
#ifndef CREDSTORE_HTTP_SRC_KEY_FILE_H_
#define CREDSTORE_HTTP_SRC_KEY_FILE_H_

#include <optional>
#include <string>

#include "credstore/keyring.h"
#include "credstore/secret_string.h"
#include "credstore/status.h"

namespace credstore::http {

struct LoadedKeyring {
  Keyring keyring;
  std::string origin;    // "environment" or the key file's path, for the startup log
  bool created = false;  // the key file was created just now
  std::string warning;   // e.g. the key file is readable by others; "" when all is well
};

// The keyring from `environment_text` when set, else from the file at `path` (created when
// absent). `rocksdb_folder` (may be empty) is the data folder the file must stay out of.
// kInvalidArgument: the file is inside the data folder, unreadable, or malformed (the message
// names the line, never key bytes). kInternal: the file could not be created.
Result<LoadedKeyring> LoadOrCreateKeyring(const std::string& path,
                                          const std::optional<SecretString>& environment_text,
                                          const std::string& rocksdb_folder);

// True iff `path` is `folder` or lies under it (both resolved against the working directory,
// symlinks of existing parts followed).
bool IsInsideFolder(const std::string& path, const std::string& folder);

// Reads a whole file holding a secret (an operator token): the content without a trailing
// newline. kInvalidArgument when it cannot be read or is empty. `warning` is set when the file
// is readable by group or others.
Result<SecretString> ReadSecretFile(const std::string& path, std::string* warning);

}  // namespace credstore::http

#endif  // CREDSTORE_HTTP_SRC_KEY_FILE_H_
