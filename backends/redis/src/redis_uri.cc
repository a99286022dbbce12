// RedisBackend::ParseUri. Error messages name the part that is wrong but never quote the URI:
// a mistyped URI can put the password where the host or the port should be.
#include <sys/un.h>

#include <algorithm>
#include <cctype>
#include <optional>
#include <string>
#include <string_view>

#include "credstore/backends/redis.h"
#include "uri_query.h"

namespace credstore {
namespace {

using redis_internal::ApplyUriQuery;
using redis_internal::ParseBoundedInt;

constexpr std::string_view kTcpScheme = "redis://";
constexpr std::string_view kUnixScheme = "redis+unix://";
constexpr std::string_view kClusterScheme = "redis+cluster://";

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

// `host[:port]` or `[ipv6][:port]`; the port defaults to 6379.
Result<RedisAddress> ParseAddress(std::string_view authority) {
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
  RedisAddress address;
  address.host = std::string(host);
  if (!port.empty()) {
    const std::optional<int> number = ParseBoundedInt(port, 1, 65535);
    if (!number) return Bad("the port must be a number in 1..65535");
    address.port = *number;
  }
  return address;
}

// The credentials in front of `rest`, if any (the last '@' ends them: a password may hold an
// unencoded '@', '/', '?' or '#', the rest of a valid URI never does); returns what follows.
Result<std::string_view> TakeLeadingCredentials(std::string_view rest, RedisOptions& options) {
  const std::size_t at = rest.rfind('@');
  if (at == std::string_view::npos) return rest;
  return TakeCredentials(rest, at, options);
}

// Splits `?query` off the end of `rest`: what follows the '?', empty when there is none.
std::string_view TakeQuery(std::string_view& rest) {
  const std::size_t question = rest.find('?');
  if (question == std::string_view::npos) return {};
  const std::string_view query = rest.substr(question + 1);
  rest = rest.substr(0, question);
  return query;
}

Result<RedisOptions> ParseTcp(std::string_view rest) {
  RedisOptions options;
  Result<std::string_view> after = TakeLeadingCredentials(rest, options);
  if (!after.ok()) return after.status();
  rest = *after;
  if (rest.find('#') != std::string_view::npos) return Bad("redis:// URIs take no fragment");
  const std::string_view query = TakeQuery(rest);
  const std::size_t slash = rest.find('/');
  const std::string_view authority = rest.substr(0, slash);
  const std::string_view path =
      slash == std::string_view::npos ? std::string_view() : rest.substr(slash);

  Result<RedisAddress> address = ParseAddress(authority);
  if (!address.ok()) return address.status();
  options.host = std::move(address->host);
  options.port = address->port;
  options.unix_socket.clear();

  if (path.size() > 1) {
    const std::optional<int> db = ParseBoundedInt(path.substr(1), 0, 1'000'000);
    if (!db) return Bad("the path must be '/' followed by a database number");
    options.db = *db;
  }
  if (Status applied = ApplyUriQuery(query, /*takes_db=*/false, options); !applied.ok()) {
    return applied;
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

  const std::string_view query =
      question == std::string_view::npos ? std::string_view() : rest.substr(question + 1);
  if (Status applied = ApplyUriQuery(query, /*takes_db=*/true, options); !applied.ok()) {
    return applied;
  }
  return options;
}

// The seed list of a cluster URI. A cluster has only database 0, so a path is refused rather
// than ignored: an operator who wrote /3 expects a database the cluster cannot give.
Result<RedisOptions> ParseCluster(std::string_view rest) {
  RedisOptions options;
  Result<std::string_view> after = TakeLeadingCredentials(rest, options);
  if (!after.ok()) return after.status();
  rest = *after;
  if (rest.find('#') != std::string_view::npos) {
    return Bad("redis+cluster:// URIs take no fragment");
  }
  const std::string_view query = TakeQuery(rest);
  if (rest.find('/') != std::string_view::npos) {
    return Bad("a redis+cluster:// URI takes no /db: a Redis Cluster has only database 0");
  }
  for (std::size_t start = 0;;) {
    const std::size_t comma = rest.find(',', start);
    Result<RedisAddress> address = ParseAddress(rest.substr(start, comma - start));
    if (!address.ok()) return address.status();
    options.cluster_seeds.push_back(std::move(address).value());
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
  if (Status applied = ApplyUriQuery(query, /*takes_db=*/false, options); !applied.ok()) {
    return applied;
  }
  return options;
}

}  // namespace

Result<RedisOptions> RedisBackend::ParseUri(std::string_view uri) {
  if (StartsWithNoCase(uri, kTcpScheme)) return ParseTcp(uri.substr(kTcpScheme.size()));
  if (StartsWithNoCase(uri, kUnixScheme)) return ParseUnix(uri.substr(kUnixScheme.size()));
  if (StartsWithNoCase(uri, kClusterScheme)) {
    return ParseCluster(uri.substr(kClusterScheme.size()));
  }
  return Bad("it must start with redis://, redis+unix:// or redis+cluster://");
}

}  // namespace credstore
