#include "uri_query.h"

#include <algorithm>
#include <charconv>
#include <string>

#include "replica_wait.h"

namespace credstore::redis_internal {
namespace {

Status Bad(std::string_view what) {
  return Status::InvalidArgument("invalid redis URI: " + std::string(what));
}

constexpr int kMaxWaitReplicas = 1000;
constexpr int kMaxWaitPoolSize = 1024;

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
  bool seen_db = false, seen_replicas = false, seen_timeout = false, seen_pool = false;
  while (!query.empty()) {
    const std::size_t amp = query.find('&');
    const std::string_view pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    const std::size_t eq = pair.find('=');
    const std::string_view name = pair.substr(0, eq);
    const std::string_view value =
        eq == std::string_view::npos ? std::string_view() : pair.substr(eq + 1);
    const auto once = [](bool& seen) {
      const bool first = !seen;
      seen = true;
      return first;
    };
    if (takes_db && name == "db") {
      if (!once(seen_db)) return Bad("db given twice");
      const std::optional<int> db = ParseBoundedInt(value, 0, 1'000'000);
      if (!db) return Bad("db must be a database number");
      options.db = *db;
    } else if (name == "wait_replicas") {
      if (!once(seen_replicas)) return Bad("wait_replicas given twice");
      const std::optional<int> replicas = ParseBoundedInt(value, 1, kMaxWaitReplicas);
      if (!replicas) return Bad("wait_replicas must be a number in 1..1000");
      options.wait_replicas = *replicas;
    } else if (name == "wait_timeout_ms") {
      if (!once(seen_timeout)) return Bad("wait_timeout_ms given twice");
      const std::optional<int> ms = ParseBoundedInt(value, 0, 86'400'000);
      // 0 would make `WAIT N 0`, which blocks until enough replicas answer.
      if (!ms || *ms == 0) {
        return Bad("wait_timeout_ms must be a number of milliseconds >= 1 (0 would wait forever)");
      }
      options.wait_timeout = std::chrono::milliseconds(*ms);
    } else if (name == "wait_pool_size") {
      if (!once(seen_pool)) return Bad("wait_pool_size given twice");
      const std::optional<int> size = ParseBoundedInt(value, 1, kMaxWaitPoolSize);
      if (!size) return Bad("wait_pool_size must be a number in 1..1024");
      options.wait_pool_size = static_cast<std::size_t>(*size);
    } else {
      return Bad(takes_db ? "unknown query parameter (known: db, wait_replicas, wait_timeout_ms, "
                            "wait_pool_size)"
                          : "unknown query parameter (known: wait_replicas, wait_timeout_ms, "
                            "wait_pool_size)");
    }
  }
  if ((seen_timeout || seen_pool) && !seen_replicas) {
    return Bad("wait_timeout_ms and wait_pool_size need wait_replicas");
  }
  const Status checked = ValidateReplicaWait(options);
  if (!checked.ok()) return Bad(checked.message().substr(checked.message().find(": ") + 2));
  return Status::Ok();
}

}  // namespace credstore::redis_internal
