#include "uri_query.h"

#include <algorithm>
#include <charconv>
#include <chrono>
#include <string>
#include <vector>

#include "replica_wait.h"

namespace credstore::redis_internal {
namespace {

Status Bad(std::string_view what) {
  return Status::InvalidArgument("invalid redis URI: " + std::string(what));
}

constexpr int kMaxWaitReplicas = 1000;
constexpr int kMaxWaitPoolSize = 1024;

// One `name=value` of the query into `options`. Only the name is ever quoted back, and only when
// it is a known one: a mistyped URI can put the password anywhere.
Status ApplyOption(std::string_view name, std::string_view value, bool takes_db,
                   RedisOptions& options) {
  if (name == "db" && takes_db) {
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
  } else if (name == "wait_replicas") {
    const std::optional<int> replicas = ParseBoundedInt(value, 1, kMaxWaitReplicas);
    if (!replicas) return Bad("wait_replicas must be a number in 1..1000");
    options.wait_replicas = *replicas;
  } else if (name == "wait_timeout_ms") {
    const std::optional<int> ms = ParseBoundedInt(value, 0, 86'400'000);
    // 0 would make `WAIT N 0`, which blocks until enough replicas answer.
    if (!ms || *ms == 0) {
      return Bad("wait_timeout_ms must be a number of milliseconds >= 1 (0 would wait forever)");
    }
    options.wait_timeout = std::chrono::milliseconds(*ms);
  } else if (name == "wait_pool_size") {
    const std::optional<int> size = ParseBoundedInt(value, 1, kMaxWaitPoolSize);
    if (!size) return Bad("wait_pool_size must be a number in 1..1024");
    options.wait_pool_size = static_cast<std::size_t>(*size);
  } else {
    return Bad(std::string("unknown query parameter (known: ") + (takes_db ? "db, " : "") +
               "cache, cache_size, cache_bytes, cache_max_age_ms, wait_replicas, "
               "wait_timeout_ms, wait_pool_size)");
  }
  return Status::Ok();
}

}  // namespace

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

Status ApplyUriQuery(std::string_view query, bool takes_db, RedisOptions& options) {
  if (query.empty()) return Status::Ok();
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
    const Status applied = ApplyOption(name, pair.substr(equals + 1), takes_db, options);
    if (!applied.ok()) return applied;
    if (amp == std::string_view::npos) break;
    query = query.substr(amp + 1);
  }
  const auto given = [&seen](std::string_view name) {
    return std::find(seen.begin(), seen.end(), name) != seen.end();
  };
  if ((given("wait_timeout_ms") || given("wait_pool_size")) && !given("wait_replicas")) {
    return Bad("wait_timeout_ms and wait_pool_size need wait_replicas");
  }
  const Status checked = ValidateReplicaWait(options);
  if (!checked.ok()) return Bad(checked.message().substr(checked.message().find(": ") + 2));
  return Status::Ok();
}

}  // namespace credstore::redis_internal
