// The StorageBackend contract (credstore/storage_backend.h), single-threaded part: Get, Create,
// CompareAndSwap and Erase, versions, expiry, values, keys and durability flags.
//
// Every backend runs these tests unchanged; they reach the backend only through the harness and
// never ask which backend they run on. Time is passed explicitly and, within one store, only
// moves forward: a backend may collect records that have expired at the latest `now` it saw.
#include <algorithm>
#include <boost/test/unit_test.hpp>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "credstore/clock.h"
#include "credstore/status.h"
#include "credstore/storage_backend.h"
#include "support/test_helpers.h"

namespace credstore::testing {
namespace {

using namespace std::chrono_literals;

constexpr Timestamp kNow = kBackendTestEpoch;

// Index of the first byte where `a` and `b` differ (or the shorter size); for failure messages
// that do not dump 64 KiB of binary.
std::size_t FirstDifference(std::string_view a, std::string_view b) {
  const std::size_t n = std::min(a.size(), b.size());
  return static_cast<std::size_t>(std::mismatch(a.begin(), a.begin() + n, b.begin()).first -
                                  a.begin());
}

// `size` deterministic pseudo-random bytes (every byte value occurs for sizes in the KiB).
std::string PseudoRandomBytes(std::size_t size, std::uint32_t seed) {
  std::string bytes(size, '\0');
  std::uint32_t state = seed;
  for (char& c : bytes) {
    state = state * 1664525u + 1013904223u;  // Numerical Recipes LCG; quality is irrelevant here.
    c = static_cast<char>(state >> 24);
  }
  return bytes;
}

// Checks the live record under `key` is exactly (value, version, expires_at).
void ExpectRecord(StorageBackend& backend, std::string_view key, std::string_view value,
                  Version version, std::optional<Timestamp> expires_at, Timestamp now) {
  const VersionedValue got = MustGet(backend, key, now);
  BOOST_TEST(got.value == value);
  BOOST_TEST(got.version == version);
  BOOST_TEST(ExpiryText(got.expires_at) == ExpiryText(expires_at));
}

StatusCode GetCode(StorageBackend& backend, std::string_view key, Timestamp now) {
  return backend.Get(key, now).status().code();
}

}  // namespace

BOOST_AUTO_TEST_SUITE(backend_contract)

// --- Get and Create ---

BOOST_AUTO_TEST_CASE(get_of_missing_key_is_not_found) {
  auto backend = OpenEmptyBackend();
  BOOST_TEST(GetCode(*backend, "contract/missing", kNow) == StatusCode::kNotFound);

  // Neighbours of an existing key must not answer for it (prefix seeks in ordered stores).
  MustCreate(*backend, "contract/abc", "x", NoExpiry(), kNow);
  BOOST_TEST(GetCode(*backend, "contract/ab", kNow) == StatusCode::kNotFound);
  BOOST_TEST(GetCode(*backend, "contract/abcd", kNow) == StatusCode::kNotFound);
  BOOST_TEST(GetCode(*backend, "contract/abd", kNow) == StatusCode::kNotFound);
}

BOOST_AUTO_TEST_CASE(create_then_get_returns_what_was_written) {
  auto backend = OpenEmptyBackend();
  const Timestamp expiry = kNow + 1h;
  const Version expiring =
      MustCreate(*backend, "contract/expiring", "hello", ExpiresAt(expiry), kNow);
  const Version forever = MustCreate(*backend, "contract/forever", "world", NoExpiry(), kNow);

  ExpectRecord(*backend, "contract/expiring", "hello", expiring, expiry, kNow);
  ExpectRecord(*backend, "contract/forever", "world", forever, std::nullopt, kNow);
}

BOOST_AUTO_TEST_CASE(create_on_live_key_conflicts_and_changes_nothing) {
  auto backend = OpenEmptyBackend();
  const Timestamp expiry = kNow + 1h;
  const Version v1 = MustCreate(*backend, "contract/k", "first", ExpiresAt(expiry), kNow);

  BOOST_TEST(backend->Create("contract/k", "second", NoExpiry(), kNow).status().code() ==
             StatusCode::kConflict);
  BOOST_TEST(backend->Create("contract/k", "third", NonDurable(), kNow).status().code() ==
             StatusCode::kConflict);

  // Neither value, version nor expiry moved.
  ExpectRecord(*backend, "contract/k", "first", v1, expiry, kNow);
}

// --- CompareAndSwap ---

BOOST_AUTO_TEST_CASE(cas_with_current_version_gives_a_greater_version) {
  auto backend = OpenEmptyBackend();
  const Version v1 = MustCreate(*backend, "contract/k", "one", NoExpiry(), kNow);
  const Version v2 = MustCas(*backend, "contract/k", v1, "two", NoExpiry(), kNow);
  BOOST_TEST(v2 > v1);
  ExpectRecord(*backend, "contract/k", "two", v2, std::nullopt, kNow);

  const Version v3 = MustCas(*backend, "contract/k", v2, "three", NoExpiry(), kNow);
  BOOST_TEST(v3 > v2);
  ExpectRecord(*backend, "contract/k", "three", v3, std::nullopt, kNow);
}

BOOST_AUTO_TEST_CASE(cas_with_stale_version_conflicts_and_changes_nothing) {
  auto backend = OpenEmptyBackend();
  const Timestamp expiry = kNow + 1h;
  const Version v1 = MustCreate(*backend, "contract/k", "one", ExpiresAt(expiry), kNow);
  const Version v2 = MustCas(*backend, "contract/k", v1, "two", ExpiresAt(expiry), kNow);

  // The version just replaced, zero (never a version) and a version from the future.
  for (const Version wrong : {v1, Version{0}, v2 + 1000}) {
    BOOST_TEST_CONTEXT("expected version " << wrong) {
      BOOST_TEST(
          backend->CompareAndSwap("contract/k", wrong, "stale", NoExpiry(), kNow).status().code() ==
          StatusCode::kConflict);
    }
  }
  ExpectRecord(*backend, "contract/k", "two", v2, expiry, kNow);
}

BOOST_AUTO_TEST_CASE(cas_on_missing_key_is_not_found_and_creates_nothing) {
  auto backend = OpenEmptyBackend();
  BOOST_TEST(
      backend->CompareAndSwap("contract/missing", 1, "x", NoExpiry(), kNow).status().code() ==
      StatusCode::kNotFound);
  BOOST_TEST(GetCode(*backend, "contract/missing", kNow) == StatusCode::kNotFound);

  // After Erase the key is missing too, even for the version it had.
  const Version v1 = MustCreate(*backend, "contract/erased", "x", NoExpiry(), kNow);
  BOOST_TEST_REQUIRE(backend->Erase("contract/erased", v1, kNow).ok());
  BOOST_TEST(
      backend->CompareAndSwap("contract/erased", v1, "y", NoExpiry(), kNow).status().code() ==
      StatusCode::kNotFound);
  BOOST_TEST(GetCode(*backend, "contract/erased", kNow) == StatusCode::kNotFound);
}

// --- Erase ---

BOOST_AUTO_TEST_CASE(erase_checks_the_version) {
  auto backend = OpenEmptyBackend();
  const Version v1 = MustCreate(*backend, "contract/k", "value", NoExpiry(), kNow);

  for (const Version wrong : {v1 + 1, Version{0}}) {
    BOOST_TEST_CONTEXT("expected version " << wrong) {
      BOOST_TEST(backend->Erase("contract/k", wrong, kNow).code() == StatusCode::kConflict);
    }
  }
  ExpectRecord(*backend, "contract/k", "value", v1, std::nullopt, kNow);

  const Status erased = backend->Erase("contract/k", v1, kNow);
  BOOST_TEST(erased.ok(), erased.ToString());
  BOOST_TEST(GetCode(*backend, "contract/k", kNow) == StatusCode::kNotFound);
  BOOST_TEST(ScanAll(*backend, "contract/", 10, kNow).empty());
}

BOOST_AUTO_TEST_CASE(erase_of_missing_key_is_not_found) {
  auto backend = OpenEmptyBackend();
  BOOST_TEST(backend->Erase("contract/missing", 1, kNow).code() == StatusCode::kNotFound);

  const Version v1 = MustCreate(*backend, "contract/k", "value", NoExpiry(), kNow);
  BOOST_TEST_REQUIRE(backend->Erase("contract/k", v1, kNow).ok());
  BOOST_TEST(backend->Erase("contract/k", v1, kNow).code() == StatusCode::kNotFound);
}

// --- Versions ---

// Erase-and-recreate must never bring back a version a caller may still hold (no ABA): a stale
// CompareAndSwap or Erase from before the erase has to fail against the new record.
BOOST_AUTO_TEST_CASE(versions_are_never_reused_after_erase) {
  auto backend = OpenEmptyBackend();
  std::vector<Version> earlier;
  for (int cycle = 0; cycle < 3; ++cycle) {
    Version current = MustCreate(*backend, "contract/k", "created", NoExpiry(), kNow);
    for (int i = 0; i < 3; ++i) {
      for (const Version old : earlier) BOOST_TEST(current > old);
      earlier.push_back(current);
      current = MustCas(*backend, "contract/k", current, "swapped", NoExpiry(), kNow);
    }
    for (const Version old : earlier) BOOST_TEST(current > old);
    earlier.push_back(current);
    BOOST_TEST_REQUIRE(backend->Erase("contract/k", current, kNow).ok());
  }

  const Version recreated = MustCreate(*backend, "contract/k", "recreated", NoExpiry(), kNow);
  for (const Version old : earlier) {
    BOOST_TEST_CONTEXT("earlier version " << old) {
      BOOST_TEST(recreated > old);
      BOOST_TEST(
          backend->CompareAndSwap("contract/k", old, "aba", NoExpiry(), kNow).status().code() ==
          StatusCode::kConflict);
      BOOST_TEST(backend->Erase("contract/k", old, kNow).code() == StatusCode::kConflict);
    }
  }
  ExpectRecord(*backend, "contract/k", "recreated", recreated, std::nullopt, kNow);
}

// --- Expiry: a record with expires_at = T is live at T - 1 ms and absent from T on ---

BOOST_AUTO_TEST_CASE(expiry_get_is_exact_to_the_millisecond) {
  auto backend = OpenEmptyBackend();
  const Timestamp t = kNow + 1h;
  const Version v1 = MustCreate(*backend, "contract/k", "value", ExpiresAt(t), kNow);

  ExpectRecord(*backend, "contract/k", "value", v1, t, t - 1ms);
  for (const Timestamp later : {t, t + 1ms, t + 24h}) {
    BOOST_TEST_CONTEXT("now = expires_at + " << (later - t).count() << " ms") {
      BOOST_TEST(GetCode(*backend, "contract/k", later) == StatusCode::kNotFound);
    }
  }
}

BOOST_AUTO_TEST_CASE(expiry_cas_is_exact_to_the_millisecond) {
  auto backend = OpenEmptyBackend();
  const Timestamp t = kNow + 1h;
  const Version v1 = MustCreate(*backend, "contract/k", "one", ExpiresAt(t), kNow);

  // Still live one millisecond before: a wrong version conflicts, the right one swaps (keeping
  // the same expiry).
  BOOST_TEST(backend->CompareAndSwap("contract/k", v1 + 1000, "x", ExpiresAt(t), t - 1ms)
                 .status()
                 .code() == StatusCode::kConflict);
  const Version v2 = MustCas(*backend, "contract/k", v1, "two", ExpiresAt(t), t - 1ms);
  BOOST_TEST(v2 > v1);

  // From T on the record is missing whatever version is given: kNotFound, never kConflict.
  for (const Timestamp later : {t, t + 1ms, t + 24h}) {
    BOOST_TEST_CONTEXT("now = expires_at + " << (later - t).count() << " ms") {
      for (const Version expected : {v2, v1, v2 + 1000}) {
        BOOST_TEST_CONTEXT("expected version " << expected) {
          BOOST_TEST(backend->CompareAndSwap("contract/k", expected, "three", NoExpiry(), later)
                         .status()
                         .code() == StatusCode::kNotFound);
        }
      }
      BOOST_TEST(GetCode(*backend, "contract/k", later) == StatusCode::kNotFound);
    }
  }
}

BOOST_AUTO_TEST_CASE(expiry_erase_is_exact_to_the_millisecond) {
  auto backend = OpenEmptyBackend();
  const Timestamp t = kNow + 1h;
  const Version a = MustCreate(*backend, "contract/a", "value", ExpiresAt(t), kNow);
  const Version b = MustCreate(*backend, "contract/b", "value", ExpiresAt(t), kNow);

  // One millisecond before T both are live: a wrong version conflicts, the right one erases.
  BOOST_TEST(backend->Erase("contract/a", a + 1, t - 1ms).code() == StatusCode::kConflict);
  const Status erased = backend->Erase("contract/b", b, t - 1ms);
  BOOST_TEST(erased.ok(), erased.ToString());

  for (const Timestamp later : {t, t + 1ms, t + 24h}) {
    BOOST_TEST_CONTEXT("now = expires_at + " << (later - t).count() << " ms") {
      // Whatever version is given: the record is missing, so nothing can conflict.
      BOOST_TEST(backend->Erase("contract/a", a + 1, later).code() == StatusCode::kNotFound);
      BOOST_TEST(backend->Erase("contract/a", a, later).code() == StatusCode::kNotFound);
    }
  }
}

BOOST_AUTO_TEST_CASE(expiry_scan_is_exact_to_the_millisecond) {
  auto backend = OpenEmptyBackend();
  const Timestamp t = kNow + 1h;
  MustCreate(*backend, "contract/a-at-t", "a", ExpiresAt(t), kNow);
  MustCreate(*backend, "contract/b-at-t+1", "b", ExpiresAt(t + 1ms), kNow);
  MustCreate(*backend, "contract/c-never", "c", NoExpiry(), kNow);

  using Keys = std::vector<std::string>;
  BOOST_TEST(KeysOf(ScanAll(*backend, "contract/", 10, t - 1ms)) ==
                 (Keys{"contract/a-at-t", "contract/b-at-t+1", "contract/c-never"}),
             boost::test_tools::per_element());
  BOOST_TEST(KeysOf(ScanAll(*backend, "contract/", 10, t)) ==
                 (Keys{"contract/b-at-t+1", "contract/c-never"}),
             boost::test_tools::per_element());
  BOOST_TEST(KeysOf(ScanAll(*backend, "contract/", 10, t + 1ms)) == (Keys{"contract/c-never"}),
             boost::test_tools::per_element());
}

// "Create replaces it atomically": an expired record counts as absent, and the new record gets
// a version greater than the expired one had.
BOOST_AUTO_TEST_CASE(create_over_an_expired_record_succeeds) {
  auto backend = OpenEmptyBackend();
  const Timestamp t = kNow + 1h;
  const Version old = MustCreate(*backend, "contract/k", "old", ExpiresAt(t), kNow);

  BOOST_TEST(backend->Create("contract/k", "early", NoExpiry(), t - 1ms).status().code() ==
             StatusCode::kConflict);

  const Version fresh = MustCreate(*backend, "contract/k", "new", NoExpiry(), t);
  BOOST_TEST(fresh > old);
  ExpectRecord(*backend, "contract/k", "new", fresh, std::nullopt, t);
  // The old record's version does not match the new one.
  BOOST_TEST(backend->CompareAndSwap("contract/k", old, "aba", NoExpiry(), t).status().code() ==
             StatusCode::kConflict);
}

BOOST_AUTO_TEST_CASE(record_without_expiry_never_expires) {
  auto backend = OpenEmptyBackend();
  const Version v1 = MustCreate(*backend, "contract/k", "value", NoExpiry(), kNow);
  const Timestamp far = kNow + std::chrono::years(100);
  ExpectRecord(*backend, "contract/k", "value", v1, std::nullopt, far);
  BOOST_TEST(
      KeysOf(ScanAll(*backend, "contract/", 10, far)) == (std::vector<std::string>{"contract/k"}),
      boost::test_tools::per_element());
  MustCas(*backend, "contract/k", v1, "still here", NoExpiry(), far);
}

BOOST_AUTO_TEST_CASE(cas_sets_and_clears_expiry) {
  auto backend = OpenEmptyBackend();
  const Timestamp t1 = kNow + 1h;
  const Version v1 = MustCreate(*backend, "contract/k", "one", ExpiresAt(t1), kNow);

  // Clearing: the expiry written by Create no longer applies.
  const Version v2 = MustCas(*backend, "contract/k", v1, "two", NoExpiry(), kNow);
  ExpectRecord(*backend, "contract/k", "two", v2, std::nullopt, t1 + 1h);

  // Setting: a record without expiry gets one, and it takes effect at exactly that time.
  const Timestamp t2 = t1 + 2h;
  const Version v3 = MustCas(*backend, "contract/k", v2, "three", ExpiresAt(t2), t1 + 1h);
  ExpectRecord(*backend, "contract/k", "three", v3, t2, t2 - 1ms);
  BOOST_TEST(GetCode(*backend, "contract/k", t2) == StatusCode::kNotFound);
}

// --- Values and keys ---

BOOST_AUTO_TEST_CASE(empty_value_round_trips) {
  auto backend = OpenEmptyBackend();
  // An empty value is a record like any other, not an absent one.
  const Version v1 = MustCreate(*backend, "contract/empty", "", NoExpiry(), kNow);
  ExpectRecord(*backend, "contract/empty", "", v1, std::nullopt, kNow);
  BOOST_TEST(backend->Create("contract/empty", "x", NoExpiry(), kNow).status().code() ==
             StatusCode::kConflict);

  const Version v2 = MustCas(*backend, "contract/empty", v1, "x", NoExpiry(), kNow);
  const Version v3 = MustCas(*backend, "contract/empty", v2, "", NoExpiry(), kNow);
  ExpectRecord(*backend, "contract/empty", "", v3, std::nullopt, kNow);

  const std::vector<ScanEntry> entries = ScanAll(*backend, "contract/", 10, kNow);
  BOOST_TEST_REQUIRE(entries.size() == 1u);
  BOOST_TEST(entries[0].record.value.empty());
  BOOST_TEST(entries[0].record.version == v3);
}

BOOST_AUTO_TEST_CASE(binary_values_round_trip) {
  auto backend = OpenEmptyBackend();
  std::string every_byte;
  for (int b = 0; b < 256; ++b) every_byte.push_back(static_cast<char>(b));
  std::string every_byte_reversed(every_byte.rbegin(), every_byte.rend());
  const std::vector<std::string> values = {
      std::string("\0", 1),
      std::string("\0\0\0", 3),
      std::string("a\0b", 3),
      std::string("\xff", 1),
      std::string("\xff\xfe\x00\x80\x7f", 5),
      std::string("trailing\0", 9),
      every_byte,
      every_byte_reversed,
  };

  for (std::size_t i = 0; i < values.size(); ++i) {
    BOOST_TEST_CONTEXT("value #" << i << " (" << values[i].size() << " bytes)") {
      const std::string key = "contract/bin/" + std::to_string(i);
      const Version v1 = MustCreate(*backend, key, values[i], NoExpiry(), kNow);
      const VersionedValue got = MustGet(*backend, key, kNow);
      BOOST_TEST(got.value.size() == values[i].size());
      // Parenthesised so a failure reports the offset instead of printing raw bytes.
      BOOST_TEST((got.value == values[i]),
                 "first difference at byte " << FirstDifference(got.value, values[i]));
      // And through CompareAndSwap, with the bytes of the next value.
      const std::string& next = values[(i + 1) % values.size()];
      MustCas(*backend, key, v1, next, NoExpiry(), kNow);
      BOOST_TEST((MustGet(*backend, key, kNow).value == next), "after CompareAndSwap");
    }
  }

  // Scan returns the same bytes.
  const std::vector<ScanEntry> entries = ScanAll(*backend, "contract/bin/", 100, kNow);
  BOOST_TEST_REQUIRE(entries.size() == values.size());
  for (const ScanEntry& entry : entries) {
    const std::size_t i = std::stoul(entry.key.substr(std::string("contract/bin/").size()));
    BOOST_TEST_REQUIRE(i < values.size());
    BOOST_TEST((entry.record.value == values[(i + 1) % values.size()]), "Scan, key " << entry.key);
  }
}

BOOST_AUTO_TEST_CASE(large_value_round_trips) {
  auto backend = OpenEmptyBackend();
  constexpr std::size_t k64KiB = 64 * 1024;
  const std::string first = PseudoRandomBytes(k64KiB, 1);
  const std::string second = PseudoRandomBytes(k64KiB, 2);

  const Version v1 = MustCreate(*backend, "contract/large", first, NoExpiry(), kNow);
  std::string got = MustGet(*backend, "contract/large", kNow).value;
  BOOST_TEST(got.size() == k64KiB);
  BOOST_TEST((got == first), "first difference at byte " << FirstDifference(got, first));

  MustCas(*backend, "contract/large", v1, second, NoExpiry(), kNow);
  got = MustGet(*backend, "contract/large", kNow).value;
  BOOST_TEST(got.size() == k64KiB);
  BOOST_TEST((got == second), "first difference at byte " << FirstDifference(got, second));

  const std::vector<ScanEntry> entries = ScanAll(*backend, "contract/", 10, kNow);
  BOOST_TEST_REQUIRE(entries.size() == 1u);
  BOOST_TEST((entries[0].record.value == second),
             "first difference at byte " << FirstDifference(entries[0].record.value, second));
}

// The core builds keys like "cred/{svc:customer}/api_key-1"; a backend must keep each one
// distinct and intact (no escaping that merges two keys, no special meaning for the braces a
// Redis hash tag uses).
BOOST_AUTO_TEST_CASE(keys_with_the_core_characters_are_distinct_and_intact) {
  auto backend = OpenEmptyBackend();
  std::vector<std::string> keys = {
      "cred/{svc:customer}/api_key/0123456789",
      "{svc:customer}",
      "{svc:customer}:settings",
      "nonce/{svc:customer}/2100-01-01_abc-DEF",
      "a/b",
      "a:b",
      "a_b",
      "a-b",
      "a{b}",
      "a}b{",
      "a{}b",
      "x//y",
      "x::y",
      "x__y",
      "x--y",
      "-",
      "_",
      ":",
      "/",
      "{",
      "}",
      "{}",
      "}{",
      "ABCxyz0189-_:/{}",
  };
  std::vector<Version> versions;
  for (const std::string& key : keys) {
    BOOST_TEST_CONTEXT("key \"" << key << "\"") {
      versions.push_back(MustCreate(*backend, key, "value of " + key, NoExpiry(), kNow));
    }
  }
  for (std::size_t i = 0; i < keys.size(); ++i) {
    BOOST_TEST_CONTEXT("key \"" << keys[i] << "\"") {
      ExpectRecord(*backend, keys[i], "value of " + keys[i], versions[i], std::nullopt, kNow);
    }
  }

  // A scan of everything returns exactly these keys, each with its own value.
  const std::vector<ScanEntry> entries = ScanAll(*backend, "", 7, kNow);
  std::vector<std::string> sorted = keys;
  std::sort(sorted.begin(), sorted.end());
  BOOST_TEST(KeysOf(entries) == sorted, boost::test_tools::per_element());
  for (const ScanEntry& entry : entries) {
    BOOST_TEST(entry.record.value == "value of " + entry.key);
  }

  for (std::size_t i = 0; i < keys.size(); ++i) {
    BOOST_TEST_CONTEXT("key \"" << keys[i] << "\"") {
      const Status erased = backend->Erase(keys[i], versions[i], kNow);
      BOOST_TEST(erased.ok(), erased.ToString());
      BOOST_TEST(GetCode(*backend, keys[i], kNow) == StatusCode::kNotFound);
    }
  }
  BOOST_TEST(ScanAll(*backend, "", 7, kNow).empty());
}

// --- Durability flag ---

// durable = false may skip the sync, never the write: such records behave like any other.
BOOST_AUTO_TEST_CASE(non_durable_writes_are_readable_like_durable_ones) {
  auto backend = OpenEmptyBackend();
  const WriteOptions fast = NonDurable();
  const WriteOptions fast_expiring = NonDurable(kNow + 1h);

  const Version a1 = MustCreate(*backend, "contract/a", "a1", fast, kNow);
  ExpectRecord(*backend, "contract/a", "a1", a1, std::nullopt, kNow);
  const Version b1 = MustCreate(*backend, "contract/b", "b1", fast_expiring, kNow);
  ExpectRecord(*backend, "contract/b", "b1", b1, kNow + 1h, kNow);
  BOOST_TEST(backend->Create("contract/a", "again", fast, kNow).status().code() ==
             StatusCode::kConflict);

  const Version a2 = MustCas(*backend, "contract/a", a1, "a2", fast, kNow);
  BOOST_TEST(a2 > a1);
  ExpectRecord(*backend, "contract/a", "a2", a2, std::nullopt, kNow);
  // A durable write over a non-durable one, and the reverse.
  const Version a3 = MustCas(*backend, "contract/a", a2, "a3", NoExpiry(), kNow);
  const Version a4 = MustCas(*backend, "contract/a", a3, "a4", fast, kNow);
  BOOST_TEST(a4 > a3);
  BOOST_TEST(backend->CompareAndSwap("contract/a", a2, "stale", fast, kNow).status().code() ==
             StatusCode::kConflict);

  BOOST_TEST(KeysOf(ScanAll(*backend, "contract/", 10, kNow)) ==
                 (std::vector<std::string>{"contract/a", "contract/b"}),
             boost::test_tools::per_element());
  // Non-durable records expire like durable ones.
  BOOST_TEST(GetCode(*backend, "contract/b", kNow + 1h) == StatusCode::kNotFound);

  const Status erased = backend->Erase("contract/a", a4, kNow + 1h);
  BOOST_TEST(erased.ok(), erased.ToString());
  BOOST_TEST(GetCode(*backend, "contract/a", kNow + 1h) == StatusCode::kNotFound);
}

// --- Replication ---

// A write that reports its replication: on a backend as the harness configures it (replicas,
// if any, healthy) it succeeds and never reads kPending — kNotAsked where the backend waits for
// no replicas, kAcknowledged where it does. A write that fails reports nothing. Unreplicated
// writes (throttle counters) behave like every other write.
BOOST_AUTO_TEST_CASE(replication_is_reported_only_for_writes_that_applied) {
  auto backend = OpenEmptyBackend();
  const auto reported = [](Replication* replication, bool replicated = true) {
    WriteOptions options;
    options.replicated = replicated;
    options.replication = replication;
    return options;
  };
  const auto settled = [](Replication replication) {
    return replication == Replication::kNotAsked || replication == Replication::kAcknowledged;
  };
  Replication created_as = Replication::kNotAsked;
  const Version v1 = MustCreate(*backend, "contract/replicated", "v1", reported(&created_as), kNow);
  BOOST_TEST(settled(created_as));
  Replication swapped_as = Replication::kNotAsked;
  const Version v2 =
      MustCas(*backend, "contract/replicated", v1, "v2", reported(&swapped_as), kNow);
  BOOST_TEST(settled(swapped_as));
  BOOST_TEST((swapped_as == created_as), "one backend, one way of waiting");
  ExpectRecord(*backend, "contract/replicated", "v2", v2, std::nullopt, kNow);

  Replication conflict_as = Replication::kNotAsked;
  BOOST_TEST(
      backend->Create("contract/replicated", "x", reported(&conflict_as), kNow).status().code() ==
      StatusCode::kConflict);
  BOOST_TEST(backend->CompareAndSwap("contract/replicated", v1, "x", reported(&conflict_as), kNow)
                 .status()
                 .code() == StatusCode::kConflict);
  BOOST_TEST(backend->CompareAndSwap("contract/absent", v1, "x", reported(&conflict_as), kNow)
                 .status()
                 .code() == StatusCode::kNotFound);
  BOOST_TEST((conflict_as == Replication::kNotAsked));

  const Version counter =
      MustCreate(*backend, "contract/unreplicated", "1", reported(nullptr, false), kNow);
  MustCas(*backend, "contract/unreplicated", counter, "2", reported(nullptr, false), kNow);
  const Status erased = backend->Erase("contract/replicated", v2, kNow);
  BOOST_TEST(erased.ok(), erased.ToString());
  BOOST_TEST(GetCode(*backend, "contract/replicated", kNow) == StatusCode::kNotFound);
}

// --- Health ---

// A backend configured as the harness configures it (as production should be) reports itself
// healthy, before and after use, and asking changes nothing.
BOOST_AUTO_TEST_CASE(a_well_configured_backend_reports_itself_healthy) {
  auto backend = OpenEmptyBackend();
  const Status fresh = backend->CheckHealth();
  BOOST_TEST(fresh.ok(), fresh.ToString());
  MustCreate(*backend, "contract/health", "x", NoExpiry(), kNow);
  for (int i = 0; i < 3; ++i) {
    const Status used = backend->CheckHealth();
    BOOST_TEST(used.ok(), used.ToString());
  }
  BOOST_TEST(KeysOf(ScanAll(*backend, "contract/", 10, kNow)) ==
                 (std::vector<std::string>{"contract/health"}),
             boost::test_tools::per_element());
}

// The same backend accepts writes and says so (CheckWrites), durable or not, and CheckWrites is
// never OK while CheckHealth is not.
BOOST_AUTO_TEST_CASE(a_well_configured_backend_accepts_writes_and_says_so) {
  auto backend = OpenEmptyBackend();
  const Status fresh = backend->CheckWrites();
  BOOST_TEST(fresh.ok(), fresh.ToString());
  WriteOptions not_durable;
  not_durable.durable = false;
  MustCreate(*backend, "contract/writes-durable", "x", NoExpiry(), kNow);
  const auto created = backend->Create("contract/writes-fast", "y", not_durable, kNow);
  BOOST_TEST(created.ok(), created.status().ToString());
  for (int i = 0; i < 3; ++i) {
    const Status writes = backend->CheckWrites();
    BOOST_TEST(writes.ok(), writes.ToString());
    if (writes.ok()) BOOST_TEST(backend->CheckHealth().ok(), "writes OK while unhealthy");
  }
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace credstore::testing
