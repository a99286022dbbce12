// The one thing a backend supplies to the conformance suite (SOCI's tests/common model).
//
// Each conformance executable links the suite's sources plus exactly one harness source file
// that defines MakeBackendHarness(). The suite never asks which backend it runs on.
#ifndef CREDSTORE_TESTS_SUPPORT_BACKEND_HARNESS_H_
#define CREDSTORE_TESTS_SUPPORT_BACKEND_HARNESS_H_

#include <memory>
#include <string>

#include "credstore/storage_backend.h"

namespace credstore::testing {

class BackendHarness {
 public:
  virtual ~BackendHarness() = default;

  // A fresh, empty store (a new temp folder, a flushed Redis database, ...). Any store opened
  // before it may be closed by this call.
  virtual std::shared_ptr<StorageBackend> OpenFresh() = 0;

  // A second, independent handle (its own connections/caches where the backend has them) onto
  // the store most recently returned by OpenFresh(), as a second server process would have.
  // Backends that one process holds exclusively (memory, RocksDB) return the same object.
  virtual std::shared_ptr<StorageBackend> OpenAnotherHandle() = 0;
};

// Defined once per conformance executable, by the backend's harness source.
std::unique_ptr<BackendHarness> MakeBackendHarness();

// The harness of the running executable, made on first use and kept for the whole run (so a
// server it started, such as redis-server, is started once and stopped at exit).
BackendHarness& Harness();

}  // namespace credstore::testing

#endif  // CREDSTORE_TESTS_SUPPORT_BACKEND_HARNESS_H_
