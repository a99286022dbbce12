// The verify routes through a real credstored: verifier tokens from a file, the JSON answers,
// the separation from the operator token, shared replay records, and SIGHUP's reload.
#include <signal.h>

#include <boost/json/serialize.hpp>
#include <boost/test/unit_test.hpp>
#include <chrono>
#include <fstream>
#include <string>
#include <thread>

#include "credstore/signed_request.h"
#include "http/http_test_env.h"
#include "support/test_helpers.h"

namespace credstore::http_tests {
namespace {

using credstore::testing::Sha256Hex;

namespace json = boost::json;

constexpr std::string_view kJson = "Content-Type: application/json\r\n";

std::string Bearer(std::string_view token) {
  return "Authorization: Bearer " + std::string(token) + "\r\n";
}

void WriteTokenFile(const std::filesystem::path& path, std::string_view lines) {
  std::ofstream out(path, std::ios::trunc);
  out << lines;
}

// A credstored with one verifier token file, rewritten by the tests that reload it.
struct VerifyFixture {
  VerifyFixture()
      : token("vt-" + RandomAlnum(40)),
        token_file(WrittenTokenFile(dir, "billing geofencing+signatures " + token + "\n")),
        server(ServerOptions{"minimum", {"--verifier-token-file", token_file.string()}}) {
    server.AddSensitive(token);
  }

  static std::filesystem::path WrittenTokenFile(const credstore::testing::TempDir& dir,
                                                const std::string& lines) {
    const std::filesystem::path path = dir.path() / "verifier.tokens";
    WriteTokenFile(path, lines);
    return path;
  }

  HttpResponse VerifyAdminKey(std::string_view bearer, const Customer& customer,
                              std::string_view admin_key) {
    json::object body{{"service", customer.service},
                      {"apiKey", customer.key},
                      {"adminKey", std::string(admin_key)}};
    return server.Send(BuildRequest("POST", "/v1/verify/admin-key",
                                    std::string(kJson) + Bearer(bearer), json::serialize(body)),
                       "verify admin-key");
  }

  credstore::testing::TempDir dir;
  std::string token;
  std::filesystem::path token_file;
  Server server;
};

BOOST_FIXTURE_TEST_SUITE(verify_routes, VerifyFixture)

BOOST_AUTO_TEST_CASE(admin_key_current_graced_and_revoked) {
  Customer customer = server.NewCustomer();
  HttpResponse ok = VerifyAdminKey(token, customer, customer.admin_key);
  json::object body = ExpectJson(ok, 200, "verify current key");
  BOOST_TEST(body.at("service").as_string() == "geofencing");
  BOOST_TEST(body.at("keyState").as_string() == "current");
  BOOST_TEST(body.at("customer").as_string().size() >= 32u);  // >= 128 bits of hex
  BOOST_TEST(!body.contains("expiresAt"));
  BOOST_TEST(ok.Header("Cache-Control").value_or("") == "no-store");

  // A grace keeps the old key verifying, as graced, until it ends.
  const std::string old_key = customer.admin_key;
  HttpResponse regenerated =
      server.RegenerateKey(customer, customer.secret, R"("oldKeyValidForSeconds":60)");
  json::object grant = ExpectJson(regenerated, 200, "regenerate with grace");
  BOOST_TEST(grant.contains("oldKeyExpiresAt"));
  customer.admin_key = std::string(grant.at("adminKey").as_string());
  server.AddSensitive(customer.admin_key);
  json::object graced = ExpectJson(VerifyAdminKey(token, customer, old_key), 200, "graced key");
  BOOST_TEST(graced.at("keyState").as_string() == "graced");
  BOOST_TEST(graced.contains("expiresAt"));
  BOOST_TEST(graced.at("customer") == body.at("customer"));

  // Regenerated without a grace, the previous key is refused at once.
  const std::string previous = customer.admin_key;
  json::object again = ExpectJson(server.RegenerateKey(customer, customer.secret), 200, "again");
  customer.admin_key = std::string(again.at("adminKey").as_string());
  server.AddSensitive(customer.admin_key);
  json::object refused =
      ExpectProblem(VerifyAdminKey(token, customer, previous), 401, "revoked key");
  BOOST_TEST(refused.at("realm").as_string() == "credstore");
  ExpectProblem(VerifyAdminKey(token, customer, old_key), 401, "key past its grace's successor");
  ExpectJson(VerifyAdminKey(token, customer, customer.admin_key), 200, "newest key");
}

BOOST_AUTO_TEST_CASE(unknown_customer_and_wrong_key_answer_alike) {
  Customer customer = server.NewCustomer();
  Customer stranger = customer;
  stranger.key = NewApiKey();
  HttpResponse wrong = VerifyAdminKey(token, customer, RandomAlnum(48));
  HttpResponse unknown = VerifyAdminKey(token, stranger, customer.admin_key);
  json::object a = ExpectProblem(wrong, 401, "wrong key");
  json::object b = ExpectProblem(unknown, 401, "unknown customer");
  BOOST_TEST(a.at("detail") == b.at("detail"));
  BOOST_TEST(a.at("type") == b.at("type"));
}

BOOST_AUTO_TEST_CASE(tokens_open_only_their_own_door) {
  Customer customer = server.NewCustomer();
  // No token, a wrong one, and the operator token: 401 with the verify realm.
  for (const std::string& bearer :
       {std::string("vt-") + RandomAlnum(40), server.process().config().operator_token}) {
    json::object problem =
        ExpectProblem(VerifyAdminKey(bearer, customer, customer.admin_key), 401, "wrong token");
    BOOST_TEST(problem.at("realm").as_string() == "credstore-verify");
  }
  HttpResponse bare = server.Send(
      BuildRequest("POST", "/v1/verify/admin-key", std::string(kJson), R"({"service":"x"})"),
      "no token");
  ExpectProblem(bare, 401, "no token");
  BOOST_TEST(bare.Header("WWW-Authenticate").value_or("").find("credstore-verify") !=
             std::string::npos);
  // Out of scope: the token names geofencing only.
  Customer other = server.NewCustomer("locationHistory");
  ExpectProblem(VerifyAdminKey(token, other, other.admin_key), 403, "service out of scope");
  // The verifier token never opens the operator listener.
  HttpResponse metrics = server.SendOperator(BuildRequest("GET", "/metrics", Bearer(token)));
  ExpectProblem(metrics, 401, "verifier token on /metrics");
}

BOOST_AUTO_TEST_CASE(a_verified_signature_is_a_replay_everywhere) {
  const Integrator integrator = server.NewIntegrator();
  const std::string timestamp = UniqueTimestamp();
  const std::string target = "/v1/orders?id=7";
  const std::string body = R"({"order":7})";
  const std::string signature = SignRequest(integrator.secret, timestamp, "POST", target, body);
  json::object check{
      {"method", "POST"},       {"target", target},       {"integratorKey", integrator.id},
      {"timestamp", timestamp}, {"signature", signature}, {"bodySha256", Sha256Hex(body)}};
  const std::string request = BuildRequest(
      "POST", "/v1/verify/signature", std::string(kJson) + Bearer(token), json::serialize(check));
  json::object verified = ExpectJson(server.Send(request, "verify signature"), 200, "signature");
  BOOST_TEST(verified.at("integratorId").as_string() == integrator.id);
  BOOST_TEST(verified.at("signedWithCurrent").as_bool());
  ExpectProblem(server.Send(request, "the same signature again"), 401, "replayed signature");

  // A rotation signature that a verifier checked first cannot rotate afterwards.
  const std::string rotation_timestamp = UniqueTimestamp();
  const std::string rotation_signature = SignRequest(integrator.secret, rotation_timestamp, "POST",
                                                     "/v1/integrator/regenerate-secret", "");
  json::object rotation_check{{"method", "POST"},
                              {"target", "/v1/integrator/regenerate-secret"},
                              {"integratorKey", integrator.id},
                              {"timestamp", rotation_timestamp},
                              {"signature", rotation_signature},
                              {"bodySha256", Sha256Hex("")}};
  ExpectJson(
      server.Send(BuildRequest("POST", "/v1/verify/signature", std::string(kJson) + Bearer(token),
                               json::serialize(rotation_check)),
                  "verify a rotation's signature"),
      200, "verify a rotation's signature");
  HttpResponse rotate = server.Send(
      BuildRequest("POST", "/v1/integrator/regenerate-secret",
                   "X-Integrator-Key: " + integrator.id + "\r\nX-Timestamp: " + rotation_timestamp +
                       "\r\nX-Signature: " + rotation_signature + "\r\n",
                   "", true),
      "rotation replayed");
  ExpectProblem(rotate, 401, "rotation with a signature already verified");
}

BOOST_AUTO_TEST_CASE(sighup_reloads_the_token_file) {
  Customer customer = server.NewCustomer();
  const std::string next = "vt-" + RandomAlnum(40);
  server.AddSensitive(next);
  WriteTokenFile(token_file, "rotated * " + next + "\n");
  BOOST_TEST_REQUIRE(::kill(server.process().pid(), SIGHUP) == 0);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  unsigned status = 0;
  while (std::chrono::steady_clock::now() < deadline) {
    status = VerifyAdminKey(next, customer, customer.admin_key).status;
    if (status == 200) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  BOOST_TEST(status == 200u, "the new token never worked");
  ExpectProblem(VerifyAdminKey(token, customer, customer.admin_key), 401, "the old token");

  // A file that no longer parses keeps the tokens in force.
  WriteTokenFile(token_file, "broken scope-without-token\n");
  BOOST_TEST_REQUIRE(::kill(server.process().pid(), SIGHUP) == 0);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  ExpectJson(VerifyAdminKey(next, customer, customer.admin_key), 200, "after a bad reload");
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_CASE(verify_routes_are_absent_without_tokens) {
  Server server;
  Customer customer = server.NewCustomer();
  json::object body{
      {"service", customer.service}, {"apiKey", customer.key}, {"adminKey", customer.admin_key}};
  HttpResponse response = server.Send(
      BuildRequest("POST", "/v1/verify/admin-key",
                   std::string(kJson) + Bearer(server.process().config().operator_token),
                   json::serialize(body)),
      "verify without tokens");
  ExpectProblem(response, 404, "verify without tokens");
}

}  // namespace
}  // namespace credstore::http_tests
