#include "canary.h"

#include <cstdint>
#include <cstdio>
#include <random>
#include <utility>

#include "crc16.h"

namespace credstore::redis_internal {
namespace {

Status Unreachable(std::string_view during, const Connection& connection) {
  return Status::Unavailable("redis: " + std::string(during) + ": " + connection.failure());
}

// Only the error code: the rest of a Redis error text is not ours to vouch for.
Status Refused(std::string_view during, const redisReply& reply) {
  const std::string_view code = ErrorCode(reply);
  return Status::Unavailable("redis: " + std::string(during) + ": server answered " +
                             std::string(code.empty() ? "an error" : code));
}

}  // namespace

std::string CanaryKey(std::string_view key_namespace) {
  return std::string(key_namespace) + ":canary";
}

std::string NewCanaryGeneration() {
  std::random_device entropy;
  char text[33];
  for (int i = 0; i < 4; ++i) {
    std::snprintf(text + 8 * i, 9, "%08x", static_cast<unsigned>(entropy()));
  }
  return std::string(text, 32);
}

std::vector<std::string> ClusterCanaryKeys(std::string_view key_namespace) {
  std::vector<std::string> keys;
  keys.reserve(kClusterCanaries);
  constexpr int kBand = 16384 / kClusterCanaries;
  for (int band = 0; band < kClusterCanaries; ++band) {
    // The first tag of the band: about 16 tries each, the same answer in every process.
    for (int i = 0;; ++i) {
      const std::string tag = "canary-" + std::to_string(i);
      if (HashSlot("{" + tag + "}") / kBand == band) {
        keys.push_back(std::string(key_namespace) + ":canary{" + tag + "}");
        break;
      }
    }
  }
  return keys;
}

void CanaryGeneration::Set(std::string generation) {
  std::call_once(once_, [&] {
    value_ = std::move(generation);
    set_.store(true, std::memory_order_release);
  });
}

Result<std::optional<std::string>> Canary::Read(Connection& connection) const {
  const std::vector<std::string> keys = keys_();
  if (keys.empty()) return std::optional<std::string>();
  std::vector<Command> reads;
  reads.reserve(keys.size());
  for (const std::string& key : keys) reads.push_back(Command{"GET", key});
  std::vector<ReplyPtr> replies;
  if (!connection.Exchange(reads, replies)) return Unreachable("canary check", connection);
  std::optional<std::string> held;
  bool any = false;
  for (const ReplyPtr& reply : replies) {
    const std::string_view code = ErrorCode(*reply);
    if (code == "MOVED" || code == "ASK") continue;  // not this node's now: the map is stale
    if (reply->type == REDIS_REPLY_ERROR) return Refused("canary check", *reply);
    if (reply->type == REDIS_REPLY_NIL) return std::optional<std::string>(std::string());
    if (reply->type != REDIS_REPLY_STRING) {
      return Status::Internal("redis: unexpected reply to the canary check");
    }
    const std::string_view generation = ReplyText(*reply);
    if (any && *held != generation) return std::optional<std::string>(std::string());
    held = std::string(generation);
    any = true;
  }
  return held;
}

Result<std::optional<std::string>> Canary::Plant(Connection& connection,
                                                 const std::string& generation) const {
  std::vector<Command> writes;
  const std::vector<std::string> keys = keys_();
  for (const std::string& key : keys) writes.push_back(Command{"SET", key, generation, "NX"});
  std::vector<ReplyPtr> replies;
  if (!writes.empty() && !connection.Exchange(writes, replies)) {
    return Unreachable("writing the canary", connection);
  }
  for (const ReplyPtr& reply : replies) {
    if (reply->type == REDIS_REPLY_ERROR) return Refused("writing the canary", *reply);
  }
  // NX may have found one (nil): a backend opening the store at the same moment planted it
  // first. What the node holds now is the answer.
  return Read(connection);
}

Status Canary::Refresh(Connection& connection) {
  const std::string* expected = expected_->get();
  if (expected == nullptr) return Status::Ok();
  Result<std::optional<std::string>> stored = Read(connection);
  if (!stored.ok()) return stored.status();
  // No canary key to hold now (a replica, a master without a canary slot): nothing is lost.
  const bool present = !stored->has_value() || **stored == *expected;
  if (lost_.exchange(!present, std::memory_order_acq_rel) != !present) {
    expected_->CountLost(present ? -1 : 1);
  }
  return Status::Ok();
}

Status Canary::OnNewConnection(Connection& connection) { return Refresh(connection); }

void Canary::Check(Connection& connection) { (void)Refresh(connection); }

Status Canary::Gate(Connection& connection) {
  if (!lost_.load(std::memory_order_acquire)) return Status::Ok();
  if (Status read = Refresh(connection); !read.ok()) return read;
  return Verdict();
}

Status Canary::Verdict() const {
  if (!lost_.load(std::memory_order_acquire)) return Status::Ok();
  const std::vector<std::string> keys = keys_();
  return Status::Unavailable(
      "redis lost its data: a canary record (" + (keys.empty() ? std::string("?") : keys.front()) +
      ") is gone or not the one it held when this backend opened the store (restarted without "
      "its data, flushed, or another database); answering unavailable until the data is back. "
      "If the store was deliberately started over, restart every credstored on it");
}

Status EstablishCanaries(const std::vector<Canary*>& canaries,
                         const std::vector<Connection*>& connections, CanaryGeneration& expected) {
  std::vector<std::optional<std::string>> found;
  found.reserve(canaries.size());
  for (std::size_t i = 0; i < canaries.size(); ++i) {
    Result<std::optional<std::string>> stored = canaries[i]->Read(*connections[i]);
    if (!stored.ok()) return stored.status();
    // A node with no canary keys to hold (the map gave it no canary slot) has no say.
    if (stored->has_value()) found.push_back(std::move(*stored));
  }
  std::optional<std::string> generation;
  std::size_t holding = 0;
  bool mixed = false;
  for (const std::optional<std::string>& one : found) {
    if (one->empty()) continue;  // missing on that node
    ++holding;
    if (!generation.has_value()) generation = one;
    mixed = mixed || *generation != *one;
  }
  mixed = mixed || (holding != 0 && holding != found.size());
  if (mixed) {
    return Status::Unavailable(
        "redis: some nodes of the store hold no canary record, or another one, while others "
        "do: those nodes lost their data; restore them (docs/operations.md)");
  }
  if (!generation.has_value()) {
    // A new store. Every opener plants on the nodes in the same order and continues with what
    // the first node holds, so two backends opening at once agree on one generation.
    std::string planted = NewCanaryGeneration();
    bool first = true;
    for (std::size_t i = 0; i < canaries.size(); ++i) {
      Result<std::optional<std::string>> stored = canaries[i]->Plant(*connections[i], planted);
      if (!stored.ok()) return stored.status();
      if (!stored->has_value()) continue;
      if (first) {
        planted = **stored;
        first = false;
      }
      if (**stored != planted) {
        return Status::Unavailable("redis: another backend planted other canaries at once");
      }
    }
    generation = std::move(planted);
  }
  expected.Set(*generation);
  return Status::Ok();
}

}  // namespace credstore::redis_internal
