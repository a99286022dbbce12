// Internal to credstore::redis: the canary record that tells a node which lost its data from a
// node that still holds it.
//
// Redis answers an empty database exactly as it answers one whose keys were never written: a
// server restarted without its AOF, flushed (FLUSHALL/FLUSHDB) or swapped for another database
// answers "no record" for every credential, which the core turns into 401 for valid keys. So
// every node of the store holds a canary record: a random generation id, written once when the
// store is new and never changed or removed by credstore. A single server holds one; on a Redis
// Cluster, the store has kClusterCanaries canary records whose hash tags spread them over the
// slot space (one per 1024 slots), and each master holds those whose slots it serves (as the
// current map says; a resharded slot takes its canary along, a replica serves none until it is
// promoted). A backend remembers the generation it
// found at Open and compares it on every new connection to the node (a restart drops every
// connection, so the first call after it notices), periodically (a FLUSHALL keeps connections
// open) and, while it is missing, on every call. From the first check that finds it missing or
// different until one finds it again, the node is "lost": every call answers kUnavailable (never
// NotFound) and CheckHealth fails.
//
// Recovery. A lost node comes back by itself only when the same generation is there again: the
// data came back (the restarted Redis finished reading its AOF, or an operator restored a copy
// of this store). Deciding that an empty store is a new one is the operator's: restart the
// backends (credstored); Open then writes a new generation on an empty store, and every backend
// still running on the old one keeps answering kUnavailable until it is restarted too.
//
// The canary and the core's keycheck record answer different questions: the keycheck says which
// keyring the store belongs to and lives on one node; the canary says this node still holds what
// it held when the backend opened it, on every node, and guards every call. Open plants the
// canary before the core reads or writes the keycheck, so a store with a keycheck always has
// canaries (except a store written before canaries existed, which gets one at its first Open).
//
// Thread safety: every method may be called from many threads at once.
#ifndef CREDSTORE_BACKENDS_REDIS_SRC_CANARY_H_
#define CREDSTORE_BACKENDS_REDIS_SRC_CANARY_H_

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "connection.h"
#include "credstore/status.h"

namespace credstore::redis_internal {

// The canary's Redis key for one namespace on a single server: outside the records' pattern
// `<namespace>:{…}`, so Scan and migration never see it (a namespace has no braces, so no other
// namespace's record or canary can have this name).
std::string CanaryKey(std::string_view key_namespace);

// A cluster store's canary keys: `<namespace>:canary{<tag>}`, the k-th tag hashing into slots
// [1024 k, 1024 k + 1023], the same in every process. Outside the records' pattern as above.
inline constexpr int kClusterCanaries = 16;
std::vector<std::string> ClusterCanaryKeys(std::string_view key_namespace);

// The generation every canary of one backend expects: unset until Open established it, then
// fixed. Shared by the backend's nodes, so that a node met later (a new master, a promoted
// replica) is checked against it too.
class CanaryGeneration {
 public:
  void Set(std::string generation);
  // nullptr until Set.
  const std::string* get() const {
    return set_.load(std::memory_order_acquire) ? &value_ : nullptr;
  }

  // Whether any node's canary is lost now: one load, for the near-cache's hit path.
  bool any_lost() const { return lost_nodes_.load(std::memory_order_acquire) > 0; }
  // A node's canary went lost (+1) or came back (-1); kept by Canary.
  void CountLost(int change) const { lost_nodes_.fetch_add(change, std::memory_order_acq_rel); }

 private:
  std::once_flag once_;
  std::string value_;  // written once, before set_
  std::atomic<bool> set_{false};
  mutable std::atomic<int> lost_nodes_{0};
};

class Canary {
 public:
  // The canary keys this node must hold now (a single server: its one; a cluster node: those
  // whose slots it serves in the current map, none for a replica).
  using Keys = std::function<std::vector<std::string>()>;

  Canary(Keys keys, std::shared_ptr<const CanaryGeneration> expected)
      : keys_(std::move(keys)), expected_(std::move(expected)) {}
  // A node that leaves (a cluster's map dropped it) while lost no longer counts as lost.
  ~Canary() {
    if (lost_.load()) expected_->CountLost(-1);
  }
  Canary(const Canary&) = delete;
  Canary& operator=(const Canary&) = delete;

  // What the node holds, read on `connection` (pipelined GETs): nullopt when it has no canary
  // keys to hold now; "" when one of them is missing or they disagree; else the generation. A
  // key the node answers MOVED/ASK for (the map is stale) is skipped. kUnavailable when the node
  // cannot be asked.
  Result<std::optional<std::string>> Read(Connection& connection) const;

  // Writes `generation` to each canary key the node lacks (SET NX: two backends opening a new
  // store at once agree on one) and returns what the node holds afterwards (as Read).
  Result<std::optional<std::string>> Plant(Connection& connection,
                                           const std::string& generation) const;

  // The pool's set-up hook, on every new connection to the node: reads the canary and records
  // what it found. OK when it could be read (found or not: a missing canary is recorded, and
  // Gate refuses the call); kUnavailable, with the connection not to be used, when the read
  // failed. Does nothing before the generation is established.
  Status OnNewConnection(Connection& connection);

  // The periodic check: reads the canary and records what it found; a failed read changes
  // nothing (the calls report an outage themselves).
  void Check(Connection& connection);

  // Before every call on `connection`: OK while the node holds the canary (one atomic load);
  // while it is lost, reads it again (so the data coming back is noticed at once) and answers
  // kUnavailable if it is still missing or different.
  Status Gate(Connection& connection);

  // kUnavailable while the node is lost (the message says why and what to do), OK otherwise.
  Status Verdict() const;

 private:
  // Reads the canary and records the verdict; the read's failure otherwise.
  Status Refresh(Connection& connection);

  const Keys keys_;
  const std::shared_ptr<const CanaryGeneration> expected_;
  std::atomic<bool> lost_{false};
};

// A new generation id: 128 random bits in hex.
std::string NewCanaryGeneration();

// The Open rule over the nodes of the store that hold canaries (a single server; a cluster's
// masters), in an order every opener shares. Reads each node's canary; when no node holds one,
// the store is new (or predates canaries) and one generation is planted on every node; when every
// node holds the same one, it is kept. Either way `expected` is set to it. kUnavailable, setting
// nothing, when some nodes hold a canary and others none or another one: those nodes lost their
// data, and planting would hide that from every backend running on the store.
// `connections[i]` is a connection to the node of `canaries[i]`.
Status EstablishCanaries(const std::vector<Canary*>& canaries,
                         const std::vector<Connection*>& connections, CanaryGeneration& expected);

}  // namespace credstore::redis_internal

#endif  // CREDSTORE_BACKENDS_REDIS_SRC_CANARY_H_
