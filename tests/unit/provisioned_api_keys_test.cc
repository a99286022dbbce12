// ProvisionedApiKeys: a key is valid only for the service it was provisioned for, only until it
// is revoked, and the store never holds the key itself. Also checks it as the CredentialStore's
// validator: a revoked key can no longer register.
#include "credstore/provisioned_api_keys.h"

#include <boost/test/unit_test.hpp>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "credstore/audit.h"
#include "credstore/backends/memory.h"
#include "credstore/clock.h"
#include "credstore/credential_store.h"
#include "credstore/keyring.h"
#include "credstore/options.h"
#include "support/test_helpers.h"

namespace credstore::testing {
namespace {

constexpr std::string_view kApiKey = "provisioned-key-0123456789";
constexpr std::string_view kOtherKey = "another-key-abcdefgh";

class RecordingAuditSink final : public AuditSink {
 public:
  void Record(const AuditEvent& event) override { events.push_back(event); }
  std::vector<AuditEvent> events;
};

struct Fixture {
  std::shared_ptr<MemoryBackend> backend = std::make_shared<MemoryBackend>();
  Keyring keyring = Keyring::Generate();
  std::shared_ptr<ManualClock> clock = std::make_shared<ManualClock>();
  std::shared_ptr<RecordingAuditSink> audit = std::make_shared<RecordingAuditSink>();
  ProvisionedApiKeys keys{backend, keyring, clock, audit};
};

BOOST_AUTO_TEST_SUITE(provisioned_api_keys)

BOOST_FIXTURE_TEST_CASE(provisioned_key_is_valid_until_revoked, Fixture) {
  BOOST_TEST(keys.IsValid("geofencing", kApiKey).code() == StatusCode::kUnauthorized);

  BOOST_TEST(keys.Provision("geofencing", kApiKey).ok());
  BOOST_TEST(keys.IsValid("geofencing", kApiKey).ok());
  BOOST_TEST(keys.IsValid("geofencing", kOtherKey).code() == StatusCode::kUnauthorized);

  BOOST_TEST(keys.Revoke("geofencing", kApiKey).ok());
  const Status after = keys.IsValid("geofencing", kApiKey);
  BOOST_TEST(after.code() == StatusCode::kUnauthorized);
  BOOST_TEST(after.message() == "API key not provisioned");
}

BOOST_FIXTURE_TEST_CASE(key_is_valid_only_for_its_service, Fixture) {
  BOOST_TEST(keys.Provision("geofencing", kApiKey).ok());
  BOOST_TEST(keys.IsValid("locationHistory", kApiKey).code() == StatusCode::kUnauthorized);
  BOOST_TEST(keys.Provision("locationHistory", kApiKey).ok());
  BOOST_TEST(keys.Revoke("geofencing", kApiKey).ok());
  BOOST_TEST(keys.IsValid("geofencing", kApiKey).code() == StatusCode::kUnauthorized);
  BOOST_TEST(keys.IsValid("locationHistory", kApiKey).ok());
}

BOOST_FIXTURE_TEST_CASE(provision_is_idempotent_and_revoke_reports_absence, Fixture) {
  BOOST_TEST(keys.Provision("geofencing", kApiKey).ok());
  BOOST_TEST(keys.Provision("geofencing", kApiKey).ok());
  BOOST_TEST(audit->events.size() == 1u);  // the second call changed nothing

  BOOST_TEST(keys.Revoke("geofencing", kApiKey).ok());
  BOOST_TEST(keys.Revoke("geofencing", kApiKey).code() == StatusCode::kNotFound);
  BOOST_TEST(keys.Revoke("geofencing", kOtherKey).code() == StatusCode::kNotFound);

  // Provisioning again after a revoke works: versions never repeat, so nothing stale returns.
  BOOST_TEST(keys.Provision("geofencing", kApiKey).ok());
  BOOST_TEST(keys.IsValid("geofencing", kApiKey).ok());
}

BOOST_FIXTURE_TEST_CASE(malformed_arguments_are_rejected_without_echoing_them, Fixture) {
  const Status short_key = keys.Provision("geofencing", "short");
  BOOST_TEST(short_key.code() == StatusCode::kInvalidArgument);
  BOOST_TEST(short_key.message().find("short") == std::string::npos);
  BOOST_TEST(keys.Provision("geo/fencing", kApiKey).code() == StatusCode::kInvalidArgument);
  BOOST_TEST(keys.Provision("", kApiKey).code() == StatusCode::kInvalidArgument);
  BOOST_TEST(keys.Revoke("geofencing", "bad key with spaces").code() ==
             StatusCode::kInvalidArgument);
  // The validator answers every malformed question with the one refusal.
  BOOST_TEST(keys.IsValid("geo/fencing", kApiKey).code() == StatusCode::kUnauthorized);
  BOOST_TEST(keys.IsValid("geofencing", "short").code() == StatusCode::kUnauthorized);
}

BOOST_FIXTURE_TEST_CASE(stored_bytes_never_contain_the_key, Fixture) {
  BOOST_TEST(keys.Provision("geofencing", kApiKey).ok());
  const auto entries = ScanAll(*backend, "", 100, clock->Now());
  BOOST_TEST_REQUIRE(entries.size() == 1u);
  const ScanEntry& entry = entries.front();
  BOOST_TEST(entry.key.rfind("p/geofencing/", 0) == 0u);
  BOOST_TEST(entry.key.size() == std::string("p/geofencing/").size() + 64);
  BOOST_TEST(!entry.record.expires_at.has_value());
  for (const std::string& haystack : {entry.key, entry.record.value}) {
    BOOST_TEST(haystack.find(kApiKey) == std::string::npos);
    // Not even a long fragment of it.
    BOOST_TEST(haystack.find(kApiKey.substr(0, 12)) == std::string::npos);
  }
}

BOOST_FIXTURE_TEST_CASE(audit_events_carry_only_the_short_id, Fixture) {
  const RequestContext context{.client_address = "127.0.0.1", .request_id = "op-1"};
  BOOST_TEST(keys.Provision("geofencing", kApiKey, context).ok());
  BOOST_TEST(keys.Revoke("geofencing", kApiKey, context).ok());
  BOOST_TEST_REQUIRE(audit->events.size() == 2u);
  BOOST_TEST(audit->events[0].action == "api_key.provision");
  BOOST_TEST(audit->events[1].action == "api_key.revoke");
  for (const AuditEvent& event : audit->events) {
    BOOST_TEST(event.service == "geofencing");
    BOOST_TEST(event.customer_id.size() == 16u);
    BOOST_TEST(event.request_id == "op-1");
    BOOST_TEST(event.customer_id.find(kApiKey) == std::string::npos);
  }
}

BOOST_FIXTURE_TEST_CASE(another_pepper_does_not_see_the_key, Fixture) {
  BOOST_TEST(keys.Provision("geofencing", kApiKey).ok());
  ProvisionedApiKeys other(backend, Keyring::Generate(), clock, audit);
  BOOST_TEST(other.IsValid("geofencing", kApiKey).code() == StatusCode::kUnauthorized);
}

BOOST_FIXTURE_TEST_CASE(foreign_value_under_the_prefix_is_corrupt, Fixture) {
  BOOST_TEST(keys.Provision("geofencing", kApiKey).ok());
  const auto entries = ScanAll(*backend, "p/", 10, clock->Now());
  BOOST_TEST_REQUIRE(entries.size() == 1u);
  MustCas(*backend, entries.front().key, entries.front().record.version, "garbage", NoExpiry(),
          clock->Now());
  BOOST_TEST(keys.IsValid("geofencing", kApiKey).code() == StatusCode::kInternal);
}

BOOST_AUTO_TEST_CASE(as_the_store_validator_a_revoked_key_cannot_register) {
  auto backend = std::make_shared<MemoryBackend>();
  const Keyring keyring = Keyring::Generate();
  auto clock = std::make_shared<ManualClock>();
  auto audit = std::make_shared<NullAuditSink>();
  auto keys = std::make_shared<ProvisionedApiKeys>(backend, keyring, clock, audit);
  Options options;
  options.argon2 = Argon2Cost::MinimumForTests();
  options.clock = clock;
  options.audit = audit;
  options.api_key_validator = keys;
  auto store = CredentialStore::Open(backend, keyring, options);
  BOOST_TEST_REQUIRE(store.ok());
  const RequestContext client{.client_address = "203.0.113.7", .request_id = "r"};

  BOOST_TEST((*store)->Register(client, "geofencing", kApiKey, "s3cret").status().code() ==
             StatusCode::kUnauthorized);
  BOOST_TEST(keys->Provision("geofencing", kApiKey).ok());
  auto grant = (*store)->Register(client, "geofencing", kApiKey, "s3cret");
  BOOST_TEST_REQUIRE(grant.ok());
  BOOST_TEST((*store)->VerifyAdminKey("geofencing", kApiKey, grant->admin_key.view()).ok());

  BOOST_TEST(keys->Revoke("geofencing", kApiKey).ok());
  BOOST_TEST(
      (*store)->RegenerateAdminKey(client, "geofencing", kApiKey, "s3cret").status().code() ==
      StatusCode::kUnauthorized);
  BOOST_TEST((*store)->VerifyAdminKey("geofencing", kApiKey, grant->admin_key.view()).code() ==
             StatusCode::kUnauthorized);
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace
}  // namespace credstore::testing
