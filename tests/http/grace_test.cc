// Grace periods over real time. The core's grace rules are tested without sleeping (injected
// Clock); here one short sleep checks that credstored's wall clock drives them end to end.
#include <boost/json/object.hpp>
#include <boost/test/unit_test.hpp>
#include <chrono>
#include <thread>

#include "http/http_test_env.h"

namespace credstore::http_tests {

BOOST_AUTO_TEST_SUITE(grace)

BOOST_FIXTURE_TEST_CASE(an_old_admin_key_works_until_its_grace_ends, ServerFixture) {
  Customer customer = server.NewCustomer();
  const std::string old_key = customer.admin_key;
  const auto rotated_at = std::chrono::steady_clock::now();
  const HttpResponse response =
      server.RegenerateKey(customer, customer.secret, R"("oldKeyValidForSeconds":2)");
  const boost::json::object body = ExpectJson(response, 200, "regenerateKey with a 2 s grace");
  BOOST_TEST_REQUIRE(response.status == 200u);
  const std::string new_key(body.at("adminKey").as_string());
  server.AddSensitive(new_key);

  const HttpResponse at_once = server.GetSettings(customer);
  const auto elapsed = std::chrono::steady_clock::now() - rotated_at;
  if (elapsed < std::chrono::milliseconds(1500)) {
    BOOST_TEST(at_once.status == 200u, "old admin key within its grace: " << at_once.Describe());
  } else {
    BOOST_TEST_MESSAGE("machine too slow to check the old key within its 2 s grace; skipped");
  }
  customer.admin_key = new_key;
  server.ExpectSettings(customer, "{}", "new admin key");

  // Two seconds of margin past the grace.
  std::this_thread::sleep_until(rotated_at + std::chrono::seconds(4));
  ExpectProblem(server.GetSettings(customer.service, customer.key, old_key), 401,
                "old admin key after its grace");
  server.ExpectSettings(customer, "{}", "new admin key after the grace");
}

BOOST_FIXTURE_TEST_CASE(a_graced_old_integrator_secret_cannot_rotate, ServerFixture) {
  const Integrator original = server.NewIntegrator();
  const Integrator rotated = server.RotateOk(original, R"({"oldSecretValidForSeconds":2})");
  // Within the grace the old secret still verifies for the host's other routes, but it may not
  // rotate: a leaked old secret must never take the account over.
  ExpectProblem(server.Rotate(original.id, original.secret), 401,
                "graced old secret on regenerate-secret");
  ExpectProblem(server.Rotate(original.id, original.secret, R"({"oldSecretValidForSeconds":0})"),
                401, "graced old secret on regenerate-secret, with a body");
  server.RotateOk(rotated);
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace credstore::http_tests
