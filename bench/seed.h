// Bulk seeding of customers for benchmarks: records are written straight through the backend
// (unsynced, minimum-cost Argon2id hash shared by all), because verification never touches the
// hash and a million real-cost hashes would take a day.
#ifndef CREDSTORE_BENCH_SEED_H_
#define CREDSTORE_BENCH_SEED_H_

#include <string>
#include <vector>

#include "credstore/keyring.h"
#include "credstore/storage_backend.h"

namespace credstore::bench {

struct SeededCustomers {
  std::string service = "geofencing";
  std::vector<std::string> api_keys;
  std::vector<std::string> admin_keys;
  std::size_t size() const { return api_keys.size(); }
};

// Writes `count` registered customers, exactly as Register would store them.
SeededCustomers SeedCustomers(StorageBackend& backend, const Keyring& keyring, std::size_t count);

}  // namespace credstore::bench

#endif  // CREDSTORE_BENCH_SEED_H_
