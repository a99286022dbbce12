// ProvisionedApiKeys: a key is valid only for the service it was provisioned for, only until it
// is revoked, and the store never holds the key itself. Also checks it as the CredentialStore's
// validator: a revoked key can no longer register.
#include "credstore/provisioned_api_keys.h"

#include <boost/test/unit_test.hpp>
#include <memory>
#include <optional>
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

// TryIsValid reads with TryGet; on a backend that answers from memory it always answers, and
// exactly what IsValid answers, in every state a key can be in.
BOOST_FIXTURE_TEST_CASE(try_is_valid_answers_what_is_valid_answers, Fixture) {
  BOOST_TEST(keys.NeverBlocks());
  auto expect_same = [this](std::string_view service, std::string_view api_key,
                            std::string_view state) {
    BOOST_TEST_CONTEXT(state << ": " << service) {
      const Status blocking = keys.IsValid(service, api_key);
      const std::optional<Status> tried = keys.TryIsValid(service, api_key);
      BOOST_TEST_REQUIRE(tried.has_value());
      BOOST_TEST(tried->code() == blocking.code());
      BOOST_TEST(tried->message() == blocking.message());
    }
  };
  expect_same("geofencing", kApiKey, "never provisioned");
  BOOST_TEST(keys.Provision("geofencing", kApiKey).ok());
  expect_same("geofencing", kApiKey, "provisioned");
  BOOST_TEST(keys.TryIsValid("geofencing", kApiKey)->ok());
  expect_same("locationHistory", kApiKey, "provisioned for another service");
  expect_same("geofencing", kOtherKey, "another key");
  expect_same("geo/fencing", kApiKey, "malformed service");
  expect_same("geofencing", "short", "malformed key");
  BOOST_TEST(keys.Revoke("geofencing", kApiKey).ok());
  expect_same("geofencing", kApiKey, "revoked");

  BOOST_TEST(keys.Provision("geofencing", kApiKey).ok());
  const auto entries = ScanAll(*backend, "p/", 10, clock->Now());
  BOOST_TEST_REQUIRE(entries.size() == 1u);
  MustCas(*backend, entries.front().key, entries.front().record.version, "garbage", NoExpiry(),
          clock->Now());
  expect_same("geofencing", kApiKey, "corrupt");
  BOOST_TEST(keys.TryIsValid("geofencing", kApiKey)->code() == StatusCode::kInternal);
}

// Over a backend that would block, TryIsValid says so instead of calling Get; only questions it
// can answer without reading (malformed ones) are answered.
BOOST_AUTO_TEST_CASE(try_is_valid_is_nullopt_when_the_backend_would_block) {
  auto memory = std::make_shared<MemoryBackend>();
  auto blocked =
      std::make_shared<CountingBackend>(memory, CountingBackend::TryGetMode::kWouldBlock);
  auto clock = std::make_shared<ManualClock>();
  ProvisionedApiKeys keys(blocked, Keyring::Generate(), clock, std::make_shared<NullAuditSink>());
  BOOST_TEST(!keys.NeverBlocks());
  BOOST_TEST(keys.Provision("geofencing", kApiKey).ok());

  const CountingBackend::Counts before = blocked->counts();
  BOOST_TEST(!keys.TryIsValid("geofencing", kApiKey).has_value());
  BOOST_TEST(!keys.TryIsValid("geofencing", kOtherKey).has_value());
  BOOST_TEST(keys.TryIsValid("geofencing", "short").value().code() == StatusCode::kUnauthorized);
  const CountingBackend::Counts after = blocked->counts();
  BOOST_TEST(after.try_gets - before.try_gets == 2u);
  BOOST_TEST(after.gets == before.gets, "TryIsValid must never fall back to Get");
  BOOST_TEST(after.writes == before.writes);

  BOOST_TEST(keys.IsValid("geofencing", kApiKey).ok());  // the blocking form still answers
}

// As the store's validator, ProvisionedApiKeys over memory lets the whole store answer without
// blocking, with the blocking form's answers, a revoked API key included.
BOOST_AUTO_TEST_CASE(as_the_store_validator_the_try_forms_answer_alike) {
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
  BOOST_TEST((*store)->NeverBlocks());
  BOOST_TEST(keys->Provision("geofencing", kApiKey).ok());
  const RequestContext client{.client_address = "203.0.113.7", .request_id = "r"};
  auto grant = (*store)->Register(client, "geofencing", kApiKey, "s3cret");
  BOOST_TEST_REQUIRE(grant.ok());

  auto expect_same = [&](std::string_view state) {
    BOOST_TEST_CONTEXT(state) {
      const Status blocking =
          (*store)->VerifyAdminKey("geofencing", kApiKey, grant->admin_key.view());
      const std::optional<Status> tried =
          (*store)->TryVerifyAdminKey("geofencing", kApiKey, grant->admin_key.view());
      BOOST_TEST_REQUIRE(tried.has_value());
      BOOST_TEST(tried->code() == blocking.code());
      BOOST_TEST(tried->message() == blocking.message());
    }
  };
  expect_same("provisioned");
  BOOST_TEST((*store)->TryVerifyAdminKey("geofencing", kApiKey, grant->admin_key.view())->ok());
  BOOST_TEST(keys->Revoke("geofencing", kApiKey).ok());
  expect_same("revoked");
  BOOST_TEST((*store)->TryVerifyAdminKey("geofencing", kApiKey, grant->admin_key.view())->code() ==
             StatusCode::kUnauthorized);
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace
}  // namespace credstore::testing
