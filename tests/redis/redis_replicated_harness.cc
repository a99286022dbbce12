// The conformance harness for credstore::redis with `wait_replicas=1`: one private primary and
// one replica of it (over loopback TCP) per test executable, started on first use and stopped at
// exit; every OpenFresh() flushes the primary (the flush replicates). The suite runs unchanged:
// every write it makes waits for the replica.
#include <memory>
#include <stdexcept>

#include "credstore/backends/redis.h"
#include "redis/redis_server_fixture.h"
#include "support/backend_harness.h"

namespace credstore::testing {
namespace {

RedisServerFixture::Settings OnTcp() {
  RedisServerFixture::Settings settings;
  settings.listen_on_tcp = true;
  return settings;
}

class RedisReplicatedHarness final : public BackendHarness {
 public:
  std::shared_ptr<StorageBackend> OpenFresh() override {
    if (primary_ == nullptr) {
      primary_ = std::make_unique<RedisServerFixture>(OnTcp());
      replica_ = std::make_unique<RedisServerFixture>(OnTcp());
      replica_->ReplicateFrom(*primary_);
      primary_->WaitForReplicas(1);
    }
    const std::string flushed = primary_->Command({"FLUSHALL", "SYNC"});
    if (flushed != "OK") throw std::runtime_error("FLUSHALL failed: " + flushed);
    return Open();
  }

  std::shared_ptr<StorageBackend> OpenAnotherHandle() override {
    if (primary_ == nullptr) throw std::logic_error("OpenAnotherHandle before OpenFresh");
    return Open();
  }

 private:
  std::shared_ptr<StorageBackend> Open() {
    RedisOptions options = primary_->BackendOptions();
    options.wait_replicas = 1;
    // The longest wait allowed: on a loaded machine a healthy replica must never look lagging.
    options.wait_timeout = options.command_timeout;
    Result<std::shared_ptr<RedisBackend>> backend = RedisBackend::Open(options);
    if (!backend.ok()) {
      throw std::runtime_error("RedisBackend::Open failed: " + backend.status().message());
    }
    return std::move(backend).value();
  }

  // The replica is declared last, so it stops first.
  std::unique_ptr<RedisServerFixture> primary_;
  std::unique_ptr<RedisServerFixture> replica_;
};

}  // namespace

std::unique_ptr<BackendHarness> MakeBackendHarness() {
  return std::make_unique<RedisReplicatedHarness>();
}

}  // namespace credstore::testing
