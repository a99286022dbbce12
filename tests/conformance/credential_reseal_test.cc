// CredentialStore::ResealUnderNewestMasterKey: retiring an old master key (docs/operations.md,
// "Rotating the master key"). The keyring promises rotation "by adding a key and re-sealing";
// these tests hold the store to it on every backend:
//  - the user's sequence: keys {1}, integrators, add key 2, re-seal, keys {2} only → the store
//    opens and every integrator verifies with its secrets (and without the re-seal it does not
//    open: the keycheck record stays under key 1);
//  - a re-seal stopped halfway (a page, then the store dropped, as a crash would) finishes when
//    run again, and the old key cannot be dropped before it has;
//  - a rotation that lands while a record is being re-sealed is neither lost nor revived (the
//    compare-and-swap path), and two re-seals at once re-seal each record once;
//  - a record no key opens is counted as failed, and keeps the keycheck under the old key.
//
// Every backend runs these tests unchanged, through Harness() only.
#include <boost/test/unit_test.hpp>
#include <chrono>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "../../core/src/records.h"
#include "credstore/credential_store.h"
#include "credstore/keyring.h"
#include "credstore/status.h"
#include "store_fixture.h"
#include "support/backend_harness.h"
#include "support/test_helpers.h"

namespace credstore::testing {
namespace {

using namespace std::chrono_literals;
using Keycheck = ResealReport::Keycheck;

std::string KeycheckName(Keycheck keycheck) {
  switch (keycheck) {
    case Keycheck::kResealed:
      return "resealed";
    case Keycheck::kAlready:
      return "already";
    case Keycheck::kPending:
      return "pending";
  }
  return "?";
}

std::string Counts(const ResealReport& report) {
  return "resealed " + std::to_string(report.integrators_resealed) + ", already " +
         std::to_string(report.integrators_already) + ", failed " +
         std::to_string(report.integrators_failed) + ", keycheck " + KeycheckName(report.keycheck) +
         ", next cursor '" + report.next_cursor + "'";
}

// The keyring with only the newest master key of `keyring`: the old key retired.
Keyring NewestOnly(const Keyring& keyring) {
  Result<Keyring> only = Keyring::FromKeys(keyring.pepper(), {keyring.current_master()});
  BOOST_TEST_REQUIRE(only.ok(), Describe(only.status()));
  return std::move(only).value();
}

std::unique_ptr<CredentialStore> MustOpen(StoreFixture& f, const Keyring& with_keyring,
                                          std::string_view what) {
  Result<std::unique_ptr<CredentialStore>> opened = f.OpenSecondStore(with_keyring);
  BOOST_TEST_REQUIRE(opened.ok(), what << ": " << Describe(opened.status()));
  return std::move(opened).value();
}

ResealReport MustReseal(CredentialStore& store, const RequestContext& context,
                        std::string_view cursor = {}, std::size_t limit = 0) {
  Result<ResealReport> report = store.ResealUnderNewestMasterKey(context, cursor, limit);
  BOOST_TEST_REQUIRE(report.ok(), "reseal: " << Describe(report.status()));
  return std::move(report).value();
}

// The master key ids that seal an integrator's live secrets, read from the backend.
std::vector<std::uint32_t> SealingKeyIds(StoreFixture& f, std::string_view integrator_id) {
  Result<VersionedValue> stored =
      f.backend->Get(internal::IntegratorKey(integrator_id), f.clock->Now());
  BOOST_TEST_REQUIRE(stored.ok(), Describe(stored.status()));
  Result<internal::IntegratorRecord> record = internal::DecodeIntegrator(stored->value);
  BOOST_TEST_REQUIRE(record.ok(), Describe(record.status()));
  std::vector<std::uint32_t> ids = {record->current.master_key_id};
  if (record->old) ids.push_back(record->old->master_key_id);
  return ids;
}

BOOST_AUTO_TEST_SUITE(credential_reseal)

// The user's report, at the library level: add master key 2, reset the only integrator's secret,
// remove master key 1 → refused (the keycheck record was sealed once, under key 1). With a
// re-seal in between, the store opens under key 2 alone and every secret still verifies: the
// current ones, a graced old one, and one reset after key 2 was added.
BOOST_FIXTURE_TEST_CASE(RetiringTheOldMasterKeyWorksAfterAReseal, StoreFixture) {
  const IntegratorSecret plain = MustCreateIntegrator("plain");
  const IntegratorSecret graced = MustCreateIntegrator("graced");
  Result<IntegratorSecret> graced_new = RotateWith(graced.integrator_id, graced.secret.view(), 1h);
  BOOST_TEST_REQUIRE(graced_new.ok(), Describe(graced_new.status()));
  const IntegratorSecret reset = MustCreateIntegrator("reset");

  const Keyring both = keyring.WithNewMasterKey();
  const Keyring newest = NewestOnly(both);
  const std::uint32_t new_id = both.current_master().id;
  std::unique_ptr<CredentialStore> rotated = MustOpen(*this, both, "keys {1, 2}");
  Result<IntegratorSecret> reset_new =
      rotated->ResetIntegratorSecret(Context(), reset.integrator_id);
  BOOST_TEST_REQUIRE(reset_new.ok(), Describe(reset_new.status()));

  // Before the re-seal, key 1 cannot go: the keycheck (and two integrators) still need it. The
  // refusal names the key id, never key bytes.
  Result<std::unique_ptr<CredentialStore>> early = OpenSecondStore(newest);
  BOOST_TEST(early.status().code() == StatusCode::kUnauthorized, Describe(early.status()));
  BOOST_TEST(
      early.status().message().find(
          "master key id " + std::to_string(keyring.current_master().id)) != std::string::npos,
      early.status().message());

  const ResealReport report = MustReseal(*rotated, Context());
  BOOST_TEST(report.integrators_resealed == 2u, Counts(report));
  BOOST_TEST(report.integrators_already == 1u, Counts(report));  // reset under key 2 already
  BOOST_TEST(report.integrators_failed == 0u, Counts(report));
  BOOST_TEST((report.keycheck == Keycheck::kResealed), Counts(report));
  BOOST_TEST(report.next_cursor.empty(), Counts(report));
  for (const IntegratorSecret* integrator : {&plain, &graced, &reset}) {
    for (std::uint32_t id : SealingKeyIds(*this, integrator->integrator_id)) {
      BOOST_TEST(id == new_id, integrator->integrator_id << " still has a secret under key " << id);
    }
  }

  // Key 1 retired: the store opens, and every secret verifies as before.
  rotated.reset();
  std::unique_ptr<CredentialStore> retired = MustOpen(*this, newest, "keys {2} after the reseal");
  BOOST_TEST(Describe(retired->CheckReady()) == "ok");
  BOOST_TEST(
      Describe(VerifyFresh(plain.integrator_id, plain.secret.view(), retired.get()).status()) ==
      "ok");
  Result<VerifiedRequest> by_new =
      VerifyFresh(graced.integrator_id, graced_new->secret.view(), retired.get());
  BOOST_TEST_REQUIRE(by_new.ok(), Describe(by_new.status()));
  BOOST_TEST(by_new->signed_with_current);
  Result<VerifiedRequest> by_old =
      VerifyFresh(graced.integrator_id, graced.secret.view(), retired.get());
  BOOST_TEST_REQUIRE(by_old.ok(), "the graced old secret: " << Describe(by_old.status()));
  BOOST_TEST(!by_old->signed_with_current);
  BOOST_TEST(Describe(VerifyFresh(reset.integrator_id, reset_new->secret.view(), retired.get())
                          .status()) == "ok");
  BOOST_TEST(VerifyFresh(reset.integrator_id, reset.secret.view(), retired.get()).status().code() ==
             StatusCode::kUnauthorized);
  // And rotation goes on under key 2.
  Result<IntegratorSecret> after =
      RotateWith(plain.integrator_id, plain.secret.view(), 0ms, retired.get());
  BOOST_TEST_REQUIRE(after.ok(), Describe(after.status()));
  BOOST_TEST(
      Describe(VerifyFresh(plain.integrator_id, after->secret.view(), retired.get()).status()) ==
      "ok");

  // Idempotent: a second run finds everything under key 2 and writes nothing.
  const std::vector<ScanEntry> before = Snapshot();
  const ResealReport again = MustReseal(*retired, Context());
  BOOST_TEST(again.integrators_resealed == 0u, Counts(again));
  BOOST_TEST(again.integrators_already == 3u, Counts(again));
  BOOST_TEST((again.keycheck == Keycheck::kAlready), Counts(again));
  BOOST_TEST(SameRecords(before, Snapshot()), "a reseal with nothing to do wrote records");
}

// A re-seal that stops after its first page — the store dropped, as when credstored is killed —
// leaves every record either as it was or re-sealed (one compare-and-swap each), keeps the
// keycheck under the old key (so the old key cannot be retired yet), and a new run finishes it,
// from the start or from the page's cursor.
BOOST_FIXTURE_TEST_CASE(AnInterruptedResealFinishesWhenRunAgain, StoreFixture) {
  std::vector<IntegratorSecret> integrators;
  for (int i = 0; i < 5; ++i) integrators.push_back(MustCreateIntegrator("n" + std::to_string(i)));
  const Keyring both = keyring.WithNewMasterKey();

  std::unique_ptr<CredentialStore> first = MustOpen(*this, both, "keys {1, 2}");
  const ResealReport page = MustReseal(*first, Context(), {}, 2);
  BOOST_TEST(page.integrators_resealed == 2u, Counts(page));
  BOOST_TEST((page.keycheck == Keycheck::kPending), Counts(page));
  BOOST_TEST_REQUIRE(!page.next_cursor.empty(), Counts(page));
  first.reset();  // the crash

  Result<std::unique_ptr<CredentialStore>> early = OpenSecondStore(NewestOnly(both));
  BOOST_TEST(early.status().code() == StatusCode::kUnauthorized,
             "key 1 retired after half a reseal: " << Describe(early.status()));

  // Resumed with the cursor, a page at a time: the last page moves the keycheck.
  std::unique_ptr<CredentialStore> second = MustOpen(*this, both, "keys {1, 2} again");
  ResealReport resumed = MustReseal(*second, Context(), page.next_cursor, 2);
  std::uint64_t resealed = resumed.integrators_resealed;
  std::uint64_t already = resumed.integrators_already;
  for (int pages = 0; !resumed.next_cursor.empty() && pages < 10; ++pages) {
    BOOST_TEST((resumed.keycheck == Keycheck::kPending), Counts(resumed));
    resumed = MustReseal(*second, Context(), resumed.next_cursor, 2);
    resealed += resumed.integrators_resealed;
    already += resumed.integrators_already;
  }
  BOOST_TEST(resumed.next_cursor.empty(), Counts(resumed));
  BOOST_TEST(resealed == 3u);
  BOOST_TEST(already == 0u);
  BOOST_TEST((resumed.keycheck == Keycheck::kResealed), Counts(resumed));

  // Run again from the start, as an operator unsure where it stopped would: nothing to do.
  const ResealReport whole = MustReseal(*second, Context());
  BOOST_TEST(whole.integrators_already == 5u, Counts(whole));
  BOOST_TEST(whole.integrators_resealed == 0u, Counts(whole));
  BOOST_TEST((whole.keycheck == Keycheck::kAlready), Counts(whole));

  second.reset();
  std::unique_ptr<CredentialStore> retired = MustOpen(*this, NewestOnly(both), "keys {2}");
  for (const IntegratorSecret& integrator : integrators) {
    BOOST_TEST(
        Describe(VerifyFresh(integrator.integrator_id, integrator.secret.view(), retired.get())
                     .status()) == "ok",
        integrator.integrator_id);
  }
}

// The same crash, then a run from the start (no cursor): it re-seals what is left, skips what
// was done, and moves the keycheck.
BOOST_FIXTURE_TEST_CASE(AnInterruptedResealRunAgainFromTheStartFinishes, StoreFixture) {
  std::vector<IntegratorSecret> integrators;
  for (int i = 0; i < 4; ++i) integrators.push_back(MustCreateIntegrator("m" + std::to_string(i)));
  const Keyring both = keyring.WithNewMasterKey();
  {
    std::unique_ptr<CredentialStore> first = MustOpen(*this, both, "keys {1, 2}");
    const ResealReport page = MustReseal(*first, Context(), {}, 1);
    BOOST_TEST(page.integrators_resealed == 1u, Counts(page));
  }
  std::unique_ptr<CredentialStore> second = MustOpen(*this, both, "keys {1, 2} again");
  const ResealReport report = MustReseal(*second, Context());
  BOOST_TEST(report.integrators_resealed == 3u, Counts(report));
  BOOST_TEST(report.integrators_already == 1u, Counts(report));
  BOOST_TEST((report.keycheck == Keycheck::kResealed), Counts(report));
  second.reset();
  std::unique_ptr<CredentialStore> retired = MustOpen(*this, NewestOnly(both), "keys {2}");
  for (const IntegratorSecret& integrator : integrators) {
    BOOST_TEST(
        Describe(VerifyFresh(integrator.integrator_id, integrator.secret.view(), retired.get())
                     .status()) == "ok",
        integrator.integrator_id);
  }
}

// A rotation lands between the re-seal's read of a record and its compare-and-swap (the gate
// runs it inside the re-seal's read). The re-seal must not write its stale copy: the rotation's
// new secret stays current (not lost) and, with grace 0, the secret it replaced stays gone (not
// revived). One rotation through a server that still has only key 1 (its new secret sealed
// under key 1, which the retry re-seals), one through a server with both keys and a grace.
BOOST_FIXTURE_TEST_CASE(AConcurrentRotationIsNeitherLostNorRevived, StoreFixture) {
  ReopenGated(TestOptions());
  const IntegratorSecret a = MustCreateIntegrator("a");
  const IntegratorSecret b = MustCreateIntegrator("b");
  const bool a_first = a.integrator_id < b.integrator_id;
  const IntegratorSecret& first = a_first ? a : b;
  const IntegratorSecret& second = a_first ? b : a;
  const Keyring both = keyring.WithNewMasterKey();
  std::unique_ptr<CredentialStore> resealer = MustOpen(*this, both, "keys {1, 2}");
  const std::uint64_t retries_before = resealer->Stats().cas_retries;

  // First record: rotated with grace 0 by the fixture's store (keys {1} only).
  Result<IntegratorSecret> first_new = Status::Internal("not rotated");
  gate->ArmInterleave(std::string(internal::kIntegratorKeyPrefix), [&] {
    first_new = RotateWith(first.integrator_id, first.secret.view(), 0ms);
  });
  ResealReport page = MustReseal(*resealer, Context(), {}, 1);
  BOOST_TEST_REQUIRE(gate->Interleaved(), "the rotation did not run inside the reseal");
  BOOST_TEST_REQUIRE(first_new.ok(), Describe(first_new.status()));
  BOOST_TEST(page.integrators_resealed == 1u, Counts(page));

  // Second record: rotated with a grace by a server with both keys.
  Result<IntegratorSecret> second_new = Status::Internal("not rotated");
  gate->ArmInterleave(std::string(internal::kIntegratorKeyPrefix), [&] {
    second_new = RotateWith(second.integrator_id, second.secret.view(), 1h, resealer.get());
  });
  page = MustReseal(*resealer, Context(), page.next_cursor, 1);
  BOOST_TEST_REQUIRE(gate->Interleaved(), "the second rotation did not run inside the reseal");
  BOOST_TEST_REQUIRE(second_new.ok(), Describe(second_new.status()));
  // Its rotation re-sealed the graced secret under key 2 itself: nothing left to do.
  BOOST_TEST(page.integrators_already == 1u, Counts(page));
  while (!page.next_cursor.empty()) page = MustReseal(*resealer, Context(), page.next_cursor, 1);
  BOOST_TEST((page.keycheck == Keycheck::kResealed), Counts(page));
  BOOST_TEST(resealer->Stats().cas_retries > retries_before, "the conflict path was not taken");

  resealer.reset();
  std::unique_ptr<CredentialStore> retired = MustOpen(*this, NewestOnly(both), "keys {2}");
  BOOST_TEST(
      Describe(
          VerifyFresh(first.integrator_id, first_new->secret.view(), retired.get()).status()) ==
          "ok",
      "the rotation during the reseal was lost");
  BOOST_TEST(VerifyFresh(first.integrator_id, first.secret.view(), retired.get()).status().code() ==
                 StatusCode::kUnauthorized,
             "the secret the rotation dropped came back");
  BOOST_TEST(Describe(VerifyFresh(second.integrator_id, second_new->secret.view(), retired.get())
                          .status()) == "ok");
  Result<VerifiedRequest> graced =
      VerifyFresh(second.integrator_id, second.secret.view(), retired.get());
  BOOST_TEST(Describe(graced.status()) == "ok", "the graced old secret after the reseal");
  Result<IntegratorInfo> info = retired->GetIntegrator(first.integrator_id);
  BOOST_TEST_REQUIRE(info.ok(), Describe(info.status()));
  BOOST_TEST(info->generation == first_new->generation);
}

// Two re-seals at once (two servers): every record is re-sealed by exactly one of them, and both
// finish.
BOOST_FIXTURE_TEST_CASE(TwoResealsAtOnceResealEachRecordOnce, StoreFixture) {
  std::vector<IntegratorSecret> integrators;
  for (int i = 0; i < 6; ++i) integrators.push_back(MustCreateIntegrator("c" + std::to_string(i)));
  const Keyring both = keyring.WithNewMasterKey();
  std::unique_ptr<CredentialStore> one = MustOpen(*this, both, "server one");
  std::unique_ptr<CredentialStore> two = MustOpen(*this, both, "server two");
  CredentialStore* stores[] = {one.get(), two.get()};
  Result<ResealReport> reports[2] = {Status::Internal("not run"), Status::Internal("not run")};
  const RequestContext context = Context();
  RunConcurrently(
      2, [&](int i) { reports[i] = stores[i]->ResealUnderNewestMasterKey(context, {}, 0); });
  BOOST_TEST_REQUIRE(reports[0].ok(), Describe(reports[0].status()));
  BOOST_TEST_REQUIRE(reports[1].ok(), Describe(reports[1].status()));
  BOOST_TEST(reports[0]->integrators_resealed + reports[1]->integrators_resealed == 6u,
             Counts(*reports[0]) << " / " << Counts(*reports[1]));
  BOOST_TEST(reports[0]->integrators_failed + reports[1]->integrators_failed == 0u);
  BOOST_TEST(((reports[0]->keycheck == Keycheck::kResealed) !=
              (reports[1]->keycheck == Keycheck::kResealed)),
             "the keycheck must be re-sealed by exactly one: " << Counts(*reports[0]) << " / "
                                                               << Counts(*reports[1]));
  one.reset();
  two.reset();
  std::unique_ptr<CredentialStore> retired = MustOpen(*this, NewestOnly(both), "keys {2}");
  for (const IntegratorSecret& integrator : integrators) {
    BOOST_TEST(
        Describe(VerifyFresh(integrator.integrator_id, integrator.secret.view(), retired.get())
                     .status()) == "ok");
  }
}

// A sealed secret that no key opens (its bytes damaged in storage) cannot be re-sealed: it is
// counted as failed, the other records are re-sealed, and the keycheck stays under the old key,
// so the old key is not retired while a record still names it. Deleting the broken integrator
// lets the next run finish.
BOOST_FIXTURE_TEST_CASE(ARecordThatDoesNotOpenFailsAndKeepsTheKeycheck, StoreFixture) {
  const IntegratorSecret good = MustCreateIntegrator("good");
  const IntegratorSecret broken = MustCreateIntegrator("broken");
  {
    Result<VersionedValue> stored =
        backend->Get(internal::IntegratorKey(broken.integrator_id), clock->Now());
    BOOST_TEST_REQUIRE(stored.ok(), Describe(stored.status()));
    Result<internal::IntegratorRecord> record = internal::DecodeIntegrator(stored->value);
    BOOST_TEST_REQUIRE(record.ok(), Describe(record.status()));
    record->current.sealed.back() = static_cast<char>(record->current.sealed.back() ^ 1);
    BOOST_TEST_REQUIRE(backend
                           ->CompareAndSwap(internal::IntegratorKey(broken.integrator_id),
                                            stored->version, internal::Encode(*record), {},
                                            clock->Now())
                           .ok());
  }
  const Keyring both = keyring.WithNewMasterKey();
  std::unique_ptr<CredentialStore> rotated = MustOpen(*this, both, "keys {1, 2}");
  const ResealReport report = MustReseal(*rotated, Context());
  BOOST_TEST(report.integrators_resealed == 1u, Counts(report));
  BOOST_TEST(report.integrators_failed == 1u, Counts(report));
  BOOST_TEST((report.keycheck == Keycheck::kPending), Counts(report));
  Result<std::unique_ptr<CredentialStore>> early = OpenSecondStore(NewestOnly(both));
  BOOST_TEST(early.status().code() == StatusCode::kUnauthorized, Describe(early.status()));

  BOOST_TEST_REQUIRE(rotated->DeleteIntegrator(Context(), broken.integrator_id).ok());
  const ResealReport again = MustReseal(*rotated, Context());
  BOOST_TEST(again.integrators_failed == 0u, Counts(again));
  BOOST_TEST((again.keycheck == Keycheck::kResealed), Counts(again));
  rotated.reset();
  std::unique_ptr<CredentialStore> retired = MustOpen(*this, NewestOnly(both), "keys {2}");
  BOOST_TEST(
      Describe(VerifyFresh(good.integrator_id, good.secret.view(), retired.get()).status()) ==
      "ok");
}

// A store with no integrator: the re-seal moves the keycheck alone. A limit beyond a page is
// refused before anything is read.
BOOST_FIXTURE_TEST_CASE(AnEmptyStoreResealsTheKeycheckAndLimitsAreChecked, StoreFixture) {
  const Keyring both = keyring.WithNewMasterKey();
  std::unique_ptr<CredentialStore> rotated = MustOpen(*this, both, "keys {1, 2}");
  BOOST_TEST(rotated->ResealUnderNewestMasterKey(Context(), {}, 1001).status().code() ==
             StatusCode::kInvalidArgument);
  const ResealReport report = MustReseal(*rotated, Context(), {}, 1000);
  BOOST_TEST(report.integrators_resealed + report.integrators_already == 0u, Counts(report));
  BOOST_TEST((report.keycheck == Keycheck::kResealed), Counts(report));
  rotated.reset();
  MustOpen(*this, NewestOnly(both), "keys {2}");
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace
}  // namespace credstore::testing
