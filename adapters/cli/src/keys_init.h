// keys_init.h — `credstore keys init PATH`: creates credstored's key file.
//
// The key file is the keyring's text form (credstore/keyring.h), written from a fresh
// Keyring::Generate() (libsodium's randombytes). It is created with mode 0600 and O_EXCL, so an
// existing file, whatever it holds, is never overwritten: replacing a key file makes every
// stored credential unreadable. This is how a packaged install gets its keys (the systemd unit
// never creates one: it only passes the file to credstored with LoadCredential=).
#ifndef CREDSTORE_CLI_SRC_KEYS_INIT_H_
#define CREDSTORE_CLI_SRC_KEYS_INIT_H_

#include <string>

namespace credstore::cli {

// Creates the key file at `path`. Returns "" on success, else what went wrong (naming the path,
// never key bytes).
std::string CreateKeyFile(const std::string& path);

}  // namespace credstore::cli

#endif  // CREDSTORE_CLI_SRC_KEYS_INIT_H_
