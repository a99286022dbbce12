// CredentialStore's verification calls for other services (credential_store.h): CheckAdminKey
// and TryCheckAdminKey (which key, which customer), the grant's old_key_expires_at, and
// VerifySignedRequest over a precomputed body hash (SignedRequest::body_sha256), whose replay
// record is the one every other signed call shares.
//
// Every backend runs these tests unchanged, through Harness() only.
#include <sodium.h>

#include <boost/test/unit_test.hpp>
#include <cctype>
#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "credstore/credential_store.h"
#include "credstore/status.h"
#include "store_fixture.h"
#include "support/test_helpers.h"

namespace credstore::testing {
namespace {

using namespace std::chrono_literals;

constexpr std::string_view kApiKey = "verify-key-0001";
constexpr std::string_view kOtherApiKey = "verify-key-0002";
constexpr std::string_view kUnknownApiKey = "verify-key-none";
constexpr std::string_view kSecret = "correct horse battery staple";

bool IsLowerHex(std::string_view text, std::size_t length) {
  if (text.size() != length) return false;
  for (char c : text) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

std::string Sha256Hex(std::string_view data) {
  unsigned char digest[crypto_hash_sha256_BYTES];
  crypto_hash_sha256(digest, reinterpret_cast<const unsigned char*>(data.data()), data.size());
  char hex[2 * sizeof digest + 1];
  sodium_bin2hex(hex, sizeof hex, digest, sizeof digest);
  return hex;
}

BOOST_AUTO_TEST_SUITE(credential_verify)

// ---- CheckAdminKey ------------------------------------------------------------------------------

BOOST_FIXTURE_TEST_CASE(CheckAdminKeyNamesTheCurrentAndTheGracedKey, StoreFixture) {
  const AdminKeyGrant first = MustRegister(kApiKey, kSecret);
  Result<AdminKeyCheck> current = store().CheckAdminKey(kService, kApiKey, first.admin_key.view());
  BOOST_TEST_REQUIRE(current.ok(), Describe(current.status()));
  BOOST_TEST(!current->graced);
  BOOST_TEST(!current->expires_at.has_value());
  BOOST_TEST(IsLowerHex(current->customer_id, 64), current->customer_id);

  const Timestamp regenerated_at = clock->Now();
  Result<AdminKeyGrant> second =
      store().RegenerateAdminKey(Context(), kService, kApiKey, kSecret, 10'000ms);
  BOOST_TEST_REQUIRE(second.ok(), Describe(second.status()));
  BOOST_TEST_REQUIRE(second->old_key_expires_at.has_value());
  BOOST_TEST((*second->old_key_expires_at == regenerated_at + 10'000ms));

  Result<AdminKeyCheck> graced = store().CheckAdminKey(kService, kApiKey, first.admin_key.view());
  BOOST_TEST_REQUIRE(graced.ok(), Describe(graced.status()));
  BOOST_TEST(graced->graced);
  BOOST_TEST_REQUIRE(graced->expires_at.has_value());
  BOOST_TEST((*graced->expires_at == regenerated_at + 10'000ms));
  BOOST_TEST(graced->customer_id == current->customer_id, "one customer, whichever key");

  Result<AdminKeyCheck> new_key =
      store().CheckAdminKey(kService, kApiKey, second->admin_key.view());
  BOOST_TEST_REQUIRE(new_key.ok(), Describe(new_key.status()));
  BOOST_TEST(!new_key->graced);
  BOOST_TEST(new_key->customer_id == current->customer_id);

  clock->Set(regenerated_at + 10'000ms);
  BOOST_TEST(store().CheckAdminKey(kService, kApiKey, first.admin_key.view()).status().code() ==
                 StatusCode::kUnauthorized,
             "an expired graced key is refused from exactly its expiry on");
}

BOOST_FIXTURE_TEST_CASE(RegenerateWithoutGraceHasNoOldKeyExpiry, StoreFixture) {
  MustRegister(kApiKey, kSecret);
  Result<AdminKeyGrant> regenerated =
      store().RegenerateAdminKey(Context(), kService, kApiKey, kSecret);
  BOOST_TEST_REQUIRE(regenerated.ok(), Describe(regenerated.status()));
  BOOST_TEST(!regenerated->old_key_expires_at.has_value());
}

// The id is per service and per API key, and unlike the audit trail's short id.
BOOST_FIXTURE_TEST_CASE(CustomerIdsAreDistinctPerServiceAndApiKey, StoreFixture) {
  const AdminKeyGrant a = MustRegister(kApiKey, kSecret);
  const AdminKeyGrant b = MustRegister(kApiKey, kSecret, kOtherService);
  const AdminKeyGrant c = MustRegister(kOtherApiKey, kSecret);
  auto id = [this](std::string_view service, std::string_view api_key, const AdminKeyGrant& g) {
    Result<AdminKeyCheck> check = store().CheckAdminKey(service, api_key, g.admin_key.view());
    BOOST_TEST_REQUIRE(check.ok(), Describe(check.status()));
    return check->customer_id;
  };
  const std::string id_a = id(kService, kApiKey, a);
  const std::string id_b = id(kOtherService, kApiKey, b);
  const std::string id_c = id(kService, kOtherApiKey, c);
  BOOST_TEST(id_a != id_b);
  BOOST_TEST(id_a != id_c);
  BOOST_TEST(id_b != id_c);
  BOOST_TEST(id_a == id(kService, kApiKey, a), "stable");
  for (const AuditEvent& event : audit->Events()) {
    if (event.customer_id.empty()) continue;
    BOOST_TEST(id_a.find(event.customer_id) == std::string::npos);
    BOOST_TEST(id_b.find(event.customer_id) == std::string::npos);
  }
}

BOOST_FIXTURE_TEST_CASE(CheckAdminKeyValidatesLikeVerifyAdminKey, StoreFixture) {
  const AdminKeyGrant grant = MustRegister(kApiKey, kSecret);
  BOOST_TEST(
      store().CheckAdminKey("noSuchService", kApiKey, grant.admin_key.view()).status().code() ==
      StatusCode::kNotFound);
  BOOST_TEST(store().CheckAdminKey(kService, "bad key!", grant.admin_key.view()).status().code() ==
             StatusCode::kInvalidArgument);
}

// Every refusal does the same work as VerifyAdminKey's: two keyed hashes, one read (none for the
// empty key), no write, and the same status and message — unknown customer, wrong, revoked or
// expired key alike. Counted, not timed.
BOOST_FIXTURE_TEST_CASE(CheckAdminKeyRefusalsAnswerAlikeAfterTheSameWork, StoreFixture) {
  ReopenCounting(TestOptions(), CountingBackend::TryGetMode::kForward);
  const std::string revoked(MustRegister(kApiKey, kSecret).admin_key.view());
  BOOST_TEST_REQUIRE(store().RegenerateAdminKey(Context(), kService, kApiKey, kSecret).ok());
  const std::string expired(MustRegister(kOtherApiKey, kSecret).admin_key.view());
  BOOST_TEST_REQUIRE(
      store().RegenerateAdminKey(Context(), kService, kOtherApiKey, kSecret, 1'000ms).ok());
  clock->Advance(1'000ms);

  struct Work {
    Status status;
    std::uint64_t digests = 0;
    std::uint64_t gets = 0;
    std::uint64_t writes = 0;
  };
  auto measure = [this](std::string_view api_key, std::string_view admin_key) {
    const StoreStats stats = store().Stats();
    const CountingBackend::Counts counts = counting->counts();
    Work work{store().CheckAdminKey(kService, api_key, admin_key).status()};
    work.digests = store().Stats().keyed_digests - stats.keyed_digests;
    work.gets = counting->counts().gets - counts.gets;
    work.writes = counting->counts().writes - counts.writes;
    return work;
  };
  const Work unknown = measure(kUnknownApiKey, std::string(48, 'Z'));
  const Work wrong = measure(kApiKey, std::string(48, 'Z'));
  const Work revoked_key = measure(kApiKey, revoked);
  const Work expired_key = measure(kOtherApiKey, expired);
  const Work empty_known = measure(kApiKey, "");
  const Work empty_unknown = measure(kUnknownApiKey, "");
  BOOST_TEST(unknown.status.code() == StatusCode::kUnauthorized);
  BOOST_TEST(unknown.digests == 2u, "the API key's digest and the admin key's");
  BOOST_TEST(unknown.gets == 1u);
  BOOST_TEST(unknown.writes == 0u);
  for (const Work* other : {&wrong, &revoked_key, &expired_key, &empty_known, &empty_unknown}) {
    BOOST_TEST(other->status.code() == unknown.status.code());
    BOOST_TEST(other->status.message() == unknown.status.message());
    BOOST_TEST(other->digests == unknown.digests);
    BOOST_TEST(other->writes == 0u);
  }
  for (const Work* read : {&wrong, &revoked_key, &expired_key}) {
    BOOST_TEST(read->gets == unknown.gets);
  }
  BOOST_TEST(empty_known.gets == empty_unknown.gets);

  // A valid key: the same two hashes, plus one for the customer id.
  const std::string current(
      store().RegenerateAdminKey(Context(), kService, kApiKey, kSecret)->admin_key.view());
  const StoreStats before = store().Stats();
  BOOST_TEST_REQUIRE(store().CheckAdminKey(kService, kApiKey, current).ok());
  BOOST_TEST(store().Stats().keyed_digests - before.keyed_digests == 3u);
}

// TryCheckAdminKey answers what CheckAdminKey answers, or "would block".
BOOST_FIXTURE_TEST_CASE(TryCheckAdminKeyAnswersAsTheBlockingForm, StoreFixture) {
  const AdminKeyGrant first = MustRegister(kApiKey, kSecret);
  Result<AdminKeyGrant> second =
      store().RegenerateAdminKey(Context(), kService, kApiKey, kSecret, 60s);
  BOOST_TEST_REQUIRE(second.ok(), Describe(second.status()));
  for (std::string_view key :
       {first.admin_key.view(), second->admin_key.view(), std::string_view("wrong")}) {
    Result<AdminKeyCheck> blocking = store().CheckAdminKey(kService, kApiKey, key);
    std::optional<Result<AdminKeyCheck>> tried = store().TryCheckAdminKey(kService, kApiKey, key);
    if (store().NeverBlocks()) BOOST_TEST_REQUIRE(tried.has_value());
    if (!tried) continue;
    BOOST_TEST(Describe(tried->status()) == Describe(blocking.status()));
    if (blocking.ok() && tried->ok()) {
      BOOST_TEST((*tried)->customer_id == blocking->customer_id);
      BOOST_TEST((*tried)->graced == blocking->graced);
      BOOST_TEST(((*tried)->expires_at == blocking->expires_at));
    }
  }
  // Over a backend that always would block, a check that needs a read says so.
  ReopenCounting(TestOptions(), CountingBackend::TryGetMode::kWouldBlock);
  const AdminKeyGrant again = MustRegister(kApiKey, kSecret);
  BOOST_TEST(!store().TryCheckAdminKey(kService, kApiKey, again.admin_key.view()).has_value());
}

// ---- Signed requests over a body hash ---------------------------------------------------------

BOOST_FIXTURE_TEST_CASE(BodyHashVerifiesLikeTheBody, StoreFixture) {
  const IntegratorSecret integrator = MustCreateIntegrator();
  const std::string body = UniqueBody();
  OwnedSignedRequest request =
      Sign(integrator.integrator_id, integrator.secret.view(), "POST", "/orders?x=1", body);
  const std::string hash = Sha256Hex(body);
  SignedRequest hashed = request.View();
  hashed.body = {};
  hashed.body_sha256 = hash;
  Result<VerifiedRequest> verified = store().VerifySignedRequest(hashed);
  BOOST_TEST_REQUIRE(verified.ok(), Describe(verified.status()));
  BOOST_TEST(verified->integrator_id == integrator.integrator_id);
  BOOST_TEST(verified->signed_with_current);

  // The replay record is shared: the same request with its body is a replay now.
  BOOST_TEST(store().VerifySignedRequest(request.View()).status().code() ==
             StatusCode::kUnauthorized);
  BOOST_TEST(store().VerifySignedRequest(hashed).status().code() == StatusCode::kUnauthorized);

  // The hash of another body does not verify.
  OwnedSignedRequest other =
      Sign(integrator.integrator_id, integrator.secret.view(), "POST", "/orders?x=1", UniqueBody());
  SignedRequest wrong_hash = other.View();
  wrong_hash.body = {};
  wrong_hash.body_sha256 = hash;
  BOOST_TEST(store().VerifySignedRequest(wrong_hash).status().code() == StatusCode::kUnauthorized);
}

// A request verified through its body hash cannot then authorize a rotation: one replay record.
BOOST_FIXTURE_TEST_CASE(AHashVerifiedRequestIsAReplayForTheRotation, StoreFixture) {
  const IntegratorSecret integrator = MustCreateIntegrator();
  OwnedSignedRequest rotation = SignFresh(integrator.integrator_id, integrator.secret.view());
  const std::string hash = Sha256Hex(rotation.body);
  SignedRequest hashed = rotation.View();
  hashed.body = {};
  hashed.body_sha256 = hash;
  BOOST_TEST_REQUIRE(store().VerifySignedRequest(hashed).ok());
  Result<IntegratorSecret> rotated =
      store().RotateIntegratorSecret(Context(), rotation.View(), 0ms);
  BOOST_TEST(rotated.status().code() == StatusCode::kUnauthorized);
  BOOST_TEST(rotated.status().message() == "request already seen (replay)");
}

BOOST_FIXTURE_TEST_CASE(MalformedBodyHashesAreRefusedBeforeAnything, StoreFixture) {
  const IntegratorSecret integrator = MustCreateIntegrator();
  const std::string body = UniqueBody();
  OwnedSignedRequest request =
      Sign(integrator.integrator_id, integrator.secret.view(), "POST", "/x", body);
  const std::string good = Sha256Hex(body);
  std::string upper = good;
  for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  const std::vector<ScanEntry> before = Snapshot();
  for (const std::string& hash : {good.substr(1), good + "0", upper, std::string(64, 'g')}) {
    SignedRequest hashed = request.View();
    hashed.body = {};
    hashed.body_sha256 = hash;
    BOOST_TEST(store().VerifySignedRequest(hashed).status().code() == StatusCode::kInvalidArgument);
  }
  SignedRequest both = request.View();
  both.body_sha256 = good;
  BOOST_TEST(store().VerifySignedRequest(both).status().code() == StatusCode::kInvalidArgument);
  BOOST_TEST(SameRecords(before, Snapshot()), "a refused body hash writes no replay record");
  BOOST_TEST(store().VerifySignedRequest(request.View()).ok(), "and the request is still fresh");
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace
}  // namespace credstore::testing
