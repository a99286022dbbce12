// credstored over a Redis primary with one replica and `wait_replicas=1` (docs/operations.md,
// Replication): with the replica frozen, a minting route answers 200 with
// `Credstore-Replication: pending` and /metrics counts it; every other write answers 503 (a
// signed rotation too: its replay record must be replicated before the request counts). Runs
// in the Redis variant only, on a primary and a replica of its own.
#include <boost/test/unit_test.hpp>
#include <optional>
#include <string>

#include "http/http_test_env.h"

#ifdef CREDSTORE_HTTP_TESTS_WITH_REDIS
#include "redis/redis_server_fixture.h"

namespace credstore::http_tests {
namespace {

namespace utf = boost::unit_test;

boost::test_tools::assertion_result OnRedis(utf::test_unit_id) {
  boost::test_tools::assertion_result result(Args().backend == Backend::kRedis);
  result.message() << "replicas are Redis's";
  return result;
}

testing::RedisServerFixture::Settings OnTcp() {
  testing::RedisServerFixture::Settings settings;
  settings.listen_on_tcp = true;
  return settings;
}

BOOST_AUTO_TEST_SUITE(replication, *utf::precondition(OnRedis))

BOOST_AUTO_TEST_CASE(a_frozen_replica_makes_mints_pending_and_other_writes_503) {
  testing::RedisServerFixture primary(OnTcp());
  testing::RedisServerFixture replica(OnTcp());
  replica.ReplicateFrom(primary);
  primary.WaitForReplicas(1);
  ServerOptions options;
  options.storage_uri = primary.unix_uri() + "?wait_replicas=1&wait_timeout_ms=1000";
  Server server(options);
  const std::string pending_series = "credstore_replication_pending_total";

  // Healthy: acknowledged, no header.
  Customer customer = server.NewCustomer();
  const HttpResponse healthy = server.RegenerateKey(customer, customer.secret);
  BOOST_TEST_REQUIRE(healthy.status == 200u, healthy.Describe());
  BOOST_TEST(!healthy.Header("Credstore-Replication").has_value());
  customer.admin_key = ExpectJson(healthy, 200, "regenerateKey").at("adminKey").as_string();
  server.AddSensitive(customer.admin_key);
  const Integrator integrator = server.NewIntegrator();
  BOOST_TEST(MetricSample(server.MetricsText(), pending_series) == 0);

  replica.Freeze();
  const HttpResponse regenerated = server.RegenerateKey(customer, customer.secret);
  BOOST_TEST_REQUIRE(regenerated.status == 200u, regenerated.Describe());
  BOOST_TEST(regenerated.Header("Credstore-Replication").value_or("(absent)") == "pending");
  const std::string new_key(
      ExpectJson(regenerated, 200, "regenerateKey").at("adminKey").as_string());
  server.AddSensitive(new_key);

  const HttpResponse reset = server.SendOperator(
      BuildRequest("POST", "/v1/integrators/" + integrator.id + "/reset-secret",
                   "Authorization: Bearer " + server.process().config().operator_token + "\r\n"));
  BOOST_TEST_REQUIRE(reset.status == 200u, reset.Describe());
  BOOST_TEST(reset.Header("Credstore-Replication").value_or("(absent)") == "pending");
  const std::string new_secret(ExpectJson(reset, 200, "reset-secret").at("secret").as_string());
  server.AddSensitive(new_secret);
  BOOST_TEST(MetricSample(server.MetricsText(), pending_series) == 2);

  // A signed rotation stops at its replay record, which is not a mint: 503, nothing rotated.
  ExpectProblem(server.Rotate(integrator.id, new_secret), 503, "rotation while pending");

  // A write that mints nothing: 503, and the new key stays the one that opens the settings.
  Customer renewed = customer;
  renewed.admin_key = new_key;
  ExpectProblem(server.PostSettings(renewed, R"({"a":1})"), 503, "settings while pending");
  const HttpResponse settings = server.GetSettings(renewed);
  BOOST_TEST(settings.status == 200u, settings.Describe());
  BOOST_TEST(server.GetSettings(customer).status == 401u);
  BOOST_TEST(MetricSample(server.MetricsText(), pending_series) == 2);
  replica.Thaw();
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace
}  // namespace credstore::http_tests

#endif  // CREDSTORE_HTTP_TESTS_WITH_REDIS
