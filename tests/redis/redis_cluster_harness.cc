// The conformance harness for credstore::redis over a Redis Cluster: one private six-node
// cluster per test executable (redis_cluster_fixture), formed on first use and stopped at exit;
// every OpenFresh() flushes every master. The suite itself runs unchanged.
#include <memory>
#include <stdexcept>

#include "credstore/backends/redis.h"
#include "redis/redis_cluster_fixture.h"
#include "support/backend_harness.h"

namespace credstore::testing {
namespace {

class RedisClusterHarness final : public BackendHarness {
 public:
  std::shared_ptr<StorageBackend> OpenFresh() override {
    if (cluster_ == nullptr) cluster_ = std::make_unique<RedisClusterFixture>();
    cluster_->FlushAll();
    return Open();
  }

  // A new RedisBackend with its own slot map and pools, as another server process would have.
  std::shared_ptr<StorageBackend> OpenAnotherHandle() override {
    if (cluster_ == nullptr) throw std::logic_error("OpenAnotherHandle before OpenFresh");
    return Open();
  }

 private:
  std::shared_ptr<StorageBackend> Open() {
    Result<std::shared_ptr<RedisBackend>> backend = RedisBackend::Open(cluster_->BackendOptions());
    if (!backend.ok()) {
      throw std::runtime_error("RedisBackend::Open failed: " + backend.status().message());
    }
    return std::move(backend).value();
  }

  std::unique_ptr<RedisClusterFixture> cluster_;
};

}  // namespace

std::unique_ptr<BackendHarness> MakeBackendHarness() {
  return std::make_unique<RedisClusterHarness>();
}

}  // namespace credstore::testing
