#include "scale/fleet.h"

#include <boost/test/unit_test.hpp>
#include <stdexcept>
#include <thread>
#include <utility>

#include "redis/redis_cluster_fixture.h"
#include "redis/redis_server_fixture.h"

namespace credstore::scale_tests {
namespace {

// One redis-server, configured as credstore's docs require (appendfsync always, noeviction).
class SingleRedis final : public SharedStore {
 public:
  std::string storage_uri() const override { return server_.unix_uri(); }
  std::string name() const override { return "redis"; }
  void RestartEmpty() override {
    server_.Stop();
    server_.WipeData();
    server_.Start();
  }

 private:
  testing::RedisServerFixture server_;
};

// A Redis Cluster of three masters with a replica each (redis_cluster_fixture).
class RedisCluster final : public SharedStore {
 public:
  std::string storage_uri() const override { return cluster_.Uri(); }
  std::string name() const override { return "redis-cluster"; }
  // Every node restarted without its data (its cluster configuration kept, so the same masters
  // serve the same slots): the whole cluster lost its records, as after a restart of every
  // server without their AOF files.
  void RestartEmpty() override {
    for (std::size_t i = 0; i < kNodes; ++i) cluster_.node(i).Stop();
    for (std::size_t i = 0; i < kNodes; ++i) {
      cluster_.node(i).WipeData();
      cluster_.node(i).Start();
    }
    cluster_.WaitUntilStable();
  }

 private:
  static constexpr std::size_t kNodes = 6;
  testing::RedisClusterFixture cluster_;
};

std::string ParseStoreKind() {
  const auto& suite = boost::unit_test::framework::master_test_suite();
  for (int i = 1; i + 1 < suite.argc; ++i) {
    if (std::string_view(suite.argv[i]) == "--store") return suite.argv[i + 1];
  }
  return "redis";
}

}  // namespace

const std::string& StoreKind() {
  static const std::string kind = ParseStoreKind();
  return kind;
}

std::unique_ptr<SharedStore> StartSharedStore() {
  if (StoreKind() == "redis") return std::make_unique<SingleRedis>();
  if (StoreKind() == "redis-cluster") return std::make_unique<RedisCluster>();
  throw std::runtime_error("unknown --store " + StoreKind() + " (known: redis, redis-cluster)");
}

Fleet::Fleet(std::size_t size, ServerOptions options, std::string_view uri_query)
    : store_(StartSharedStore()) {
  options.storage_uri = store_->storage_uri() + std::string(uri_query);
  for (std::size_t i = 0; i < size; ++i) servers_.push_back(std::make_unique<Server>(options));
}

Fleet::~Fleet() {
  servers_.clear();  // each Server stops its credstored and checks it
  store_.reset();
}

void Fleet::AddSensitive(std::string_view text) {
  for (const auto& server : servers_) server->AddSensitive(text);
}

Customer Fleet::NewCustomer(std::size_t via) {
  const Customer customer = (*this)[via].NewCustomer();
  for (const std::string& text : {customer.key, customer.secret, customer.admin_key}) {
    AddSensitive(text);
  }
  return customer;
}

Observation Fleet::WaitForSettingsStatus(std::size_t on, const Customer& customer,
                                         std::string_view admin_key, unsigned status,
                                         std::chrono::steady_clock::time_point since,
                                         std::chrono::milliseconds limit,
                                         std::chrono::milliseconds poll) {
  Observation observation;
  for (;;) {
    observation.status = (*this)[on].GetSettings(customer.service, customer.key, admin_key).status;
    ++observation.attempts;
    observation.after = std::chrono::steady_clock::now() - since;
    if (observation.status == status || observation.after >= limit) return observation;
    std::this_thread::sleep_for(poll);
  }
}

}  // namespace credstore::scale_tests
