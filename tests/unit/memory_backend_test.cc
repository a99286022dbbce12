// MemoryBackend's own promise beyond the conformance suite: TryGet never waits for a shard lock.
// While a writer holds the shard, TryGet answers nullopt; whenever it answers, the answer is a
// record the writer really wrote, never a torn or stale-then-newer one.
#include <atomic>
#include <boost/test/unit_test.hpp>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "credstore/backends/memory.h"
#include "support/test_helpers.h"

namespace credstore::testing {
namespace {

constexpr Timestamp kNow = kBackendTestEpoch;

BOOST_AUTO_TEST_SUITE(memory_backend)

BOOST_AUTO_TEST_CASE(answers_from_memory) {
  MemoryBackend backend;
  BOOST_TEST(backend.AnswersFromMemory());
}

// One shard, so the writer's every call holds the lock TryGet tries. The loop is bounded by a
// number of attempts, not by time: a writer in a tight compare-and-swap loop holds the lock for
// most of each iteration, so a nullopt comes within a few attempts on any scheduler.
BOOST_AUTO_TEST_CASE(try_get_answers_nullopt_while_a_writer_holds_the_shard) {
  MemoryBackend backend(1);
  Version version = MustCreate(backend, "k", "v0", NoExpiry(), kNow);

  std::mutex written_mutex;
  std::map<Version, std::string> written{{version, "v0"}};
  std::atomic<bool> stop{false};
  std::thread writer([&] {
    for (std::uint64_t n = 1; !stop.load(); ++n) {
      const std::string value = "v" + std::to_string(n);
      auto next = backend.CompareAndSwap("k", version, value, NoExpiry(), kNow);
      if (!next.ok()) continue;  // cannot happen: the only writer; the check below would tell
      version = *next;
      std::lock_guard lock(written_mutex);
      written.emplace(version, value);
    }
  });

  std::uint64_t would_block = 0;
  std::vector<VersionedValue> answers;
  for (std::uint64_t attempt = 0; attempt < 50'000'000 && (would_block == 0 || answers.empty());
       ++attempt) {
    std::optional<Result<VersionedValue>> got = backend.TryGet("k", kNow);
    if (!got) {
      ++would_block;
    } else if (got->ok()) {
      answers.push_back(**got);
    } else {
      BOOST_TEST_REQUIRE(got->ok(), got->status().ToString());
    }
  }
  stop.store(true);
  writer.join();

  BOOST_TEST(would_block > 0u, "TryGet never answered nullopt while the writer held the shard");
  BOOST_TEST(!answers.empty());
  Version last = 0;
  for (const VersionedValue& answer : answers) {
    BOOST_TEST(answer.version >= last);
    last = answer.version;
    auto it = written.find(answer.version);
    BOOST_TEST_REQUIRE((it != written.end()), "version " << answer.version << " never written");
    BOOST_TEST(answer.value == it->second);
  }
  // Uncontended again: it answers, exactly what Get answers.
  std::optional<Result<VersionedValue>> settled = backend.TryGet("k", kNow);
  BOOST_TEST_REQUIRE(settled.has_value());
  BOOST_TEST_REQUIRE(settled->ok());
  const VersionedValue got = MustGet(backend, "k", kNow);
  BOOST_TEST((*settled)->version == got.version);
  BOOST_TEST((*settled)->value == got.value);
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace
}  // namespace credstore::testing
