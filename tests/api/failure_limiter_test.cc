// The failed-token limiter (adapters/http/src/failure_limiter.h): a fixed window of failures per
// key, and the fast answer MayBlock() gives while no key is blocked, which must never let a
// blocked key through.
#include "failure_limiter.h"

#include <boost/test/unit_test.hpp>
#include <chrono>
#include <string>

namespace credstore::http {
namespace {

using std::chrono::milliseconds;

const Timestamp kStart{milliseconds(1'700'000'000'000)};

BOOST_AUTO_TEST_SUITE(failure_limiter)

BOOST_AUTO_TEST_CASE(blocks_a_key_for_the_rest_of_its_window) {
  FailureLimiter limiter(3, milliseconds(1000), 16);
  BOOST_TEST(!limiter.MayBlock(kStart));
  limiter.CountFailure("a", kStart);
  limiter.CountFailure("a", kStart + milliseconds(10));
  // Failures below the limit block nothing, and say so without a lookup.
  BOOST_TEST(!limiter.MayBlock(kStart + milliseconds(10)));
  BOOST_TEST(!limiter.Blocked("a", kStart + milliseconds(10)).has_value());
  limiter.CountFailure("a", kStart + milliseconds(20));
  BOOST_TEST(limiter.MayBlock(kStart + milliseconds(20)));
  const auto wait = limiter.Blocked("a", kStart + milliseconds(400));
  BOOST_REQUIRE(wait.has_value());
  BOOST_TEST(wait->count() == 600);
  BOOST_TEST(!limiter.Blocked("b", kStart + milliseconds(400)).has_value());
  // The window ends: nothing blocks, and the fast answer says so again.
  BOOST_TEST(!limiter.MayBlock(kStart + milliseconds(1000)));
  BOOST_TEST(!limiter.Blocked("a", kStart + milliseconds(1000)).has_value());
}

BOOST_AUTO_TEST_CASE(may_block_lasts_until_the_latest_full_window_ends) {
  FailureLimiter limiter(1, milliseconds(1000), 16);
  limiter.CountFailure("late", kStart + milliseconds(500));
  limiter.CountFailure("early", kStart);  // fills a window that ends sooner
  BOOST_TEST(limiter.MayBlock(kStart + milliseconds(1200)));
  BOOST_TEST(!limiter.Blocked("early", kStart + milliseconds(1200)).has_value());
  BOOST_TEST(limiter.Blocked("late", kStart + milliseconds(1200)).has_value());
  BOOST_TEST(!limiter.MayBlock(kStart + milliseconds(1500)));
}

BOOST_AUTO_TEST_CASE(a_full_table_blocks_newcomers_as_one_overflow_bucket) {
  FailureLimiter limiter(1, milliseconds(1000), 2);
  limiter.CountFailure("a", kStart);
  limiter.CountFailure("b", kStart);
  limiter.CountFailure("c", kStart);  // no room: counted in the overflow bucket
  BOOST_TEST(limiter.MayBlock(kStart));
  BOOST_TEST(limiter.Blocked("c", kStart).has_value());
  BOOST_TEST(limiter.Blocked("never-seen", kStart).has_value());
}

BOOST_AUTO_TEST_CASE(a_limit_of_zero_blocks_after_any_failure) {
  FailureLimiter limiter(0, milliseconds(1000), 16);
  BOOST_TEST(!limiter.Blocked("a", kStart).has_value());
  limiter.CountFailure("a", kStart);
  BOOST_TEST(limiter.MayBlock(kStart));
  BOOST_TEST(limiter.Blocked("a", kStart).has_value());
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace
}  // namespace credstore::http
