// credstored — credstore's standalone HTTP server: the public routes on one listener, the
// operator routes on another (loopback or a unix socket), over one storage backend.
//
// Exit status: 0 after a clean stop (SIGINT, SIGTERM); 1 when serving failed (a listener could
// not be bound, storage unreachable); 2 for a configuration error, and when the data was written
// under other keys. `credstored --help` explains every flag.

#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/program_options.hpp>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "access_log.h"
#include "config.h"
#include "credstore/audit.h"
#include "credstore/backends/open_backend.h"
#include "credstore/credential_store.h"
#include "credstore/http/metrics.h"
#include "credstore/http/operator_api.h"
#include "credstore/http/public_api.h"
#include "credstore/http/server.h"
#include "credstore/provisioned_api_keys.h"
#include "credstore/secret_string.h"
#include "key_file.h"
#if defined(CREDSTORE_HAVE_REDIS) && CREDSTORE_HAVE_REDIS
#include "credstore/backends/redis.h"
#endif

namespace {

namespace po = boost::program_options;
using credstore::Status;
using credstore::http::DaemonConfig;
using credstore::http::JsonEscape;
using credstore::http::LogWriter;

constexpr int kExitOk = 0;
constexpr int kExitFailure = 1;
constexpr int kExitConfig = 2;

constexpr const char* kUsage =
    "Usage: credstored [flags]\n"
    "\n"
    "Serves credstore's public routes (customer configuration, integrator secrets) over HTTP,\n"
    "and its operator routes (/metrics, integrators, API keys, customer resets) on a separate\n"
    "loopback or unix-socket listener. Logs are JSON lines on stderr (or --log-file).\n"
    "\n"
    "Secrets never go on the command line: the keyring comes from --key-file or the\n"
    "CREDSTORE_KEYRING environment variable, the operator token from --operator-token-file or\n"
    "the CREDSTORE_OPERATOR_TOKEN environment variable.\n"
    "\n"
    "Exit status: 0 after SIGINT/SIGTERM and a clean stop; 1 when serving failed; 2 for a\n"
    "configuration error or data written under other keys.\n";

// ---- Logging ----------------------------------------------------------------------------

// One JSON log line: {"ts":…,"level":…,"event":…, then the fields given}.
class LogLine {
 public:
  LogLine(std::string_view level, std::string_view event) {
    text_ = "{\"ts\":\"" + credstore::http::FormatUtcTimestamp(std::chrono::system_clock::now()) +
            "\",\"level\":\"" + JsonEscape(level) + "\",\"event\":\"" + JsonEscape(event) + "\"";
  }
  LogLine& Add(std::string_view name, std::string_view value) {
    text_ += ",\"" + JsonEscape(name) + "\":\"" + JsonEscape(value) + "\"";
    return *this;
  }
  LogLine& AddNumber(std::string_view name, std::uint64_t value) {
    text_ += ",\"" + JsonEscape(name) + "\":" + std::to_string(value);
    return *this;
  }
  LogLine& AddBool(std::string_view name, bool value) {
    text_ += ",\"" + JsonEscape(name) + "\":" + (value ? "true" : "false");
    return *this;
  }
  LogLine& AddList(std::string_view name, const std::vector<std::string>& values) {
    text_ += ",\"" + JsonEscape(name) + "\":[";
    for (std::size_t i = 0; i < values.size(); ++i) {
      text_ += (i ? ",\"" : "\"") + JsonEscape(values[i]) + "\"";
    }
    text_ += "]";
    return *this;
  }
  void WriteTo(LogWriter& log) const { log.WriteLine(text_ + "}"); }

 private:
  std::string text_;
};

// Audit events as JSON lines through the same writer as every other log line, so lines from
// the audit trail and the access log never interleave mid-line.
class LogAuditSink final : public credstore::AuditSink {
 public:
  explicit LogAuditSink(LogWriter& log) : log_(log) {}
  void Record(const credstore::AuditEvent& event) override {
    std::ostringstream line;
    credstore::JsonLinesAuditSink(line).Record(event);
    std::string text = line.str();
    while (!text.empty() && text.back() == '\n') text.pop_back();
    log_.WriteLine(text);
  }

 private:
  LogWriter& log_;
};

// ---- Process hygiene --------------------------------------------------------------------

// No core dumps and no ptrace by other users' tools: a dump would hold keys and secrets.
void HardenProcess() {
  ::prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
  const rlimit no_core{0, 0};
  ::setrlimit(RLIMIT_CORE, &no_core);
  std::signal(SIGPIPE, SIG_IGN);
}

// Takes a secret from the environment and erases it there, so it is not inherited by children
// nor left readable in /proc/<pid>/environ.
std::optional<credstore::SecretString> TakeSecretFromEnvironment(const char* name) {
  char* value = std::getenv(name);
  if (value == nullptr) return std::nullopt;
  credstore::SecretString secret(value);
  std::memset(value, 0, std::strlen(value));
  ::unsetenv(name);
  if (secret.empty()) return std::nullopt;
  return secret;
}

// Writes `text` to `path` so a reader never sees a partial file (temporary file + rename).
Status WriteFileAtomically(const std::string& path, const std::string& text) {
  const std::string temporary = path + ".tmp." + std::to_string(::getpid());
  {
    std::ofstream out(temporary, std::ios::trunc);
    out << text;
    out.close();
    if (!out) return Status::Unavailable("cannot write " + temporary);
  }
  if (std::rename(temporary.c_str(), path.c_str()) != 0) {
    std::remove(temporary.c_str());
    return Status::Unavailable("cannot rename " + temporary + " to " + path);
  }
  return Status::Ok();
}

// ---- Flags ------------------------------------------------------------------------------

po::options_description Flags(DaemonConfig& config) {
  po::options_description flags("Flags (a JSON --config file may set the same names; flags win)",
                                100);
  auto add = flags.add_options();
  add("help", "Print this help and exit.");
  add("config", po::value<std::string>()->value_name("FILE"),
      "A JSON object whose members are flags of this list, e.g. {\"listen\": \"0.0.0.0:8443\", "
      "\"trusted-proxy\": [\"10.0.0.1\"], \"allow-plain-http-on-public-address\": true}.");
  add("listen", po::value(&config.listen)->default_value(config.listen)->value_name("HOST:PORT"),
      "Public listener. Port 0 picks a free port (see --port-file). A non-loopback host needs "
      "--tls-cert/--tls-key or --allow-plain-http-on-public-address.");
  add("port-file", po::value(&config.port_file)->value_name("PATH"),
      "After listening, write the public listener's port (decimal) to PATH.");
  add("storage", po::value(&config.storage)->default_value(config.storage)->value_name("URI"),
      "Storage backend: memory://, rocksdb://PATH (relative) or rocksdb:///abs/path, "
      "redis://[:password@]host:port[/db], redis+unix:///path/redis.sock.");
  add("key-file", po::value(&config.key_file)->default_value(config.key_file)->value_name("PATH"),
      "The server's keyring. Created (mode 0600) on first start when absent, never "
      "overwritten; must lie outside the RocksDB data folder. Ignored when the environment "
      "variable CREDSTORE_KEYRING holds the key file's text.");
  add("services",
      po::value<std::string>()->default_value("geofencing,locationHistory")->value_name("A,B"),
      "The services customers register with (the {service} of the routes), comma-separated.");
  add("api-keys",
      po::value(&config.api_keys)->default_value(config.api_keys)->value_name("any|provisioned"),
      "Which API keys may register: any well-formed key (behind a gateway that checks keys), "
      "or only keys an operator provisioned.");
  add("argon2",
      po::value(&config.argon2)->default_value(config.argon2)->value_name("production|minimum"),
      "Argon2id cost of customer secrets. 'minimum' is for tests only and is logged as a "
      "warning.");
  add("io-threads",
      po::value(&config.io_threads)->default_value(config.io_threads)->value_name("N"),
      "Threads running network I/O.");
  add("hashing-workers",
      po::value(&config.hashing_workers)->default_value(config.hashing_workers)->value_name("N"),
      "Threads running Argon2id (register, regenerateKey, updateSecret); also the most "
      "Argon2id computations at once (each holds 64 MiB in production).");
  add("hashing-queue",
      po::value(&config.hashing_queue)->default_value(config.hashing_queue)->value_name("N"),
      "Argon2id requests waiting for a thread; beyond it the answer is 503 at once.");
  add("storage-workers",
      po::value(&config.storage_workers)->default_value(config.storage_workers)->value_name("N"),
      "Threads running storage-bound requests (settings, signed requests).");
  add("storage-queue",
      po::value(&config.storage_queue)->default_value(config.storage_queue)->value_name("N"),
      "Storage requests waiting for a thread; beyond it the answer is 503 at once.");
  add("read-timeout",
      po::value(&config.read_timeout_seconds)
          ->default_value(config.read_timeout_seconds)
          ->value_name("SECONDS"),
      "Time for a request to arrive once its first byte did.");
  add("idle-timeout",
      po::value(&config.idle_timeout_seconds)
          ->default_value(config.idle_timeout_seconds)
          ->value_name("SECONDS"),
      "Time a keep-alive connection may wait for its next request.");
  add("shutdown-grace",
      po::value(&config.shutdown_grace_seconds)
          ->default_value(config.shutdown_grace_seconds)
          ->value_name("SECONDS"),
      "On SIGINT/SIGTERM, how long requests in flight may finish before connections close.");
  add("operator-listen", po::value(&config.operator_listen)->value_name("HOST:PORT"),
      "Operator listener on a loopback address (default 127.0.0.1:8081; port 0 picks a free "
      "port). Needs an operator token.");
  add("operator-socket", po::value(&config.operator_socket)->value_name("PATH"),
      "Operator listener on a unix socket (mode 0600) instead of TCP.");
  add("operator-port-file", po::value(&config.operator_port_file)->value_name("PATH"),
      "After listening, write the operator listener's port to PATH.");
  add("operator-token-file", po::value(&config.operator_token_file)->value_name("PATH"),
      "File holding the operator bearer token (or set CREDSTORE_OPERATOR_TOKEN). Without a "
      "token the operator listener is off, unless one was asked for: then startup fails.");
  add("tls-cert", po::value(&config.tls_cert)->value_name("PEM"),
      "Certificate chain of the public listener (PEM, leaf first); enables TLS.");
  add("tls-key", po::value(&config.tls_key)->value_name("PEM"),
      "Private key of the public listener's certificate (PEM).");
  add("allow-plain-http-on-public-address",
      po::bool_switch(&config.allow_plain_http_on_public_address),
      "Serve plain HTTP on a non-loopback --listen (a TLS-terminating proxy is in front).");
  add("trusted-proxy", po::value(&config.trusted_proxies)->value_name("ADDR"),
      "A proxy (address or CIDR) whose X-Forwarded-For is believed; repeatable. The client is "
      "the right-most X-Forwarded-For entry that is not a trusted proxy.");
  add("log-file", po::value(&config.log_file)->value_name("PATH"),
      "Append log lines (startup, access log, audit events) to PATH instead of stderr.");
  return flags;
}

// Parses flags, then the config file under them. Returns an exit code to stop with, or
// nullopt to go on.
std::optional<int> ParseFlags(int argc, char** argv, DaemonConfig& config) {
  po::options_description flags = Flags(config);
  po::variables_map values;
  try {
    po::store(po::command_line_parser(argc, argv).options(flags).run(), values);
    if (values.count("help")) {
      std::cout << kUsage << '\n' << flags << '\n';
      return kExitOk;
    }
    if (values.count("config")) {
      const std::string path = values["config"].as<std::string>();
      std::ifstream in(path);
      if (!in) {
        std::cerr << "credstored: cannot read the config file " << path << '\n';
        return kExitConfig;
      }
      std::stringstream text;
      text << in.rdbuf();
      auto arguments = credstore::http::JsonConfigToArguments(text.str());
      if (!arguments.ok()) {
        std::cerr << "credstored: " << path << ": " << arguments.status().message() << '\n';
        return kExitConfig;
      }
      // Stored second: a value the command line already set is kept.
      po::store(po::command_line_parser(*arguments).options(flags).run(), values);
    }
    po::notify(values);
  } catch (const po::error& error) {
    std::cerr << "credstored: " << error.what() << "\n(see credstored --help)\n";
    return kExitConfig;
  }
  auto services = credstore::http::SplitServiceList(values["services"].as<std::string>());
  if (!services.ok()) {
    std::cerr << "credstored: " << services.status().message() << '\n';
    return kExitConfig;
  }
  config.services = std::move(services).value();
  return std::nullopt;
}

// ---- Serving ----------------------------------------------------------------------------

int Serve(const DaemonConfig& config, LogWriter& log) {
  using credstore::http::RedactStorageUri;
  const std::string storage_shown = RedactStorageUri(config.storage);

  // Secrets from the environment are taken (and erased there) first.
  std::optional<credstore::SecretString> keyring_text =
      TakeSecretFromEnvironment("CREDSTORE_KEYRING");
  std::optional<credstore::SecretString> operator_token =
      TakeSecretFromEnvironment("CREDSTORE_OPERATOR_TOKEN");
  if (!config.operator_token_file.empty()) {
    std::string warning;
    auto token = credstore::http::ReadSecretFile(config.operator_token_file, &warning);
    if (!token.ok()) {
      LogLine("error", "credstored.config").Add("message", token.status().message()).WriteTo(log);
      return kExitConfig;
    }
    if (!warning.empty())
      LogLine("warning", "credstored.config").Add("message", warning).WriteTo(log);
    operator_token = std::move(token).value();
  }
  const bool operator_requested =
      !config.operator_listen.empty() || !config.operator_socket.empty();
  if (operator_token && operator_token->size() < 16) {
    LogLine("warning", "credstored.config")
        .Add("message", "the operator token is shorter than 16 characters; use a long random one")
        .WriteTo(log);
  }
  if (!operator_token && operator_requested) {
    LogLine("error", "credstored.config")
        .Add("message",
             "an operator listener needs a token: --operator-token-file or "
             "CREDSTORE_OPERATOR_TOKEN")
        .WriteTo(log);
    return kExitConfig;
  }

  auto keyring = credstore::http::LoadOrCreateKeyring(
      config.key_file, keyring_text, credstore::http::RocksDbFolder(config.storage));
  keyring_text.reset();
  if (!keyring.ok()) {
    LogLine("error", "credstored.keys").Add("message", keyring.status().message()).WriteTo(log);
    return kExitConfig;
  }
  if (keyring->created) {
    LogLine("info", "credstored.keys")
        .Add("message", "created a new key file; back it up apart from the data")
        .Add("key_file", keyring->origin)
        .WriteTo(log);
  }
  if (!keyring->warning.empty()) {
    LogLine("warning", "credstored.keys").Add("message", keyring->warning).WriteTo(log);
  }

  auto backend = credstore::OpenBackend(config.storage);
  if (!backend.ok()) {
    LogLine("error", "credstored.storage")
        .Add("storage", storage_shown)
        .Add("message", backend.status().message())
        .WriteTo(log);
    return backend.status().code() == credstore::StatusCode::kInvalidArgument ? kExitConfig
                                                                              : kExitFailure;
  }

  auto audit = std::make_shared<LogAuditSink>(log);
  credstore::Options options;
  options.argon2 = config.argon2 == "minimum" ? credstore::Argon2Cost::MinimumForTests()
                                              : credstore::Argon2Cost::Production();
  options.max_concurrent_hashes = config.hashing_workers;
  options.services = config.services;
  options.audit = audit;
  std::shared_ptr<credstore::ProvisionedApiKeys> provisioned;
  if (config.api_keys == "provisioned") {
    provisioned =
        std::make_shared<credstore::ProvisionedApiKeys>(*backend, keyring->keyring, nullptr, audit);
    options.api_key_validator = provisioned;
  }
  auto store = credstore::CredentialStore::Open(*backend, keyring->keyring, std::move(options));
  if (!store.ok()) {
    if (store.status().code() == credstore::StatusCode::kUnauthorized) {
      if (keyring->created) ::unlink(config.key_file.c_str());  // it never protected anything
      LogLine("error", "credstored.keys")
          .Add("message", "data in " + storage_shown +
                              " was written under other keys; start with the key file (or "
                              "CREDSTORE_KEYRING) it was written with")
          .WriteTo(log);
      return kExitConfig;
    }
    LogLine("error", "credstored.storage")
        .Add("storage", storage_shown)
        .Add("message", store.status().message())
        .WriteTo(log);
    return store.status().code() == credstore::StatusCode::kInvalidArgument ? kExitConfig
                                                                            : kExitFailure;
  }
  if (config.argon2 == "minimum") {
    LogLine("warning", "credstored.argon2")
        .Add("message",
             "--argon2 minimum: customer secrets are hashed at the lowest cost; "
             "for tests only, never in production")
        .WriteTo(log);
  }

  credstore::http::Metrics metrics;
  credstore::http::PublicApi public_api(**store);
  std::optional<credstore::http::OperatorApi> operator_api;
  if (operator_token) {
    credstore::http::OperatorApiOptions operator_options;
    operator_options.token = std::string(operator_token->view());
    operator_token.reset();
    operator_api.emplace(**store, provisioned.get(), metrics, std::move(operator_options));
  }

  credstore::http::ServerOptions server_options;
  server_options.io_threads = config.io_threads;
  server_options.hashing_workers = config.hashing_workers;
  server_options.hashing_queue = config.hashing_queue;
  server_options.storage_workers = config.storage_workers;
  server_options.storage_queue = config.storage_queue;
  server_options.read_timeout =
      *credstore::http::SecondsToMillis(config.read_timeout_seconds, "--read-timeout");
  server_options.idle_timeout =
      *credstore::http::SecondsToMillis(config.idle_timeout_seconds, "--idle-timeout");
  server_options.shutdown_grace =
      *credstore::http::SecondsToMillis(config.shutdown_grace_seconds, "--shutdown-grace");
  server_options.trusted_proxies = config.trusted_proxies;
  server_options.metrics = &metrics;
  server_options.access_log = [&log](std::string_view line) { log.WriteLine(line); };
  auto server = credstore::http::Server::Create(std::move(server_options));
  if (!server.ok()) {
    LogLine("error", "credstored.config").Add("message", server.status().message()).WriteTo(log);
    return kExitConfig;
  }

  // The signal set exists before anything is served, so a SIGTERM from now on stops cleanly.
  boost::asio::io_context signal_context;
  boost::asio::signal_set signals(signal_context, SIGINT, SIGTERM);
  std::string stop_signal;
  signals.async_wait([&](const boost::system::error_code& error, int number) {
    if (error) return;
    stop_signal = number == SIGINT ? "SIGINT" : "SIGTERM";
    (*server)->Stop();
  });

  const auto listen = *credstore::http::ParseListenAddress(config.listen);
  std::optional<credstore::http::TlsConfig> tls;
  if (!config.tls_cert.empty()) tls = credstore::http::TlsConfig{config.tls_cert, config.tls_key};
  auto public_port = (*server)->AddTcpListener(listen, public_api, tls, "public");
  if (!public_port.ok()) {
    LogLine("error", "credstored.listen")
        .Add("message", public_port.status().message())
        .WriteTo(log);
    return public_port.status().code() == credstore::StatusCode::kInvalidArgument ? kExitConfig
                                                                                  : kExitFailure;
  }

  std::string operator_where = "off";
  std::optional<std::uint16_t> operator_port;
  if (operator_api) {
    if (!config.operator_socket.empty()) {
      Status added = (*server)->AddUnixListener(config.operator_socket, *operator_api, "operator");
      if (!added.ok()) {
        LogLine("error", "credstored.listen").Add("message", added.message()).WriteTo(log);
        return kExitFailure;
      }
      operator_where = "unix:" + config.operator_socket;
    } else {
      const std::string address = config.operator_listen.empty()
                                      ? std::string(credstore::http::kDefaultOperatorListen)
                                      : config.operator_listen;
      auto endpoint = credstore::http::ParseListenAddress(address);
      auto port = (*server)->AddTcpListener(*endpoint, *operator_api, std::nullopt, "operator");
      if (!port.ok()) {
        LogLine("error", "credstored.listen").Add("message", port.status().message()).WriteTo(log);
        return kExitFailure;
      }
      operator_port = *port;
      operator_where = endpoint->address().to_string() + ":" + std::to_string(*port);
    }
  } else {
    LogLine("warning", "credstored.operator")
        .Add("message",
             "no operator token (--operator-token-file or CREDSTORE_OPERATOR_TOKEN): the "
             "operator listener (/metrics, provisioning) is off")
        .WriteTo(log);
  }

  // Port files last: once a test sees them, everything is listening.
  if (operator_port && !config.operator_port_file.empty()) {
    Status written =
        WriteFileAtomically(config.operator_port_file, std::to_string(*operator_port) + "\n");
    if (!written.ok()) {
      LogLine("error", "credstored.listen").Add("message", written.message()).WriteTo(log);
      return kExitFailure;
    }
  }
  if (!config.port_file.empty()) {
    Status written = WriteFileAtomically(config.port_file, std::to_string(*public_port) + "\n");
    if (!written.ok()) {
      LogLine("error", "credstored.listen").Add("message", written.message()).WriteTo(log);
      return kExitFailure;
    }
  }

  LogLine start("info", "credstored.start");
  start.Add("listen", listen.address().to_string() + ":" + std::to_string(*public_port))
      .AddBool("tls", tls.has_value())
      .Add("operator", operator_where)
      .Add("storage", storage_shown)
      .Add("backend", std::string((*backend)->Name()))
      .Add("keys", keyring->origin)
      .Add("api_keys", config.api_keys)
      .Add("argon2", config.argon2)
      .AddList("services", config.services)
      .AddNumber("hashing_workers", config.hashing_workers)
      .AddNumber("storage_workers", config.storage_workers)
      .AddNumber("pid", static_cast<std::uint64_t>(::getpid()));
#if defined(CREDSTORE_HAVE_REDIS) && CREDSTORE_HAVE_REDIS
  // How durable an acknowledged write is depends on the Redis server's settings: say which.
  if (const auto* redis = dynamic_cast<const credstore::RedisBackend*>(backend->get())) {
    const credstore::RedisServerDurability& durability = redis->server_durability();
    start.Add("redis_appendfsync",
              durability.known
                  ? (durability.appendonly ? durability.appendfsync : std::string("off"))
                  : std::string("unknown"));
  }
#endif
  start.WriteTo(log);

  std::thread signal_thread([&signal_context] { signal_context.run(); });
  (*server)->Run();
  signals.cancel();
  signal_context.stop();
  signal_thread.join();
  server->reset();

  LogLine("info", "credstored.stop")
      .Add("signal", stop_signal.empty() ? "none" : stop_signal)
      .WriteTo(log);
  return kExitOk;
}

}  // namespace

int main(int argc, char** argv) {
  HardenProcess();
  DaemonConfig config;
  if (std::optional<int> exit_code = ParseFlags(argc, argv, config)) return *exit_code;
  if (Status valid = credstore::http::ValidateConfig(config); !valid.ok()) {
    std::cerr << "credstored: " << valid.message() << "\n(see credstored --help)\n";
    return kExitConfig;
  }

  std::unique_ptr<LogWriter> log;
  if (config.log_file.empty()) {
    log = std::make_unique<LogWriter>(std::cerr);
  } else {
    auto file = std::make_unique<std::ofstream>(config.log_file, std::ios::app);
    if (!*file) {
      std::cerr << "credstored: cannot open the log file " << config.log_file << '\n';
      return kExitConfig;
    }
    log = std::make_unique<LogWriter>(std::move(file));
  }
  try {
    return Serve(config, *log);
  } catch (const std::exception& error) {
    // Only exception types reach here (bad_alloc, system_error from thread creation); their
    // messages carry no request data.
    LogLine("error", "credstored.fatal").Add("message", error.what()).WriteTo(*log);
    return kExitFailure;
  }
}
