// The operator side of credstored (docs/operations.md), over loopback, against a
// real credstored: the token, each operator route and its documented answers, /metrics after
// public traffic, and the `credstore` command run as a subprocess.
#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/test/unit_test.hpp>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "http/cli_process.h"
#include "http/http_test_env.h"

namespace credstore::http_tests {
namespace {

namespace json = boost::json;
namespace utf = boost::unit_test;
using namespace std::chrono_literals;

constexpr std::string_view kJson = "Content-Type: application/json\r\n";
constexpr std::string_view kOperatorChallenge =
    R"(Bearer realm="credstore-operator", scope="operator")";
constexpr std::string_view kTokenProblemDetail =
    "operator token missing or invalid (Authorization: Bearer <token>)";

const std::string& TokenOf(Server& server) { return server.process().config().operator_token; }

std::string Bearer(std::string_view token) {
  return "Authorization: Bearer " + std::string(token) + "\r\n";
}

std::string JsonString(std::string_view text) { return json::serialize(json::string(text)); }

std::string StringMember(const json::object& body, std::string_view name) {
  const json::value* member = body.if_contains(name);
  return member != nullptr && member->is_string() ? std::string(member->as_string())
                                                  : std::string();
}

bool HasNoStore(const HttpResponse& response) {
  return response.Header("Cache-Control").value_or("").find("no-store") != std::string::npos;
}

std::string ApiKeyBody(std::string_view service, std::string_view api_key) {
  return R"({"service":)" + JsonString(service) + R"(,"apiKey":)" + JsonString(api_key) + "}";
}

// Calls the operator listener with the server's token. The token is registered as sensitive, so
// no response of the public listener and no log line may ever carry it; every operator answer
// is checked for it (and for every secret registered before the call).
class OperatorCalls {
 public:
  explicit OperatorCalls(Server& server) : server_(server) { server_.AddSensitive(Token()); }

  const std::string& Token() const { return TokenOf(server_); }

  HttpResponse Call(std::string_view method, std::string_view target, std::string_view body = {},
                    std::string_view content_type = "application/json") {
    std::string headers = Bearer(Token());
    if (!body.empty() && !content_type.empty()) {
      headers += "Content-Type: " + std::string(content_type) + "\r\n";
    }
    return CallWithHeaders(method, target, headers, body);
  }

  // Sends exactly `headers` (no token unless they hold one).
  HttpResponse CallWithHeaders(std::string_view method, std::string_view target,
                               std::string_view headers, std::string_view body = {}) {
    const bool has_body = method == "POST" || !body.empty();
    HttpResponse response =
        server_.SendOperator(BuildRequest(method, target, headers, body, has_body));
    server_.CheckNoLeak(response, std::string(method) + " " + std::string(target));
    return response;
  }

  // Creates an integrator; requires 201 and returns it (its secret registered as sensitive).
  Integrator Create(std::string_view label = "operator test") {
    const HttpResponse response =
        Call("POST", "/v1/integrators", R"({"label":)" + JsonString(label) + "}");
    const json::object body = ExpectJson(response, 201, "POST /v1/integrators");
    BOOST_TEST_REQUIRE(response.status == 201u);
    Integrator integrator{StringMember(body, "integratorId"), StringMember(body, "secret")};
    BOOST_TEST_REQUIRE(!integrator.secret.empty(), response.body);
    server_.AddSensitive(integrator.secret);
    return integrator;
  }

  json::object Describe(std::string_view id) {
    const HttpResponse response = Call("GET", "/v1/integrators/" + std::string(id));
    return ExpectJson(response, 200, "GET /v1/integrators/" + std::string(id));
  }

  // GET /metrics until `ready` holds for its text (the server counts a request just after its
  // response is written, so a count may trail the answer by a moment). Returns the last text.
  std::string Metrics(const std::function<bool(const std::string&)>& ready = {}) {
    std::string text;
    for (int attempt = 0; attempt < 100; ++attempt) {
      const HttpResponse response = Call("GET", "/metrics");
      BOOST_TEST_REQUIRE(response.status == 200u, response.Describe());
      text = response.body;
      if (!ready || ready(text)) break;
      std::this_thread::sleep_for(20ms);
    }
    return text;
  }

 private:
  Server& server_;
};

std::string RequestsSeries(std::string_view listener, std::string_view route, unsigned status) {
  return "credstore_http_requests_total{listener=\"" + std::string(listener) + "\",route=\"" +
         std::string(route) + "\",status=\"" + std::to_string(status) + "\"}";
}

// Checks the 401 every operator route but /healthz answers without the right token.
void ExpectTokenProblem(const HttpResponse& response, std::string_view what) {
  const json::object problem = ExpectProblem(response, 401, what);
  if (response.status != 401) return;
  BOOST_TEST(response.Header("WWW-Authenticate").value_or("") == kOperatorChallenge, what);
  BOOST_TEST(StringMember(problem, "type") == "urn:credstore:problem:unauthorized", what);
  BOOST_TEST(StringMember(problem, "title") == "Unauthorized", what);
  BOOST_TEST(StringMember(problem, "detail") == kTokenProblemDetail, what);
  BOOST_TEST(StringMember(problem, "realm") == "credstore-operator", what);
  BOOST_TEST(StringMember(problem, "scope") == "operator", what);
  BOOST_TEST(HasNoStore(response), what << ": 401 without Cache-Control: no-store");
}

// A 404 problem naming `resource_type`, and `resource_id` when given (else none).
void ExpectNotFound(const HttpResponse& response, std::string_view resource_type,
                    std::string_view resource_id, std::string_view what) {
  const json::object problem = ExpectProblem(response, 404, what);
  if (response.status != 404) return;
  BOOST_TEST(StringMember(problem, "type") == "urn:credstore:problem:not-found", what);
  BOOST_TEST(StringMember(problem, "resourceType") == resource_type, what << ": " << response.body);
  if (resource_id.empty()) {
    BOOST_TEST(!problem.contains("resourceId"), what << ": " << response.body);
  } else {
    BOOST_TEST(StringMember(problem, "resourceId") == resource_id, what << ": " << response.body);
  }
}

void ExpectNoContent(const HttpResponse& response, std::string_view what) {
  BOOST_TEST(response.status == 204u, what << ": " << response.Describe());
  BOOST_TEST(response.body.empty(), what << ": " << response.Describe());
  BOOST_TEST(HasNoStore(response), what << ": 204 without Cache-Control: no-store");
}

std::string Repeat(std::string_view text, int times) {
  std::string out;
  for (int i = 0; i < times; ++i) out += text;
  return out;
}

// An id of the integrator form that no integrator has.
std::string UnknownIntegratorId() { return "int_" + RandomAlnum(24); }

// "2026-11-23T08:00:00.000Z".
bool IsIsoMillis(std::string_view text) {
  if (text.size() != 24 || text[4] != '-' || text[7] != '-' || text[10] != 'T' || text[13] != ':' ||
      text[16] != ':' || text[19] != '.' || text[23] != 'Z') {
    return false;
  }
  for (std::size_t i :
       {0u, 1u, 2u, 3u, 5u, 6u, 8u, 9u, 11u, 12u, 14u, 15u, 17u, 18u, 20u, 21u, 22u}) {
    if (text[i] < '0' || text[i] > '9') return false;
  }
  return true;
}

struct ProvisionedServerFixture {
  Server server{ServerOptions{"minimum", {"--api-keys", "provisioned"}}};
};

// ---- The `credstore` command as a subprocess --------------------------------------------------

std::vector<std::string> CliArgs(Server& server, std::vector<std::string> command) {
  std::vector<std::string> args = {"--operator",
                                   "127.0.0.1:" + std::to_string(server.operator_port())};
  args.insert(args.end(), command.begin(), command.end());
  return args;
}

// Runs the command with the server's token; checks that neither stream carries the token.
CliRun RunCliWithToken(Server& server, std::vector<std::string> command,
                       std::string_view stdin_text = {}) {
  CliRun run = RunCli(CliArgs(server, std::move(command)), stdin_text, TokenOf(server));
  BOOST_TEST(run.out.find(TokenOf(server)) == std::string::npos, "the token is on stdout");
  BOOST_TEST(run.err.find(TokenOf(server)) == std::string::npos, "the token is on stderr");
  return run;
}

json::object CliJson(const CliRun& run, std::string_view what) {
  BOOST_TEST((run.exited && run.code == 0), what << ": " << run.Describe());
  BOOST_TEST((!run.out.empty() && run.out.back() == '\n'), what << ": " << run.Describe());
  const json::value value = ParseJson(run.out, what);
  BOOST_TEST(value.is_object(), what << ": " << run.Describe());
  return value.is_object() ? value.as_object() : json::object();
}

boost::test_tools::assertion_result HasCli(utf::test_unit_id) {
  boost::test_tools::assertion_result result(!Args().credstore_cli.empty());
  result.message() << "no --credstore-cli PATH given";
  return result;
}

}  // namespace

// (Not "operator": the suite macro opens a namespace of that name, and it is a keyword.)
BOOST_AUTO_TEST_SUITE(operator_api)

// ---- The token ---------------------------------------------------------------------------------

BOOST_FIXTURE_TEST_CASE(healthz_needs_no_token, ServerFixture) {
  OperatorCalls op(server);
  const HttpResponse response = op.CallWithHeaders("GET", "/healthz", {});
  const json::object body = ExpectJson(response, 200, "operator GET /healthz without a token");
  BOOST_TEST((json::value(body) == json::parse(R"({"status":"ok"})")), response.body);
  BOOST_TEST(HasNoStore(response));
}

// A probe needs no token, and failed tokens from the same client never lock it out.
BOOST_FIXTURE_TEST_CASE(readyz_needs_no_token_and_is_never_throttled, ServerFixture) {
  OperatorCalls op(server);
  ClientOptions one_client;
  one_client.source_address = NextClientAddress();
  const std::string wrong_token = "optok-" + RandomAlnum(40);
  server.AddSensitive(wrong_token);
  for (int i = 0; i < 11; ++i) {
    SendRaw(server.operator_port(), BuildRequest("GET", "/metrics", Bearer(wrong_token)),
            one_client);
  }
  ExpectProblem(SendRaw(server.operator_port(), BuildRequest("GET", "/metrics"), one_client), 429,
                "the locked-out client");
  for (const std::string& headers : {std::string(), Bearer(op.Token())}) {
    const HttpResponse response =
        SendRaw(server.operator_port(), BuildRequest("GET", "/readyz", headers), one_client);
    const json::object body = ExpectJson(response, 200, "operator GET /readyz");
    BOOST_TEST((json::value(body) == json::parse(R"({"status":"ready","writes":"available"})")),
               response.body);
    BOOST_TEST(HasNoStore(response));
  }
}

BOOST_FIXTURE_TEST_CASE(every_route_but_healthz_answers_401_without_the_token, ServerFixture) {
  OperatorCalls op(server);
  const Customer customer = server.NewCustomer();
  const Integrator integrator = op.Create();
  const std::string wrong_token = "optok-" + RandomAlnum(40);
  server.AddSensitive(wrong_token);
  const std::string& token = op.Token();

  struct Route {
    std::string method;
    std::string target;
    std::string body;
  };
  const std::vector<Route> routes = {
      {"GET", "/metrics", {}},
      {"POST", "/v1/integrators", R"({"label":"refused"})"},
      {"GET", "/v1/integrators", {}},
      {"GET", "/v1/integrators/" + integrator.id, {}},
      {"POST", "/v1/integrators/" + integrator.id + "/disable", {}},
      {"POST", "/v1/integrators/" + integrator.id + "/enable", {}},
      {"DELETE", "/v1/integrators/" + integrator.id, {}},
      {"POST", "/v1/integrators/" + integrator.id + "/reset-secret", {}},
      {"POST", "/v1/api-keys", ApiKeyBody("geofencing", customer.key)},
      {"POST", "/v1/api-keys/revoke", ApiKeyBody("geofencing", customer.key)},
      {"DELETE", "/v1/api-keys/geofencing/" + customer.key, {}},
      {"POST", "/v1/customers/reset",
       R"({"service":"geofencing","apiKey":)" + JsonString(customer.key) +
           R"(,"secret":"operator-refused-secret"})"},
      {"POST", "/v1/customers/delete", ApiKeyBody("geofencing", customer.key)},
      {"POST", "/v1/throttle/clear", R"({"address":"192.0.2.7"})"},
      {"POST", "/v1/keys/reseal", "{}"},
  };
  const std::vector<std::pair<std::string, std::string>> credentials = {
      {"no Authorization", ""},
      {"wrong token", Bearer(wrong_token)},
      {"the token cut short", Bearer(token.substr(0, token.size() - 1))},
      {"the token and one more character", Bearer(token + "x")},
      {"empty bearer token", "Authorization: Bearer \r\n"},
      {"Basic scheme", "Authorization: Basic " + token + "\r\n"},
      {"Token scheme", "Authorization: Token " + token + "\r\n"},
      {"no scheme", "Authorization: " + token + "\r\n"},
      {"the token in another header", "X-Operator-Token: " + token + "\r\n"},
      {"two Authorization headers", Bearer(token) + Bearer(token)},
  };
  for (const Route& route : routes) {
    for (const auto& [name, headers] : credentials) {
      const std::string what = route.method + " " + route.target + " with " + name;
      std::string all_headers = headers;
      if (!route.body.empty()) all_headers += kJson;
      ExpectTokenProblem(op.CallWithHeaders(route.method, route.target, all_headers, route.body),
                         what);
    }
  }
  // The refused calls changed nothing.
  BOOST_TEST(op.Describe(integrator.id).at("enabled").as_bool(), "disabled without the token");
  server.RotateOk(integrator);
  server.ExpectSettings(customer, "{}", "the customer after the refused reset and delete");
}

BOOST_FIXTURE_TEST_CASE(bearer_scheme_is_case_insensitive, ServerFixture) {
  OperatorCalls op(server);
  for (std::string_view scheme : {"bearer", "BEARER", "Bearer"}) {
    const HttpResponse response = op.CallWithHeaders(
        "GET", "/v1/integrators?limit=1",
        std::string("Authorization: ") + std::string(scheme) + " " + op.Token() + "\r\n");
    ExpectJson(response, 200, std::string(scheme) + " scheme");
  }
}

BOOST_FIXTURE_TEST_CASE(the_token_never_reaches_the_log, ServerFixture) {
  OperatorCalls op(server);
  const std::string wrong_token = "optok-" + RandomAlnum(40);
  server.AddSensitive(wrong_token);
  op.Create();
  ExpectTokenProblem(op.CallWithHeaders("GET", "/metrics", Bearer(wrong_token)), "wrong token");
  ExpectJson(op.Call("GET", "/v1/integrators"), 200, "list");
  server.Stop();  // flushes the log; checks it holds neither token (nor any secret)
  const std::string log = server.process().Log();
  // The operator requests were logged, by route template.
  BOOST_TEST(log.find(R"("listener":"operator")") != std::string::npos, log);
  BOOST_TEST(log.find(R"("route":"/v1/integrators")") != std::string::npos, log);
  BOOST_TEST(log.find(R"("route":"/metrics","status":401)") != std::string::npos, log);
}

// ---- Integrators -------------------------------------------------------------------------------

BOOST_FIXTURE_TEST_CASE(create_integrator_answers_201_with_location_and_secret, ServerFixture) {
  OperatorCalls op(server);
  const HttpResponse response = op.Call("POST", "/v1/integrators", R"({"label":"Acme fleet"})");
  const json::object body = ExpectJson(response, 201, "create");
  BOOST_TEST_REQUIRE(response.status == 201u);
  BOOST_TEST(body.size() == 2u, response.body);
  const std::string id = StringMember(body, "integratorId");
  const std::string secret = StringMember(body, "secret");
  server.AddSensitive(secret);
  BOOST_TEST(id.starts_with("int_"), id);
  BOOST_TEST(secret.starts_with("sk_"), "the secret is not sk_...");
  BOOST_TEST(response.Header("Location").value_or("") == "/v1/integrators/" + id);
  BOOST_TEST(HasNoStore(response));
  BOOST_TEST(StringMember(op.Describe(id), "label") == "Acme fleet");
  // The secret signs.
  server.RotateOk(Integrator{id, secret});
  // No label: the label is empty.
  const HttpResponse unlabelled = op.Call("POST", "/v1/integrators", "{}");
  const json::object created = ExpectJson(unlabelled, 201, "create with {}");
  server.AddSensitive(StringMember(created, "secret"));
  BOOST_TEST(StringMember(op.Describe(StringMember(created, "integratorId")), "label") == "");
}

BOOST_FIXTURE_TEST_CASE(create_integrator_validates_label_and_body, ServerFixture) {
  OperatorCalls op(server);
  const std::string longest(200, 'L');
  const HttpResponse at_limit =
      op.Call("POST", "/v1/integrators", R"({"label":")" + longest + "\"}");
  const json::object created = ExpectJson(at_limit, 201, "a 200-byte label");
  server.AddSensitive(StringMember(created, "secret"));
  BOOST_TEST(StringMember(op.Describe(StringMember(created, "integratorId")), "label") == longest);

  const std::vector<std::pair<std::string, std::string>> bad_bodies = {
      {"a 201-byte label", R"({"label":")" + std::string(201, 'L') + "\"}"},
      {"a label of 67 euro signs (201 bytes)",
       R"({"label":")" + Repeat("\xe2\x82\xac", 67) + "\"}"},
      {"a label that is not a string", R"({"label":42})"},
      {"a label that is not UTF-8", "{\"label\":\"\xff\xfe\"}"},
      {"an unknown member", R"({"label":"x","name":"y"})"},
      {"a duplicate member", R"({"label":"x","label":"y"})"},
      {"bad JSON", R"({"label":)"},
      {"a JSON array", R"(["label"])"},
      {"an empty body", ""},
  };
  for (const auto& [what, body] : bad_bodies) {
    const HttpResponse response = op.CallWithHeaders("POST", "/v1/integrators",
                                                     Bearer(op.Token()) + std::string(kJson), body);
    const json::object problem = ExpectProblem(response, 400, what);
    BOOST_TEST(StringMember(problem, "type") == "urn:credstore:problem:invalid-request", what);
  }
  ExpectProblem(op.Call("POST", "/v1/integrators", R"({"label":"x"})", "text/plain"), 415,
                "text/plain");
}

BOOST_FIXTURE_TEST_CASE(get_integrator_describes_it, ServerFixture) {
  OperatorCalls op(server);
  const Integrator integrator = op.Create("described");
  const HttpResponse response = op.Call("GET", "/v1/integrators/" + integrator.id);
  const json::object body = ExpectJson(response, 200, "GET one");
  BOOST_TEST(HasNoStore(response));
  BOOST_TEST(body.size() == 5u, response.body);
  BOOST_TEST(StringMember(body, "integratorId") == integrator.id);
  BOOST_TEST(StringMember(body, "label") == "described");
  BOOST_TEST((body.contains("enabled") && body.at("enabled") == json::value(true)), response.body);
  BOOST_TEST(IsIsoMillis(StringMember(body, "createdAt")), response.body);
  BOOST_TEST((body.contains("generation") && body.at("generation").to_number<double>() == 1.0),
             response.body);
  BOOST_TEST(!body.contains("oldSecretExpiresAt"), response.body);
  // A graced rotation: a new generation, and the old secret's expiry.
  server.RotateOk(integrator, R"({"oldSecretValidForSeconds":60})");
  const json::object rotated = op.Describe(integrator.id);
  BOOST_TEST(rotated.size() == 6u, json::serialize(rotated));
  BOOST_TEST(rotated.at("generation").to_number<double>() == 2.0);
  BOOST_TEST(IsIsoMillis(StringMember(rotated, "oldSecretExpiresAt")), json::serialize(rotated));
  BOOST_TEST(StringMember(rotated, "createdAt") == StringMember(body, "createdAt"));
}

BOOST_FIXTURE_TEST_CASE(unknown_integrator_answers_404_naming_it, ServerFixture) {
  OperatorCalls op(server);
  const std::string unknown = UnknownIntegratorId();
  ExpectNotFound(op.Call("GET", "/v1/integrators/" + unknown), "integrator", unknown, "GET");
  ExpectNotFound(op.Call("POST", "/v1/integrators/" + unknown + "/disable"), "integrator", unknown,
                 "disable");
  ExpectNotFound(op.Call("POST", "/v1/integrators/" + unknown + "/reset-secret"), "integrator",
                 unknown, "reset-secret");
  // What does not look like an id (it could be a pasted secret) is not echoed.
  const std::string not_an_id = "sk_" + RandomAlnum(30);
  server.AddSensitive(not_an_id);
  ExpectNotFound(op.Call("GET", "/v1/integrators/" + not_an_id), "integrator", {}, "GET a non-id");
}

BOOST_FIXTURE_TEST_CASE(list_integrators_pages_with_cursor_and_limit, ServerFixture) {
  OperatorCalls op(server);
  std::set<std::string> created;
  for (int i = 0; i < 5; ++i) created.insert(op.Create("listed " + std::to_string(i)).id);
  // The default page holds them all (on Redis, other test cases' integrators may be there too).
  const HttpResponse all = op.Call("GET", "/v1/integrators");
  const json::object first = ExpectJson(all, 200, "list");
  BOOST_TEST(HasNoStore(all));
  // Pages of 2, following nextCursor to the end: each integrator exactly once, ids ascending.
  std::vector<std::string> seen;
  std::string cursor;
  for (int page = 0; page < 1000; ++page) {
    std::string target = "/v1/integrators?limit=2";
    if (!cursor.empty()) target += "&cursor=" + cursor;
    const HttpResponse response = op.Call("GET", target);
    const json::object body = ExpectJson(response, 200, target);
    BOOST_TEST_REQUIRE(response.status == 200u);
    BOOST_TEST(body.size() == 2u, response.body);
    const json::array& integrators = body.at("integrators").as_array();
    BOOST_TEST(integrators.size() <= 2u, response.body);
    for (const json::value& integrator : integrators) {
      const json::object& described = integrator.as_object();
      BOOST_TEST(described.size() >= 5u, json::serialize(described));
      seen.push_back(StringMember(described, "integratorId"));
    }
    const json::value& next = body.at("nextCursor");
    if (next.is_null()) break;
    BOOST_TEST_REQUIRE(next.is_string(), response.body);
    cursor = std::string(next.as_string());
  }
  for (std::size_t i = 1; i < seen.size(); ++i) {
    BOOST_TEST(seen[i - 1] < seen[i],
               "not ascending or repeated: " << seen[i - 1] << ", " << seen[i]);
  }
  for (const std::string& id : created) {
    BOOST_TEST(std::count(seen.begin(), seen.end(), id) == 1, id << " not listed once");
  }
  if (first.at("nextCursor").is_null()) {
    BOOST_TEST(first.at("integrators").as_array().size() == seen.size());
  }
  // limit=1 from the start gives the first one, and a cursor to go on.
  const json::object one = ExpectJson(op.Call("GET", "/v1/integrators?limit=1"), 200, "limit=1");
  BOOST_TEST(one.at("integrators").as_array().size() <= 1u);
  BOOST_TEST(one.at("nextCursor").is_string());
}

BOOST_FIXTURE_TEST_CASE(list_integrators_limit_and_cursor_out_of_bounds_answer_400, ServerFixture) {
  OperatorCalls op(server);
  for (std::string_view query : {"limit=0", "limit=1001", "limit=-1", "limit=abc", "limit=",
                                 "limit=1.5", "limit=99999999999999999999", "limit=1&limit=2",
                                 "cursor=a&cursor=b", "cursor=int-abc", "cursor=%2F"}) {
    const std::string target = "/v1/integrators?" + std::string(query);
    ExpectProblem(op.Call("GET", target), 400, target);
  }
  ExpectProblem(op.Call("GET", "/v1/integrators?cursor=" + std::string(129, 'a')), 400,
                "a 129-character cursor");
  for (std::string_view query : {"limit=1", "limit=1000", "cursor=int_zzzz", "other=1"}) {
    const std::string target = "/v1/integrators?" + std::string(query);
    ExpectJson(op.Call("GET", target), 200, target);
  }
}

BOOST_FIXTURE_TEST_CASE(disabled_integrator_cannot_sign, ServerFixture) {
  OperatorCalls op(server);
  const Integrator integrator = op.Create();
  const Integrator other = op.Create();
  ExpectNoContent(op.Call("POST", "/v1/integrators/" + integrator.id + "/disable"), "disable");
  BOOST_TEST((op.Describe(integrator.id).at("enabled") == json::value(false)));
  const json::object problem =
      ExpectProblem(server.Rotate(integrator.id, integrator.secret), 401, "signed by a disabled");
  BOOST_TEST(StringMember(problem, "detail") == "integrator disabled", json::serialize(problem));
  // Disabling again changes nothing; the other integrator still signs.
  ExpectNoContent(op.Call("POST", "/v1/integrators/" + integrator.id + "/disable"), "again");
  ExpectProblem(server.Rotate(integrator.id, integrator.secret), 401, "still disabled");
  server.RotateOk(other);
}

BOOST_FIXTURE_TEST_CASE(an_enabled_integrator_signs_again_and_a_deleted_one_is_gone,
                        ServerFixture) {
  OperatorCalls op(server);
  const Integrator integrator = op.Create();
  const Integrator other = op.Create();
  ExpectNoContent(op.Call("POST", "/v1/integrators/" + integrator.id + "/disable"), "disable");
  ExpectProblem(server.Rotate(integrator.id, integrator.secret), 401, "signed while disabled");
  ExpectNoContent(op.Call("POST", "/v1/integrators/" + integrator.id + "/enable"), "enable");
  BOOST_TEST((op.Describe(integrator.id).at("enabled") == json::value(true)));
  const Integrator rotated = server.RotateOk(integrator);

  ExpectNoContent(op.Call("DELETE", "/v1/integrators/" + integrator.id), "delete");
  ExpectNotFound(op.Call("GET", "/v1/integrators/" + integrator.id), "integrator", integrator.id,
                 "show after delete");
  ExpectNotFound(op.Call("DELETE", "/v1/integrators/" + integrator.id), "integrator", integrator.id,
                 "delete again");
  ExpectNotFound(op.Call("POST", "/v1/integrators/" + integrator.id + "/enable"), "integrator",
                 integrator.id, "enable after delete");
  ExpectProblem(server.Rotate(integrator.id, rotated.secret), 404, "signed after delete");
  ExpectProblem(op.Call("PUT", "/v1/integrators/" + integrator.id), 405, "PUT");
  server.RotateOk(other);
}

// A client address locked out by failed secrets, or a customer whose bucket a guesser spent, is
// let in again by the operator at once.
BOOST_AUTO_TEST_CASE(the_operator_clears_a_throttled_address_or_customer) {
  Server server(ServerOptions{
      "minimum", {"--throttle-failures-per-address", "1", "--throttle-customer-burst", "2"}});
  OperatorCalls op(server);
  const Customer customer = server.NewCustomer();
  const std::string locked_out = NextClientAddress();
  const auto regenerate = [&](std::string_view secret, const std::string& from) {
    return server.RegenerateKey(customer, secret, ClientOptions{from});
  };
  ExpectProblem(regenerate("secret-a-wrong-guess", locked_out), 401, "a wrong guess");
  ExpectProblem(regenerate(customer.secret, locked_out), 429, "locked out");
  ExpectNoContent(
      op.Call("POST", "/v1/throttle/clear", R"({"address":)" + JsonString(locked_out) + "}"),
      "clear the address");
  const HttpResponse let_in = regenerate(customer.secret, locked_out);
  server.AddSensitive(StringMember(ExpectJson(let_in, 200, "after the clear"), "adminKey"));

  // The customer's bucket (2): one more wrong guess from elsewhere spends it.
  ExpectProblem(regenerate("secret-a-wrong-guess", NextClientAddress()), 401, "bucket");
  ExpectProblem(regenerate(customer.secret, NextClientAddress()), 429, "the bucket is spent");
  ExpectNoContent(op.Call("POST", "/v1/throttle/clear", ApiKeyBody("geofencing", customer.key)),
                  "clear the customer");
  const HttpResponse refilled = regenerate(customer.secret, NextClientAddress());
  server.AddSensitive(StringMember(ExpectJson(refilled, 200, "after the clear"), "adminKey"));

  for (const std::string& body :
       {std::string("{}"), std::string(R"({"address":"not an address"})"),
        std::string(R"({"address":"192.0.2.1","service":"geofencing","apiKey":"abcdefgh"})"),
        std::string(R"({"service":"geofencing","apiKey":"bad key!"})"),
        std::string(R"({"address":7})")}) {
    ExpectProblem(op.Call("POST", "/v1/throttle/clear", body), 400, body);
  }
  ExpectNotFound(op.Call("POST", "/v1/throttle/clear", ApiKeyBody("nowhere", customer.key)),
                 "service", {}, "an unknown service");
}

BOOST_FIXTURE_TEST_CASE(reset_secret_replaces_every_secret, ServerFixture) {
  OperatorCalls op(server);
  const Integrator first = op.Create();
  // A graced rotation leaves two live secrets; the reset drops both.
  const Integrator second = server.RotateOk(first, R"({"oldSecretValidForSeconds":3600})");
  const HttpResponse response = op.Call("POST", "/v1/integrators/" + first.id + "/reset-secret");
  const json::object body = ExpectJson(response, 200, "reset-secret");
  BOOST_TEST_REQUIRE(response.status == 200u);
  BOOST_TEST(body.size() == 1u, response.body);
  BOOST_TEST(HasNoStore(response));
  const Integrator reset{first.id, StringMember(body, "secret")};
  server.AddSensitive(reset.secret);
  BOOST_TEST(reset.secret.starts_with("sk_"));
  BOOST_TEST(reset.secret != first.secret);
  BOOST_TEST(reset.secret != second.secret);
  ExpectProblem(server.Rotate(first.id, second.secret), 401, "the current secret before reset");
  // The graced old secret no longer signs: a signature check with it fails like any wrong one.
  const json::object described = op.Describe(first.id);
  BOOST_TEST(!described.contains("oldSecretExpiresAt"), json::serialize(described));
  BOOST_TEST(described.at("generation").to_number<double>() == 3.0, json::serialize(described));
  server.RotateOk(reset);
}

BOOST_FIXTURE_TEST_CASE(bodiless_routes_accept_only_an_empty_object, ServerFixture) {
  OperatorCalls op(server);
  const Integrator integrator = op.Create();
  const std::string disable = "/v1/integrators/" + integrator.id + "/disable";
  ExpectProblem(op.Call("POST", disable, R"({"now":true})"), 400, "disable with a member");
  ExpectProblem(op.Call("POST", disable, "{"), 400, "disable with bad JSON");
  ExpectProblem(op.Call("POST", disable, "{}", "text/plain"), 415, "disable with text/plain");
  BOOST_TEST((op.Describe(integrator.id).at("enabled") == json::value(true)));
  ExpectNoContent(op.Call("POST", disable, "{}"), "disable with {}");
}

// ---- API keys ----------------------------------------------------------------------------------

BOOST_FIXTURE_TEST_CASE(api_key_routes_answer_409_when_provisioning_is_off, ServerFixture) {
  OperatorCalls op(server);
  const std::string key = NewApiKey();
  server.AddSensitive(key);
  const std::vector<HttpResponse> responses = {
      op.Call("POST", "/v1/api-keys", ApiKeyBody("geofencing", key)),
      op.Call("POST", "/v1/api-keys/revoke", ApiKeyBody("geofencing", key)),
      op.Call("DELETE", "/v1/api-keys/geofencing/" + key),
  };
  for (const HttpResponse& response : responses) {
    const json::object problem = ExpectProblem(response, 409, "API key route with --api-keys any");
    BOOST_TEST(StringMember(problem, "type") == "urn:credstore:problem:conflict");
    BOOST_TEST(StringMember(problem, "detail").find("--api-keys any") != std::string::npos);
  }
  // 400 (a malformed key) comes before 409.
  ExpectProblem(op.Call("POST", "/v1/api-keys", ApiKeyBody("geofencing", "short")), 400,
                "a malformed key");
  // Any well-formed key registers.
  server.NewCustomer();
}

BOOST_FIXTURE_TEST_CASE(unprovisioned_key_cannot_register, ProvisionedServerFixture) {
  OperatorCalls op(server);
  const std::string key = NewApiKey();
  const std::string secret = NewSecret();
  server.AddSensitive(key);
  server.AddSensitive(secret);
  const json::object problem =
      ExpectProblem(server.Register("geofencing", key, secret), 401, "an unprovisioned key");
  BOOST_TEST(StringMember(problem, "detail") == "API key not provisioned");
  ExpectNoContent(op.Call("POST", "/v1/api-keys", ApiKeyBody("geofencing", key)), "provision");
  // Provisioned for one service only.
  ExpectProblem(server.Register("locationHistory", key, secret), 401, "another service");
  const json::object body = ExpectJson(server.Register("geofencing", key, secret), 200, "register");
  server.AddSensitive(StringMember(body, "adminKey"));
  BOOST_TEST(IsAdminKey(StringMember(body, "adminKey")));
}

// "Not provisioned" must be no cheap, unthrottled oracle of which keys are: on regenerateKey and
// updateSecret an unprovisioned key gets the wrong secret's answer after the same Argon2id check
// (counted in /metrics), and register's 401 costs a registration's Argon2id hash.
BOOST_FIXTURE_TEST_CASE(unprovisioned_keys_answer_as_a_wrong_secret_after_the_same_work,
                        ProvisionedServerFixture) {
  OperatorCalls op(server);
  const std::string key = NewApiKey();
  server.AddSensitive(key);
  ExpectNoContent(op.Call("POST", "/v1/api-keys", ApiKeyBody("geofencing", key)), "provision");
  Customer customer{"geofencing", key, NewSecret(), {}};
  server.AddSensitive(customer.secret);
  const json::object registered =
      ExpectJson(server.Register("geofencing", key, customer.secret), 200, "register");
  customer.admin_key = StringMember(registered, "adminKey");
  server.AddSensitive(customer.admin_key);
  Customer unprovisioned{"geofencing", NewApiKey(), NewSecret(), {}};
  server.AddSensitive(unprovisioned.key);
  server.AddSensitive(unprovisioned.secret);
  const std::string wrong_secret = NewSecret();
  server.AddSensitive(wrong_secret);

  const auto counter = [&op](std::string_view name) {
    return MetricSample(op.Call("GET", "/metrics").body, name);
  };
  const auto without_instance = [](json::object problem) {
    problem.erase("instance");
    return problem;
  };
  constexpr std::string_view kChecks = "credstore_store_argon2_verifications_total";
  constexpr std::string_view kHashes = "credstore_store_argon2_hashes_total";

  double before = counter(kChecks);
  const json::object wrong =
      ExpectProblem(server.RegenerateKey(customer, wrong_secret), 401, "a wrong secret");
  BOOST_TEST(counter(kChecks) == before + 1);
  before = counter(kChecks);
  const json::object refused = ExpectProblem(
      server.RegenerateKey(unprovisioned, unprovisioned.secret), 401, "an unprovisioned key");
  BOOST_TEST(counter(kChecks) == before + 1, "an unprovisioned key ran no Argon2id check");
  BOOST_TEST(StringMember(refused, "detail") == "secret invalid");
  BOOST_TEST((without_instance(refused) == without_instance(wrong)), json::serialize(refused));

  const json::object wrong_update = ExpectProblem(
      server.UpdateSecret(customer, wrong_secret, NewSecret()), 401, "updateSecret, wrong secret");
  before = counter(kChecks);
  const json::object refused_update =
      ExpectProblem(server.UpdateSecret(unprovisioned, unprovisioned.secret, NewSecret()), 401,
                    "updateSecret, unprovisioned key");
  BOOST_TEST(counter(kChecks) == before + 1);
  BOOST_TEST((without_instance(refused_update) == without_instance(wrong_update)),
             json::serialize(refused_update));

  before = counter(kHashes);
  const json::object refused_register = ExpectProblem(
      server.Register("geofencing", unprovisioned.key, unprovisioned.secret), 401, "register");
  BOOST_TEST(StringMember(refused_register, "detail") == "API key not provisioned");
  BOOST_TEST(counter(kHashes) == before + 1, "an unprovisioned registration ran no Argon2id hash");
}

BOOST_FIXTURE_TEST_CASE(provisioning_twice_changes_nothing, ProvisionedServerFixture) {
  OperatorCalls op(server);
  const std::string key = NewApiKey();
  server.AddSensitive(key);
  ExpectNoContent(op.Call("POST", "/v1/api-keys", ApiKeyBody("geofencing", key)), "provision");
  ExpectNoContent(op.Call("POST", "/v1/api-keys", ApiKeyBody("geofencing", key)), "again");
  // One revoke undoes it.
  ExpectNoContent(op.Call("POST", "/v1/api-keys/revoke", ApiKeyBody("geofencing", key)), "revoke");
  ExpectNotFound(op.Call("POST", "/v1/api-keys/revoke", ApiKeyBody("geofencing", key)), "apiKey",
                 {}, "revoke again");
}

BOOST_FIXTURE_TEST_CASE(revoked_key_is_refused_until_provisioned_again, ProvisionedServerFixture) {
  OperatorCalls op(server);
  const std::string key = NewApiKey();
  server.AddSensitive(key);
  ExpectNoContent(op.Call("POST", "/v1/api-keys", ApiKeyBody("geofencing", key)), "provision");
  Customer customer{"geofencing", key, NewSecret(), {}};
  server.AddSensitive(customer.secret);
  const json::object registered =
      ExpectJson(server.Register("geofencing", key, customer.secret), 200, "register");
  customer.admin_key = StringMember(registered, "adminKey");
  server.AddSensitive(customer.admin_key);
  ExpectJson(server.PostSettings(customer, R"({"kept":true})"), 200, "settings");

  ExpectNoContent(op.Call("POST", "/v1/api-keys/revoke", ApiKeyBody("geofencing", key)),
                  "revoke (POST form)");
  ExpectProblem(server.GetSettings(customer), 401, "settings with a revoked key");
  ExpectProblem(server.PostSettings(customer, R"({"kept":false})"), 401, "POST settings");
  ExpectProblem(server.RegenerateKey(customer, customer.secret), 401, "regenerateKey");
  ExpectProblem(server.UpdateSecret(customer, customer.secret, NewSecret()), 401, "updateSecret");
  ExpectProblem(server.Register("geofencing", key, NewSecret()), 401, "register again");
  // The configuration was kept: provisioning again restores it as it was.
  ExpectNoContent(op.Call("POST", "/v1/api-keys", ApiKeyBody("geofencing", key)), "provision");
  server.ExpectSettings(customer, R"({"kept":true})", "settings after provisioning again");
}

BOOST_FIXTURE_TEST_CASE(delete_form_revokes_too, ProvisionedServerFixture) {
  OperatorCalls op(server);
  const std::string key = NewApiKey();
  server.AddSensitive(key);
  ExpectNoContent(op.Call("POST", "/v1/api-keys", ApiKeyBody("geofencing", key)), "provision");
  const Customer customer = [&] {
    Customer registered{"geofencing", key, NewSecret(), {}};
    server.AddSensitive(registered.secret);
    const json::object body =
        ExpectJson(server.Register("geofencing", key, registered.secret), 200, "register");
    registered.admin_key = StringMember(body, "adminKey");
    server.AddSensitive(registered.admin_key);
    return registered;
  }();
  ExpectNoContent(op.Call("DELETE", "/v1/api-keys/geofencing/" + key), "revoke (DELETE form)");
  ExpectProblem(server.GetSettings(customer), 401, "settings after the DELETE");
  ExpectNotFound(op.Call("DELETE", "/v1/api-keys/geofencing/" + key), "apiKey", {}, "DELETE again");
  ExpectProblem(op.Call("DELETE", "/v1/api-keys/geofencing/short"), 400, "a malformed key");
}

BOOST_FIXTURE_TEST_CASE(api_key_routes_answer_400_and_404, ProvisionedServerFixture) {
  OperatorCalls op(server);
  const std::string key = NewApiKey();
  server.AddSensitive(key);
  ExpectNotFound(op.Call("POST", "/v1/api-keys/revoke", ApiKeyBody("geofencing", key)), "apiKey",
                 {}, "revoke a key never provisioned");
  ExpectNotFound(op.Call("POST", "/v1/api-keys", ApiKeyBody("noSuchService", key)), "service", {},
                 "provision for an unknown service");
  ExpectNotFound(op.Call("DELETE", "/v1/api-keys/noSuchService/" + key), "service", {},
                 "DELETE for an unknown service");
  for (const auto& [what, body] : std::vector<std::pair<std::string, std::string>>{
           {"no apiKey", R"({"service":"geofencing"})"},
           {"no service", R"({"apiKey":")" + key + "\"}"},
           {"a malformed key", ApiKeyBody("geofencing", "bad key!")},
           {"a key that is not a string", R"({"service":"geofencing","apiKey":12345678})"},
           {"an unknown member", R"({"service":"geofencing","apiKey":")" + key + R"(","x":1})"},
           {"bad JSON", "{"}}) {
    ExpectProblem(op.Call("POST", "/v1/api-keys", body), 400, "provision with " + what);
  }
  // Nothing was provisioned on the way.
  ExpectProblem(server.Register("geofencing", key, NewSecret()), 401, "register afterwards");
}

// ---- Customers ---------------------------------------------------------------------------------

BOOST_FIXTURE_TEST_CASE(customer_reset_issues_a_new_admin_key_for_a_new_secret, ServerFixture) {
  OperatorCalls op(server);
  Customer customer = server.NewCustomer();
  ExpectJson(server.PostSettings(customer, R"({"zones":[1,2]})"), 200, "settings");
  const std::string new_secret = NewSecret();
  server.AddSensitive(new_secret);
  const HttpResponse response =
      op.Call("POST", "/v1/customers/reset",
              R"({"service":"geofencing","apiKey":)" + JsonString(customer.key) + R"(,"secret":)" +
                  JsonString(new_secret) + "}");
  const json::object body = ExpectJson(response, 200, "reset");
  BOOST_TEST(body.size() == 1u, response.body);
  BOOST_TEST(HasNoStore(response));
  const std::string new_admin_key = StringMember(body, "adminKey");
  BOOST_TEST_REQUIRE(IsAdminKey(new_admin_key), response.body);
  BOOST_TEST(new_admin_key != customer.admin_key);
  server.AddSensitive(new_admin_key);

  ExpectProblem(server.GetSettings(customer), 401, "the old admin key");
  ExpectProblem(server.RegenerateKey(customer, customer.secret), 401, "the old secret");
  customer.admin_key = new_admin_key;
  server.ExpectSettings(customer, R"({"zones":[1,2]})", "settings kept, new admin key");
  customer.secret = new_secret;
  const json::object regenerated =
      ExpectJson(server.RegenerateKey(customer, customer.secret), 200, "the new secret");
  server.AddSensitive(StringMember(regenerated, "adminKey"));
}

BOOST_FIXTURE_TEST_CASE(customer_delete_removes_the_configuration, ServerFixture) {
  OperatorCalls op(server);
  const Customer customer = server.NewCustomer();
  ExpectJson(server.PostSettings(customer, R"({"gone":true})"), 200, "settings");
  ExpectNoContent(op.Call("POST", "/v1/customers/delete", ApiKeyBody("geofencing", customer.key)),
                  "delete");
  ExpectProblem(server.GetSettings(customer), 401, "settings after delete");
  ExpectProblem(server.RegenerateKey(customer, customer.secret), 401, "regenerateKey after delete");
  ExpectNotFound(op.Call("POST", "/v1/customers/delete", ApiKeyBody("geofencing", customer.key)),
                 "customer", {}, "delete again");
  // The key may register again, from scratch.
  const std::string secret = NewSecret();
  server.AddSensitive(secret);
  const json::object body =
      ExpectJson(server.Register("geofencing", customer.key, secret), 200, "register again");
  const Customer again{"geofencing", customer.key, secret, StringMember(body, "adminKey")};
  server.AddSensitive(again.admin_key);
  server.ExpectSettings(again, "{}", "settings after registering again");
}

BOOST_FIXTURE_TEST_CASE(customer_routes_answer_404_and_400, ServerFixture) {
  OperatorCalls op(server);
  const Customer customer = server.NewCustomer();
  const std::string unknown = NewApiKey();
  server.AddSensitive(unknown);
  const std::string reset_unknown = R"({"service":"geofencing","apiKey":)" + JsonString(unknown) +
                                    R"(,"secret":"a-new-secret-1"})";
  ExpectNotFound(op.Call("POST", "/v1/customers/reset", reset_unknown), "customer", {},
                 "reset an unknown customer");
  const json::object problem =
      ExpectProblem(op.Call("POST", "/v1/customers/delete", ApiKeyBody("geofencing", unknown)), 404,
                    "delete an unknown customer");
  BOOST_TEST(StringMember(problem, "detail") == "no customer configuration for this API key");
  BOOST_TEST(StringMember(problem, "resourceType") == "customer");
  ExpectNotFound(op.Call("POST", "/v1/customers/delete", ApiKeyBody("noSuchService", customer.key)),
                 "service", {}, "delete on an unknown service");
  ExpectNotFound(op.Call("POST", "/v1/customers/reset",
                         R"({"service":"noSuchService","apiKey":)" + JsonString(customer.key) +
                             R"(,"secret":"a-new-secret-1"})"),
                 "service", {}, "reset on an unknown service");
  const std::string key = JsonString(customer.key);
  for (const auto& [what, body] : std::vector<std::pair<std::string, std::string>>{
           {"no secret", R"({"service":"geofencing","apiKey":)" + key + "}"},
           {"an empty secret", R"({"service":"geofencing","apiKey":)" + key + R"(,"secret":""})"},
           {"no apiKey", R"({"service":"geofencing","secret":"a-new-secret-1"})"},
           {"a malformed key", R"({"service":"geofencing","apiKey":"bad key!","secret":"s"})"},
           {"an unknown member",
            R"({"service":"geofencing","apiKey":)" + key + R"(,"secret":"s","adminKey":"x"})"},
           {"bad JSON", R"({"service":)"}}) {
    ExpectProblem(op.Call("POST", "/v1/customers/reset", body), 400, "reset with " + what);
  }
  ExpectProblem(op.Call("POST", "/v1/customers/delete", R"({"service":"geofencing"})"), 400,
                "delete without apiKey");
  server.ExpectSettings(customer, "{}", "the customer after the refused calls");
}

BOOST_FIXTURE_TEST_CASE(operator_reset_and_delete_reach_revoked_keys, ProvisionedServerFixture) {
  OperatorCalls op(server);
  const std::string key = NewApiKey();
  server.AddSensitive(key);
  ExpectNoContent(op.Call("POST", "/v1/api-keys", ApiKeyBody("geofencing", key)), "provision");
  const std::string secret = NewSecret();
  server.AddSensitive(secret);
  server.AddSensitive(StringMember(
      ExpectJson(server.Register("geofencing", key, secret), 200, "register"), "adminKey"));
  ExpectNoContent(op.Call("POST", "/v1/api-keys/revoke", ApiKeyBody("geofencing", key)), "revoke");
  const HttpResponse reset = op.Call("POST", "/v1/customers/reset",
                                     R"({"service":"geofencing","apiKey":)" + JsonString(key) +
                                         R"(,"secret":)" + JsonString(secret) + "}");
  server.AddSensitive(StringMember(ExpectJson(reset, 200, "reset a revoked key"), "adminKey"));
  ExpectNoContent(op.Call("POST", "/v1/customers/delete", ApiKeyBody("geofencing", key)),
                  "delete a revoked key");
}

// ---- Routing -----------------------------------------------------------------------------------

BOOST_FIXTURE_TEST_CASE(unknown_operator_routes_answer_404, ServerFixture) {
  OperatorCalls op(server);
  for (std::string_view target :
       {"/", "/nope", "/v1", "/v1/integrators/int_abc/extra", "/v1/integrators/int_abc/enabled",
        "/v1/integrators//disable", "/v1/api-keys/geofencing", "/v1/customers",
        "/v1/customers/settings", "/v1/integrator/regenerate-secret", "/geofencing/1/register",
        "/METRICS", "/healthz/x"}) {
    for (bool with_token : {true, false}) {
      const std::string what =
          "GET " + std::string(target) + (with_token ? " with the token" : " without");
      const HttpResponse response =
          op.CallWithHeaders("GET", target, with_token ? Bearer(op.Token()) : std::string());
      const json::object problem = ExpectProblem(response, 404, what);
      BOOST_TEST(StringMember(problem, "detail") == "no such route", what);
    }
  }
}

BOOST_FIXTURE_TEST_CASE(wrong_methods_answer_405_with_allow, ServerFixture) {
  OperatorCalls op(server);
  struct WrongMethod {
    std::string method;
    std::string target;
    std::string allow;
  };
  const std::vector<WrongMethod> cases = {
      {"POST", "/healthz", "GET"},
      {"POST", "/readyz", "GET"},
      {"POST", "/metrics", "GET"},
      {"PUT", "/v1/integrators", "GET, POST"},
      {"DELETE", "/v1/integrators", "GET, POST"},
      {"PUT", "/v1/integrators/int_abc", "GET, DELETE"},
      {"GET", "/v1/integrators/int_abc/enable", "POST"},
      {"GET", "/v1/throttle/clear", "POST"},
      {"POST", "/v1/integrators/int_abc", "GET, DELETE"},
      {"GET", "/v1/integrators/int_abc/disable", "POST"},
      {"GET", "/v1/integrators/int_abc/reset-secret", "POST"},
      {"GET", "/v1/api-keys", "POST"},
      {"DELETE", "/v1/api-keys/revoke", "POST"},
      {"POST", "/v1/api-keys/geofencing/abcdefgh", "DELETE"},
      {"GET", "/v1/customers/reset", "POST"},
      {"GET", "/v1/customers/delete", "POST"},
      {"GET", "/v1/keys/reseal", "POST"},
      {"DELETE", "/v1/keys/reseal", "POST"},
  };
  for (const WrongMethod& wrong : cases) {
    for (bool with_token : {true, false}) {
      const std::string what = wrong.method + " " + wrong.target + (with_token ? "" : " no token");
      const HttpResponse response = op.CallWithHeaders(
          wrong.method, wrong.target, with_token ? Bearer(op.Token()) : std::string());
      ExpectProblem(response, 405, what);
      BOOST_TEST(response.Header("Allow").value_or("") == wrong.allow, what);
    }
  }
}

// ---- Keys ---------------------------------------------------------------------------------------

// POST /v1/keys/reseal over a store whose keys did not change: everything is under the newest
// (the only) master key already, so nothing is written, with or without a body. Its body is
// checked like every other: a page size out of 1..1000 or not an integer, a malformed cursor or
// an unknown member is 400.
BOOST_FIXTURE_TEST_CASE(reseal_route_reports_and_validates_its_body, ServerFixture) {
  OperatorCalls op(server);
  const Integrator first = op.Create("reseal one");
  op.Create("reseal two");
  for (std::string_view body : {"", "{}"}) {
    const HttpResponse response = op.Call("POST", "/v1/keys/reseal", body);
    const json::object report =
        ExpectJson(response, 200, "reseal with body '" + std::string(body) + "'");
    if (response.status != 200) continue;
    BOOST_TEST(HasNoStore(response));
    const json::object& counts = report.at("integrators").as_object();
    BOOST_TEST(counts.at("resealed").to_number<std::uint64_t>() == 0u, response.body);
    BOOST_TEST(counts.at("already").to_number<std::uint64_t>() >= 2u, response.body);
    BOOST_TEST(counts.at("failed").to_number<std::uint64_t>() == 0u, response.body);
    BOOST_TEST(StringMember(report, "keycheck") == "already", response.body);
    BOOST_TEST(report.at("nextCursor").is_null(), response.body);
  }
  // One page of one: the cursor names the integrator it stopped at.
  const HttpResponse page = op.Call("POST", "/v1/keys/reseal", R"({"limit":1})");
  const json::object one = ExpectJson(page, 200, "a page of one");
  if (page.status == 200) {
    BOOST_TEST(StringMember(one, "keycheck") == "pending", page.body);
    BOOST_TEST(StringMember(one, "nextCursor").starts_with("int_"), page.body);
    const HttpResponse rest = op.Call(
        "POST", "/v1/keys/reseal",
        R"({"cursor":)" + JsonString(StringMember(one, "nextCursor")) + R"(,"limit":1000})");
    const json::object last = ExpectJson(rest, 200, "the rest");
    BOOST_TEST(StringMember(last, "keycheck") == "already", rest.body);
  }
  for (std::string_view bad : {R"({"limit":0})", R"({"limit":1001})", R"({"limit":"10"})",
                               R"({"limit":10.5})", R"({"limit":-1})", R"({"cursor":"int_a/b"})",
                               R"({"cursor":7})", R"({"integrator":"x"})", "[]", "{"}) {
    ExpectProblem(op.Call("POST", "/v1/keys/reseal", bad), 400, "reseal body " + std::string(bad));
  }
  ExpectProblem(op.Call("POST", "/v1/keys/reseal", "{}", "text/plain"), 415, "reseal as text");
  server.RotateOk(first);  // the integrator still signs
}

BOOST_FIXTURE_TEST_CASE(cli_keys_reseal_prints_the_summed_counts, ServerFixture,
                        *utf::precondition(HasCli)) {
  OperatorCalls op(server);
  op.Create("cli reseal");
  const CliRun run = RunCliWithToken(server, {"keys", "reseal"});
  const json::object report = CliJson(run, "keys reseal");
  BOOST_TEST(!report.contains("nextCursor"), run.Describe());
  BOOST_TEST(StringMember(report, "keycheck") == "already", run.Describe());
  BOOST_TEST(report.at("integrators").as_object().at("already").to_number<std::uint64_t>() >= 1u,
             run.Describe());
  const CliRun extra = RunCliWithToken(server, {"keys", "reseal", "int_x"});
  BOOST_TEST((extra.exited && extra.code == 2), extra.Describe());
}

// ---- Metrics -----------------------------------------------------------------------------------

BOOST_FIXTURE_TEST_CASE(metrics_count_requests_by_route_template, ServerFixture) {
  OperatorCalls op(server);
  const Customer customer = server.NewCustomer();
  server.ExpectSettings(customer, "{}", "settings");
  server.ExpectSettings(customer, "{}", "settings again");
  ExpectProblem(server.Get("/nope?key=" + customer.key), 404, "unknown route");
  const std::string settings_ok = RequestsSeries("public", "/{service}/1/settings", 200);
  const std::string metrics_ok = RequestsSeries("operator", "/metrics", 200);
  const std::string text = op.Metrics([&](const std::string& t) {
    return MetricSample(t, settings_ok) == 2.0 && MetricSample(t, metrics_ok) >= 1.0;
  });
  const HttpResponse response = op.Call("GET", "/metrics");
  BOOST_TEST(response.Header("Content-Type").value_or("") ==
             "text/plain; version=0.0.4; charset=utf-8");
  BOOST_TEST(HasNoStore(response));
  BOOST_TEST(text.find("# TYPE credstore_http_requests_total counter\n") != std::string::npos);
  BOOST_TEST(MetricSample(text, RequestsSeries("public", "/{service}/1/register", 200)) == 1.0,
             text);
  BOOST_TEST(MetricSample(text, settings_ok) == 2.0, text);
  BOOST_TEST(MetricSample(text, RequestsSeries("public", "unmatched", 404)) == 1.0, text);
  BOOST_TEST(MetricSample(text, RequestsSeries("operator", "/metrics", 200)) >= 1.0, text);
  // Only route templates name requests: no raw key, admin key or service-specific path.
  for (std::string_view raw : {"/geofencing/", "/nope", "key="}) {
    BOOST_TEST(text.find(raw) == std::string::npos, "the metrics carry '" << raw << "'");
  }
  server.CheckNoLeak(response, "GET /metrics");
}

BOOST_FIXTURE_TEST_CASE(metrics_expose_latency_histogram_and_pool_gauges, ServerFixture) {
  OperatorCalls op(server);
  server.NewCustomer();
  const std::string labels = R"(listener="public",route="/{service}/1/register")";
  const std::string count = "credstore_http_request_duration_seconds_count{" + labels + "}";
  const std::string text =
      op.Metrics([&](const std::string& t) { return MetricSample(t, count) == 1.0; });
  BOOST_TEST(text.find("# TYPE credstore_http_request_duration_seconds histogram\n") !=
             std::string::npos);
  double previous = 0;
  for (std::string_view le : {"0.0005", "0.001", "0.0025", "0.005", "0.01", "0.025", "0.05", "0.1",
                              "0.25", "0.5", "1", "2.5", "5", "10", "+Inf"}) {
    const double bucket = MetricSample(text, "credstore_http_request_duration_seconds_bucket{" +
                                                 labels + ",le=\"" + std::string(le) + "\"}");
    BOOST_TEST_REQUIRE(bucket >= 0.0, "no bucket le=" << le << " in:\n" << text);
    BOOST_TEST(bucket >= previous, "buckets are not cumulative at le=" << le);
    previous = bucket;
  }
  BOOST_TEST(previous == 1.0, "the +Inf bucket is not the count");
  BOOST_TEST(
      MetricSample(text, "credstore_http_request_duration_seconds_sum{" + labels + "}") > 0.0,
      text);
  for (std::string_view gauge :
       {"credstore_http_pool_queue_depth", "credstore_http_pool_queue_capacity",
        "credstore_http_pool_busy_workers", "credstore_http_pool_workers"}) {
    BOOST_TEST(text.find("# TYPE " + std::string(gauge) + " gauge\n") != std::string::npos, gauge);
    for (std::string_view pool : {"hashing", "storage"}) {
      const std::string series = std::string(gauge) + "{pool=\"" + std::string(pool) + "\"}";
      BOOST_TEST(MetricSample(text, series) >= 0.0, "no " << series);
    }
  }
  for (std::string_view pool : {"hashing", "storage"}) {
    BOOST_TEST(MetricSample(
                   text, "credstore_http_pool_workers{pool=\"" + std::string(pool) + "\"}") >= 1.0);
    BOOST_TEST(MetricSample(text, "credstore_http_pool_rejected_total{pool=\"" + std::string(pool) +
                                      "\"}") == 0.0,
               "503s without a flood");
  }
  BOOST_TEST(MetricSample(text, "credstore_http_open_connections") >= 1.0, text);
  BOOST_TEST(MetricSample(text, "credstore_store_argon2_hashes_total") >= 1.0, text);
}

BOOST_FIXTURE_TEST_CASE(metrics_count_throttled_attempts, ServerFixture) {
  OperatorCalls op(server);
  const Customer customer = server.NewCustomer();
  const ClientOptions attacker{NextClientAddress()};
  const std::string target = "/geofencing/1/regenerateKey?key=" + customer.key;
  int failures = 0;
  HttpResponse last;
  for (; failures < 50; ++failures) {
    last = server.Send(
        BuildRequest("POST", target, std::string(kJson), R"({"secret":"not-the-secret"})"),
        attacker, "regenerateKey");
    if (last.status != 401) break;
  }
  ExpectProblem(last, 429, "throttled");
  const std::string throttled = RequestsSeries("public", "/{service}/1/regenerateKey", 429);
  const std::string text =
      op.Metrics([&](const std::string& t) { return MetricSample(t, throttled) == 1.0; });
  BOOST_TEST(MetricSample(text, throttled) == 1.0, text);
  BOOST_TEST(MetricSample(text, RequestsSeries("public", "/{service}/1/regenerateKey", 401)) ==
                 static_cast<double>(failures),
             text);
  BOOST_TEST(MetricSample(text, "credstore_store_throttled_total") == 1.0, text);
  BOOST_TEST(MetricSample(text, "credstore_store_argon2_verifications_total") >=
                 static_cast<double>(failures),
             text);
}

// One hashing worker and a queue of one: a handful of simultaneous registrations (production
// Argon2id, so the first holds the worker for a while) overflow the pool, and the overflow is
// answered 503 and counted.
BOOST_AUTO_TEST_CASE(metrics_count_requests_shed_with_503) {
  Server server(ServerOptions{"production", {"--hashing-workers", "1", "--hashing-queue", "1"}});
  OperatorCalls op(server);
  constexpr int kClients = 6;
  int unavailable = 0;
  int registered = 0;
  for (int round = 0; round < 3 && unavailable == 0; ++round) {
    std::vector<std::string> requests;
    for (int i = 0; i < kClients; ++i) {
      const std::string key = NewApiKey();
      server.AddSensitive(key);
      requests.push_back(BuildRequest("POST", "/geofencing/1/register?key=" + key,
                                      std::string(kJson), R"({"secret":"shed-test-secret"})"));
    }
    std::vector<HttpResponse> responses(kClients);
    std::vector<std::thread> clients;
    // The threads only send: Boost.Test's checks are not thread-safe, so every answer is checked
    // here once they are done.
    for (int i = 0; i < kClients; ++i) {
      ClientOptions options;
      options.source_address = NextClientAddress();
      clients.emplace_back(
          [&, i, options] { responses[i] = SendRaw(server.port(), requests[i], options); });
    }
    for (std::thread& client : clients) client.join();
    for (const HttpResponse& response : responses) {
      server.CheckNoLeak(response, "register");
      if (response.status == 503) {
        ExpectProblem(response, 503, "shed register");
        ++unavailable;
      } else {
        const json::object body = ExpectJson(response, 200, "register under load");
        server.AddSensitive(StringMember(body, "adminKey"));
        ++registered;
      }
    }
  }
  BOOST_TEST_REQUIRE(unavailable >= 1, "no registration was shed");
  const std::string shed = RequestsSeries("public", "/{service}/1/register", 503);
  const std::string ok = RequestsSeries("public", "/{service}/1/register", 200);
  const std::string text = op.Metrics([&](const std::string& t) {
    return MetricSample(t, shed) == unavailable && MetricSample(t, ok) == registered;
  });
  BOOST_TEST(MetricSample(text, shed) == static_cast<double>(unavailable), text);
  BOOST_TEST(MetricSample(text, ok) == static_cast<double>(registered), text);
  BOOST_TEST(MetricSample(text, R"(credstore_http_pool_rejected_total{pool="hashing"})") ==
                 static_cast<double>(unavailable),
             text);
  BOOST_TEST(text.find("# TYPE credstore_http_pool_rejected_total counter\n") != std::string::npos);
}

// ---- The `credstore` command -------------------------------------------------------------------

BOOST_FIXTURE_TEST_CASE(cli_integrator_create_prints_the_new_integrator, ServerFixture,
                        *utf::precondition(HasCli)) {
  OperatorCalls op(server);
  const CliRun run = RunCliWithToken(server, {"integrator", "create", "--label", "Acme"});
  const json::object created = CliJson(run, "integrator create");
  BOOST_TEST(created.size() == 2u, run.out);
  const Integrator integrator{StringMember(created, "integratorId"),
                              StringMember(created, "secret")};
  server.AddSensitive(integrator.secret);
  BOOST_TEST(integrator.id.starts_with("int_"), run.out);
  const json::object described = op.Describe(integrator.id);
  BOOST_TEST(StringMember(described, "label") == "Acme");
  BOOST_TEST((described.at("enabled") == json::value(true)));
  server.RotateOk(integrator);
}

BOOST_FIXTURE_TEST_CASE(cli_integrator_show_list_disable_and_reset_secret, ServerFixture,
                        *utf::precondition(HasCli)) {
  OperatorCalls op(server);
  const Integrator integrator = op.Create("cli");
  const json::object shown =
      CliJson(RunCliWithToken(server, {"integrator", "show", integrator.id}), "integrator show");
  BOOST_TEST((json::value(shown) == json::value(op.Describe(integrator.id))));

  for (const std::vector<std::string>& list :
       {std::vector<std::string>{"integrator", "list"},
        std::vector<std::string>{"integrator", "list", "--limit", "1000"}}) {
    const json::object listed = CliJson(RunCliWithToken(server, list), "integrator list");
    int found = 0;
    for (const json::value& each : listed.at("integrators").as_array()) {
      found += StringMember(each.as_object(), "integratorId") == integrator.id ? 1 : 0;
    }
    BOOST_TEST(found == 1, "integrator list: " << json::serialize(listed));
  }

  const CliRun reset = RunCliWithToken(server, {"integrator", "reset-secret", integrator.id});
  const json::object secret = CliJson(reset, "integrator reset-secret");
  BOOST_TEST(secret.size() == 1u, reset.out);
  const Integrator current{integrator.id, StringMember(secret, "secret")};
  server.AddSensitive(current.secret);
  ExpectProblem(server.Rotate(integrator.id, integrator.secret), 401, "the secret before reset");

  const CliRun disabled = RunCliWithToken(server, {"integrator", "disable", integrator.id});
  BOOST_TEST((disabled.exited && disabled.code == 0), disabled.Describe());
  BOOST_TEST(disabled.out.empty(), "a 204 command prints nothing: " << disabled.out);
  BOOST_TEST((op.Describe(integrator.id).at("enabled") == json::value(false)));
  ExpectProblem(server.Rotate(current.id, current.secret), 401, "signed after disable");

  const CliRun enabled = RunCliWithToken(server, {"integrator", "enable", integrator.id});
  BOOST_TEST((enabled.exited && enabled.code == 0), enabled.Describe());
  BOOST_TEST((op.Describe(integrator.id).at("enabled") == json::value(true)));
  const Integrator after_enable = server.RotateOk(current);
  const CliRun deleted = RunCliWithToken(server, {"integrator", "delete", integrator.id});
  BOOST_TEST((deleted.exited && deleted.code == 0), deleted.Describe());
  ExpectProblem(server.Rotate(after_enable.id, after_enable.secret), 404, "signed after delete");
  const CliRun again = RunCliWithToken(server, {"integrator", "delete", integrator.id});
  BOOST_TEST((again.exited && again.code == 1), again.Describe());
  BOOST_TEST(again.err.find("404") != std::string::npos, again.Describe());

  const CliRun unknown = RunCliWithToken(server, {"integrator", "show", UnknownIntegratorId()});
  BOOST_TEST((unknown.exited && unknown.code == 1), unknown.Describe());
  BOOST_TEST(unknown.out.empty(), unknown.Describe());
  BOOST_TEST(unknown.err.find("404") != std::string::npos, unknown.Describe());
}

BOOST_FIXTURE_TEST_CASE(cli_customer_reset_and_delete_read_stdin, ServerFixture,
                        *utf::precondition(HasCli)) {
  Customer customer = server.NewCustomer();
  const std::string new_secret = NewSecret();
  server.AddSensitive(new_secret);
  const CliRun reset = RunCliWithToken(server, {"customer", "reset", "--service", "geofencing"},
                                       customer.key + "\n" + new_secret + "\n");
  const json::object body = CliJson(reset, "customer reset");
  customer.admin_key = StringMember(body, "adminKey");
  BOOST_TEST_REQUIRE(IsAdminKey(customer.admin_key), reset.out);
  server.AddSensitive(customer.admin_key);
  server.ExpectSettings(customer, "{}", "the admin key the command printed");
  customer.secret = new_secret;
  server.AddSensitive(StringMember(
      ExpectJson(server.RegenerateKey(customer, customer.secret), 200, "new secret"), "adminKey"));

  const CliRun deleted = RunCliWithToken(server, {"customer", "delete", "--service", "geofencing"},
                                         customer.key + "\n");
  BOOST_TEST((deleted.exited && deleted.code == 0), deleted.Describe());
  BOOST_TEST(deleted.out.empty(), deleted.Describe());
  ExpectProblem(server.RegenerateKey(customer, customer.secret), 401, "after customer delete");
}

BOOST_FIXTURE_TEST_CASE(cli_api_key_commands_report_409_when_provisioning_is_off, ServerFixture,
                        *utf::precondition(HasCli)) {
  const std::string key = NewApiKey();
  server.AddSensitive(key);
  const CliRun run =
      RunCliWithToken(server, {"api-key", "provision", "--service", "geofencing"}, key + "\n");
  BOOST_TEST((run.exited && run.code == 1), run.Describe());
  BOOST_TEST(run.out.empty(), run.Describe());
  BOOST_TEST(run.err.find("credstore: 409 Conflict") != std::string::npos, run.Describe());
  BOOST_TEST(run.err.find(key) == std::string::npos, "the API key is on stderr");
}

BOOST_FIXTURE_TEST_CASE(cli_api_key_provision_and_revoke, ProvisionedServerFixture,
                        *utf::precondition(HasCli)) {
  const std::string key = NewApiKey();
  server.AddSensitive(key);
  const CliRun provisioned =
      RunCliWithToken(server, {"api-key", "provision", "--service", "geofencing"}, key + "\n");
  BOOST_TEST((provisioned.exited && provisioned.code == 0), provisioned.Describe());
  BOOST_TEST(provisioned.out.empty(), provisioned.Describe());
  const std::string secret = NewSecret();
  server.AddSensitive(secret);
  server.AddSensitive(StringMember(
      ExpectJson(server.Register("geofencing", key, secret), 200, "register"), "adminKey"));
  const CliRun revoked =
      RunCliWithToken(server, {"api-key", "revoke", "--service", "geofencing"}, key + "\n");
  BOOST_TEST((revoked.exited && revoked.code == 0), revoked.Describe());
  ExpectProblem(server.Register("geofencing", key, secret), 401, "register after revoke");
  const CliRun again =
      RunCliWithToken(server, {"api-key", "revoke", "--service", "geofencing"}, key + "\n");
  BOOST_TEST((again.exited && again.code == 1), again.Describe());
  BOOST_TEST(again.err.find("404") != std::string::npos, again.Describe());
}

// credstore throttle clear: --address, or --customer with the API key on stdin; exactly one.
BOOST_AUTO_TEST_CASE(cli_throttle_clear, *utf::precondition(HasCli)) {
  Server server(ServerOptions{
      "minimum", {"--throttle-failures-per-address", "1", "--throttle-customer-burst", "2"}});
  const Customer customer = server.NewCustomer();
  const std::string locked_out = NextClientAddress();
  const auto regenerate = [&](std::string_view secret, const std::string& from) {
    return server.RegenerateKey(customer, secret, ClientOptions{from});
  };
  ExpectProblem(regenerate("secret-a-wrong-guess", locked_out), 401, "a wrong guess");
  ExpectProblem(regenerate(customer.secret, locked_out), 429, "locked out");
  const CliRun address = RunCliWithToken(server, {"throttle", "clear", "--address", locked_out});
  BOOST_TEST((address.exited && address.code == 0), address.Describe());
  server.AddSensitive(
      StringMember(ExpectJson(regenerate(customer.secret, locked_out), 200, "after"), "adminKey"));

  ExpectProblem(regenerate("secret-a-wrong-guess", NextClientAddress()), 401, "bucket");
  ExpectProblem(regenerate(customer.secret, NextClientAddress()), 429, "the bucket is spent");
  const CliRun cleared = RunCliWithToken(server, {"throttle", "clear", "--customer", "geofencing"},
                                         customer.key + "\n");
  BOOST_TEST((cleared.exited && cleared.code == 0), cleared.Describe());
  server.AddSensitive(StringMember(
      ExpectJson(regenerate(customer.secret, NextClientAddress()), 200, "after"), "adminKey"));

  // Exactly one of the two; nothing is sent otherwise.
  const CliRun neither = RunCliWithToken(server, {"throttle", "clear"});
  BOOST_TEST((neither.exited && neither.code == 2), neither.Describe());
  const CliRun both = RunCliWithToken(
      server, {"throttle", "clear", "--address", locked_out, "--customer", "geofencing"},
      customer.key + "\n");
  BOOST_TEST((both.exited && both.code == 2), both.Describe());
  const CliRun no_key = RunCliWithToken(server, {"throttle", "clear", "--customer", "geofencing"});
  BOOST_TEST((no_key.exited && no_key.code == 2), no_key.Describe());
  const CliRun bad = RunCliWithToken(server, {"throttle", "clear", "--address", "nowhere"});
  BOOST_TEST((bad.exited && bad.code == 1), bad.Describe());
  BOOST_TEST(bad.err.find("400") != std::string::npos, bad.Describe());
}

BOOST_FIXTURE_TEST_CASE(cli_token_rules, ServerFixture, *utf::precondition(HasCli)) {
  const std::string wrong_token = "optok-" + RandomAlnum(40);
  server.AddSensitive(wrong_token);
  server.AddSensitive(TokenOf(server));
  // No token: a usage error, nothing sent.
  const CliRun none = RunCli(CliArgs(server, {"integrator", "list"}), {}, std::nullopt);
  BOOST_TEST((none.exited && none.code == 2), none.Describe());
  BOOST_TEST(none.err.find("CREDSTORE_OPERATOR_TOKEN") != std::string::npos, none.Describe());
  // A wrong token: the listener's 401, exit 1.
  const CliRun wrong = RunCli(CliArgs(server, {"integrator", "list"}), {}, wrong_token);
  BOOST_TEST((wrong.exited && wrong.code == 1), wrong.Describe());
  BOOST_TEST(wrong.err.find("credstore: 401 Unauthorized") != std::string::npos, wrong.Describe());
  BOOST_TEST(wrong.err.find(wrong_token) == std::string::npos, "the wrong token is echoed");
  // The token is never a flag.
  const CliRun flag =
      RunCli(CliArgs(server, {"--token", TokenOf(server), "integrator", "list"}), {}, {});
  BOOST_TEST((flag.exited && flag.code == 2), flag.Describe());
  BOOST_TEST(flag.err.find(TokenOf(server)) == std::string::npos, "the flag's token is echoed");
  // health needs none; metrics needs it.
  const CliRun health = RunCli(CliArgs(server, {"health"}), {}, std::nullopt);
  BOOST_TEST((json::value(CliJson(health, "health")) == json::parse(R"({"status":"ok"})")));
  const CliRun metrics = RunCliWithToken(server, {"metrics"});
  BOOST_TEST((metrics.exited && metrics.code == 0), metrics.Describe());
  BOOST_TEST(metrics.out.find("# TYPE credstore_http_requests_total counter") != std::string::npos,
             metrics.Describe());
  // Nobody reached the listener with a secret on its command line: the log holds neither token.
  server.Stop();
}

// docs/operations.md: the operator token has at least 16 characters. A shorter one, from the
// environment or from --operator-token-file, stops credstored at start (exit 2) with a message
// naming the rule and never the token.
BOOST_AUTO_TEST_CASE(a_short_operator_token_refuses_to_start) {
  for (const bool from_file : {false, true}) {
    BOOST_TEST_CONTEXT((from_file ? "--operator-token-file" : "CREDSTORE_OPERATOR_TOKEN")) {
      credstore::testing::TempDir dir("credstore-short-token");
      const std::string token = "short-" + RandomAlnum(9);  // 15 characters
      CredstoredConfig config;
      config.binary = Args().credstored;
      config.storage_uri = "memory://";
      config.key_file = dir.path() / "credstore.keys";
      config.work_dir = dir.path();
      if (from_file) {
        const auto file = dir.path() / "operator.token";
        std::ofstream(file) << token << "\n";
        chmod(file.c_str(), 0600);
        config.extra_args = {"--operator-token-file", file.string()};
        config.operator_token = "";  // the file is the only source
      } else {
        config.operator_token = token;
      }
      const std::string log =
          ExpectStartupRefusal(config, "credstored started with a 15-character token");
      BOOST_TEST(log.find("at least 16 characters") != std::string::npos, log);
      BOOST_TEST(log.find(token) == std::string::npos, "the log names the token");
    }
  }
}

// Failed token attempts are throttled per client address: after 10 in a minute the answer is
// 429 with Retry-After, before the token is even looked at (the right token from that address
// too), while another address with the right token is served.
BOOST_FIXTURE_TEST_CASE(failed_token_attempts_are_throttled_per_address, ServerFixture) {
  const std::string list = "GET /v1/integrators HTTP/1.1\r\nHost: 127.0.0.1\r\n";
  const ClientOptions attacker{NextClientAddress()};
  const auto send = [&](const ClientOptions& from, std::string_view token) {
    const std::string request = list + Bearer(token) + "Connection: close\r\n\r\n";
    return SendRaw(server.operator_port(), request, from);
  };
  const std::string wrong = "optok-" + RandomAlnum(40);
  for (int attempt = 1; attempt <= 10; ++attempt) {
    ExpectProblem(send(attacker, wrong), 401, "failed attempt " + std::to_string(attempt));
  }
  const HttpResponse throttled = send(attacker, wrong);
  ExpectProblem(throttled, 429, "the 11th failed attempt");
  const int retry_after = std::atoi(throttled.Header("Retry-After").value_or("0").c_str());
  BOOST_TEST((retry_after >= 1 && retry_after <= 60), throttled.Describe());
  ExpectProblem(send(attacker, TokenOf(server)), 429, "the right token, from the same address");
  // Another address is not locked out.
  const HttpResponse other = send(ClientOptions{NextClientAddress()}, TokenOf(server));
  BOOST_TEST(other.status == 200u, other.Describe());
  // /healthz needs no token, and is never throttled.
  const HttpResponse health =
      SendRaw(server.operator_port(),
              "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n", attacker);
  BOOST_TEST(health.status == 200u, health.Describe());
}

// One request over a unix socket from a child process running as `uid`: the answer's status,
// 0 when none came. A child, because only a process of that uid makes SO_PEERCRED say it.
unsigned SendOverSocketAs(const std::filesystem::path& path, const std::string& request,
                          uid_t uid) {
  int out[2];
  if (pipe(out) != 0) return 0;
  const pid_t child = fork();
  if (child == 0) {
    close(out[0]);
    if (uid != geteuid() && setuid(uid) != 0) _exit(1);
    const int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    std::snprintf(address.sun_path, sizeof address.sun_path, "%s", path.c_str());
    const timeval timeout{5, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
    if (connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) _exit(2);
    if (write(fd, request.data(), request.size()) != static_cast<ssize_t>(request.size())) {
      _exit(3);
    }
    char buffer[4096];
    ssize_t got = 0;
    while ((got = read(fd, buffer, sizeof buffer)) > 0) {
      if (write(out[1], buffer, static_cast<std::size_t>(got)) != got) _exit(4);
    }
    _exit(0);
  }
  close(out[1]);
  std::string answer;
  char buffer[4096];
  ssize_t got = 0;
  while ((got = read(out[0], buffer, sizeof buffer)) > 0) {
    answer.append(buffer, static_cast<std::size_t>(got));
  }
  close(out[0]);
  int status = 0;
  waitpid(child, &status, 0);
  // "HTTP/1.1 429 Too Many Requests"
  if (answer.size() < 12 || !answer.starts_with("HTTP/1.1 ")) return 0;
  return static_cast<unsigned>(std::atoi(answer.c_str() + 9));
}

bool IsRoot(utf::test_unit_id) { return geteuid() == 0; }

// On a unix-socket operator listener failed tokens are counted per peer uid (SO_PEERCRED): a
// local user who keeps failing is throttled, and another user (here root) is not.
BOOST_AUTO_TEST_CASE(failed_tokens_on_the_operator_socket_are_throttled_per_uid,
                     *utf::precondition(IsRoot)) {
  constexpr uid_t kNobody = 65534;
  credstore::testing::TempDir dir("credstore-operator-socket");
  chmod(dir.path().c_str(), 0755);  // nobody must reach the socket inside
  CredstoredConfig config;
  config.binary = Args().credstored;
  config.storage_uri = "memory://";
  config.key_file = dir.path() / "credstore.keys";
  config.work_dir = dir.path();
  config.operator_token = "optok-" + RandomAlnum(40);
  config.operator_socket = dir.path() / "operator.sock";
  CredstoredProcess process(config);
  process.Start();
  // The socket is 0600: give it to nobody, whom root can still reach.
  BOOST_TEST_REQUIRE(chown(config.operator_socket.c_str(), kNobody, kNobody) == 0);
  const auto list = [](std::string_view token) {
    return "GET /v1/integrators HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer " +
           std::string(token) + "\r\nConnection: close\r\n\r\n";
  };
  const std::string wrong = "optok-" + RandomAlnum(40);
  for (int attempt = 1; attempt <= 10; ++attempt) {
    BOOST_TEST(SendOverSocketAs(config.operator_socket, list(wrong), kNobody) == 401u,
               "nobody's failed attempt " << attempt);
  }
  BOOST_TEST(SendOverSocketAs(config.operator_socket, list(wrong), kNobody) == 429u);
  BOOST_TEST(SendOverSocketAs(config.operator_socket, list(config.operator_token), kNobody) ==
             429u);
  // Another local user is not locked out by nobody's failures.
  BOOST_TEST(SendOverSocketAs(config.operator_socket, list(config.operator_token), 0) == 200u);
  const ExitInfo stopped = process.Stop();
  BOOST_TEST((stopped.exited && stopped.code == 0), stopped.Describe());
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace credstore::http_tests
