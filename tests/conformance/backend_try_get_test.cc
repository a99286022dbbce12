// The StorageBackend contract's non-blocking read (credstore/storage_backend.h, "Not blocking"):
// TryGet answers nullopt ("would block") or exactly what Get answers at that moment — the record
// with its value, version and expiry, or kNotFound for an absent or expired one — through
// Create, CompareAndSwap, Erase and expiry. A backend that answers from memory must answer every
// uncontended TryGet.
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
#include "support/test_helpers.h"

namespace credstore::testing {
namespace {

using namespace std::chrono_literals;

constexpr Timestamp kNow = kBackendTestEpoch;

// Checks that TryGet(key, now) is nullopt or Get(key, now)'s answer, and that a backend that
// answers from memory answers. Single-threaded, so nothing changes between the two calls.
void ExpectTryGetAgrees(StorageBackend& backend, std::string_view key, Timestamp now) {
  const Result<VersionedValue> got = backend.Get(key, now);
  const std::optional<Result<VersionedValue>> tried = backend.TryGet(key, now);
  if (backend.AnswersFromMemory()) {
    BOOST_TEST(tried.has_value(), "a backend that answers from memory must answer TryGet");
  }
  if (!tried) return;
  BOOST_TEST(tried->status().code() == got.status().code());
  if (tried->ok() && got.ok()) {
    BOOST_TEST((*tried)->value == got->value);
    BOOST_TEST((*tried)->version == got->version);
    BOOST_TEST(ExpiryText((*tried)->expires_at) == ExpiryText(got->expires_at));
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
