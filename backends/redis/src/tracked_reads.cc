#include "tracked_reads.h"

#include <utility>

namespace credstore::redis_internal {

TrackedReads::TrackedReads(Endpoint endpoint, NearCache& cache, Settings settings)
    : settings_(std::move(settings)), cache_(cache) {
  subscriber_ =
      std::make_unique<InvalidationSubscriber>(std::move(endpoint), cache_, settings_.timing);
}

Status CheckCachePermissions(Connection& connection) {
  // Each with what the refusal says the cache needs.
  struct Needed {
    Command command;
    std::string what;
  };
  const Needed needed[] = {
      {{"CLIENT", "ID"}, "CLIENT ID"},
      {{"CLIENT", "TRACKING", "on", "OPTIN"}, "CLIENT TRACKING"},
      {{"CLIENT", "CACHING", "yes"}, "CLIENT CACHING"},
      {{"CLIENT", "TRACKING", "off"}, "CLIENT TRACKING"},
      {{"SUBSCRIBE", kInvalidationChannel}, "SUBSCRIBE to " + std::string(kInvalidationChannel)},
  };
  std::vector<Command> commands;
  for (const Needed& need : needed) commands.push_back(need.command);
  std::vector<ReplyPtr> replies;
  if (!connection.Exchange(commands, replies)) {
    return Status::Unavailable("redis: while opening: " + connection.failure());
  }
  for (std::size_t i = 0; i < replies.size(); ++i) {
    if (replies[i]->type != REDIS_REPLY_ERROR) continue;
    return Status::InvalidArgument(
        "redis: the near-cache needs " + needed[i].what + ", and the server refused it (" +
        std::string(ReplyText(*replies[i])) + "); grant it to this user, or open with cache=off");
  }
  return Status::Ok();
}

bool CacheableKey(const std::vector<std::string>& prefixes, std::string_view key) {
  for (const std::string& prefix : prefixes) {
    if (key.substr(0, prefix.size()) == prefix) return true;
  }
  return false;
}

void TrackedReads::Begin(Connection& connection, std::string_view redis_key, Read& read,
                         std::vector<Command>& commands) {
  // The ticket before the subscriber's id: a subscriber declared dead after this load of its
  // id flushes the cache after the ticket was taken, which refuses the fill (live_id()).
  read.ticket = cache_.BeginRead(redis_key);
  read.subscriber = subscriber_->live_id();
  read.tracked = read.subscriber != 0;
  read.prefix_commands = 0;
  if (!read.tracked) return;
  if (connection.tracking_redirect() != read.subscriber) {
    // RESP2 never tells a connection that its redirect target died: re-point it before use.
    read.subscriber_text = std::to_string(read.subscriber);
    commands.push_back(Command{"CLIENT", "TRACKING", "off"});
    commands.push_back(
        Command{"CLIENT", "TRACKING", "on", "REDIRECT", read.subscriber_text, "OPTIN"});
  }
  commands.push_back(Command{"CLIENT", "CACHING", "yes"});
  read.prefix_commands = commands.size();
}

void TrackedReads::Finish(Connection& connection, std::string_view redis_key, Read& read,
                          const std::vector<ReplyPtr>& replies,
                          const std::optional<VersionedValue>* answer) {
  bool prefix_ok = read.tracked && replies.size() > read.prefix_commands;
  for (std::size_t i = 0; prefix_ok && i < read.prefix_commands; ++i) {
    prefix_ok = replies[i]->type == REDIS_REPLY_STATUS;
  }
  if (read.tracked) {
    // A refused or lost CLIENT TRACKING leaves the connection's tracking unknown: redirect anew.
    connection.set_tracking_redirect(prefix_ok ? read.subscriber : 0);
  }
  if (!prefix_ok || answer == nullptr) {
    cache_.Abandon(read.ticket, redis_key);
    return;
  }
  if (settings_.before_fill) settings_.before_fill(redis_key);
  cache_.Fill(read.ticket, redis_key, *answer);
}

}  // namespace credstore::redis_internal
