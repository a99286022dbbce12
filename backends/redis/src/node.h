// Internal to credstore::redis: one Redis server the backend talks to.
//
// A Node is everything that belongs to one server rather than to the store: where it is (its
// Endpoint), its pool of connections, the SHA1s of credstore's scripts as that server knows them,
// and the checks Open makes of it (version, maxmemory-policy, durability settings). A single
// Redis is one Node; a Redis Cluster is one Node per server of its slot map (see topology.h).
// Anything else a feature keeps per server (a subscriber, a canary, a lane of connections) hangs
// off the Node the same way, so it follows the topology without knowing it.
//
// Thread safety: every method may be called from many threads at once.
#ifndef CREDSTORE_BACKENDS_REDIS_SRC_NODE_H_
#define CREDSTORE_BACKENDS_REDIS_SRC_NODE_H_

#include <array>
#include <cstddef>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "canary.h"
#include "connection.h"
#include "credstore/backends/redis.h"
#include "near_cache.h"
#include "replica_wait.h"
#include "tracked_reads.h"

namespace credstore::redis_internal {

// credstore's three scripts (scripts.h), by index into kScriptSources.
enum class Script : std::size_t { kCreate = 0, kCompareAndSwap = 1, kErase = 2 };
inline constexpr std::size_t kScriptCount = 3;

// The error reply of a command mapped to a Status (the one mapping of the backend). Only the
// reply's error code is kept: the rest of a Redis error text is not ours to vouch for as safe to
// show a client.
Status FromErrorReply(std::string_view operation, const redisReply& reply);

// The one rule about the eviction policy, for Open and for every re-check: why `policy` may lose
// records, or nullopt when it keeps every key.
std::optional<std::string> EvictionProblem(std::string_view policy);

class Node;

// What every Node of one backend is made with (RedisBackend::Open fills it from RedisOptions).
struct NodeSettings {
  std::size_t pool_size = 8;
  // Connections of the lane of writes that wait for replicas; 0: no lane (wait_replicas off).
  std::size_t wait_pool_size = 0;
  // The backend's near-cache, which outlives every Node; nullptr: no cache, no subscriber.
  NearCache* cache = nullptr;
  TrackedReads::Settings tracking;  // used with `cache`
  // The canary keys a node must hold now (canary.h), and the generation they must hold.
  std::function<std::vector<std::string>(const Node&)> canary_keys;
  std::shared_ptr<const CanaryGeneration> canary_generation;
};

// Which of a node's pools a command uses.
enum class Lane {
  kMain,  // reads, and writes that do not wait
  kWait,  // writes followed by WAIT (RedisOptions::wait_replicas); falls back to kMain without
};

class Node {
 public:
  Node(Endpoint endpoint, NodeSettings settings);
  Node(const Node&) = delete;
  Node& operator=(const Node&) = delete;

  const Endpoint& endpoint() const { return pool_.endpoint(); }
  // "host:port" (or the socket path): how the node is named in a slot map and in messages.
  std::string name() const;
  ConnectionPool& pool(Lane lane = Lane::kMain) {
    return lane == Lane::kWait && wait_pool_ != nullptr ? *wait_pool_ : pool_;
  }

  // This node's canary (canary.h): every new connection of its pools reads it first.
  Canary& canary() { return canary_; }

  // This node's tracked reads (its invalidation subscriber), started by the first call — so a
  // node that is never read from (a replica) never subscribes; nullptr without the near-cache.
  TrackedReads* tracked();

  // Open's checks of this server, on one pooled connection: reachable, AUTH accepted, version
  // >= 5.0, a maxmemory-policy that keeps every key (unless the server refuses CONFIG and
  // `options.allow_unverified_eviction_policy`), fsync of every write if
  // `options.require_fsync_always`; then SCRIPT LOAD of every script. Fills `durability` with
  // what the server reported. kInvalidArgument for an unsafe or refused server (the message
  // names the problem, never the password); kUnavailable when it cannot be reached.
  Status Load(const RedisOptions& options, RedisServerDurability& durability);

  // One read of maxmemory-policy for the policy watch: OK when safe, kUnavailable naming the
  // problem, nullopt when the server could not be asked (the caller keeps its last verdict).
  std::optional<Status> ReadPolicyVerdict(bool allow_unverified_eviction_policy);

  // Runs `script` (EVALSHA) with one key and `arguments` (the key first) on `connection`, a
  // connection of this node; loads the script again when the server lost its script cache
  // (NOSCRIPT: nothing ran, so running again is safe). With `asking`, ASKING is pipelined right
  // before every EVALSHA, the one after a reload included, since ASKING covers only the next
  // command. With `wait` (not null), WAIT follows every EVALSHA in the same write and
  // `*acknowledged` gets its reply (see ReplicaWait::Exchange). nullptr on a transport failure
  // (see Connection::failure()).
  ReplyPtr RunScript(Connection& connection, Script script,
                     const std::vector<std::string_view>& arguments, bool asking = false,
                     const ReplicaWait* wait = nullptr, ReplyPtr* acknowledged = nullptr);

  // `command` on `connection`, preceded by ASKING in the same write when `asking`. nullptr on a
  // transport failure.
  static ReplyPtr Call(Connection& connection, const Command& command, bool asking = false);

 private:
  std::string Sha(Script script);
  // Every pool's set-up hook: the canary check of a new connection.
  ConnectionPool::SetUp CanaryCheck();

  const NodeSettings settings_;
  Canary canary_;  // before the pools, whose set-up hook reads it
  ConnectionPool pool_;
  std::unique_ptr<ConnectionPool> wait_pool_;  // null without a wait lane
  std::once_flag tracked_once_;
  std::unique_ptr<TrackedReads> tracked_;  // set once, by tracked()
  std::mutex sha_mutex_;
  std::array<std::string, kScriptCount> sha_;  // guarded by sha_mutex_; empty until loaded
};

}  // namespace credstore::redis_internal

#endif  // CREDSTORE_BACKENDS_REDIS_SRC_NODE_H_
