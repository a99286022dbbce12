// What every credstored black-box test shares: the command line, one key file and (for the
// Redis variant) one redis-server per test process, a credstored per test case with helpers for
// each route, and the checks every response gets.
//
// The test binary takes its own arguments after Boost.Test's `--`:
//   --credstored PATH        the server under test (else $CREDSTORED)
//   --storage NAME           memory | rocksdb | redis (default memory)
//   --reference-script PATH  tests/http/reference_curl.sh, for the reference_curl test
//   --credstore-cli PATH     the `credstore` operator command (else $CREDSTORE_CLI), for the
//                            operator tests that run it
//
// Every request goes out from its own client address (127.x.y.z), so credstore's per-address
// throttling never carries over from one check to the next; a test that wants one address for
// several requests says so.
#ifndef CREDSTORE_TESTS_HTTP_HTTP_TEST_ENV_H_
#define CREDSTORE_TESTS_HTTP_HTTP_TEST_ENV_H_

#include <boost/json/object.hpp>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "http/credstored_process.h"
#include "http/http_client.h"
#include "support/test_helpers.h"

namespace credstore::http_tests {

enum class Backend { kMemory, kRocksDb, kRedis };

struct TestArgs {
  std::string credstored;
  Backend backend = Backend::kMemory;
  std::string backend_name = "memory";
  std::string reference_script;
  std::string credstore_cli;
};
const TestArgs& Args();

// True when this binary or the server runs under a sanitizer (CREDSTORE_SANITIZED=1 or an
// ASan-instrumented test binary): memory and timing bounds do not hold there.
bool Sanitized();

// ---- Values ----------------------------------------------------------------------------------

std::string RandomAlnum(std::size_t length);
std::string NewApiKey();  // 24 characters of [A-Za-z0-9]
std::string NewSecret();  // "secret-" + 24 random characters
// A client address of 127.0.0.0/8 not handed out before in this process.
std::string NextClientAddress();
// Unix milliseconds now, as decimal text, strictly increasing within this process (two requests
// signed with one secret over one body in one millisecond would otherwise share a MAC).
std::string UniqueTimestamp();
std::int64_t NowMillis();
bool IsAdminKey(std::string_view text);  // 48 characters of [A-Za-z0-9]
// The value of the sample `series` (a metric name and its labels, exactly as /metrics renders
// them) in `metrics_text`, or -1 when it has no such line (every value tests read is a count or
// a size).
double MetricSample(std::string_view metrics_text, std::string_view series);

struct Customer {
  std::string service;
  std::string key;
  std::string secret;
  std::string admin_key;
};

struct Integrator {
  std::string id;
  std::string secret;
};

// ---- Checks ----------------------------------------------------------------------------------

// Checks that `response` is an RFC 9457 problem with `status` (Content-Type
// application/problem+json; type, title, status, detail, instance; realm/scope and
// WWW-Authenticate on 401; Allow on 405; Retry-After on 429 and 503). Returns the body.
boost::json::object ExpectProblem(const HttpResponse& response, unsigned status,
                                  std::string_view what);
// Checks a JSON success (Content-Type application/json) and returns the body object.
boost::json::object ExpectJson(const HttpResponse& response, unsigned status,
                               std::string_view what);
// Parses a body as a JSON value (fails the check and returns null when it is not JSON).
boost::json::value ParseJson(std::string_view text, std::string_view what);

// ---- A credstored that must not start ----------------------------------------------------------

// Starts credstored with `config` and checks that it refuses to: exit code 2 during start-up.
// `what` names the case in a failed check, which shows the start-up error through `shown` (to
// redact it; as it is by default). Returns everything the server logged: the reason is there.
std::string ExpectStartupRefusal(const CredstoredConfig& config, std::string_view what,
                                 const std::function<std::string(std::string)>& shown = {});
// The same for a fresh memory:// credstored with `flags` (and an operator token).
std::string ExpectStartupRefusal(const std::vector<std::string>& flags);

// ---- A credstored per test case ----------------------------------------------------------------

struct ServerOptions {
  std::string argon2 = "minimum";
  std::vector<std::string> extra_args;
  std::uint64_t open_files_limit = 0;  // nonzero: credstored's RLIMIT_NOFILE
  // Nonempty: this storage URI instead of the run's backend (--storage), e.g. the target of a
  // migration.
  std::string storage_uri = {};
};

class Server {
 public:
  explicit Server(ServerOptions options = {});
  // Stops the server if it runs: checks exit code 0 and that the log leaks nothing.
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // SIGTERM; checks exit code 0 and the log; returns how it ended.
  ExitInfo Stop();
  // Stop(), then start again on the same storage and key file.
  void Restart();
  // Starts a new credstored on the same storage and key file after the last one ended.
  void Relaunch();
  // As Relaunch, with `extra_args` instead of the ServerOptions' (for this and later launches).
  void Relaunch(std::vector<std::string> extra_args);
  // Checks that a credstored that ended did so with exit code 0, and that its log is clean.
  void CheckCleanExit(const ExitInfo& info);
  CredstoredProcess& process() { return *process_; }
  std::uint16_t port() const { return process_->port(); }
  std::uint16_t operator_port() const { return process_->operator_port(); }
  const std::string& storage_uri() const { return storage_uri_; }

  // Strings (secrets, admin keys, API keys) that no response header or body of another request,
  // and no log line, may ever carry. Strings shorter than 8 bytes are ignored.
  void AddSensitive(std::string_view text);
  // Checks `response` (and the log) carry none of the sensitive strings.
  void CheckNoLeak(const HttpResponse& response, std::string_view what) const;
  void CheckLogClean();

  // Raw requests, each from a fresh client address unless `options` names one. Every response is
  // checked for leaks.
  HttpResponse Send(std::string_view request, std::string_view what = "request");
  HttpResponse Send(std::string_view request, const ClientOptions& options,
                    std::string_view what = "request");
  HttpResponse SendOperator(std::string_view request);
  // GET /metrics on the operator listener, with the operator token; "" when not answered 200.
  std::string MetricsText();

  HttpResponse Post(std::string_view target, std::string_view body,
                    std::string_view content_type = "application/json");
  HttpResponse Get(std::string_view target);

  // Routes. `service` defaults to geofencing where it does not matter.
  HttpResponse Register(std::string_view service, std::string_view key, std::string_view secret);
  HttpResponse RegenerateKey(const Customer& customer, std::string_view secret,
                             std::string_view extra_members = {});
  // The raw bytes of that request, for a test that sends it itself (from many threads at once).
  static std::string RegenerateKeyRequest(const Customer& customer, std::string_view secret,
                                          std::string_view extra_members = {});
  // The same from the client address `from` names (throttling counts per address).
  HttpResponse RegenerateKey(const Customer& customer, std::string_view secret,
                             const ClientOptions& from, std::string_view extra_members = {});
  HttpResponse UpdateSecret(const Customer& customer, std::string_view secret,
                            std::string_view new_secret);
  HttpResponse GetSettings(std::string_view service, std::string_view key,
                           std::string_view admin_key);
  HttpResponse GetSettings(const Customer& customer) {
    return GetSettings(customer.service, customer.key, customer.admin_key);
  }
  HttpResponse PostSettings(const Customer& customer, std::string_view body);

  // Registers a new customer (fresh key and secret); requires 200.
  Customer NewCustomer(std::string_view service = "geofencing");
  // Requires that `admin_key` opens the customer's settings and that they equal `expected`.
  void ExpectSettings(const Customer& customer, std::string_view expected_json,
                      std::string_view what);

  // Creates an integrator through the operator API; requires 201.
  Integrator NewIntegrator();
  // A signed POST /v1/integrator/regenerate-secret (raw bytes), signed with `secret` at
  // `timestamp` (default: now) over `body`.
  static std::string SignedRotation(std::string_view integrator_id, std::string_view secret,
                                    std::string_view body, std::string timestamp = {},
                                    std::string_view content_type = "application/json");
  HttpResponse Rotate(std::string_view integrator_id, std::string_view secret,
                      std::string_view body = {});
  // Rotates with the integrator's secret, requires 200, and returns the updated integrator.
  Integrator RotateOk(const Integrator& integrator, std::string_view body = {});

 private:
  void Launch();

  ServerOptions options_;
  credstore::testing::TempDir dir_;
  std::string storage_uri_;
  std::unique_ptr<CredstoredProcess> process_;
  std::vector<std::string> sensitive_;
  bool stopped_checked_ = false;
};

// A test case's server with the default options.
struct ServerFixture {
  Server server;
};

}  // namespace credstore::http_tests

#endif  // CREDSTORE_TESTS_HTTP_HTTP_TEST_ENV_H_
