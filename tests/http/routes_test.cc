// Every public route and status code of docs/http.md, over HTTP, against a real credstored.
#include <algorithm>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/test/unit_test.hpp>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "http/http_test_env.h"

#ifdef CREDSTORE_HTTP_TESTS_WITH_REDIS
#include "redis/redis_server_fixture.h"
#endif

namespace credstore::http_tests {
namespace {

namespace json = boost::json;

bool HasNoStore(const HttpResponse& response) {
  return response.Header("Cache-Control").value_or("").find("no-store") != std::string::npos;
}

std::string AdminKeyOf(const json::object& body) {
  const json::value* key = body.if_contains("adminKey");
  return key != nullptr && key->is_string() ? std::string(key->as_string()) : std::string();
}

// A problem without its per-request `instance`, for comparing two answers.
json::object WithoutInstance(json::object problem) {
  problem.erase("instance");
  return problem;
}

// "2026-11-23T08:00:00.000Z" as Unix milliseconds, or -1 when it is not in that form.
std::int64_t ParseIsoMillis(std::string_view text) {
  int year = 0, month = 0, day = 0, hour = 0, minute = 0, second = 0, millis = 0;
  char tail = 0;
  if (text.size() != 24 ||
      std::sscanf(std::string(text).c_str(), "%4d-%2d-%2dT%2d:%2d:%2d.%3d%c", &year, &month, &day,
                  &hour, &minute, &second, &millis, &tail) != 8 ||
      tail != 'Z') {
    return -1;
  }
  // Days from civil (Howard Hinnant's algorithm).
  year -= month <= 2 ? 1 : 0;
  const int era = (year >= 0 ? year : year - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(year - era * 400);
  const unsigned doy = (153 * static_cast<unsigned>(month + (month > 2 ? -3 : 9)) + 2) / 5 +
                       static_cast<unsigned>(day) - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  const std::int64_t days = static_cast<std::int64_t>(era) * 146097 + doe - 719468;
  return ((days * 24 + hour) * 60 + minute) * 60000 + second * 1000 + millis;
}

// Rotates and checks oldSecretExpiresAt: absent when `expected_grace_ms` is 0, otherwise about
// now + grace. Returns the rotated integrator.
Integrator RotateExpecting(Server& server, const Integrator& integrator, std::string_view body,
                           std::int64_t expected_grace_ms) {
  const std::int64_t before = NowMillis();
  const HttpResponse response = server.Rotate(integrator.id, integrator.secret, body);
  const std::int64_t after = NowMillis();
  const json::object reply = ExpectJson(response, 200, "regenerate-secret " + std::string(body));
  BOOST_TEST_REQUIRE(response.status == 200u);
  BOOST_TEST(HasNoStore(response), "regenerate-secret without Cache-Control: no-store");
  const json::value* secret = reply.if_contains("secret");
  BOOST_TEST_REQUIRE((secret != nullptr && secret->is_string() && !secret->as_string().empty()));
  const json::value* expires = reply.if_contains("oldSecretExpiresAt");
  if (expected_grace_ms == 0) {
    BOOST_TEST(expires == nullptr,
               "body " << body << ": oldSecretExpiresAt must be absent: " << response.body);
    BOOST_TEST(reply.size() == 1u, response.body);
  } else {
    BOOST_TEST_REQUIRE((expires != nullptr && expires->is_string()),
                       "body " << body << ": oldSecretExpiresAt missing: " << response.body);
    const std::int64_t at = ParseIsoMillis(expires->as_string());
    BOOST_TEST(at >= 0, "not an ISO 8601 UTC timestamp with milliseconds: " << *expires);
    // Generous margins: the server's clock is ours, but the request takes time under load.
    BOOST_TEST(at >= before + expected_grace_ms - 1000, "expires too early: " << *expires);
    BOOST_TEST(at <= after + expected_grace_ms + 1000, "expires too late: " << *expires);
    BOOST_TEST(reply.size() == 2u, response.body);
  }
  Integrator rotated{integrator.id, std::string(secret->as_string())};
  server.AddSensitive(rotated.secret);
  return rotated;
}

// GET /metrics on the operator listener, with the server's operator token.
HttpResponse Metrics(Server& server) {
  return server.SendOperator(
      BuildRequest("GET", "/metrics",
                   "Authorization: Bearer " + server.process().config().operator_token + "\r\n"));
}

}  // namespace

BOOST_AUTO_TEST_SUITE(routes)

BOOST_FIXTURE_TEST_CASE(healthz_answers_on_both_listeners, ServerFixture) {
  const HttpResponse response = server.Get("/healthz");
  BOOST_TEST(response.status == 200u, response.Describe());
  const HttpResponse operator_response = server.SendOperator(BuildRequest("GET", "/healthz"));
  BOOST_TEST(operator_response.status == 200u, operator_response.Describe());
}

BOOST_FIXTURE_TEST_CASE(readyz_answers_ready_on_both_listeners, ServerFixture) {
  for (const bool on_operator : {false, true}) {
    const std::string what = on_operator ? "operator GET /readyz" : "public GET /readyz";
    const HttpResponse response =
        on_operator ? server.SendOperator(BuildRequest("GET", "/readyz")) : server.Get("/readyz");
    const json::object body = ExpectJson(response, 200, what);
    BOOST_TEST((json::value(body) == json::parse(R"({"status":"ready","writes":"available"})")),
               response.Describe());
    BOOST_TEST(HasNoStore(response), what);
  }
  const HttpResponse metrics = Metrics(server);
  BOOST_TEST(metrics.body.find("\ncredstore_storage_writes_available 1\n") != std::string::npos,
             metrics.Describe());
}

// RocksDB below its free-space reserve (a reserve larger than any disk stands for a full one):
// credstored starts read-only instead of crashing, stays ready for reads, and answers every
// write — a signed request's replay record and a wrong secret's throttle counts included — 503
// with Retry-After. tests/durability/full_disk_test.cc fills a real disk and frees it again.
BOOST_FIXTURE_TEST_CASE(below_the_free_disk_reserve_reads_answer_and_writes_are_503,
                        ServerFixture) {
  if (Args().backend != Backend::kRocksDb) return;  // the reserve is RocksDB's
  const Customer customer = server.NewCustomer();
  server.PostSettings(customer, R"({"zone":"kept"})");
  const Integrator integrator = server.NewIntegrator();
  server.Stop();
  server.Relaunch({"--min-free-disk", "1048576"});

  for (const bool on_operator : {false, true}) {
    const std::string what = on_operator ? "operator GET /readyz" : "public GET /readyz";
    const HttpResponse ready =
        on_operator ? server.SendOperator(BuildRequest("GET", "/readyz")) : server.Get("/readyz");
    const json::object body = ExpectJson(ready, 200, what);
    BOOST_TEST(body.at("writes").as_string() == "unavailable", ready.Describe());
    // Why, for operators only: the message names the folder and the backend.
    BOOST_TEST(body.contains("writes_detail") == on_operator, ready.Describe());
  }
  const HttpResponse metrics = Metrics(server);
  BOOST_TEST(metrics.body.find("\ncredstore_storage_writes_available 0\n") != std::string::npos,
             metrics.Describe());

  server.ExpectSettings(customer, R"({"zone":"kept"})", "settings below the reserve");
  ExpectProblem(server.PostSettings(customer, R"({"zone":"new"})"), 503, "settings write");
  ExpectProblem(server.Register("geofencing", NewApiKey(), NewSecret()), 503, "register");
  ExpectProblem(server.RegenerateKey(customer, "not the secret"), 503, "a wrong secret");
  ExpectProblem(server.Rotate(integrator.id, integrator.secret), 503, "a signed request");

  server.Stop();
  server.Relaunch({});
  ExpectJson(server.PostSettings(customer, R"({"zone":"new"})"), 200, "settings with room");
  server.ExpectSettings(customer, R"({"zone":"new"})", "settings with room");
}

BOOST_FIXTURE_TEST_CASE(register_answers_200_once_then_403, ServerFixture) {
  for (const std::string service : {"geofencing", "locationHistory"}) {
    BOOST_TEST_CONTEXT("service " << service) {
      const std::string key = NewApiKey();
      const std::string secret = NewSecret();
      server.AddSensitive(key);
      server.AddSensitive(secret);
      const HttpResponse first = server.Register(service, key, secret);
      const json::object body = ExpectJson(first, 200, "first register");
      BOOST_TEST(HasNoStore(first), "register without Cache-Control: no-store");
      BOOST_TEST(body.size() == 1u, first.body);
      const std::string admin_key = AdminKeyOf(body);
      BOOST_TEST(IsAdminKey(admin_key), "not 48 characters of [A-Za-z0-9]: " << admin_key);
      server.AddSensitive(admin_key);

      ExpectProblem(server.Register(service, key, secret), 403, "second register, same secret");
      ExpectProblem(server.Register(service, key, NewSecret()), 403,
                    "second register, other secret");
      // The refused registrations changed nothing.
      server.ExpectSettings(Customer{service, key, secret, admin_key}, "{}",
                            "settings after the refused registrations");
    }
  }
}

BOOST_FIXTURE_TEST_CASE(services_hold_separate_configurations, ServerFixture) {
  const Customer geofencing = server.NewCustomer("geofencing");
  const HttpResponse other = server.Register("locationHistory", geofencing.key, NewSecret());
  const json::object body = ExpectJson(other, 200, "same key, other service");
  const std::string other_admin_key = AdminKeyOf(body);
  server.AddSensitive(other_admin_key);
  BOOST_TEST(other_admin_key != geofencing.admin_key);
  ExpectProblem(server.GetSettings("locationHistory", geofencing.key, geofencing.admin_key), 401,
                "one service's admin key on another service");
  server.ExpectSettings(geofencing, "{}", "geofencing settings");
}

BOOST_FIXTURE_TEST_CASE(register_answers_400_and_keeps_the_key_free, ServerFixture) {
  const std::string key = NewApiKey();
  server.AddSensitive(key);
  ExpectProblem(server.Register("geofencing", key, ""), 400, "empty secret");
  ExpectProblem(server.Post("/geofencing/1/register?key=" + key, R"({"secret":42})"), 400,
                "secret not a string");
  ExpectProblem(server.Post("/geofencing/1/register", R"({"secret":"long-enough-secret"})"), 400,
                "no key");
  const std::string secret = NewSecret();
  server.AddSensitive(secret);
  ExpectJson(server.Register("geofencing", key, secret), 200, "register after the 400s");
}

BOOST_FIXTURE_TEST_CASE(regenerate_key_replaces_the_admin_key, ServerFixture) {
  Customer customer = server.NewCustomer();
  const HttpResponse response = server.RegenerateKey(customer, customer.secret);
  const json::object body = ExpectJson(response, 200, "regenerateKey");
  BOOST_TEST(HasNoStore(response), "regenerateKey without Cache-Control: no-store");
  BOOST_TEST(body.size() == 1u, response.body);
  const std::string new_key = AdminKeyOf(body);
  BOOST_TEST(IsAdminKey(new_key), new_key);
  BOOST_TEST(new_key != customer.admin_key);
  server.AddSensitive(new_key);
  // The old key is revoked at once (default grace 0).
  ExpectProblem(server.GetSettings(customer), 401, "old admin key after regenerateKey");
  customer.admin_key = new_key;
  server.ExpectSettings(customer, "{}", "new admin key");
  // Explicit 0 is the same.
  const HttpResponse again =
      server.RegenerateKey(customer, customer.secret, R"("oldKeyValidForSeconds":0)");
  const std::string third_key = AdminKeyOf(ExpectJson(again, 200, "regenerateKey with 0"));
  server.AddSensitive(third_key);
  ExpectProblem(server.GetSettings(customer), 401, "old admin key after a 0 s grace");
}

BOOST_FIXTURE_TEST_CASE(regenerate_key_grace_keeps_one_old_key, ServerFixture) {
  Customer customer = server.NewCustomer();
  const std::string key1 = customer.admin_key;
  auto rotate = [&](std::string_view grace) {
    const HttpResponse response = server.RegenerateKey(customer, customer.secret, grace);
    const std::string key = AdminKeyOf(ExpectJson(response, 200, "regenerateKey"));
    BOOST_TEST_REQUIRE(IsAdminKey(key));
    server.AddSensitive(key);
    return key;
  };
  auto opens = [&](const std::string& admin_key) {
    return server.GetSettings(customer.service, customer.key, admin_key).status;
  };
  const std::string key2 = rotate(R"("oldKeyValidForSeconds":3600)");
  BOOST_TEST(opens(key1) == 200u, "graced old key");
  BOOST_TEST(opens(key2) == 200u, "new key");
  const std::string key3 = rotate(R"("oldKeyValidForSeconds":3600)");
  BOOST_TEST(opens(key1) == 401u, "an older graced key is dropped");
  BOOST_TEST(opens(key2) == 200u, "the key just replaced is graced");
  BOOST_TEST(opens(key3) == 200u);
  const std::string key4 = rotate(R"("oldKeyValidForSeconds":0)");
  BOOST_TEST(opens(key2) == 401u);
  BOOST_TEST(opens(key3) == 401u, "grace 0 revokes at once");
  BOOST_TEST(opens(key4) == 200u);
}

BOOST_FIXTURE_TEST_CASE(regenerate_key_401_alike_for_wrong_secret_and_unknown_key, ServerFixture) {
  const Customer customer = server.NewCustomer();
  const std::string wrong = NewSecret();
  server.AddSensitive(wrong);
  const HttpResponse wrong_secret = server.RegenerateKey(customer, wrong);
  const json::object wrong_problem = ExpectProblem(wrong_secret, 401, "wrong secret");
  Customer unknown{customer.service, NewApiKey(), customer.secret, {}};
  server.AddSensitive(unknown.key);
  const HttpResponse unknown_key = server.RegenerateKey(unknown, customer.secret);
  const json::object unknown_problem = ExpectProblem(unknown_key, 401, "unregistered key");
  BOOST_TEST((WithoutInstance(wrong_problem) == WithoutInstance(unknown_problem)),
             "the two 401s differ:\n"
                 << wrong_secret.body << "\n"
                 << unknown_key.body);
  BOOST_TEST((wrong_secret.Header("WWW-Authenticate") == unknown_key.Header("WWW-Authenticate")));
  BOOST_TEST((wrong_secret.Header("Content-Type") == unknown_key.Header("Content-Type")));
  server.ExpectSettings(customer, "{}", "admin key after the failed regenerateKey");
}

BOOST_FIXTURE_TEST_CASE(update_secret_answers_204_and_keeps_the_admin_key, ServerFixture) {
  Customer customer = server.NewCustomer();
  const std::string new_secret = NewSecret();
  server.AddSensitive(new_secret);
  const HttpResponse response = server.UpdateSecret(customer, customer.secret, new_secret);
  BOOST_TEST(response.status == 204u, response.Describe());
  BOOST_TEST(response.body.empty(), response.Describe());
  // A 204 has no body and so no framing: RFC 9110 §8.6 forbids Content-Length on it.
  BOOST_TEST(response.HeaderCount("Content-Length") == 0u, response.Describe());
  BOOST_TEST(response.HeaderCount("Transfer-Encoding") == 0u, response.Describe());
  server.ExpectSettings(customer, "{}", "admin key after updateSecret");
  ExpectProblem(server.RegenerateKey(customer, customer.secret), 401, "old secret");
  ExpectProblem(server.UpdateSecret(customer, customer.secret, NewSecret()), 401,
                "updateSecret with the old secret");
  server.ExpectSettings(customer, "{}", "admin key after the 401s");
  customer.secret = new_secret;
  const HttpResponse regenerated = server.RegenerateKey(customer, customer.secret);
  server.AddSensitive(AdminKeyOf(ExpectJson(regenerated, 200, "regenerateKey with new secret")));
}

BOOST_FIXTURE_TEST_CASE(update_secret_answers_400_and_401, ServerFixture) {
  const Customer customer = server.NewCustomer();
  ExpectProblem(server.Post("/geofencing/1/updateSecret?key=" + customer.key,
                            R"({"secret":")" + customer.secret + R"("})"),
                400, "no newSecret");
  ExpectProblem(server.UpdateSecret(customer, customer.secret, ""), 400, "empty newSecret");
  const Customer unknown{"geofencing", NewApiKey(), NewSecret(), {}};
  server.AddSensitive(unknown.key);
  server.AddSensitive(unknown.secret);
  ExpectProblem(server.UpdateSecret(unknown, unknown.secret, NewSecret()), 401, "unknown key");
  // The secret is unchanged: it still updates.
  BOOST_TEST(server.UpdateSecret(customer, customer.secret, customer.secret).status == 204u);
}

BOOST_FIXTURE_TEST_CASE(settings_round_trip, ServerFixture) {
  Customer customer = server.NewCustomer("locationHistory");
  const HttpResponse empty = server.GetSettings(customer);
  const json::object initial = ExpectJson(empty, 200, "settings before any POST");
  BOOST_TEST(initial.empty(), empty.body);

  const std::string document =
      R"({"zones":[1,2.5,"three"],"name":"Z\u00fcrich \u2615","nested":{"a":null,"b":true}})";
  const HttpResponse stored = server.PostSettings(customer, document);
  const json::object echoed = ExpectJson(stored, 200, "POST settings");
  BOOST_TEST((json::value(echoed) == json::parse(document)), stored.body);
  server.ExpectSettings(customer, document, "GET after POST");

  const HttpResponse replaced = server.PostSettings(customer, R"({"only":1})");
  ExpectJson(replaced, 200, "second POST");
  server.ExpectSettings(customer, R"({"only":1})", "a POST replaces the document");
}

// What GET returns is byte for byte what POST stored and echoed: numbers as the client wrote
// them (Boost.JSON 1.81 reads some doubles inexactly, so re-serializing changed them), escapes
// as sent; only whitespace outside strings is dropped.
BOOST_FIXTURE_TEST_CASE(settings_come_back_byte_for_byte, ServerFixture) {
  const Customer customer = server.NewCustomer();
  const std::string sent =
      "{ \"min\": 2.2250738585072011e-308, \"big\":1.7976931348623157E308,\n"
      "  \"int\":12345678901234567890, \"tiny\":5e-324, \"text\":\"a b\\u00e9\\/\\\"\",\n"
      "  \"list\":[ 1.0, -0.0, 1e2 ] }";
  const std::string stored =
      "{\"min\":2.2250738585072011e-308,\"big\":1.7976931348623157E308,"
      "\"int\":12345678901234567890,\"tiny\":5e-324,\"text\":\"a b\\u00e9\\/\\\"\","
      "\"list\":[1.0,-0.0,1e2]}";
  const HttpResponse posted = server.PostSettings(customer, sent);
  ExpectJson(posted, 200, "POST settings");
  BOOST_TEST(posted.body == stored);
  const HttpResponse got = server.GetSettings(customer);
  ExpectJson(got, 200, "GET settings");
  BOOST_TEST(got.body == stored);
}

#ifdef CREDSTORE_HTTP_TESTS_WITH_REDIS
// A 503 on the public listener tells an anonymous client only that storage is unavailable,
// never how the backend failed ("redis: cannot connect: No such file or directory"); the
// server's log keeps the cause with the request id, and the operator listener keeps the detail.
// Its own Redis, stopped under a running credstored (the shared one serves other cases).
BOOST_AUTO_TEST_CASE(a_storage_outage_is_only_storage_unavailable_to_the_public) {
  credstore::testing::RedisServerFixture redis;
  credstore::testing::TempDir dir("credstore-http-outage");
  CredstoredConfig config;
  config.binary = Args().credstored;
  config.storage_uri = redis.unix_uri();
  config.key_file = dir.path() / "credstore.keys";
  config.work_dir = dir.path();
  config.operator_token = "optok-" + RandomAlnum(40);
  const std::string verifier_token = "vt-" + RandomAlnum(40);
  {
    std::ofstream tokens(dir.path() / "verifier.tokens");
    tokens << "outage * " << verifier_token << "\n";
  }
  config.extra_args = {"--verifier-token-file", (dir.path() / "verifier.tokens").string()};
  CredstoredProcess process(config);
  process.Start();
  const std::string secret_body = R"({"secret":"outage-secret-value"})";
  const auto register_request = [&] {
    return BuildRequest("POST", "/geofencing/1/register?key=" + NewApiKey(),
                        "Content-Type: application/json\r\n", secret_body);
  };
  const HttpResponse before = SendRaw(process.port(), register_request());
  BOOST_TEST_REQUIRE(before.status == 200u, before.Describe());

  redis.Stop();
  const HttpResponse down = SendRaw(process.port(), register_request());
  const json::object problem = ExpectProblem(down, 503, "register with Redis stopped");
  BOOST_TEST(problem.if_contains("detail") != nullptr);
  if (problem.if_contains("detail") != nullptr) {
    BOOST_TEST(problem.at("detail") == "storage unavailable", down.Describe());
  }
  BOOST_TEST(down.body.find("redis") == std::string::npos, down.Describe());
  // The verify routes are public too.
  const HttpResponse verify_down = SendRaw(
      process.port(), BuildRequest("POST", "/v1/verify/admin-key",
                                   "Content-Type: application/json\r\nAuthorization: Bearer " +
                                       verifier_token + "\r\n",
                                   R"({"service":"geofencing","apiKey":")" + NewApiKey() +
                                       R"(","adminKey":"not-a-key-at-all"})"));
  const json::object verify_problem = ExpectProblem(verify_down, 503, "verify with Redis stopped");
  BOOST_TEST(verify_problem.at("detail") == "storage unavailable", verify_down.Describe());
  // The log line with this request's id holds the cause.
  const std::string instance(problem.at("instance").as_string());
  const std::string request_id = instance.substr(instance.rfind(':') + 1);
  const std::string log = process.Log();
  bool logged = false;
  std::size_t start = 0;
  while (start < log.size()) {
    const std::size_t end = std::min(log.find('\n', start), log.size());
    const std::string_view line(log.data() + start, end - start);
    logged = logged || (line.find(request_id) != std::string_view::npos &&
                        line.find("redis") != std::string_view::npos);
    start = end + 1;
  }
  BOOST_TEST(logged, "no log line with request id " << request_id << " and the cause:\n" << log);
  // The operator listener keeps the backend's own message.
  const HttpResponse operator_down =
      SendRaw(process.operator_port(),
              BuildRequest("GET", "/v1/integrators",
                           "Authorization: Bearer " + config.operator_token + "\r\n"));
  ExpectProblem(operator_down, 503, "operator list with Redis stopped");
  BOOST_TEST(operator_down.body.find("redis") != std::string::npos, operator_down.Describe());

  redis.Start();
  const ExitInfo stopped = process.Stop();
  BOOST_TEST((stopped.exited && stopped.code == 0), stopped.Describe());
}
#endif

#ifdef CREDSTORE_HTTP_TESTS_WITH_REDIS
// A credstored over its own Redis, which a test may stop, flush or reconfigure under it.
struct OwnRedisServer {
  OwnRedisServer() : dir("credstore-http-readyz") {
    config.binary = Args().credstored;
    config.storage_uri = redis.unix_uri();
    config.key_file = dir.path() / "credstore.keys";
    config.work_dir = dir.path();
    config.operator_token = "optok-" + RandomAlnum(40);
    process.emplace(config);
    process->Start();
  }
  ~OwnRedisServer() {
    if (!redis.running()) redis.Start();
    const ExitInfo stopped = process->Stop();
    BOOST_TEST((stopped.exited && stopped.code == 0), stopped.Describe());
  }

  HttpResponse Probe(bool on_operator, std::string_view path) {
    return SendRaw(on_operator ? process->operator_port() : process->port(),
                   BuildRequest("GET", path));
  }
  // Requires /healthz 200 on both listeners, and /readyz `ready` ? 200 : 503 on both; a 503
  // says only "storage unavailable" to the public, and more (`operator_detail`) to the operator.
  void ExpectProbes(bool ready, std::string_view operator_detail, std::string_view what) {
    for (const bool on_operator : {false, true}) {
      const std::string where = std::string(what) + (on_operator ? " (operator)" : " (public)");
      ExpectJson(Probe(on_operator, "/healthz"), 200, where + ": /healthz");
      const HttpResponse readyz = Probe(on_operator, "/readyz");
      if (ready) {
        ExpectJson(readyz, 200, where + ": /readyz");
        continue;
      }
      const json::object problem = ExpectProblem(readyz, 503, where + ": /readyz");
      const std::string detail = problem.if_contains("detail") != nullptr
                                     ? std::string(problem.at("detail").as_string())
                                     : std::string();
      if (on_operator) {
        BOOST_TEST(detail.find(operator_detail) != std::string::npos, where << ": " << detail);
      } else {
        BOOST_TEST(detail == "storage unavailable", where);
        BOOST_TEST(readyz.body.find("redis") == std::string::npos, readyz.Describe());
      }
    }
  }
  // Polls the public /readyz until it answers `status` (bounded by `limit`); true if it did.
  bool WaitForReadyz(unsigned status, std::chrono::seconds limit) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (Probe(false, "/readyz").status != status) {
      if (std::chrono::steady_clock::now() > deadline) return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return true;
  }

  credstore::testing::RedisServerFixture redis;
  credstore::testing::TempDir dir;
  CredstoredConfig config;
  std::optional<CredstoredProcess> process;
};

// credstored over Redis with the near-cache: verifications are answered from it (its counters
// reach /metrics through StorageBackend::Counters, which the adapter renders without knowing
// the backend), and a regenerated admin key is refused at once by the instance that made it.
BOOST_AUTO_TEST_CASE(the_redis_near_cache_serves_verifications_and_reports_in_metrics) {
  credstore::testing::RedisServerFixture redis;
  ServerOptions options;
  options.storage_uri = redis.unix_uri() + "?cache=on";
  Server server(options);
  const std::string metrics = server.MetricsText();
  for (const std::string_view line :
       {"# TYPE credstore_storage_redis_cache_hits_total counter\n",
        "# TYPE credstore_storage_redis_cache_flushes_total counter\n",
        "# TYPE credstore_storage_redis_cache_entries gauge\n"}) {
    BOOST_TEST(metrics.find(line) != std::string::npos, line);
  }

  Customer customer = server.NewCustomer();
  for (int i = 0; i < 3; ++i) ExpectJson(server.GetSettings(customer), 200, "settings");
  const std::string after = server.MetricsText();
  BOOST_TEST(after.find("\ncredstore_storage_redis_cache_hits_total ") != std::string::npos);
  BOOST_TEST(after.find("\ncredstore_storage_redis_cache_hits_total 0\n") == std::string::npos,
             after);

  const std::string old_admin_key = customer.admin_key;
  const boost::json::object regenerated =
      ExpectJson(server.RegenerateKey(customer, customer.secret), 200, "regenerateKey");
  customer.admin_key = std::string(regenerated.at("adminKey").as_string());
  ExpectJson(server.GetSettings(customer), 200, "the new admin key");
  ExpectProblem(server.GetSettings(customer.service, customer.key, old_admin_key), 401,
                "the old admin key, at once");
}

// /healthz says the process answers; /readyz says whether it should get traffic.
BOOST_AUTO_TEST_CASE(readyz_is_503_while_redis_is_down_and_200_once_it_is_back) {
  OwnRedisServer server;
  server.ExpectProbes(true, {}, "Redis up");
  server.redis.Stop();
  server.ExpectProbes(false, "redis", "Redis stopped");
  server.redis.Start();
  BOOST_TEST_REQUIRE(server.WaitForReadyz(200, std::chrono::seconds(10)),
                     "/readyz did not recover after Redis came back");
  server.ExpectProbes(true, {}, "Redis back");
}

// A store that lost its data is not ready, even though Redis answers, and a valid admin key on it
// answers 503, never 401 (which would tell its customer the key is wrong): whether Redis
// restarted empty (noticed on the first request, since every connection is new) or was flushed
// under open connections (noticed by the backend's canary check, every second). Only a restart
// of credstored may decide that the store starts over empty.
BOOST_AUTO_TEST_CASE(a_valid_admin_key_answers_503_not_401_after_redis_lost_its_data) {
  for (const bool restart_empty : {true, false}) {
    const std::string what = restart_empty ? "Redis restarted empty" : "Redis flushed";
    credstore::testing::RedisServerFixture redis;
    ServerOptions options;
    options.storage_uri = redis.unix_uri();
    Server server(options);
    const auto operator_readyz = [&server] {
      return server.SendOperator(BuildRequest("GET", "/readyz"));
    };
    const Customer customer = server.NewCustomer();
    ExpectJson(server.GetSettings(customer), 200, what + ": settings before");
    ExpectJson(server.Get("/readyz"), 200, what + ": /readyz before");

    if (restart_empty) {
      redis.Stop();
      redis.WipeData();
      redis.Start();
    } else {
      BOOST_TEST_REQUIRE(redis.Command({"FLUSHALL"}) == "OK");
      const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
      while (operator_readyz().body.find("lost its data") == std::string::npos &&
             std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
      }
    }
    const json::object refused =
        ExpectProblem(server.GetSettings(customer), 503, what + ": valid admin key");
    BOOST_TEST(refused.at("detail") == "storage unavailable", what);
    const json::object not_ready = ExpectProblem(server.Get("/readyz"), 503, what + ": /readyz");
    BOOST_TEST(not_ready.at("detail") == "storage unavailable", what);
    const HttpResponse operator_not_ready = operator_readyz();
    ExpectProblem(operator_not_ready, 503, what + ": operator /readyz");
    BOOST_TEST(operator_not_ready.body.find("lost its data") != std::string::npos,
               operator_not_ready.Describe());

    // The operator's decision: the store starts over, and the old key is unknown in it.
    server.Restart();
    ExpectJson(server.Get("/readyz"), 200, what + ": /readyz after the restart");
    ExpectProblem(server.GetSettings(customer), 401, what + ": old key after the restart");
  }
}

// An evicting policy set under a running server is noticed within the check interval (5 s), and
// logged once; setting it back makes the server ready again.
BOOST_AUTO_TEST_CASE(readyz_is_503_while_redis_may_evict_records) {
  OwnRedisServer server;
  server.ExpectProbes(true, {}, "noeviction");
  BOOST_TEST_REQUIRE(server.redis.Command({"CONFIG", "SET", "maxmemory-policy", "allkeys-lru"}) ==
                     "OK");
  BOOST_TEST_REQUIRE(server.WaitForReadyz(503, std::chrono::seconds(15)),
                     "/readyz still 200 with maxmemory-policy allkeys-lru");
  server.ExpectProbes(false, "allkeys-lru", "allkeys-lru");
  // Once, however many checks and probes saw it.
  std::this_thread::sleep_for(std::chrono::seconds(6));
  const auto count = [](const std::string& log, std::string_view needle) {
    std::size_t found = 0;
    for (std::size_t at = log.find(needle); at != std::string::npos;
         at = log.find(needle, at + 1)) {
      ++found;
    }
    return found;
  };
  BOOST_TEST(count(server.process->Log(), "maxmemory-policy is 'allkeys-lru'") == 1u,
             server.process->Log());

  BOOST_TEST_REQUIRE(server.redis.Command({"CONFIG", "SET", "maxmemory-policy", "noeviction"}) ==
                     "OK");
  BOOST_TEST_REQUIRE(server.WaitForReadyz(200, std::chrono::seconds(15)),
                     "/readyz still 503 after maxmemory-policy noeviction");
  server.ExpectProbes(true, {}, "noeviction again");
  BOOST_TEST(count(server.process->Log(), "healthy again") == 1u, server.process->Log());
}
#endif

BOOST_FIXTURE_TEST_CASE(settings_size_limit_is_16_kib, ServerFixture) {
  const Customer customer = server.NewCustomer();
  auto document_of_size = [](std::size_t size) {
    const std::string frame = R"({"p":""})";
    return R"({"p":")" + std::string(size - frame.size(), 'x') + R"("})";
  };
  const std::string largest = document_of_size(16 * 1024);
  BOOST_TEST_REQUIRE(largest.size() == 16384u);
  const HttpResponse at_limit = server.PostSettings(customer, largest);
  ExpectJson(at_limit, 200, "settings of exactly 16 KiB");
  ExpectProblem(server.PostSettings(customer, document_of_size(16 * 1024 + 1)), 400,
                "settings of 16 KiB + 1");
  server.ExpectSettings(customer, largest, "settings after the refused POST");
}

BOOST_FIXTURE_TEST_CASE(settings_answer_401_without_a_valid_admin_key, ServerFixture) {
  const Customer customer = server.NewCustomer();
  const Customer other = server.NewCustomer();
  ExpectJson(server.PostSettings(customer, R"({"mine":true})"), 200, "POST settings");
  const std::string base = "/geofencing/1/settings?key=" + customer.key;
  ExpectProblem(server.Get(base), 401, "GET without adminKey");
  ExpectProblem(server.Get(base + "&adminKey="), 401, "GET with empty adminKey");
  ExpectProblem(server.Get(base + "&adminKey=" + RandomAlnum(48)), 401, "GET with a random key");
  ExpectProblem(server.Get(base + "&adminKey=" + other.admin_key), 401,
                "GET with another customer's admin key");
  ExpectProblem(server.Post(base, R"({"mine":false})"), 401, "POST without adminKey");
  ExpectProblem(server.Post(base + "&adminKey=" + other.admin_key, R"({"mine":false})"), 401,
                "POST with another customer's admin key");
  ExpectProblem(server.GetSettings("geofencing", NewApiKey(), customer.admin_key), 401,
                "GET for an unregistered key");
  server.ExpectSettings(customer, R"({"mine":true})", "settings after the 401s");
  server.ExpectSettings(other, "{}", "the other customer's settings");
}

BOOST_FIXTURE_TEST_CASE(regenerate_secret_rotates_with_and_without_grace, ServerFixture) {
  Integrator integrator = server.NewIntegrator();
  // Empty body: grace 0, no oldSecretExpiresAt, the old secret is gone at once.
  Integrator rotated = RotateExpecting(server, integrator, "", 0);
  ExpectProblem(server.Rotate(integrator.id, integrator.secret), 401,
                "the secret dropped by a grace-0 rotation");
  // A grace: oldSecretExpiresAt is now + grace; the graced old secret cannot rotate.
  Integrator graced =
      RotateExpecting(server, rotated, R"({"oldSecretValidForSeconds":60})", 60'000);
  ExpectProblem(server.Rotate(rotated.id, rotated.secret), 401,
                "a graced old secret may not rotate");
  // Fractions are fine: 1.5 s is 1500 ms.
  Integrator fractional =
      RotateExpecting(server, graced, R"({"oldSecretValidForSeconds":1.5})", 1500);
  Integrator zero = RotateExpecting(server, fractional, R"({"oldSecretValidForSeconds":0})", 0);
  // round(0.0004 * 1000) = 0 ms: no grace, so no oldSecretExpiresAt.
  Integrator tiny = RotateExpecting(server, zero, R"({"oldSecretValidForSeconds":0.0004})", 0);
  Integrator empty_object = RotateExpecting(server, tiny, "{}", 0);
  RotateExpecting(server, empty_object, R"({"oldSecretValidForSeconds":3600})", 3'600'000);
}

BOOST_FIXTURE_TEST_CASE(regenerate_secret_404_names_the_unknown_integrator, ServerFixture) {
  const Integrator known = server.NewIntegrator();
  // Same form as a real id, different value.
  std::string suffix = known.id.substr(4);
  std::reverse(suffix.begin(), suffix.end());
  std::string unknown_id = "int_" + suffix;
  if (unknown_id == known.id) unknown_id = "int_" + RandomAlnum(suffix.size());
  const HttpResponse response = server.Rotate(unknown_id, NewSecret());
  const json::object problem = ExpectProblem(response, 404, "unknown integrator");
  const json::value* type = problem.if_contains("resourceType");
  const json::value* id = problem.if_contains("resourceId");
  BOOST_TEST((type != nullptr && type->is_string() && !type->as_string().empty()), response.body);
  BOOST_TEST((id != nullptr && id->is_string() && id->as_string() == unknown_id), response.body);
  RotateExpecting(server, known, "", 0);
}

BOOST_FIXTURE_TEST_CASE(regenerate_secret_401_without_a_signature, ServerFixture) {
  const Integrator integrator = server.NewIntegrator();
  const HttpResponse response =
      server.Send(BuildRequest("POST", "/v1/integrator/regenerate-secret", {}, {}, true));
  ExpectProblem(response, 401, "unsigned regenerate-secret");
  RotateExpecting(server, integrator, "", 0);
}

BOOST_FIXTURE_TEST_CASE(unknown_routes_404_and_wrong_methods_405, ServerFixture) {
  const std::string key = NewApiKey();
  const std::string json_headers = "Content-Type: application/json\r\n";
  const std::string body = R"({"secret":"long-enough-secret"})";
  const std::vector<std::string> unknown_targets = {"/",
                                                    "/nope",
                                                    "/geofencing/1/unknown?key=" + key,
                                                    "/geofencing/2/register?key=" + key,
                                                    "/geofencing/1/register/extra?key=" + key,
                                                    "/noSuchService/1/register?key=" + key,
                                                    "/geofencing/register?key=" + key,
                                                    "/v1/integrator/other",
                                                    "/v1/integrator/regenerate-secret/x",
                                                    "/GEOFENCING/1/register?key=" + key};
  for (const std::string& target : unknown_targets) {
    ExpectProblem(server.Send(BuildRequest("POST", target, json_headers, body)), 404,
                  "POST " + target);
  }
  ExpectProblem(server.Get("/nope"), 404, "GET /nope");

  struct WrongMethod {
    std::string method;
    std::string target;
    std::vector<std::string> allowed;
  };
  const std::vector<WrongMethod> cases = {
      {"GET", "/geofencing/1/register?key=" + key, {"POST"}},
      {"PUT", "/geofencing/1/regenerateKey?key=" + key, {"POST"}},
      {"DELETE", "/locationHistory/1/updateSecret?key=" + key, {"POST"}},
      {"PUT", "/geofencing/1/settings?key=" + key, {"GET", "POST"}},
      {"DELETE", "/geofencing/1/settings?key=" + key, {"GET", "POST"}},
      {"GET", "/v1/integrator/regenerate-secret", {"POST"}},
      {"POST", "/healthz", {"GET"}},
      {"POST", "/readyz", {"GET"}},
  };
  for (const WrongMethod& wrong : cases) {
    const std::string what = wrong.method + " " + wrong.target;
    const HttpResponse response = server.Send(BuildRequest(wrong.method, wrong.target), what);
    ExpectProblem(response, 405, what);
    const std::string allow = response.Header("Allow").value_or("");
    for (const std::string& method : wrong.allowed) {
      BOOST_TEST(allow.find(method) != std::string::npos,
                 what << ": Allow '" << allow << "' lacks " << method);
    }
  }
  // Nothing was registered on the way.
  server.AddSensitive(key);
  const std::string secret = NewSecret();
  server.AddSensitive(secret);
  ExpectJson(server.Register("geofencing", key, secret), 200, "register after the 404/405s");
}

BOOST_FIXTURE_TEST_CASE(problem_instance_is_in_the_log_line, ServerFixture) {
  const json::object problem = ExpectProblem(server.Get("/nope"), 404, "GET /nope");
  const json::value* instance = problem.if_contains("instance");
  BOOST_TEST_REQUIRE((instance != nullptr && instance->is_string()));
  const std::string id(instance->as_string());
  server.Stop();  // flushes the log
  // The instance may wrap the id (e.g. "urn:credstore:request:<id>"): the id must be logged.
  const std::string bare_id = id.substr(id.rfind(':') + 1);
  const std::string log = server.process().Log();
  const std::size_t at = log.find(bare_id);
  BOOST_TEST((!bare_id.empty() && at != std::string::npos),
             "the request id " << id << " is not in credstored's log");
  if (at != std::string::npos) {
    const std::size_t begin = log.rfind('\n', at) == std::string::npos ? 0 : log.rfind('\n', at);
    const std::string line = log.substr(begin, log.find('\n', at) - begin);
    BOOST_TEST(line.find("404") != std::string::npos, "the log line lacks the status: " << line);
  }
}

BOOST_FIXTURE_TEST_CASE(keep_alive_serves_several_requests_on_one_connection, ServerFixture) {
  const Customer customer = server.NewCustomer();
  Connection connection(server.port(), ClientOptions{NextClientAddress()});
  BOOST_TEST_REQUIRE(connection.ok(), connection.error());
  const std::string target =
      "/geofencing/1/settings?key=" + customer.key + "&adminKey=" + customer.admin_key;
  const std::string request =
      "GET " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";  // keep-alive by default
  for (int i = 0; i < 3; ++i) {
    connection.Send(request);
    const HttpResponse response = connection.ReadResponse();
    BOOST_TEST(response.status == 200u, "request " << i << ": " << response.Describe());
  }
  // Two pipelined requests, answered in order.
  connection.Send(request + "GET /nope HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
  BOOST_TEST(connection.ReadResponse().status == 200u);
  BOOST_TEST(connection.ReadResponse().status == 404u);
}

BOOST_FIXTURE_TEST_CASE(failed_secrets_are_throttled_per_address, ServerFixture) {
  const Customer customer = server.NewCustomer();
  const ClientOptions attacker{NextClientAddress()};
  const std::string wrong_body = R"({"secret":"not-the-secret"})";
  const std::string target = "/geofencing/1/regenerateKey?key=" + customer.key;
  auto attempt = [&](const std::string& body, const ClientOptions& from) {
    return server.Send(BuildRequest("POST", target, "Content-Type: application/json\r\n", body),
                       from, "regenerateKey");
  };
  // Every failure is a 401 until the per-address limit; then 429 with Retry-After.
  int failures = 0;
  HttpResponse last;
  for (; failures < 50; ++failures) {
    last = attempt(wrong_body, attacker);
    if (last.status != 401) break;
  }
  BOOST_TEST_MESSAGE("429 after " << failures << " failed attempts from one address");
  BOOST_TEST(failures >= 1);
  ExpectProblem(last, 429, "throttled attempt");
  // The right secret from that address is throttled too (the attempt is reserved first), and so
  // is an unregistered key: a 429 tells nothing about whether a key exists.
  ExpectProblem(attempt(R"({"secret":")" + customer.secret + R"("})", attacker), 429,
                "right secret from the throttled address");
  ExpectProblem(server.Send(BuildRequest("POST", "/geofencing/1/regenerateKey?key=" + NewApiKey(),
                                         "Content-Type: application/json\r\n", wrong_body),
                            attacker, "unregistered key"),
                429, "unregistered key from the throttled address");
  // Checks that come before throttling still answer first (400 and 415 before 429).
  ExpectProblem(attempt(R"({"secret":)", attacker), 400, "bad JSON from the throttled address");
  ExpectProblem(
      server.Send(BuildRequest("POST", target, "Content-Type: text/plain\r\n", wrong_body),
                  attacker, "text/plain"),
      415, "text/plain from the throttled address");
  // Another address is not affected, and the customer is not locked out.
  const HttpResponse other =
      attempt(R"({"secret":")" + customer.secret + R"("})", ClientOptions{NextClientAddress()});
  server.AddSensitive(AdminKeyOf(ExpectJson(other, 200, "right secret from another address")));
}

BOOST_FIXTURE_TEST_CASE(registrations_are_rate_limited_per_address, ServerFixture) {
  const ClientOptions client{NextClientAddress()};
  HttpResponse last;
  int accepted = 0;
  for (; accepted < 60; ++accepted) {
    const std::string key = NewApiKey();
    server.AddSensitive(key);
    last = server.Send(
        BuildRequest("POST", "/locationHistory/1/register?key=" + key,
                     "Content-Type: application/json\r\n", R"({"secret":"registration-secret"})"),
        client, "register");
    if (last.status != 200) break;
  }
  BOOST_TEST_MESSAGE("registration limited after " << accepted << " registrations");
  BOOST_TEST(accepted >= 1);
  ExpectProblem(last, 429, "register over the per-address limit");
  // Another address still registers.
  server.NewCustomer("locationHistory");
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace credstore::http_tests
