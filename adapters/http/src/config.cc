#include "config.h"

#include <algorithm>
#include <boost/json.hpp>
#include <charconv>
#include <cmath>
#include <optional>

#include "credstore/http/forward_auth_api.h"
#include "trim.h"

namespace credstore::http {
namespace {

namespace ip = boost::asio::ip;

bool IsLoopback(const ip::address& address) {
  if (address.is_v6() && address.to_v6().is_v4_mapped()) {
    return ip::make_address_v4(ip::v4_mapped, address.to_v6()).is_loopback();
  }
  return address.is_loopback();
}

// A service name as it appears in a route: 1..64 characters of [A-Za-z0-9_-].
bool IsServiceName(std::string_view name) {
  if (name.empty() || name.size() > 64) return false;
  for (char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

}  // namespace

Result<ip::tcp::endpoint> ParseListenAddress(std::string_view text) {
  const std::string shown(text);
  std::string_view host;
  std::string_view port_text;
  if (!text.empty() && text.front() == '[') {
    const std::size_t close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') {
      return Status::InvalidArgument("'" + shown + "' is not host:port (IPv6 as [addr]:port)");
    }
    host = text.substr(1, close - 1);
    port_text = text.substr(close + 2);
  } else {
    const std::size_t colon = text.rfind(':');
    if (colon == std::string_view::npos || text.find(':') != colon) {
      return Status::InvalidArgument("'" + shown + "' is not host:port (IPv6 as [addr]:port)");
    }
    host = text.substr(0, colon);
    port_text = text.substr(colon + 1);
  }
  unsigned port = 0;
  const auto [end, error] =
      std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (port_text.empty() || error != std::errc() || end != port_text.data() + port_text.size() ||
      port > 65535) {
    return Status::InvalidArgument("'" + shown + "' has no valid port (0..65535)");
  }
  ip::address address;
  if (host == "localhost") {
    address = ip::address_v4::loopback();
  } else {
    boost::system::error_code parse_error;
    address = ip::make_address(std::string(host), parse_error);
    if (parse_error) {
      return Status::InvalidArgument("'" + shown +
                                     "': the host must be an IP address or localhost");
    }
  }
  return ip::tcp::endpoint(address, static_cast<std::uint16_t>(port));
}

Result<std::chrono::milliseconds> SecondsToMillis(double seconds, std::string_view what) {
  if (!std::isfinite(seconds) || seconds <= 0 || seconds > 86400) {
    return Status::InvalidArgument(std::string(what) +
                                   " must be a number of seconds in (0, 86400]");
  }
  return std::chrono::milliseconds(static_cast<std::int64_t>(std::llround(seconds * 1000)));
}

Result<std::vector<std::string>> SplitServiceList(std::string_view text) {
  std::vector<std::string> services;
  while (true) {
    const std::size_t comma = text.find(',');
    const std::string_view name = Trim(text.substr(0, comma));
    if (!IsServiceName(name)) {
      return Status::InvalidArgument(
          "--services takes names of 1..64 characters of [A-Za-z0-9_-], separated by commas");
    }
    services.emplace_back(name);
    if (comma == std::string_view::npos) break;
    text.remove_prefix(comma + 1);
  }
  return services;
}

std::string RedactStorageUri(std::string_view uri) {
  const std::size_t scheme_end = uri.find("://");
  if (scheme_end == std::string_view::npos) return "<storage URI>";
  const std::size_t authority = scheme_end + 3;
  const std::size_t path = uri.find('/', authority);
  const std::string_view authority_text = uri.substr(authority, path - authority);
  const std::size_t at = authority_text.rfind('@');
  std::string redacted(uri.substr(0, authority));
  if (at != std::string_view::npos) {
    redacted += "***@";
    redacted += authority_text.substr(at + 1);
  } else {
    redacted += authority_text;
  }
  if (path != std::string_view::npos) {
    std::string_view rest = uri.substr(path);
    // A password may also ride in the query (redis+unix://...?password=...): drop the query.
    const std::size_t query = rest.find('?');
    redacted += rest.substr(0, query);
    if (query != std::string_view::npos) redacted += "?...";
  }
  return redacted;
}

std::string RocksDbFolder(std::string_view uri) {
  constexpr std::string_view kScheme = "rocksdb://";
  if (uri.substr(0, kScheme.size()) != kScheme) return "";
  return std::string(uri.substr(kScheme.size()));
}

Status ValidateConfig(const DaemonConfig& config) {
  auto listen = ParseListenAddress(config.listen);
  if (!listen.ok()) return Status::InvalidArgument("--listen " + listen.status().message());

  if (config.tls_cert.empty() != config.tls_key.empty()) {
    return Status::InvalidArgument("--tls-cert and --tls-key go together");
  }
  // -1 is the unset default; a reserve beyond 1 TiB is a typo.
  if (config.min_free_disk_mib < -1 || config.min_free_disk_mib > (std::int64_t{1} << 20)) {
    return Status::InvalidArgument("--min-free-disk must be a number of MiB, 0 to 1048576");
  }
  const bool tls = !config.tls_cert.empty();
  if (!tls && !IsLoopback(listen->address()) && !config.allow_plain_http_on_public_address) {
    return Status::InvalidArgument(
        "--listen " + config.listen +
        " is not a loopback address: serve TLS (--tls-cert, --tls-key), or pass "
        "--allow-plain-http-on-public-address when a TLS proxy in front does it");
  }

  if (!config.operator_listen.empty() && !config.operator_socket.empty()) {
    return Status::InvalidArgument("--operator-listen and --operator-socket exclude each other");
  }
  if (!config.operator_listen.empty()) {
    auto operator_listen = ParseListenAddress(config.operator_listen);
    if (!operator_listen.ok()) {
      return Status::InvalidArgument("--operator-listen " + operator_listen.status().message());
    }
    if (!IsLoopback(operator_listen->address())) {
      return Status::InvalidArgument(
          "--operator-listen must be a loopback address (127.0.0.1, ::1); use --operator-socket "
          "or an SSH tunnel to reach it from elsewhere");
    }
  }
  if (!config.operator_port_file.empty() && !config.operator_socket.empty()) {
    return Status::InvalidArgument(
        "--operator-port-file goes with --operator-listen, not a socket");
  }

  if (config.api_keys != "any" && config.api_keys != "provisioned") {
    return Status::InvalidArgument("--api-keys must be 'any' or 'provisioned'");
  }
  if (config.argon2 != "production" && config.argon2 != "minimum") {
    return Status::InvalidArgument("--argon2 must be 'production' or 'minimum'");
  }
  if (!config.forward_auth.empty() && !ParseGatewayProfile(config.forward_auth)) {
    return Status::InvalidArgument("--forward-auth must be 'nginx', 'traefik' or 'envoy'");
  }
  if (config.services.empty()) return Status::InvalidArgument("--services names no service");
  for (const std::string& service : config.services) {
    if (!IsServiceName(service)) {
      return Status::InvalidArgument("--services: '" + service + "' is not a service name");
    }
  }
  if (config.io_threads == 0 || config.hashing_workers == 0 || config.storage_workers == 0) {
    return Status::InvalidArgument(
        "--io-threads, --hashing-workers and --storage-workers must be at least 1");
  }
  if (config.hashing_queue == 0 || config.storage_queue == 0) {
    return Status::InvalidArgument("--hashing-queue and --storage-queue must be at least 1");
  }
  if (config.hashing_priority != "nice" && config.hashing_priority != "idle") {
    return Status::InvalidArgument("--hashing-priority must be 'nice' or 'idle'");
  }
  for (const auto& [seconds, name] :
       {std::pair{config.read_timeout_seconds, "--read-timeout"},
        std::pair{config.idle_timeout_seconds, "--idle-timeout"},
        std::pair{config.first_byte_timeout_seconds, "--first-byte-timeout"},
        std::pair{config.shutdown_grace_seconds, "--shutdown-grace"},
        std::pair{config.hashing_queue_wait_seconds, "--hashing-queue-wait"},
        std::pair{config.throttle_address_window_seconds, "--throttle-address-window"},
        std::pair{config.throttle_customer_interval_seconds, "--throttle-customer-interval"},
        std::pair{config.throttle_registration_window_seconds, "--throttle-registration-window"}}) {
    auto millis = SecondsToMillis(seconds, name);
    if (!millis.ok()) return millis.status();
  }
  if (config.storage.empty()) return Status::InvalidArgument("--storage is empty");
  if (config.key_file.empty()) return Status::InvalidArgument("--key-file is empty");
  return Status::Ok();
}

ThrottlePolicy ThrottlePolicyOf(const DaemonConfig& config) {
  // Validated: each window and interval converts.
  auto millis = [](double seconds) {
    return std::chrono::milliseconds(static_cast<std::int64_t>(seconds * 1000.0));
  };
  ThrottlePolicy policy;
  policy.failures_per_address = config.throttle_failures_per_address;
  policy.address_window = millis(config.throttle_address_window_seconds);
  policy.customer_burst = config.throttle_customer_burst;
  policy.customer_token_interval = millis(config.throttle_customer_interval_seconds);
  policy.registrations_per_address = config.throttle_registrations_per_address;
  policy.registration_window = millis(config.throttle_registration_window_seconds);
  return policy;
}

namespace {

// What a member of `kind` must hold, for the error message.
std::string_view KindDescription(SettingKind kind) {
  switch (kind) {
    case SettingKind::kText:
      return "a string";
    case SettingKind::kCount:
      return "a whole number, 0 or more";
    case SettingKind::kNumber:
      return "a number";
    case SettingKind::kSwitch:
      return "true or false";
    case SettingKind::kList:
      return "an array of strings (or one string)";
  }
  return "a string";
}

// `value` as the flag value of `kind` (a list's elements are kText), or nullopt when the JSON
// type does not fit.
std::optional<std::string> FlagValue(const boost::json::value& value, SettingKind kind) {
  switch (kind) {
    case SettingKind::kText:
    case SettingKind::kList:
      if (value.is_string()) return std::string(value.get_string());
      return std::nullopt;
    case SettingKind::kCount:
      if (value.is_uint64()) return std::to_string(value.get_uint64());
      if (value.is_int64() && value.get_int64() >= 0) return std::to_string(value.get_int64());
      return std::nullopt;
    case SettingKind::kNumber:
      if (value.is_int64()) return std::to_string(value.get_int64());
      if (value.is_uint64()) return std::to_string(value.get_uint64());
      if (value.is_double()) {
        // The shortest text that reads back as the same double: 2.5, not Boost.JSON's 2.5E0.
        char text[64];
        const auto end = std::to_chars(text, text + sizeof(text), value.get_double());
        if (end.ec != std::errc()) return std::nullopt;
        return std::string(text, end.ptr);
      }
      return std::nullopt;
    case SettingKind::kSwitch:
      return std::nullopt;  // handled by the caller: a switch has no value
  }
  return std::nullopt;
}

}  // namespace

Result<std::vector<std::string>> SplitServiceLists(const std::vector<std::string>& texts) {
  std::vector<std::string> services;
  for (const std::string& text : texts) {
    auto split = SplitServiceList(text);
    if (!split.ok()) return split.status();
    services.insert(services.end(), split->begin(), split->end());
  }
  return services;
}

Result<std::vector<std::string>> JsonConfigToArguments(std::string_view json_text,
                                                       std::string_view file_name,
                                                       const std::vector<ConfigSetting>& settings) {
  const std::string file(file_name);
  boost::system::error_code error;
  const boost::json::value document = boost::json::parse(json_text, error);
  if (error) return Status::InvalidArgument(file + " is not JSON: " + error.message());
  if (!document.is_object()) return Status::InvalidArgument(file + " must hold one JSON object");
  std::vector<std::string> arguments;
  for (const auto& member : document.get_object()) {
    const std::string name(member.key());
    // Named by the caller's flags, these two would make no sense in a file: refused by name,
    // rather than as unknown, since they are flags.
    if (name == "config" || name == "help") {
      return Status::InvalidArgument(file + " cannot set '" + name + "'");
    }
    const auto setting = std::find_if(settings.begin(), settings.end(),
                                      [&name](const ConfigSetting& s) { return s.name == name; });
    if (setting == settings.end()) {
      return Status::InvalidArgument("unknown setting '" + name + "' in " + file);
    }
    const boost::json::value& value = member.value();
    const std::string wrong_type =
        "'" + name + "' in " + file + " must be " + std::string(KindDescription(setting->kind));
    if (setting->kind == SettingKind::kSwitch) {
      if (!value.is_bool()) return Status::InvalidArgument(wrong_type);
      if (value.get_bool()) arguments.push_back("--" + name);
      continue;
    }
    if (setting->kind == SettingKind::kList && value.is_array()) {
      for (const boost::json::value& element : value.get_array()) {
        auto text = FlagValue(element, SettingKind::kList);
        if (!text) return Status::InvalidArgument(wrong_type);
        arguments.push_back("--" + name + "=" + *text);
      }
      continue;
    }
    auto text = FlagValue(value, setting->kind);
    if (!text) return Status::InvalidArgument(wrong_type);
    arguments.push_back("--" + name + "=" + *text);
  }
  return arguments;
}

}  // namespace credstore::http
