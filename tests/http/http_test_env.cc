#include "http/http_test_env.h"

#include <sys/stat.h>

#include <algorithm>
#include <atomic>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/test/unit_test.hpp>
#include <cstdlib>
#include <fstream>
#include <mutex>
#include <random>
#include <stdexcept>

#include "credstore/keyring.h"
#include "credstore/signed_request.h"

#ifdef CREDSTORE_HTTP_TESTS_WITH_REDIS
#include "redis/redis_server_fixture.h"
#endif

namespace credstore::http_tests {
namespace {

namespace json = boost::json;

// Process-wide state: one key file (so every server of a run, and a Redis shared by them, agree
// on keys), one operator token, and the Redis server of the redis variant.
class Environment {
 public:
  static Environment& Get() {
    static Environment environment;
    return environment;
  }

  const std::filesystem::path& key_file() const { return key_file_; }
  const std::string& operator_token() const { return operator_token_; }

  std::string StorageUri(const std::filesystem::path& dir) {
    switch (Args().backend) {
      case Backend::kMemory:
        return "memory://";
      case Backend::kRocksDb:
        return "rocksdb://" + (dir / "db").string();
      case Backend::kRedis:
#ifdef CREDSTORE_HTTP_TESTS_WITH_REDIS
        if (!redis_) redis_ = std::make_unique<credstore::testing::RedisServerFixture>();
        return redis_->unix_uri();
#else
        throw std::runtime_error("this http_tests binary was built without the Redis fixture");
#endif
    }
    return {};
  }

 private:
  Environment() : keys_dir_("credstore-http-keys") {
    key_file_ = keys_dir_.path() / "credstore.keys";
    const SecretString text = Keyring::Generate().Serialize();
    {
      std::ofstream out(key_file_, std::ios::binary);
      out << text.view();
    }
    chmod(key_file_.c_str(), 0600);
    operator_token_ = "optok-" + RandomAlnum(40);
  }

  credstore::testing::TempDir keys_dir_;
  std::filesystem::path key_file_;
  std::string operator_token_;
#ifdef CREDSTORE_HTTP_TESTS_WITH_REDIS
  std::unique_ptr<credstore::testing::RedisServerFixture> redis_;
#endif
};

std::string Lower(std::string_view text) {
  std::string lower(text);
  for (char& c : lower) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c + 32);
  }
  return lower;
}

TestArgs ParseArgs() {
  TestArgs args;
  if (const char* env = std::getenv("CREDSTORED")) args.credstored = env;
  if (const char* env = std::getenv("CREDSTORE_CLI")) args.credstore_cli = env;
  const auto& suite = boost::unit_test::framework::master_test_suite();
  for (int i = 1; i < suite.argc; ++i) {
    const std::string_view arg = suite.argv[i];
    const bool has_value = i + 1 < suite.argc;
    if (arg == "--credstored" && has_value) {
      args.credstored = suite.argv[++i];
    } else if (arg == "--storage" && has_value) {
      args.backend_name = suite.argv[++i];
    } else if (arg == "--reference-script" && has_value) {
      args.reference_script = suite.argv[++i];
    } else if (arg == "--credstore-cli" && has_value) {
      args.credstore_cli = suite.argv[++i];
    }
  }
  if (args.backend_name == "memory") {
    args.backend = Backend::kMemory;
  } else if (args.backend_name == "rocksdb") {
    args.backend = Backend::kRocksDb;
  } else if (args.backend_name == "redis") {
    args.backend = Backend::kRedis;
  } else {
    throw std::runtime_error("unknown --storage " + args.backend_name);
  }
  return args;
}

std::mt19937_64& Rng() {
  thread_local std::mt19937_64 rng(std::random_device{}());
  return rng;
}

}  // namespace

const TestArgs& Args() {
  static const TestArgs args = ParseArgs();
  return args;
}

bool Sanitized() {
  if (const char* env = std::getenv("CREDSTORE_SANITIZED");
      env != nullptr && *env != '\0' && std::string_view(env) != "0") {
    return true;
  }
#if defined(__SANITIZE_ADDRESS__)
  return true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
  return true;
#else
  return false;
#endif
#else
  return false;
#endif
}

// ---- Values ----------------------------------------------------------------------------------

std::string RandomAlnum(std::size_t length) {
  static constexpr std::string_view kAlphabet =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
  std::uniform_int_distribution<std::size_t> pick(0, kAlphabet.size() - 1);
  std::string text(length, ' ');
  for (char& c : text) c = kAlphabet[pick(Rng())];
  return text;
}

std::string NewApiKey() { return RandomAlnum(24); }
std::string NewSecret() { return "secret-" + RandomAlnum(24); }

std::string ExpectStartupRefusal(const CredstoredConfig& config, std::string_view what,
                                 const std::function<std::string(std::string)>& shown) {
  CredstoredProcess process(config);
  std::string failure;
  try {
    process.Start(std::chrono::seconds(30));
  } catch (const std::exception& error) {
    failure = error.what();
  }
  if (process.running()) process.Kill();
  BOOST_TEST(failure.find("exited during start-up (exit code 2)") != std::string::npos,
             what << ": " << (shown ? shown(failure) : failure));
  return process.Log();
}

std::string ExpectStartupRefusal(const std::vector<std::string>& flags) {
  credstore::testing::TempDir dir("credstore-refused-start");
  CredstoredConfig config;
  config.binary = Args().credstored;
  config.storage_uri = "memory://";
  config.key_file = dir.path() / "credstore.keys";
  config.work_dir = dir.path();
  config.operator_token = "optok-" + RandomAlnum(32);
  config.extra_args = flags;
  std::string what = "credstored started with";
  for (const std::string& flag : flags) what += " " + flag;
  return ExpectStartupRefusal(config, what);
}

std::string NextClientAddress() {
  // 127.1.0.1 upwards; the last octet skips 0 and 255.
  static std::atomic<std::uint32_t> next{0};
  const std::uint32_t n = next.fetch_add(1);
  const std::uint32_t c = n % 254 + 1;
  const std::uint32_t b = (n / 254) % 256;
  const std::uint32_t a = (n / (254 * 256)) % 254 + 1;
  return "127." + std::to_string(a) + "." + std::to_string(b) + "." + std::to_string(c);
}

std::int64_t NowMillis() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string UniqueTimestamp() {
  static std::mutex mutex;
  static std::int64_t last = 0;
  std::lock_guard lock(mutex);
  last = std::max(last + 1, NowMillis());
  return std::to_string(last);
}

double MetricSample(std::string_view metrics_text, std::string_view series) {
  for (std::size_t begin = 0; begin < metrics_text.size();) {
    const std::size_t end = std::min(metrics_text.find('\n', begin), metrics_text.size());
    const std::string_view line = metrics_text.substr(begin, end - begin);
    if (line.size() > series.size() && line.starts_with(series) && line[series.size()] == ' ') {
      return std::stod(std::string(line.substr(series.size() + 1)));
    }
    begin = end + 1;
  }
  return -1;
}

bool IsAdminKey(std::string_view text) {
  if (text.size() != 48) return false;
  for (char c : text) {
    const bool alnum = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
    if (!alnum) return false;
  }
  return true;
}

// ---- Checks ----------------------------------------------------------------------------------

json::value ParseJson(std::string_view text, std::string_view what) {
  boost::system::error_code ec;
  json::value value = json::parse(text, ec);
  BOOST_TEST(!ec, what << ": the body is not JSON (" << ec.message() << "): " << text);
  return ec ? json::value() : value;
}

json::object ExpectProblem(const HttpResponse& response, unsigned status, std::string_view what) {
  BOOST_TEST(response.status == status,
             what << ": expected " << status << ", got " << response.Describe());
  if (response.status != status) return {};
  const std::string content_type = Lower(response.Header("Content-Type").value_or(""));
  BOOST_TEST(content_type.starts_with("application/problem+json"),
             what << ": Content-Type is '" << content_type << "'");
  json::value value = ParseJson(response.body, what);
  BOOST_TEST(value.is_object(), what << ": the problem is not a JSON object: " << response.body);
  if (!value.is_object()) return {};
  json::object problem = value.as_object();
  for (std::string_view member : {"type", "title", "detail", "instance"}) {
    const json::value* found = problem.if_contains(member);
    BOOST_TEST((found != nullptr && found->is_string()),
               what << ": member '" << member << "' missing or not a string: " << response.body);
  }
  const json::value* instance = problem.if_contains("instance");
  BOOST_TEST((instance != nullptr && instance->is_string() && !instance->as_string().empty()),
             what << ": empty instance");
  const json::value* status_member = problem.if_contains("status");
  BOOST_TEST((status_member != nullptr && status_member->is_number() &&
              status_member->to_number<double>() == static_cast<double>(status)),
             what << ": member 'status' is not " << status << ": " << response.body);
  if (status == 401) {
    for (std::string_view member : {"realm", "scope"}) {
      const json::value* found = problem.if_contains(member);
      BOOST_TEST((found != nullptr && found->is_string()),
                 what << ": 401 without '" << member << "': " << response.body);
    }
    BOOST_TEST(response.Header("WWW-Authenticate").has_value(),
               what << ": 401 without WWW-Authenticate");
  }
  if (status == 405) {
    BOOST_TEST(response.Header("Allow").has_value(), what << ": 405 without Allow");
  }
  if (status == 429 || status == 503) {
    const std::string retry_after = response.Header("Retry-After").value_or("");
    const bool digits =
        !retry_after.empty() && retry_after.find_first_not_of("0123456789") == std::string::npos;
    BOOST_TEST((digits && std::stol(retry_after) >= 1),
               what << ": " << status << " without a Retry-After of at least 1 s: '" << retry_after
                    << "'");
  }
  return problem;
}

json::object ExpectJson(const HttpResponse& response, unsigned status, std::string_view what) {
  BOOST_TEST(response.status == status,
             what << ": expected " << status << ", got " << response.Describe());
  if (response.status != status) return {};
  const std::string content_type = Lower(response.Header("Content-Type").value_or(""));
  BOOST_TEST(content_type.starts_with("application/json"),
             what << ": Content-Type is '" << content_type << "'");
  json::value value = ParseJson(response.body, what);
  BOOST_TEST(value.is_object(), what << ": the body is not a JSON object: " << response.body);
  return value.is_object() ? value.as_object() : json::object();
}

// ---- Server ----------------------------------------------------------------------------------

Server::Server(ServerOptions options) : options_(std::move(options)), dir_("credstore-http") {
  BOOST_TEST_REQUIRE(!Args().credstored.empty(),
                     "pass the credstored binary: http_tests -- --credstored PATH");
  storage_uri_ = options_.storage_uri.empty() ? Environment::Get().StorageUri(dir_.path())
                                              : options_.storage_uri;
  Launch();
}

void Server::Launch() {
  CredstoredConfig config;
  config.binary = Args().credstored;
  config.storage_uri = storage_uri_;
  config.key_file = Environment::Get().key_file();
  config.work_dir = dir_.path();
  config.operator_token = Environment::Get().operator_token();
  config.argon2 = options_.argon2;
  config.extra_args = options_.extra_args;
  config.open_files_limit = options_.open_files_limit;
  process_ = std::make_unique<CredstoredProcess>(std::move(config));
  try {
    process_->Start();
  } catch (const std::exception& error) {
    BOOST_FAIL("credstored did not start: " << error.what());
  }
  stopped_checked_ = false;
}

Server::~Server() {
  if (process_ && process_->running()) {
    Stop();
  } else if (!stopped_checked_) {
    CheckLogClean();
  }
}

ExitInfo Server::Stop() {
  const ExitInfo info = process_->Stop();
  CheckCleanExit(info);
  return info;
}

void Server::CheckCleanExit(const ExitInfo& info) {
  if (!(info.exited && info.code == 0)) {
    const std::string log = process_->Log();
    BOOST_TEST(false, "credstored did not exit cleanly on SIGTERM: "
                          << info.Describe() << "; the end of its log:\n"
                          << (log.size() > 3000 ? log.substr(log.size() - 3000) : log));
  }
  CheckLogClean();
  stopped_checked_ = true;
}

void Server::Restart() {
  Stop();
  Launch();
}

void Server::Relaunch() {
  BOOST_TEST_REQUIRE(!process_->running(), "Relaunch() while credstored still runs");
  Launch();
}

void Server::Relaunch(std::vector<std::string> extra_args) {
  options_.extra_args = std::move(extra_args);
  Relaunch();
}

void Server::AddSensitive(std::string_view text) {
  if (text.size() >= 8) sensitive_.emplace_back(text);
}

void Server::CheckNoLeak(const HttpResponse& response, std::string_view what) const {
  std::string all;
  for (const auto& [name, value] : response.headers) all += name + ": " + value + "\n";
  all += response.body;
  for (const std::string& secret : sensitive_) {
    BOOST_TEST(all.find(secret) == std::string::npos,
               what << ": the response carries a secret, admin key or API key ('"
                    << secret.substr(0, 4) << "...'): " << response.Describe());
  }
}

void Server::CheckLogClean() {
  const std::string log = process_->Log();
  for (const std::string& secret : sensitive_) {
    const std::size_t at = log.find(secret);
    BOOST_TEST(
        at == std::string::npos,
        "credstored's log carries a secret, admin key or API key ('"
            << secret.substr(0, 4) << "...') in: "
            << log.substr(log.rfind('\n', at) == std::string::npos ? 0 : log.rfind('\n', at), 300));
  }
}

HttpResponse Server::Send(std::string_view request, std::string_view what) {
  ClientOptions options;
  options.source_address = NextClientAddress();
  return Send(request, options, what);
}

HttpResponse Server::Send(std::string_view request, const ClientOptions& options,
                          std::string_view what) {
  HttpResponse response = SendRaw(port(), request, options);
  CheckNoLeak(response, what);
  return response;
}

HttpResponse Server::SendOperator(std::string_view request) {
  // A fresh address, as on the public listener: failed token attempts are throttled per client.
  ClientOptions options;
  options.source_address = NextClientAddress();
  return SendRaw(operator_port(), request, options);
}

std::string Server::MetricsText() {
  const HttpResponse response = SendOperator(BuildRequest(
      "GET", "/metrics", "Authorization: Bearer " + Environment::Get().operator_token() + "\r\n"));
  return response.status == 200 ? response.body : std::string();
}

HttpResponse Server::Post(std::string_view target, std::string_view body,
                          std::string_view content_type) {
  std::string headers;
  if (!content_type.empty()) headers = "Content-Type: " + std::string(content_type) + "\r\n";
  return Send(BuildRequest("POST", target, headers, body, true), target);
}

HttpResponse Server::Get(std::string_view target) {
  return Send(BuildRequest("GET", target), target);
}

namespace {
std::string JsonString(std::string_view text) { return json::serialize(json::string(text)); }
}  // namespace

HttpResponse Server::Register(std::string_view service, std::string_view key,
                              std::string_view secret) {
  return Post("/" + std::string(service) + "/1/register?key=" + std::string(key),
              "{\"secret\":" + JsonString(secret) + "}");
}

HttpResponse Server::RegenerateKey(const Customer& customer, std::string_view secret,
                                   std::string_view extra_members) {
  ClientOptions options;
  options.source_address = NextClientAddress();
  return RegenerateKey(customer, secret, options, extra_members);
}

std::string Server::RegenerateKeyRequest(const Customer& customer, std::string_view secret,
                                         std::string_view extra_members) {
  std::string body = "{\"secret\":" + JsonString(secret);
  if (!extra_members.empty()) body += "," + std::string(extra_members);
  body += "}";
  const std::string target = "/" + customer.service + "/1/regenerateKey?key=" + customer.key;
  return BuildRequest("POST", target, "Content-Type: application/json\r\n", body, true);
}

HttpResponse Server::RegenerateKey(const Customer& customer, std::string_view secret,
                                   const ClientOptions& from, std::string_view extra_members) {
  return Send(RegenerateKeyRequest(customer, secret, extra_members), from, "regenerateKey");
}

HttpResponse Server::UpdateSecret(const Customer& customer, std::string_view secret,
                                  std::string_view new_secret) {
  return Post(
      "/" + customer.service + "/1/updateSecret?key=" + customer.key,
      "{\"secret\":" + JsonString(secret) + ",\"newSecret\":" + JsonString(new_secret) + "}");
}

HttpResponse Server::GetSettings(std::string_view service, std::string_view key,
                                 std::string_view admin_key) {
  return Get("/" + std::string(service) + "/1/settings?key=" + std::string(key) +
             "&adminKey=" + std::string(admin_key));
}

HttpResponse Server::PostSettings(const Customer& customer, std::string_view body) {
  return Post("/" + customer.service + "/1/settings?key=" + customer.key +
                  "&adminKey=" + customer.admin_key,
              body);
}

Customer Server::NewCustomer(std::string_view service) {
  Customer customer{std::string(service), NewApiKey(), NewSecret(), {}};
  AddSensitive(customer.key);
  AddSensitive(customer.secret);
  const HttpResponse response = Register(customer.service, customer.key, customer.secret);
  const json::object body = ExpectJson(response, 200, "register a new customer");
  BOOST_TEST_REQUIRE(response.status == 200u);
  const json::value* admin_key = body.if_contains("adminKey");
  BOOST_TEST_REQUIRE((admin_key != nullptr && admin_key->is_string()), response.Describe());
  customer.admin_key = std::string(admin_key->as_string());
  BOOST_TEST(IsAdminKey(customer.admin_key), "malformed admin key: " << customer.admin_key);
  AddSensitive(customer.admin_key);
  return customer;
}

void Server::ExpectSettings(const Customer& customer, std::string_view expected_json,
                            std::string_view what) {
  const HttpResponse response = GetSettings(customer);
  const json::object settings = ExpectJson(response, 200, what);
  BOOST_TEST((json::value(settings) == json::parse(expected_json)),
             what << ": settings are " << response.body << ", expected " << expected_json);
}

Integrator Server::NewIntegrator() {
  const std::string body = R"({"label":"http test integrator"})";
  const HttpResponse response =
      SendOperator(BuildRequest("POST", "/v1/integrators",
                                "Authorization: Bearer " + Environment::Get().operator_token() +
                                    "\r\nContent-Type: application/json\r\n",
                                body));
  BOOST_TEST_REQUIRE(response.status == 201u,
                     "operator POST /v1/integrators: " << response.Describe());
  const json::value parsed = ParseJson(response.body, "operator POST /v1/integrators");
  const json::object* object = parsed.if_object();
  BOOST_TEST_REQUIRE(object != nullptr);
  const json::value* id = object->if_contains("integratorId");
  const json::value* secret = object->if_contains("secret");
  BOOST_TEST_REQUIRE((id != nullptr && id->is_string() && secret != nullptr && secret->is_string()),
                     response.body);
  Integrator integrator{std::string(id->as_string()), std::string(secret->as_string())};
  BOOST_TEST(integrator.id.starts_with("int_"), integrator.id);
  AddSensitive(integrator.secret);
  return integrator;
}

std::string Server::SignedRotation(std::string_view integrator_id, std::string_view secret,
                                   std::string_view body, std::string timestamp,
                                   std::string_view content_type) {
  static constexpr std::string_view kTarget = "/v1/integrator/regenerate-secret";
  if (timestamp.empty()) timestamp = UniqueTimestamp();
  const std::string signature = SignRequest(secret, timestamp, "POST", kTarget, body);
  std::string headers = "X-Integrator-Key: " + std::string(integrator_id) +
                        "\r\nX-Timestamp: " + timestamp + "\r\nX-Signature: " + signature + "\r\n";
  if (!body.empty() && !content_type.empty()) {
    headers += "Content-Type: " + std::string(content_type) + "\r\n";
  }
  return BuildRequest("POST", kTarget, headers, body, true);
}

HttpResponse Server::Rotate(std::string_view integrator_id, std::string_view secret,
                            std::string_view body) {
  return Send(SignedRotation(integrator_id, secret, body), "regenerate-secret");
}

Integrator Server::RotateOk(const Integrator& integrator, std::string_view body) {
  const HttpResponse response = Rotate(integrator.id, integrator.secret, body);
  const json::object reply = ExpectJson(response, 200, "regenerate-secret");
  BOOST_TEST_REQUIRE(response.status == 200u);
  const json::value* secret = reply.if_contains("secret");
  BOOST_TEST_REQUIRE((secret != nullptr && secret->is_string()), response.body);
  Integrator rotated{integrator.id, std::string(secret->as_string())};
  BOOST_TEST(rotated.secret != integrator.secret);
  AddSensitive(rotated.secret);
  return rotated;
}

}  // namespace credstore::http_tests
