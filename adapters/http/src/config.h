// config.h — credstored's settings: what the flags and the JSON config file mean, and which
// combinations are refused before anything is opened.
//
// The flag parser itself (Boost.Program_options) lives in daemon_flags.cc; this file holds
// the plain settings, their validation and the small parsers they need, so that the rules
// (no plain HTTP on a public address without saying so, operator listener on loopback only,
// never a secret on the command line) are in one place.
//
// Thread safety: plain values and pure functions.
#ifndef CREDSTORE_HTTP_SRC_CONFIG_H_
#define CREDSTORE_HTTP_SRC_CONFIG_H_

#include <boost/asio/ip/tcp.hpp>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "credstore/options.h"
#include "credstore/status.h"

namespace credstore::http {

struct DaemonConfig {
  std::string listen = "127.0.0.1:8080";  // public listener, host:port (port 0: any)
  std::string port_file;                  // where the bound public port is written; "" none
  std::string storage = "rocksdb://./data";
  // RocksDB's free-space reserve in MiB (--min-free-disk); -1: the backend's default. A
  // min_free_disk_mb in the storage URI wins.
  std::int64_t min_free_disk_mib = -1;
  // RocksDB's checkpoint folder (--backup-dir); "": the backend's default, beside the data.
  std::string backup_dir;
  std::string key_file = "./credstore.keys";
  std::vector<std::string> services = {"geofencing", "locationHistory"};
  std::string api_keys = "any";       // "any" | "provisioned"
  std::string argon2 = "production";  // "production" | "minimum" (tests only)

  std::size_t io_threads = 2;
  std::size_t hashing_workers = 2;  // also the store's max_concurrent_hashes
  std::size_t hashing_queue = 16;
  double hashing_queue_wait_seconds = 5;
  std::string hashing_priority = "nice";  // "nice" (nice 10) | "idle" (SCHED_IDLE)
  std::size_t storage_workers = 64;
  std::size_t storage_queue = 256;
  double read_timeout_seconds = 10;
  double idle_timeout_seconds = 30;
  double first_byte_timeout_seconds = 5;
  std::size_t max_connections = 0;  // 0: derived from RLIMIT_NOFILE (DefaultMaxConnections)
  std::size_t max_connections_per_address = 128;  // 0: no per-address limit
  double shutdown_grace_seconds = 10;

  // The store's throttle (credstore::ThrottlePolicy; docs/operations.md "Throttling").
  std::uint32_t throttle_failures_per_address = 10;
  double throttle_address_window_seconds = 15 * 60;
  std::uint32_t throttle_customer_burst = 20;
  double throttle_customer_interval_seconds = 6;
  std::uint32_t throttle_registrations_per_address = 20;
  double throttle_registration_window_seconds = 60 * 60;

  std::string operator_listen;  // host:port on loopback; default 127.0.0.1:8081 (see below)
  std::string operator_socket;  // unix socket path instead of operator_listen
  std::string operator_port_file;
  std::string operator_token_file;
  std::string verifier_token_file;  // `label scope token` lines; "" = none (verify routes 404)
  std::string forward_auth;         // "nginx" | "traefik" | "envoy"; "" = off (auth routes 404)

  std::string tls_cert;
  std::string tls_key;
  bool allow_plain_http_on_public_address = false;
  std::vector<std::string> trusted_proxies;
  std::string log_file;  // "" = stderr
};

// The operator listener's address when neither --operator-listen nor --operator-socket is set.
inline constexpr std::string_view kDefaultOperatorListen = "127.0.0.1:8081";

// Checks every rule that does not need a file or the network: addresses parse, the operator
// listener is loopback or a unix socket (not both), plain HTTP on a non-loopback public address
// needs allow_plain_http_on_public_address, TLS needs both files, enumerations are known, counts
// and timeouts are positive. kInvalidArgument says which setting is wrong.
Status ValidateConfig(const DaemonConfig& config);

// "127.0.0.1:8080", "[::1]:8080", "localhost:8080" (= 127.0.0.1) -> an endpoint.
// kInvalidArgument when the host is not an IP address (or localhost) or the port is not 0..65535.
Result<boost::asio::ip::tcp::endpoint> ParseListenAddress(std::string_view text);

// Seconds (> 0, finite) as milliseconds; kInvalidArgument naming `what` otherwise.
Result<std::chrono::milliseconds> SecondsToMillis(double seconds, std::string_view what);

// The throttle policy the settings name (ValidateConfig has checked them).
ThrottlePolicy ThrottlePolicyOf(const DaemonConfig& config);

// "a,b" -> {"a", "b"}; blanks around names are dropped; empty names are an error.
Result<std::vector<std::string>> SplitServiceList(std::string_view text);
// Each of `texts` split as above, in order: repeated --services flags, or a config file's array
// (whose elements may themselves be comma lists).
Result<std::vector<std::string>> SplitServiceLists(const std::vector<std::string>& texts);

// The storage URI with any password or user name replaced by "***", for logs and errors.
std::string RedactStorageUri(std::string_view uri);

// The folder of a rocksdb:// URI ("rocksdb://./data" -> "./data"), or "" for other schemes.
std::string RocksDbFolder(std::string_view uri);

// What JSON a config-file member must hold, by the flag it sets.
enum class SettingKind {
  kText,    // a string
  kCount,   // a whole number, 0 or more
  kNumber,  // any number
  kSwitch,  // true or false (false: as if absent)
  kList,    // an array of strings, one flag each; a single string is an array of one
};

// A setting the config file may hold: a flag's name (without "--") and its kind.
struct ConfigSetting {
  std::string name;
  SettingKind kind = SettingKind::kText;
};

// A JSON config file's text -> flag tokens ("--name=value"), for the flag parser to read after
// the command line (so flags override the file). The top level must be an object whose members
// are among `settings`, each holding its kind's JSON. `file_name` (the path as given) names the
// file in the errors, all kInvalidArgument: "unknown setting 'lisen' in config.json",
// "'hashing-workers' in config.json must be a whole number, 0 or more", "config.json is not
// JSON: …", "config.json must hold one JSON object", "config.json cannot set 'config'".
Result<std::vector<std::string>> JsonConfigToArguments(std::string_view json_text,
                                                       std::string_view file_name,
                                                       const std::vector<ConfigSetting>& settings);

}  // namespace credstore::http

#endif  // CREDSTORE_HTTP_SRC_CONFIG_H_
