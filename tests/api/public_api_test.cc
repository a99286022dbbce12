// PublicApi called directly (no server): the check order of docs/http.md and the JSON rules.
// The loopback suite in tests/http/ drives the same routes through a real credstored.
#include "credstore/http/public_api.h"

#include <sodium.h>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/test/unit_test.hpp>
#include <cctype>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <functional>
#include <utility>
#include <vector>

#include "credstore/backends/memory.h"
#include "credstore/http/verifier_tokens.h"
#include "credstore/http/verify_api.h"
#include "support/test_helpers.h"

namespace credstore::http {
namespace {

namespace beast_http = boost::beast::http;

constexpr std::string_view kKey = "customer_key_1";

struct ApiFixture {
  ApiFixture() {
    Options options;
    options.argon2 = Argon2Cost::MinimumForTests();
    options.clock = clock;
    options.audit = std::make_shared<NullAuditSink>();
    store = std::move(CredentialStore::Open(backend, Keyring::Generate(), options)).value();
    api = std::make_unique<PublicApi>(*store);
  }

  Response Send(beast_http::verb method, std::string target, std::string body = {},
                std::string content_type = "application/json") {
    Request request(method, target, 11);
    if (!content_type.empty()) request.set(beast_http::field::content_type, content_type);
    request.body() = std::move(body);
    request.prepare_payload();
    RequestMeta meta{"req-1", "198.51.100.4", 11, true};
    return api->Handle(request, meta);
  }

  std::string RegisterCustomer() {
    Response response =
        Send(beast_http::verb::post, "/geofencing/1/register?key=" + std::string(kKey),
             R"({"secret":"s3cret"})");
    BOOST_REQUIRE_EQUAL(response.result_int(), 200u);
    return std::string(boost::json::parse(response.body()).at("adminKey").as_string());
  }

  std::shared_ptr<ManualClock> clock = std::make_shared<ManualClock>();
  std::shared_ptr<MemoryBackend> backend = std::make_shared<MemoryBackend>();
  std::unique_ptr<CredentialStore> store;
  std::unique_ptr<PublicApi> api;
};

// What Iso8601 writes: "2026-11-23T08:00:00.000Z".
std::string Iso8601ForTest(Timestamp t) {
  const auto millis = t.time_since_epoch().count();
  const std::time_t seconds = static_cast<std::time_t>(millis / 1000);
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  char text[96];  // sized for any int the format could be given, so it never truncates
  std::snprintf(text, sizeof text, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", utc.tm_year + 1900,
                utc.tm_mon + 1, utc.tm_mday, utc.tm_hour, utc.tm_min, utc.tm_sec,
                static_cast<int>(millis % 1000));
  return text;
}

void RequireProblem(const Response& response, unsigned status) {
  BOOST_TEST(response.result_int() == status);
  BOOST_TEST(response[beast_http::field::content_type] == "application/problem+json");
  auto body = boost::json::parse(response.body()).as_object();
  for (const char* member : {"type", "title", "status", "detail", "instance"}) {
    BOOST_TEST(body.contains(member), "problem lacks " << member);
  }
  BOOST_TEST(body.at("status").to_number<unsigned>() == status);
}

BOOST_FIXTURE_TEST_SUITE(public_api, ApiFixture)

BOOST_AUTO_TEST_CASE(register_then_settings_round_trip) {
  const std::string admin_key = RegisterCustomer();
  BOOST_TEST(admin_key.size() == 48u);
  const std::string settings =
      "/geofencing/1/settings?key=" + std::string(kKey) + "&adminKey=" + admin_key;
  Response empty = Send(beast_http::verb::get, settings, {}, {});
  BOOST_TEST(empty.result_int() == 200u);
  BOOST_TEST(empty.body() == "{}");
  Response put = Send(beast_http::verb::post, settings, R"({"zones":[1,2]})");
  BOOST_TEST(put.result_int() == 200u);
  BOOST_TEST(Send(beast_http::verb::get, settings, {}, {}).body() == R"({"zones":[1,2]})");
}

// Settings are stored as the client's own text, compacted: numbers and escapes exactly as sent.
BOOST_AUTO_TEST_CASE(settings_keep_the_documents_own_text) {
  const std::string admin_key = RegisterCustomer();
  const std::string settings =
      "/geofencing/1/settings?key=" + std::string(kKey) + "&adminKey=" + admin_key;
  const std::string sent = "{\"min\": 2.2250738585072011e-308,\t\"s\": \"x \\u00e9\"}\r\n";
  const std::string stored = "{\"min\":2.2250738585072011e-308,\"s\":\"x \\u00e9\"}";
  Response put = Send(beast_http::verb::post, settings, sent);
  BOOST_TEST(put.result_int() == 200u);
  BOOST_TEST(put.body() == stored);
  BOOST_TEST(Send(beast_http::verb::get, settings, {}, {}).body() == stored);
}

// Route() decides once where each call's work belongs; on the memory backend nothing but
// Argon2id leaves the I/O thread.
BOOST_AUTO_TEST_CASE(each_route_names_its_work_class) {
  const std::string admin_key = RegisterCustomer();
  const std::string settings =
      "/geofencing/1/settings?key=" + std::string(kKey) + "&adminKey=" + admin_key;
  RequestMeta meta{"req-2", "198.51.100.4", 11, true};
  auto route = [&](beast_http::verb method, const std::string& target, std::string body) {
    Request request(method, target, 11);
    request.set(beast_http::field::content_type, "application/json");
    request.body() = std::move(body);
    request.prepare_payload();
    return api->Route(request, meta);
  };

  Routed health = route(beast_http::verb::get, "/healthz", "");
  BOOST_TEST(!health.call);
  BOOST_TEST(health.answer->result_int() == 200u);
  Routed missing = route(beast_http::verb::get, "/nowhere", "");
  BOOST_TEST(!missing.call);
  BOOST_TEST(missing.route_template == "unmatched");
  BOOST_TEST(missing.answer->result_int() == 404u);

  Routed regenerate =
      route(beast_http::verb::post, "/geofencing/1/regenerateKey?key=" + std::string(kKey),
            R"({"secret":"s3cret"})");
  BOOST_REQUIRE(regenerate.call);
  BOOST_TEST((regenerate.work == WorkClass::kHashing));
  BOOST_TEST(regenerate.route_template == "/{service}/1/regenerateKey");

  // A malformed body is answered by routing itself: nothing is left to run.
  Routed malformed = route(beast_http::verb::post,
                           "/geofencing/1/register?key=" + std::string(kKey), R"({"secret":)");
  BOOST_TEST(!malformed.call);
  BOOST_TEST(malformed.answer->result_int() == 400u);

  Routed read = route(beast_http::verb::get, settings, "");
  BOOST_REQUIRE(read.call);
  BOOST_TEST((read.work == WorkClass::kStorage));
  std::optional<Response> inline_answer = read.call->TryRunInline();
  BOOST_REQUIRE(inline_answer.has_value());  // the memory backend never blocks
  BOOST_TEST(inline_answer->result_int() == 200u);

  Routed write = route(beast_http::verb::post, settings, R"({"zones":[3]})");
  BOOST_REQUIRE(write.call);
  BOOST_TEST((write.work == WorkClass::kInline));
  BOOST_TEST(write.call->Run().result_int() == 200u);
}

BOOST_AUTO_TEST_CASE(key_carrying_responses_are_not_cached) {
  Response response =
      Send(beast_http::verb::post, "/geofencing/1/register?key=" + std::string(kKey),
           R"({"secret":"s3cret"})");
  BOOST_TEST(response[beast_http::field::cache_control] == "no-store");
}

BOOST_AUTO_TEST_CASE(check_order_route_before_media_type_before_json) {
  // Unknown route with a bad media type and bad JSON: 404 wins.
  RequireProblem(
      Send(beast_http::verb::post, "/nosuch/1/register?key=customer_key_1", "{", "text/plain"),
      404);
  // Wrong method: 405 with Allow.
  Response wrong = Send(beast_http::verb::get, "/geofencing/1/register?key=customer_key_1", {}, {});
  RequireProblem(wrong, 405);
  BOOST_TEST(wrong[beast_http::field::allow] == "POST");
  // Bad media type and bad JSON: 415 before 400.
  RequireProblem(
      Send(beast_http::verb::post, "/geofencing/1/register?key=customer_key_1", "{", "text/plain"),
      415);
  // Good media type, bad JSON: 400.
  RequireProblem(Send(beast_http::verb::post, "/geofencing/1/register?key=customer_key_1", "{"),
                 400);
}

BOOST_AUTO_TEST_CASE(json_ambiguities_are_rejected) {
  const std::string target = "/geofencing/1/register?key=" + std::string(kKey);
  for (const char* body : {R"({"secret":"a","secret":"b"})", R"({"secret":"a"} {})",
                           R"(["secret"])", R"({"secret":1e400})", R"({"secret":"a","x":1})",
                           R"({"secret":null})", "", "{\"secret\":\"\xff\"}"}) {
    BOOST_TEST_CONTEXT("body " << body) {
      RequireProblem(Send(beast_http::verb::post, target, body), 400);
    }
  }
  // Nothing was registered by any of them.
  RegisterCustomer();
}

BOOST_AUTO_TEST_CASE(media_types_curl_sends_are_accepted) {
  BOOST_TEST(Send(beast_http::verb::post, "/geofencing/1/register?key=customer_key_2",
                  R"({"secret":"s"})", "APPLICATION/JSON; charset=utf-8")
                 .result_int() == 200u);
  BOOST_TEST(Send(beast_http::verb::post, "/locationHistory/1/register?key=customer_key_3",
                  R"({"secret":"s"})", "application/x-www-form-urlencoded")
                 .result_int() == 200u);
}

BOOST_AUTO_TEST_CASE(malformed_settings_body_is_400_before_the_admin_key_is_checked) {
  RegisterCustomer();
  RequireProblem(
      Send(beast_http::verb::post, "/geofencing/1/settings?key=" + std::string(kKey), "{"), 400);
  RequireProblem(
      Send(beast_http::verb::post, "/geofencing/1/settings?key=" + std::string(kKey), R"({"a":1})"),
      401);
}

BOOST_AUTO_TEST_CASE(query_rules) {
  RequireProblem(Send(beast_http::verb::post, "/geofencing/1/register", R"({"secret":"s"})"), 400);
  RequireProblem(
      Send(beast_http::verb::post, "/geofencing/1/register?key=short", R"({"secret":"s"})"), 400);
  RequireProblem(
      Send(beast_http::verb::post, "/geofencing/1/register?key=customer_key_1&key=customer_key_1",
           R"({"secret":"s"})"),
      400);
  RequireProblem(
      Send(beast_http::verb::post, "http://127.0.0.1/geofencing/1/register?key=customer_key_1",
           R"({"secret":"s"})"),
      400);
}

BOOST_AUTO_TEST_CASE(unknown_customer_and_wrong_secret_answer_alike) {
  RegisterCustomer();
  Response wrong =
      Send(beast_http::verb::post, "/geofencing/1/regenerateKey?key=" + std::string(kKey),
           R"({"secret":"nope"})");
  Response unknown = Send(beast_http::verb::post, "/geofencing/1/regenerateKey?key=nobody_here",
                          R"({"secret":"nope"})");
  RequireProblem(wrong, 401);
  RequireProblem(unknown, 401);
  auto a = boost::json::parse(wrong.body()).as_object();
  auto b = boost::json::parse(unknown.body()).as_object();
  a.erase("instance");
  b.erase("instance");
  BOOST_TEST(boost::json::serialize(a) == boost::json::serialize(b));
  BOOST_TEST(a.contains("realm"));
  BOOST_TEST(!wrong[beast_http::field::www_authenticate].empty());
}

BOOST_AUTO_TEST_CASE(grace_values) {
  RegisterCustomer();
  const std::string target = "/geofencing/1/regenerateKey?key=" + std::string(kKey);
  for (const char* grace : {"-1", "3601", "\"60\"", "null", "true", "[]", "{}"}) {
    BOOST_TEST_CONTEXT("grace " << grace) {
      RequireProblem(
          Send(beast_http::verb::post, target,
               std::string(R"({"secret":"s3cret","oldKeyValidForSeconds":)") + grace + "}"),
          400);
    }
  }
  BOOST_TEST(
      Send(beast_http::verb::post, target, R"({"secret":"s3cret","oldKeyValidForSeconds":1.5})")
          .result_int() == 200u);
}

BOOST_AUTO_TEST_CASE(regenerate_secret_is_signed_and_reports_the_grace) {
  auto integrator = store->CreateIntegrator({}, "acme");
  BOOST_REQUIRE(integrator.ok());
  const std::string target = "/v1/integrator/regenerate-secret";
  const std::string body = R"({"oldSecretValidForSeconds":1.5})";
  const std::string ts = std::to_string(clock->Now().time_since_epoch().count());
  Request request(beast_http::verb::post, target, 11);
  request.set(beast_http::field::content_type, "application/json");
  request.set("X-Integrator-Key", integrator->integrator_id);
  request.set("X-Timestamp", ts);
  request.set("X-Signature", SignRequest(integrator->secret.view(), ts, "POST", target, body));
  request.body() = body;
  request.prepare_payload();
  RequestMeta meta{"req-2", "198.51.100.4", 11, true};
  Response response = api->Handle(request, meta);
  BOOST_REQUIRE_EQUAL(response.result_int(), 200u);
  auto json = boost::json::parse(response.body()).as_object();
  BOOST_TEST(json.contains("secret"));
  BOOST_TEST(json.contains("oldSecretExpiresAt"));
  // Replaying the same request is refused.
  RequireProblem(api->Handle(request, meta), 401);
  // Unknown integrator: 404 naming it.
  request.set("X-Integrator-Key", "int_unknown0000000000");
  Response unknown = api->Handle(request, meta);
  RequireProblem(unknown, 404);
  BOOST_TEST(boost::json::parse(unknown.body()).at("resourceType").as_string() == "integrator");
}

BOOST_AUTO_TEST_CASE(regenerate_key_reports_when_the_old_key_expires) {
  RegisterCustomer();
  const std::string target = "/geofencing/1/regenerateKey?key=" + std::string(kKey);
  Response graced =
      Send(beast_http::verb::post, target, R"({"secret":"s3cret","oldKeyValidForSeconds":90})");
  BOOST_REQUIRE_EQUAL(graced.result_int(), 200u);
  auto body = boost::json::parse(graced.body()).as_object();
  BOOST_TEST(body.at("oldKeyExpiresAt").as_string() ==
             Iso8601ForTest(clock->Now() + std::chrono::seconds(90)));
  Response at_once = Send(beast_http::verb::post, target, R"({"secret":"s3cret"})");
  BOOST_REQUIRE_EQUAL(at_once.result_int(), 200u);
  BOOST_TEST(!boost::json::parse(at_once.body()).as_object().contains("oldKeyExpiresAt"));
}

// The admin key may travel in X-Admin-Key instead of the URL; with both, they must agree.
BOOST_AUTO_TEST_CASE(settings_take_the_admin_key_from_a_header) {
  const std::string admin_key = RegisterCustomer();
  const std::string plain = "/geofencing/1/settings?key=" + std::string(kKey);
  const std::string with_query = plain + "&adminKey=" + admin_key;
  auto send = [&](beast_http::verb method, const std::string& target,
                  std::vector<std::string> headers, std::string body = {}) {
    Request request(method, target, 11);
    request.set(beast_http::field::content_type, "application/json");
    for (const std::string& value : headers) request.insert("X-Admin-Key", value);
    request.body() = std::move(body);
    request.prepare_payload();
    return api->Handle(request, RequestMeta{"req-h", "198.51.100.4", 11, true});
  };
  BOOST_TEST(send(beast_http::verb::get, plain, {admin_key}).result_int() == 200u);
  BOOST_TEST(send(beast_http::verb::post, plain, {admin_key}, R"({"a":1})").result_int() == 200u);
  BOOST_TEST(send(beast_http::verb::get, with_query, {admin_key}).body() == R"({"a":1})");
  Response disagree = send(beast_http::verb::get, with_query, {std::string(48, 'Z')});
  RequireProblem(disagree, 400);
  BOOST_TEST(disagree.body().find(admin_key) == std::string::npos);
  RequireProblem(send(beast_http::verb::post, with_query, {"other"}, R"({"a":2})"), 400);
  RequireProblem(send(beast_http::verb::get, plain, {admin_key, admin_key}), 400);
  RequireProblem(send(beast_http::verb::get, plain, {std::string(48, 'Z')}), 401);
  RequireProblem(send(beast_http::verb::get, plain, {""}), 401);
  BOOST_TEST(send(beast_http::verb::get, plain, {admin_key}).body() == R"({"a":1})",
             "the refused POST changed nothing");
}

BOOST_AUTO_TEST_CASE(verify_routes_are_absent_without_verifier_tokens) {
  for (const char* path : {"/v1/verify/admin-key", "/v1/verify/signature", "/v1/verify/x"}) {
    RequireProblem(Send(beast_http::verb::post, path, "{}"), 404);
  }
  // A configured but empty set is absent too.
  VerifierTokens none;
  PublicApiOptions options;
  options.verifier_tokens = &none;
  PublicApi with_empty(*store, options);
  Request request(beast_http::verb::post, "/v1/verify/admin-key", 11);
  request.set(beast_http::field::authorization, "Bearer " + std::string(40, 'a'));
  RequireProblem(with_empty.Handle(request, RequestMeta{"r", "198.51.100.4", 11, true}), 404);
}

BOOST_AUTO_TEST_SUITE_END()

// ---- The verify routes (verify_api.h) ---------------------------------------------------------

constexpr std::string_view kBillingToken = "billing-token-0123456789abcdefghijklmnop";  // geo+sig
constexpr std::string_view kGeoToken = "geofencing-only-token-0123456789abcdefgh";
constexpr std::string_view kSignaturesToken = "signatures-only-token-0123456789abcdefg";
constexpr std::string_view kAllToken = "every-service-token-0123456789abcdefghij";
constexpr std::string_view kAdminKeyPath = "/v1/verify/admin-key";
constexpr std::string_view kSignaturePath = "/v1/verify/signature";

std::string Sha256Hex(std::string_view data) {
  unsigned char digest[crypto_hash_sha256_BYTES];
  crypto_hash_sha256(digest, reinterpret_cast<const unsigned char*>(data.data()), data.size());
  char hex[2 * sizeof digest + 1];
  sodium_bin2hex(hex, sizeof hex, digest, sizeof digest);
  return hex;
}

std::string TokenLines() {
  return "# verifier tokens for the tests\n"
         "billing geofencing+signatures " +
         std::string(kBillingToken) + "\n" + "geo geofencing " + std::string(kGeoToken) + "\r\n" +
         "\n"
         "sig +signatures " +
         std::string(kSignaturesToken) + "\n" + "all * " + std::string(kAllToken) + "\n";
}

struct VerifyFixture : ApiFixture {
  VerifyFixture() {
    auto set = VerifierTokenSet::Parse(TokenLines(), "test", store->options().services);
    BOOST_REQUIRE_MESSAGE(set.ok(), set.status().ToString());
    tokens.Replace(std::move(set).value());
    PublicApiOptions options;
    options.verifier_tokens = &tokens;
    options.verify.failures_per_address = 3;
    options.verify.failure_window = std::chrono::minutes(1);
    api = std::make_unique<PublicApi>(*store, options);
  }

  Request Verify(std::string_view path, std::string body, std::string_view token = kBillingToken) {
    Request request(beast_http::verb::post, path, 11);
    request.set(beast_http::field::content_type, "application/json");
    if (!token.empty())
      request.set(beast_http::field::authorization, "Bearer " + std::string(token));
    request.body() = std::move(body);
    request.prepare_payload();
    return request;
  }
  Response Call(Request request, std::string address = "198.51.100.9") {
    return api->Handle(request, RequestMeta{"req-v", std::move(address), 11, true});
  }
  Response CheckKey(std::string_view service, std::string_view api_key, std::string_view admin_key,
                    std::string_view token = kBillingToken) {
    boost::json::object body{{"service", service}, {"apiKey", api_key}, {"adminKey", admin_key}};
    return Call(Verify(kAdminKeyPath, boost::json::serialize(body), token));
  }

  // A signed request's parts as the verify body carries them.
  struct Signed {
    std::string method = "POST", target = "/orders?id=7", integrator, timestamp, signature,
                body_sha256;
    std::string Json() const {
      return boost::json::serialize(boost::json::object{{"method", method},
                                                        {"target", target},
                                                        {"integratorKey", integrator},
                                                        {"timestamp", timestamp},
                                                        {"signature", signature},
                                                        {"bodySha256", body_sha256}});
    }
  };
  Signed SignWith(const std::string& id, std::string_view secret, std::string body = "{}",
                  std::string target = "/orders?id=7") {
    Signed s;
    s.target = std::move(target);
    s.integrator = id;
    s.timestamp = std::to_string(clock->Now().time_since_epoch().count());
    s.signature = SignRequest(secret, s.timestamp, s.method, s.target, body);
    s.body_sha256 = Sha256Hex(body);
    return s;
  }

  // Every record of the store, to show a call changed nothing.
  std::vector<std::pair<std::string, Version>> Records() {
    auto page = backend->Scan("", "", 1000, clock->Now());
    BOOST_REQUIRE(page.ok());
    std::vector<std::pair<std::string, Version>> records;
    for (const auto& entry : page->entries) records.emplace_back(entry.key, entry.record.version);
    return records;
  }

  VerifierTokens tokens;
};

boost::json::object BodyOf(const Response& response) {
  return boost::json::parse(response.body()).as_object();
}

BOOST_FIXTURE_TEST_SUITE(verify_api, VerifyFixture)

BOOST_AUTO_TEST_CASE(admin_key_current_and_graced) {
  const std::string first = RegisterCustomer();
  Response current = CheckKey("geofencing", kKey, first);
  BOOST_REQUIRE_EQUAL(current.result_int(), 200u);
  BOOST_TEST(current[beast_http::field::cache_control] == "no-store");
  auto body = BodyOf(current);
  BOOST_TEST(body.at("service").as_string() == "geofencing");
  BOOST_TEST(body.at("keyState").as_string() == "current");
  BOOST_TEST(!body.contains("expiresAt"));
  const std::string customer(body.at("customer").as_string());
  BOOST_TEST(customer.size() == 64u);
  BOOST_TEST(body.size() == 3u);

  Response regenerated =
      Send(beast_http::verb::post, "/geofencing/1/regenerateKey?key=" + std::string(kKey),
           R"({"secret":"s3cret","oldKeyValidForSeconds":60})");
  BOOST_REQUIRE_EQUAL(regenerated.result_int(), 200u);
  const std::string expires(BodyOf(regenerated).at("oldKeyExpiresAt").as_string());
  Response graced = CheckKey("geofencing", kKey, first);
  BOOST_REQUIRE_EQUAL(graced.result_int(), 200u);
  BOOST_TEST(BodyOf(graced).at("keyState").as_string() == "graced");
  BOOST_TEST(BodyOf(graced).at("expiresAt").as_string() == expires);
  BOOST_TEST(BodyOf(graced).at("customer").as_string() == customer);

  clock->Advance(std::chrono::seconds(60));
  RequireProblem(CheckKey("geofencing", kKey, first), 401);
}

BOOST_AUTO_TEST_CASE(admin_key_refusals_answer_alike) {
  const std::string first = RegisterCustomer();
  BOOST_REQUIRE_EQUAL(
      Send(beast_http::verb::post, "/geofencing/1/regenerateKey?key=" + std::string(kKey),
           R"({"secret":"s3cret"})")
          .result_int(),
      200u);
  const auto before = Records();
  std::vector<boost::json::object> bodies;
  for (auto [api_key, admin_key] :
       std::vector<std::pair<std::string, std::string>>{{std::string(kKey), first},  // revoked
                                                        {std::string(kKey), "wrong"},
                                                        {std::string(kKey), ""},
                                                        {"nobody_registered", first}}) {
    Response refused = CheckKey("geofencing", api_key, admin_key);
    RequireProblem(refused, 401);
    BOOST_TEST(refused.body().find(first) == std::string::npos);
    auto body = BodyOf(refused);
    body.erase("instance");
    BOOST_TEST(body.at("realm").as_string() == "credstore", "about the key, not the token");
    bodies.push_back(body);
  }
  for (const auto& body : bodies)
    BOOST_TEST(boost::json::serialize(body) == boost::json::serialize(bodies.front()));
  BOOST_TEST((Records() == before), "a verify changes nothing");
}

BOOST_AUTO_TEST_CASE(customer_ids_differ_per_service) {
  const std::string geo = RegisterCustomer();
  Response other =
      Send(beast_http::verb::post, "/locationHistory/1/register?key=" + std::string(kKey),
           R"({"secret":"s3cret"})");
  BOOST_REQUIRE_EQUAL(other.result_int(), 200u);
  const std::string history(BodyOf(other).at("adminKey").as_string());
  Response a = CheckKey("geofencing", kKey, geo, kAllToken);
  Response b = CheckKey("locationHistory", kKey, history, kAllToken);
  BOOST_REQUIRE_EQUAL(a.result_int(), 200u);
  BOOST_REQUIRE_EQUAL(b.result_int(), 200u);
  BOOST_TEST(BodyOf(a).at("customer") != BodyOf(b).at("customer"));
}

BOOST_AUTO_TEST_CASE(admin_key_malformed_bodies_are_400) {
  const std::string admin_key = RegisterCustomer();
  const auto before = Records();
  for (
      std::string body :
      {std::string("{"), std::string("[]"),
       std::string(R"({"service":"geofencing","apiKey":")") + std::string(kKey) + R"("})",
       std::string(R"({"apiKey":"customer_key_1","adminKey":"x"})"),
       std::string(R"({"service":1,"apiKey":"customer_key_1","adminKey":"x"})"),
       std::string(R"({"service":"geofencing","apiKey":null,"adminKey":"x"})"),
       std::string(R"({"service":"geofencing","apiKey":"customer_key_1","adminKey":[]})"),
       std::string(R"({"service":"geofencing","apiKey":"short","adminKey":"x"})"),
       std::string(R"({"service":"geofencing","apiKey":"has space 123","adminKey":"x"})"),
       std::string(R"({"service":"geofencing","apiKey":"customer_key_1","adminKey":"x","x":1})"),
       std::string(
           R"({"service":"geofencing","service":"geofencing","apiKey":"customer_key_1","adminKey":"x"})")}) {
    BOOST_TEST_CONTEXT(body) {
      Response response = Call(Verify(kAdminKeyPath, body));
      RequireProblem(response, 400);
      BOOST_TEST(response.body().find(admin_key) == std::string::npos);
    }
  }
  // Media type: 415 before the body is read.
  Request text = Verify(kAdminKeyPath, "{}");
  text.set(beast_http::field::content_type, "text/plain");
  RequireProblem(Call(std::move(text)), 415);
  BOOST_TEST((Records() == before));
}

BOOST_AUTO_TEST_CASE(scopes_and_services) {
  const std::string admin_key = RegisterCustomer();
  // The geofencing-only token may not ask about locationHistory; the signatures-only one about
  // no service.
  Response out = CheckKey("locationHistory", kKey, admin_key, kGeoToken);
  RequireProblem(out, 403);
  BOOST_TEST(BodyOf(out).at("type").as_string() == "urn:credstore:problem:forbidden");
  BOOST_TEST(BodyOf(out).at("realm").as_string() == "credstore-verify");
  RequireProblem(CheckKey("geofencing", kKey, admin_key, kSignaturesToken), 403);
  BOOST_TEST(CheckKey("geofencing", kKey, admin_key, kGeoToken).result_int() == 200u);
  // An unknown service: 403 for a token that names services, 404 for "*".
  RequireProblem(CheckKey("noSuchService", kKey, admin_key, kGeoToken), 403);
  Response unknown = CheckKey("noSuchService", kKey, admin_key, kAllToken);
  RequireProblem(unknown, 404);
  BOOST_TEST(BodyOf(unknown).at("resourceType").as_string() == "service");
  // A malformed body is 400 before the scope is looked at.
  RequireProblem(Call(Verify(kAdminKeyPath, "{", kGeoToken)), 400);
}

BOOST_AUTO_TEST_CASE(tokens_are_checked_right_after_routing) {
  RegisterCustomer();
  const std::string good = R"({"service":"geofencing","apiKey":"customer_key_1","adminKey":"x"})";
  for (std::string_view token :
       {std::string_view(), std::string_view("wrong-token-but-long-enough-000000000"),
        std::string_view("billing")}) {
    BOOST_TEST_CONTEXT("token '" << token << "'") {
      // 401 before the body: even a malformed one with a bad media type.
      Request request = Verify(kSignaturePath, "{", token);
      request.set(beast_http::field::content_type, "text/plain");
      Response response = Call(std::move(request), "203.0.113." + std::to_string(token.size()));
      RequireProblem(response, 401);
      BOOST_TEST(response[beast_http::field::www_authenticate] ==
                 R"(Bearer realm="credstore-verify", scope="verify")");
      BOOST_TEST(BodyOf(response).at("realm").as_string() == "credstore-verify");
      BOOST_TEST(response[beast_http::field::cache_control] == "no-store");
    }
  }
  // Another scheme, or the header twice, is no token.
  Request basic = Verify(kAdminKeyPath, good, {});
  basic.set(beast_http::field::authorization, "Basic " + std::string(kBillingToken));
  RequireProblem(Call(std::move(basic), "203.0.113.50"), 401);
  Request twice = Verify(kAdminKeyPath, good);
  twice.insert(beast_http::field::authorization, "Bearer " + std::string(kBillingToken));
  RequireProblem(Call(std::move(twice), "203.0.113.51"), 401);
  // Wrong method: 405 (the route exists), before the token.
  Request get(beast_http::verb::get, kAdminKeyPath, 11);
  RequireProblem(Call(std::move(get)), 405);
}

BOOST_AUTO_TEST_CASE(failed_tokens_are_throttled_per_address) {
  const std::string admin_key = RegisterCustomer();
  const std::string body = boost::json::serialize(
      boost::json::object{{"service", "geofencing"}, {"apiKey", kKey}, {"adminKey", admin_key}});
  for (int i = 0; i < 3; ++i) {
    RequireProblem(
        Call(Verify(kAdminKeyPath, body, "nope-nope-nope-nope-nope-nope-nope-0"), "192.0.2.1"),
        401);
  }
  // Over the limit, even the right token waits; in the same IPv6 /64 too.
  Response throttled = Call(Verify(kAdminKeyPath, body), "192.0.2.1");
  RequireProblem(throttled, 429);
  BOOST_TEST(!throttled[beast_http::field::retry_after].empty());
  BOOST_TEST(Call(Verify(kAdminKeyPath, body), "192.0.2.2").result_int() == 200u);
  for (int i = 0; i < 3; ++i) Call(Verify(kAdminKeyPath, body, {}), "2001:db8::1");
  RequireProblem(Call(Verify(kAdminKeyPath, body), "2001:db8::2"), 429);
  clock->Advance(std::chrono::minutes(1));
  BOOST_TEST(Call(Verify(kAdminKeyPath, body), "192.0.2.1").result_int() == 200u);
}

BOOST_AUTO_TEST_CASE(tokens_can_be_replaced) {
  const std::string admin_key = RegisterCustomer();
  BOOST_TEST(CheckKey("geofencing", kKey, admin_key).result_int() == 200u);
  const std::string fresh(40, 'F');
  auto set = VerifierTokenSet::Parse("next geofencing " + fresh + "\n", "reload");
  BOOST_REQUIRE(set.ok());
  tokens.Replace(std::move(set).value());
  RequireProblem(CheckKey("geofencing", kKey, admin_key), 401);
  BOOST_TEST(CheckKey("geofencing", kKey, admin_key, fresh).result_int() == 200u);
  tokens.Replace(VerifierTokenSet());
  RequireProblem(CheckKey("geofencing", kKey, admin_key, fresh), 404);
}

BOOST_AUTO_TEST_CASE(work_classes) {
  const std::string admin_key = RegisterCustomer();
  auto integrator = store->CreateIntegrator({}, "acme");
  BOOST_REQUIRE(integrator.ok());
  RequestMeta meta{"req-w", "198.51.100.4", 11, true};
  Request check = Verify(
      kAdminKeyPath, boost::json::serialize(boost::json::object{
                         {"service", "geofencing"}, {"apiKey", kKey}, {"adminKey", admin_key}}));
  Routed read = api->Route(check, meta);
  BOOST_REQUIRE(read.call);
  BOOST_TEST((read.work == WorkClass::kStorage));
  BOOST_TEST(read.route_template == "/v1/verify/admin-key");
  std::optional<Response> inline_answer = read.call->TryRunInline();
  BOOST_REQUIRE(inline_answer.has_value());
  BOOST_TEST(inline_answer->result_int() == 200u);

  Request sig =
      Verify(kSignaturePath, SignWith(integrator->integrator_id, integrator->secret.view()).Json());
  Routed write = api->Route(sig, meta);
  BOOST_REQUIRE(write.call);
  BOOST_TEST((write.work == WorkClass::kInline));
  BOOST_TEST(write.route_template == "/v1/verify/signature");
  BOOST_TEST(write.call->Run().result_int() == 200u);
}

BOOST_AUTO_TEST_CASE(signature_verifies_once_and_shares_the_replay_record) {
  auto integrator = store->CreateIntegrator({}, "acme");
  BOOST_REQUIRE(integrator.ok());
  const std::string body = R"({"oldSecretValidForSeconds":0})";
  Signed s = SignWith(integrator->integrator_id, integrator->secret.view(), body,
                      "/v1/integrator/regenerate-secret");
  Response verified = Call(Verify(kSignaturePath, s.Json()));
  BOOST_REQUIRE_EQUAL(verified.result_int(), 200u);
  BOOST_TEST(verified[beast_http::field::cache_control] == "no-store");
  auto answer = BodyOf(verified);
  BOOST_TEST(answer.at("integratorId").as_string() == integrator->integrator_id);
  BOOST_TEST(answer.at("signedWithCurrent").as_bool());
  BOOST_TEST(verified.body().find(s.signature) == std::string::npos);
  // A second verify is a replay, and so is the integrator's own rotation with that request.
  Response again = Call(Verify(kSignaturePath, s.Json()));
  RequireProblem(again, 401);
  BOOST_TEST(BodyOf(again).at("realm").as_string() == "credstore");
  Request rotation(beast_http::verb::post, "/v1/integrator/regenerate-secret", 11);
  rotation.set(beast_http::field::content_type, "application/json");
  rotation.set("X-Integrator-Key", s.integrator);
  rotation.set("X-Timestamp", s.timestamp);
  rotation.set("X-Signature", s.signature);
  rotation.body() = body;
  rotation.prepare_payload();
  Response rotated = Call(std::move(rotation));
  RequireProblem(rotated, 401);
  BOOST_TEST(BodyOf(rotated).at("detail").as_string() == "request already seen (replay)");
}

BOOST_AUTO_TEST_CASE(signature_failures) {
  auto integrator = store->CreateIntegrator({}, "acme");
  BOOST_REQUIRE(integrator.ok());
  // A graced old secret verifies, and says so.
  auto rotated = store->RotateIntegratorSecret(
      {},
      [&] {
        static std::string ts, sig;
        ts = std::to_string(clock->Now().time_since_epoch().count());
        sig = SignRequest(integrator->secret.view(), ts, "POST", "/v1/integrator/regenerate-secret",
                          "");
        return SignedRequest{integrator->integrator_id,          ts, sig, "POST",
                             "/v1/integrator/regenerate-secret", ""};
      }(),
      std::chrono::seconds(60));
  BOOST_REQUIRE(rotated.ok());
  Response old =
      Call(Verify(kSignaturePath,
                  SignWith(integrator->integrator_id, integrator->secret.view(), "old").Json()));
  BOOST_REQUIRE_EQUAL(old.result_int(), 200u);
  BOOST_TEST(!BodyOf(old).at("signedWithCurrent").as_bool());

  // Wrong MAC, wrong body hash, stale timestamp: 401.
  Signed wrong = SignWith(integrator->integrator_id, "sk_not_the_secret", "a");
  RequireProblem(Call(Verify(kSignaturePath, wrong.Json())), 401);
  Signed other_body = SignWith(integrator->integrator_id, rotated->secret.view(), "a");
  other_body.body_sha256 = Sha256Hex("b");
  RequireProblem(Call(Verify(kSignaturePath, other_body.Json())), 401);
  Signed stale = SignWith(integrator->integrator_id, rotated->secret.view(), "c");
  clock->Advance(std::chrono::minutes(6));
  RequireProblem(Call(Verify(kSignaturePath, stale.Json())), 401);

  // Unknown integrator: 404 naming it; an id of another form: 404 without it.
  Signed unknown = SignWith("int_unknown0000000000", "sk_x", "d");
  Response missing = Call(Verify(kSignaturePath, unknown.Json()));
  RequireProblem(missing, 404);
  BOOST_TEST(BodyOf(missing).at("resourceType").as_string() == "integrator");
  BOOST_TEST(BodyOf(missing).at("resourceId").as_string() == "int_unknown0000000000");
  unknown.integrator = "sk_looks_like_a_secret_0123456789";
  Response malformed_id = Call(Verify(kSignaturePath, unknown.Json()));
  RequireProblem(malformed_id, 404);
  BOOST_TEST(!BodyOf(malformed_id).contains("resourceId"));
  BOOST_TEST(malformed_id.body().find("sk_looks") == std::string::npos);

  // Scope: a token without +signatures.
  RequireProblem(
      Call(Verify(kSignaturePath,
                  SignWith(integrator->integrator_id, rotated->secret.view(), "e").Json(),
                  kGeoToken)),
      403);
  BOOST_TEST(Call(Verify(kSignaturePath,
                         SignWith(integrator->integrator_id, rotated->secret.view(), "e").Json(),
                         kSignaturesToken))
                 .result_int() == 200u);
}

BOOST_AUTO_TEST_CASE(signature_malformed_bodies_are_400) {
  auto integrator = store->CreateIntegrator({}, "acme");
  BOOST_REQUIRE(integrator.ok());
  const Signed good = SignWith(integrator->integrator_id, integrator->secret.view(), "{}");
  const auto before = Records();
  std::vector<std::pair<std::string, std::function<void(Signed&)>>> breaks = {
      {"bodySha256 uppercase",
       [](Signed& s) {
         for (char& c : s.body_sha256) c = static_cast<char>(std::toupper(c));
       }},
      {"bodySha256 short", [](Signed& s) { s.body_sha256.pop_back(); }},
      {"bodySha256 not hex", [](Signed& s) { s.body_sha256 = std::string(64, 'g'); }},
      {"signature without prefix", [](Signed& s) { s.signature = s.signature.substr(7); }},
      {"signature short", [](Signed& s) { s.signature.pop_back(); }},
      {"target absolute", [](Signed& s) { s.target = "http://example.com/orders"; }},
      {"target empty", [](Signed& s) { s.target.clear(); }},
      {"target malformed", [](Signed& s) { s.target = "/a b"; }},
      {"method empty", [](Signed& s) { s.method.clear(); }},
      {"method with space", [](Signed& s) { s.method = "PO ST"; }},
      {"timestamp not digits", [](Signed& s) { s.timestamp = "-" + s.timestamp; }},
      {"timestamp too long", [](Signed& s) { s.timestamp = std::string(17, '1'); }},
  };
  for (auto& [name, mutate] : breaks) {
    BOOST_TEST_CONTEXT(name) {
      Signed broken = good;
      mutate(broken);
      Response response = Call(Verify(kSignaturePath, broken.Json()));
      RequireProblem(response, 400);
      BOOST_TEST(response.body().find(good.signature.substr(7)) == std::string::npos);
    }
  }
  for (
      std::string body :
      {std::string("{}"), std::string(R"({"method":"POST"})"),
       std::string(
           R"({"method":1,"target":"/","integratorKey":"int_a","timestamp":"1","signature":"s","bodySha256":"h"})"),
       good.Json().insert(1, R"("extra":true,)")}) {
    BOOST_TEST_CONTEXT(body) { RequireProblem(Call(Verify(kSignaturePath, body)), 400); }
  }
  BOOST_TEST((Records() == before), "no replay record for a refused request");
  BOOST_TEST(Call(Verify(kSignaturePath, good.Json())).result_int() == 200u);
}

BOOST_AUTO_TEST_SUITE_END()

// ---- VerifierTokenSet: the source format (verifier_tokens.h) ----------------------------------

const std::string kToken32(32, 't');

BOOST_AUTO_TEST_SUITE(verifier_tokens)

BOOST_AUTO_TEST_CASE(parses_lines_comments_and_scopes) {
  auto set = VerifierTokenSet::Parse(TokenLines(), "test");
  BOOST_REQUIRE_MESSAGE(set.ok(), set.status().ToString());
  BOOST_TEST(set->size() == 4u);
  auto check = set->Check(kBillingToken, "geofencing", true);
  BOOST_TEST((check.access == VerifierAccess::kAllowed));
  BOOST_TEST(check.label == "billing");
  BOOST_TEST(
      (set->Check(kBillingToken, "locationHistory", false).access == VerifierAccess::kOutOfScope));
  BOOST_TEST((set->Check(kGeoToken, "geofencing", true).access == VerifierAccess::kOutOfScope));
  BOOST_TEST((set->Check(kGeoToken, "geofencing", false).access == VerifierAccess::kAllowed));
  BOOST_TEST((set->Check(kSignaturesToken, "", true).access == VerifierAccess::kAllowed));
  BOOST_TEST(
      (set->Check(kSignaturesToken, "geofencing", false).access == VerifierAccess::kOutOfScope));
  BOOST_TEST((set->Check(kAllToken, "anything", false).access == VerifierAccess::kAllowed));
  BOOST_TEST((set->Check(kAllToken, "", true).access == VerifierAccess::kOutOfScope));
  // Unknown, empty, a prefix or an extension of a token: unknown.
  for (std::string token : {std::string(), std::string(kBillingToken).substr(0, 39),
                            std::string(kBillingToken) + "x", std::string(64, 'q')}) {
    BOOST_TEST((set->Check(token, "", false).access == VerifierAccess::kUnknownToken));
    BOOST_TEST(set->Check(token, "", false).label.empty());
  }
  BOOST_TEST(VerifierTokenSet::Parse("", "empty")->empty());
  BOOST_TEST(VerifierTokenSet::Parse("# only\n\n  \t\n", "comments")->empty());
  BOOST_TEST(VerifierTokenSet::Parse("a\t*\t" + kToken32, "tabs").ok());
}

BOOST_AUTO_TEST_CASE(scope_syntax) {
  for (const char* good :
       {"*", "geofencing", "a,b,c", "*+signatures", "a+signatures", "+signatures", "a.b_c-d"}) {
    BOOST_TEST(ParseVerifierScope(good).ok(), good);
  }
  for (const char* bad :
       {"", ",", "a,", ",a", "a,,b", "a,a", "*,a", "a,*", "+", "signatures+", "a+signature",
        "a+signatures+signatures", "a b", "a;b", "+signatures,a"}) {
    BOOST_TEST(!ParseVerifierScope(bad).ok(), bad);
  }
  auto scope = ParseVerifierScope("a,b+signatures");
  BOOST_REQUIRE(scope.ok());
  BOOST_TEST(scope->signatures);
  BOOST_TEST(scope->CoversService("b"));
  BOOST_TEST(!scope->CoversService("c"));
}

BOOST_AUTO_TEST_CASE(refusals_name_the_line_never_the_token) {
  const std::string secretish = "SECRETISH" + std::string(30, 'x');
  const std::vector<std::pair<std::string, std::string>> bad = {
      {"short token", "a * " + std::string(31, 'x')},
      {"two fields", "a " + secretish},
      {"four fields", "a * " + secretish + " extra"},
      {"bad label", "l@bel * " + secretish},
      {"bad scope", "a geo,,x " + secretish},
      {"control character", "a * " + secretish + "\x01"},
      {"duplicate label", "a * " + secretish + "\na * " + kToken32},
      {"duplicate token", "a * " + secretish + "\nb geofencing " + secretish},
      {"unknown service", "a nosuch " + secretish},
  };
  const std::vector<std::string> services = {"geofencing", "locationHistory"};
  for (const auto& [name, text] : bad) {
    BOOST_TEST_CONTEXT(name) {
      auto set = VerifierTokenSet::Parse("# header\n" + text + "\n", "src", services);
      BOOST_REQUIRE(!set.ok());
      BOOST_TEST((set.status().code() == StatusCode::kInvalidArgument));
      BOOST_TEST(set.status().message().find("src line ") == 0u, set.status().message());
      BOOST_TEST(set.status().message().find("SECRETISH") == std::string::npos);
    }
  }
  // Without a service list, any well-formed name is accepted.
  BOOST_TEST(VerifierTokenSet::Parse("a nosuch " + secretish, "src").ok());
}

BOOST_AUTO_TEST_CASE(load_merges_the_file_and_the_environment) {
  credstore::testing::TempDir dir("verifier-tokens");
  const std::string path = (dir.path() / "tokens").string();
  std::ofstream(path) << "from-file geofencing " << std::string(40, 'f') << "\n";
  const std::vector<std::string> services = {"geofencing"};
  auto both =
      LoadVerifierTokens(path, "from-env +signatures " + std::string(40, 'e'), "", services);
  BOOST_REQUIRE_MESSAGE(both.ok(), both.status().ToString());
  BOOST_TEST(both->size() == 2u);
  BOOST_TEST(LoadVerifierTokens("", "", "", services)->empty());
  // A label or token in both is a duplicate.
  auto duplicate = LoadVerifierTokens(path, "from-file * " + std::string(40, 'z'), "", services);
  BOOST_TEST(!duplicate.ok());
  BOOST_TEST(duplicate.status().message().find("CREDSTORE_VERIFIER_TOKENS line 1") == 0u);
  // The operator token is never a verifier token.
  auto operator_token = LoadVerifierTokens(path, "", std::string(40, 'f'), services);
  BOOST_TEST(!operator_token.ok());
  BOOST_TEST(operator_token.status().message().find("ffff") == std::string::npos);
  auto unreadable = LoadVerifierTokens((dir.path() / "missing").string(), "", "", services);
  BOOST_TEST(!unreadable.ok());
  BOOST_TEST(VerifierTokenSet::ReadFile(path)->size() == 1u);
}

BOOST_AUTO_TEST_CASE(scope_of_answers_as_check_from_one_digest) {
  auto set = VerifierTokenSet::Parse(TokenLines(), "test");
  BOOST_REQUIRE(set.ok());
  for (std::string_view token : {kBillingToken, kGeoToken, kSignaturesToken, kAllToken}) {
    const VerifierScope* scope = set->ScopeOf(token);
    BOOST_REQUIRE(scope != nullptr);
    for (std::string_view service : {"", "geofencing", "locationHistory", "anything"}) {
      for (bool signatures : {false, true}) {
        BOOST_TEST(
            (scope->Access(service, signatures) == set->Check(token, service, signatures).access));
      }
    }
  }
  BOOST_TEST(set->ScopeOf("") == nullptr);
  BOOST_TEST(set->ScopeOf(std::string(40, 'x')) == nullptr);
}

BOOST_AUTO_TEST_CASE(a_snapshot_keeps_its_set_across_a_replace) {
  auto first = VerifierTokenSet::Parse("first * " + std::string(40, 'a') + "\n", "first");
  BOOST_REQUIRE(first.ok());
  VerifierTokens tokens(std::move(first).value());
  BOOST_TEST(!tokens.empty());
  auto held = tokens.Snapshot();
  tokens.Replace(VerifierTokenSet());
  BOOST_TEST(tokens.empty());
  BOOST_TEST(tokens.Snapshot()->empty());
  // The held set still answers as it did; new checks see the replacement.
  BOOST_TEST(held->Contains(std::string(40, 'a')));
  BOOST_TEST(
      (tokens.Check(std::string(40, 'a'), "", false).access == VerifierAccess::kUnknownToken));
  auto second = VerifierTokenSet::Parse("second * " + std::string(40, 'b') + "\n", "second");
  BOOST_REQUIRE(second.ok());
  tokens.Replace(std::move(second).value());
  BOOST_TEST(!tokens.empty());
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace
}  // namespace credstore::http
