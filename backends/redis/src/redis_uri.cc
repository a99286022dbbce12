// RedisBackend::ParseUri. Error messages name the part that is wrong but never quote the URI:
// a mistyped URI can put the password where the host or the port should be.
#include <sys/un.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "credstore/backends/redis.h"

namespace credstore {
namespace {

constexpr std::string_view kTcpScheme = "redis://";
constexpr std::string_view kUnixScheme = "redis+unix://";

Status Bad(std::string_view what) {
  return Status::InvalidArgument("invalid redis URI: " + std::string(what));
}

bool StartsWithNoCase(std::string_view text, std::string_view prefix) {
  return text.size() >= prefix.size() &&
         std::equal(prefix.begin(), prefix.end(), text.begin(), [](char a, char b) {
           return std::tolower(static_cast<unsigned char>(a)) ==
                  std::tolower(static_cast<unsigned char>(b));
         });
}

std::optional<int> ParseBoundedInt(std::string_view text, int low, int high) {
  if (text.empty() ||
      !std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return std::nullopt;
  }
  int value = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc() || end != text.data() + text.size() || value < low || value > high) {
    return std::nullopt;
  }
  return value;
}

int HexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::optional<std::string> PercentDecode(std::string_view text) {
  std::string decoded;
  decoded.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '%') {
      decoded.push_back(text[i]);
      continue;
    }
    if (i + 2 >= text.size()) return std::nullopt;
    const int high = HexDigit(text[i + 1]);
    const int low = HexDigit(text[i + 2]);
    if (high < 0 || low < 0) return std::nullopt;
    decoded.push_back(static_cast<char>(high * 16 + low));
    i += 2;
  }
  return decoded;
}

// One `name=value` of a URI's query into `options`: the near-cache options for both schemes, and
// `db` where `db_allowed` (redis+unix, whose path is the socket's).
Status ApplyQueryOption(std::string_view name, std::string_view value, bool db_allowed,
                        RedisOptions& options) {
  if (name == "db" && db_allowed) {
    const std::optional<int> db = ParseBoundedInt(value, 0, 1'000'000);
    if (!db) return Bad("db must be a database number");
    options.db = *db;
  } else if (name == "cache") {
    if (value != "on" && value != "off") return Bad("cache must be 'on' or 'off'");
    options.cache = value == "on";
  } else if (name == "cache_size") {
    const std::optional<int> size = ParseBoundedInt(value, 1, 100'000'000);
    if (!size) return Bad("cache_size must be a number of records in 1..100000000");
    options.cache_size = static_cast<std::size_t>(*size);
  } else if (name == "cache_bytes") {
    const std::optional<int> bytes = ParseBoundedInt(value, 1024, 2'000'000'000);
    if (!bytes) return Bad("cache_bytes must be a number in 1024..2000000000");
    options.cache_bytes = static_cast<std::size_t>(*bytes);
  } else if (name == "cache_max_age_ms") {
    const std::optional<int> age = ParseBoundedInt(value, 1, 60'000);
    if (!age) return Bad("cache_max_age_ms must be a number in 1..60000");
    options.cache_max_age = std::chrono::milliseconds(*age);
  } else {
    return Bad(db_allowed ? "unknown query parameter (known: db, cache, cache_size, cache_bytes, "
                            "cache_max_age_ms)"
                          : "unknown query parameter (known: cache, cache_size, cache_bytes, "
                            "cache_max_age_ms)");
  }
  return Status::Ok();
}

// A URI's query (after the '?'): '&'-separated `name=value` pairs, each once.
Status ApplyQuery(std::string_view query, bool db_allowed, RedisOptions& options) {
  std::vector<std::string_view> seen;
  while (true) {
    const std::size_t amp = query.find('&');
    const std::string_view pair = query.substr(0, amp);
    const std::size_t equals = pair.find('=');
    if (equals == std::string_view::npos || equals == 0) {
      return Bad("the query must be name=value pairs separated by '&'");
    }
    const std::string_view name = pair.substr(0, equals);
    if (std::find(seen.begin(), seen.end(), name) != seen.end()) {
      return Bad("a query parameter is given twice");
    }
    seen.push_back(name);
    const Status applied = ApplyQueryOption(name, pair.substr(equals + 1), db_allowed, options);
    if (!applied.ok()) return applied;
    if (amp == std::string_view::npos) return Status::Ok();
    query = query.substr(amp + 1);
  }
}

// `[username]:password@` in front of the rest; fills the options and returns what follows.
Result<std::string_view> TakeCredentials(std::string_view rest, std::size_t at,
                                         RedisOptions& options) {
  const std::string_view userinfo = rest.substr(0, at);
  const std::size_t colon = userinfo.find(':');
  if (colon == std::string_view::npos) {
    return Bad("credentials must be written ':password@' or 'username:password@'");
  }
  std::optional<std::string> username = PercentDecode(userinfo.substr(0, colon));
  std::optional<std::string> password = PercentDecode(userinfo.substr(colon + 1));
  if (!username || !password) return Bad("bad percent-encoding in the credentials");
  if (!username->empty() && password->empty()) return Bad("a username needs a password");
  options.username = std::move(*username);
  options.password = std::move(*password);
  return rest.substr(at + 1);
}

Result<RedisOptions> ParseTcp(std::string_view rest) {
  RedisOptions options;
  // The last '@' ends the credentials: a password may hold an unencoded '@' (or '/', '?', '#'),
  // the rest of a valid URI never does.
  const std::size_t at = rest.rfind('@');
  if (at != std::string_view::npos) {
    Result<std::string_view> after = TakeCredentials(rest, at, options);
    if (!after.ok()) return after.status();
    rest = *after;
  }
  if (rest.find('#') != std::string_view::npos) return Bad("redis:// URIs take no fragment");
  const std::size_t question = rest.find('?');
  if (question != std::string_view::npos) {
    const Status applied = ApplyQuery(rest.substr(question + 1), /*db_allowed=*/false, options);
    if (!applied.ok()) return applied;
    rest = rest.substr(0, question);
  }
  const std::size_t slash = rest.find('/');
  const std::string_view authority = rest.substr(0, slash);
  const std::string_view path =
      slash == std::string_view::npos ? std::string_view() : rest.substr(slash);

  std::string_view host;
  std::string_view port;
  if (!authority.empty() && authority.front() == '[') {
    const std::size_t close = authority.find(']');
    if (close == std::string_view::npos) return Bad("unterminated IPv6 address");
    host = authority.substr(1, close - 1);
    const std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') return Bad("unexpected text after the IPv6 address");
      port = after.substr(1);
      if (port.empty()) return Bad("empty port");
    }
    if (host.empty() || !std::all_of(host.begin(), host.end(), [](char c) {
          return std::isxdigit(static_cast<unsigned char>(c)) || c == ':' || c == '.';
        })) {
      return Bad("malformed IPv6 address");
    }
  } else {
    const std::size_t colon = authority.find(':');
    host = authority.substr(0, colon);
    if (colon != std::string_view::npos) {
      port = authority.substr(colon + 1);
      if (port.empty()) return Bad("empty port");
    }
    if (!std::all_of(host.begin(), host.end(), [](char c) {
          return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' || c == '_';
        })) {
      return Bad("the host may hold only letters, digits, '.', '-' and '_'");
    }
  }
  if (host.empty()) return Bad("missing host");
  options.host = std::string(host);
  options.unix_socket.clear();
  if (!port.empty()) {
    const std::optional<int> number = ParseBoundedInt(port, 1, 65535);
    if (!number) return Bad("the port must be a number in 1..65535");
    options.port = *number;
  }

  if (path.size() > 1) {
    const std::optional<int> db = ParseBoundedInt(path.substr(1), 0, 1'000'000);
    if (!db) return Bad("the path must be '/' followed by a database number");
    options.db = *db;
  }
  return options;
}

Result<RedisOptions> ParseUnix(std::string_view rest) {
  RedisOptions options;
  if (!rest.empty() && rest.front() != '/') {
    // Only credentials may stand between '//' and the path: `:password@/path`.
    const std::size_t at = rest.find("@/");
    if (at == std::string_view::npos) {
      return Bad(
          "a redis+unix:// URI names no host: write redis+unix:///path or "
          "redis+unix://:password@/path");
    }
    Result<std::string_view> after = TakeCredentials(rest, at, options);
    if (!after.ok()) return after.status();
    rest = *after;
  }
  if (rest.find('#') != std::string_view::npos) return Bad("unexpected fragment");

  const std::size_t question = rest.find('?');
  const std::string_view path = rest.substr(0, question);
  if (path.size() < 2) return Bad("missing the socket's absolute path");
  if (path.size() >= sizeof(sockaddr_un{}.sun_path)) return Bad("the socket path is too long");
  options.unix_socket = std::string(path);

  if (question != std::string_view::npos) {
    const Status applied = ApplyQuery(rest.substr(question + 1), /*db_allowed=*/true, options);
    if (!applied.ok()) return applied;
  }
  return options;
}

}  // namespace

Result<RedisOptions> RedisBackend::ParseUri(std::string_view uri) {
  if (StartsWithNoCase(uri, kTcpScheme)) return ParseTcp(uri.substr(kTcpScheme.size()));
  if (StartsWithNoCase(uri, kUnixScheme)) return ParseUnix(uri.substr(kUnixScheme.size()));
  return Bad("it must start with redis:// or redis+unix://");
}

}  // namespace credstore
