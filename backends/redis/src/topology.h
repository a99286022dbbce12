// Internal to credstore::redis: which servers the backend talks to, and which one owns a key.
//
// The backend never holds a Node of its own: it asks its Topology for the owner of each key and
// for the list of masters (Scan, bulk export) or of every node (the policy watch). A single Redis
// is SingleServerTopology; a Redis Cluster is ClusterTopology (cluster_topology.h), which also
// learns from the redirections the servers answer. Per-server features belong on the Node, so
// each comes "one per node" for free.
//
// Thread safety: every method may be called from many threads at once. A returned Node stays
// valid for as long as the caller holds the shared_ptr, even when the map drops it meanwhile.
#ifndef CREDSTORE_BACKENDS_REDIS_SRC_TOPOLOGY_H_
#define CREDSTORE_BACKENDS_REDIS_SRC_TOPOLOGY_H_

#include <memory>
#include <string_view>
#include <utility>
#include <vector>

#include "node.h"

namespace credstore::redis_internal {

class Topology {
 public:
  virtual ~Topology() = default;

  // The node that serves `redis_key` as far as the topology knows now; never null.
  virtual std::shared_ptr<Node> Owner(std::string_view redis_key) = 0;
  // Every master of the current map, each once (a single server: that server).
  virtual std::vector<std::shared_ptr<Node>> Masters() = 0;
  // Every node of the current map, replicas included, each once.
  virtual std::vector<std::shared_ptr<Node>> Nodes() = 0;

  // A server answered `MOVED <slot> <address>`: the map is stale. Records the new owner and
  // returns its node; nullptr when this topology takes no redirections (a single server).
  virtual std::shared_ptr<Node> Moved(int slot, std::string_view address) = 0;
  // A server answered `ASK <slot> <address>`: the node at `address`, the map unchanged;
  // nullptr when this topology takes no redirections.
  virtual std::shared_ptr<Node> NodeAt(std::string_view address) = 0;
  // After a connection failure or CLUSTERDOWN: reads the map again unless it was read very
  // recently. True when the map changed, i.e. when a retry may reach another node.
  virtual bool Refresh() = 0;
};

// One Redis server owns every key.
class SingleServerTopology final : public Topology {
 public:
  explicit SingleServerTopology(std::shared_ptr<Node> node) : node_(std::move(node)) {}

  std::shared_ptr<Node> Owner(std::string_view) override { return node_; }
  std::vector<std::shared_ptr<Node>> Masters() override { return {node_}; }
  std::vector<std::shared_ptr<Node>> Nodes() override { return {node_}; }
  std::shared_ptr<Node> Moved(int, std::string_view) override { return nullptr; }
  std::shared_ptr<Node> NodeAt(std::string_view) override { return nullptr; }
  bool Refresh() override { return false; }

 private:
  const std::shared_ptr<Node> node_;
};

}  // namespace credstore::redis_internal

#endif  // CREDSTORE_BACKENDS_REDIS_SRC_TOPOLOGY_H_
