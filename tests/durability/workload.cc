#include "workload.h"

#include <boost/test/unit_test.hpp>

namespace credstore::testing {

Options DurabilityTestOptions(std::shared_ptr<const Clock> clock) {
  Options options;
  options.argon2 = Argon2Cost::MinimumForTests();
  options.clock = std::move(clock);
  options.audit = std::make_shared<NullAuditSink>();
  return options;
}

std::vector<std::string> RunPlaintextWorkload(CredentialStore& store, const Clock& clock) {
  std::vector<std::string> plaintexts;
  const RequestContext context{"192.0.2.10", "workload"};
  for (int i = 0; i < 5; ++i) {
    const std::string api_key = "PlainApiKey_" + std::to_string(i) + "_q8Zr";
    const std::string secret = "plain-secret-" + std::to_string(i) + "-Xk2v";
    const std::string new_secret = "plain-new-secret-" + std::to_string(i) + "-Lm7w";
    plaintexts.insert(plaintexts.end(), {api_key, secret, new_secret});
    auto grant = store.Register(context, "geofencing", api_key, secret);
    BOOST_TEST_REQUIRE(grant.ok(), grant.status().ToString());
    plaintexts.emplace_back(grant->admin_key.view());
    plaintexts.emplace_back(grant->device_token.view());
    // Each secret check presents the device token the last success gave.
    RequestContext device = context;
    device.device_token = std::string(grant->device_token.view());
    auto regenerated =
        store.RegenerateAdminKey(device, "geofencing", api_key, secret, std::chrono::seconds(30));
    BOOST_TEST_REQUIRE(regenerated.ok(), regenerated.status().ToString());
    plaintexts.emplace_back(regenerated->admin_key.view());
    plaintexts.emplace_back(regenerated->device_token.view());
    device.device_token = std::string(regenerated->device_token.view());
    auto updated = store.UpdateSecret(device, "geofencing", api_key, secret, new_secret);
    BOOST_TEST_REQUIRE(updated.ok(), updated.status().ToString());
    plaintexts.emplace_back(updated->device_token.view());
    BOOST_TEST_REQUIRE(store
                           .PutSettings(context, "geofencing", api_key,
                                        regenerated->admin_key.view(), R"({"zone":"A"})")
                           .ok());
  }
  for (int i = 0; i < 3; ++i) {
    auto integrator = store.CreateIntegrator(context, "workload");
    BOOST_TEST_REQUIRE(integrator.ok(), integrator.status().ToString());
    std::string secret(integrator->secret.view());
    plaintexts.push_back(secret);
    for (int rotation = 0; rotation < 2; ++rotation) {
      const std::string ts = std::to_string(clock.Now().time_since_epoch().count());
      const std::string target = "/v1/integrator/regenerate-secret";
      const std::string body = "{\"n\":" + std::to_string(rotation) + "}";
      SignedRequest request{integrator->integrator_id, ts, "", "POST", target, body};
      const std::string signature = SignRequest(secret, ts, "POST", target, body);
      request.signature = signature;
      auto rotated = store.RotateIntegratorSecret(context, request, std::chrono::seconds(60));
      BOOST_TEST_REQUIRE(rotated.ok(), rotated.status().ToString());
      secret = std::string(rotated->secret.view());
      plaintexts.push_back(secret);
    }
  }
  return plaintexts;
}

}  // namespace credstore::testing
