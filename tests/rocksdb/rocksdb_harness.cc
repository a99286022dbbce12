// The RocksDB backend's harness for the conformance suite: each OpenFresh() opens a store in a
// new temp folder, with the options a server would use by default.
#include <boost/test/unit_test.hpp>
#include <memory>
#include <stdexcept>

#include "credstore/backends/rocksdb.h"
#include "support/backend_harness.h"
#include "support/test_helpers.h"

namespace credstore::testing {
namespace {

class RocksDbHarness;
RocksDbHarness* live_harness = nullptr;  // the one MakeBackendHarness() made, while it lives

class RocksDbHarness final : public BackendHarness {
 public:
  RocksDbHarness() { live_harness = this; }
  ~RocksDbHarness() override {
    if (live_harness == this) live_harness = nullptr;
  }

  std::shared_ptr<StorageBackend> OpenFresh() override {
    // Close the previous store before its folder goes away with its TempDir.
    current_.reset();
    folder_ = std::make_unique<TempDir>("credstore-rocksdb");
    auto opened = RocksDbBackend::Open(RocksDbOptions{.path = folder_->path().string()});
    if (!opened.ok()) {
      throw std::runtime_error("cannot open a fresh RocksDB store: " + opened.status().ToString());
    }
    current_ = *opened;
    return current_;
  }

  // RocksDB is held by one process; a second server would go through this same backend.
  std::shared_ptr<StorageBackend> OpenAnotherHandle() override { return current_; }

  // Closes the current store and removes its folder.
  void Close() {
    current_.reset();
    folder_.reset();
  }

 private:
  std::unique_ptr<TempDir> folder_;
  std::shared_ptr<RocksDbBackend> current_;  // declared after folder_: closes before it is removed
};

// Harness() keeps the harness in a function-local static, made before RocksDB's own statics
// (its Env, which the info log writes through), so it would be destroyed after them and close
// the last store on freed objects. The last store is closed when the test run ends instead.
struct CloseLastStoreAtEnd {
  void setup() {}
  void teardown() {
    if (live_harness != nullptr) live_harness->Close();
  }
};
BOOST_TEST_GLOBAL_FIXTURE(CloseLastStoreAtEnd);

}  // namespace

std::unique_ptr<BackendHarness> MakeBackendHarness() { return std::make_unique<RocksDbHarness>(); }

}  // namespace credstore::testing
