// The StorageBackend contract's non-blocking read (credstore/storage_backend.h, "Not blocking"):
// TryGet answers nullopt ("would block") or exactly what Get answers at that moment — the record
// with its value, version and expiry, or kNotFound for an absent or expired one — through
// Create, CompareAndSwap, Erase and expiry. A backend that answers from memory must answer every
// uncontended TryGet.
//
// The reads in place ("Reading in place") answer the same: Inspect as Get, TryInspect as TryGet,
// each handing its callback the live record once, and never calling it for an absent one. Each
// check below runs all four reads; the keys include one under a verification prefix
// (storage_keys.h), the records a near-cache keeps, so a cache's hits answer them too.
//
// Every backend runs these tests unchanged, through the harness only; a backend whose TryGet
// always says "would block" passes them, as the contract allows.
#include <boost/test/unit_test.hpp>
#include <chrono>
#include <optional>
#include <string>
#include <string_view>

#include "credstore/clock.h"
#include "credstore/status.h"
#include "credstore/storage_backend.h"
#include "credstore/storage_keys.h"
#include "support/test_helpers.h"

namespace credstore::testing {
namespace {

using namespace std::chrono_literals;

constexpr Timestamp kNow = kBackendTestEpoch;

// Checks that `answer` (a read's Status, and the record it handed over or returned, if any) is
// Get's answer `got`.
void ExpectSameAnswer(const Result<VersionedValue>& got, const Status& answer,
                      const std::optional<VersionedValue>& record, const char* read) {
  BOOST_TEST_CONTEXT(read) {
    BOOST_TEST(answer.code() == got.status().code());
    BOOST_TEST(record.has_value() == answer.ok(), "a record handed over exactly on OK");
    if (record && got.ok()) {
      BOOST_TEST(record->value == got->value);
      BOOST_TEST(record->version == got->version);
      BOOST_TEST(ExpiryText(record->expires_at) == ExpiryText(got->expires_at));
    }
  }
}

// A callback for Inspect that keeps a copy of what it is handed, and counts its calls.
struct Inspected {
  std::optional<VersionedValue> record;
  int calls = 0;
  auto Callback() {
    return [this](const RecordView& view) {
      ++calls;
      record = VersionedValue{std::string(view.value), view.version, view.expires_at};
    };
  }
};

// Checks that TryGet(key, now) is nullopt or Get(key, now)'s answer, that Inspect answers as
// Get and TryInspect as TryGet (each calling back at most once), and that a backend that answers
// from memory answers. Single-threaded, so nothing changes between the calls.
void ExpectTryGetAgrees(StorageBackend& backend, std::string_view key, Timestamp now) {
  const Result<VersionedValue> got = backend.Get(key, now);
  const std::optional<Result<VersionedValue>> tried = backend.TryGet(key, now);
  if (backend.AnswersFromMemory()) {
    BOOST_TEST(tried.has_value(), "a backend that answers from memory must answer TryGet");
  }
  if (tried) {
    ExpectSameAnswer(got, tried->status(),
                     tried->ok() ? std::optional<VersionedValue>(**tried) : std::nullopt, "TryGet");
  }

  Inspected in_place;
  const Status inspected = backend.Inspect(key, now, in_place.Callback());
  BOOST_TEST(in_place.calls <= 1);
  ExpectSameAnswer(got, inspected, in_place.record, "Inspect");

  Inspected tried_in_place;
  const std::optional<Status> try_inspected =
      backend.TryInspect(key, now, tried_in_place.Callback());
  BOOST_TEST(tried_in_place.calls <= 1);
  if (backend.AnswersFromMemory()) {
    BOOST_TEST(try_inspected.has_value(), "a backend that answers from memory must answer");
  }
  if (try_inspected) {
    ExpectSameAnswer(got, *try_inspected, tried_in_place.record, "TryInspect");
  } else {
    BOOST_TEST(tried_in_place.calls == 0, "no call back when the read would block");
  }
}

}  // namespace

BOOST_AUTO_TEST_SUITE(backend_try_get)

BOOST_AUTO_TEST_CASE(try_get_of_missing_key_agrees_with_get) {
  auto backend = OpenEmptyBackend();
  ExpectTryGetAgrees(*backend, "try/missing", kNow);
  MustCreate(*backend, "try/abc", "x", NoExpiry(), kNow);
  ExpectTryGetAgrees(*backend, "try/ab", kNow);
  ExpectTryGetAgrees(*backend, "try/abcd", kNow);
}

BOOST_AUTO_TEST_CASE(try_get_agrees_with_get_through_create_cas_and_erase) {
  auto backend = OpenEmptyBackend();
  const Timestamp expiry = kNow + 1h;
  const Version v1 = MustCreate(*backend, "try/k", "one", ExpiresAt(expiry), kNow);
  ExpectTryGetAgrees(*backend, "try/k", kNow);

  // A refused Create and a stale CompareAndSwap change nothing, for TryGet either.
  BOOST_TEST(backend->Create("try/k", "again", NoExpiry(), kNow).status().code() ==
             StatusCode::kConflict);
  ExpectTryGetAgrees(*backend, "try/k", kNow);

  const Version v2 = MustCas(*backend, "try/k", v1, "two", NoExpiry(), kNow);
  ExpectTryGetAgrees(*backend, "try/k", kNow);
  BOOST_TEST(backend->CompareAndSwap("try/k", v1, "stale", NoExpiry(), kNow).status().code() ==
             StatusCode::kConflict);
  ExpectTryGetAgrees(*backend, "try/k", kNow);

  const Version v3 = MustCas(*backend, "try/k", v2, "", NonDurable(expiry), kNow);
  ExpectTryGetAgrees(*backend, "try/k", kNow);  // an empty value is a record, not an absence

  BOOST_TEST_REQUIRE(backend->Erase("try/k", v3, kNow).ok());
  ExpectTryGetAgrees(*backend, "try/k", kNow);

  MustCreate(*backend, "try/k", "recreated", NoExpiry(), kNow);
  ExpectTryGetAgrees(*backend, "try/k", kNow);
}

// Expired reads as absent to TryGet exactly as to Get: live at T - 1 ms, absent from T on.
BOOST_AUTO_TEST_CASE(try_get_treats_expired_as_absent_like_get) {
  auto backend = OpenEmptyBackend();
  const Timestamp t = kNow + 1h;
  const Version v1 = MustCreate(*backend, "try/k", "value", ExpiresAt(t), kNow);
  for (const Timestamp at : {t - 1ms, t, t + 1ms, t + 24h}) {
    BOOST_TEST_CONTEXT("now = expires_at + " << (at - t).count() << " ms") {
      ExpectTryGetAgrees(*backend, "try/k", at);
    }
  }
  // Replaced by Create once expired: TryGet sees the new record, not the old one.
  const Version fresh = MustCreate(*backend, "try/k", "new", NoExpiry(), t + 24h);
  BOOST_TEST(fresh > v1);
  ExpectTryGetAgrees(*backend, "try/k", t + 24h);
}

// A key under a verification prefix, read twice so that a near-cache answers the second time:
// its hits must answer as the server does, through a write, an erase and expiry.
BOOST_AUTO_TEST_CASE(reads_of_a_verification_key_agree_when_cached) {
  auto backend = OpenEmptyBackend();
  const std::string key = std::string(kVerificationKeyPrefixes[0]) + "try/cached";
  const Timestamp expiry = kNow + 1h;
  for (int pass = 0; pass < 2; ++pass) ExpectTryGetAgrees(*backend, key, kNow);  // an absence
  const Version v1 = MustCreate(*backend, key, "one", ExpiresAt(expiry), kNow);
  for (int pass = 0; pass < 2; ++pass) ExpectTryGetAgrees(*backend, key, kNow);
  ExpectTryGetAgrees(*backend, key, expiry);  // expired, from the cached copy too
  const Version v2 = MustCas(*backend, key, v1, "two", NoExpiry(), kNow);
  for (int pass = 0; pass < 2; ++pass) ExpectTryGetAgrees(*backend, key, kNow);
  BOOST_TEST_REQUIRE(backend->Erase(key, v2, kNow).ok());
  for (int pass = 0; pass < 2; ++pass) ExpectTryGetAgrees(*backend, key, kNow);
}

BOOST_AUTO_TEST_CASE(try_get_changes_nothing) {
  auto backend = OpenEmptyBackend();
  const Version v1 = MustCreate(*backend, "try/k", "value", NoExpiry(), kNow);
  for (int i = 0; i < 3; ++i) {
    (void)backend->TryGet("try/k", kNow);
    (void)backend->TryGet("try/absent", kNow);
  }
  const VersionedValue got = MustGet(*backend, "try/k", kNow);
  BOOST_TEST(got.value == "value");
  BOOST_TEST(got.version == v1);
  BOOST_TEST(backend->Get("try/absent", kNow).status().code() == StatusCode::kNotFound);
  BOOST_TEST(KeysOf(ScanAll(*backend, "try/", 10, kNow)) == (std::vector<std::string>{"try/k"}),
             boost::test_tools::per_element());
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace credstore::testing
