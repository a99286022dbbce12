// migrate.h — `credstore migrate --from URI --to URI`: MigrateStore (credstore/migration.h) on
// two stores opened from their URIs (credstore/backends/open_backend.h), in this process.
//
// The stores are opened directly, never through credstored: a RocksDB folder is held by one
// process, so every server on either store must be stopped, and a folder still in use is
// refused as locked (the message says to stop credstored). The source must exist (a RocksDB
// source is never created); the target may be a new RocksDB folder. No key file is needed:
// records are copied as opaque bytes.
//
// Prints {"resumed","sourceRecords","targetRecords","copied","alreadyThere","removed"} on
// success. CREDSTORE_TEST_MIGRATE_KILL_AFTER=N (tests only) makes the process SIGKILL itself
// once N records are on the target, as a crash half-way would.
#ifndef CREDSTORE_CLI_SRC_MIGRATE_H_
#define CREDSTORE_CLI_SRC_MIGRATE_H_

#include <string>

namespace credstore::cli {

// Runs the migration and reports on stdout (success) or stderr (failure, never echoing a URI,
// which may hold a password). Returns the exit status: 0, or 1 when it did not finish.
int MigrateStores(const std::string& from_uri, const std::string& to_uri);

}  // namespace credstore::cli

#endif  // CREDSTORE_CLI_SRC_MIGRATE_H_
