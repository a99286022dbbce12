// The client address behind a proxy (server_client_address.h): the peer unless it is a trusted
// proxy; then X-Forwarded-For read from the right, where the first untrusted entry is the client
// and anything left of it, which the client could have written, is never believed.
#include <boost/asio/ip/address.hpp>
#include <boost/test/unit_test.hpp>
#include <initializer_list>
#include <string>

#include "server_client_address.h"

namespace credstore::http {
namespace {

namespace ip = boost::asio::ip;

TrustedProxies Trust(const std::vector<std::string>& entries) {
  auto parsed = TrustedProxies::Parse(entries);
  BOOST_TEST_REQUIRE(parsed.ok(), parsed.status().ToString());
  return *parsed;
}

// A request carrying one X-Forwarded-For field per value.
Request Forwarded(std::initializer_list<const char*> fields) {
  Request request;
  for (const char* value : fields) request.insert("X-Forwarded-For", value);
  return request;
}

std::string ClientOf(const char* peer, const Request& request, const TrustedProxies& trusted) {
  return ResolveClientAddress(PeerAddress(ip::make_address(peer)), request, trusted);
}

BOOST_AUTO_TEST_SUITE(client_address)

BOOST_AUTO_TEST_CASE(an_untrusted_peer_is_the_client_whatever_it_forwards) {
  const TrustedProxies trusted = Trust({"10.0.0.0/24"});
  BOOST_TEST(ClientOf("198.51.100.9", Forwarded({"203.0.113.7"}), trusted) == "198.51.100.9");
  BOOST_TEST(ClientOf("198.51.100.9", Forwarded({}), TrustedProxies()) == "198.51.100.9");
  // An IPv4-mapped peer is written, and compared, as the IPv4 address it maps.
  BOOST_TEST(ClientOf("::ffff:198.51.100.9", Forwarded({}), trusted) == "198.51.100.9");
  BOOST_TEST(ClientOf("::ffff:10.0.0.1", Forwarded({"203.0.113.7"}), trusted) == "203.0.113.7");
}

BOOST_AUTO_TEST_CASE(a_trusted_peer_names_the_client_from_the_right) {
  const TrustedProxies trusted = Trust({"10.0.0.0/24", "2001:db8::7"});
  BOOST_TEST(ClientOf("10.0.0.1", Forwarded({}), trusted) == "10.0.0.1");  // nothing forwarded
  BOOST_TEST(ClientOf("10.0.0.1", Forwarded({"203.0.113.7"}), trusted) == "203.0.113.7");
  // Trusted hops are skipped; what the client wrote left of its own entry is not believed.
  BOOST_TEST(ClientOf("10.0.0.1", Forwarded({"192.0.2.66, 203.0.113.7, 10.0.0.2"}), trusted) ==
             "203.0.113.7");
  // Several fields are one list, in order.
  BOOST_TEST(ClientOf("10.0.0.1", Forwarded({"192.0.2.66, 203.0.113.7", "10.0.0.2"}), trusted) ==
             "203.0.113.7");
  // Every hop trusted: the left-most is the closest to the client that can be seen.
  BOOST_TEST(ClientOf("10.0.0.1", Forwarded({"10.0.0.3, 10.0.0.2"}), trusted) == "10.0.0.3");
  // Empty entries are skipped; ports and brackets are the forms proxies write.
  BOOST_TEST(ClientOf("10.0.0.1", Forwarded({"203.0.113.7:4711, ,"}), trusted) == "203.0.113.7");
  BOOST_TEST(ClientOf("2001:db8::7", Forwarded({"[2001:db8::1]:4711"}), trusted) == "2001:db8::1");
}

BOOST_AUTO_TEST_CASE(text_that_is_no_address_stops_at_the_proxy_that_wrote_it) {
  const TrustedProxies trusted = Trust({"10.0.0.0/24"});
  BOOST_TEST(ClientOf("10.0.0.1", Forwarded({"not-an-address"}), trusted) == "10.0.0.1");
  BOOST_TEST(ClientOf("10.0.0.1", Forwarded({"203.0.113.7, junk, 10.0.0.2"}), trusted) ==
             "10.0.0.2");
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace
}  // namespace credstore::http
