// CredentialStore, device tokens (docs/security-model.md, "Throttling"): every successful secret
// check returns a device token whose keyed digest the customer record keeps (at most 8, most
// recent first, 30 days by the Clock); a request presenting one the record holds skips the
// per-customer bucket and counts its failures in a bucket of its own instead of the address's;
// any other token is no token, with the same answer.
//
// The first case is issue 13's attack: whoever knows the API key keeps the per-customer bucket
// empty from addresses that each stay under the per-address limit; without a device token the
// owner could not rotate a leaked admin key.
//
// Every backend runs these tests unchanged, through Harness() only. Time moves only through the
// fixture's ManualClock. Some checks are white-box: they read the customer record with the
// core's own codec (core/src/records.h), as the at-rest tests do.
#include <boost/test/unit_test.hpp>
#include <chrono>
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "../../core/src/records.h"
#include "credstore/credential_store.h"
#include "credstore/request_context.h"
#include "credstore/status.h"
#include "store_fixture.h"

namespace credstore::testing {
namespace {

using namespace std::chrono_literals;

constexpr std::string_view kApiKey = "device-token-customer";
constexpr std::string_view kOtherApiKey = "device-token-neighbour";
constexpr std::string_view kSecret = "the owner's own secret";
constexpr std::string_view kWrongSecret = "an attacker's guess";
constexpr std::string_view kOwner = "198.51.100.20";

RequestContext WithToken(RequestContext context, std::string_view device_token) {
  context.device_token = std::string(device_token);
  return context;
}

bool IsWellFormedToken(std::string_view token) {
  if (token.size() != 32) return false;
  for (char c : token) {
    const bool alnum = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
    if (!alnum) return false;
  }
  return true;
}

Result<AdminKeyGrant> Regenerate(StoreFixture& f, const RequestContext& context) {
  return f.store().RegenerateAdminKey(context, kService, kApiKey, kSecret);
}

// A guess from the attacker's `n`-th address of 203.0.113.0/24.
Status Guess(StoreFixture& f, int address) {
  return f.store()
      .RegenerateAdminKey(f.Context("203.0.113." + std::to_string(address)), kService, kApiKey,
                          kWrongSecret)
      .status();
}

// Spends the customer's whole bucket (burst `burst`) with wrong guesses, one address each, and
// checks the next guess is throttled.
void ExhaustCustomerBucket(StoreFixture& f, int burst) {
  for (int i = 0; i < burst; ++i) {
    BOOST_TEST_REQUIRE(Guess(f, 100 + i).code() == StatusCode::kUnauthorized);
  }
  BOOST_TEST_REQUIRE(Guess(f, 100 + burst).code() == StatusCode::kThrottled);
}

// The customer record as stored (white-box).
internal::CustomerRecord ReadRecord(StoreFixture& f, std::string_view api_key) {
  const std::string key = internal::CustomerKey(
      kService,
      internal::KeyedDigest(f.keyring.pepper().bytes, internal::DigestKind::kApiKey, api_key));
  Result<VersionedValue> stored = f.backend->Get(key, f.clock->Now());
  BOOST_TEST_REQUIRE(stored.ok(), Describe(stored.status()));
  Result<internal::CustomerRecord> record = internal::DecodeCustomer(stored->value);
  BOOST_TEST_REQUIRE(record.ok(), Describe(record.status()));
  return std::move(record).value();
}

internal::Digest DigestOf(const StoreFixture& f, std::string_view device_token) {
  return internal::KeyedDigest(f.keyring.pepper().bytes, internal::DigestKind::kDeviceToken,
                               device_token);
}

// A policy where only the limit under test can trigger.
ThrottlePolicy Generous() {
  ThrottlePolicy policy;
  policy.failures_per_address = 1000;
  policy.customer_burst = 1000;
  policy.registrations_per_address = 1000;
  return policy;
}

BOOST_AUTO_TEST_SUITE(credential_device_token)

// Issue 13, with the default policy (burst 20, a token every 6 s, 10 failures per address per
// 15 min): 24 guesses from 3 addresses, then one every 2 s from fresh addresses (8 each). The
// owner tries the right secret every 5 s for 75 s, first without a device token, then with the
// newest one its successes gave it.
BOOST_FIXTURE_TEST_CASE(AnAttackerWhoKnowsTheApiKeyCannotLockTheOwnerOut, StoreFixture) {
  const AdminKeyGrant registered = MustRegister(kApiKey, kSecret);
  std::string device_token(registered.device_token.view());
  std::string admin_key(registered.admin_key.view());  // the leaked one

  int guesses = 0;
  int guesses_throttled = 0;
  auto guess = [&] {
    const Status status = Guess(*this, 1 + guesses / 8);  // a fresh address every 8 guesses
    ++guesses;
    if (status.code() == StatusCode::kThrottled) ++guesses_throttled;
    BOOST_TEST(
        (status.code() == StatusCode::kUnauthorized || status.code() == StatusCode::kThrottled),
        Describe(status));
  };
  for (int i = 0; i < 24; ++i) guess();

  int without_token_ok = 0;
  int without_token_throttled = 0;
  int with_token_ok = 0;
  for (int second = 1; second <= 75; ++second) {
    clock->Advance(1s);
    if (second % 2 == 0) guess();  // the attacker goes first when both act in one second
    if (second % 5 != 0) continue;
    BOOST_TEST_CONTEXT("the owner at t=" << second << "s") {
      const Status plain = Regenerate(*this, Context(kOwner)).status();
      if (plain.ok()) ++without_token_ok;
      if (plain.code() == StatusCode::kThrottled) ++without_token_throttled;

      Result<AdminKeyGrant> with_token =
          Regenerate(*this, WithToken(Context(kOwner), device_token));
      BOOST_TEST(Describe(with_token.status()) == "ok");
      if (with_token.ok()) {
        ++with_token_ok;
        device_token = std::string(with_token->device_token.view());
        admin_key = std::string(with_token->admin_key.view());
      }
    }
  }
  BOOST_TEST(without_token_ok == 0, "the attack no longer keeps the bucket empty");
  BOOST_TEST(without_token_throttled == 15);
  BOOST_TEST(with_token_ok == 15, "the owner's device succeeded " << with_token_ok << "/15 times");
  BOOST_TEST(guesses_throttled > 0);
  // The leaked admin key was rotated away; the owner's newest one works.
  BOOST_TEST(store().VerifyAdminKey(kService, kApiKey, registered.admin_key.view()).code() ==
             StatusCode::kUnauthorized);
  BOOST_TEST(Describe(store().VerifyAdminKey(kService, kApiKey, admin_key)) == "ok");
}

BOOST_FIXTURE_TEST_CASE(EverySuccessfulSecretCheckReturnsANewDeviceToken, StoreFixture) {
  const AdminKeyGrant registered = MustRegister(kApiKey, kSecret);
  Result<AdminKeyGrant> regenerated = Regenerate(*this, Context());
  BOOST_TEST_REQUIRE(regenerated.ok(), Describe(regenerated.status()));
  Result<SecretUpdate> updated =
      store().UpdateSecret(Context(), kService, kApiKey, kSecret, "a newer secret");
  BOOST_TEST_REQUIRE(updated.ok(), Describe(updated.status()));

  const std::vector<std::string> tokens = {std::string(registered.device_token.view()),
                                           std::string(regenerated->device_token.view()),
                                           std::string(updated->device_token.view())};
  for (const std::string& token : tokens) {
    BOOST_TEST(IsWellFormedToken(token), "not 32 characters of [A-Za-z0-9]");
  }
  BOOST_TEST(tokens[0] != tokens[1]);
  BOOST_TEST(tokens[1] != tokens[2]);
  BOOST_TEST(tokens[0] != tokens[2]);

  // Kept as digests, most recent first.
  const internal::CustomerRecord record = ReadRecord(*this, kApiKey);
  BOOST_TEST_REQUIRE(record.device_tokens.size() == 3u);
  for (std::size_t i = 0; i < 3; ++i) {
    BOOST_TEST((record.device_tokens[i].digest == DigestOf(*this, tokens[2 - i])), "slot " << i);
    BOOST_TEST((record.device_tokens[i].expires_at == clock->Now() + kDeviceTokenLifetime));
  }

  // The operator's reset checks no secret: it issues no token, and the customer starts over.
  Result<AdminKeyGrant> reset =
      store().ResetCustomer(Context(), kService, kApiKey, "an operator's secret");
  BOOST_TEST_REQUIRE(reset.ok(), Describe(reset.status()));
  BOOST_TEST(reset->device_token.empty());
  BOOST_TEST(ReadRecord(*this, kApiKey).device_tokens.empty());
}

BOOST_FIXTURE_TEST_CASE(AnyTokenTheRecordDoesNotHoldIsNoToken, StoreFixture) {
  Options o = TestOptions();
  o.throttle = Generous();
  o.throttle.customer_burst = 3;
  Reopen(o);
  const AdminKeyGrant owner = MustRegister(kApiKey, kSecret);
  const AdminKeyGrant neighbour = MustRegister(kOtherApiKey, kSecret);
  ExhaustCustomerBucket(*this, 3);

  const Status plain = Regenerate(*this, Context(kOwner)).status();
  BOOST_TEST_REQUIRE(plain.code() == StatusCode::kThrottled, Describe(plain));
  std::string flipped(owner.device_token.view());
  flipped[0] = flipped[0] == 'A' ? 'B' : 'A';
  const std::vector<std::pair<std::string, std::string>> strangers = {
      {"malformed", "not-a-device-token"},
      {"too long", std::string(owner.device_token.view()) + "x"},
      {"well-formed, never issued", std::string(32, 'Q')},
      {"one character changed", flipped},
      {"another customer's", std::string(neighbour.device_token.view())},
  };
  for (const auto& stranger : strangers) {
    BOOST_TEST_CONTEXT(stranger.first) {
      const Status answer = Regenerate(*this, WithToken(Context(kOwner), stranger.second)).status();
      BOOST_TEST(answer.code() == plain.code(), Describe(answer));
      BOOST_TEST(answer.message() == plain.message());
      BOOST_TEST(answer.retry_after() == plain.retry_after());
    }
  }
  // A wrong secret with a stranger's token reads as one without a token, too.
  Options open = o;
  open.throttle = Generous();
  Reopen(open);
  const AdminKeyGrant again = MustRegister(kApiKey, kSecret);
  const Status wrong =
      store().RegenerateAdminKey(Context(kOwner), kService, kApiKey, kWrongSecret).status();
  const Status wrong_with_stranger =
      store()
          .RegenerateAdminKey(WithToken(Context(kOwner), std::string(32, 'Q')), kService, kApiKey,
                              kWrongSecret)
          .status();
  BOOST_TEST(wrong.code() == StatusCode::kUnauthorized);
  BOOST_TEST(wrong_with_stranger.code() == wrong.code());
  BOOST_TEST(wrong_with_stranger.message() == wrong.message());
  (void)again;
}

BOOST_FIXTURE_TEST_CASE(TheNinthTokenEvictsTheOldest, StoreFixture) {
  Options o = TestOptions();
  o.throttle = Generous();
  o.throttle.customer_burst = 3;
  Reopen(o);
  std::vector<std::string> tokens;
  tokens.emplace_back(MustRegister(kApiKey, kSecret).device_token.view());
  for (int i = 0; i < 8; ++i) {
    Result<AdminKeyGrant> grant = Regenerate(*this, Context(kOwner));
    BOOST_TEST_REQUIRE(grant.ok(), Describe(grant.status()));
    tokens.emplace_back(grant->device_token.view());
  }
  const internal::CustomerRecord record = ReadRecord(*this, kApiKey);
  BOOST_TEST_REQUIRE(record.device_tokens.size() == kMaxDeviceTokens);
  for (std::size_t i = 0; i < kMaxDeviceTokens; ++i) {
    BOOST_TEST((record.device_tokens[i].digest == DigestOf(*this, tokens[8 - i])), "slot " << i);
  }

  ExhaustCustomerBucket(*this, 3);
  const Status evicted = Regenerate(*this, WithToken(Context(kOwner), tokens[0])).status();
  BOOST_TEST(evicted.code() == StatusCode::kThrottled, Describe(evicted));
  // The oldest one still held works (and, used, gives way to the token this success mints).
  BOOST_TEST(Describe(Regenerate(*this, WithToken(Context(kOwner), tokens[1])).status()) == "ok");
  BOOST_TEST(Describe(Regenerate(*this, WithToken(Context(kOwner), tokens[8])).status()) == "ok");
  BOOST_TEST(ReadRecord(*this, kApiKey).device_tokens.size() == kMaxDeviceTokens);
}

BOOST_FIXTURE_TEST_CASE(DeviceTokensExpireAfterThirtyDaysByTheClock, StoreFixture) {
  Options o = TestOptions();
  o.throttle = Generous();
  o.throttle.customer_burst = 3;
  Reopen(o);
  const std::string first(MustRegister(kApiKey, kSecret).device_token.view());

  clock->Advance(kDeviceTokenLifetime - 1s);
  ExhaustCustomerBucket(*this, 3);
  Result<AdminKeyGrant> last_day = Regenerate(*this, WithToken(Context(kOwner), first));
  BOOST_TEST_REQUIRE(last_day.ok(), Describe(last_day.status()));
  const std::string second(last_day->device_token.view());
  BOOST_TEST(ReadRecord(*this, kApiKey).device_tokens.size() == 2u);

  clock->Advance(1s);  // `first` expires now; the bucket is still empty
  const Status expired = Regenerate(*this, WithToken(Context(kOwner), first)).status();
  BOOST_TEST(expired.code() == StatusCode::kThrottled, Describe(expired));
  Result<AdminKeyGrant> fresh = Regenerate(*this, WithToken(Context(kOwner), second));
  BOOST_TEST_REQUIRE(fresh.ok(), Describe(fresh.status()));
  // The write dropped the expired token's digest.
  const internal::CustomerRecord record = ReadRecord(*this, kApiKey);
  BOOST_TEST_REQUIRE(record.device_tokens.size() == 2u);
  BOOST_TEST((record.device_tokens[0].digest == DigestOf(*this, fresh->device_token.view())));
  BOOST_TEST((record.device_tokens[1].digest == DigestOf(*this, second)));
}

// A device's failures go to the token's own bucket: not the customer's (strangers keep theirs)
// nor the address's (the owner's other devices there keep theirs), and it has a limit too.
BOOST_FIXTURE_TEST_CASE(ADeviceTokensFailuresCountInABucketOfItsOwn, StoreFixture) {
  Options o = TestOptions();
  o.throttle = Generous();
  o.throttle.failures_per_address = 3;
  o.throttle.customer_burst = 3;
  Reopen(o);
  const std::string token(MustRegister(kApiKey, kSecret).device_token.view());
  const RequestContext device = WithToken(Context(kOwner), token);
  for (int i = 0; i < 3; ++i) {
    BOOST_TEST(
        store().RegenerateAdminKey(device, kService, kApiKey, kWrongSecret).status().code() ==
        StatusCode::kUnauthorized);
  }
  const Status limited = Regenerate(*this, device).status();
  BOOST_TEST(limited.code() == StatusCode::kThrottled, Describe(limited));
  BOOST_TEST(limited.retry_after() > 0ms);
  BOOST_TEST(limited.retry_after() <= o.throttle.address_window);

  // Neither the address nor the customer bucket was spent.
  BOOST_TEST(Describe(Regenerate(*this, Context(kOwner)).status()) == "ok");
  ExhaustCustomerBucket(*this, 3);

  // The token's window ends: the device may try again, whatever strangers did meanwhile.
  clock->Advance(o.throttle.address_window);
  ExhaustCustomerBucket(*this, 3);
  BOOST_TEST(Describe(Regenerate(*this, device).status()) == "ok");
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace
}  // namespace credstore::testing
