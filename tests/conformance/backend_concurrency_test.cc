// The StorageBackend contract (credstore/storage_backend.h), many callers: "every method may be
// called from many threads at once; each call is atomic", and a second handle on the same store
// (as a second server process would have) sees the same records and versions.
//
// Worker threads only record what happened; all checks run on the main thread afterwards,
// because Boost.Test assertions are not thread-safe. Races alternate their threads between the
// two handles, so that a backend whose handles keep separate state (connections, caches) has to
// be atomic across them too; for backends whose second handle is the same object this is simply
// a race on one handle.
#include <algorithm>
#include <boost/test/unit_test.hpp>
#include <charconv>
#include <chrono>
#include <cstdint>
#include <functional>
#include <latch>
#include <memory>
#include <set>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include "credstore/clock.h"
#include "credstore/status.h"
#include "credstore/storage_backend.h"
#include "support/backend_harness.h"
#include "support/test_helpers.h"
#include "support/test_scale.h"

namespace credstore::testing {
namespace {

using namespace std::chrono_literals;

constexpr Timestamp kNow = kBackendTestEpoch;

// Threads per race and races per test: enough to make lost races likely on a broken backend
// while staying at a few hundred calls, since the Redis run goes over a socket.
constexpr int kRacers = 16;
const int kRounds = ScaledCount(8, /*minimum=*/2);  // odd rounds race over an expired record

// Runs body(0) ... body(n - 1) on n threads released at the same moment, and joins them.
void RunTogether(int n, const std::function<void(int)>& body) {
  std::latch start(n);
  std::vector<std::thread> threads;
  threads.reserve(n);
  for (int i = 0; i < n; ++i) {
    threads.emplace_back([&start, &body, i] {
      start.arrive_and_wait();
      body(i);
    });
  }
  for (std::thread& thread : threads) thread.join();
}

// What one racing call returned.
struct Outcome {
  StatusCode code = StatusCode::kInternal;
  Version version = 0;  // when code is kOk and the call returns one
  std::string error;    // Status::ToString() when the call failed
};

Outcome OutcomeOf(const Result<Version>& result) {
  if (result.ok()) return Outcome{StatusCode::kOk, *result, ""};
  return Outcome{result.status().code(), 0, result.status().ToString()};
}

Outcome OutcomeOf(const Status& status) {
  return Outcome{status.code(), 0, status.ok() ? "" : status.ToString()};
}

// Index of the one outcome with code kOk; checks every other outcome has `loser_code`. Returns
// -1 unless exactly one call won.
int CheckOneWinner(const std::vector<Outcome>& outcomes, StatusCode loser_code) {
  int winner = -1;
  int wins = 0;
  int losses = 0;
  for (int i = 0; i < static_cast<int>(outcomes.size()); ++i) {
    if (outcomes[i].code == StatusCode::kOk) {
      winner = i;
      ++wins;
    } else if (outcomes[i].code == loser_code) {
      ++losses;
    } else {
      BOOST_TEST(outcomes[i].code == loser_code, "thread " << i << ": " << outcomes[i].error);
    }
  }
  BOOST_TEST(wins == 1);
  BOOST_TEST(losses == static_cast<int>(outcomes.size()) - 1);
  return wins == 1 ? winner : -1;
}

std::string RacerValue(int thread) { return "written by thread " + std::to_string(thread); }

}  // namespace

BOOST_AUTO_TEST_SUITE(backend_contract)

// Get + CompareAndSwap retry loops from many threads: every increment lands exactly once.
BOOST_AUTO_TEST_CASE(concurrent_cas_increments_lose_no_update) {
  auto backend = OpenEmptyBackend();
  constexpr int kThreads = 8;
  const int kIncrements = ScaledCount(200);
  // An attempt fails only if another thread's swap succeeded between its Get and its CAS, and
  // the other threads have only (kThreads - 1) * kIncrements of those: a correct backend never
  // reaches this bound, a backend whose swaps never succeed stops at it.
  const int kMaxAttempts = (kThreads - 1) * kIncrements + 1;
  const std::string key = "race/counter";
  MustCreate(*backend, key, "0", NoExpiry(), kNow);

  struct Worker {
    std::vector<Version> versions;  // returned by this thread's successful swaps, in order
    std::string error;
  };
  std::vector<Worker> workers(kThreads);
  RunTogether(kThreads, [&](int t) {
    Worker& worker = workers[t];
    for (int i = 0; i < kIncrements; ++i) {
      bool done = false;
      for (int attempt = 0; attempt < kMaxAttempts && !done; ++attempt) {
        Result<VersionedValue> got = backend->Get(key, kNow);
        if (!got.ok()) {
          worker.error = "Get failed: " + got.status().ToString();
          return;
        }
        const std::string& text = got->value;
        std::uint64_t count = 0;
        const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), count);
        if (ec != std::errc() || end != text.data() + text.size()) {
          worker.error = "the counter holds \"" + text + "\"";
          return;
        }
        Result<Version> swapped =
            backend->CompareAndSwap(key, got->version, std::to_string(count + 1), NoExpiry(), kNow);
        if (swapped.ok()) {
          worker.versions.push_back(*swapped);
          done = true;
        } else if (swapped.status().code() != StatusCode::kConflict) {
          worker.error = "CompareAndSwap failed: " + swapped.status().ToString();
          return;
        }
      }
      if (!done) {
        worker.error = "increment " + std::to_string(i) + " still conflicted after " +
                       std::to_string(kMaxAttempts) + " attempts";
        return;
      }
    }
  });

  std::set<Version> all_versions;
  for (int t = 0; t < kThreads; ++t) {
    BOOST_TEST_CONTEXT("thread " << t) {
      const Worker& worker = workers[t];
      BOOST_TEST(worker.error.empty(), worker.error);
      BOOST_TEST(worker.versions.size() == static_cast<std::size_t>(kIncrements));
      // One thread's swaps follow each other, so their versions must grow.
      BOOST_TEST((std::adjacent_find(worker.versions.begin(), worker.versions.end(),
                                     std::greater_equal<>()) == worker.versions.end()),
                 "versions of successive swaps do not increase");
      all_versions.insert(worker.versions.begin(), worker.versions.end());
    }
  }
  BOOST_TEST(all_versions.size() == static_cast<std::size_t>(kThreads * kIncrements),
             "two successful swaps returned the same version");

  const VersionedValue final_record = MustGet(*backend, key, kNow);
  BOOST_TEST(final_record.value == std::to_string(kThreads * kIncrements));
  if (!all_versions.empty()) BOOST_TEST(final_record.version == *all_versions.rbegin());
}

// Create races on one key: one thread creates it, every other one is told kConflict. Half the
// rounds race over a record that has just expired, which Create must replace atomically too.
BOOST_AUTO_TEST_CASE(racing_creates_exactly_one_wins) {
  auto first = OpenEmptyBackend();
  auto second = Harness().OpenAnotherHandle();
  BOOST_TEST_REQUIRE(second != nullptr);
  const Timestamp race_at = kNow + 1s;
  for (int round = 1; round < kRounds; round += 2) {
    MustCreate(*first, "race/create/" + std::to_string(round), "expired", ExpiresAt(race_at), kNow);
  }

  for (int round = 0; round < kRounds; ++round) {
    BOOST_TEST_CONTEXT("round " << round) {
      const std::string key = "race/create/" + std::to_string(round);
      std::vector<Outcome> outcomes(kRacers);
      RunTogether(kRacers, [&](int t) {
        StorageBackend& handle = t % 2 == 0 ? *first : *second;
        outcomes[t] = OutcomeOf(handle.Create(key, RacerValue(t), NoExpiry(), race_at));
      });

      const int winner = CheckOneWinner(outcomes, StatusCode::kConflict);
      if (winner >= 0) {
        const VersionedValue record = MustGet(*first, key, race_at);
        BOOST_TEST(record.value == RacerValue(winner));
        BOOST_TEST(record.version == outcomes[winner].version);
      }
    }
  }
}

// CompareAndSwap races from the same version: one swap wins, every other one is kConflict.
BOOST_AUTO_TEST_CASE(racing_cas_from_one_version_exactly_one_wins) {
  auto first = OpenEmptyBackend();
  auto second = Harness().OpenAnotherHandle();
  BOOST_TEST_REQUIRE(second != nullptr);

  for (int round = 0; round < kRounds; ++round) {
    BOOST_TEST_CONTEXT("round " << round) {
      const std::string key = "race/cas/" + std::to_string(round);
      const Version start = MustCreate(*first, key, "start", NoExpiry(), kNow);
      std::vector<Outcome> outcomes(kRacers);
      RunTogether(kRacers, [&](int t) {
        StorageBackend& handle = t % 2 == 0 ? *first : *second;
        outcomes[t] = OutcomeOf(handle.CompareAndSwap(key, start, RacerValue(t), NoExpiry(), kNow));
      });

      const int winner = CheckOneWinner(outcomes, StatusCode::kConflict);
      if (winner >= 0) {
        BOOST_TEST(outcomes[winner].version > start);
        const VersionedValue record = MustGet(*second, key, kNow);
        BOOST_TEST(record.value == RacerValue(winner));
        BOOST_TEST(record.version == outcomes[winner].version);
      }
    }
  }
}

// Erase races with the right version: one erase wins; the others find no live record left.
BOOST_AUTO_TEST_CASE(racing_erases_exactly_one_wins) {
  auto first = OpenEmptyBackend();
  auto second = Harness().OpenAnotherHandle();
  BOOST_TEST_REQUIRE(second != nullptr);

  for (int round = 0; round < kRounds; ++round) {
    BOOST_TEST_CONTEXT("round " << round) {
      const std::string key = "race/erase/" + std::to_string(round);
      const Version version = MustCreate(*first, key, "doomed", NoExpiry(), kNow);
      std::vector<Outcome> outcomes(kRacers);
      RunTogether(kRacers, [&](int t) {
        StorageBackend& handle = t % 2 == 0 ? *first : *second;
        outcomes[t] = OutcomeOf(handle.Erase(key, version, kNow));
      });

      CheckOneWinner(outcomes, StatusCode::kNotFound);
      BOOST_TEST(first->Get(key, kNow).status().code() == StatusCode::kNotFound);
    }
  }
}

// --- A second handle ---

BOOST_AUTO_TEST_CASE(second_handle_sees_writes_and_respects_versions) {
  auto a = OpenEmptyBackend();
  auto b = Harness().OpenAnotherHandle();
  BOOST_TEST_REQUIRE(b != nullptr);
  const std::string key = "handles/k";
  const Timestamp expiry = kNow + 1h;

  // A record written through one handle reads the same through the other.
  const Version v1 = MustCreate(*a, key, "from a", ExpiresAt(expiry), kNow);
  VersionedValue seen = MustGet(*b, key, kNow);
  BOOST_TEST(seen.value == "from a");
  BOOST_TEST(seen.version == v1);
  BOOST_TEST(ExpiryText(seen.expires_at) == ExpiryText(expiry));
  BOOST_TEST(b->Create(key, "b too", NoExpiry(), kNow).status().code() == StatusCode::kConflict);

  // A swap through b invalidates the version a holds.
  const Version v2 = MustCas(*b, key, v1, "from b", NoExpiry(), kNow);
  BOOST_TEST(v2 > v1);
  seen = MustGet(*a, key, kNow);
  BOOST_TEST(seen.value == "from b");
  BOOST_TEST(seen.version == v2);
  BOOST_TEST(ExpiryText(seen.expires_at) == "never");
  BOOST_TEST(a->CompareAndSwap(key, v1, "stale", NoExpiry(), kNow).status().code() ==
             StatusCode::kConflict);
  BOOST_TEST(a->Erase(key, v1, kNow).code() == StatusCode::kConflict);

  // Erase through a, recreate through b: a's old versions stay dead on both handles.
  const Status erased = a->Erase(key, v2, kNow);
  BOOST_TEST_REQUIRE(erased.ok(), erased.ToString());
  BOOST_TEST(b->Get(key, kNow).status().code() == StatusCode::kNotFound);
  const Version v3 = MustCreate(*b, key, "recreated by b", NoExpiry(), kNow);
  BOOST_TEST(v3 > v2);
  for (const Version old : {v1, v2}) {
    BOOST_TEST(a->CompareAndSwap(key, old, "aba", NoExpiry(), kNow).status().code() ==
               StatusCode::kConflict);
  }
  BOOST_TEST(MustGet(*a, key, kNow).value == "recreated by b");

  // Non-durable and expiring writes, and scans, are shared as well.
  MustCreate(*a, "handles/fast", "not synced", NonDurable(), kNow);
  MustCreate(*a, "handles/short", "short-lived", ExpiresAt(expiry), kNow);
  BOOST_TEST(MustGet(*b, "handles/fast", kNow).value == "not synced");
  BOOST_TEST(KeysOf(ScanAll(*b, "handles/", 2, kNow)) ==
                 (std::vector<std::string>{"handles/fast", "handles/k", "handles/short"}),
             boost::test_tools::per_element());
  BOOST_TEST(b->Get("handles/short", expiry).status().code() == StatusCode::kNotFound);
  BOOST_TEST(KeysOf(ScanAll(*a, "handles/", 2, expiry)) ==
                 (std::vector<std::string>{"handles/fast", "handles/k"}),
             boost::test_tools::per_element());
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace credstore::testing
