// CredentialStore, what is kept and what is told (docs/security-model.md): no plaintext secret,
// admin key, API key, device token or integrator secret in the backend or in an audit event; one
// audit event per state change; the keycheck that refuses data written under other keys; master-key
// rotation; and sealed integrator secrets that cannot be moved to another slot or another
// integrator.
//
// Every backend runs these tests unchanged, through Harness() only. The sealed-value tests are
// white-box: they rewrite integrator records with the core's own codec (core/src/records.h)
// through the backend's CompareAndSwap, as an attacker with write access to storage would.
#include <algorithm>
#include <boost/test/unit_test.hpp>
#include <chrono>
#include <functional>
#include <initializer_list>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "../../core/src/records.h"
#include "credstore/audit.h"
#include "credstore/credential_store.h"
#include "credstore/keyring.h"
#include "credstore/status.h"
#include "store_fixture.h"
#include "support/backend_harness.h"
#include "support/test_helpers.h"

namespace credstore::testing {
namespace {

using namespace std::chrono_literals;

constexpr std::string_view kApiKey = "at-rest-customer-key-one";
constexpr std::string_view kOtherApiKey = "at-rest-customer-key-two";
constexpr std::string_view kUnknownApiKey = "at-rest-unknown-key-three";
constexpr std::string_view kSecret = "first customer secret, long enough";
constexpr std::string_view kNewSecret = "replacement customer secret 2";
constexpr std::string_view kOtherSecret = "second customer's own secret";
constexpr std::string_view kWrongSecret = "a guessed wrong secret value";

std::string LowerHex(std::string_view bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string hex;
  for (unsigned char c : bytes) {
    hex.push_back(kDigits[c >> 4]);
    hex.push_back(kDigits[c & 0xf]);
  }
  return hex;
}

// Fails the test for every `plaintext` found in `text` (raw or hex-encoded); `where` names the
// place without repeating the plaintext.
void ExpectNoneOf(const std::vector<std::string>& plaintexts, std::string_view text,
                  std::string_view where) {
  for (std::size_t i = 0; i < plaintexts.size(); ++i) {
    BOOST_TEST(text.find(plaintexts[i]) == std::string_view::npos,
               "plaintext #" << i << " found in " << where);
    BOOST_TEST(text.find(LowerHex(plaintexts[i])) == std::string_view::npos,
               "hex of plaintext #" << i << " found in " << where);
  }
}

internal::IntegratorRecord ReadIntegrator(StoreFixture& f, std::string_view id, Version* version) {
  Result<VersionedValue> stored = f.backend->Get(internal::IntegratorKey(id), f.clock->Now());
  BOOST_TEST_REQUIRE(stored.ok(), "no integrator record: " << Describe(stored.status()));
  Result<internal::IntegratorRecord> decoded = internal::DecodeIntegrator(stored->value);
  BOOST_TEST_REQUIRE(decoded.ok(), Describe(decoded.status()));
  *version = stored->version;
  return std::move(decoded).value();
}

// Overwrites the integrator record under `id` with `bytes` (compare-and-swap on `version`).
Version WriteIntegratorBytes(StoreFixture& f, std::string_view id, Version version,
                             std::string_view bytes) {
  Result<Version> written =
      f.backend->CompareAndSwap(internal::IntegratorKey(id), version, bytes, {}, f.clock->Now());
  BOOST_TEST_REQUIRE(written.ok(), "CompareAndSwap failed: " << Describe(written.status()));
  return *written;
}

// Neither ok nor a refusal that would hide a success: a tampered record must never verify.
void ExpectNeverVerifies(const Status& status, std::string_view what) {
  BOOST_TEST((status.code() == StatusCode::kUnauthorized || status.code() == StatusCode::kInternal),
             what << ": " << Describe(status));
}

BOOST_AUTO_TEST_SUITE(credential_at_rest)

// ---- Audit ------------------------------------------------------------------------------------

BOOST_FIXTURE_TEST_CASE(EveryStateChangeIsAuditedWithoutSecrets, StoreFixture) {
  std::vector<std::string> plaintexts = {std::string(kApiKey), std::string(kOtherApiKey),
                                         std::string(kSecret), std::string(kNewSecret),
                                         std::string(kOtherSecret)};
  std::set<std::string> actions;
  int step = 0;

  // Runs `change` with a request id of its own and checks it emitted exactly one event, which it
  // returns.
  auto one_event = [&](std::string_view what,
                       const std::function<void(const RequestContext&)>& change) -> AuditEvent {
    RequestContext context = Context("2001:db8::7");
    context.request_id = "req-audit-" + std::to_string(++step);
    const std::size_t before = audit->Count();
    change(context);
    const std::vector<AuditEvent> events = audit->Events();
    BOOST_TEST_REQUIRE(events.size() == before + 1,
                       what << " emitted " << events.size() - before << " events, not 1");
    const AuditEvent& event = events.back();
    BOOST_TEST(!event.action.empty(), what);
    BOOST_TEST(event.request_id == context.request_id, what);
    BOOST_TEST(event.client_address == context.client_address, what);
    BOOST_TEST((event.at == clock->Now()), what);
    return event;
  };

  // Customers.
  std::string customer_id;
  AdminKeyGrant first;
  AuditEvent e = one_event("register", [&](const RequestContext& c) {
    Result<AdminKeyGrant> grant = store().Register(c, kService, kApiKey, kSecret);
    BOOST_TEST_REQUIRE(grant.ok(), Describe(grant.status()));
    first = std::move(grant).value();
  });
  plaintexts.emplace_back(first.admin_key.view());
  plaintexts.emplace_back(first.device_token.view());
  BOOST_TEST(e.service == kService);
  BOOST_TEST(e.generation == first.generation);
  BOOST_TEST(e.customer_id.size() == 16u);
  BOOST_TEST(e.customer_id.find_first_not_of("0123456789abcdef") == std::string::npos,
             "customer_id must be hex: " << e.customer_id);
  customer_id = e.customer_id;
  actions.insert(e.action);

  AdminKeyGrant other;
  e = one_event("register another", [&](const RequestContext& c) {
    Result<AdminKeyGrant> grant = store().Register(c, kService, kOtherApiKey, kOtherSecret);
    BOOST_TEST_REQUIRE(grant.ok(), Describe(grant.status()));
    other = std::move(grant).value();
  });
  plaintexts.emplace_back(other.admin_key.view());
  BOOST_TEST(e.customer_id.size() == 16u);
  BOOST_TEST(e.customer_id != customer_id, "two customers share a short id");
  const std::string other_customer_id = e.customer_id;

  // The short id is the start of the API key's digest, which also names the customer's record.
  {
    std::set<std::string> record_ids;
    for (const ScanEntry& entry : ScanAll(*backend, "c/", 100, clock->Now())) {
      const std::size_t slash = entry.key.rfind('/');
      record_ids.insert(entry.key.substr(slash + 1, 16));
    }
    BOOST_TEST(record_ids.count(customer_id) == 1u);
    BOOST_TEST(record_ids.count(other_customer_id) == 1u);
  }

  AdminKeyGrant second;
  e = one_event("regenerateKey", [&](const RequestContext& c) {
    Result<AdminKeyGrant> grant = store().RegenerateAdminKey(c, kService, kApiKey, kSecret, 60s);
    BOOST_TEST_REQUIRE(grant.ok(), Describe(grant.status()));
    second = std::move(grant).value();
  });
  plaintexts.emplace_back(second.admin_key.view());
  plaintexts.emplace_back(second.device_token.view());
  BOOST_TEST(e.customer_id == customer_id);
  BOOST_TEST(e.service == kService);
  BOOST_TEST(e.generation == second.generation);
  actions.insert(e.action);

  e = one_event("updateSecret", [&](const RequestContext& c) {
    // Presenting a device token: it must not reach the audit event either.
    RequestContext with_token = c;
    with_token.device_token = std::string(second.device_token.view());
    Result<SecretUpdate> updated =
        store().UpdateSecret(with_token, kService, kApiKey, kSecret, kNewSecret);
    BOOST_TEST_REQUIRE(updated.ok(), Describe(updated.status()));
    plaintexts.emplace_back(updated->device_token.view());
  });
  BOOST_TEST(e.customer_id == customer_id);
  actions.insert(e.action);

  e = one_event("settings", [&](const RequestContext& c) {
    BOOST_TEST_REQUIRE(
        store().PutSettings(c, kService, kApiKey, second.admin_key.view(), R"({"a":1})").ok());
  });
  BOOST_TEST(e.customer_id == customer_id);
  actions.insert(e.action);

  AdminKeyGrant reset;
  e = one_event("reset customer", [&](const RequestContext& c) {
    Result<AdminKeyGrant> grant = store().ResetCustomer(c, kService, kOtherApiKey, kNewSecret);
    BOOST_TEST_REQUIRE(grant.ok(), Describe(grant.status()));
    reset = std::move(grant).value();
  });
  plaintexts.emplace_back(reset.admin_key.view());
  BOOST_TEST(e.customer_id == other_customer_id);
  BOOST_TEST(e.generation == reset.generation);
  actions.insert(e.action);

  e = one_event("delete customer", [&](const RequestContext& c) {
    BOOST_TEST_REQUIRE(store().DeleteCustomer(c, kService, kOtherApiKey).ok());
  });
  BOOST_TEST(e.customer_id == other_customer_id);
  actions.insert(e.action);

  // Integrators.
  IntegratorSecret created;
  e = one_event("create integrator", [&](const RequestContext& c) {
    Result<IntegratorSecret> result = store().CreateIntegrator(c, "Audited Co");
    BOOST_TEST_REQUIRE(result.ok(), Describe(result.status()));
    created = std::move(result).value();
  });
  plaintexts.emplace_back(created.secret.view());
  BOOST_TEST(e.integrator_id == created.integrator_id);
  BOOST_TEST(e.generation == created.generation);
  actions.insert(e.action);

  IntegratorSecret rotated;
  e = one_event("rotate", [&](const RequestContext& c) {
    const OwnedSignedRequest request = SignFresh(created.integrator_id, created.secret.view());
    Result<IntegratorSecret> result = store().RotateIntegratorSecret(c, request.View(), 60s);
    BOOST_TEST_REQUIRE(result.ok(), Describe(result.status()));
    rotated = std::move(result).value();
  });
  plaintexts.emplace_back(rotated.secret.view());
  BOOST_TEST(e.integrator_id == created.integrator_id);
  BOOST_TEST(e.generation == rotated.generation);
  actions.insert(e.action);

  IntegratorSecret reset_secret;
  e = one_event("reset integrator", [&](const RequestContext& c) {
    Result<IntegratorSecret> result = store().ResetIntegratorSecret(c, created.integrator_id);
    BOOST_TEST_REQUIRE(result.ok(), Describe(result.status()));
    reset_secret = std::move(result).value();
  });
  plaintexts.emplace_back(reset_secret.secret.view());
  BOOST_TEST(e.integrator_id == created.integrator_id);
  BOOST_TEST(e.generation == reset_secret.generation);
  actions.insert(e.action);

  e = one_event("disable integrator", [&](const RequestContext& c) {
    BOOST_TEST_REQUIRE(store().DisableIntegrator(c, created.integrator_id).ok());
  });
  BOOST_TEST(e.integrator_id == created.integrator_id);
  actions.insert(e.action);

  BOOST_TEST(actions.size() == 10u, "each kind of change needs an action of its own");

  // No event carries a secret, an admin key or an API key, in any field.
  const std::vector<AuditEvent> events = audit->Events();
  for (std::size_t i = 0; i < events.size(); ++i) {
    const AuditEvent& event = events[i];
    for (const std::string* field :
         {&event.action, &event.service, &event.customer_id, &event.integrator_id,
          &event.request_id, &event.client_address}) {
      ExpectNoneOf(plaintexts, *field,
                   "audit event #" + std::to_string(i) + " (" + event.action + ")");
    }
  }
}

// ---- At rest ----------------------------------------------------------------------------------

BOOST_FIXTURE_TEST_CASE(StoredBytesHoldNoPlaintextCredential, StoreFixture) {
  std::vector<std::string> plaintexts = {std::string(kApiKey),        std::string(kOtherApiKey),
                                         std::string(kUnknownApiKey), std::string(kSecret),
                                         std::string(kNewSecret),     std::string(kOtherSecret),
                                         std::string(kWrongSecret)};

  // Customers: registrations, a graced regeneration, a secret update, settings, failed attempts
  // against a known and an unknown key (throttle records), an operator reset. Device tokens are
  // issued by every success and presented (a device's throttle record), right and wrong.
  const AdminKeyGrant a1 = MustRegister(kApiKey, kSecret);
  const AdminKeyGrant b1 = MustRegister(kOtherApiKey, kOtherSecret, kOtherService);
  RequestContext a1_device = Context();
  a1_device.device_token = std::string(a1.device_token.view());
  Result<AdminKeyGrant> a2 = store().RegenerateAdminKey(a1_device, kService, kApiKey, kSecret, 60s);
  BOOST_TEST_REQUIRE(a2.ok(), Describe(a2.status()));
  RequestContext a2_device = Context();
  a2_device.device_token = std::string(a2->device_token.view());
  Result<SecretUpdate> a_update =
      store().UpdateSecret(a2_device, kService, kApiKey, kSecret, kNewSecret);
  BOOST_TEST_REQUIRE(a_update.ok(), Describe(a_update.status()));
  BOOST_TEST(
      store().RegenerateAdminKey(a2_device, kService, kApiKey, kWrongSecret).status().code() ==
      StatusCode::kUnauthorized);
  plaintexts.emplace_back(a_update->device_token.view());
  BOOST_TEST_REQUIRE(
      store().PutSettings(Context(), kService, kApiKey, a2->admin_key.view(), R"({"s":1})").ok());
  BOOST_TEST(
      store().RegenerateAdminKey(Context(), kService, kApiKey, kWrongSecret).status().code() ==
      StatusCode::kUnauthorized);
  BOOST_TEST(store()
                 .RegenerateAdminKey(Context(), kService, kUnknownApiKey, kWrongSecret)
                 .status()
                 .code() == StatusCode::kUnauthorized);
  BOOST_TEST(store()
                 .UpdateSecret(Context(), kService, kUnknownApiKey, kWrongSecret, kSecret)
                 .status()
                 .code() == StatusCode::kUnauthorized);
  Result<AdminKeyGrant> b2 =
      store().ResetCustomer(Context(), kOtherService, kOtherApiKey, kNewSecret);
  BOOST_TEST_REQUIRE(b2.ok(), Describe(b2.status()));
  for (const AdminKeyGrant* grant :
       std::initializer_list<const AdminKeyGrant*>{&a1, &a2.value(), &b1, &b2.value()}) {
    plaintexts.emplace_back(grant->admin_key.view());
    if (!grant->device_token.empty()) plaintexts.emplace_back(grant->device_token.view());
  }

  // Integrators: a graced rotation (two sealed secrets), verified requests (replay records), a
  // reset of another one.
  const IntegratorSecret i1 = MustCreateIntegrator();
  Result<IntegratorSecret> i1b = RotateWith(i1.integrator_id, i1.secret.view(), 600s);
  BOOST_TEST_REQUIRE(i1b.ok(), Describe(i1b.status()));
  BOOST_TEST_REQUIRE(VerifyFresh(i1.integrator_id, i1.secret.view()).ok());
  BOOST_TEST_REQUIRE(VerifyFresh(i1.integrator_id, i1b->secret.view()).ok());
  const IntegratorSecret i2 = MustCreateIntegrator("second");
  Result<IntegratorSecret> i2b = store().ResetIntegratorSecret(Context(), i2.integrator_id);
  BOOST_TEST_REQUIRE(i2b.ok(), Describe(i2b.status()));
  for (const IntegratorSecret* secret :
       std::initializer_list<const IntegratorSecret*>{&i1, &i1b.value(), &i2, &i2b.value()}) {
    plaintexts.emplace_back(secret->secret.view());
  }

  const std::vector<ScanEntry> records = Snapshot();
  BOOST_TEST(records.size() >= 5u, "the workload left only " << records.size() << " records");
  for (const ScanEntry& entry : records) {
    ExpectNoneOf(plaintexts, entry.key, "a storage key");
    ExpectNoneOf(plaintexts, entry.record.value, "the value under " + entry.key);
  }
}

// ---- Keys of the server -----------------------------------------------------------------------

BOOST_FIXTURE_TEST_CASE(OpenRefusesAStoreWrittenUnderAnotherPepper, StoreFixture) {
  MustRegister(kApiKey, kSecret);
  const std::vector<ScanEntry> before = Snapshot();
  Result<Keyring> other_pepper = Keyring::FromKeys(Keyring::Generate().pepper(), keyring.masters());
  BOOST_TEST_REQUIRE(other_pepper.ok(), Describe(other_pepper.status()));
  Result<std::unique_ptr<CredentialStore>> opened = OpenSecondStore(*other_pepper);
  BOOST_TEST(opened.status().code() == StatusCode::kUnauthorized, Describe(opened.status()));
  BOOST_TEST(SameRecords(before, Snapshot()), "a refused Open touched the store");
}

BOOST_FIXTURE_TEST_CASE(OpenRefusesAStoreWrittenUnderAnotherMasterKey, StoreFixture) {
  MustRegister(kApiKey, kSecret);
  MustCreateIntegrator();
  const std::vector<ScanEntry> before = Snapshot();

  // Same id, other bytes.
  KeyWithId other_master = Keyring::Generate().current_master();
  other_master.id = keyring.current_master().id;
  Result<Keyring> same_id = Keyring::FromKeys(keyring.pepper(), {other_master});
  BOOST_TEST_REQUIRE(same_id.ok(), Describe(same_id.status()));
  Result<std::unique_ptr<CredentialStore>> opened = OpenSecondStore(*same_id);
  BOOST_TEST(opened.status().code() == StatusCode::kUnauthorized, Describe(opened.status()));

  // Another id altogether (the store's master key missing).
  other_master.id = keyring.current_master().id + 7;
  Result<Keyring> other_id = Keyring::FromKeys(keyring.pepper(), {other_master});
  BOOST_TEST_REQUIRE(other_id.ok(), Describe(other_id.status()));
  opened = OpenSecondStore(*other_id);
  BOOST_TEST(opened.status().code() == StatusCode::kUnauthorized, Describe(opened.status()));
  BOOST_TEST(SameRecords(before, Snapshot()), "a refused Open touched the store");
}

BOOST_FIXTURE_TEST_CASE(OpenRefusesOptionsOutOfRange, StoreFixture) {
  const std::vector<ScanEntry> before = Snapshot();
  Options no_budget = TestOptions();
  no_budget.max_concurrent_hashes = 0;
  Options too_cheap = TestOptions();
  too_cheap.argon2 = Argon2Cost{0, 0};
  Options no_services = TestOptions();
  no_services.services.clear();
  for (const Options* bad : {&no_budget, &too_cheap, &no_services}) {
    Result<std::unique_ptr<CredentialStore>> opened =
        CredentialStore::Open(Harness().OpenAnotherHandle(), keyring, *bad);
    BOOST_TEST(opened.status().code() == StatusCode::kInvalidArgument, Describe(opened.status()));
  }
  BOOST_TEST(SameRecords(before, Snapshot()));
}

BOOST_FIXTURE_TEST_CASE(OpenAcceptsTheSameKeyring, StoreFixture) {
  const AdminKeyGrant grant = MustRegister(kApiKey, kSecret);
  const IntegratorSecret integrator = MustCreateIntegrator();
  Result<Keyring> reparsed = Keyring::Parse(keyring.Serialize().view());
  BOOST_TEST_REQUIRE(reparsed.ok(), Describe(reparsed.status()));
  Result<std::unique_ptr<CredentialStore>> opened = OpenSecondStore(*reparsed);
  BOOST_TEST_REQUIRE(opened.ok(), Describe(opened.status()));
  CredentialStore& second = **opened;
  BOOST_TEST(Describe(second.VerifyAdminKey(kService, kApiKey, grant.admin_key.view())) == "ok");
  BOOST_TEST(
      Describe(VerifyFresh(integrator.integrator_id, integrator.secret.view(), &second).status()) ==
      "ok");
}

BOOST_FIXTURE_TEST_CASE(ANewMasterKeyStillOpensOldSealedSecrets, StoreFixture) {
  const AdminKeyGrant grant = MustRegister(kApiKey, kSecret);
  const IntegratorSecret s1 = MustCreateIntegrator();
  Result<IntegratorSecret> s2 = RotateWith(s1.integrator_id, s1.secret.view(), 3600s);
  BOOST_TEST_REQUIRE(s2.ok(), Describe(s2.status()));

  const Keyring rotated = keyring.WithNewMasterKey();
  BOOST_TEST_REQUIRE(rotated.current_master().id > keyring.current_master().id);
  Result<std::unique_ptr<CredentialStore>> opened = OpenSecondStore(rotated);
  BOOST_TEST_REQUIRE(opened.ok(), Describe(opened.status()));
  CredentialStore& second = **opened;

  BOOST_TEST(Describe(second.VerifyAdminKey(kService, kApiKey, grant.admin_key.view())) == "ok");
  Result<VerifiedRequest> by_current = VerifyFresh(s1.integrator_id, s2->secret.view(), &second);
  BOOST_TEST_REQUIRE(by_current.ok(), Describe(by_current.status()));
  BOOST_TEST(by_current->signed_with_current);
  Result<VerifiedRequest> by_old = VerifyFresh(s1.integrator_id, s1.secret.view(), &second);
  BOOST_TEST_REQUIRE(by_old.ok(), Describe(by_old.status()));
  BOOST_TEST(!by_old->signed_with_current);

  // New values are sealed under the new master key, and old ones still move between slots.
  const IntegratorSecret fresh = [&] {
    Result<IntegratorSecret> created = second.CreateIntegrator(Context(), "after rotation");
    BOOST_TEST_REQUIRE(created.ok(), Describe(created.status()));
    return std::move(created).value();
  }();
  Version version = 0;
  BOOST_TEST(ReadIntegrator(*this, fresh.integrator_id, &version).current.master_key_id ==
             rotated.current_master().id);
  BOOST_TEST(Describe(VerifyFresh(fresh.integrator_id, fresh.secret.view(), &second).status()) ==
             "ok");
  Result<IntegratorSecret> s3 = RotateWith(s1.integrator_id, s2->secret.view(), 60s, &second);
  BOOST_TEST_REQUIRE(s3.ok(), Describe(s3.status()));
  BOOST_TEST(Describe(VerifyFresh(s1.integrator_id, s2->secret.view(), &second).status()) == "ok");
  BOOST_TEST(Describe(VerifyFresh(s1.integrator_id, s3->secret.view(), &second).status()) == "ok");
}

// ---- Sealed secrets stay in their place -------------------------------------------------------

BOOST_FIXTURE_TEST_CASE(SealedSecretsSwappedBetweenSlotsNeverVerify, StoreFixture) {
  const IntegratorSecret s1 = MustCreateIntegrator();
  const std::string id = s1.integrator_id;
  Result<IntegratorSecret> s2 = RotateWith(id, s1.secret.view(), 3600s);
  BOOST_TEST_REQUIRE(s2.ok(), Describe(s2.status()));

  Version version = 0;
  const internal::IntegratorRecord original = ReadIntegrator(*this, id, &version);
  BOOST_TEST_REQUIRE(original.old.has_value(), "a graced rotation left no old secret");

  // Control: writing the record back through the codec unchanged keeps both secrets working, so
  // the failures below come from the swap alone.
  version = WriteIntegratorBytes(*this, id, version, internal::Encode(original));
  BOOST_TEST_REQUIRE(Describe(VerifyFresh(id, s1.secret.view()).status()) == "ok");
  BOOST_TEST_REQUIRE(Describe(VerifyFresh(id, s2->secret.view()).status()) == "ok");

  // Whole slots swapped (generation, key id and sealed bytes); expiry stays with the old slot.
  internal::IntegratorRecord swapped = original;
  swapped.current = *original.old;
  swapped.current.expires_at.reset();
  swapped.old = original.current;
  swapped.old->expires_at = original.old->expires_at;
  version = WriteIntegratorBytes(*this, id, version, internal::Encode(swapped));
  ExpectNeverVerifies(VerifyFresh(id, s1.secret.view()).status(), "S1 after a slot swap");
  ExpectNeverVerifies(VerifyFresh(id, s2->secret.view()).status(), "S2 after a slot swap");
  ExpectNeverVerifies(RotateWith(id, s1.secret.view(), 0ms).status(), "rotate by S1 after a swap");
  ExpectNeverVerifies(RotateWith(id, s2->secret.view(), 0ms).status(), "rotate by S2 after a swap");

  // Only the sealed bytes swapped, generations left in place.
  internal::IntegratorRecord bytes_swapped = original;
  std::swap(bytes_swapped.current.sealed, bytes_swapped.old->sealed);
  ReadIntegrator(*this, id, &version);  // the refused calls above must not have written it
  version = WriteIntegratorBytes(*this, id, version, internal::Encode(bytes_swapped));
  ExpectNeverVerifies(VerifyFresh(id, s1.secret.view()).status(), "S1 after a bytes swap");
  ExpectNeverVerifies(VerifyFresh(id, s2->secret.view()).status(), "S2 after a bytes swap");

  // The old sealed value relabelled with the current generation, in the current slot.
  internal::IntegratorRecord relabelled = original;
  relabelled.current.sealed = original.old->sealed;
  ReadIntegrator(*this, id, &version);
  WriteIntegratorBytes(*this, id, version, internal::Encode(relabelled));
  ExpectNeverVerifies(RotateWith(id, s1.secret.view(), 0ms).status(),
                      "rotate by S1 moved into the current slot");
}

BOOST_FIXTURE_TEST_CASE(SealedSecretsCopiedToAnotherIntegratorNeverVerify, StoreFixture) {
  const IntegratorSecret a1 = MustCreateIntegrator("A");
  Result<IntegratorSecret> a2 = RotateWith(a1.integrator_id, a1.secret.view(), 3600s);
  BOOST_TEST_REQUIRE(a2.ok(), Describe(a2.status()));
  const IntegratorSecret b = MustCreateIntegrator("B");

  Version a_version = 0;
  const internal::IntegratorRecord a_record = ReadIntegrator(*this, a1.integrator_id, &a_version);
  Version b_version = 0;
  const internal::IntegratorRecord b_record = ReadIntegrator(*this, b.integrator_id, &b_version);

  // A's sealed secrets (both slots, with their generations) moved into B's record.
  internal::IntegratorRecord grafted = b_record;
  grafted.current = a_record.current;
  grafted.old = a_record.old;
  grafted.last_generation = std::max(a_record.last_generation, b_record.last_generation);
  b_version = WriteIntegratorBytes(*this, b.integrator_id, b_version, internal::Encode(grafted));
  for (const std::string_view secret : {a1.secret.view(), a2->secret.view(), b.secret.view()}) {
    ExpectNeverVerifies(VerifyFresh(b.integrator_id, secret).status(),
                        "B's request after A's sealed secrets were copied into B");
    ExpectNeverVerifies(RotateWith(b.integrator_id, secret, 0ms).status(),
                        "B's rotation after A's sealed secrets were copied into B");
  }

  // A's whole record copied under B's key.
  WriteIntegratorBytes(*this, b.integrator_id, b_version, internal::Encode(a_record));
  for (const std::string_view secret : {a1.secret.view(), a2->secret.view(), b.secret.view()}) {
    ExpectNeverVerifies(VerifyFresh(b.integrator_id, secret).status(),
                        "B's request after A's record was copied under B's key");
  }

  // A itself is untouched.
  BOOST_TEST(Describe(VerifyFresh(a1.integrator_id, a2->secret.view()).status()) == "ok");
  BOOST_TEST(Describe(VerifyFresh(a1.integrator_id, a1.secret.view()).status()) == "ok");
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace
}  // namespace credstore::testing
