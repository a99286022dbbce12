// credstored — credstore's standalone HTTP server: the public routes on one listener, the
// operator routes on another (loopback or a unix socket), over one storage backend.
//
// Exit status: 0 after a clean stop (SIGINT, SIGTERM); 1 when serving failed (a listener could
// not be bound, storage unreachable); 2 for a configuration error, and when the data was written
// under other keys. `credstored --help` explains every flag.
//
// Serving is a sequence of steps (Daemon::Serve); each either builds its part or logs why it
// cannot and stops with an exit status. Only this file opens storage, so only credstored, not
// credstore::http, links the backends.

#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/signal_set.hpp>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "access_log.h"
#include "config.h"
#include "credstore/backends/open_backend.h"
#include "credstore/credential_store.h"
#include "credstore/http/metrics.h"
#include "credstore/http/operator_api.h"
#include "credstore/http/public_api.h"
#include "credstore/http/server.h"
#include "credstore/http/verifier_tokens.h"
#include "credstore/provisioned_api_keys.h"
#include "credstore/secret_string.h"
#include "credstore/storage_backend.h"
#include "daemon_exit.h"
#include "daemon_flags.h"
#include "daemon_log.h"
#include "daemon_notify.h"
#include "key_file.h"
#include "server_client_address.h"
#if defined(CREDSTORE_HAVE_REDIS) && CREDSTORE_HAVE_REDIS
#include "credstore/backends/redis.h"
#endif

namespace credstore::http::daemon {
namespace {

// docs/operations.md: the operator token has at least this many characters.
constexpr std::size_t kMinOperatorToken = 16;

// ---- Process hygiene --------------------------------------------------------------------

// No core dumps and no ptrace by other users' tools: a dump would hold keys and secrets. Every
// file and folder the process creates is its owner's alone (umask 077): the RocksDB folder
// (0700) and its files (0600), the key file, the port files, the log file. Set first, before
// anything is created, rather than a chmod after each, which would leave a moment open.
void HardenProcess() {
  ::umask(077);
  ::prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
  const rlimit no_core{0, 0};
  ::setrlimit(RLIMIT_CORE, &no_core);
  std::signal(SIGPIPE, SIG_IGN);
}

// Every connection holds a descriptor, and the default --max-connections is derived from this
// limit: take what the hard limit allows (systemd's LimitNOFILE=, `ulimit -Hn`), since the soft
// limit's usual 1024 is a default for interactive shells, not a budget for a server.
void RaiseOpenFilesLimit() {
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) != 0 || limit.rlim_cur == limit.rlim_max) return;
  limit.rlim_cur = limit.rlim_max;
  ::setrlimit(RLIMIT_NOFILE, &limit);  // failure keeps the soft limit, and the default follows it
}

// Takes a secret from the environment and erases it there, so it is not inherited by children
// nor left readable in /proc/<pid>/environ.
std::optional<SecretString> TakeSecretFromEnvironment(const char* name) {
  char* value = std::getenv(name);
  if (value == nullptr) return std::nullopt;
  SecretString secret(value);
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

// A failed call's exit status: a setting that cannot work is a configuration error, anything
// else (storage down, a port taken) a failure to serve.
int ExitFor(const Status& status) {
  return status.code() == StatusCode::kInvalidArgument ? kExitConfig : kExitFailure;
}

// ---- Serving ----------------------------------------------------------------------------

// The server and everything it serves, built by the steps of Serve() in the order the members
// are declared. So they are destroyed in reverse: the server before the APIs it calls, those
// before the store, the store before its backend.
class Daemon {
 public:
  Daemon(const DaemonConfig& config, LogWriter& log)
      : config_(config), log_(log), storage_shown_(RedactStorageUri(config.storage)) {}

  int Serve() {
    if (Stop stop = LoadSecrets()) return *stop;
    if (Stop stop = LoadVerifierTokenSet()) return *stop;
    if (Stop stop = LoadKeyring()) return *stop;
    if (Stop stop = OpenStorage()) return *stop;
    if (Stop stop = OpenStore()) return *stop;
    BuildApis();
    if (Stop stop = CreateServer()) return *stop;
    StopOnSignals();
    if (Stop stop = AddPublicListener()) return *stop;
    if (Stop stop = AddOperatorListener()) return *stop;
    if (Stop stop = WritePortFiles()) return *stop;
    LogStart();
    NotifyReadyToServe();
    return RunUntilSignalled();
  }

 private:
  // The keyring's text and the operator token, from the environment (taken first, and erased
  // there) or the token file. An operator listener asked for without a token is an error.
  Stop LoadSecrets() {
    keyring_text_ = TakeSecretFromEnvironment("CREDSTORE_KEYRING");
    operator_token_ = TakeSecretFromEnvironment("CREDSTORE_OPERATOR_TOKEN");
    if (!config_.operator_token_file.empty()) {
      std::string warning;
      auto token = ReadSecretFile(config_.operator_token_file, &warning);
      if (!token.ok()) {
        LogLine("error", "credstored.config")
            .Add("message", token.status().message())
            .WriteTo(log_);
        return kExitConfig;
      }
      if (!warning.empty())
        LogLine("warning", "credstored.config").Add("message", warning).WriteTo(log_);
      operator_token_ = std::move(token).value();
    }
    const bool operator_requested =
        !config_.operator_listen.empty() || !config_.operator_socket.empty();
    // Whatever its source: a short token can be guessed, and it unlocks every integrator.
    if (operator_token_ && operator_token_->size() < kMinOperatorToken) {
      LogLine("error", "credstored.config")
          .Add("message", "the operator token must have at least " +
                              std::to_string(kMinOperatorToken) +
                              " characters; use a long random one")
          .WriteTo(log_);
      return kExitConfig;
    }
    if (!operator_token_ && operator_requested) {
      LogLine("error", "credstored.config")
          .Add("message",
               "an operator listener needs a token: --operator-token-file or "
               "CREDSTORE_OPERATOR_TOKEN")
          .WriteTo(log_);
      return kExitConfig;
    }
    return std::nullopt;
  }

  // The verifier tokens from --verifier-token-file and CREDSTORE_VERIFIER_TOKENS (taken, and
  // kept for SIGHUP's reload). None configured is fine: the verify routes then answer 404.
  Stop LoadVerifierTokenSet() {
    verifier_env_ = TakeSecretFromEnvironment("CREDSTORE_VERIFIER_TOKENS");
    auto loaded = LoadVerifierTokenSetNow();
    if (!loaded.ok()) {
      LogLine("error", "credstored.config").Add("message", loaded.status().message()).WriteTo(log_);
      return kExitConfig;
    }
    verifier_tokens_.Replace(std::move(loaded).value());
    return std::nullopt;
  }

  Result<VerifierTokenSet> LoadVerifierTokenSetNow() const {
    // The operator token is passed so that no verifier token can equal it: each credential
    // opens its own door only.
    return LoadVerifierTokens(
        config_.verifier_token_file, verifier_env_ ? verifier_env_->view() : std::string_view(),
        operator_token_ ? operator_token_->view() : std::string_view(), config_.services);
  }

  // SIGHUP: the log file, the TLS certificate and the verifier tokens again. Whatever cannot
  // be reloaded keeps what is in force, and the log says why; the others are reloaded anyway.
  void ReloadOnHangup() {
    hangup_.emplace(signal_context_, SIGHUP);
    WaitForHangup();
  }

  void WaitForHangup() {
    hangup_->async_wait([this](const boost::system::error_code& error, int) {
      if (error) return;
      // The log first, so that the lines about the rest land in the new file.
      ReopenLogFile();
      ReloadTlsCertificate();
      ReloadVerifierTokens();
      WaitForHangup();
    });
  }

  // After logrotate has renamed the file (its `postrotate` sends SIGHUP), new lines go to a new
  // file at --log-file. The old file may still get the lines already queued.
  void ReopenLogFile() {
    if (config_.log_file.empty()) return;
    Status reopened = log_.Reopen();
    if (reopened.ok()) {
      LogLine("info", "credstored.reload")
          .Add("what", "log file")
          .Add("log_file", config_.log_file)
          .WriteTo(log_);
    } else {
      LogLine("error", "credstored.reload")
          .Add("what", "log file")
          .Add("message", reopened.message())
          .WriteTo(log_);
    }
  }

  // A renewed certificate without a restart: new connections get it, open ones keep theirs.
  void ReloadTlsCertificate() {
    if (!tls_) return;
    Status reloaded = server_->ReloadTls();
    if (reloaded.ok()) {
      LogLine("info", "credstored.reload")
          .Add("what", "tls certificate")
          .Add("tls_cert", config_.tls_cert)
          .WriteTo(log_);
    } else {
      LogLine("error", "credstored.reload")
          .Add("what", "tls certificate")
          .Add("message", reloaded.message() + "; the certificate in force is kept")
          .WriteTo(log_);
    }
  }

  // A file that no longer parses keeps the tokens in force.
  void ReloadVerifierTokens() {
    auto loaded = LoadVerifierTokenSetNow();
    if (loaded.ok()) {
      const std::size_t count = loaded->size();
      verifier_tokens_.Replace(std::move(loaded).value());
      LogLine("info", "credstored.reload")
          .Add("what", "verifier tokens")
          .AddNumber("tokens", count)
          .WriteTo(log_);
    } else {
      LogLine("error", "credstored.reload")
          .Add("what", "verifier tokens")
          .Add("message", loaded.status().message() + "; the tokens in force are kept")
          .WriteTo(log_);
    }
  }

  // The keyring from CREDSTORE_KEYRING or the key file, which is created on first start.
  Stop LoadKeyring() {
    auto keyring =
        LoadOrCreateKeyring(config_.key_file, keyring_text_, RocksDbFolder(config_.storage));
    keyring_text_.reset();
    if (!keyring.ok()) {
      LogLine("error", "credstored.keys").Add("message", keyring.status().message()).WriteTo(log_);
      return kExitConfig;
    }
    keyring_ = std::move(keyring).value();
    if (keyring_->created) {
      LogLine("info", "credstored.keys")
          .Add("message", "created a new key file; back it up apart from the data")
          .Add("key_file", keyring_->origin)
          .WriteTo(log_);
    }
    if (!keyring_->warning.empty()) {
      LogLine("warning", "credstored.keys").Add("message", keyring_->warning).WriteTo(log_);
    }
    return std::nullopt;
  }

  // The backend --storage names.
  Stop OpenStorage() {
    OpenBackendOptions options;
    // Once per change, not per readiness probe: the backend reports a change only once.
    options.on_health_change = [log = &log_, shown = storage_shown_](const Status& health) {
      LogLine(health.ok() ? "info" : "error", "credstored.storage")
          .Add("storage", shown)
          .Add("message", health.ok() ? std::string("the backend reports itself healthy again")
                                      : health.message() + "; /readyz answers 503 until fixed")
          .WriteTo(*log);
    };
    if (config_.min_free_disk_mib >= 0) {
      options.min_free_disk_bytes = static_cast<std::uint64_t>(config_.min_free_disk_mib) << 20;
    }
    options.backup_dir = config_.backup_dir;
    auto backend = OpenBackend(config_.storage, options);
    if (!backend.ok()) {
      LogLine("error", "credstored.storage")
          .Add("storage", storage_shown_)
          .Add("message", backend.status().message())
          .WriteTo(log_);
      return ExitFor(backend.status());
    }
    backend_ = std::move(backend).value();
    AddBackendCounters();
    return std::nullopt;
  }

  // The backend's own counters (StorageBackend::Counters: a near-cache's hits, ...) in /metrics
  // as `credstore_storage_<name>`, read at each scrape; whichever backend it is.
  void AddBackendCounters() {
    const std::vector<BackendCounter> counters = backend_->Counters();
    for (std::size_t i = 0; i < counters.size(); ++i) {
      metrics_.AddGauge("credstore_storage_" + counters[i].name, "", counters[i].help,
                        [backend = backend_.get(), i] {
                          const std::vector<BackendCounter> now = backend->Counters();
                          return i < now.size() ? static_cast<double>(now[i].value) : 0.0;
                        });
    }
  }

  // The credential store over the backend, which refuses data written under other keys.
  Stop OpenStore() {
    auto audit = std::make_shared<LogAuditSink>(log_);
    Options options;
    options.argon2 =
        config_.argon2 == "minimum" ? Argon2Cost::MinimumForTests() : Argon2Cost::Production();
    options.max_concurrent_hashes = config_.hashing_workers;
    options.throttle = ThrottlePolicyOf(config_);
    options.services = config_.services;
    options.audit = audit;
    if (config_.api_keys == "provisioned") {
      provisioned_ =
          std::make_shared<ProvisionedApiKeys>(backend_, keyring_->keyring, nullptr, audit);
      options.api_key_validator = provisioned_;
    }
    auto store = CredentialStore::Open(backend_, keyring_->keyring, std::move(options));
    if (!store.ok()) {
      if (store.status().code() == StatusCode::kUnauthorized) {
        if (keyring_->created) ::unlink(config_.key_file.c_str());  // it never protected anything
        // The core's reason names key ids (never key bytes): which key the store needs that
        // the key file lacks is what tells a retired-too-early master key from a wrong file.
        LogLine("error", "credstored.keys")
            .Add("message", "data in " + storage_shown_ +
                                " was written under other keys; start with the key file (or "
                                "CREDSTORE_KEYRING) it was written with. If a master key was "
                                "removed from it, put it back, run 'credstore keys reseal' and "
                                "remove it only once that succeeds")
            .Add("reason", store.status().message())
            .WriteTo(log_);
        return kExitConfig;
      }
      LogLine("error", "credstored.storage")
          .Add("storage", storage_shown_)
          .Add("message", store.status().message())
          .WriteTo(log_);
      return ExitFor(store.status());
    }
    store_ = std::move(store).value();
    if (config_.argon2 == "minimum") {
      LogLine("warning", "credstored.argon2")
          .Add("message",
               "--argon2 minimum: customer secrets are hashed at the lowest cost; "
               "for tests only, never in production")
          .WriteTo(log_);
    }
    return std::nullopt;
  }

  // The public routes, and the operator routes when there is a token (which they take over).
  // The operator token stays in memory (wiped at exit) for SIGHUP's verifier-token check.
  void BuildApis() {
    PublicApiOptions public_options;
    public_options.verifier_tokens = &verifier_tokens_;
    // What the public 503 no longer says, in the log next to the request's access line.
    public_options.storage_unavailable = [log = &log_](const RequestMeta& meta,
                                                       std::string_view cause) {
      LogLine("warning", "credstored.storage")
          .Add("request_id", meta.request_id)
          .Add("message", cause)
          .WriteTo(*log);
    };
    // ValidateConfig has checked the name.
    if (!config_.forward_auth.empty()) {
      public_options.forward_auth = ParseGatewayProfile(config_.forward_auth);
      if (verifier_tokens_.empty()) {
        LogLine("warning", "credstored.config")
            .Add("message",
                 "--forward-auth without any verifier token: the /v1/auth/ routes "
                 "answer 404 until one is loaded (SIGHUP)")
            .WriteTo(log_);
      }
    }
    public_api_.emplace(*store_, std::move(public_options));
    if (!operator_token_) return;
    OperatorApiOptions operator_options;
    operator_options.token = std::string(operator_token_->view());
    operator_api_.emplace(*store_, provisioned_.get(), metrics_, std::move(operator_options));
  }

  ServerOptions BuildServerOptions() {
    ServerOptions options;
    options.io_threads = config_.io_threads;
    options.hashing_workers = config_.hashing_workers;
    options.hashing_queue = config_.hashing_queue;
    options.hashing_priority = config_.hashing_priority == "idle"
                                   ? ServerOptions::HashingPriority::kIdle
                                   : ServerOptions::HashingPriority::kNiced;
    options.storage_workers = config_.storage_workers;
    options.storage_queue = config_.storage_queue;
    // ValidateConfig has checked every timeout already.
    options.read_timeout = *SecondsToMillis(config_.read_timeout_seconds, "--read-timeout");
    options.idle_timeout = *SecondsToMillis(config_.idle_timeout_seconds, "--idle-timeout");
    options.first_byte_timeout =
        *SecondsToMillis(config_.first_byte_timeout_seconds, "--first-byte-timeout");
    options.max_connections =
        config_.max_connections != 0 ? config_.max_connections : DefaultMaxConnections();
    options.max_connections_per_address = config_.max_connections_per_address;
    max_connections_ = options.max_connections;
    options.shutdown_grace = *SecondsToMillis(config_.shutdown_grace_seconds, "--shutdown-grace");
    options.hashing_queue_wait =
        *SecondsToMillis(config_.hashing_queue_wait_seconds, "--hashing-queue-wait");
    options.trusted_proxies = config_.trusted_proxies;
    options.metrics = &metrics_;
    options.access_log_lines = [&log = log_](std::string_view lines) { log.WriteLines(lines); };
    return options;
  }

  Stop CreateServer() {
    auto server = Server::Create(BuildServerOptions());
    if (config_.max_connections > DefaultMaxConnections()) {
      // Allowed (the operator may know the storage needs few descriptors), but past the
      // headroom accepting can fail with EMFILE before the limit is reached.
      LogLine("warning", "credstored.config")
          .Add("message",
               "--max-connections is above the open-files limit less its headroom; accepts "
               "may fail with EMFILE (too many open files) before it is reached")
          .AddNumber("max_connections", config_.max_connections)
          .AddNumber("default_max_connections", DefaultMaxConnections())
          .WriteTo(log_);
    }
    if (!server.ok()) {
      LogLine("error", "credstored.config").Add("message", server.status().message()).WriteTo(log_);
      return kExitConfig;
    }
    server_ = std::move(server).value();
    WarnOfWideTrustedProxies();
    return std::nullopt;
  }

  // A trusted range wider than one client network lets clients in it choose their own address
  // (server_client_address.h): allowed, since some deployments need it, but said at start.
  void WarnOfWideTrustedProxies() {
    auto trusted = TrustedProxies::Parse(config_.trusted_proxies);  // Server::Create parsed it
    if (!trusted.ok()) return;
    const std::vector<std::string> wide = trusted->WiderThanOneNetwork();
    if (wide.empty()) return;
    LogLine("warning", "credstored.config")
        .Add("message",
             "a --trusted-proxy range is wider than /24 (IPv4) or /64 (IPv6): every address in it "
             "may set X-Forwarded-For, so a client there can pick its own address and escape the "
             "per-address throttle; list the proxies themselves")
        .AddList("trusted_proxies", wide)
        .WriteTo(log_);
  }

  // Before anything is served, so that a SIGTERM from now on stops cleanly. Not sooner: until
  // here, a signal ends the process at once, as there is nothing to stop.
  void StopOnSignals() {
    signals_.emplace(signal_context_, SIGINT, SIGTERM);
    signals_->async_wait([this](const boost::system::error_code& error, int number) {
      if (error) return;
      stop_signal_ = number == SIGINT ? "SIGINT" : "SIGTERM";
      NotifyStopping();
      server_->Stop();
    });
    ReloadOnHangup();
  }

  Stop AddPublicListener() {
    listen_ = *ParseListenAddress(config_.listen);  // ValidateConfig has parsed it
    if (!config_.tls_cert.empty()) tls_ = TlsConfig{config_.tls_cert, config_.tls_key};
    auto port = server_->AddTcpListener(listen_, *public_api_, tls_, "public");
    if (!port.ok()) {
      LogLine("error", "credstored.listen").Add("message", port.status().message()).WriteTo(log_);
      return ExitFor(port.status());
    }
    public_port_ = *port;
    return std::nullopt;
  }

  // On the unix socket, or on the loopback address (by default kDefaultOperatorListen); without
  // a token there is none, which is worth a warning.
  Stop AddOperatorListener() {
    if (!operator_api_) {
      LogLine("warning", "credstored.operator")
          .Add("message",
               "no operator token (--operator-token-file or CREDSTORE_OPERATOR_TOKEN): the "
               "operator listener (/metrics, provisioning) is off")
          .WriteTo(log_);
      return std::nullopt;
    }
    if (!config_.operator_socket.empty()) {
      Status added = server_->AddUnixListener(config_.operator_socket, *operator_api_, "operator",
                                              ListenerRole::kOperator);
      if (!added.ok()) {
        LogLine("error", "credstored.listen").Add("message", added.message()).WriteTo(log_);
        return kExitFailure;
      }
      operator_where_ = "unix:" + config_.operator_socket;
      return std::nullopt;
    }
    const std::string address = config_.operator_listen.empty()
                                    ? std::string(kDefaultOperatorListen)
                                    : config_.operator_listen;
    auto endpoint = ParseListenAddress(address);
    auto port = server_->AddTcpListener(*endpoint, *operator_api_, std::nullopt, "operator",
                                        ListenerRole::kOperator);
    if (!port.ok()) {
      LogLine("error", "credstored.listen").Add("message", port.status().message()).WriteTo(log_);
      return kExitFailure;
    }
    operator_port_ = *port;
    operator_where_ = endpoint->address().to_string() + ":" + std::to_string(*port);
    return std::nullopt;
  }

  // Last of the setup: once a test sees the port files, everything is listening.
  Stop WritePortFiles() {
    if (operator_port_ && !config_.operator_port_file.empty()) {
      if (Stop stop = WritePortFile(config_.operator_port_file, *operator_port_)) return stop;
    }
    if (!config_.port_file.empty()) {
      if (Stop stop = WritePortFile(config_.port_file, public_port_)) return stop;
    }
    return std::nullopt;
  }

  Stop WritePortFile(const std::string& path, std::uint16_t port) {
    Status written = WriteFileAtomically(path, std::to_string(port) + "\n");
    if (!written.ok()) {
      LogLine("error", "credstored.listen").Add("message", written.message()).WriteTo(log_);
      return kExitFailure;
    }
    return std::nullopt;
  }

  // One line that says what this server is: where it listens, on what storage, with which keys.
  void LogStart() {
    LogLine start("info", "credstored.start");
    start.Add("listen", listen_.address().to_string() + ":" + std::to_string(public_port_))
        .AddBool("tls", tls_.has_value())
        .Add("operator", operator_where_)
        .Add("storage", storage_shown_)
        .Add("backend", std::string(backend_->Name()))
        .Add("keys", keyring_->origin)
        .Add("api_keys", config_.api_keys)
        .Add("forward_auth", config_.forward_auth.empty() ? "off" : config_.forward_auth)
        .Add("argon2", config_.argon2)
        .AddList("services", config_.services)
        .AddNumber("hashing_workers", config_.hashing_workers)
        .AddNumber("storage_workers", config_.storage_workers)
        .AddNumber("max_connections", max_connections_)
        .AddNumber("pid", static_cast<std::uint64_t>(::getpid()));
#if defined(CREDSTORE_HAVE_REDIS) && CREDSTORE_HAVE_REDIS
    // How durable an acknowledged write is depends on the Redis server's settings: say which.
    if (const auto* redis = dynamic_cast<const RedisBackend*>(backend_.get())) {
      const RedisServerDurability& durability = redis->server_durability();
      start.Add("redis_appendfsync",
                durability.known
                    ? (durability.appendonly ? durability.appendfsync : std::string("off"))
                    : std::string("unknown"));
    }
#endif
    start.WriteTo(log_);
  }

  // READY=1 for systemd (Type=notify), after every step that can still fail: the store opened
  // with matching keys (OpenStore), both listeners are bound and the port files written. A
  // connection made from now on waits in the listen queue until Run() accepts it.
  void NotifyReadyToServe() {
    NotifyReady("serving on " + listen_.address().to_string() + ":" + std::to_string(public_port_) +
                ", operator " + operator_where_);
  }

  // Serves until SIGINT or SIGTERM has stopped the server, then closes it.
  int RunUntilSignalled() {
    std::thread signal_thread([this] { signal_context_.run(); });
    server_->Run();
    signals_->cancel();
    hangup_->cancel();
    signal_context_.stop();
    signal_thread.join();
    server_.reset();
    LogLine("info", "credstored.stop")
        .Add("signal", stop_signal_.empty() ? "none" : stop_signal_)
        .WriteTo(log_);
    return kExitOk;
  }

  const DaemonConfig& config_;
  LogWriter& log_;
  const std::string storage_shown_;  // config_.storage without passwords, for the log
  std::optional<SecretString> keyring_text_;
  std::optional<SecretString> operator_token_;
  std::optional<SecretString> verifier_env_;  // CREDSTORE_VERIFIER_TOKENS, for SIGHUP
  VerifierTokens verifier_tokens_;            // outlives public_api_ (declared before it)
  std::optional<LoadedKeyring> keyring_;
  std::shared_ptr<StorageBackend> backend_;
  std::shared_ptr<ProvisionedApiKeys> provisioned_;  // with --api-keys provisioned
  std::unique_ptr<CredentialStore> store_;
  Metrics metrics_;
  std::optional<PublicApi> public_api_;
  std::optional<OperatorApi> operator_api_;  // with an operator token
  std::unique_ptr<Server> server_;
  boost::asio::io_context signal_context_;
  std::optional<boost::asio::signal_set> signals_;
  std::optional<boost::asio::signal_set> hangup_;
  std::string stop_signal_;  // set by the handler StopOnSignals() installs
  boost::asio::ip::tcp::endpoint listen_;
  std::optional<TlsConfig> tls_;
  std::uint16_t public_port_ = 0;
  std::size_t max_connections_ = 0;  // as the server applies it
  std::optional<std::uint16_t> operator_port_;
  std::string operator_where_ = "off";
};

}  // namespace
}  // namespace credstore::http::daemon

int main(int argc, char** argv) {
  using namespace credstore::http::daemon;
  HardenProcess();
  RaiseOpenFilesLimit();
  credstore::http::DaemonConfig config;
  if (Stop stop = ParseFlags(argc, argv, config)) return *stop;
  if (credstore::Status valid = credstore::http::ValidateConfig(config); !valid.ok()) {
    std::cerr << "credstored: " << valid.message() << "\n(see credstored --help)\n";
    return kExitConfig;
  }

  std::unique_ptr<credstore::http::LogWriter> log;
  if (config.log_file.empty()) {
    log = std::make_unique<credstore::http::LogWriter>(std::cerr);
  } else {
    auto file = credstore::http::LogWriter::OpenFile(config.log_file);
    if (!file.ok()) {
      std::cerr << "credstored: " << file.status().message() << '\n';
      return kExitConfig;
    }
    log = std::move(file).value();
  }
  try {
    return Daemon(config, *log).Serve();
  } catch (const std::exception& error) {
    // Only exception types reach here (bad_alloc, system_error from thread creation); their
    // messages carry no request data.
    LogLine("error", "credstored.fatal").Add("message", error.what()).WriteTo(*log);
    return kExitFailure;
  }
}
