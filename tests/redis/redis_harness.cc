// The conformance harness for credstore::redis: one private redis-server per test executable,
// started on first use and stopped at exit; every OpenFresh() flushes it. Built with
// CREDSTORE_REDIS_HARNESS_CACHED (conformance.redis_cached), every handle has the near-cache on
// for every key, not only the verification records of a real store, so that every contract test
// (TryGet's and the second handle's included) runs through the cache.
#include <memory>
#include <stdexcept>

#include "credstore/backends/redis.h"
#include "redis/redis_server_fixture.h"
#include "support/backend_harness.h"

namespace credstore::testing {
namespace {

class RedisHarness final : public BackendHarness {
 public:
  std::shared_ptr<StorageBackend> OpenFresh() override {
    if (server_ == nullptr) server_ = std::make_unique<RedisServerFixture>();
    const std::string flushed = server_->Command({"FLUSHALL", "SYNC"});
    if (flushed != "OK") throw std::runtime_error("FLUSHALL failed: " + flushed);
    return Open();
  }

  // A new RedisBackend with its own connection pool, as another server process would have.
  std::shared_ptr<StorageBackend> OpenAnotherHandle() override {
    if (server_ == nullptr) throw std::logic_error("OpenAnotherHandle before OpenFresh");
    return Open();
  }

 private:
  std::shared_ptr<StorageBackend> Open() {
    RedisOptions options = server_->BackendOptions();
#if CREDSTORE_REDIS_HARNESS_CACHED
    options.cache = true;
    options.cache_key_prefixes = {""};
#endif
    Result<std::shared_ptr<RedisBackend>> backend = RedisBackend::Open(options);
    if (!backend.ok()) {
      throw std::runtime_error("RedisBackend::Open failed: " + backend.status().message());
    }
    return std::move(backend).value();
  }

  std::unique_ptr<RedisServerFixture> server_;
};

}  // namespace

std::unique_ptr<BackendHarness> MakeBackendHarness() { return std::make_unique<RedisHarness>(); }

}  // namespace credstore::testing
