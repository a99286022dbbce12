// CredentialStore, customer configurations (docs/http.md, docs/security-model.md): register,
// admin keys and their revocation, secrets, settings, input validation, and answering an unknown
// customer exactly like a wrong secret.
//
// Every backend runs these tests unchanged, through Harness() only.
#include <algorithm>
#include <boost/test/unit_test.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>
#include <vector>

#include "credstore/api_key_validator.h"
#include "credstore/credential_store.h"
#include "credstore/status.h"
#include "store_fixture.h"
#include "support/test_helpers.h"

namespace credstore::testing {
namespace {

using namespace std::chrono_literals;

constexpr std::string_view kApiKey = "customer-key-0001";
constexpr std::string_view kOtherApiKey = "customer-key-0002";
constexpr std::string_view kUnknownApiKey = "customer-key-none";
constexpr std::string_view kSecret = "correct horse battery staple";
constexpr std::string_view kNewSecret = "tr0ub4dor & three";

bool IsAdminKeyShaped(std::string_view key) {
  if (key.size() != 48) return false;
  for (char c : key) {
    const bool alnum = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
    if (!alnum) return false;
  }
  return true;
}

// Checks that every key in `revoked` is refused by VerifyAdminKey, GetSettings and PutSettings.
void ExpectRevoked(StoreFixture& f, const std::vector<std::string>& revoked,
                   std::string_view step) {
  for (std::size_t i = 0; i < revoked.size(); ++i) {
    BOOST_TEST_CONTEXT("after " << step << ", revoked admin key #" << i) {
      BOOST_TEST(f.store().VerifyAdminKey(kService, kApiKey, revoked[i]).code() ==
                 StatusCode::kUnauthorized);
      BOOST_TEST(f.store().GetSettings(kService, kApiKey, revoked[i]).status().code() ==
                 StatusCode::kUnauthorized);
      BOOST_TEST(f.store()
                     .PutSettings(f.Context(), kService, kApiKey, revoked[i], R"({"x":1})")
                     .status()
                     .code() == StatusCode::kUnauthorized);
    }
  }
}

// Refuses some API keys (kRefused, and any the test adds) and records every key it is asked about.
class RecordingValidator final : public ApiKeyValidator {
 public:
  static constexpr std::string_view kRefused = "refused-api-key";

  Status IsValid(std::string_view, std::string_view api_key) override {
    std::lock_guard lock(mutex_);
    asked_.emplace_back(api_key);
    const bool refused = api_key == kRefused ||
                         std::find(refused_.begin(), refused_.end(), api_key) != refused_.end();
    return refused ? Status::Unauthorized("API key not provisioned") : Status::Ok();
  }
  void Refuse(std::string_view api_key) {
    std::lock_guard lock(mutex_);
    refused_.emplace_back(api_key);
  }
  std::size_t Asked() const {
    std::lock_guard lock(mutex_);
    return asked_.size();
  }

 private:
  mutable std::mutex mutex_;
  std::vector<std::string> asked_;
  std::vector<std::string> refused_;
};

// The customer records (c/…) of a snapshot: throttle counters may change, configurations not.
std::vector<ScanEntry> CustomerRecords(const std::vector<ScanEntry>& records) {
  std::vector<ScanEntry> customers;
  for (const ScanEntry& entry : records) {
    if (entry.key.starts_with("c/")) customers.push_back(entry);
  }
  return customers;
}

// What one admin-key call did: its answer and its work (the store's keyed digests, the backend's
// reads and writes). For a fixture opened with ReopenCounting.
struct AdminKeyWork {
  Status status;
  std::uint64_t digests = 0;
  std::uint64_t gets = 0;
  std::uint64_t writes = 0;
};

AdminKeyWork MeasureAdminKeyWork(StoreFixture& f, const std::function<Status()>& call) {
  const StoreStats stats = f.store().Stats();
  const CountingBackend::Counts counts = f.counting->counts();
  AdminKeyWork work{call()};
  work.digests = f.store().Stats().keyed_digests - stats.keyed_digests;
  work.gets = f.counting->counts().gets - counts.gets;
  work.writes = f.counting->counts().writes - counts.writes;
  return work;
}

// Every call that checks an admin key, by name, as call(api_key, admin_key).
using AdminKeyCall = std::function<Status(std::string_view api_key, std::string_view admin_key)>;
std::vector<std::pair<std::string, AdminKeyCall>> AdminKeyCalls(StoreFixture& f) {
  return {
      {"VerifyAdminKey",
       [&f](std::string_view api_key, std::string_view key) {
         return f.store().VerifyAdminKey(kService, api_key, key);
       }},
      {"CheckAdminKey",
       [&f](std::string_view api_key, std::string_view key) {
         return f.store().CheckAdminKey(kService, api_key, key).status();
       }},
      {"GetSettings",
       [&f](std::string_view api_key, std::string_view key) {
         return f.store().GetSettings(kService, api_key, key).status();
       }},
      {"PutSettings",
       [&f](std::string_view api_key, std::string_view key) {
         return f.store().PutSettings(f.Context(), kService, api_key, key, "{}").status();
       }},
  };
}

BOOST_AUTO_TEST_SUITE(credential_customer)

// ---- Register ---------------------------------------------------------------------------------

BOOST_FIXTURE_TEST_CASE(RegisterIssuesAdminKeyThatVerifies, StoreFixture) {
  const AdminKeyGrant grant = MustRegister(kApiKey, kSecret);
  BOOST_TEST(IsAdminKeyShaped(grant.admin_key.view()),
             "admin key is not 48 characters of [A-Za-z0-9]: length " << grant.admin_key.size());
  BOOST_TEST(grant.generation > 0u);
  BOOST_TEST(Describe(store().VerifyAdminKey(kService, kApiKey, grant.admin_key.view())) == "ok");

  // The key belongs to this customer of this service only.
  BOOST_TEST(store().VerifyAdminKey(kOtherService, kApiKey, grant.admin_key.view()).code() ==
             StatusCode::kUnauthorized);
  BOOST_TEST(store().VerifyAdminKey(kService, kOtherApiKey, grant.admin_key.view()).code() ==
             StatusCode::kUnauthorized);
  BOOST_TEST(store().VerifyAdminKey(kService, kApiKey, "").code() == StatusCode::kUnauthorized);
  std::string altered(grant.admin_key.view());
  altered[0] = altered[0] == 'A' ? 'B' : 'A';
  BOOST_TEST(store().VerifyAdminKey(kService, kApiKey, altered).code() ==
             StatusCode::kUnauthorized);

  // Another customer gets another key; so does the same API key on another service.
  const AdminKeyGrant other = MustRegister(kOtherApiKey, kSecret);
  const AdminKeyGrant other_service = MustRegister(kApiKey, kSecret, kOtherService);
  BOOST_TEST(other.admin_key.view() != grant.admin_key.view());
  BOOST_TEST(other_service.admin_key.view() != grant.admin_key.view());
  BOOST_TEST(Describe(store().VerifyAdminKey(kOtherService, kApiKey,
                                             other_service.admin_key.view())) == "ok");
  BOOST_TEST(store().VerifyAdminKey(kService, kApiKey, other_service.admin_key.view()).code() ==
             StatusCode::kUnauthorized);
}

BOOST_FIXTURE_TEST_CASE(RegisterTwiceIsRefusedAndKeepsTheFirstConfiguration, StoreFixture) {
  const AdminKeyGrant first = MustRegister(kApiKey, kSecret);
  Result<AdminKeyGrant> again = store().Register(Context(), kService, kApiKey, kNewSecret);
  BOOST_TEST(again.status().code() == StatusCode::kAlreadyRegistered);
  Result<AdminKeyGrant> same_secret = store().Register(Context(), kService, kApiKey, kSecret);
  BOOST_TEST(same_secret.status().code() == StatusCode::kAlreadyRegistered);

  BOOST_TEST(Describe(store().VerifyAdminKey(kService, kApiKey, first.admin_key.view())) == "ok");
  // The refused registration did not replace the secret either.
  BOOST_TEST(store().RegenerateAdminKey(Context(), kService, kApiKey, kNewSecret).status().code() ==
             StatusCode::kUnauthorized);
  BOOST_TEST(Describe(store().RegenerateAdminKey(Context(), kService, kApiKey, kSecret).status()) ==
             "ok");
}

// ---- Admin keys -------------------------------------------------------------------------------

BOOST_FIXTURE_TEST_CASE(RegenerateRevokesTheOldKeyAtOnce, StoreFixture) {
  const AdminKeyGrant first = MustRegister(kApiKey, kSecret);
  Result<AdminKeyGrant> second = store().RegenerateAdminKey(Context(), kService, kApiKey, kSecret);
  BOOST_TEST_REQUIRE(second.ok(), Describe(second.status()));
  BOOST_TEST(IsAdminKeyShaped(second->admin_key.view()));
  BOOST_TEST(second->admin_key.view() != first.admin_key.view());
  BOOST_TEST(second->generation > first.generation);
  BOOST_TEST(Describe(store().VerifyAdminKey(kService, kApiKey, second->admin_key.view())) == "ok");
  BOOST_TEST(store().VerifyAdminKey(kService, kApiKey, first.admin_key.view()).code() ==
             StatusCode::kUnauthorized);
}

BOOST_FIXTURE_TEST_CASE(RevokedKeysStayRevoked, StoreFixture) {
  std::vector<std::string> revoked;
  std::string current(MustRegister(kApiKey, kSecret).admin_key.view());

  auto regenerate = [&](std::chrono::milliseconds grace) {
    Result<AdminKeyGrant> next =
        store().RegenerateAdminKey(Context(), kService, kApiKey, kSecret, grace);
    BOOST_TEST_REQUIRE(next.ok(), Describe(next.status()));
    revoked.push_back(current);
    current = std::string(next->admin_key.view());
  };

  regenerate(0ms);
  ExpectRevoked(*this, revoked, "a regeneration");
  regenerate(0ms);
  ExpectRevoked(*this, revoked, "a second regeneration");

  BOOST_TEST(
      Describe(store().UpdateSecret(Context(), kService, kApiKey, kSecret, kNewSecret).status()) ==
      "ok");
  ExpectRevoked(*this, revoked, "updateSecret");
  BOOST_TEST(
      Describe(store().UpdateSecret(Context(), kService, kApiKey, kNewSecret, kSecret).status()) ==
      "ok");

  BOOST_TEST(
      Describe(
          store().PutSettings(Context(), kService, kApiKey, current, R"({"zone":"a"})").status()) ==
      "ok");
  ExpectRevoked(*this, revoked, "a settings write");

  // A graced key that expired stays expired through later changes too.
  regenerate(1000ms);
  clock->Advance(1000ms);
  ExpectRevoked(*this, revoked, "a graced regeneration expired");
  regenerate(0ms);
  BOOST_TEST(
      Describe(
          store().PutSettings(Context(), kService, kApiKey, current, R"({"zone":"b"})").status()) ==
      "ok");
  ExpectRevoked(*this, revoked, "more regenerations and settings writes");
  BOOST_TEST(Describe(store().VerifyAdminKey(kService, kApiKey, current)) == "ok");
}

BOOST_FIXTURE_TEST_CASE(RegenerateGraceKeepsTheOldKeyUntilExactlyItsExpiry, StoreFixture) {
  const AdminKeyGrant first = MustRegister(kApiKey, kSecret);
  const Timestamp regenerated_at = clock->Now();
  Result<AdminKeyGrant> second =
      store().RegenerateAdminKey(Context(), kService, kApiKey, kSecret, 10'000ms);
  BOOST_TEST_REQUIRE(second.ok(), Describe(second.status()));

  BOOST_TEST(Describe(store().VerifyAdminKey(kService, kApiKey, first.admin_key.view())) == "ok");
  BOOST_TEST(Describe(store().GetSettings(kService, kApiKey, first.admin_key.view()).status()) ==
             "ok");

  clock->Set(regenerated_at + 10'000ms - 1ms);
  BOOST_TEST(Describe(store().VerifyAdminKey(kService, kApiKey, first.admin_key.view())) == "ok",
             "a graced key must verify at expiry - 1 ms");

  clock->Set(regenerated_at + 10'000ms);
  BOOST_TEST(store().VerifyAdminKey(kService, kApiKey, first.admin_key.view()).code() ==
                 StatusCode::kUnauthorized,
             "a graced key must stop verifying at exactly its expiry (now < expiry)");
  BOOST_TEST(Describe(store().VerifyAdminKey(kService, kApiKey, second->admin_key.view())) == "ok");
}

BOOST_FIXTURE_TEST_CASE(FurtherRegenerateDropsTheOlderGracedKey, StoreFixture) {
  const AdminKeyGrant a1 = MustRegister(kApiKey, kSecret);
  Result<AdminKeyGrant> a2 = store().RegenerateAdminKey(Context(), kService, kApiKey, kSecret, 60s);
  BOOST_TEST_REQUIRE(a2.ok(), Describe(a2.status()));
  clock->Advance(1s);
  Result<AdminKeyGrant> a3 = store().RegenerateAdminKey(Context(), kService, kApiKey, kSecret, 60s);
  BOOST_TEST_REQUIRE(a3.ok(), Describe(a3.status()));

  BOOST_TEST(store().VerifyAdminKey(kService, kApiKey, a1.admin_key.view()).code() ==
                 StatusCode::kUnauthorized,
             "the older graced key must be dropped by the next regeneration");
  BOOST_TEST(Describe(store().VerifyAdminKey(kService, kApiKey, a2->admin_key.view())) == "ok");
  BOOST_TEST(Describe(store().VerifyAdminKey(kService, kApiKey, a3->admin_key.view())) == "ok");

  Result<AdminKeyGrant> a4 = store().RegenerateAdminKey(Context(), kService, kApiKey, kSecret, 0ms);
  BOOST_TEST_REQUIRE(a4.ok(), Describe(a4.status()));
  BOOST_TEST(store().VerifyAdminKey(kService, kApiKey, a2->admin_key.view()).code() ==
             StatusCode::kUnauthorized);
  BOOST_TEST(store().VerifyAdminKey(kService, kApiKey, a3->admin_key.view()).code() ==
             StatusCode::kUnauthorized);
  BOOST_TEST(Describe(store().VerifyAdminKey(kService, kApiKey, a4->admin_key.view())) == "ok");
}

// ---- Secrets ----------------------------------------------------------------------------------

BOOST_FIXTURE_TEST_CASE(UpdateSecretReplacesTheSecretAndKeepsTheAdminKey, StoreFixture) {
  const AdminKeyGrant grant = MustRegister(kApiKey, kSecret);
  BOOST_TEST(
      Describe(store().UpdateSecret(Context(), kService, kApiKey, kSecret, kNewSecret).status()) ==
      "ok");
  BOOST_TEST(Describe(store().VerifyAdminKey(kService, kApiKey, grant.admin_key.view())) == "ok");

  BOOST_TEST(
      store().UpdateSecret(Context(), kService, kApiKey, kSecret, "anything").status().code() ==
      StatusCode::kUnauthorized);
  BOOST_TEST(store().RegenerateAdminKey(Context(), kService, kApiKey, kSecret).status().code() ==
             StatusCode::kUnauthorized);
  // The refused calls changed nothing either.
  BOOST_TEST(Describe(store().VerifyAdminKey(kService, kApiKey, grant.admin_key.view())) == "ok");
  BOOST_TEST(
      Describe(store().RegenerateAdminKey(Context(), kService, kApiKey, kNewSecret).status()) ==
      "ok");
}

BOOST_FIXTURE_TEST_CASE(SecretHashIsUpgradedOnTheNextSuccess, StoreFixture) {
  MustRegister(kApiKey, kSecret);
  Options costlier = options;
  costlier.argon2.ops_limit = options.argon2.ops_limit + 1;
  options = costlier;
  std::unique_ptr<CredentialStore> upgraded = MustOpenSecondStore();

  const StoreStats before = upgraded->Stats();
  BOOST_TEST(
      Describe(upgraded->RegenerateAdminKey(Context(), kService, kApiKey, kSecret).status()) ==
      "ok");
  const StoreStats after_first = upgraded->Stats();
  BOOST_TEST(after_first.argon2_hashes - before.argon2_hashes == 1u,
             "a hash of an older cost must be recomputed on the next successful check");
  BOOST_TEST(
      Describe(upgraded->RegenerateAdminKey(Context(), kService, kApiKey, kSecret).status()) ==
      "ok");
  BOOST_TEST(upgraded->Stats().argon2_hashes == after_first.argon2_hashes,
             "an up-to-date hash must not be recomputed");
}

// ---- Settings ---------------------------------------------------------------------------------

BOOST_FIXTURE_TEST_CASE(SettingsAreAnEmptyObjectUntilSetThenPersist, StoreFixture) {
  const AdminKeyGrant grant = MustRegister(kApiKey, kSecret);
  Result<std::string> initial = store().GetSettings(kService, kApiKey, grant.admin_key.view());
  BOOST_TEST_REQUIRE(initial.ok(), Describe(initial.status()));
  BOOST_TEST(*initial == "{}");

  const std::string document = R"({"webhook":"https://example.com/hook","zones":[1,2,3]})";
  Result<std::string> stored =
      store().PutSettings(Context(), kService, kApiKey, grant.admin_key.view(), document);
  BOOST_TEST_REQUIRE(stored.ok(), Describe(stored.status()));
  BOOST_TEST(*stored == document);

  Result<std::string> read = store().GetSettings(kService, kApiKey, grant.admin_key.view());
  BOOST_TEST_REQUIRE(read.ok(), Describe(read.status()));
  BOOST_TEST(*read == document);

  // Persisted in the backend: a second server sees it.
  std::unique_ptr<CredentialStore> second = MustOpenSecondStore();
  Result<std::string> elsewhere = second->GetSettings(kService, kApiKey, grant.admin_key.view());
  BOOST_TEST_REQUIRE(elsewhere.ok(), Describe(elsewhere.status()));
  BOOST_TEST(*elsewhere == document);

  // Settings survive key regeneration and secret updates.
  Result<AdminKeyGrant> next = store().RegenerateAdminKey(Context(), kService, kApiKey, kSecret);
  BOOST_TEST_REQUIRE(next.ok(), Describe(next.status()));
  BOOST_TEST(
      Describe(store().UpdateSecret(Context(), kService, kApiKey, kSecret, kNewSecret).status()) ==
      "ok");
  Result<std::string> kept = store().GetSettings(kService, kApiKey, next->admin_key.view());
  BOOST_TEST_REQUIRE(kept.ok(), Describe(kept.status()));
  BOOST_TEST(*kept == document);

  // Each customer has its own document.
  const AdminKeyGrant other = MustRegister(kOtherApiKey, kSecret);
  Result<std::string> others = store().GetSettings(kService, kOtherApiKey, other.admin_key.view());
  BOOST_TEST_REQUIRE(others.ok(), Describe(others.status()));
  BOOST_TEST(*others == "{}");
}

BOOST_FIXTURE_TEST_CASE(SettingsOverTheSizeLimitAreRefused, StoreFixture) {
  const AdminKeyGrant grant = MustRegister(kApiKey, kSecret);
  const std::string at_limit = "{\"a\":\"" + std::string(16 * 1024 - 8, 'x') + "\"}";
  BOOST_TEST_REQUIRE(at_limit.size() == 16u * 1024u);
  Result<std::string> stored =
      store().PutSettings(Context(), kService, kApiKey, grant.admin_key.view(), at_limit);
  BOOST_TEST(Describe(stored.status()) == "ok", "exactly 16 KiB must be accepted");

  const std::vector<ScanEntry> before = Snapshot();
  const std::string over_limit = "{\"a\":\"" + std::string(16 * 1024 - 7, 'y') + "\"}";
  BOOST_TEST_REQUIRE(over_limit.size() == 16u * 1024u + 1u);
  BOOST_TEST(store()
                 .PutSettings(Context(), kService, kApiKey, grant.admin_key.view(), over_limit)
                 .status()
                 .code() == StatusCode::kInvalidArgument);
  BOOST_TEST(SameRecords(before, Snapshot()), "a refused settings write changed the store");
  Result<std::string> read = store().GetSettings(kService, kApiKey, grant.admin_key.view());
  BOOST_TEST_REQUIRE(read.ok(), Describe(read.status()));
  BOOST_TEST((*read == at_limit));
}

BOOST_FIXTURE_TEST_CASE(SettingsMustBeUtf8, StoreFixture) {
  const AdminKeyGrant grant = MustRegister(kApiKey, kSecret);
  const std::vector<ScanEntry> before = Snapshot();
  for (const std::string& bad :
       {std::string("{\"a\":\"\xff\"}"), std::string("{\"a\":\"\xc3\"}"),
        std::string("{\"a\":\"\xc0\xaf\"}"), std::string("{\"a\":\"\xed\xa0\x80\"}")}) {
    BOOST_TEST(store()
                   .PutSettings(Context(), kService, kApiKey, grant.admin_key.view(), bad)
                   .status()
                   .code() == StatusCode::kInvalidArgument);
  }
  BOOST_TEST(SameRecords(before, Snapshot()), "a refused settings write changed the store");
  const std::string utf8 = R"({"city":"Zürich","note":"☕ 東京"})";
  Result<std::string> stored =
      store().PutSettings(Context(), kService, kApiKey, grant.admin_key.view(), utf8);
  BOOST_TEST_REQUIRE(stored.ok(), Describe(stored.status()));
  BOOST_TEST(*stored == utf8);
}

BOOST_FIXTURE_TEST_CASE(SettingsNeedTheCustomersValidAdminKey, StoreFixture) {
  const AdminKeyGrant grant = MustRegister(kApiKey, kSecret);
  const AdminKeyGrant other = MustRegister(kOtherApiKey, kSecret);
  const std::string document = R"({"mine":true})";
  BOOST_TEST_REQUIRE(
      store().PutSettings(Context(), kService, kApiKey, grant.admin_key.view(), document).ok());
  Result<AdminKeyGrant> next = store().RegenerateAdminKey(Context(), kService, kApiKey, kSecret);
  BOOST_TEST_REQUIRE(next.ok(), Describe(next.status()));

  const std::vector<ScanEntry> before = Snapshot();
  const std::string wrong(48, 'Q');
  const std::vector<std::string> refused = {"", wrong, std::string(grant.admin_key.view()),
                                            std::string(other.admin_key.view())};
  for (std::size_t i = 0; i < refused.size(); ++i) {
    BOOST_TEST_CONTEXT("refused admin key #" << i) {
      BOOST_TEST(store().GetSettings(kService, kApiKey, refused[i]).status().code() ==
                 StatusCode::kUnauthorized);
      BOOST_TEST(store()
                     .PutSettings(Context(), kService, kApiKey, refused[i], R"({"evil":1})")
                     .status()
                     .code() == StatusCode::kUnauthorized);
    }
  }
  BOOST_TEST(
      store().GetSettings(kService, kUnknownApiKey, next->admin_key.view()).status().code() ==
      StatusCode::kUnauthorized);
  BOOST_TEST(SameRecords(before, Snapshot()), "a refused settings write changed the store");
  Result<std::string> read = store().GetSettings(kService, kApiKey, next->admin_key.view());
  BOOST_TEST_REQUIRE(read.ok(), Describe(read.status()));
  BOOST_TEST(*read == document);
}

// ---- Input validation -------------------------------------------------------------------------

// Each invalid call must answer its code and leave the store exactly as it was: same records,
// same versions, no Argon2id work, no audit event.
BOOST_FIXTURE_TEST_CASE(InvalidInputsChangeNothing, StoreFixture) {
  const AdminKeyGrant grant = MustRegister(kApiKey, kSecret);
  const std::string long_secret(1025, 's');
  const std::vector<std::string> bad_secrets = {
      "", long_secret, "bad\xff", "truncated\xc3", "overlong\xc0\xaf", "surrogate\xed\xa0\x80"};
  const std::vector<std::string> bad_api_keys = {"abcdefg",
                                                 std::string(129, 'k'),
                                                 "abcd efgh",
                                                 "abcdefg!",
                                                 "abcdefgh/",
                                                 "abcd.efgh",
                                                 "abcdéfgh",
                                                 "",
                                                 std::string("abcd\0efgh", 9)};

  struct Case {
    std::string what;
    StatusCode expected;
    std::function<Status()> call;
  };
  std::vector<Case> cases;
  const RequestContext ctx = Context();
  CredentialStore& s = store();
  const std::string admin(grant.admin_key.view());
  for (const std::string& key : bad_api_keys) {
    const std::string label = "api key of " + std::to_string(key.size()) + " bytes";
    cases.push_back({"Register, bad " + label, StatusCode::kInvalidArgument,
                     [&s, ctx, key] { return s.Register(ctx, kService, key, kSecret).status(); }});
    cases.push_back(
        {"RegenerateAdminKey, bad " + label, StatusCode::kInvalidArgument,
         [&s, ctx, key] { return s.RegenerateAdminKey(ctx, kService, key, kSecret).status(); }});
    cases.push_back({"UpdateSecret, bad " + label, StatusCode::kInvalidArgument, [&s, ctx, key] {
                       return s.UpdateSecret(ctx, kService, key, kSecret, kNewSecret).status();
                     }});
    cases.push_back(
        {"PutSettings, bad " + label, StatusCode::kInvalidArgument, [&s, ctx, key, admin] {
           return s.PutSettings(ctx, kService, key, admin, "{}").status();
         }});
  }
  for (const std::string service : {"tracking", "", "Geofencing", "geofencing/"}) {
    const std::string label = "unknown service \"" + service + "\"";
    cases.push_back({"Register, " + label, StatusCode::kNotFound, [&s, ctx, service] {
                       return s.Register(ctx, service, kOtherApiKey, kSecret).status();
                     }});
    cases.push_back({"RegenerateAdminKey, " + label, StatusCode::kNotFound, [&s, ctx, service] {
                       return s.RegenerateAdminKey(ctx, service, kApiKey, kSecret).status();
                     }});
    cases.push_back({"UpdateSecret, " + label, StatusCode::kNotFound, [&s, ctx, service] {
                       return s.UpdateSecret(ctx, service, kApiKey, kSecret, kNewSecret).status();
                     }});
  }
  for (const std::string& secret : bad_secrets) {
    const std::string label = "secret of " + std::to_string(secret.size()) + " bytes";
    cases.push_back({"Register, bad " + label, StatusCode::kInvalidArgument, [&s, ctx, secret] {
                       return s.Register(ctx, kService, kOtherApiKey, secret).status();
                     }});
    cases.push_back(
        {"RegenerateAdminKey, bad " + label, StatusCode::kInvalidArgument, [&s, ctx, secret] {
           return s.RegenerateAdminKey(ctx, kService, kApiKey, secret).status();
         }});
    cases.push_back(
        {"UpdateSecret, bad old " + label, StatusCode::kInvalidArgument, [&s, ctx, secret] {
           return s.UpdateSecret(ctx, kService, kApiKey, secret, kNewSecret).status();
         }});
    cases.push_back(
        {"UpdateSecret, bad new " + label, StatusCode::kInvalidArgument, [&s, ctx, secret] {
           return s.UpdateSecret(ctx, kService, kApiKey, kSecret, secret).status();
         }});
  }
  for (const std::chrono::milliseconds grace : {-1ms, 3'600'001ms, -3'600'000ms}) {
    cases.push_back({"RegenerateAdminKey, grace " + std::to_string(grace.count()) + " ms",
                     StatusCode::kInvalidArgument, [&s, ctx, grace] {
                       return s.RegenerateAdminKey(ctx, kService, kApiKey, kSecret, grace).status();
                     }});
  }

  for (const Case& c : cases) {
    BOOST_TEST_CONTEXT(c.what) {
      const std::vector<ScanEntry> before = Snapshot();
      const StoreStats stats_before = store().Stats();
      const std::size_t events_before = audit->Count();
      const Status status = c.call();
      BOOST_TEST(status.code() == c.expected, Describe(status));
      BOOST_TEST(SameRecords(before, Snapshot()), "the refused call changed the store");
      const StoreStats stats_after = store().Stats();
      BOOST_TEST(stats_after.argon2_hashes == stats_before.argon2_hashes);
      BOOST_TEST(stats_after.argon2_verifications == stats_before.argon2_verifications);
      BOOST_TEST(audit->Count() == events_before);
    }
  }

  // The customer is exactly as before, and the rejected API keys' customers do not exist.
  BOOST_TEST(Describe(store().VerifyAdminKey(kService, kApiKey, grant.admin_key.view())) == "ok");
  BOOST_TEST(store().VerifyAdminKey(kService, kOtherApiKey, grant.admin_key.view()).code() ==
             StatusCode::kUnauthorized);

  // The boundaries themselves are accepted: 8 and 128 characters of [A-Za-z0-9_-], a secret of
  // 1024 bytes, a multi-byte UTF-8 secret, a grace of exactly 3600 s.
  MustRegister("Ab3_-xYz", kSecret);
  MustRegister(std::string(64, 'a') + std::string(64, '-'), std::string(1024, 's'));
  MustRegister("utf8-secret-key", "pässwörd 密钥 ☕");
  Result<AdminKeyGrant> graced =
      store().RegenerateAdminKey(Context(), kService, kApiKey, kSecret, 3'600'000ms);
  BOOST_TEST(Describe(graced.status()) == "ok");
}

// The host decides which well-formed keys count; malformed keys never reach it. On the calls
// that take a secret, a refused key is no cheap oracle of which keys count: regenerate and update
// answer exactly as a wrong secret does, after the same Argon2id check; register keeps its own
// answer (the validator's) but only after the Argon2id hash of a registration. Nothing is stored
// for the refused key but throttle counts.
BOOST_FIXTURE_TEST_CASE(ARefusedApiKeyCostsWhatAWrongSecretCosts, StoreFixture) {
  auto validator = std::make_shared<RecordingValidator>();
  Options o = TestOptions();
  o.api_key_validator = validator;
  Reopen(o);
  const AdminKeyGrant grant = MustRegister(kApiKey, kSecret);
  const std::string refused(RecordingValidator::kRefused);

  // The status a call answered, and the Argon2id checks and hashes it ran.
  auto measure = [this](const std::function<Status()>& call) {
    const StoreStats before = store().Stats();
    const Status status = call();
    const StoreStats after = store().Stats();
    return std::make_tuple(status, after.argon2_verifications - before.argon2_verifications,
                           after.argon2_hashes - before.argon2_hashes);
  };
  const std::vector<ScanEntry> customers_before = CustomerRecords(Snapshot());

  const auto [wrong_regen, wrong_regen_checks, wrong_regen_hashes] = measure([this] {
    return store().RegenerateAdminKey(Context(), kService, kApiKey, "wrong secret").status();
  });
  const auto [refused_regen, refused_regen_checks, refused_regen_hashes] = measure(
      [&] { return store().RegenerateAdminKey(Context(), kService, refused, kSecret).status(); });
  BOOST_TEST(wrong_regen.code() == StatusCode::kUnauthorized);
  BOOST_TEST(refused_regen.code() == wrong_regen.code());
  BOOST_TEST(refused_regen.message() == wrong_regen.message(), Describe(refused_regen));
  BOOST_TEST(wrong_regen_checks == 1u);
  BOOST_TEST(refused_regen_checks == 1u, "a refused key must run Argon2id as a wrong secret does");
  BOOST_TEST(refused_regen_hashes == wrong_regen_hashes);

  const auto [wrong_update, wrong_update_checks, wrong_update_hashes] = measure([this] {
    return store().UpdateSecret(Context(), kService, kApiKey, "wrong secret", kNewSecret).status();
  });
  const auto [refused_update, refused_update_checks, refused_update_hashes] = measure([&] {
    return store().UpdateSecret(Context(), kService, refused, kSecret, kNewSecret).status();
  });
  BOOST_TEST(refused_update.code() == wrong_update.code());
  BOOST_TEST(refused_update.message() == wrong_update.message(), Describe(refused_update));
  BOOST_TEST(wrong_update_checks == 1u);
  BOOST_TEST(refused_update_checks == 1u);
  BOOST_TEST(refused_update_hashes == wrong_update_hashes);

  const auto [allowed_register, allowed_checks, allowed_hashes] = measure(
      [this] { return store().Register(Context(), kService, kOtherApiKey, kSecret).status(); });
  const auto [refused_register, refused_register_checks, refused_register_hashes] =
      measure([&] { return store().Register(Context(), kService, refused, kSecret).status(); });
  BOOST_TEST(Describe(allowed_register) == "ok");
  BOOST_TEST(refused_register.code() == StatusCode::kUnauthorized);
  BOOST_TEST(refused_register.message() == "API key not provisioned");
  BOOST_TEST(allowed_hashes == 1u);
  BOOST_TEST(refused_register_hashes == allowed_hashes,
             "a refused registration must cost the Argon2id hash of a registration");
  BOOST_TEST(refused_register_checks == allowed_checks);

  // A refused key with a configuration: the same answers, never "already registered", and the
  // right secret does not help.
  validator->Refuse(kApiKey);
  const Status again = store().Register(Context(), kService, kApiKey, kSecret).status();
  BOOST_TEST(again.code() == StatusCode::kUnauthorized);
  BOOST_TEST(again.message() == refused_register.message());
  const Status right_secret =
      store().RegenerateAdminKey(Context(), kService, kApiKey, kSecret).status();
  BOOST_TEST(right_secret.code() == wrong_regen.code());
  BOOST_TEST(right_secret.message() == wrong_regen.message());

  std::vector<ScanEntry> customers_after = CustomerRecords(Snapshot());
  // Only the allowed registration added a configuration.
  BOOST_TEST(customers_after.size() == customers_before.size() + 1);
  const auto registered =
      std::find_if(customers_after.begin(), customers_after.end(), [&](const ScanEntry& entry) {
        return std::none_of(customers_before.begin(), customers_before.end(),
                            [&](const ScanEntry& old) { return old.key == entry.key; });
      });
  if (registered != customers_after.end()) customers_after.erase(registered);
  BOOST_TEST(SameRecords(customers_before, customers_after),
             "a refused API key changed a customer configuration");

  const std::size_t asked = validator->Asked();
  BOOST_TEST(store().Register(Context(), kService, "bad key!", kSecret).status().code() ==
             StatusCode::kInvalidArgument);
  BOOST_TEST(validator->Asked() == asked, "a malformed key reached the validator");
  // Admin-key checks refuse the key as a wrong admin key (see the next case).
  BOOST_TEST(store().VerifyAdminKey(kService, kApiKey, grant.admin_key.view()).code() ==
             StatusCode::kUnauthorized);
}

// On the calls that take an admin key (VerifyAdminKey, CheckAdminKey, Get/PutSettings), a key the
// validator refuses is no oracle either: the same status and message as a wrong admin key, after
// the same work (the same keyed hashes and reads), even with the customer's right admin key.
BOOST_FIXTURE_TEST_CASE(ARefusedApiKeyAnswersAdminKeyChecksAsAWrongKeyDoes, StoreFixture) {
  auto validator = std::make_shared<RecordingValidator>();
  Options o = TestOptions();
  o.api_key_validator = validator;
  ReopenCounting(o, CountingBackend::TryGetMode::kForward);
  const std::string admin_key(MustRegister(kApiKey, kSecret).admin_key.view());
  constexpr std::string_view kRefusedLater = "refused-after-registering";
  const std::string refused_admin_key(MustRegister(kRefusedLater, kSecret).admin_key.view());
  validator->Refuse(kRefusedLater);
  const std::string refused(RecordingValidator::kRefused);

  auto measure = [this](const std::function<Status()>& call) {
    return MeasureAdminKeyWork(*this, call);
  };
  for (const auto& [name, call] : AdminKeyCalls(*this)) {
    BOOST_TEST_CONTEXT(name) {
      const AdminKeyWork wrong = measure([&] { return call(kApiKey, std::string(48, 'Z')); });
      const AdminKeyWork never_registered =
          measure([&] { return call(refused, std::string(48, 'Z')); });
      const AdminKeyWork right_key =
          measure([&] { return call(kRefusedLater, refused_admin_key); });
      BOOST_TEST(wrong.status.code() == StatusCode::kUnauthorized);
      for (const AdminKeyWork* other : {&never_registered, &right_key}) {
        BOOST_TEST(other->status.code() == wrong.status.code());
        BOOST_TEST(other->status.message() == wrong.status.message(), Describe(other->status));
        BOOST_TEST(other->digests == wrong.digests);
        BOOST_TEST(other->gets == wrong.gets);
      }
    }
  }
  // The allowed customer is untouched.
  BOOST_TEST(Describe(store().VerifyAdminKey(kService, kApiKey, admin_key)) == "ok");
}

// ---- Unknown customer vs wrong secret ---------------------------------------------------------

BOOST_FIXTURE_TEST_CASE(UnknownCustomerAndWrongSecretAnswerAlikeAfterTheSameWork, StoreFixture) {
  MustRegister(kApiKey, kSecret);

  auto measure = [this](const std::function<Status()>& call) {
    const StoreStats before = store().Stats();
    const Status status = call();
    const StoreStats after = store().Stats();
    return std::make_tuple(status, after.argon2_verifications - before.argon2_verifications,
                           after.argon2_hashes - before.argon2_hashes);
  };

  const auto [wrong_regen, wrong_regen_checks, wrong_regen_hashes] = measure([this] {
    return store().RegenerateAdminKey(Context(), kService, kApiKey, "wrong secret").status();
  });
  const auto [unknown_regen, unknown_regen_checks, unknown_regen_hashes] = measure([this] {
    return store().RegenerateAdminKey(Context(), kService, kUnknownApiKey, "wrong secret").status();
  });
  BOOST_TEST(wrong_regen.code() == StatusCode::kUnauthorized);
  BOOST_TEST(unknown_regen.code() == wrong_regen.code());
  BOOST_TEST(unknown_regen.message() == wrong_regen.message());
  BOOST_TEST(wrong_regen_checks == 1u, "a wrong secret must run Argon2id exactly once");
  BOOST_TEST(unknown_regen_checks == 1u, "an unknown customer must run Argon2id exactly once");
  BOOST_TEST(wrong_regen_hashes == 0u);
  BOOST_TEST(unknown_regen_hashes == 0u);

  const auto [wrong_update, wrong_update_checks, wrong_update_hashes] = measure([this] {
    return store().UpdateSecret(Context(), kService, kApiKey, "wrong secret", kNewSecret).status();
  });
  const auto [unknown_update, unknown_update_checks, unknown_update_hashes] = measure([this] {
    return store()
        .UpdateSecret(Context(), kService, kUnknownApiKey, "wrong secret", kNewSecret)
        .status();
  });
  BOOST_TEST(wrong_update.code() == StatusCode::kUnauthorized);
  BOOST_TEST(unknown_update.code() == wrong_update.code());
  BOOST_TEST(unknown_update.message() == wrong_update.message());
  BOOST_TEST(wrong_update_checks == 1u);
  BOOST_TEST(unknown_update_checks == 1u);
  BOOST_TEST(wrong_update_hashes == 0u);
  BOOST_TEST(unknown_update_hashes == 0u);

  // VerifyAdminKey answers alike too, and never runs Argon2id.
  const auto [wrong_admin, wrong_admin_checks, wrong_admin_hashes] =
      measure([this] { return store().VerifyAdminKey(kService, kApiKey, std::string(48, 'Z')); });
  const auto [unknown_admin, unknown_admin_checks, unknown_admin_hashes] = measure(
      [this] { return store().VerifyAdminKey(kService, kUnknownApiKey, std::string(48, 'Z')); });
  BOOST_TEST(wrong_admin.code() == StatusCode::kUnauthorized);
  BOOST_TEST(unknown_admin.code() == wrong_admin.code());
  BOOST_TEST(unknown_admin.message() == wrong_admin.message());
  BOOST_TEST(
      wrong_admin_checks + unknown_admin_checks + wrong_admin_hashes + unknown_admin_hashes == 0u);
}

// Every refusal of an admin key does the same work: two keyed hashes (the API key's and the
// presented key's, hashed before the read is looked at), one read and no write, whether the
// customer is unknown, the key wrong, or revoked. The empty key is hashed too; it is refused
// before the read, whoever the customer, so that read tells nothing either. Counted, not timed.
BOOST_FIXTURE_TEST_CASE(UnknownWrongAndRevokedAdminKeysAnswerAlikeAfterTheSameWork, StoreFixture) {
  ReopenCounting(TestOptions(), CountingBackend::TryGetMode::kForward);
  const std::string revoked(MustRegister(kApiKey, kSecret).admin_key.view());
  BOOST_TEST_REQUIRE(store().RegenerateAdminKey(Context(), kService, kApiKey, kSecret).ok());

  auto measure = [this](const std::function<Status()>& call) {
    return MeasureAdminKeyWork(*this, call);
  };
  for (const auto& [name, call] : AdminKeyCalls(*this)) {
    BOOST_TEST_CONTEXT(name) {
      const AdminKeyWork unknown =
          measure([&] { return call(kUnknownApiKey, std::string(48, 'Z')); });
      const AdminKeyWork wrong = measure([&] { return call(kApiKey, std::string(48, 'Z')); });
      const AdminKeyWork revoked_key = measure([&] { return call(kApiKey, revoked); });
      const AdminKeyWork empty_known = measure([&] { return call(kApiKey, ""); });
      const AdminKeyWork empty_unknown = measure([&] { return call(kUnknownApiKey, ""); });
      BOOST_TEST(unknown.status.code() == StatusCode::kUnauthorized);
      for (const AdminKeyWork* other : {&wrong, &revoked_key, &empty_known, &empty_unknown}) {
        BOOST_TEST(other->status.code() == unknown.status.code());
        BOOST_TEST(other->status.message() == unknown.status.message());
        BOOST_TEST(other->digests == unknown.digests);
        BOOST_TEST(other->writes == 0u);
      }
      BOOST_TEST(unknown.digests == 2u, "the API key's digest and the admin key's");
      BOOST_TEST(unknown.gets == 1u);
      BOOST_TEST(wrong.gets == unknown.gets);
      BOOST_TEST(revoked_key.gets == unknown.gets);
      BOOST_TEST(empty_known.gets == empty_unknown.gets);
    }
  }
}

// ---- Operator calls ---------------------------------------------------------------------------

BOOST_FIXTURE_TEST_CASE(ResetCustomerIssuesNewSecretAndKeyAndKeepsSettings, StoreFixture) {
  const AdminKeyGrant grant = MustRegister(kApiKey, kSecret);
  BOOST_TEST_REQUIRE(
      store().PutSettings(Context(), kService, kApiKey, grant.admin_key.view(), R"({"k":1})").ok());
  // A graced predecessor is revoked by the reset too: the operator's way back must leave no
  // old key alive.
  Result<AdminKeyGrant> graced =
      store().RegenerateAdminKey(Context(), kService, kApiKey, kSecret, 3600s);
  BOOST_TEST_REQUIRE(graced.ok(), Describe(graced.status()));
  Result<AdminKeyGrant> reset = store().ResetCustomer(Context(), kService, kApiKey, kNewSecret);
  BOOST_TEST_REQUIRE(reset.ok(), Describe(reset.status()));
  BOOST_TEST(reset->generation > graced->generation);
  BOOST_TEST(store().VerifyAdminKey(kService, kApiKey, grant.admin_key.view()).code() ==
             StatusCode::kUnauthorized);
  BOOST_TEST(store().VerifyAdminKey(kService, kApiKey, graced->admin_key.view()).code() ==
             StatusCode::kUnauthorized);
  BOOST_TEST(Describe(store().VerifyAdminKey(kService, kApiKey, reset->admin_key.view())) == "ok");
  Result<std::string> settings = store().GetSettings(kService, kApiKey, reset->admin_key.view());
  BOOST_TEST_REQUIRE(settings.ok(), Describe(settings.status()));
  BOOST_TEST(*settings == R"({"k":1})");
  BOOST_TEST(store().RegenerateAdminKey(Context(), kService, kApiKey, kSecret).status().code() ==
             StatusCode::kUnauthorized);
  BOOST_TEST(
      Describe(store().RegenerateAdminKey(Context(), kService, kApiKey, kNewSecret).status()) ==
      "ok");
  BOOST_TEST(
      store().ResetCustomer(Context(), kService, kUnknownApiKey, kNewSecret).status().code() ==
      StatusCode::kNotFound);
}

BOOST_FIXTURE_TEST_CASE(DeletedCustomerIsGoneAndMayRegisterAgain, StoreFixture) {
  const AdminKeyGrant grant = MustRegister(kApiKey, kSecret);
  BOOST_TEST_REQUIRE(
      store().PutSettings(Context(), kService, kApiKey, grant.admin_key.view(), R"({"k":1})").ok());
  BOOST_TEST(Describe(store().DeleteCustomer(Context(), kService, kApiKey)) == "ok");
  BOOST_TEST(store().VerifyAdminKey(kService, kApiKey, grant.admin_key.view()).code() ==
             StatusCode::kUnauthorized);
  BOOST_TEST(store().DeleteCustomer(Context(), kService, kApiKey).code() == StatusCode::kNotFound);

  const AdminKeyGrant again = MustRegister(kApiKey, kNewSecret);
  BOOST_TEST(store().VerifyAdminKey(kService, kApiKey, grant.admin_key.view()).code() ==
                 StatusCode::kUnauthorized,
             "a key revoked by deletion must not come back with a new registration");
  Result<std::string> settings = store().GetSettings(kService, kApiKey, again.admin_key.view());
  BOOST_TEST_REQUIRE(settings.ok(), Describe(settings.status()));
  BOOST_TEST(*settings == "{}");
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace
}  // namespace credstore::testing
