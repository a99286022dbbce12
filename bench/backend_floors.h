// Per-backend plumbing for the benchmarks: opening a fresh store of each kind (a temp folder for
// RocksDB, a private redis-server for Redis), measuring its storage, and the *floor*: the bare
// cost of what VerifyAdminKey must do on that backend — two keyed BLAKE2b hashes and one read.
// The floors hash as the store does (internal::KeyedHasher, each kind's keyed state set up once),
// so the store is never measured against a floor slower than its own hashing.
#ifndef CREDSTORE_BENCH_BACKEND_FLOORS_H_
#define CREDSTORE_BENCH_BACKEND_FLOORS_H_

#include <functional>
#include <memory>
#include <string>

#include "credstore/keyring.h"
#include "credstore/storage_backend.h"
#include "seed.h"

namespace credstore::bench {

struct BenchBackend {
  std::string name;
  std::shared_ptr<StorageBackend> backend;
  std::shared_ptr<void> resources;  // temp folder, redis-server: kept alive with the backend
  std::function<std::size_t()> storage_bytes;  // bytes the store occupies now; 0 if unknown
  std::size_t StorageBytes() const { return storage_bytes ? storage_bytes() : 0; }
  // Backend-specific handles for the floor (RocksDB folder, Redis socket).
  std::string location;
};

bool IsBenchBackendBuilt(const std::string& name);
BenchBackend OpenBenchBackend(const std::string& name);

class BackendFloor {
 public:
  virtual ~BackendFloor() = default;
  virtual std::string Describe() const = 0;
  // Two keyed hashes and one bare read of the customer's record; true iff the admin key matches.
  virtual bool Verify(int thread, const std::string& api_key, const std::string& admin_key) = 0;
};

// Builds the floor's own bare store holding the same customers (same key and value sizes).
std::unique_ptr<BackendFloor> MakeFloor(const std::string& name, BenchBackend& opened,
                                        const Keyring& keyring, const SeededCustomers& customers);

}  // namespace credstore::bench

#endif  // CREDSTORE_BENCH_BACKEND_FLOORS_H_
