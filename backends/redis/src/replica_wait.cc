#include "replica_wait.h"

#include <utility>
#include <vector>

namespace credstore::redis_internal {

Status ValidateReplicaWait(const RedisOptions& options) {
  if (options.wait_replicas < 0) {
    return Status::InvalidArgument("redis: wait_replicas must not be negative");
  }
  if (options.wait_replicas == 0) return Status::Ok();
  // WAIT with a timeout of 0 blocks until enough replicas answer, i.e. maybe forever.
  if (options.wait_timeout < std::chrono::milliseconds(1) ||
      options.wait_timeout > options.command_timeout) {
    return Status::InvalidArgument(
        "redis: wait_timeout must be at least 1 ms and at most the command timeout");
  }
  if (options.wait_pool_size < 1) {
    return Status::InvalidArgument("redis: wait_pool_size must be >= 1");
  }
  return Status::Ok();
}

ReplicaWait::ReplicaWait(const RedisOptions& options)
    : replicas_(options.wait_replicas),
      replicas_text_(std::to_string(options.wait_replicas)),
      timeout_text_(std::to_string(options.wait_timeout.count())) {}

ReplyPtr ReplicaWait::Exchange(Connection& connection, const Command& write, bool asking,
                               ReplyPtr& acknowledged) const {
  acknowledged.reset();
  std::vector<Command> commands;
  if (asking) commands.push_back(Command{"ASKING"});
  const std::size_t at = commands.size();
  commands.push_back(write);
  commands.push_back(Command{"WAIT", replicas_text_, timeout_text_});
  std::vector<ReplyPtr> replies;
  const bool complete = connection.Exchange(commands, replies);
  if (replies.size() <= at) return nullptr;
  if (complete) acknowledged = std::move(replies[at + 1]);
  return std::move(replies[at]);
}

Result<Version> ReplicaWait::Settle(Version version, const redisReply* acknowledged,
                                    const WriteOptions& options, std::string_view operation) const {
  const bool enough = acknowledged != nullptr && acknowledged->type == REDIS_REPLY_INTEGER &&
                      acknowledged->integer >= replicas_;
  if (enough) {
    if (options.replication != nullptr) *options.replication = Replication::kAcknowledged;
    return version;
  }
  if (options.replication != nullptr) {
    *options.replication = Replication::kPending;
    return version;
  }
  const std::string count = acknowledged != nullptr && acknowledged->type == REDIS_REPLY_INTEGER
                                ? std::to_string(acknowledged->integer)
                                : std::string("an unknown number");
  return Status::Unavailable("redis: " + std::string(operation) + ": the write applied, but only " +
                             count + " of " + replicas_text_ +
                             " replicas acknowledged it in time; a failover may lose it");
}

}  // namespace credstore::redis_internal
