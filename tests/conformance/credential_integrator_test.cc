// CredentialStore, integrators (docs/http.md, the integrator routes): creation, signed-request
// verification (format, clock window, replay), rotation with a grace (the worked timeline of the
// design, step by step, with exact boundaries), the rule that only the current secret may
// rotate, reset, disable and listing.
//
// Every backend runs these tests unchanged, through Harness() only. Time moves only through the
// fixture's ManualClock.
#include <algorithm>
#include <boost/test/unit_test.hpp>
#include <cctype>
#include <chrono>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "../../core/src/records.h"
#include "credstore/credential_store.h"
#include "credstore/signed_request.h"
#include "credstore/status.h"
#include "store_fixture.h"
#include "support/test_helpers.h"

namespace credstore::testing {
namespace {

using namespace std::chrono_literals;

constexpr std::chrono::milliseconds kTolerance = 300'000ms;

std::string ToUpper(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(),
                 [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
  return text;
}

// The integrator's record version in the backend (white-box), to prove a refused call wrote
// nothing.
Version RecordVersion(StoreFixture& f, std::string_view integrator_id) {
  Result<VersionedValue> record =
      f.backend->Get(internal::IntegratorKey(integrator_id), f.clock->Now());
  BOOST_TEST_REQUIRE(record.ok(), "no integrator record: " << Describe(record.status()));
  return record->version;
}

BOOST_AUTO_TEST_SUITE(credential_integrator)

// ---- Creation and verification ----------------------------------------------------------------

BOOST_FIXTURE_TEST_CASE(CreateIntegratorIssuesAPublicIdAndASecret, StoreFixture) {
  const Timestamp created_at = clock->Now();
  const IntegratorSecret first = MustCreateIntegrator("Acme Fleet");
  const IntegratorSecret second = MustCreateIntegrator("Other Co");
  BOOST_TEST(first.integrator_id.starts_with("int_"), first.integrator_id);
  BOOST_TEST(first.integrator_id.size() > 4u);
  BOOST_TEST(!first.secret.empty());
  BOOST_TEST(first.generation > 0u);
  BOOST_TEST(!first.old_secret_expires_at.has_value());
  BOOST_TEST(first.integrator_id != second.integrator_id);
  BOOST_TEST(first.secret.view() != second.secret.view());

  Result<IntegratorInfo> info = store().GetIntegrator(first.integrator_id);
  BOOST_TEST_REQUIRE(info.ok(), Describe(info.status()));
  BOOST_TEST(info->integrator_id == first.integrator_id);
  BOOST_TEST(info->label == "Acme Fleet");
  BOOST_TEST(info->enabled);
  BOOST_TEST((info->created_at == created_at));
  BOOST_TEST(info->generation == first.generation);
  BOOST_TEST(!info->old_secret_expires_at.has_value());

  BOOST_TEST(store().GetIntegrator("int_doesnotexist").status().code() == StatusCode::kNotFound);
  const std::vector<ScanEntry> before = Snapshot();
  const std::size_t events = audit->Count();
  BOOST_TEST(store().CreateIntegrator(Context(), std::string(201, 'l')).status().code() ==
             StatusCode::kInvalidArgument);
  BOOST_TEST(store().CreateIntegrator(Context(), "bad\xff").status().code() ==
             StatusCode::kInvalidArgument);
  BOOST_TEST(SameRecords(before, Snapshot()), "a refused CreateIntegrator changed the store");
  BOOST_TEST(audit->Count() == events);
  BOOST_TEST(Describe(store().CreateIntegrator(Context(), std::string(200, 'l')).status()) == "ok");
}

BOOST_FIXTURE_TEST_CASE(SignedRequestsVerify, StoreFixture) {
  const IntegratorSecret integrator = MustCreateIntegrator();
  Result<VerifiedRequest> verified =
      VerifyFresh(integrator.integrator_id, integrator.secret.view());
  BOOST_TEST_REQUIRE(verified.ok(), Describe(verified.status()));
  BOOST_TEST(verified->integrator_id == integrator.integrator_id);
  BOOST_TEST(verified->generation == integrator.generation);
  BOOST_TEST(verified->signed_with_current);

  // Any method and target, a query string, an empty body, a non-ASCII body.
  const OwnedSignedRequest get = Sign(integrator.integrator_id, integrator.secret.view(), "GET",
                                      "/v1/fences?page=2&sort=name%2Casc", "");
  BOOST_TEST(Describe(store().VerifySignedRequest(get.View()).status()) == "ok");
  const OwnedSignedRequest put = Sign(integrator.integrator_id, integrator.secret.view(), "PUT",
                                      "/v1/fences/f%C3%BC", R"({"name":"Zürich ☕"})");
  BOOST_TEST(Describe(store().VerifySignedRequest(put.View()).status()) == "ok");
}

BOOST_FIXTURE_TEST_CASE(TamperedRequestsAreRejected, StoreFixture) {
  const IntegratorSecret integrator = MustCreateIntegrator();
  const IntegratorSecret other = MustCreateIntegrator("Other");
  const std::string id = integrator.integrator_id;
  const std::string secret(integrator.secret.view());

  struct Case {
    std::string what;
    OwnedSignedRequest request;
  };
  std::vector<Case> cases;
  {
    OwnedSignedRequest r = SignFresh(id, "not the secret");
    cases.push_back({"wrong secret", r});
    r = SignFresh(id, other.secret.view());
    cases.push_back({"another integrator's secret", r});
    r = SignFresh(id, secret);
    r.body += " ";
    cases.push_back({"wrong body", r});
    r = Sign(id, secret, "POST", kRotateTarget, "");
    r.body = "{}";
    cases.push_back({"body added to an empty-body signature", r});
    r = SignFresh(id, secret);
    r.method = "PUT";
    cases.push_back({"wrong method", r});
    r = SignFresh(id, secret);
    r.method = "post";
    cases.push_back({"method case changed", r});
    r = SignFresh(id, secret);
    r.target = std::string(kRotateTarget) + "?x=1";
    cases.push_back({"query added to the target", r});
    r = Sign(id, secret, "GET", "/v1/fences?a=1&b=2", "");
    r.target = "/v1/fences?b=2&a=1";
    cases.push_back({"query reordered", r});
    r = Sign(id, secret, "GET", "/v1/f%C3%BC", "");
    r.target = "/v1/f\xc3\xbc";
    cases.push_back({"target percent-decoded", r});
    r = SignFresh(id, secret);
    r.timestamp = MillisText(clock->Now() + 1ms);
    cases.push_back({"timestamp changed", r});
    r = SignFresh(id, secret);
    r.integrator_key = other.integrator_id;
    cases.push_back({"signed for another integrator", r});
    // Correctly signed, but not origin-form.
    r = Sign(id, secret, "GET", "https://api.example.com/v1/fences", "");
    cases.push_back({"absolute-form target", r});
    r = Sign(id, secret, "OPTIONS", "*", "");
    cases.push_back({"asterisk-form target", r});
  }
  // A refused request leaves no trace: the seen-cache takes only MACs that verified, so garbage
  // cannot fill the store.
  const std::vector<ScanEntry> before = Snapshot();
  for (const Case& c : cases) {
    BOOST_TEST_CONTEXT(c.what) {
      const Status status = store().VerifySignedRequest(c.request.View()).status();
      BOOST_TEST(status.code() == StatusCode::kUnauthorized, Describe(status));
    }
  }
  BOOST_TEST(SameRecords(before, Snapshot()), "a refused request wrote to the store");
  BOOST_TEST(Describe(VerifyFresh(id, secret).status()) == "ok");
}

BOOST_FIXTURE_TEST_CASE(MalformedSignaturesAreRejected, StoreFixture) {
  const IntegratorSecret integrator = MustCreateIntegrator();
  const OwnedSignedRequest good = SignFresh(integrator.integrator_id, integrator.secret.view());
  const std::string hex = good.signature.substr(7);
  BOOST_TEST_REQUIRE(good.signature.starts_with("sha256="));
  BOOST_TEST_REQUIRE(hex.size() == 64u);
  BOOST_TEST_REQUIRE(hex != ToUpper(hex), "the MAC happens to hold no letter; rerun");

  const std::vector<std::pair<std::string, std::string>> variants = {
      {"uppercase hex", "sha256=" + ToUpper(hex)},
      {"one uppercase digit", "sha256=" + ToUpper(hex.substr(0, hex.find_first_of("abcdef") + 1)) +
                                  hex.substr(hex.find_first_of("abcdef") + 1)},
      {"missing sha256= prefix", hex},
      {"uppercase prefix", "SHA256=" + hex},
      {"other algorithm", "sha512=" + hex},
      {"short hex", "sha256=" + hex.substr(0, 63)},
      {"long hex", "sha256=" + hex + "0"},
      {"non-hex digit", "sha256=" + hex.substr(0, 63) + "g"},
      {"space after prefix", "sha256= " + hex},
      {"trailing space", good.signature + " "},
      {"empty", ""},
  };
  const std::vector<ScanEntry> before = Snapshot();
  for (const auto& [what, signature] : variants) {
    BOOST_TEST_CONTEXT(what) {
      OwnedSignedRequest request = good;
      request.signature = signature;
      const Status status = store().VerifySignedRequest(request.View()).status();
      BOOST_TEST(status.code() == StatusCode::kUnauthorized, Describe(status));
    }
  }
  BOOST_TEST(SameRecords(before, Snapshot()), "a refused request wrote to the store");
  // The well-formed signature of the same MAC was right all along (and was not burnt by the
  // malformed attempts).
  BOOST_TEST(Describe(store().VerifySignedRequest(good.View()).status()) == "ok");
}

BOOST_FIXTURE_TEST_CASE(MalformedTimestampsAreRejected, StoreFixture) {
  const IntegratorSecret integrator = MustCreateIntegrator();
  const std::string now = MillisText(clock->Now());
  for (const std::string& timestamp :
       {now.substr(0, 5) + "x" + now.substr(6), "+" + now, " " + now, now + " ", now + ".0",
        std::string("1.7e12"), std::string("-1"), std::string("0x18BCFE56800"), std::string(),
        std::string(40, '9')}) {
    BOOST_TEST_CONTEXT("X-Timestamp \"" << timestamp << '"') {
      // Signed over exactly that text, so only the timestamp's form is wrong (an empty one
      // cannot be passed to Sign, which would use now).
      OwnedSignedRequest request = Sign(integrator.integrator_id, integrator.secret.view(), "POST",
                                        kRotateTarget, UniqueBody(), now);
      request.timestamp = timestamp;
      request.signature = SignRequest(integrator.secret.view(), timestamp, request.method,
                                      request.target, request.body);
      const Status status = store().VerifySignedRequest(request.View()).status();
      BOOST_TEST(status.code() == StatusCode::kUnauthorized, Describe(status));
    }
  }
}

BOOST_FIXTURE_TEST_CASE(TimestampsMoreThan300SecondsAwayAreRejected, StoreFixture) {
  const IntegratorSecret integrator = MustCreateIntegrator();
  const Timestamp now = clock->Now();
  auto verify_at = [&](Timestamp t) {
    const OwnedSignedRequest request = Sign(integrator.integrator_id, integrator.secret.view(),
                                            "POST", kRotateTarget, UniqueBody(), MillisText(t));
    return store().VerifySignedRequest(request.View()).status();
  };
  BOOST_TEST(verify_at(now - kTolerance - 1ms).code() == StatusCode::kUnauthorized,
             "now - 300001 ms is stale");
  BOOST_TEST(Describe(verify_at(now - kTolerance)) == "ok", "now - 300000 ms is accepted");
  BOOST_TEST(Describe(verify_at(now + kTolerance)) == "ok", "now + 300000 ms is accepted");
  BOOST_TEST(verify_at(now + kTolerance + 1ms).code() == StatusCode::kUnauthorized,
             "now + 300001 ms is in the future");
  BOOST_TEST(verify_at(now - 24h).code() == StatusCode::kUnauthorized);
}

BOOST_FIXTURE_TEST_CASE(ReplayedRequestsAreRejected, StoreFixture) {
  const IntegratorSecret integrator = MustCreateIntegrator();
  const OwnedSignedRequest request = SignFresh(integrator.integrator_id, integrator.secret.view());
  BOOST_TEST_REQUIRE(Describe(store().VerifySignedRequest(request.View()).status()) == "ok");

  BOOST_TEST(store().VerifySignedRequest(request.View()).status().code() ==
             StatusCode::kUnauthorized);
  OwnedSignedRequest flipped = request;
  flipped.signature = "sha256=" + ToUpper(request.signature.substr(7));
  BOOST_TEST(store().VerifySignedRequest(flipped.View()).status().code() ==
             StatusCode::kUnauthorized);

  // The seen-cache lives in the store, shared by every server over it.
  std::unique_ptr<CredentialStore> second = MustOpenSecondStore();
  BOOST_TEST(second->VerifySignedRequest(request.View()).status().code() ==
             StatusCode::kUnauthorized);

  // Still refused later in the window, and a replayed request cannot rotate either.
  clock->Advance(kTolerance - 1ms);
  BOOST_TEST(store().VerifySignedRequest(request.View()).status().code() ==
             StatusCode::kUnauthorized);
  const Version version = RecordVersion(*this, integrator.integrator_id);
  BOOST_TEST(store().RotateIntegratorSecret(Context(), request.View(), 0ms).status().code() ==
             StatusCode::kUnauthorized);
  BOOST_TEST(RecordVersion(*this, integrator.integrator_id) == version);
}

// A request stays acceptable until its timestamp is more than 300 s old, so it must stay
// remembered for that long too: at exactly timestamp + 300 s it is still inside the window.
BOOST_FIXTURE_TEST_CASE(ReplaysAreRefusedUpToTheLastMillisecondOfTheWindow, StoreFixture) {
  const IntegratorSecret integrator = MustCreateIntegrator();
  const Timestamp t = clock->Now();
  const OwnedSignedRequest request = SignFresh(integrator.integrator_id, integrator.secret.view());
  BOOST_TEST_REQUIRE(Describe(store().VerifySignedRequest(request.View()).status()) == "ok");

  clock->Set(t + kTolerance);
  // Control: a request never seen, signed at t, is still accepted now …
  const OwnedSignedRequest unseen = Sign(integrator.integrator_id, integrator.secret.view(), "POST",
                                         kRotateTarget, UniqueBody(), MillisText(t));
  BOOST_TEST(Describe(store().VerifySignedRequest(unseen.View()).status()) == "ok");
  // … so the one seen at t must still be refused.
  const Status replay = store().VerifySignedRequest(request.View()).status();
  BOOST_TEST(replay.code() == StatusCode::kUnauthorized,
             "a request replayed at timestamp + 300 s verified again: " << Describe(replay));

  // One millisecond later both are stale.
  clock->Set(t + kTolerance + 1ms);
  BOOST_TEST(store().VerifySignedRequest(request.View()).status().code() ==
             StatusCode::kUnauthorized);
}

BOOST_FIXTURE_TEST_CASE(UnknownIntegratorIsNotFound, StoreFixture) {
  const IntegratorSecret integrator = MustCreateIntegrator();
  std::string unknown = integrator.integrator_id;
  unknown.back() = unknown.back() == 'a' ? 'b' : 'a';
  const OwnedSignedRequest request = SignFresh(unknown, integrator.secret.view());
  BOOST_TEST(store().VerifySignedRequest(request.View()).status().code() == StatusCode::kNotFound);
  BOOST_TEST(store().RotateIntegratorSecret(Context(), request.View(), 0ms).status().code() ==
             StatusCode::kNotFound);
  BOOST_TEST(store().ResetIntegratorSecret(Context(), unknown).status().code() ==
             StatusCode::kNotFound);
  BOOST_TEST(store().DisableIntegrator(Context(), unknown).code() == StatusCode::kNotFound);

  const OwnedSignedRequest no_key = SignFresh("", integrator.secret.view());
  BOOST_TEST(store().VerifySignedRequest(no_key.View()).status().code() ==
             StatusCode::kUnauthorized);
}

BOOST_FIXTURE_TEST_CASE(DisabledIntegratorIsUnauthorized, StoreFixture) {
  const IntegratorSecret integrator = MustCreateIntegrator();
  const IntegratorSecret other = MustCreateIntegrator("Other");
  BOOST_TEST(Describe(store().DisableIntegrator(Context(), integrator.integrator_id)) == "ok");

  BOOST_TEST(VerifyFresh(integrator.integrator_id, integrator.secret.view()).status().code() ==
             StatusCode::kUnauthorized);
  BOOST_TEST(RotateWith(integrator.integrator_id, integrator.secret.view(), 0ms).status().code() ==
             StatusCode::kUnauthorized);
  Result<IntegratorInfo> info = store().GetIntegrator(integrator.integrator_id);
  BOOST_TEST_REQUIRE(info.ok(), Describe(info.status()));
  BOOST_TEST(!info->enabled);
  BOOST_TEST(info->generation == integrator.generation);
  BOOST_TEST(Describe(VerifyFresh(other.integrator_id, other.secret.view()).status()) == "ok");
}

// Enabling gives back what disabling took: the secret it had verifies and rotates again.
BOOST_FIXTURE_TEST_CASE(AnEnabledIntegratorVerifiesAgain, StoreFixture) {
  const IntegratorSecret integrator = MustCreateIntegrator();
  BOOST_TEST(Describe(store().DisableIntegrator(Context(), integrator.integrator_id)) == "ok");
  BOOST_TEST(Describe(store().EnableIntegrator(Context(), integrator.integrator_id)) == "ok");
  BOOST_TEST(Describe(store().EnableIntegrator(Context(), integrator.integrator_id)) == "ok");
  BOOST_TEST(Describe(VerifyFresh(integrator.integrator_id, integrator.secret.view()).status()) ==
             "ok");
  Result<IntegratorInfo> info = store().GetIntegrator(integrator.integrator_id);
  BOOST_TEST_REQUIRE(info.ok(), Describe(info.status()));
  BOOST_TEST(info->enabled);
  BOOST_TEST(
      Describe(RotateWith(integrator.integrator_id, integrator.secret.view(), 0ms).status()) ==
      "ok");
  std::string unknown = integrator.integrator_id;
  unknown.back() = unknown.back() == 'a' ? 'b' : 'a';
  BOOST_TEST(store().EnableIntegrator(Context(), unknown).code() == StatusCode::kNotFound);
}

// A deleted integrator is gone everywhere: not found to verify, rotate, reset, list or delete
// again; the others are untouched.
BOOST_FIXTURE_TEST_CASE(ADeletedIntegratorIsNotFoundEverywhere, StoreFixture) {
  const IntegratorSecret integrator = MustCreateIntegrator();
  const IntegratorSecret other = MustCreateIntegrator("Other");
  const std::size_t events = audit->Count();
  BOOST_TEST(Describe(store().DeleteIntegrator(Context(), integrator.integrator_id)) == "ok");
  BOOST_TEST(audit->Count() == events + 1);
  const std::string& id = integrator.integrator_id;
  BOOST_TEST(VerifyFresh(id, integrator.secret.view()).status().code() == StatusCode::kNotFound);
  BOOST_TEST(RotateWith(id, integrator.secret.view(), 0ms).status().code() ==
             StatusCode::kNotFound);
  BOOST_TEST(store().GetIntegrator(id).status().code() == StatusCode::kNotFound);
  BOOST_TEST(store().ResetIntegratorSecret(Context(), id).status().code() == StatusCode::kNotFound);
  BOOST_TEST(store().DeleteIntegrator(Context(), id).code() == StatusCode::kNotFound);
  Result<IntegratorPage> page = store().ListIntegrators("", 100);
  BOOST_TEST_REQUIRE(page.ok(), Describe(page.status()));
  BOOST_TEST(page->integrators.size() == 1u);
  BOOST_TEST(Describe(VerifyFresh(other.integrator_id, other.secret.view()).status()) == "ok");
}

// ---- Rotation ---------------------------------------------------------------------------------

// docs/http.md's timeline: S1 current; at T rotate with 3600 → S2 current, S1 until T+3600; at T+10
// rotate with 60 → S3 current, S2 until T+70, S1 gone; at T+20 rotate with 0 → S4 current, S3 and
// S2 gone.
BOOST_FIXTURE_TEST_CASE(RotationFollowsTheDesignsWorkedTimeline, StoreFixture) {
  const IntegratorSecret s1 = MustCreateIntegrator();
  const std::string id = s1.integrator_id;
  const Timestamp t = clock->Now();

  // At T: rotate with 3600 s.
  Result<IntegratorSecret> s2 = RotateWith(id, s1.secret.view(), 3600s);
  BOOST_TEST_REQUIRE(s2.ok(), Describe(s2.status()));
  BOOST_TEST(s2->integrator_id == id);
  BOOST_TEST(s2->generation > s1.generation);
  BOOST_TEST(ExpiryText(s2->old_secret_expires_at) == ExpiryText(t + 3600s));
  {
    Result<VerifiedRequest> by_s1 = VerifyFresh(id, s1.secret.view());
    BOOST_TEST_REQUIRE(by_s1.ok(), Describe(by_s1.status()));
    BOOST_TEST(!by_s1->signed_with_current);
    BOOST_TEST(by_s1->generation == s1.generation);
    Result<VerifiedRequest> by_s2 = VerifyFresh(id, s2->secret.view());
    BOOST_TEST_REQUIRE(by_s2.ok(), Describe(by_s2.status()));
    BOOST_TEST(by_s2->signed_with_current);
    BOOST_TEST(by_s2->generation == s2->generation);
    Result<IntegratorInfo> info = store().GetIntegrator(id);
    BOOST_TEST_REQUIRE(info.ok());
    BOOST_TEST(info->generation == s2->generation);
    BOOST_TEST(ExpiryText(info->old_secret_expires_at) == ExpiryText(t + 3600s));
  }

  // At T+10: rotate with 60 s.
  clock->Set(t + 10s);
  Result<IntegratorSecret> s3 = RotateWith(id, s2->secret.view(), 60s);
  BOOST_TEST_REQUIRE(s3.ok(), Describe(s3.status()));
  BOOST_TEST(s3->generation > s2->generation);
  BOOST_TEST(ExpiryText(s3->old_secret_expires_at) == ExpiryText(t + 70s));
  {
    BOOST_TEST(VerifyFresh(id, s1.secret.view()).status().code() == StatusCode::kUnauthorized,
               "S1 must be gone once S2 is rotated out");
    Result<VerifiedRequest> by_s2 = VerifyFresh(id, s2->secret.view());
    BOOST_TEST_REQUIRE(by_s2.ok(), Describe(by_s2.status()));
    BOOST_TEST(!by_s2->signed_with_current);
    BOOST_TEST(by_s2->generation == s2->generation);
    Result<VerifiedRequest> by_s3 = VerifyFresh(id, s3->secret.view());
    BOOST_TEST_REQUIRE(by_s3.ok(), Describe(by_s3.status()));
    BOOST_TEST(by_s3->signed_with_current);
    Result<IntegratorInfo> info = store().GetIntegrator(id);
    BOOST_TEST_REQUIRE(info.ok());
    BOOST_TEST(ExpiryText(info->old_secret_expires_at) == ExpiryText(t + 70s));
  }

  // At T+20: rotate with 0.
  clock->Set(t + 20s);
  Result<IntegratorSecret> s4 = RotateWith(id, s3->secret.view(), 0ms);
  BOOST_TEST_REQUIRE(s4.ok(), Describe(s4.status()));
  BOOST_TEST(!s4->old_secret_expires_at.has_value());
  BOOST_TEST(VerifyFresh(id, s1.secret.view()).status().code() == StatusCode::kUnauthorized);
  BOOST_TEST(VerifyFresh(id, s2->secret.view()).status().code() == StatusCode::kUnauthorized,
             "S2 must be gone at T+20 although its grace ran to T+70");
  BOOST_TEST(VerifyFresh(id, s3->secret.view()).status().code() == StatusCode::kUnauthorized);
  Result<VerifiedRequest> by_s4 = VerifyFresh(id, s4->secret.view());
  BOOST_TEST_REQUIRE(by_s4.ok(), Describe(by_s4.status()));
  BOOST_TEST(by_s4->signed_with_current);
  Result<IntegratorInfo> info = store().GetIntegrator(id);
  BOOST_TEST_REQUIRE(info.ok());
  BOOST_TEST(info->generation == s4->generation);
  BOOST_TEST(!info->old_secret_expires_at.has_value());
}

BOOST_FIXTURE_TEST_CASE(GracedSecretVerifiesUntilExactlyItsExpiry, StoreFixture) {
  const IntegratorSecret s1 = MustCreateIntegrator();
  const std::string id = s1.integrator_id;
  const Timestamp t = clock->Now();
  Result<IntegratorSecret> s2 = RotateWith(id, s1.secret.view(), 3600s);
  BOOST_TEST_REQUIRE(s2.ok(), Describe(s2.status()));

  clock->Set(t + 3600s - 1ms);
  BOOST_TEST(Describe(VerifyFresh(id, s1.secret.view()).status()) == "ok",
             "the old secret must verify at expiry - 1 ms");
  clock->Set(t + 3600s);
  BOOST_TEST(VerifyFresh(id, s1.secret.view()).status().code() == StatusCode::kUnauthorized,
             "the old secret must stop verifying at exactly its expiry (now < expiry)");
  BOOST_TEST(Describe(VerifyFresh(id, s2->secret.view()).status()) == "ok");
  Result<IntegratorInfo> info = store().GetIntegrator(id);
  BOOST_TEST_REQUIRE(info.ok());
  BOOST_TEST(!info->old_secret_expires_at.has_value(),
             "old_secret_expires_at is set only while an old secret is still valid");

  // Same for the second rotation of the timeline, S2 until T+3600+60.
  Result<IntegratorSecret> s3 = RotateWith(id, s2->secret.view(), 60s);
  BOOST_TEST_REQUIRE(s3.ok(), Describe(s3.status()));
  clock->Set(t + 3660s - 1ms);
  BOOST_TEST(Describe(VerifyFresh(id, s2->secret.view()).status()) == "ok");
  clock->Set(t + 3660s);
  BOOST_TEST(VerifyFresh(id, s2->secret.view()).status().code() == StatusCode::kUnauthorized);
}

BOOST_FIXTURE_TEST_CASE(AGracedOldSecretCannotRotate, StoreFixture) {
  const IntegratorSecret s1 = MustCreateIntegrator();
  const std::string id = s1.integrator_id;
  Result<IntegratorSecret> s2 = RotateWith(id, s1.secret.view(), 3600s);
  BOOST_TEST_REQUIRE(s2.ok(), Describe(s2.status()));

  // It still verifies for the host's other routes …
  Result<VerifiedRequest> by_s1 = VerifyFresh(id, s1.secret.view());
  BOOST_TEST_REQUIRE(by_s1.ok(), Describe(by_s1.status()));
  BOOST_TEST(!by_s1->signed_with_current);

  // … but cannot rotate, with any grace, and nothing changes.
  const Version version = RecordVersion(*this, id);
  const std::size_t events = audit->Count();
  Result<IntegratorInfo> before = store().GetIntegrator(id);
  BOOST_TEST_REQUIRE(before.ok());
  for (const std::chrono::milliseconds grace : {0ms, 60'000ms, 3'600'000ms}) {
    BOOST_TEST_CONTEXT("grace " << grace.count() << " ms") {
      Result<IntegratorSecret> takeover = RotateWith(id, s1.secret.view(), grace);
      BOOST_TEST(takeover.status().code() == StatusCode::kUnauthorized,
                 "a graced old secret rotated: " << Describe(takeover.status()));
    }
  }
  BOOST_TEST(RecordVersion(*this, id) == version, "a refused rotation wrote the record");
  BOOST_TEST(audit->Count() == events);
  Result<IntegratorInfo> after = store().GetIntegrator(id);
  BOOST_TEST_REQUIRE(after.ok());
  BOOST_TEST(after->generation == before->generation);
  BOOST_TEST(ExpiryText(after->old_secret_expires_at) == ExpiryText(before->old_secret_expires_at));
  Result<VerifiedRequest> by_s2 = VerifyFresh(id, s2->secret.view());
  BOOST_TEST_REQUIRE(by_s2.ok(), Describe(by_s2.status()));
  BOOST_TEST(by_s2->signed_with_current);
  BOOST_TEST(Describe(VerifyFresh(id, s1.secret.view()).status()) == "ok");
}

BOOST_FIXTURE_TEST_CASE(GraceZeroDropsTheOldSecretAtOnce, StoreFixture) {
  const IntegratorSecret s1 = MustCreateIntegrator();
  Result<IntegratorSecret> s2 = RotateWith(s1.integrator_id, s1.secret.view(), 0ms);
  BOOST_TEST_REQUIRE(s2.ok(), Describe(s2.status()));
  BOOST_TEST(!s2->old_secret_expires_at.has_value());
  BOOST_TEST(VerifyFresh(s1.integrator_id, s1.secret.view()).status().code() ==
             StatusCode::kUnauthorized);
  BOOST_TEST(Describe(VerifyFresh(s1.integrator_id, s2->secret.view()).status()) == "ok");

  // A grace of 1 ms is a real grace.
  const Timestamp t = clock->Now();
  Result<IntegratorSecret> s3 = RotateWith(s1.integrator_id, s2->secret.view(), 1ms);
  BOOST_TEST_REQUIRE(s3.ok(), Describe(s3.status()));
  BOOST_TEST(ExpiryText(s3->old_secret_expires_at) == ExpiryText(t + 1ms));
  BOOST_TEST(Describe(VerifyFresh(s1.integrator_id, s2->secret.view()).status()) == "ok");
}

BOOST_FIXTURE_TEST_CASE(RotationGraceOutOfRangeIsRefusedFirstAndChangesNothing, StoreFixture) {
  const IntegratorSecret s1 = MustCreateIntegrator();
  const OwnedSignedRequest request = SignFresh(s1.integrator_id, s1.secret.view());
  const std::vector<ScanEntry> before = Snapshot();
  for (const std::chrono::milliseconds grace : {-1ms, 3'600'001ms}) {
    BOOST_TEST_CONTEXT("grace " << grace.count() << " ms") {
      BOOST_TEST(store().RotateIntegratorSecret(Context(), request.View(), grace).status().code() ==
                 StatusCode::kInvalidArgument);
    }
  }
  BOOST_TEST(SameRecords(before, Snapshot()), "a refused rotation changed the store");
  // The request was not consumed: it rotates with a valid grace (exactly 3600 s).
  Result<IntegratorSecret> s2 = store().RotateIntegratorSecret(Context(), request.View(), 3600s);
  BOOST_TEST(Describe(s2.status()) == "ok");
}

BOOST_FIXTURE_TEST_CASE(ResetIntegratorSecretDropsEveryOtherSecret, StoreFixture) {
  const IntegratorSecret s1 = MustCreateIntegrator();
  const std::string id = s1.integrator_id;
  Result<IntegratorSecret> s2 = RotateWith(id, s1.secret.view(), 3600s);
  BOOST_TEST_REQUIRE(s2.ok(), Describe(s2.status()));

  Result<IntegratorSecret> s3 = store().ResetIntegratorSecret(Context(), id);
  BOOST_TEST_REQUIRE(s3.ok(), Describe(s3.status()));
  BOOST_TEST(s3->integrator_id == id);
  BOOST_TEST(s3->generation > s2->generation);
  BOOST_TEST(!s3->old_secret_expires_at.has_value());
  BOOST_TEST(VerifyFresh(id, s1.secret.view()).status().code() == StatusCode::kUnauthorized);
  BOOST_TEST(VerifyFresh(id, s2->secret.view()).status().code() == StatusCode::kUnauthorized);
  Result<VerifiedRequest> by_s3 = VerifyFresh(id, s3->secret.view());
  BOOST_TEST_REQUIRE(by_s3.ok(), Describe(by_s3.status()));
  BOOST_TEST(by_s3->signed_with_current);
  Result<IntegratorInfo> info = store().GetIntegrator(id);
  BOOST_TEST_REQUIRE(info.ok());
  BOOST_TEST(!info->old_secret_expires_at.has_value());
  BOOST_TEST(info->generation == s3->generation);
}

// ---- Listing ----------------------------------------------------------------------------------

BOOST_FIXTURE_TEST_CASE(ListIntegratorsPagesInIdOrder, StoreFixture) {
  Result<IntegratorPage> empty = store().ListIntegrators("", 10);
  BOOST_TEST_REQUIRE(empty.ok(), Describe(empty.status()));
  BOOST_TEST(empty->integrators.empty());
  BOOST_TEST(empty->next_cursor.empty());

  std::set<std::string> created;
  for (int i = 0; i < 5; ++i) {
    created.insert(MustCreateIntegrator("label " + std::to_string(i)).integrator_id);
  }
  std::vector<IntegratorInfo> listed;
  std::string cursor;
  int pages = 0;
  for (; pages < 10; ++pages) {
    Result<IntegratorPage> page = store().ListIntegrators(cursor, 2);
    BOOST_TEST_REQUIRE(page.ok(), Describe(page.status()));
    BOOST_TEST(page->integrators.size() <= 2u);
    for (IntegratorInfo& info : page->integrators) listed.push_back(std::move(info));
    if (page->next_cursor.empty()) break;
    cursor = page->next_cursor;
  }
  BOOST_TEST(pages < 10, "ListIntegrators did not end");
  BOOST_TEST(pages >= 2, "5 integrators 2 at a time need at least 3 pages");
  std::vector<std::string> ids;
  for (const IntegratorInfo& info : listed) ids.push_back(info.integrator_id);
  BOOST_TEST(std::is_sorted(ids.begin(), ids.end()));
  BOOST_TEST((std::adjacent_find(ids.begin(), ids.end()) == ids.end()), "an id was listed twice");
  BOOST_TEST(std::set<std::string>(ids.begin(), ids.end()) == created);
  for (const IntegratorInfo& info : listed) {
    BOOST_TEST(info.label.starts_with("label "));
    BOOST_TEST(info.enabled);
  }

  BOOST_TEST(store().ListIntegrators("", 0).status().code() == StatusCode::kInvalidArgument);
  BOOST_TEST(store().ListIntegrators("", 1001).status().code() == StatusCode::kInvalidArgument);
  Result<IntegratorPage> all = store().ListIntegrators("", 1000);
  BOOST_TEST_REQUIRE(all.ok(), Describe(all.status()));
  BOOST_TEST(all->integrators.size() == 5u);
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace
}  // namespace credstore::testing
