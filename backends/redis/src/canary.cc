#include "canary.h"

#include <cstdint>
#include <cstdio>
#include <random>
#include <utility>

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

Result<std::optional<std::string>> Canary::Read(Connection& connection) const {
  ReplyPtr reply = connection.Call({"GET", key_});
  if (reply == nullptr) return Unreachable("canary check", connection);
  if (reply->type == REDIS_REPLY_NIL) return std::optional<std::string>();
  if (reply->type == REDIS_REPLY_STRING) {
    return std::optional<std::string>(std::string(ReplyText(*reply)));
  }
  if (reply->type == REDIS_REPLY_ERROR) return Refused("canary check", *reply);
  return Status::Internal("redis: unexpected reply to the canary check");
}

Result<std::string> Canary::Plant(Connection& connection, const std::string& generation) const {
  ReplyPtr reply = connection.Call({"SET", key_, generation, "NX"});
  if (reply == nullptr) return Unreachable("writing the canary", connection);
  if (reply->type == REDIS_REPLY_ERROR) return Refused("writing the canary", *reply);
  if (reply->type == REDIS_REPLY_STATUS) return generation;  // "OK": ours
  // NX found one (nil): a backend opening the store at the same moment planted it first.
  Result<std::optional<std::string>> stored = Read(connection);
  if (!stored.ok()) return stored.status();
  if (!stored->has_value()) return Status::Unavailable("redis: the canary vanished while written");
  return std::move(**stored);
}

void Canary::Expect(std::string generation) {
  generation_ = std::move(generation);
  state_.store(kPresent, std::memory_order_release);
}

Status Canary::Refresh(Connection& connection) {
  Result<std::optional<std::string>> stored = Read(connection);
  if (!stored.ok()) return stored.status();
  const bool present = stored->has_value() && **stored == generation_;
  state_.store(present ? kPresent : kLost, std::memory_order_release);
  return Status::Ok();
}

Status Canary::OnNewConnection(Connection& connection) {
  if (state_.load(std::memory_order_acquire) == kNotExpected) return Status::Ok();
  return Refresh(connection);
}

void Canary::Check(Connection& connection) {
  if (state_.load(std::memory_order_acquire) == kNotExpected) return;
  (void)Refresh(connection);
}

Status Canary::Gate(Connection& connection) {
  if (state_.load(std::memory_order_acquire) != kLost) return Status::Ok();
  if (Status read = Refresh(connection); !read.ok()) return read;
  return Verdict();
}

Status Canary::Verdict() const {
  if (state_.load(std::memory_order_acquire) != kLost) return Status::Ok();
  return Status::Unavailable(
      "redis lost its data: its canary record (" + key_ +
      ") is gone or not the one it held when this backend opened the store (restarted without "
      "its data, flushed, or another database); answering unavailable until the data is back. "
      "If the store was deliberately started over, restart every credstored on it");
}

Status EstablishCanaries(const std::vector<Canary*>& canaries,
                         const std::vector<Connection*>& connections) {
  std::vector<std::optional<std::string>> found;
  found.reserve(canaries.size());
  for (std::size_t i = 0; i < canaries.size(); ++i) {
    Result<std::optional<std::string>> stored = canaries[i]->Read(*connections[i]);
    if (!stored.ok()) return stored.status();
    found.push_back(std::move(*stored));
  }
  std::optional<std::string> generation;
  std::size_t holding = 0;
  bool mixed = false;
  for (const std::optional<std::string>& one : found) {
    if (!one.has_value()) continue;
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
    for (std::size_t i = 0; i < canaries.size(); ++i) {
      Result<std::string> stored = canaries[i]->Plant(*connections[i], planted);
      if (!stored.ok()) return stored.status();
      if (i == 0) {
        planted = *stored;
      } else if (*stored != planted) {
        return Status::Unavailable("redis: another backend planted other canaries at once");
      }
    }
    generation = std::move(planted);
  }
  for (Canary* canary : canaries) canary->Expect(*generation);
  return Status::Ok();
}

}  // namespace credstore::redis_internal
