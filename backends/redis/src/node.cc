#include "node.h"

#include <algorithm>
#include <utility>

#include "scripts.h"

namespace credstore::redis_internal {
namespace {

constexpr std::array<std::string_view, kScriptCount> kScriptSources = {
    kCreateScript, kCompareAndSwapScript, kEraseScript};

constexpr std::string_view kConfigRefused =
    "redis refused CONFIG GET, so its maxmemory-policy cannot be checked";

// `CONFIG GET <name>` on `connection`: the value, nullopt when the server refused the command
// (renamed, or denied by ACL), kUnavailable when it could not be reached.
Result<std::optional<std::string>> ConfigGet(Connection& connection, std::string_view name,
                                             std::string_view during) {
  ReplyPtr reply = connection.Call({"CONFIG", "GET", name});
  if (reply == nullptr) {
    return Status::Unavailable("redis: " + std::string(during) + ": " + connection.failure());
  }
  if (reply->type == REDIS_REPLY_ERROR) return std::optional<std::string>();
  if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 2 ||
      reply->element[1]->type != REDIS_REPLY_STRING) {
    return Status::Internal("redis: unexpected CONFIG GET reply");
  }
  return std::optional<std::string>(std::string(ReplyText(*reply->element[1])));
}

// The last reply of a pipelined exchange; nullptr on a transport failure.
ReplyPtr LastOf(Connection& connection, const std::vector<Command>& commands) {
  std::vector<ReplyPtr> replies;
  if (!connection.Exchange(commands, replies)) return nullptr;
  return std::move(replies.back());
}

}  // namespace

Status FromErrorReply(std::string_view operation, const redisReply& reply) {
  const std::string code(ErrorCode(reply));
  // MOVED and ASK reach here only after Route gave up following them (a cluster redirecting in
  // circles while it reconfigures): as transient as CLUSTERDOWN.
  static constexpr std::array<std::string_view, 14> kTransient = {
      "LOADING", "BUSY",   "READONLY",  "MASTERDOWN", "OOM",         "TRYAGAIN", "MISCONF",
      "NOAUTH",  "NOPERM", "WRONGPASS", "NOREPLICAS", "CLUSTERDOWN", "MOVED",    "ASK"};
  const std::string where = "redis: " + std::string(operation) + ": ";
  if (std::find(kTransient.begin(), kTransient.end(), code) != kTransient.end()) {
    return Status::Unavailable(where + "server answered " + code);
  }
  if (code == "WRONGTYPE") {
    return Status::Internal(where + "a key in credstore's namespace is not a credstore record");
  }
  return Status::Internal(where + "server answered " + (code.empty() ? "an error" : code));
}

std::optional<std::string> EvictionProblem(std::string_view policy) {
  if (policy == "noeviction") return std::nullopt;
  return "redis maxmemory-policy is '" + std::string(policy) +
         "', which may evict credstore records; set it to 'noeviction'";
}

Node::Node(Endpoint endpoint, NodeSettings settings)
    : settings_(std::move(settings)),
      canary_([this] { return settings_.canary_keys(*this); }, settings_.canary_generation),
      pool_(std::move(endpoint), settings_.pool_size, CanaryCheck()) {
  if (settings_.wait_pool_size > 0) {
    wait_pool_ =
        std::make_unique<ConnectionPool>(pool_.endpoint(), settings_.wait_pool_size, CanaryCheck());
  }
}

ConnectionPool::SetUp Node::CanaryCheck() {
  return [this](Connection& connection) { return canary_.OnNewConnection(connection); };
}

TrackedReads* Node::tracked() {
  if (settings_.cache == nullptr) return nullptr;
  std::call_once(tracked_once_, [this] {
    tracked_ =
        std::make_unique<TrackedReads>(pool_.endpoint(), *settings_.cache, settings_.tracking);
  });
  return tracked_.get();
}

std::string Node::name() const {
  const Endpoint& at = endpoint();
  if (!at.unix_socket.empty()) return at.unix_socket;
  return at.host + ":" + std::to_string(at.port);
}

Status Node::Load(const RedisOptions& options, RedisServerDurability& durability) {
  Result<ConnectionPool::Lease> acquired = pool_.Acquire();
  if (!acquired.ok()) return acquired.status();
  ConnectionPool::Lease lease = std::move(acquired).value();
  const auto unreachable = [&lease] {
    return Status::Unavailable("redis: while opening: " + lease->failure());
  };

  ReplyPtr info = lease->Call({"INFO", "server"});
  if (info == nullptr) return unreachable();
  if (ErrorCode(*info) == "NOAUTH") {
    return Status::InvalidArgument("redis requires a password (NOAUTH) and none was given");
  }
  if (info->type == REDIS_REPLY_ERROR) return FromErrorReply("INFO", *info);
  const std::string_view text = ReplyText(*info);
  const std::size_t at = text.find("redis_version:");
  int major = 0;
  if (at != std::string_view::npos) {
    const std::string_view version = text.substr(at + 14, text.find('.', at) - (at + 14));
    (void)ParseInteger(version, major);
  }
  if (major < 5) return Status::InvalidArgument("redis server is older than 5.0");
  if (options.cache && major < 6) {
    return Status::InvalidArgument("redis server is older than 6.0, which the cache needs");
  }
  if (options.cache) {
    // On a connection of its own: the check leaves it subscribed.
    Result<std::unique_ptr<Connection>> probe = Connection::Open(pool_.endpoint());
    if (!probe.ok()) return probe.status();
    if (Status permitted = CheckCachePermissions(**probe); !permitted.ok()) return permitted;
  }

  const auto config_get = [&lease](std::string_view name) {
    return ConfigGet(*lease, name, "while opening");
  };
  Result<std::optional<std::string>> policy = config_get("maxmemory-policy");
  if (!policy.ok()) return policy.status();
  if (policy->has_value()) {
    Result<std::optional<std::string>> appendonly = config_get("appendonly");
    Result<std::optional<std::string>> appendfsync = config_get("appendfsync");
    if (!appendonly.ok()) return appendonly.status();
    if (!appendfsync.ok()) return appendfsync.status();
    durability.known = appendonly->has_value() && appendfsync->has_value();
    durability.maxmemory_policy = **policy;
    durability.appendonly = appendonly->value_or("") == "yes";
    durability.appendfsync = appendfsync->value_or("");
    if (std::optional<std::string> problem = EvictionProblem(durability.maxmemory_policy)) {
      return Status::InvalidArgument(std::move(*problem));
    }
  } else if (!options.allow_unverified_eviction_policy) {
    return Status::InvalidArgument(std::string(kConfigRefused) +
                                   "; allow CONFIG for this user, or set "
                                   "allow_unverified_eviction_policy after making sure the "
                                   "policy is 'noeviction'");
  }
  if (options.require_fsync_always && !durability.fsync_every_write()) {
    return Status::InvalidArgument(
        "redis does not fsync every write (needs appendonly yes and appendfsync always, or "
        "CONFIG GET allowed to check it) and require_fsync_always is set");
  }

  for (std::size_t i = 0; i < kScriptSources.size(); ++i) {
    ReplyPtr reply = lease->Call({"SCRIPT", "LOAD", kScriptSources[i]});
    if (reply == nullptr) return unreachable();
    if (reply->type != REDIS_REPLY_STRING) {
      return reply->type == REDIS_REPLY_ERROR ? FromErrorReply("SCRIPT LOAD", *reply)
                                              : Status::Internal("redis: bad SCRIPT LOAD reply");
    }
    std::lock_guard lock(sha_mutex_);
    sha_[i] = ReplyText(*reply);
  }
  return Status::Ok();
}

std::optional<Status> Node::ReadPolicyVerdict(bool allow_unverified_eviction_policy) {
  Result<ConnectionPool::Lease> acquired = pool_.Acquire();
  if (!acquired.ok()) return std::nullopt;
  ConnectionPool::Lease lease = std::move(acquired).value();
  Result<std::optional<std::string>> policy = ConfigGet(*lease, "maxmemory-policy", "policy check");
  if (!policy.ok()) {
    if (policy.status().code() == StatusCode::kUnavailable) return std::nullopt;
    return Status::Unavailable(policy.status().message());
  }
  if (!policy->has_value()) {
    // As at Open: an operator who vouched for the policy keeps vouching.
    if (allow_unverified_eviction_policy) return Status::Ok();
    return Status::Unavailable(std::string(kConfigRefused));
  }
  if (std::optional<std::string> problem = EvictionProblem(**policy)) {
    return Status::Unavailable(std::move(*problem));
  }
  return Status::Ok();
}

std::string Node::Sha(Script script) {
  std::lock_guard lock(sha_mutex_);
  return sha_[static_cast<std::size_t>(script)];
}

ReplyPtr Node::Call(Connection& connection, const Command& command, bool asking) {
  if (!asking) return connection.Call(command);
  return LastOf(connection, {Command{"ASKING"}, command});
}

ReplyPtr Node::RunScript(Connection& connection, Script script,
                         const std::vector<std::string_view>& arguments, bool asking,
                         const ReplicaWait* wait, ReplyPtr* acknowledged) {
  const std::size_t index = static_cast<std::size_t>(script);
  std::string sha = Sha(script);
  const auto run = [&] {
    Command command = {"EVALSHA", sha, "1"};
    command.insert(command.end(), arguments.begin(), arguments.end());
    if (wait != nullptr) return wait->Exchange(connection, command, asking, *acknowledged);
    return Call(connection, command, asking);
  };
  if (!sha.empty()) {
    ReplyPtr reply = run();
    if (reply == nullptr || ErrorCode(*reply) != "NOSCRIPT") return reply;
  }
  // A node met after Open, or one that restarted or flushed its script cache; nothing ran, so
  // running again is safe.
  ReplyPtr loaded = connection.Call({"SCRIPT", "LOAD", kScriptSources[index]});
  if (loaded == nullptr || loaded->type != REDIS_REPLY_STRING) return loaded;
  sha = ReplyText(*loaded);
  {
    std::lock_guard lock(sha_mutex_);
    sha_[index] = sha;
  }
  return run();
}

}  // namespace credstore::redis_internal
