// The conformance harness for credstore::redis over a Redis Cluster: one private six-node
// cluster per test executable (redis_cluster_fixture), formed on first use and stopped at exit;
// every OpenFresh() flushes every master. The suite itself runs unchanged. Built with
// CREDSTORE_REDIS_CLUSTER_HARNESS_EVERY_FEATURE (conformance.redis_cluster_cached_replicated),
// every handle also has the near-cache on for every key and waits for one replica per write, so
// the per-node parts (a subscriber and a wait lane on each master) run the whole contract too.
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
    if (cluster_ == nullptr) {
      cluster_ = std::make_unique<RedisClusterFixture>();
#if CREDSTORE_REDIS_CLUSTER_HARNESS_EVERY_FEATURE
      // A new replica's first full sync can outlast WAIT's timeout: start once every link is up.
      for (const std::size_t master : cluster_->Masters()) cluster_->WaitForReplication(master);
#endif
    }
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
    RedisOptions options = cluster_->BackendOptions();
#if CREDSTORE_REDIS_CLUSTER_HARNESS_EVERY_FEATURE
    options.cache = true;
    options.cache_key_prefixes = {""};
    options.wait_replicas = 1;
#endif
    Result<std::shared_ptr<RedisBackend>> backend = RedisBackend::Open(options);
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
