// The StorageBackend contract (credstore/storage_backend.h), Scan: prefix filtering, paging,
// ordering and expiry.
//
// ScanAll (tests/support/test_helpers.h) follows the cursors and checks what holds for every
// scan (page size <= limit, keys under the prefix, strictly ascending across pages, the scan
// ends); the tests here check that the right records come back, each exactly once. The cursor
// is treated as opaque, and a page may hold fewer than `limit` entries (the contract says "up
// to"), so no test counts pages.
#include <algorithm>
#include <boost/test/unit_test.hpp>
#include <chrono>
#include <cstddef>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "credstore/clock.h"
#include "credstore/status.h"
#include "credstore/storage_backend.h"
#include "support/test_helpers.h"

namespace credstore::testing {
namespace {

using namespace std::chrono_literals;

constexpr Timestamp kNow = kBackendTestEpoch;

// The limits every paging test runs with: one per page, a few per page, all at once.
constexpr std::size_t kLimits[] = {1, 3, 1000};

// Creates every key (value "value of <key>", no expiry) and returns key -> version.
std::map<std::string, Version> CreateAll(StorageBackend& backend,
                                         const std::vector<std::string>& keys, Timestamp now) {
  std::map<std::string, Version> versions;
  for (const std::string& key : keys) {
    versions[key] = MustCreate(backend, key, "value of " + key, NoExpiry(), now);
  }
  return versions;
}

std::vector<std::string> Sorted(std::vector<std::string> keys) {
  std::sort(keys.begin(), keys.end());
  return keys;
}

// Checks the entries are exactly `expected` (keys, in byte order) with the records CreateAll
// wrote.
void ExpectEntries(const std::vector<ScanEntry>& entries, const std::vector<std::string>& expected,
                   const std::map<std::string, Version>& versions) {
  BOOST_TEST(KeysOf(entries) == Sorted(expected), boost::test_tools::per_element());
  for (const ScanEntry& entry : entries) {
    BOOST_TEST_CONTEXT("key \"" << entry.key << "\"") {
      BOOST_TEST(entry.record.value == "value of " + entry.key);
      const auto it = versions.find(entry.key);
      BOOST_TEST_REQUIRE((it != versions.end()), "a key the test never wrote");
      BOOST_TEST(entry.record.version == it->second);
      BOOST_TEST(ExpiryText(entry.record.expires_at) == "never");
    }
  }
}

}  // namespace

BOOST_AUTO_TEST_SUITE(backend_contract)

// Keys just outside the prefix in byte order ('.' sorts right before '/', '0' right after it),
// keys the prefix itself starts with, and other case must never leak into the result.
BOOST_AUTO_TEST_CASE(scan_returns_only_keys_with_the_prefix) {
  auto backend = OpenEmptyBackend();
  const std::vector<std::string> inside = {"svc/b/",    "svc/b/1", "svc/b/1/2", "svc/b/x:y",
                                           "svc/b/{t}", "svc/b/_", "svc/b/-"};
  const std::vector<std::string> outside = {
      "svc/b",     "svc/b.",  "svc/b.~", "svc/b-/", "svc/b0",   "svc/b0/1",
      "svc/a/~~~", "svc/a~",  "svc/c/",  "svc/B/1", "svc/",     "svc",
      "svc/b_/",   "svc/b{/", "tvc/b/1", "rvc/b/1", "/svc/b/1", "{svc/b/1}",
  };
  std::vector<std::string> all = inside;
  all.insert(all.end(), outside.begin(), outside.end());
  const std::map<std::string, Version> versions = CreateAll(*backend, all, kNow);

  for (const std::size_t limit : kLimits) {
    BOOST_TEST_CONTEXT("limit " << limit) {
      ExpectEntries(ScanAll(*backend, "svc/b/", limit, kNow), inside, versions);
      // A prefix that is a whole key plus more matches nothing; so does one between keys.
      BOOST_TEST(ScanAll(*backend, "svc/b/1/2/", limit, kNow).empty());
      BOOST_TEST(ScanAll(*backend, "svc/b/z", limit, kNow).empty());
      BOOST_TEST(ScanAll(*backend, "none/", limit, kNow).empty());
    }
  }
}

BOOST_AUTO_TEST_CASE(scan_pages_return_every_key_once_in_byte_order) {
  auto backend = OpenEmptyBackend();
  // 25 keys whose byte order differs from numeric order ("10" < "2") and from the creation
  // order below, with the core's punctuation mixed in.
  std::vector<std::string> inside;
  for (int i = 0; i < 20; ++i) inside.push_back("page/" + std::to_string(i));
  for (const char* tail : {"A", "a", "_", "{x}", "-:"})
    inside.push_back(std::string("page/") + tail);
  std::vector<std::string> creation_order;
  for (std::size_t i = 0; i < inside.size(); ++i) {
    creation_order.push_back(inside[(i * 7) % inside.size()]);  // 7 is coprime with 25
  }
  for (const char* decoy : {"page", "page.", "page.~", "page0", "page0/1", "pagf/", "a", "z"}) {
    creation_order.push_back(decoy);
  }
  const std::map<std::string, Version> versions = CreateAll(*backend, creation_order, kNow);

  for (const std::size_t limit : kLimits) {
    BOOST_TEST_CONTEXT("limit " << limit) {
      ExpectEntries(ScanAll(*backend, "page/", limit, kNow), inside, versions);
    }
  }
}

BOOST_AUTO_TEST_CASE(scan_with_empty_prefix_returns_every_record) {
  auto backend = OpenEmptyBackend();
  const std::vector<std::string> keys = {"a", "a/1", "b:2", "{c}", "zz", "-",
                                         "0", "Z",   "_",   "}",   "~",  "cred/{s:c}/k"};
  const std::map<std::string, Version> versions = CreateAll(*backend, keys, kNow);
  for (const std::size_t limit : kLimits) {
    BOOST_TEST_CONTEXT("limit " << limit) {
      ExpectEntries(ScanAll(*backend, "", limit, kNow), keys, versions);
    }
  }
}

// Expired records must be skipped without ending the scan early or shrinking it: a backend
// that counts expired records against `limit`, or takes a short page for the last one, fails.
BOOST_AUTO_TEST_CASE(scan_skips_expired_records_across_pages) {
  auto backend = OpenEmptyBackend();
  const Timestamp t = kNow + 1h;
  std::vector<std::string> all;
  std::vector<std::string> live_at_t;
  std::vector<std::string> never_expire;
  // Enough records that several share whatever partition (shard, slot, file) a backend uses.
  for (int i = 0; i < 96; ++i) {
    // Two thirds expire at exactly t; of the rest, half expire 1 ms later and half never.
    const std::string key = "exp/" + std::string(i < 10 ? "0" : "") + std::to_string(i);
    all.push_back(key);
    std::optional<Timestamp> expiry;
    if (i % 3 != 0) {
      expiry = t;
    } else {
      live_at_t.push_back(key);
      if (i % 2 == 0) {
        expiry = t + 1ms;
      } else {
        never_expire.push_back(key);
      }
    }
    MustCreate(*backend, key, "value of " + key,
               WriteOptions{.expires_at = expiry, .durable = true}, kNow);
  }

  for (const std::size_t limit : kLimits) {
    BOOST_TEST_CONTEXT("limit " << limit) {
      BOOST_TEST(KeysOf(ScanAll(*backend, "exp/", limit, t - 1ms)) == all,
                 boost::test_tools::per_element());
    }
  }
  for (const std::size_t limit : kLimits) {
    BOOST_TEST_CONTEXT("limit " << limit) {
      const std::vector<ScanEntry> entries = ScanAll(*backend, "exp/", limit, t);
      BOOST_TEST(KeysOf(entries) == live_at_t, boost::test_tools::per_element());
      // Entries carry the expiry as written.
      for (const ScanEntry& entry : entries) {
        const int i = std::stoi(entry.key.substr(4));
        BOOST_TEST(ExpiryText(entry.record.expires_at) ==
                       ExpiryText(i % 2 == 0 ? std::optional<Timestamp>(t + 1ms) : std::nullopt),
                   "key " << entry.key);
      }
    }
  }
  for (const std::size_t limit : kLimits) {
    BOOST_TEST_CONTEXT("limit " << limit) {
      BOOST_TEST(KeysOf(ScanAll(*backend, "exp/", limit, t + 1ms)) == never_expire,
                 boost::test_tools::per_element());
    }
  }
}

// "Every record live for the whole scan appears exactly once", also while other records are
// created between pages: before the cursor, among the stable keys and after them. A cursor that
// counts records (an offset) instead of naming a position in key order repeats records here.
BOOST_AUTO_TEST_CASE(scan_returns_stable_records_once_while_others_are_created) {
  auto backend = OpenEmptyBackend();
  for (const std::size_t limit : {std::size_t{1}, std::size_t{3}}) {
    BOOST_TEST_CONTEXT("limit " << limit) {
      const std::string prefix = "ins" + std::to_string(limit) + "/";
      std::vector<std::string> stable;
      for (int i = 10; i < 30; ++i) stable.push_back(prefix + "s" + std::to_string(i));
      CreateAll(*backend, stable, kNow);

      std::set<std::string> created;
      int page = 0;
      const std::vector<ScanEntry> entries = ScanAll(*backend, prefix, limit, kNow, [&] {
        // Only for the first pages: keys created ahead of the cursor lengthen the scan, so
        // creating them on every page would chase the cursor forever.
        if (page >= 8) return;
        const std::string tag = std::to_string(page++);
        for (const std::string& key :
             {prefix + "a" + tag, prefix + "s15x" + tag, prefix + "z" + tag}) {
          MustCreate(*backend, key, "new", NoExpiry(), kNow);
          created.insert(key);
        }
      });

      std::map<std::string, int> seen;
      for (const ScanEntry& entry : entries) ++seen[entry.key];
      for (const std::string& key : stable) BOOST_TEST(seen[key] == 1, "stable key " << key);
      for (const auto& [key, count] : seen) {
        const bool known =
            created.contains(key) || std::find(stable.begin(), stable.end(), key) != stable.end();
        BOOST_TEST(known, "Scan returned \"" << key << "\", a key that was never written");
      }
    }
  }
}

// The same while records are erased between pages, always the smallest remaining one, which
// lies behind the cursor once the scan has passed it. An offset cursor skips records here.
BOOST_AUTO_TEST_CASE(scan_returns_stable_records_once_while_others_are_erased) {
  auto backend = OpenEmptyBackend();
  for (const std::size_t limit : {std::size_t{1}, std::size_t{3}}) {
    BOOST_TEST_CONTEXT("limit " << limit) {
      const std::string prefix = "del" + std::to_string(limit) + "/";
      std::vector<std::string> doomed;  // sort before every stable key
      std::vector<std::string> stable;
      for (int i = 10; i < 30; ++i) {
        doomed.push_back(prefix + "d" + std::to_string(i));
        stable.push_back(prefix + "s" + std::to_string(i));
      }
      std::map<std::string, Version> remaining = CreateAll(*backend, doomed, kNow);
      CreateAll(*backend, stable, kNow);

      const std::vector<ScanEntry> entries = ScanAll(*backend, prefix, limit, kNow, [&] {
        if (remaining.empty()) return;
        const auto smallest = remaining.begin();
        const Status erased = backend->Erase(smallest->first, smallest->second, kNow);
        BOOST_TEST_REQUIRE(erased.ok(), erased.ToString());
        remaining.erase(smallest);
      });

      std::map<std::string, int> seen;
      for (const ScanEntry& entry : entries) ++seen[entry.key];
      for (const std::string& key : stable) BOOST_TEST(seen[key] == 1, "stable key " << key);
      for (const auto& [key, count] : seen) {
        const bool known = std::find(stable.begin(), stable.end(), key) != stable.end() ||
                           std::find(doomed.begin(), doomed.end(), key) != doomed.end();
        BOOST_TEST(known, "Scan returned \"" << key << "\", a key that was never written");
      }
    }
  }
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace credstore::testing
