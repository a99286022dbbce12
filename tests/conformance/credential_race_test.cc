// CredentialStore under concurrent calls (docs/architecture.md: one record per operation): every
// state change is one compare-and-swap of one record, retried on conflict, so concurrent calls
// never both win where only one may, never lose an acknowledged write, and never bring a revoked
// key back. Each race also runs through two CredentialStore objects over two backend handles, as
// two servers over one store would. A RaceGate holds the racers' reads of the contended record
// until all of them arrived, so the lost-race path is exercised on every run.
//
// Every backend runs these tests unchanged, through Harness() only. Worker threads only record
// results; every check runs on the test's own thread after they joined.
#include <algorithm>
#include <boost/test/unit_test.hpp>
#include <chrono>
#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "../../core/src/records.h"
#include "credstore/credential_store.h"
#include "credstore/status.h"
#include "store_fixture.h"
#include "support/test_helpers.h"
#include "support/test_scale.h"

namespace credstore::testing {
namespace {

using namespace std::chrono_literals;

constexpr int kRacers = 32;
constexpr std::string_view kApiKey = "raced-customer-key";
constexpr std::string_view kSecret = "the customer's secret";

// Racers must meet only the rule under test: no throttle limit within reach, a budget that
// admits every racer at once. The backend is gated (see RaceGate), so racers that are armed
// all read the contended record before any of them writes it.
void ReopenForRaces(StoreFixture& f) {
  Options o = f.TestOptions();
  o.throttle.failures_per_address = 10'000;
  o.throttle.customer_burst = 10'000;
  o.throttle.registrations_per_address = 10'000;
  o.max_concurrent_hashes = 64;
  f.ReopenGated(o);
}

// The stores the racers use, round robin: the fixture's store alone, or it and a second store
// over Harness().OpenAnotherHandle().
std::vector<CredentialStore*> Stores(StoreFixture& f, std::unique_ptr<CredentialStore>* second) {
  std::vector<CredentialStore*> stores = {&f.store()};
  if (second != nullptr) {
    *second = f.MustOpenSecondStore();
    stores.push_back(second->get());
  }
  return stores;
}

struct RegenerateOutcome {
  Status status;
  std::string admin_key;
  std::uint64_t generation = 0;
};

void RaceRegenerations(StoreFixture& f, bool two_stores) {
  ReopenForRaces(f);
  const AdminKeyGrant initial = f.MustRegister(kApiKey, kSecret);
  std::unique_ptr<CredentialStore> second;
  const std::vector<CredentialStore*> stores = Stores(f, two_stores ? &second : nullptr);

  std::vector<RegenerateOutcome> outcomes(kRacers);
  f.gate->Arm("c/", kRacers);
  RunConcurrently(kRacers, [&](int i) {
    CredentialStore& store = *stores[static_cast<std::size_t>(i) % stores.size()];
    Result<AdminKeyGrant> grant = store.RegenerateAdminKey(f.Context(), kService, kApiKey, kSecret);
    RegenerateOutcome& outcome = outcomes[static_cast<std::size_t>(i)];
    outcome.status = grant.status();
    if (grant.ok()) {
      outcome.admin_key = std::string(grant->admin_key.view());
      outcome.generation = grant->generation;
    }
  });

  BOOST_TEST(f.gate->ReleasedTogether(), "the racers did not all read the customer record");
  std::set<std::uint64_t> generations;
  const RegenerateOutcome* newest = nullptr;
  int successes = 0;
  for (int i = 0; i < kRacers; ++i) {
    const RegenerateOutcome& outcome = outcomes[static_cast<std::size_t>(i)];
    BOOST_TEST((outcome.status.ok() || outcome.status.code() == StatusCode::kUnavailable),
               "racer " << i << ": " << Describe(outcome.status));
    if (!outcome.status.ok()) continue;
    ++successes;
    BOOST_TEST(outcome.generation > initial.generation);
    BOOST_TEST(generations.insert(outcome.generation).second,
               "two successful regenerations returned generation " << outcome.generation);
    if (newest == nullptr || outcome.generation > newest->generation) newest = &outcome;
  }
  BOOST_TEST_REQUIRE(successes >= 1, "no regeneration succeeded");

  // Exactly one key verifies: the newest acknowledged one. The initial key and every
  // superseded one stay revoked.
  int verifying = 0;
  for (const RegenerateOutcome& outcome : outcomes) {
    if (!outcome.status.ok()) continue;
    const bool verifies = f.store().VerifyAdminKey(kService, kApiKey, outcome.admin_key).ok();
    if (verifies) ++verifying;
    BOOST_TEST(verifies == (&outcome == newest),
               "generation " << outcome.generation << (verifies ? " verifies" : " is revoked")
                             << "; the newest is " << newest->generation);
  }
  BOOST_TEST(verifying == 1);
  BOOST_TEST(f.store().VerifyAdminKey(kService, kApiKey, initial.admin_key.view()).code() ==
             StatusCode::kUnauthorized);
  for (CredentialStore* store : stores) {
    BOOST_TEST(Describe(store->VerifyAdminKey(kService, kApiKey, newest->admin_key)) == "ok");
  }
}

void RaceRotations(StoreFixture& f, bool two_stores) {
  ReopenForRaces(f);
  const IntegratorSecret s1 = f.MustCreateIntegrator();
  const std::string id = s1.integrator_id;
  std::unique_ptr<CredentialStore> second;
  const std::vector<CredentialStore*> stores = Stores(f, two_stores ? &second : nullptr);

  // Every racer signs its own request (distinct bodies, so none is a replay of another) with
  // the initial secret, and asks for a grace so that superseded secrets would stay visible.
  std::vector<OwnedSignedRequest> requests;
  for (int i = 0; i < kRacers; ++i) requests.push_back(f.SignFresh(id, s1.secret.view()));
  std::vector<Status> statuses(kRacers);
  std::vector<std::string> secrets(kRacers);
  std::vector<std::uint64_t> generations(kRacers, 0);
  f.gate->Arm("i/", kRacers);
  RunConcurrently(kRacers, [&](int i) {
    const auto n = static_cast<std::size_t>(i);
    CredentialStore& store = *stores[n % stores.size()];
    Result<IntegratorSecret> rotated =
        store.RotateIntegratorSecret(f.Context(), requests[n].View(), 60s);
    statuses[n] = rotated.status();
    if (rotated.ok()) {
      secrets[n] = std::string(rotated->secret.view());
      generations[n] = rotated->generation;
    }
  });

  // Only the current secret may rotate, and each success replaces it: of racers that all sign
  // with S1, exactly one can win.
  BOOST_TEST(f.gate->ReleasedTogether(), "the racers did not all read the integrator record");
  std::optional<std::size_t> winner;
  int successes = 0;
  for (std::size_t n = 0; n < statuses.size(); ++n) {
    const Status& status = statuses[n];
    BOOST_TEST((status.ok() || status.code() == StatusCode::kUnauthorized ||
                status.code() == StatusCode::kUnavailable),
               "racer " << n << ": " << Describe(status));
    if (status.ok()) {
      ++successes;
      winner = n;
    }
  }
  BOOST_TEST_REQUIRE(successes == 1, successes << " rotations signed with S1 succeeded");

  // Afterwards: the winner's secret is current, S1 is the graced old one, nothing else.
  Result<VerifiedRequest> by_winner = f.VerifyFresh(id, secrets[*winner]);
  BOOST_TEST_REQUIRE(by_winner.ok(), Describe(by_winner.status()));
  BOOST_TEST(by_winner->signed_with_current);
  BOOST_TEST(by_winner->generation == generations[*winner]);
  Result<VerifiedRequest> by_s1 = f.VerifyFresh(id, s1.secret.view());
  BOOST_TEST_REQUIRE(by_s1.ok(), Describe(by_s1.status()));
  BOOST_TEST(!by_s1->signed_with_current);
  Result<IntegratorInfo> info = f.store().GetIntegrator(id);
  BOOST_TEST_REQUIRE(info.ok(), Describe(info.status()));
  BOOST_TEST(info->generation == generations[*winner]);
}

BOOST_AUTO_TEST_SUITE(credential_race)

BOOST_FIXTURE_TEST_CASE(ConcurrentRegenerationsHaveDistinctGenerationsAndTheNewestWins,
                        StoreFixture) {
  RaceRegenerations(*this, /*two_stores=*/false);
}

BOOST_FIXTURE_TEST_CASE(ConcurrentRegenerationsThroughTwoStoresHaveOneWinner, StoreFixture) {
  RaceRegenerations(*this, /*two_stores=*/true);
}

BOOST_FIXTURE_TEST_CASE(ConcurrentRotationsSignedWithTheInitialSecretHaveOneWinner, StoreFixture) {
  RaceRotations(*this, /*two_stores=*/false);
}

BOOST_FIXTURE_TEST_CASE(ConcurrentRotationsThroughTwoStoresHaveOneWinner, StoreFixture) {
  RaceRotations(*this, /*two_stores=*/true);
}

BOOST_FIXTURE_TEST_CASE(ConcurrentRegistrationsOfOneKeyHaveOneWinner, StoreFixture) {
  constexpr int kThreads = 16;
  ReopenForRaces(*this);
  std::unique_ptr<CredentialStore> second;
  const std::vector<CredentialStore*> stores = Stores(*this, &second);

  std::vector<Status> statuses(kThreads);
  std::vector<std::string> admin_keys(kThreads);
  gate->Arm("c/", kThreads);
  RunConcurrently(kThreads, [&](int i) {
    const auto n = static_cast<std::size_t>(i);
    Result<AdminKeyGrant> grant = stores[n % stores.size()]->Register(
        Context(), kService, kApiKey, "secret of racer " + std::to_string(i));
    statuses[n] = grant.status();
    if (grant.ok()) admin_keys[n] = std::string(grant->admin_key.view());
  });

  BOOST_TEST(gate->ReleasedTogether(), "the racers did not all read the customer record");
  std::optional<int> winner;
  int successes = 0;
  for (int i = 0; i < kThreads; ++i) {
    const Status& status = statuses[static_cast<std::size_t>(i)];
    BOOST_TEST((status.ok() || status.code() == StatusCode::kAlreadyRegistered ||
                status.code() == StatusCode::kUnavailable),
               "racer " << i << ": " << Describe(status));
    if (status.ok()) {
      ++successes;
      winner = i;
    }
  }
  BOOST_TEST_REQUIRE(successes == 1, successes << " registrations of one key succeeded");
  BOOST_TEST(Describe(store().VerifyAdminKey(
                 kService, kApiKey, admin_keys[static_cast<std::size_t>(*winner)])) == "ok");
  // The winner's secret is the one stored.
  const int loser = *winner == 0 ? 1 : 0;
  BOOST_TEST(store()
                 .RegenerateAdminKey(Context(), kService, kApiKey,
                                     "secret of racer " + std::to_string(loser))
                 .status()
                 .code() == StatusCode::kUnauthorized);
  BOOST_TEST(Describe(store()
                          .RegenerateAdminKey(Context(), kService, kApiKey,
                                              "secret of racer " + std::to_string(*winner))
                          .status()) == "ok");
}

BOOST_FIXTURE_TEST_CASE(ConcurrentSecretUpdatesFromOneOldSecretHaveOneWinner, StoreFixture) {
  constexpr int kThreads = 16;
  ReopenForRaces(*this);
  MustRegister(kApiKey, kSecret);
  std::unique_ptr<CredentialStore> second;
  const std::vector<CredentialStore*> stores = Stores(*this, &second);

  std::vector<Status> statuses(kThreads);
  gate->Arm("c/", kThreads);
  RunConcurrently(kThreads, [&](int i) {
    const auto n = static_cast<std::size_t>(i);
    statuses[n] =
        stores[n % stores.size()]
            ->UpdateSecret(Context(), kService, kApiKey, kSecret, "new secret " + std::to_string(i))
            .status();
  });

  BOOST_TEST(gate->ReleasedTogether(), "the racers did not all read the customer record");
  std::optional<int> winner;
  int successes = 0;
  for (int i = 0; i < kThreads; ++i) {
    const Status& status = statuses[static_cast<std::size_t>(i)];
    BOOST_TEST((status.ok() || status.code() == StatusCode::kUnauthorized ||
                status.code() == StatusCode::kUnavailable),
               "racer " << i << ": " << Describe(status));
    if (status.ok()) {
      ++successes;
      winner = i;
    }
  }
  // After one success the old secret is no longer the secret, so no other update may pass.
  BOOST_TEST_REQUIRE(successes == 1, successes << " updates from the same old secret succeeded");
  BOOST_TEST(store().RegenerateAdminKey(Context(), kService, kApiKey, kSecret).status().code() ==
             StatusCode::kUnauthorized);
  for (int i = 0; i < kThreads; ++i) {
    const Status status =
        store()
            .RegenerateAdminKey(Context(), kService, kApiKey, "new secret " + std::to_string(i))
            .status();
    BOOST_TEST(status.ok() == (i == *winner), "new secret " << i << ": " << Describe(status));
  }
}

// Every state change rewrites the whole customer record, so a writer that committed a stale copy
// would silently undo another's acknowledged change. Here one thread writes settings in sequence
// (each acknowledged) while others update the secret: afterwards the settings are the last ones
// written, and the secret generation counts every acknowledged update.
BOOST_FIXTURE_TEST_CASE(ConcurrentChangesNeverLoseAnAcknowledgedWrite, StoreFixture) {
  constexpr int kUpdaters = 8;
  constexpr int kUpdatesEach = 3;
  const int kSettingsWrites = ScaledCount(40);
  ReopenForRaces(*this);
  const AdminKeyGrant grant = MustRegister(kApiKey, kSecret);
  std::unique_ptr<CredentialStore> second;
  const std::vector<CredentialStore*> stores = Stores(*this, &second);

  std::vector<Status> settings_statuses(kSettingsWrites);
  std::vector<Status> update_statuses(kUpdaters * kUpdatesEach);
  gate->Arm("c/", kUpdaters + 1);
  RunConcurrently(kUpdaters + 1, [&](int i) {
    if (i == kUpdaters) {
      for (int w = 0; w < kSettingsWrites; ++w) {
        settings_statuses[static_cast<std::size_t>(w)] =
            stores[static_cast<std::size_t>(w) % stores.size()]
                ->PutSettings(Context(), kService, kApiKey, grant.admin_key.view(),
                              "{\"write\":" + std::to_string(w) + "}")
                .status();
      }
      return;
    }
    for (int u = 0; u < kUpdatesEach; ++u) {
      // The secret stays the same text, so every updater always holds the right secret.
      update_statuses[static_cast<std::size_t>(i * kUpdatesEach + u)] =
          stores[static_cast<std::size_t>(i) % stores.size()]
              ->UpdateSecret(Context(), kService, kApiKey, kSecret, kSecret)
              .status();
    }
  });

  BOOST_TEST(gate->ReleasedTogether(), "the writers did not all read the customer record");
  for (int w = 0; w < kSettingsWrites; ++w) {
    BOOST_TEST(
        settings_statuses[static_cast<std::size_t>(w)].ok(),
        "settings write " << w << ": " << Describe(settings_statuses[static_cast<std::size_t>(w)]));
  }
  std::uint64_t acknowledged_updates = 0;
  for (const Status& status : update_statuses) {
    BOOST_TEST((status.ok() || status.code() == StatusCode::kUnauthorized ||
                status.code() == StatusCode::kUnavailable),
               Describe(status));
    if (status.ok()) ++acknowledged_updates;
  }
  BOOST_TEST(acknowledged_updates >= 1u);

  Result<std::string> settings = store().GetSettings(kService, kApiKey, grant.admin_key.view());
  BOOST_TEST_REQUIRE(settings.ok(), Describe(settings.status()));
  BOOST_TEST(*settings == "{\"write\":" + std::to_string(kSettingsWrites - 1) + "}",
             "the last acknowledged settings write was lost");

  // White-box: the record's secret generation counts every acknowledged update.
  Result<VersionedValue> stored = backend->Get(
      internal::CustomerKey(
          kService,
          internal::KeyedDigest(keyring.pepper().bytes, internal::DigestKind::kApiKey, kApiKey)),
      clock->Now());
  BOOST_TEST_REQUIRE(stored.ok(), Describe(stored.status()));
  Result<internal::CustomerRecord> record = internal::DecodeCustomer(stored->value);
  BOOST_TEST_REQUIRE(record.ok(), Describe(record.status()));
  BOOST_TEST(record->secret_generation == 1u + acknowledged_updates,
             "an acknowledged secret update was lost");
  BOOST_TEST(Describe(store().RegenerateAdminKey(Context(), kService, kApiKey, kSecret).status()) ==
             "ok");
}

// ---- Stale reads, interleaved deterministically ------------------------------------------------
// Each case lets one call read the customer's record, then commits another change before that
// call writes: the call must notice on compare-and-swap and re-check its rules against the fresh
// record.

BOOST_FIXTURE_TEST_CASE(AStaleRegenerationCannotOverwriteAReRegisteredCustomer, StoreFixture) {
  ReopenForRaces(*this);
  const AdminKeyGrant old_grant = MustRegister(kApiKey, kSecret);
  BOOST_TEST_REQUIRE(
      store()
          .PutSettings(Context(), kService, kApiKey, old_grant.admin_key.view(), R"({"old":true})")
          .ok());
  std::optional<AdminKeyGrant> new_grant;
  gate->ArmInterleave("c/", [&] {
    // The customer is deleted and registers again with another secret: erase and recreate
    // must never let the stale version compare equal (no ABA).
    if (!store().DeleteCustomer(Context(), kService, kApiKey).ok()) return;
    Result<AdminKeyGrant> grant =
        store().Register(Context(), kService, kApiKey, "the new registration's secret");
    if (!grant.ok()) return;
    // As many writes as the stale record had, so a backend whose versions restart with a new
    // record would hand the stale writer a matching version.
    if (!store()
             .PutSettings(Context(), kService, kApiKey, grant->admin_key.view(), R"({"new":true})")
             .ok()) {
      return;
    }
    new_grant = std::move(grant).value();
  });
  Result<AdminKeyGrant> stale = store().RegenerateAdminKey(Context(), kService, kApiKey, kSecret);
  BOOST_TEST_REQUIRE(gate->Interleaved());
  BOOST_TEST_REQUIRE(new_grant.has_value(), "deleting and registering again failed");
  BOOST_TEST((stale.status().code() == StatusCode::kUnauthorized ||
              stale.status().code() == StatusCode::kUnavailable),
             "a regeneration by the deleted customer's secret: " << Describe(stale.status()));
  BOOST_TEST(Describe(store().VerifyAdminKey(kService, kApiKey, new_grant->admin_key.view())) ==
             "ok");
  BOOST_TEST(store().VerifyAdminKey(kService, kApiKey, old_grant.admin_key.view()).code() ==
             StatusCode::kUnauthorized);
  Result<std::string> settings =
      store().GetSettings(kService, kApiKey, new_grant->admin_key.view());
  BOOST_TEST_REQUIRE(settings.ok(), Describe(settings.status()));
  BOOST_TEST(*settings == R"({"new":true})", "the new customer's record was overwritten");
}

BOOST_FIXTURE_TEST_CASE(ASettingsWriteRacingARevocationIsRefused, StoreFixture) {
  ReopenForRaces(*this);
  const AdminKeyGrant grant = MustRegister(kApiKey, kSecret);
  std::optional<AdminKeyGrant> next;
  gate->ArmInterleave("c/", [&] {
    Result<AdminKeyGrant> regenerated =
        store().RegenerateAdminKey(Context(), kService, kApiKey, kSecret);
    if (regenerated.ok()) next = std::move(regenerated).value();
  });
  Result<std::string> write =
      store().PutSettings(Context(), kService, kApiKey, grant.admin_key.view(), R"({"late":true})");
  BOOST_TEST_REQUIRE(gate->Interleaved());
  BOOST_TEST_REQUIRE(next.has_value(), "the interleaved regeneration failed");
  BOOST_TEST(write.status().code() == StatusCode::kUnauthorized,
             "a settings write by a key revoked before it committed: " << Describe(write.status()));
  Result<std::string> settings = store().GetSettings(kService, kApiKey, next->admin_key.view());
  BOOST_TEST_REQUIRE(settings.ok(), Describe(settings.status()));
  BOOST_TEST(*settings == "{}");
}

BOOST_FIXTURE_TEST_CASE(ARegenerationRacingASecretUpdateIsRefused, StoreFixture) {
  ReopenForRaces(*this);
  const AdminKeyGrant grant = MustRegister(kApiKey, kSecret);
  Status updated = Status::Internal("not run");
  gate->ArmInterleave("c/", [&] {
    updated =
        store().UpdateSecret(Context(), kService, kApiKey, kSecret, "the updated secret").status();
  });
  Result<AdminKeyGrant> stale = store().RegenerateAdminKey(Context(), kService, kApiKey, kSecret);
  BOOST_TEST_REQUIRE(gate->Interleaved());
  BOOST_TEST_REQUIRE(Describe(updated) == "ok");
  BOOST_TEST(
      stale.status().code() == StatusCode::kUnauthorized,
      "a regeneration by a secret replaced before it committed: " << Describe(stale.status()));
  BOOST_TEST(Describe(store().VerifyAdminKey(kService, kApiKey, grant.admin_key.view())) == "ok",
             "the refused regeneration revoked the admin key");
  BOOST_TEST(Describe(store()
                          .RegenerateAdminKey(Context(), kService, kApiKey, "the updated secret")
                          .status()) == "ok");
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace
}  // namespace credstore::testing
