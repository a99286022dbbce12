#include "credstore/backends/memory.h"
#include "support/backend_harness.h"

namespace credstore::testing {
namespace {

class MemoryHarness final : public BackendHarness {
 public:
  std::shared_ptr<StorageBackend> OpenFresh() override {
    current_ = std::make_shared<MemoryBackend>();
    return current_;
  }
  std::shared_ptr<StorageBackend> OpenAnotherHandle() override { return current_; }

 private:
  std::shared_ptr<MemoryBackend> current_;
};

}  // namespace

std::unique_ptr<BackendHarness> MakeBackendHarness() { return std::make_unique<MemoryHarness>(); }

}  // namespace credstore::testing
