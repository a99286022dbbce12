// The StorageBackend contract (credstore/storage_backend.h), Export: the unordered bulk walk
// migrations use. Every record live for the whole walk is visited, with its value, version and
// expiry; expired and erased records are not; the prefix filters; a visitor's error stops the
// walk and comes back; the visitor may call the backend. Visits are counted per key, and any key
// visited twice fails the tests: nothing reorganises these stores while they run.
#include <boost/test/unit_test.hpp>
#include <chrono>
#include <map>
#include <string>
#include <vector>

#include "credstore/status.h"
#include "credstore/storage_backend.h"
#include "support/test_helpers.h"

namespace credstore::testing {
namespace {

using namespace std::chrono_literals;

constexpr Timestamp kNow = kBackendTestEpoch;

// key -> the record Export gave for it, failing on a second visit.
std::map<std::string, VersionedValue> ExportAll(StorageBackend& backend, std::string_view prefix,
                                                Timestamp now) {
  std::map<std::string, VersionedValue> seen;
  const Status walked = backend.Export(prefix, now, [&seen](const ScanEntry& entry) {
    const bool fresh = seen.emplace(entry.key, entry.record).second;
    BOOST_TEST(fresh, "visited twice: " << entry.key);
    return Status::Ok();
  });
  BOOST_TEST_REQUIRE(walked.ok(), walked.message());
  return seen;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(backend_contract)

BOOST_AUTO_TEST_CASE(export_visits_every_live_record_once_with_its_record) {
  auto backend = OpenEmptyBackend();
  BOOST_TEST(ExportAll(*backend, "", kNow).empty());

  std::map<std::string, Version> live;
  // More than one page of the default Export (512), spread over whatever partitions there are.
  for (int i = 0; i < 1300; ++i) {
    const std::string key = "bulk/" + std::to_string(i);
    live[key] = MustCreate(*backend, key, "value of " + key, NoExpiry(), kNow);
  }
  const std::string expiring = "bulk/expiring";
  live[expiring] = MustCreate(*backend, expiring, "soon gone", ExpiresAt(kNow + 1h), kNow);
  const Version erased = MustCreate(*backend, "bulk/erased", "x", NoExpiry(), kNow);
  BOOST_TEST_REQUIRE(backend->Erase("bulk/erased", erased, kNow).ok());
  MustCreate(*backend, "other/1", "outside the prefix", NoExpiry(), kNow);

  const std::map<std::string, VersionedValue> seen = ExportAll(*backend, "bulk/", kNow);
  BOOST_TEST(seen.size() == live.size());
  for (const auto& [key, version] : live) {
    BOOST_TEST_CONTEXT("key " << key) {
      const auto it = seen.find(key);
      BOOST_TEST_REQUIRE((it != seen.end()));
      BOOST_TEST(it->second.version == version);
      if (key == expiring) {
        BOOST_TEST(it->second.value == "soon gone");
        BOOST_TEST(ExpiryText(it->second.expires_at) == ExpiryText(kNow + 1h));
      } else {
        BOOST_TEST(it->second.value == "value of " + key);
        BOOST_TEST(ExpiryText(it->second.expires_at) == "never");
      }
    }
  }
  // Later, the expiring record is gone from the walk; with no prefix, every record is there.
  BOOST_TEST(ExportAll(*backend, "bulk/", kNow + 2h).size() == live.size() - 1);
  BOOST_TEST(ExportAll(*backend, "", kNow).size() == live.size() + 1);
  BOOST_TEST(ExportAll(*backend, "none/", kNow).empty());
}

BOOST_AUTO_TEST_CASE(export_stops_at_the_visitors_error_and_the_visitor_may_call_the_backend) {
  auto backend = OpenEmptyBackend();
  for (int i = 0; i < 40; ++i) {
    MustCreate(*backend, "stop/" + std::to_string(i), "v", NoExpiry(), kNow);
  }
  int visits = 0;
  const Status stopped = backend->Export("stop/", kNow, [&](const ScanEntry&) {
    return ++visits == 5 ? Status::Conflict("enough") : Status::Ok();
  });
  BOOST_TEST(stopped.code() == StatusCode::kConflict);
  BOOST_TEST(stopped.message() == "enough");
  BOOST_TEST(visits == 5);

  // A visitor that reads and rewrites each record through the same backend (as a copy back into
  // one store would) neither deadlocks nor breaks the walk.
  int rewritten = 0;
  const Status walked = backend->Export("stop/", kNow, [&](const ScanEntry& entry) {
    Result<VersionedValue> current = backend->Get(entry.key, kNow);
    if (!current.ok()) return current.status();
    Result<Version> swapped =
        backend->CompareAndSwap(entry.key, current->version, "w", NoExpiry(), kNow);
    if (!swapped.ok()) return swapped.status();
    ++rewritten;
    return Status::Ok();
  });
  BOOST_TEST_REQUIRE(walked.ok(), walked.message());
  BOOST_TEST(rewritten >= 40);  // a rewritten record may or may not be visited again
  for (const auto& [key, record] : ExportAll(*backend, "stop/", kNow)) {
    BOOST_TEST(record.value == "w", key);
  }
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace credstore::testing
