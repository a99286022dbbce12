// credstored's warning at start about --trusted-proxy ranges wider than one client network
// (docs/operations.md): every address in such a range may set X-Forwarded-For.
#include <boost/test/unit_test.hpp>
#include <string>

#include "http/http_test_env.h"

namespace credstore::http_tests {
namespace {

BOOST_AUTO_TEST_SUITE(trusted_proxies)

BOOST_AUTO_TEST_CASE(ranges_wider_than_a_slash_24_or_a_slash_64_are_warned_of_at_start) {
  ServerOptions wide;
  wide.extra_args = {"--trusted-proxy", "10.0.0.0/8",   "--trusted-proxy", "2001:db8::/48",
                     "--trusted-proxy", "192.0.2.0/24", "--trusted-proxy", "2001:db8:1::/64"};
  Server server(wide);
  const std::string log = server.process().Log();
  BOOST_TEST(log.find("\"level\":\"warning\"") != std::string::npos, log);
  BOOST_TEST(log.find("wider than /24 (IPv4) or /64 (IPv6)") != std::string::npos, log);
  BOOST_TEST(log.find("10.0.0.0/8") != std::string::npos, log);
  BOOST_TEST(log.find("2001:db8::/48") != std::string::npos, log);
  BOOST_TEST(log.find("192.0.2.0/24") == std::string::npos, "a /24 is not too wide");
  BOOST_TEST(log.find("2001:db8:1::/64") == std::string::npos, "a /64 is not too wide");
}

BOOST_AUTO_TEST_CASE(single_proxies_and_narrow_ranges_start_without_the_warning) {
  ServerOptions narrow;
  narrow.extra_args = {"--trusted-proxy", "127.0.0.1",       "--trusted-proxy",
                       "192.0.2.0/24",    "--trusted-proxy", "2001:db8::7"};
  Server server(narrow);
  const std::string log = server.process().Log();
  BOOST_TEST(log.find("wider than /24") == std::string::npos, log);
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace
}  // namespace credstore::http_tests
