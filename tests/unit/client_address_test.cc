// Throttle buckets of client addresses: one network, one bucket, however its address is spelled.
#include <boost/test/unit_test.hpp>
#include <string>

#include "client_address.h"

namespace credstore::testing {
namespace {

using internal::AddressBucket;

BOOST_AUTO_TEST_SUITE(client_address)

BOOST_AUTO_TEST_CASE(an_ipv6_zone_id_does_not_make_a_bucket_of_its_own) {
  const auto plain = AddressBucket("fe80::1");
  BOOST_TEST_REQUIRE(plain.has_value());
  BOOST_TEST(plain->starts_with("6/"));
  for (const char* zoned : {"fe80::1%eth0", "fe80::1%1", "fe80::1%another-interface"}) {
    BOOST_TEST(AddressBucket(zoned).value_or("none") == *plain, zoned);
  }
  BOOST_TEST(AddressBucket("fe80::2%eth0").value_or("none") == *plain);  // the same /64
  // A zone id does not turn text that is not an address into one.
  BOOST_TEST(AddressBucket("%eth0")->starts_with("x/"));
  BOOST_TEST(AddressBucket("203.0.113.7%eth0")->starts_with("x/"));
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace
}  // namespace credstore::testing
