// Device tokens over HTTP, against a real credstored (docs/http.md, "Device tokens"): every
// success of a route that checks the customer's secret answers a `Credstore-Device` header, and
// a request that sends it back skips the per-customer bucket that strangers who know the API key
// can spend. Tokens are sensitive strings here: no other response and no log line may carry one.
#include <boost/test/unit_test.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "http/http_test_env.h"

namespace credstore::http_tests {
namespace {

constexpr std::string_view kJsonHeader = "Content-Type: application/json\r\n";

bool IsDeviceToken(std::string_view text) {
  if (text.size() != 32) return false;
  for (char c : text) {
    const bool alnum = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
    if (!alnum) return false;
  }
  return true;
}

// A POST to a customer route with `device_token` (when not empty) as the Credstore-Device header,
// from a fresh client address.
HttpResponse PostWithDevice(Server& server, const Customer& customer, std::string_view operation,
                            std::string_view body, std::string_view device_token) {
  std::string headers(kJsonHeader);
  if (!device_token.empty()) headers += "Credstore-Device: " + std::string(device_token) + "\r\n";
  return server.Send(
      BuildRequest("POST",
                   "/" + customer.service + "/1/" + std::string(operation) + "?key=" + customer.key,
                   headers, body),
      operation);
}

std::string SecretBody(std::string_view secret) {
  return "{\"secret\":\"" + std::string(secret) + "\"}";
}

// The device token of a success: exactly one header, well formed, remembered as sensitive.
std::string DeviceTokenOf(Server& server, const HttpResponse& response, std::string_view what) {
  BOOST_TEST(response.HeaderCount("Credstore-Device") == 1u, what << ": " << response.Describe());
  const std::string token = response.Header("Credstore-Device").value_or("");
  BOOST_TEST(IsDeviceToken(token), what << ": not 32 characters of [A-Za-z0-9]");
  BOOST_TEST(response.Header("Cache-Control").value_or("").find("no-store") != std::string::npos,
             what);
  server.AddSensitive(token);
  return token;
}

// A customer registered here, so the test sees the registration's device token.
struct Registered {
  Customer customer;
  std::string device_token;
};

Registered RegisterWithToken(Server& server) {
  Registered registered;
  registered.customer = Customer{"geofencing", NewApiKey(), NewSecret(), {}};
  Customer& customer = registered.customer;
  server.AddSensitive(customer.key);
  server.AddSensitive(customer.secret);
  const HttpResponse response = server.Register(customer.service, customer.key, customer.secret);
  const boost::json::object body = ExpectJson(response, 200, "register");
  BOOST_TEST_REQUIRE(response.status == 200u);
  customer.admin_key = std::string(body.at("adminKey").as_string());
  server.AddSensitive(customer.admin_key);
  registered.device_token = DeviceTokenOf(server, response, "register");
  return registered;
}

BOOST_AUTO_TEST_SUITE(device_tokens)

BOOST_FIXTURE_TEST_CASE(every_secret_check_answers_a_device_token_on_success_only, ServerFixture) {
  Registered registered = RegisterWithToken(server);
  Customer& customer = registered.customer;

  const HttpResponse regenerated =
      PostWithDevice(server, customer, "regenerateKey", SecretBody(customer.secret), {});
  ExpectJson(regenerated, 200, "regenerateKey");
  const std::string second = DeviceTokenOf(server, regenerated, "regenerateKey");
  BOOST_TEST(second != registered.device_token);

  const std::string new_secret = NewSecret();
  server.AddSensitive(new_secret);
  const HttpResponse updated = PostWithDevice(
      server, customer, "updateSecret",
      "{\"secret\":\"" + customer.secret + "\",\"newSecret\":\"" + new_secret + "\"}", second);
  BOOST_TEST(updated.status == 204u, updated.Describe());
  const std::string third = DeviceTokenOf(server, updated, "updateSecret");
  BOOST_TEST(third != second);
  customer.secret = new_secret;

  // Errors never carry one, with or without a token presented.
  const HttpResponse wrong =
      PostWithDevice(server, customer, "regenerateKey", SecretBody("not the secret"), third);
  ExpectProblem(wrong, 401, "wrong secret");
  BOOST_TEST(wrong.HeaderCount("Credstore-Device") == 0u);
  const HttpResponse taken = server.Register(customer.service, customer.key, customer.secret);
  ExpectProblem(taken, 403, "register again");
  BOOST_TEST(taken.HeaderCount("Credstore-Device") == 0u);
}

// Issue 13 over HTTP: an attacker spends the customer's bucket from fresh addresses; the owner
// without its token is throttled, with it rotates the leaked admin key.
BOOST_FIXTURE_TEST_CASE(a_device_token_skips_the_customer_bucket_an_attacker_spends,
                        ServerFixture) {
  Registered registered = RegisterWithToken(server);
  const Customer& customer = registered.customer;

  HttpResponse last;
  int guesses = 0;
  for (; guesses < 40; ++guesses) {  // the default burst is 20
    last = PostWithDevice(server, customer, "regenerateKey", SecretBody("a guess"), {});
    if (last.status != 401) break;
  }
  ExpectProblem(last, 429, "the attacker, once the customer's bucket is spent");
  BOOST_TEST(guesses >= 1);

  // Tokens come back one every 6 s: these requests follow within milliseconds.
  const HttpResponse owner_plain =
      PostWithDevice(server, customer, "regenerateKey", SecretBody(customer.secret), {});
  ExpectProblem(owner_plain, 429, "the owner without a device token");
  BOOST_TEST(owner_plain.HeaderCount("Credstore-Device") == 0u);
  const HttpResponse stranger_token = PostWithDevice(
      server, customer, "regenerateKey", SecretBody(customer.secret), std::string(32, 'Q'));
  ExpectProblem(stranger_token, 429, "a token the customer never got counts as none");

  const HttpResponse owner = PostWithDevice(server, customer, "regenerateKey",
                                            SecretBody(customer.secret), registered.device_token);
  const boost::json::object body = ExpectJson(owner, 200, "the owner with its device token");
  BOOST_TEST_REQUIRE(owner.status == 200u);
  const std::string newest = DeviceTokenOf(server, owner, "the owner's rotation");
  server.AddSensitive(std::string(body.at("adminKey").as_string()));

  // The leaked admin key is revoked at once.
  ExpectProblem(server.GetSettings(customer), 401, "the leaked admin key");

  // And the newest token keeps working while the attacker keeps the bucket empty.
  ExpectProblem(PostWithDevice(server, customer, "regenerateKey", SecretBody("a guess"), {}), 429,
                "the attacker, still");
  ExpectJson(PostWithDevice(server, customer, "regenerateKey", SecretBody(customer.secret), newest),
             200, "the owner with its newest token");
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace
}  // namespace credstore::http_tests
