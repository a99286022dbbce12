// PublicApi called directly (no server): the check order of DESIGN.md §1 and the JSON rules.
// The loopback suite in tests/http/ drives the same routes through a real credstored.
#include "credstore/http/public_api.h"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/test/unit_test.hpp>

#include "credstore/backends/memory.h"

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
    store = std::move(CredentialStore::Open(std::make_shared<MemoryBackend>(), Keyring::Generate(),
                                            options))
                .value();
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
  std::unique_ptr<CredentialStore> store;
  std::unique_ptr<PublicApi> api;
};

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

  Routed regenerate = route(beast_http::verb::post,
                            "/geofencing/1/regenerateKey?key=" + std::string(kKey),
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

BOOST_AUTO_TEST_SUITE_END()

}  // namespace
}  // namespace credstore::http
