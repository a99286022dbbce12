// A real gateway in front of a real credstored: nginx (Debian's package) with auth_request to
// credstored --forward-auth nginx, proxying to an upstream in this process that records what it
// received. The configuration under test is docs/gateways.md's (nginx_gateway.cc).
//
// Arguments after Boost.Test's `--`: --credstored PATH (else $CREDSTORED), --nginx PATH (else
// $NGINX, else /usr/sbin/nginx), --docs PATH (docs/gateways.md, whose nginx configuration must be
// the one tested).
#include "gateway/nginx_gateway.h"

#include <sys/stat.h>

#include <boost/json/object.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/test/unit_test.hpp>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <memory>
#include <optional>
#include <random>
#include <string>

#include "credstore/keyring.h"
#include "credstore/signed_request.h"
#include "gateway/upstream_server.h"
#include "http/credstored_process.h"
#include "http/http_client.h"
#include "support/test_helpers.h"

namespace credstore::gateway_tests {
namespace {

namespace json = boost::json;
using http_tests::BuildRequest;
using http_tests::CredstoredConfig;
using http_tests::CredstoredProcess;
using http_tests::HttpResponse;
using http_tests::SendRaw;

struct Args {
  std::string credstored;
  std::string nginx = "/usr/sbin/nginx";
  std::string docs;
};

const Args& TheArgs() {
  static const Args args = [] {
    Args parsed;
    if (const char* env = std::getenv("CREDSTORED")) parsed.credstored = env;
    if (const char* env = std::getenv("NGINX")) parsed.nginx = env;
    const auto& suite = boost::unit_test::framework::master_test_suite();
    for (int i = 1; i + 1 < suite.argc; ++i) {
      const std::string_view arg = suite.argv[i];
      if (arg == "--credstored") parsed.credstored = suite.argv[++i];
      if (arg == "--nginx") parsed.nginx = suite.argv[++i];
      if (arg == "--docs") parsed.docs = suite.argv[++i];
    }
    return parsed;
  }();
  return args;
}

std::string RandomAlnum(std::size_t length) {
  static constexpr std::string_view kAlphabet =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
  thread_local std::mt19937_64 rng(std::random_device{}());
  std::uniform_int_distribution<std::size_t> pick(0, kAlphabet.size() - 1);
  std::string text(length, ' ');
  for (char& c : text) c = kAlphabet[pick(rng)];
  return text;
}

std::string UniqueTimestamp() {
  static std::int64_t last = 0;
  const std::int64_t now = std::chrono::duration_cast<std::chrono::milliseconds>(
                               std::chrono::system_clock::now().time_since_epoch())
                               .count();
  last = std::max(last + 1, now);
  return std::to_string(last);
}

struct Customer {
  std::string key;
  std::string secret;
  std::string admin_key;
};

struct Integrator {
  std::string id;
  std::string secret;
};

// credstored, the upstream and nginx, per test case.
struct GatewayFixture {
  GatewayFixture()
      : dir("credstore-gateway"),
        operator_token("optok-" + RandomAlnum(40)),
        verifier_token("vt-" + RandomAlnum(40)) {
    BOOST_TEST_REQUIRE(!TheArgs().credstored.empty(),
                       "pass the credstored binary: gateway_tests -- --credstored PATH");
    const std::filesystem::path key_file = dir.path() / "credstore.keys";
    {
      std::ofstream out(key_file, std::ios::binary);
      out << Keyring::Generate().Serialize().view();
    }
    ::chmod(key_file.c_str(), 0600);
    const std::filesystem::path tokens = dir.path() / "verifier.tokens";
    {
      std::ofstream out(tokens);
      out << "gateway geofencing+signatures " << verifier_token << "\n";
    }
    std::filesystem::create_directories(dir.path() / "credstored");
    CredstoredConfig config;
    config.binary = TheArgs().credstored;
    config.storage_uri = "memory://";
    config.key_file = key_file;
    config.work_dir = dir.path() / "credstored";
    config.operator_token = operator_token;
    config.extra_args = {"--verifier-token-file", tokens.string(), "--forward-auth", "nginx"};
    credstored = std::make_unique<CredstoredProcess>(config);
    credstored->Start();
    nginx = StartNginx(true);
  }

  ~GatewayFixture() {
    nginx.reset();
    const std::string log = credstored->Log();
    const auto exit = credstored->Stop();
    BOOST_TEST((exit.exited && exit.code == 0), "credstored: " << exit.Describe());
    // Nothing the clients sent as a credential is in credstored's log.
    for (const std::string& secret : sensitive) {
      BOOST_TEST(log.find(secret) == std::string::npos,
                 "credstored's log carries a credential ('" << secret.substr(0, 4) << "...')");
    }
  }

  std::unique_ptr<NginxGateway> StartNginx(bool auth_request) {
    NginxSite site;
    site.credstored_port = credstored->port();
    site.upstream_port = upstream.port();
    site.verifier_token = verifier_token;
    site.auth_request = auth_request;
    try {
      return std::make_unique<NginxGateway>(TheArgs().nginx, dir.path(), site);
    } catch (const std::exception& error) {
      BOOST_FAIL("nginx did not start: " << error.what());
    }
    return nullptr;
  }

  HttpResponse Direct(std::string_view request) { return SendRaw(credstored->port(), request); }
  HttpResponse Via(std::string_view request, const NginxGateway* through = nullptr) {
    return SendRaw((through != nullptr ? through : nginx.get())->port(), request);
  }

  Customer NewCustomer() {
    Customer customer{RandomAlnum(24), "secret-" + RandomAlnum(24), {}};
    const HttpResponse registered = Direct(BuildRequest(
        "POST", "/geofencing/1/register?key=" + customer.key, "Content-Type: application/json\r\n",
        R"({"secret":")" + customer.secret + R"("})"));
    BOOST_TEST_REQUIRE(registered.status == 200u, registered.Describe());
    customer.admin_key = std::string(json::parse(registered.body).at("adminKey").as_string());
    sensitive.push_back(customer.key);
    sensitive.push_back(customer.admin_key);
    sensitive.push_back(customer.secret);
    return customer;
  }

  // regenerateKey without a grace: the previous key is revoked at once.
  void Regenerate(Customer& customer) {
    const HttpResponse regenerated = Direct(BuildRequest(
        "POST", "/geofencing/1/regenerateKey?key=" + customer.key,
        "Content-Type: application/json\r\n", R"({"secret":")" + customer.secret + R"("})"));
    BOOST_TEST_REQUIRE(regenerated.status == 200u, regenerated.Describe());
    customer.admin_key = std::string(json::parse(regenerated.body).at("adminKey").as_string());
    sensitive.push_back(customer.admin_key);
  }

  Integrator NewIntegrator() {
    const HttpResponse created = SendRaw(credstored->operator_port(),
                                         BuildRequest("POST", "/v1/integrators",
                                                      "Authorization: Bearer " + operator_token +
                                                          "\r\nContent-Type: application/json\r\n",
                                                      R"({"label":"gateway test"})"));
    BOOST_TEST_REQUIRE(created.status == 201u, created.Describe());
    const json::value body = json::parse(created.body);
    Integrator integrator{std::string(body.at("integratorId").as_string()),
                          std::string(body.at("secret").as_string())};
    sensitive.push_back(integrator.secret);
    return integrator;
  }

  // A GET of the admin-key service, the credentials where `query` and `headers` put them.
  std::string AdminKeyGet(std::string_view query, std::string_view headers = {}) {
    return BuildRequest("GET", "/geo/settings?" + std::string(query), headers);
  }

  // A POST signed over `signed_body`, sending `sent_body` with X-Content-SHA256 `claimed`;
  // `leading_headers` come before the signature's.
  std::string SignedPost(const Integrator& integrator, std::string_view target,
                         std::string_view signed_body, std::string_view sent_body,
                         std::string_view claimed, std::string_view leading_headers = {}) {
    const std::string timestamp = UniqueTimestamp();
    const std::string signature =
        SignRequest(integrator.secret, timestamp, "POST", target, signed_body);
    std::string headers = std::string(leading_headers) + "X-Integrator-Key: " + integrator.id +
                          "\r\nX-Timestamp: " + timestamp + "\r\nX-Signature: " + signature +
                          "\r\nContent-Type: application/json\r\n";
    if (!claimed.empty()) headers += "X-Content-SHA256: " + std::string(claimed) + "\r\n";
    return BuildRequest("POST", target, headers, sent_body, true);
  }

  credstore::testing::TempDir dir;
  std::string operator_token;
  std::string verifier_token;
  std::vector<std::string> sensitive;
  UpstreamServer upstream;
  std::unique_ptr<CredstoredProcess> credstored;
  std::unique_ptr<NginxGateway> nginx;
};

// Why `response` is not one the upstream served (one more request there, answered 200), or
// nullopt when it is. The last request the upstream saw is in `*seen`.
std::optional<std::string> NotServed(const HttpResponse& response, std::size_t upstream_before,
                                     const UpstreamServer& upstream,
                                     UpstreamRequest* seen = nullptr) {
  const auto requests = upstream.Requests();
  if (requests.size() != upstream_before + 1) {
    return "the upstream saw " + std::to_string(requests.size() - upstream_before) +
           " requests, not 1; the answer: " + response.Describe();
  }
  if (seen != nullptr) *seen = requests.back();
  if (response.status != 200 || response.body != "upstream ok\n") {
    return "not the upstream's 200: " + response.Describe();
  }
  return std::nullopt;
}

// Why `response` is not a refusal (401 with the problem body of the error_page recipe, the
// upstream never reached), or nullopt when it is.
std::optional<std::string> NotRefused(const HttpResponse& response, std::size_t upstream_before,
                                      const UpstreamServer& upstream) {
  if (upstream.count() != upstream_before) {
    return "the upstream was reached; the answer: " + response.Describe();
  }
  if (response.status != 401) return "not a 401: " + response.Describe();
  if (response.Header("Content-Type").value_or("") != "application/problem+json") {
    return "the 401 is not a problem: " + response.Describe();
  }
  boost::system::error_code error;
  const json::value problem = json::parse(response.body, error);
  if (error || !problem.is_object()) return "the problem is not JSON: " + response.body;
  for (std::string_view member : {"type", "detail", "instance"}) {
    const json::value* found = problem.as_object().if_contains(member);
    if (found == nullptr || !found->is_string() || found->as_string().empty()) {
      return "the problem lacks '" + std::string(member) + "': " + response.body;
    }
  }
  if (response.Header("Cache-Control").value_or("") != "no-store") {
    return "the 401 may be cached: " + response.Describe();
  }
  return std::nullopt;
}

bool IsHex64(std::string_view text) {
  return text.size() == 64 && text.find_first_not_of("0123456789abcdef") == std::string::npos;
}

#define EXPECT_SERVED(response, before, seen)               \
  do {                                                      \
    auto why = NotServed(response, before, upstream, seen); \
    BOOST_TEST(!why, *why);                                 \
  } while (false)
#define EXPECT_REFUSED(response, before, what)         \
  do {                                                 \
    auto why = NotRefused(response, before, upstream); \
    BOOST_TEST(!why, what << ": " << *why);            \
  } while (false)

BOOST_FIXTURE_TEST_SUITE(nginx_gateway, GatewayFixture)

BOOST_AUTO_TEST_CASE(good_admin_key_reaches_the_upstream_with_the_customer) {
  const Customer customer = NewCustomer();
  std::size_t before = upstream.count();
  UpstreamRequest seen;
  EXPECT_SERVED(Via(AdminKeyGet("key=" + customer.key + "&adminKey=" + customer.admin_key)), before,
                &seen);
  const std::string customer_id = seen.Header("X-Credstore-Customer").value_or("");
  BOOST_TEST(IsHex64(customer_id), "X-Credstore-Customer: '" << customer_id << "'");
  BOOST_TEST(seen.Header("X-Credstore-Service").value_or("") == "geofencing");
  BOOST_TEST(!seen.Header("X-Credstore-Integrator"));

  // The keys in headers instead of the URL: the same customer.
  before = upstream.count();
  EXPECT_SERVED(Via(AdminKeyGet("page=1", "X-Api-Key: " + customer.key +
                                              "\r\nX-Admin-Key: " + customer.admin_key + "\r\n")),
                before, &seen);
  BOOST_TEST(seen.Header("X-Credstore-Customer").value_or("") == customer_id);
}

BOOST_AUTO_TEST_CASE(wrong_missing_and_revoked_keys_are_refused) {
  Customer customer = NewCustomer();
  std::size_t before = upstream.count();
  EXPECT_REFUSED(Via(AdminKeyGet("key=" + customer.key + "&adminKey=" + RandomAlnum(48))), before,
                 "wrong admin key");
  EXPECT_REFUSED(Via(AdminKeyGet("key=" + customer.key)), before, "no admin key");
  EXPECT_REFUSED(Via(AdminKeyGet("adminKey=" + customer.admin_key)), before, "no API key");
  EXPECT_REFUSED(Via(AdminKeyGet("key=" + RandomAlnum(24) + "&adminKey=" + customer.admin_key)),
                 before, "unknown customer");
  const HttpResponse refused =
      Via(AdminKeyGet("key=" + customer.key + "&adminKey=" + RandomAlnum(48)));
  BOOST_TEST(refused.Header("WWW-Authenticate").value_or("").find("credstore") != std::string::npos,
             refused.Describe());

  // Regenerated a moment ago: the previous key is refused at once, the new one passes.
  const std::string previous = customer.admin_key;
  Regenerate(customer);
  EXPECT_REFUSED(Via(AdminKeyGet("key=" + customer.key + "&adminKey=" + previous)), before,
                 "the key regenerated a moment ago");
  EXPECT_SERVED(Via(AdminKeyGet("key=" + customer.key + "&adminKey=" + customer.admin_key)), before,
                nullptr);
}

BOOST_AUTO_TEST_CASE(signed_post_passes_with_the_verified_hash) {
  const Integrator integrator = NewIntegrator();
  const std::string body = R"({"item":"book","count":2})";
  std::size_t before = upstream.count();
  UpstreamRequest seen;
  EXPECT_SERVED(Via(SignedPost(integrator, "/orders/7?rush=1", body, body, Sha256Hex(body))),
                before, &seen);
  BOOST_TEST(seen.Header("X-Credstore-Integrator").value_or("") == integrator.id);
  BOOST_TEST(seen.Header("X-Credstore-Body-SHA256").value_or("") == Sha256Hex(body));
  BOOST_TEST(seen.body == body);
  BOOST_TEST(!seen.Header("X-Credstore-Customer"));

  // The same request again is a replay; a retry signs again (and passes).
  const std::string once = SignedPost(integrator, "/orders/8", body, body, Sha256Hex(body));
  before = upstream.count();
  EXPECT_SERVED(Via(once), before, nullptr);
  before = upstream.count();
  EXPECT_REFUSED(Via(once), before, "a replay");
  EXPECT_SERVED(Via(SignedPost(integrator, "/orders/8", body, body, Sha256Hex(body))), before,
                nullptr);

  // Signed over one body but claiming another's hash: the MAC does not verify.
  const std::string other = R"({"item":"car","count":1})";
  before = upstream.count();
  EXPECT_REFUSED(Via(SignedPost(integrator, "/orders/9", body, body, Sha256Hex(other))), before,
                 "a hash that is not the signed body's");
  EXPECT_REFUSED(Via(SignedPost(integrator, "/orders/9", body, body, {})), before,
                 "no X-Content-SHA256 (nginx forwards no body)");
  // A repeated header reaches credstored as nginx forwards it: the first one (nginx 1.22; later
  // versions join them, which no longer parses). credstored verifies exactly that.
  EXPECT_REFUSED(Via(SignedPost(integrator, "/orders/9", body, body, Sha256Hex(body),
                                "X-Signature: sha256=" + std::string(64, '0') + "\r\n")),
                 before, "a bad X-Signature before the good one");
}

BOOST_AUTO_TEST_CASE(correct_hash_with_another_body_is_refused_by_the_upstream) {
  const Integrator integrator = NewIntegrator();
  const std::string signed_body = R"({"amount":10})";
  const std::string sent_body = R"({"amount":99})";
  const std::size_t before = upstream.count();
  // credstored verifies the MAC over the claimed hash (it is right); only the upstream sees
  // the body and that it does not match.
  const HttpResponse response =
      Via(SignedPost(integrator, "/orders/1", signed_body, sent_body, Sha256Hex(signed_body)));
  BOOST_TEST(response.status == 400u, response.Describe());
  const auto requests = upstream.Requests();
  BOOST_TEST_REQUIRE(requests.size() == before + 1);
  BOOST_TEST(requests.back().answered == 400u);
  BOOST_TEST(requests.back().Header("X-Credstore-Body-SHA256").value_or("") ==
             Sha256Hex(signed_body));
}

BOOST_AUTO_TEST_CASE(spoofs_change_nothing) {
  const Customer customer = NewCustomer();
  const Customer other = NewCustomer();
  const std::string good = "key=" + customer.key + "&adminKey=" + customer.admin_key;
  const std::string wrong = "key=" + customer.key + "&adminKey=" + RandomAlnum(48);
  std::size_t before = upstream.count();
  UpstreamRequest seen;
  EXPECT_SERVED(Via(AdminKeyGet(good)), before, &seen);
  const std::string customer_id = seen.Header("X-Credstore-Customer").value_or("");

  // Another profile's headers from the client: nginx clears them, so nothing changes.
  const std::string traefik_headers =
      "X-Forwarded-Uri: /geo/settings?" + good + "\r\nX-Forwarded-Method: GET\r\n";
  before = upstream.count();
  EXPECT_SERVED(Via(AdminKeyGet(good, traefik_headers)), before, &seen);
  BOOST_TEST(seen.Header("X-Credstore-Customer").value_or("") == customer_id);
  EXPECT_REFUSED(Via(AdminKeyGet(wrong, traefik_headers)), before + 1, "wrong key + X-Forwarded-*");

  // nginx's own headers from the client are replaced by what nginx saw.
  before = upstream.count();
  EXPECT_REFUSED(Via(AdminKeyGet(wrong, "X-Original-URI: /geo/settings?" + good +
                                            "\r\nX-Original-Method: GET\r\n")),
                 before, "wrong key + a client's X-Original-URI naming a good one");

  // A client's X-Credstore-Customer never reaches the upstream: credstore's replaces it.
  before = upstream.count();
  EXPECT_SERVED(Via(AdminKeyGet(good, "X-Credstore-Customer: " + std::string(64, 'f') +
                                          "\r\nX-Credstore-Service: locationHistory\r\n"
                                          "X-Credstore-Integrator: int_spoofed0\r\n")),
                before, &seen);
  BOOST_TEST(seen.Header("X-Credstore-Customer").value_or("") == customer_id);
  BOOST_TEST(seen.Header("X-Credstore-Service").value_or("") == "geofencing");
  BOOST_TEST(!seen.Header("X-Credstore-Integrator"));
  before = upstream.count();
  EXPECT_REFUSED(Via(AdminKeyGet(wrong, "X-Credstore-Customer: " + customer_id + "\r\n")), before,
                 "wrong key + a client's X-Credstore-Customer");

  // Two keys where the upstream might read either: refused, whichever is right.
  EXPECT_REFUSED(Via(AdminKeyGet(good + "&key=" + other.key)), before, "a second key=");
  EXPECT_REFUSED(Via(AdminKeyGet("key=" + other.key + "&" + good)), before,
                 "key= twice, good last");
  EXPECT_REFUSED(Via(AdminKeyGet(good + "&adminKey=" + other.admin_key)), before,
                 "a second adminKey=");
  EXPECT_REFUSED(Via(AdminKeyGet(good, "X-Api-Key: " + other.key + "\r\n")), before,
                 "X-Api-Key different from key=");
  EXPECT_REFUSED(Via(AdminKeyGet(good, "X-Admin-Key: " + other.admin_key + "\r\n")), before,
                 "X-Admin-Key different from adminKey=");
  EXPECT_REFUSED(Via(AdminKeyGet("k%65y=" + customer.key + "&adminKey=" + customer.admin_key)),
                 before, "a percent-encoded key=");
  char first[4];
  std::snprintf(first, sizeof first, "%%%02X", static_cast<unsigned>(customer.admin_key[0]));
  EXPECT_REFUSED(
      Via(AdminKeyGet("key=" + customer.key + "&adminKey=" + first + customer.admin_key.substr(1))),
      before, "a percent-encoded adminKey value");
  // The check location is internal: a client cannot call it.
  const HttpResponse direct = Via(BuildRequest("GET", "/_credstore/admin-key/geofencing"));
  BOOST_TEST(direct.status == 404u, direct.Describe());
  BOOST_TEST(upstream.count() == before);
}

BOOST_AUTO_TEST_CASE(the_fixture_notices_a_config_without_auth_request) {
  const Customer customer = NewCustomer();
  const std::unique_ptr<NginxGateway> unguarded = StartNginx(false);
  const std::size_t before = upstream.count();
  const HttpResponse response =
      Via(BuildRequest("GET", "/geo/settings?key=" + customer.key + "&adminKey=" + RandomAlnum(48)),
          unguarded.get());
  // The check every refusal above goes through must fail here, or it proves nothing.
  const auto why = NotRefused(response, before, upstream);
  BOOST_TEST(why.has_value(), "a wrong key through nginx without auth_request looked refused: "
                                  << response.Describe());
  BOOST_TEST(upstream.count() == before + 1);
}

BOOST_AUTO_TEST_SUITE_END()

// Outside the fixture: it needs no server.
BOOST_AUTO_TEST_CASE(the_documented_nginx_configuration_is_the_tested_one) {
  BOOST_TEST_REQUIRE(!TheArgs().docs.empty(), "pass docs/gateways.md: -- --docs PATH");
  std::ifstream in(TheArgs().docs, std::ios::binary);
  BOOST_TEST_REQUIRE(in.good(), "cannot read " << TheArgs().docs);
  const std::string docs((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const std::string block = "```nginx\n" + std::string(NginxConfigTemplate()) + "```\n";
  BOOST_TEST(docs.find(block) != std::string::npos,
             TheArgs().docs << " does not show tests/gateway's nginx configuration as it is");
}

}  // namespace
}  // namespace credstore::gateway_tests
