#include "daemon_flags.h"

#include <boost/program_options.hpp>
#include <cstdint>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

namespace credstore::http::daemon {
namespace {

namespace po = boost::program_options;

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

po::options_description Flags(DaemonConfig& config) {
  po::options_description flags("Flags (a JSON --config file may set the same names; flags win)",
                                100);
  auto add = flags.add_options();
  add("help", "Print this help and exit.");
  add("config", po::value<std::string>()->value_name("FILE"),
      "A JSON object whose members are flags of this list, e.g. {\"listen\": \"0.0.0.0:8443\", "
      "\"services\": [\"geofencing\"], \"trusted-proxy\": [\"10.0.0.1\"], "
      "\"allow-plain-http-on-public-address\": true}: strings, numbers, true/false for "
      "switches, arrays for repeatable flags. An unknown name or a value of the wrong type "
      "stops the start (exit 2).");
  add("listen", po::value(&config.listen)->default_value(config.listen)->value_name("HOST:PORT"),
      "Public listener. Port 0 picks a free port (see --port-file). A non-loopback host needs "
      "--tls-cert/--tls-key or --allow-plain-http-on-public-address.");
  add("port-file", po::value(&config.port_file)->value_name("PATH"),
      "After listening, write the public listener's port (decimal) to PATH.");
  add("storage", po::value(&config.storage)->default_value(config.storage)->value_name("URI"),
      "Storage backend: memory://, rocksdb://PATH (relative) or rocksdb:///abs/path, "
      "redis://[:password@]host:port[/db], redis+unix:///path/redis.sock, "
      "redis+cluster://[:password@]host:port[,host:port...].");
  add("min-free-disk", po::value(&config.min_free_disk_mib)->value_name("MIB"),
      "RocksDB: below this much free disk space (MiB), writes answer 503 and the store opens "
      "read-only, while reads keep answering; writes resume once space is back. Default: twice "
      "the write buffer + 64 MiB (96 MiB); 0 turns the reserve off. A min_free_disk_mb in "
      "--storage wins.");
  add("backup-dir", po::value(&config.backup_dir)->value_name("PATH"),
      "RocksDB: the folder the operator's POST /v1/backups (`credstore backup NAME`) makes its "
      "checkpoints in, one subfolder per name. Default: `backups` beside the data folder "
      "(/var/lib/credstore/backups for rocksdb:///var/lib/credstore/data); it may neither lie "
      "inside the data folder nor hold it.");
  add("key-file", po::value(&config.key_file)->default_value(config.key_file)->value_name("PATH"),
      "The server's keyring. Created (mode 0600) on first start when absent, never "
      "overwritten (or made beforehand with `credstore keys init PATH`, as the systemd unit "
      "needs); must lie outside the RocksDB data folder. Ignored when the environment "
      "variable CREDSTORE_KEYRING holds the key file's text.");
  add("services",
      po::value<std::vector<std::string>>()
          ->default_value({"geofencing", "locationHistory"}, "geofencing,locationHistory")
          ->value_name("A,B"),
      "The services customers register with (the {service} of the routes), comma-separated; "
      "repeatable (in a config file: an array).");
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
  add("hashing-queue-wait",
      po::value(&config.hashing_queue_wait_seconds)
          ->default_value(config.hashing_queue_wait_seconds)
          ->value_name("SECONDS"),
      "Longest an Argon2id request waits for a thread; one still waiting then is answered 503 "
      "with Retry-After.");
  add("hashing-priority",
      po::value(&config.hashing_priority)
          ->default_value(config.hashing_priority)
          ->value_name("nice|idle"),
      "How the Argon2id threads are scheduled: 'nice' (nice 10: they yield to the I/O threads "
      "but keep a small, steady share of a busy machine) or 'idle' (SCHED_IDLE: only CPU time "
      "nothing else wants, so a register flood takes less from verifications, and admitted "
      "registrations may wait long on a saturated machine).");
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
  add("first-byte-timeout",
      po::value(&config.first_byte_timeout_seconds)
          ->default_value(config.first_byte_timeout_seconds)
          ->value_name("SECONDS"),
      "Time a new connection may wait before its first request begins (on TLS, for the "
      "handshake and then the first request); a socket that sends nothing is closed after it.");
  add("max-connections",
      po::value(&config.max_connections)->default_value(config.max_connections)->value_name("N"),
      "Most client connections open at once, both listeners together; 16 of them (a quarter "
      "at most) only the operator listener may use. 0: the open-files limit (raised to its hard "
      "limit at start) minus max(limit/8, min(256, limit/2)) for storage files and the rest. At "
      "the limit, the public connection idle longest between requests is closed to make room; "
      "with none idle, the new connection is closed at once.");
  add("max-connections-per-address",
      po::value(&config.max_connections_per_address)
          ->default_value(config.max_connections_per_address)
          ->value_name("N"),
      "Most public connections from one client address (IPv4 /32, IPv6 /64); one more is closed "
      "at once. Trusted proxies and the operator listener are exempt. 0: no limit.");
  add("shutdown-grace",
      po::value(&config.shutdown_grace_seconds)
          ->default_value(config.shutdown_grace_seconds)
          ->value_name("SECONDS"),
      "On SIGINT/SIGTERM, how long requests in flight may finish before connections close.");
  add("throttle-failures-per-address",
      po::value(&config.throttle_failures_per_address)
          ->default_value(config.throttle_failures_per_address)
          ->value_name("N"),
      "Failed secret attempts one client address (IPv4 /32, IPv6 /64; behind a trusted proxy, "
      "the address X-Forwarded-For names) may make per --throttle-address-window; beyond, 429. "
      "Every client behind one NAT shares this allowance.");
  add("throttle-address-window",
      po::value(&config.throttle_address_window_seconds)
          ->default_value(config.throttle_address_window_seconds)
          ->value_name("SECONDS"),
      "The window of --throttle-failures-per-address.");
  add("throttle-customer-burst",
      po::value(&config.throttle_customer_burst)
          ->default_value(config.throttle_customer_burst)
          ->value_name("N"),
      "Failed secret attempts at one customer (from anywhere) that may come at once; the "
      "allowance comes back one attempt per --throttle-customer-interval.");
  add("throttle-customer-interval",
      po::value(&config.throttle_customer_interval_seconds)
          ->default_value(config.throttle_customer_interval_seconds)
          ->value_name("SECONDS"),
      "How often one more failed attempt at a customer is allowed once its burst is spent.");
  add("throttle-registrations-per-address",
      po::value(&config.throttle_registrations_per_address)
          ->default_value(config.throttle_registrations_per_address)
          ->value_name("N"),
      "Registrations one client address may make per --throttle-registration-window (each "
      "costs an Argon2id hash).");
  add("throttle-registration-window",
      po::value(&config.throttle_registration_window_seconds)
          ->default_value(config.throttle_registration_window_seconds)
          ->value_name("SECONDS"),
      "The window of --throttle-registrations-per-address.");
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
  add("verifier-token-file", po::value(&config.verifier_token_file)->value_name("PATH"),
      "File of verifier tokens, one `label scope token` line each (or set "
      "CREDSTORE_VERIFIER_TOKENS): the credentials of the services that call /v1/verify/. "
      "Reloaded on SIGHUP. Without any, the verify routes answer 404.");
  add("forward-auth", po::value(&config.forward_auth)->value_name("nginx|traefik|envoy"),
      "Answer the forward-auth checks of this gateway on /v1/auth/admin-key and "
      "/v1/auth/signature (docs/gateways.md), with the verifier tokens. Off by default: those "
      "routes answer 404.");
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
      "Append log lines (startup, access log, audit events) to PATH instead of stderr. "
      "Reopened on SIGHUP (for logrotate).");
  return flags;
}

template <class T>
bool HoldsType(const po::value_semantic& semantic) {
  return dynamic_cast<const po::typed_value<T>*>(&semantic) != nullptr;
}

// What the config file may set, read off the flags themselves (by the C++ type each stores),
// so a new flag is settable from the file, with the right JSON type, without a second list.
std::vector<ConfigSetting> ConfigSettingsOf(const po::options_description& flags) {
  std::vector<ConfigSetting> settings;
  for (const auto& flag : flags.options()) {
    const po::value_semantic& semantic = *flag->semantic();
    SettingKind kind = SettingKind::kText;
    if (HoldsType<bool>(semantic)) {
      kind = SettingKind::kSwitch;
    } else if (HoldsType<std::vector<std::string>>(semantic)) {
      kind = SettingKind::kList;
    } else if (HoldsType<std::size_t>(semantic) || HoldsType<std::uint32_t>(semantic)) {
      kind = SettingKind::kCount;
    } else if (HoldsType<double>(semantic) || HoldsType<std::int64_t>(semantic)) {
      kind = SettingKind::kNumber;
    }
    settings.push_back({flag->long_name(), kind});
  }
  return settings;
}

// The config file's settings, stored under what the command line set (which wins). Says why
// on stderr and returns kExitConfig when the file cannot be used.
Stop StoreConfigFile(const std::string& path, const po::options_description& flags,
                     po::variables_map& values) {
  std::ifstream in(path);
  if (!in) {
    std::cerr << "credstored: cannot read the config file " << path << '\n';
    return kExitConfig;
  }
  std::stringstream text;
  text << in.rdbuf();
  auto arguments = JsonConfigToArguments(text.str(), path, ConfigSettingsOf(flags));
  if (!arguments.ok()) {
    std::cerr << "credstored: " << arguments.status().message() << '\n';
    return kExitConfig;
  }
  try {
    po::store(po::command_line_parser(*arguments).options(flags).run(), values);
  } catch (const po::error& error) {
    // The JSON type was right, the value is not (a count too large, a word for a number).
    std::cerr << "credstored: " << path << ": " << error.what() << '\n';
    return kExitConfig;
  }
  return std::nullopt;
}

}  // namespace

Stop ParseFlags(int argc, char** argv, DaemonConfig& config) {
  po::options_description flags = Flags(config);
  po::variables_map values;
  try {
    po::store(po::command_line_parser(argc, argv).options(flags).run(), values);
    if (values.count("help")) {
      std::cout << kUsage << '\n' << flags << '\n';
      return kExitOk;
    }
    if (values.count("config")) {
      if (Stop stop = StoreConfigFile(values["config"].as<std::string>(), flags, values)) {
        return stop;
      }
    }
    po::notify(values);
  } catch (const po::error& error) {
    std::cerr << "credstored: " << error.what() << "\n(see credstored --help)\n";
    return kExitConfig;
  }
  auto services = SplitServiceLists(values["services"].as<std::vector<std::string>>());
  if (!services.ok()) {
    std::cerr << "credstored: " << services.status().message() << '\n';
    return kExitConfig;
  }
  config.services = std::move(services).value();
  return std::nullopt;
}

}  // namespace credstore::http::daemon
