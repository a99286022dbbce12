// CredentialStore, throttling and the Argon2id budget (docs/security-model.md): failed secret
// attempts are counted per client address (IPv4 /32, IPv6 /64) and per customer (a token bucket: a
// rate, not a lockout), reserved before any Argon2id work; unknown API keys are throttled exactly
// like known ones; registrations are rate-limited per address; at most
// Options::max_concurrent_hashes Argon2id computations run at once.
//
// Every backend runs these tests unchanged, through Harness() only. Time moves only through the
// fixture's ManualClock.
#include <boost/test/unit_test.hpp>
#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
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

constexpr std::string_view kApiKey = "throttled-customer-1";
constexpr std::string_view kUnknownApiKey = "never-registered-key";
constexpr std::string_view kSecret = "the right secret";
constexpr std::string_view kWrongSecret = "a wrong secret";
constexpr std::string_view kAttacker = "203.0.113.66";
constexpr std::string_view kOwner = "198.51.100.20";

Status Regenerate(StoreFixture& f, std::string_view address, std::string_view secret,
                  std::string_view api_key = kApiKey) {
  return f.store().RegenerateAdminKey(f.Context(address), kService, api_key, secret).status();
}

// A policy where only the limit under test can trigger.
ThrottlePolicy Generous() {
  ThrottlePolicy policy;
  policy.failures_per_address = 1000;
  policy.customer_burst = 1000;
  policy.registrations_per_address = 1000;
  return policy;
}

BOOST_AUTO_TEST_SUITE(credential_throttle)

// ---- Per address ------------------------------------------------------------------------------

BOOST_FIXTURE_TEST_CASE(AnAttackersAddressCannotStopTheOwnersAddress, StoreFixture) {
  Options o = TestOptions();
  o.throttle = Generous();
  o.throttle.failures_per_address = 3;
  o.throttle.address_window = 15min;
  Reopen(o);
  MustRegister(kApiKey, kSecret);

  // Failed attempts of both kinds of secret check count in one bucket.
  BOOST_TEST(Regenerate(*this, kAttacker, kWrongSecret).code() == StatusCode::kUnauthorized);
  BOOST_TEST(Regenerate(*this, kAttacker, kWrongSecret).code() == StatusCode::kUnauthorized);
  BOOST_TEST(store()
                 .UpdateSecret(Context(kAttacker), kService, kApiKey, kWrongSecret, "new secret")
                 .status()
                 .code() == StatusCode::kUnauthorized);

  const StoreStats before = store().Stats();
  const Status right_but_throttled = Regenerate(*this, kAttacker, kSecret);
  BOOST_TEST(right_but_throttled.code() == StatusCode::kThrottled,
             "after failures_per_address failures even the right secret must be throttled; got "
                 << Describe(right_but_throttled));
  BOOST_TEST(right_but_throttled.retry_after() > 0ms);
  BOOST_TEST(right_but_throttled.retry_after() <= 15min);
  BOOST_TEST(store().Stats().argon2_verifications == before.argon2_verifications,
             "a throttled attempt must be refused before any Argon2id work");
  BOOST_TEST(store().Stats().throttled > before.throttled);

  // The owner, elsewhere, is not affected.
  BOOST_TEST(Describe(Regenerate(*this, kOwner, kSecret)) == "ok",
             "an attacker's address must not stop the owner's address");

  // The window ends: the address may try again.
  clock->Advance(15min);
  BOOST_TEST(Describe(Regenerate(*this, kAttacker, kSecret)) == "ok");
}

BOOST_FIXTURE_TEST_CASE(RightSecretsDoNotUseUpTheAddressAllowance, StoreFixture) {
  Options o = TestOptions();
  o.throttle = Generous();
  o.throttle.failures_per_address = 2;
  Reopen(o);
  MustRegister(kApiKey, kSecret);
  for (int i = 0; i < 6; ++i) {
    BOOST_TEST_CONTEXT("successful attempt #" << i) {
      BOOST_TEST(Describe(Regenerate(*this, kOwner, kSecret)) == "ok");
    }
  }
  BOOST_TEST(Regenerate(*this, kOwner, kWrongSecret).code() == StatusCode::kUnauthorized);
  BOOST_TEST(Describe(Regenerate(*this, kOwner, kSecret)) == "ok");
}

BOOST_FIXTURE_TEST_CASE(Ipv6AddressesShareABucketPerSlash64, StoreFixture) {
  Options o = TestOptions();
  o.throttle = Generous();
  o.throttle.failures_per_address = 2;
  Reopen(o);
  MustRegister(kApiKey, kSecret);

  BOOST_TEST(Regenerate(*this, "2001:db8:1:2::1", kWrongSecret).code() ==
             StatusCode::kUnauthorized);
  BOOST_TEST(Regenerate(*this, "2001:DB8:1:2:ffff:ffff:ffff:ffff", kWrongSecret).code() ==
             StatusCode::kUnauthorized);

  for (const std::string_view same_64 :
       {"2001:db8:1:2::abcd", "2001:0db8:0001:0002:0000:0000:0000:0001", "2001:db8:1:2:1:2:3:4"}) {
    BOOST_TEST_CONTEXT("same /64: " << same_64) {
      BOOST_TEST(Regenerate(*this, same_64, kSecret).code() == StatusCode::kThrottled);
    }
  }
  for (const std::string_view other_64 :
       {"2001:db8:1:3::1", "2001:db8:2:2::1", "2001:db9:1:2::1"}) {
    BOOST_TEST_CONTEXT("another /64: " << other_64) {
      BOOST_TEST(Describe(Regenerate(*this, other_64, kSecret)) == "ok");
    }
  }
}

BOOST_FIXTURE_TEST_CASE(Ipv4AddressesHaveABucketEachAndMappedIpv6CountsAsIpv4, StoreFixture) {
  Options o = TestOptions();
  o.throttle = Generous();
  o.throttle.failures_per_address = 2;
  Reopen(o);
  MustRegister(kApiKey, kSecret);

  BOOST_TEST(Regenerate(*this, "203.0.113.7", kWrongSecret).code() == StatusCode::kUnauthorized);
  BOOST_TEST(Regenerate(*this, "203.0.113.7", kWrongSecret).code() == StatusCode::kUnauthorized);
  BOOST_TEST(Regenerate(*this, "203.0.113.7", kSecret).code() == StatusCode::kThrottled);
  BOOST_TEST(Regenerate(*this, "::ffff:203.0.113.7", kSecret).code() == StatusCode::kThrottled,
             "an IPv4-mapped IPv6 address is its IPv4 address");
  BOOST_TEST(Describe(Regenerate(*this, "203.0.113.8", kSecret)) == "ok");
  BOOST_TEST(Describe(Regenerate(*this, "::ffff:203.0.113.9", kSecret)) == "ok");
}

BOOST_FIXTURE_TEST_CASE(AnUnknownAddressIsLimitedOnlyByTheCustomerRate, StoreFixture) {
  Options o = TestOptions();
  o.throttle = Generous();
  o.throttle.failures_per_address = 2;
  Reopen(o);
  MustRegister(kApiKey, kSecret);
  // Callers that cannot tell the client's address are not one shared bucket: five failures
  // without an address throttle nobody else without one.
  for (int i = 0; i < 5; ++i) {
    BOOST_TEST_CONTEXT("failure #" << i) {
      BOOST_TEST(Regenerate(*this, "", kWrongSecret).code() == StatusCode::kUnauthorized);
    }
  }
  BOOST_TEST(Describe(Regenerate(*this, "", kSecret)) == "ok");
}

// ---- Per customer -----------------------------------------------------------------------------

BOOST_FIXTURE_TEST_CASE(CustomerTokenBucketIsARateNotALockout, StoreFixture) {
  Options o = TestOptions();
  o.throttle = Generous();
  o.throttle.customer_burst = 3;
  o.throttle.customer_token_interval = 6s;
  Reopen(o);
  MustRegister(kApiKey, kSecret);

  // A burst of failures from many addresses (as a botnet would) spends the customer's tokens.
  const std::vector<std::string_view> addresses = {"203.0.113.1", "203.0.113.2", "203.0.113.3",
                                                   "203.0.113.4", "203.0.113.5", "203.0.113.6"};
  for (int i = 0; i < 3; ++i) {
    BOOST_TEST(Regenerate(*this, addresses[i], kWrongSecret).code() == StatusCode::kUnauthorized);
  }
  const Status throttled = Regenerate(*this, kOwner, kSecret);
  BOOST_TEST(throttled.code() == StatusCode::kThrottled, Describe(throttled));
  BOOST_TEST(throttled.retry_after() > 0ms);
  BOOST_TEST(throttled.retry_after() <= 6s);

  // One token interval later, exactly one more attempt is allowed.
  clock->Advance(6s);
  BOOST_TEST(Regenerate(*this, addresses[3], kWrongSecret).code() == StatusCode::kUnauthorized);
  BOOST_TEST(Regenerate(*this, kOwner, kSecret).code() == StatusCode::kThrottled);

  // And again: the owner gets through at the rate, never locked out.
  clock->Advance(6s);
  BOOST_TEST(Describe(Regenerate(*this, kOwner, kSecret)) == "ok");

  // Other customers are not affected by this customer's bucket.
  MustRegister("another-customer-1", kSecret);
  BOOST_TEST(Describe(Regenerate(*this, addresses[4], kSecret, "another-customer-1")) == "ok");
}

BOOST_FIXTURE_TEST_CASE(UnknownApiKeysAreThrottledExactlyLikeKnownOnes, StoreFixture) {
  Options o = TestOptions();
  o.throttle = Generous();
  o.throttle.customer_burst = 3;
  Reopen(o);
  MustRegister(kApiKey, kSecret);

  // The same sequence on a known and an unknown key, at the same instant, from addresses of
  // their own: every answer must be identical (a 429 must not reveal that a key exists).
  std::vector<Status> known;
  std::vector<Status> unknown;
  for (int i = 0; i < 5; ++i) {
    known.push_back(Regenerate(*this, "203.0.113.10", kWrongSecret, kApiKey));
    unknown.push_back(Regenerate(*this, "203.0.113.11", kWrongSecret, kUnknownApiKey));
  }
  for (int i = 0; i < 5; ++i) {
    BOOST_TEST_CONTEXT("attempt #" << i) {
      BOOST_TEST(known[i].code() == (i < 3 ? StatusCode::kUnauthorized : StatusCode::kThrottled));
      BOOST_TEST(unknown[i].code() == known[i].code());
      BOOST_TEST(unknown[i].message() == known[i].message());
      BOOST_TEST(unknown[i].retry_after() == known[i].retry_after());
    }
  }
}

BOOST_FIXTURE_TEST_CASE(UnknownApiKeyFailuresCountAgainstTheAddress, StoreFixture) {
  Options o = TestOptions();
  o.throttle = Generous();
  o.throttle.failures_per_address = 3;
  Reopen(o);
  MustRegister(kApiKey, kSecret);
  for (int i = 0; i < 3; ++i) {
    const std::string unknown = "unknown-key-" + std::to_string(i);
    BOOST_TEST(Regenerate(*this, kAttacker, kWrongSecret, unknown).code() ==
               StatusCode::kUnauthorized);
  }
  const Status known = Regenerate(*this, kAttacker, kSecret, kApiKey);
  const Status unknown = Regenerate(*this, kAttacker, kWrongSecret, "unknown-key-9");
  BOOST_TEST(known.code() == StatusCode::kThrottled);
  BOOST_TEST(unknown.code() == StatusCode::kThrottled);
  BOOST_TEST(unknown.message() == known.message());
}

// Refuses every API key but one, as `--api-keys provisioned` refuses keys nobody provisioned.
class OneKeyValidator final : public ApiKeyValidator {
 public:
  explicit OneKeyValidator(std::string allowed) : allowed_(std::move(allowed)) {}
  Status IsValid(std::string_view, std::string_view api_key) override {
    return api_key == allowed_ ? Status::Ok() : Status::Unauthorized("API key not provisioned");
  }

 private:
  const std::string allowed_;
};

// A refused API key is a failed secret attempt like any other: it spends the address's and the
// key's allowance, and once either is spent it is refused before any Argon2id work, with the
// answer an allowed key gets there. Registrations with refused keys count per address too.
BOOST_FIXTURE_TEST_CASE(RefusedApiKeysAreThrottledLikeWrongSecrets, StoreFixture) {
  Options o = TestOptions();
  o.throttle = Generous();
  o.throttle.failures_per_address = 3;
  o.throttle.registrations_per_address = 2;
  o.api_key_validator = std::make_shared<OneKeyValidator>(std::string(kApiKey));
  Reopen(o);
  MustRegister(kApiKey, kSecret);

  BOOST_TEST(Regenerate(*this, kAttacker, kSecret, "refused-key-1").code() ==
             StatusCode::kUnauthorized);
  BOOST_TEST(store()
                 .UpdateSecret(Context(kAttacker), kService, "refused-key-2", kSecret, "new one")
                 .status()
                 .code() == StatusCode::kUnauthorized);
  BOOST_TEST(Regenerate(*this, kAttacker, kSecret, "refused-key-3").code() ==
             StatusCode::kUnauthorized);
  const StoreStats before = store().Stats();
  const Status refused = Regenerate(*this, kAttacker, kSecret, "refused-key-4");
  const Status allowed = Regenerate(*this, kAttacker, kSecret, kApiKey);
  BOOST_TEST(refused.code() == StatusCode::kThrottled, Describe(refused));
  BOOST_TEST(allowed.code() == StatusCode::kThrottled, Describe(allowed));
  BOOST_TEST(refused.message() == allowed.message());
  BOOST_TEST(store().Stats().argon2_verifications == before.argon2_verifications,
             "a throttled attempt must be refused before any Argon2id work");
  BOOST_TEST(store().Stats().throttled == before.throttled + 2);
  // The owner, elsewhere, is not affected.
  BOOST_TEST(Describe(Regenerate(*this, kOwner, kSecret)) == "ok");

  // The per-key bucket counts refused keys too, from any address.
  Options per_key = o;
  per_key.throttle = Generous();
  per_key.throttle.customer_burst = 2;
  Reopen(per_key);
  std::vector<Status> answers;
  for (int i = 0; i < 3; ++i) {
    answers.push_back(Regenerate(*this, "203.0.113.2" + std::to_string(i), kSecret, "refused-key"));
  }
  BOOST_TEST(answers[0].code() == StatusCode::kUnauthorized);
  BOOST_TEST(answers[1].code() == StatusCode::kUnauthorized);
  BOOST_TEST(answers[2].code() == StatusCode::kThrottled, Describe(answers[2]));

  Options registrations = o;
  Reopen(registrations);
  for (int i = 0; i < 2; ++i) {
    const Status status =
        store()
            .Register(Context(kAttacker), kService, "refused-key-" + std::to_string(i), kSecret)
            .status();
    BOOST_TEST(status.code() == StatusCode::kUnauthorized, Describe(status));
  }
  const StoreStats before_third = store().Stats();
  const Status third =
      store().Register(Context(kAttacker), kService, "refused-key-9", kSecret).status();
  BOOST_TEST(third.code() == StatusCode::kThrottled, Describe(third));
  BOOST_TEST(store().Stats().argon2_hashes == before_third.argon2_hashes);
}

// ---- Parallel guesses -------------------------------------------------------------------------

BOOST_FIXTURE_TEST_CASE(ParallelGuessesFromOneAddressCannotSlipPastTheLimit, StoreFixture) {
  constexpr int kThreads = 32;
  constexpr std::uint32_t kLimit = 5;
  Options o = TestOptions();
  o.throttle = Generous();
  o.throttle.failures_per_address = kLimit;
  o.max_concurrent_hashes = 64;
  ReopenGated(o);
  MustRegister(kApiKey, kSecret);

  const StoreStats before = store().Stats();
  std::vector<Status> results(kThreads);
  // Every guess reads the address's failure count before any of them writes it (white-box: the
  // core keeps it under "t/a/"), so a core that checked the count and only counted after
  // Argon2id would let every guess through, on every run.
  gate->Arm("t/a/", kThreads);
  RunConcurrently(kThreads, [&](int i) {
    results[static_cast<std::size_t>(i)] =
        Regenerate(*this, kAttacker, "guess-" + std::to_string(i));
  });
  const StoreStats after = store().Stats();
  BOOST_TEST(gate->ReleasedTogether(), "the guesses did not all read the address counter");

  std::uint64_t unauthorized = 0;
  std::uint64_t throttled = 0;
  for (const Status& status : results) {
    if (status.code() == StatusCode::kUnauthorized) ++unauthorized;
    if (status.code() == StatusCode::kThrottled) ++throttled;
    BOOST_TEST(
        (status.code() == StatusCode::kUnauthorized || status.code() == StatusCode::kThrottled),
        "unexpected answer to a parallel guess: " << Describe(status));
  }
  const std::uint64_t hashed = after.argon2_verifications - before.argon2_verifications;
  BOOST_TEST(hashed <= kLimit, "parallel guesses ran Argon2id " << hashed << " times");
  BOOST_TEST(unauthorized <= kLimit);
  BOOST_TEST(unauthorized >= 1u);
  BOOST_TEST(unauthorized + throttled == static_cast<std::uint64_t>(kThreads));
  BOOST_TEST(Regenerate(*this, kAttacker, kSecret).code() == StatusCode::kThrottled);
}

BOOST_FIXTURE_TEST_CASE(ParallelGuessesFromManyAddressesCannotSlipPastTheCustomerBucket,
                        StoreFixture) {
  constexpr int kThreads = 32;
  constexpr std::uint32_t kBurst = 4;
  Options o = TestOptions();
  o.throttle = Generous();
  o.throttle.customer_burst = kBurst;
  ReopenGated(o);
  MustRegister(kApiKey, kSecret);

  const StoreStats before = store().Stats();
  std::vector<Status> results(kThreads);
  gate->Arm("t/c/", kThreads);  // as above, for the customer's bucket
  RunConcurrently(kThreads, [&](int i) {
    const std::string address = "203.0.113." + std::to_string(100 + i);
    results[static_cast<std::size_t>(i)] = Regenerate(*this, address, "guess-" + std::to_string(i));
  });
  BOOST_TEST(gate->ReleasedTogether(), "the guesses did not all read the customer's bucket");
  std::uint64_t unauthorized = 0;
  for (const Status& status : results) {
    if (status.code() == StatusCode::kUnauthorized) ++unauthorized;
    BOOST_TEST(
        (status.code() == StatusCode::kUnauthorized || status.code() == StatusCode::kThrottled),
        Describe(status));
  }
  BOOST_TEST(unauthorized <= kBurst);
  BOOST_TEST(unauthorized >= 1u);
  BOOST_TEST(store().Stats().argon2_verifications - before.argon2_verifications <= kBurst);
}

// ---- Registrations ----------------------------------------------------------------------------

BOOST_FIXTURE_TEST_CASE(RegistrationsAreRateLimitedPerAddress, StoreFixture) {
  Options o = TestOptions();
  o.throttle = Generous();
  o.throttle.registrations_per_address = 3;
  o.throttle.registration_window = 60min;
  Reopen(o);

  for (int i = 0; i < 3; ++i) {
    Result<AdminKeyGrant> grant =
        store().Register(Context(kAttacker), kService, "bulk-key-" + std::to_string(i), kSecret);
    BOOST_TEST(Describe(grant.status()) == "ok");
  }
  const StoreStats before = store().Stats();
  const std::size_t events_before = audit->Count();
  Result<AdminKeyGrant> fourth =
      store().Register(Context(kAttacker), kService, "bulk-key-3", kSecret);
  BOOST_TEST(fourth.status().code() == StatusCode::kThrottled, Describe(fourth.status()));
  BOOST_TEST(fourth.status().retry_after() > 0ms);
  BOOST_TEST(fourth.status().retry_after() <= 60min);
  BOOST_TEST(store().Stats().argon2_hashes == before.argon2_hashes,
             "a throttled registration must not run Argon2id");
  BOOST_TEST(audit->Count() == events_before);

  // Another address may register, including the key the throttled call named (it was not
  // created).
  Result<AdminKeyGrant> elsewhere =
      store().Register(Context(kOwner), kService, "bulk-key-3", kSecret);
  BOOST_TEST(Describe(elsewhere.status()) == "ok");

  clock->Advance(60min);
  Result<AdminKeyGrant> later =
      store().Register(Context(kAttacker), kService, "bulk-key-4", kSecret);
  BOOST_TEST(Describe(later.status()) == "ok");
}

// ---- Two steps: the reservation before the Argon2id work ---------------------------------------

// A host that queues Argon2id work reserves first: a throttled attempt is refused by the
// reservation itself, before it could take a place in any queue, and runs nothing.
BOOST_FIXTURE_TEST_CASE(AReservationRefusesAThrottledAttemptBeforeAnyHashing, StoreFixture) {
  Options o = TestOptions();
  o.throttle = Generous();
  o.throttle.failures_per_address = 2;
  Reopen(o);
  MustRegister(kApiKey, kSecret);
  for (int i = 0; i < 2; ++i) {
    BOOST_TEST(Regenerate(*this, kAttacker, kWrongSecret).code() == StatusCode::kUnauthorized);
  }
  const StoreStats before = store().Stats();
  Result<SecretAttempt> refused = store().ReserveAttempt(
      Context(kAttacker), SecretOperation::kRegenerateAdminKey, kService, kApiKey, kSecret);
  BOOST_TEST(refused.status().code() == StatusCode::kThrottled, Describe(refused.status()));
  BOOST_TEST(refused.status().retry_after() > 0ms);
  BOOST_TEST(store().Stats().argon2_verifications == before.argon2_verifications);
  BOOST_TEST(store().Stats().throttled > before.throttled);

  // The owner's reservation is granted, and its call succeeds with it.
  Result<SecretAttempt> granted = store().ReserveAttempt(
      Context(kOwner), SecretOperation::kRegenerateAdminKey, kService, kApiKey, kSecret);
  BOOST_TEST_REQUIRE(Describe(granted.status()) == "ok");
  BOOST_TEST(store().Stats().argon2_verifications == before.argon2_verifications,
             "a reservation runs no Argon2id");
  Result<AdminKeyGrant> grant = store().RegenerateAdminKey(
      std::move(granted).value(), Context(kOwner), kService, kApiKey, kSecret);
  BOOST_TEST(Describe(grant.status()) == "ok");
}

// Reservations count like attempts, so parallel calls cannot reserve past the limit; a refunded
// one (its call never ran: the host's queue was full) is given back, so a busy server does not
// spend a client's allowance.
BOOST_FIXTURE_TEST_CASE(ReservationsCountAndARefundGivesOneBack, StoreFixture) {
  Options o = TestOptions();
  o.throttle = Generous();
  o.throttle.failures_per_address = 3;
  Reopen(o);
  MustRegister(kApiKey, kSecret);
  auto reserve = [this] {
    return store().ReserveAttempt(Context(kAttacker), SecretOperation::kUpdateSecret, kService,
                                  kApiKey, kSecret, "a new secret");
  };
  std::vector<SecretAttempt> held;
  for (int i = 0; i < 3; ++i) {
    Result<SecretAttempt> attempt = reserve();
    BOOST_TEST_REQUIRE(Describe(attempt.status()) == "ok");
    held.push_back(std::move(attempt).value());
  }
  BOOST_TEST(reserve().status().code() == StatusCode::kThrottled);

  store().RefundAttempt(std::move(held.back()));
  held.pop_back();
  Result<SecretAttempt> again = reserve();
  BOOST_TEST(Describe(again.status()) == "ok", "a refunded reservation must be given back");
  BOOST_TEST(reserve().status().code() == StatusCode::kThrottled);

  // Registrations: the same for the per-address registration limit.
  o.throttle.registrations_per_address = 1;
  Reopen(o);
  Result<SecretAttempt> first = store().ReserveAttempt(
      Context(kAttacker), SecretOperation::kRegister, kService, "fresh-key-1", kSecret);
  BOOST_TEST_REQUIRE(Describe(first.status()) == "ok");
  BOOST_TEST(store()
                 .ReserveAttempt(Context(kAttacker), SecretOperation::kRegister, kService,
                                 "fresh-key-2", kSecret)
                 .status()
                 .code() == StatusCode::kThrottled);
  store().RefundAttempt(std::move(first).value());
  Result<SecretAttempt> second = store().ReserveAttempt(
      Context(kAttacker), SecretOperation::kRegister, kService, "fresh-key-2", kSecret);
  BOOST_TEST_REQUIRE(Describe(second.status()) == "ok");
  Result<AdminKeyGrant> registered = store().Register(std::move(second).value(), Context(kAttacker),
                                                      kService, "fresh-key-2", kSecret);
  BOOST_TEST(Describe(registered.status()) == "ok");
}

// The reservation checks what the one-step call checks before its throttle, in the same order,
// and counts nothing for a call it refuses.
BOOST_FIXTURE_TEST_CASE(AReservationValidatesBeforeItCounts, StoreFixture) {
  Options o = TestOptions();
  o.throttle = Generous();
  o.throttle.failures_per_address = 1;
  Reopen(o);
  MustRegister(kApiKey, kSecret);
  auto code = [this](SecretOperation operation, std::string_view service, std::string_view api_key,
                     std::string_view secret, std::string_view new_secret = "a new secret",
                     std::chrono::milliseconds grace = 0ms) {
    return store()
        .ReserveAttempt(Context(kAttacker), operation, service, api_key, secret, new_secret, grace)
        .status()
        .code();
  };
  BOOST_TEST(code(SecretOperation::kRegenerateAdminKey, "no-such-service", kApiKey, kSecret) ==
             StatusCode::kNotFound);
  BOOST_TEST(code(SecretOperation::kRegenerateAdminKey, kService, "bad key!", kSecret) ==
             StatusCode::kInvalidArgument);
  BOOST_TEST(code(SecretOperation::kRegenerateAdminKey, kService, kApiKey, "") ==
             StatusCode::kInvalidArgument);
  BOOST_TEST(code(SecretOperation::kUpdateSecret, kService, kApiKey, kSecret, "") ==
             StatusCode::kInvalidArgument);
  BOOST_TEST(code(SecretOperation::kRegenerateAdminKey, kService, kApiKey, kSecret, {}, 2h) ==
             StatusCode::kInvalidArgument);
  BOOST_TEST(code(SecretOperation::kRegister, kService, "another-key", "") ==
             StatusCode::kInvalidArgument);
  // None of them was counted: the one attempt the address may make is still there.
  BOOST_TEST(code(SecretOperation::kRegenerateAdminKey, kService, kApiKey, kSecret) ==
             StatusCode::kOk);
}

// An attempt is for the call it was reserved for: any other operation, customer or address is
// refused (kInvalidArgument) and runs nothing; an empty (moved-from) attempt likewise.
BOOST_FIXTURE_TEST_CASE(AnAttemptServesOnlyTheCallItWasReservedFor, StoreFixture) {
  Reopen(TestOptions());
  const std::string admin_key(MustRegister(kApiKey, kSecret).admin_key.view());
  auto reserve = [this] {
    Result<SecretAttempt> attempt = store().ReserveAttempt(
        Context(kOwner), SecretOperation::kRegenerateAdminKey, kService, kApiKey, kSecret);
    BOOST_TEST_REQUIRE(Describe(attempt.status()) == "ok");
    return std::move(attempt).value();
  };
  const StoreStats before = store().Stats();
  BOOST_TEST(store()
                 .UpdateSecret(reserve(), Context(kOwner), kService, kApiKey, kSecret, "new one")
                 .status()
                 .code() == StatusCode::kInvalidArgument);
  BOOST_TEST(store()
                 .RegenerateAdminKey(reserve(), Context(kAttacker), kService, kApiKey, kSecret)
                 .status()
                 .code() == StatusCode::kInvalidArgument);
  BOOST_TEST(
      store()
          .RegenerateAdminKey(reserve(), Context(kOwner), kService, "another-customer", kSecret)
          .status()
          .code() == StatusCode::kInvalidArgument);
  SecretAttempt spent = reserve();
  SecretAttempt taken = std::move(spent);
  BOOST_TEST(!spent.valid());  // NOLINT(bugprone-use-after-move): the contract under test
  BOOST_TEST(store()
                 .RegenerateAdminKey(std::move(spent), Context(kOwner), kService, kApiKey, kSecret)
                 .status()
                 .code() == StatusCode::kInvalidArgument);
  BOOST_TEST(store().Stats().argon2_verifications == before.argon2_verifications);
  BOOST_TEST(Describe(store().VerifyAdminKey(kService, kApiKey, admin_key)) == "ok",
             "a refused call must change nothing");
  Result<AdminKeyGrant> grant =
      store().RegenerateAdminKey(std::move(taken), Context(kOwner), kService, kApiKey, kSecret);
  BOOST_TEST(Describe(grant.status()) == "ok");
}

// ---- Operator recovery ------------------------------------------------------------------------

// The operator can end a lockout at once: clearing an address forgets its failures and
// registrations; clearing a customer fills its bucket again. Nothing else is forgotten.
BOOST_FIXTURE_TEST_CASE(TheOperatorCanClearAnAddressOrACustomer, StoreFixture) {
  Options o = TestOptions();
  o.throttle = Generous();
  o.throttle.failures_per_address = 2;
  o.throttle.customer_burst = 3;
  o.throttle.registrations_per_address = 1;
  Reopen(o);
  MustRegister(kApiKey, kSecret);
  for (int i = 0; i < 2; ++i) {
    BOOST_TEST(Regenerate(*this, kAttacker, kWrongSecret).code() == StatusCode::kUnauthorized);
  }
  BOOST_TEST(Regenerate(*this, kAttacker, kSecret).code() == StatusCode::kThrottled);
  BOOST_TEST(Regenerate(*this, "198.51.100.99", kSecret).code() == StatusCode::kOk);
  BOOST_TEST(
      store().Register(Context(kAttacker), kService, "one-more-key", kSecret).status().code() ==
      StatusCode::kOk);
  BOOST_TEST(
      store().Register(Context(kAttacker), kService, "two-more-key", kSecret).status().code() ==
      StatusCode::kThrottled);

  const std::size_t events = audit->Count();
  BOOST_TEST(Describe(store().ClearAddressThrottle(Context(kOwner), kAttacker)) == "ok");
  BOOST_TEST(audit->Count() == events + 1);
  BOOST_TEST(Describe(Regenerate(*this, kAttacker, kSecret)) == "ok");
  BOOST_TEST(
      Describe(store().Register(Context(kAttacker), kService, "two-more-key", kSecret).status()) ==
      "ok");
  // Nothing counted: clearing is a no-op that succeeds.
  BOOST_TEST(Describe(store().ClearAddressThrottle(Context(kOwner), "192.0.2.200")) == "ok");
  BOOST_TEST(store().ClearAddressThrottle(Context(kOwner), "").code() ==
             StatusCode::kInvalidArgument);

  // Another customer's bucket: spent from three addresses, then cleared.
  constexpr std::string_view kOther = "throttled-customer-2";
  BOOST_TEST_REQUIRE(
      store().Register(Context("192.0.2.100"), kService, kOther, kSecret).status().code() ==
      StatusCode::kOk);
  for (std::string_view from : {"192.0.2.1", "192.0.2.2", "192.0.2.3"}) {
    BOOST_TEST(Regenerate(*this, from, kWrongSecret, kOther).code() == StatusCode::kUnauthorized);
  }
  BOOST_TEST(Regenerate(*this, "192.0.2.4", kSecret, kOther).code() == StatusCode::kThrottled);
  BOOST_TEST(Describe(store().ClearCustomerThrottle(Context(kOwner), kService, kOther)) == "ok");
  BOOST_TEST(Describe(Regenerate(*this, "192.0.2.4", kSecret, kOther)) == "ok");
  BOOST_TEST(store().ClearCustomerThrottle(Context(kOwner), "no-such-service", kApiKey).code() ==
             StatusCode::kNotFound);
  BOOST_TEST(store().ClearCustomerThrottle(Context(kOwner), kService, "bad key!").code() ==
             StatusCode::kInvalidArgument);
}

// ---- Argon2id budget --------------------------------------------------------------------------

// With max_concurrent_hashes = 1 and a cost of 3 passes over 32 MiB, each hash takes tens of
// milliseconds, while the latch releases the 8 threads within microseconds of each other: a
// thread would have to be descheduled for the whole length of another thread's hash for the
// calls not to overlap, so at least one call meets a held budget. The budget must answer
// kUnavailable at once (never queue, never fail otherwise).
BOOST_FIXTURE_TEST_CASE(Argon2BudgetAnswersUnavailableBeyondItsLimit, StoreFixture) {
  constexpr int kThreads = 8;
  Options o = TestOptions();
  o.throttle = Generous();
  o.max_concurrent_hashes = 1;
  o.argon2.ops_limit = 3;
  o.argon2.mem_limit_bytes = 32u * 1024u * 1024u;
  Reopen(o);

  std::vector<Status> results(kThreads);
  RunConcurrently(kThreads, [&](int i) {
    results[static_cast<std::size_t>(i)] =
        store()
            .Register(Context("203.0.113." + std::to_string(i + 1)), kService,
                      "budget-key-" + std::to_string(i), kSecret)
            .status();
  });

  int ok = 0;
  int unavailable = 0;
  int first_unavailable = -1;
  for (int i = 0; i < kThreads; ++i) {
    const Status& status = results[static_cast<std::size_t>(i)];
    BOOST_TEST((status.ok() || status.code() == StatusCode::kUnavailable),
               "thread " << i << ": " << Describe(status));
    if (status.ok()) ++ok;
    if (status.code() == StatusCode::kUnavailable) {
      ++unavailable;
      if (first_unavailable < 0) first_unavailable = i;
      BOOST_TEST(status.retry_after() > 0ms);
    }
  }
  BOOST_TEST(ok >= 1);
  BOOST_TEST(unavailable >= 1, "8 simultaneous hashes with a budget of 1 all ran");
  BOOST_TEST(store().Stats().argon2_budget_rejections == static_cast<std::uint64_t>(unavailable));

  // A call turned away by the budget changed nothing: that customer can register now.
  if (first_unavailable >= 0) {
    Result<AdminKeyGrant> retry = store().Register(
        Context(), kService, "budget-key-" + std::to_string(first_unavailable), kSecret);
    BOOST_TEST(Describe(retry.status()) == "ok");
  }
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace
}  // namespace credstore::testing
