// The throttle policy is the operator's: --throttle-* flags (or the config file) set the store's
// limits, and a setting out of range stops credstored at start with a message naming it.
#include <boost/test/unit_test.hpp>
#include <chrono>
#include <exception>
#include <string>
#include <vector>

#include "http/http_test_env.h"

namespace credstore::http_tests {
namespace {

using namespace std::chrono_literals;

}  // namespace

BOOST_AUTO_TEST_SUITE(throttle_policy)

BOOST_AUTO_TEST_CASE(the_flags_set_the_limits) {
  Server server(ServerOptions{"minimum",
                              {"--throttle-failures-per-address", "2", "--throttle-address-window",
                               "600", "--throttle-registrations-per-address", "1"}});
  const Customer customer = server.NewCustomer();
  const ClientOptions guesser{NextClientAddress()};
  for (int i = 0; i < 2; ++i) {
    ExpectProblem(server.RegenerateKey(customer, "secret-wrong-guess", guesser), 401,
                  "a wrong guess within the allowance");
  }
  const HttpResponse throttled = server.RegenerateKey(customer, customer.secret, guesser);
  ExpectProblem(throttled, 429, "the third attempt from the address, the right secret too");
  const int retry_after = std::stoi(throttled.Header("Retry-After").value_or("0"));
  BOOST_TEST((retry_after > 0 && retry_after <= 600), throttled.Describe());
  // Elsewhere, the owner is served.
  const HttpResponse owner = server.RegenerateKey(customer, customer.secret);
  server.AddSensitive(std::string(ExpectJson(owner, 200, "owner").at("adminKey").as_string()));

  // One registration per address: the second from the same address is 429.
  const ClientOptions registrar{NextClientAddress()};
  const std::string first_key = NewApiKey(), second_key = NewApiKey(), secret = NewSecret();
  for (const std::string& text : {first_key, second_key, secret}) server.AddSensitive(text);
  const std::string body = R"({"secret":")" + secret + R"("})";
  const HttpResponse first =
      server.Send(BuildRequest("POST", "/geofencing/1/register?key=" + first_key,
                               "Content-Type: application/json\r\n", body),
                  registrar);
  server.AddSensitive(std::string(ExpectJson(first, 200, "first").at("adminKey").as_string()));
  ExpectProblem(server.Send(BuildRequest("POST", "/geofencing/1/register?key=" + second_key,
                                         "Content-Type: application/json\r\n", body),
                            registrar),
                429, "a second registration from the address");
}

BOOST_AUTO_TEST_CASE(a_setting_out_of_range_refuses_to_start) {
  const std::string zero_window = ExpectStartupRefusal({"--throttle-address-window", "0"});
  BOOST_TEST(zero_window.find("--throttle-address-window") != std::string::npos, zero_window);
  const std::string negative = ExpectStartupRefusal({"--throttle-customer-interval", "-1"});
  BOOST_TEST(negative.find("--throttle-customer-interval") != std::string::npos, negative);
  const std::string not_a_count = ExpectStartupRefusal({"--throttle-customer-burst", "many"});
  BOOST_TEST(not_a_count.find("throttle-customer-burst") != std::string::npos, not_a_count);
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace credstore::http_tests
