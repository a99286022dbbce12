// Internal to credstore::redis: the Topology of a Redis Cluster.
//
// Holds the slot map (which master serves each of the 16384 slots), the replicas, and one Node — so
// one connection pool — per server it has met, masters and replicas. The map is read with CLUSTER
// SLOTS at Open, patched slot by slot by MOVED replies, and read again (Refresh) after a connection
// failure or CLUSTERDOWN, at most once per kRefreshInterval so that a cluster in trouble is not
// flooded with CLUSTER SLOTS by every caller at once. A node that leaves the map keeps its Node
// (and pool) in case it comes back; callers holding it finish with it.
//
// Thread safety: every method may be called from many threads at once. Lookups take a shared
// lock; Refresh does its I/O outside it.
#ifndef CREDSTORE_BACKENDS_REDIS_SRC_CLUSTER_TOPOLOGY_H_
#define CREDSTORE_BACKENDS_REDIS_SRC_CLUSTER_TOPOLOGY_H_

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <vector>

#include "credstore/backends/redis.h"
#include "slot_map.h"
#include "topology.h"

namespace credstore::redis_internal {

class ClusterTopology final : public Topology {
 public:
  // The shortest time between two reads of the map by Refresh.
  static constexpr std::chrono::milliseconds kRefreshInterval{100};

  // Reads the slot map from the first of `seeds` that answers. Every node is reached with
  // `base` (credentials, timeouts; its address replaced) and made with `settings`
  // (its pools, its per-node parts).
  // kInvalidArgument when a seed refuses CLUSTER SLOTS (not in cluster mode, a refused
  // password) or no slot is served; kUnavailable when no seed can be reached.
  static Result<std::unique_ptr<ClusterTopology>> Open(const std::vector<RedisAddress>& seeds,
                                                       const Endpoint& base, NodeSettings settings);

  std::shared_ptr<Node> Owner(std::string_view redis_key) override;
  std::vector<std::shared_ptr<Node>> Masters() override;
  std::vector<std::shared_ptr<Node>> Nodes() override;
  std::shared_ptr<Node> Moved(int slot, std::string_view address) override;
  std::shared_ptr<Node> NodeAt(std::string_view address) override;
  bool Refresh() override;

 private:
  ClusterTopology(const Endpoint& base, NodeSettings settings);

  // The Node for "host:port", made on first use; nullptr for a malformed address.
  // Requires nodes_mutex_.
  std::shared_ptr<Node> NodeLocked(std::string_view address);
  // What one node says of the cluster: its slot ranges (CLUSTER SLOTS) and every usable
  // replica (CLUSTER NODES, since CLUSTER SLOTS omits a replica that has replicated nothing yet).
  struct View {
    std::vector<SlotRange> ranges;
    std::vector<std::string> replicas;  // "host:port", sorted, each once
  };
  // CLUSTER SLOTS and CLUSTER NODES on `node`, pipelined: its view, or why not.
  Result<View> ReadSlots(Node& node);
  // Makes `view` the map; true when it differs from the one before. A view without a usable
  // master is ignored (false). Takes map_mutex_.
  bool Install(const View& view);

  const Endpoint base_;
  const NodeSettings settings_;  // every node is made with these

  std::mutex nodes_mutex_;
  std::map<std::string, std::shared_ptr<Node>, std::less<>> nodes_;  // every node ever met

  mutable std::shared_mutex map_mutex_;
  std::vector<std::shared_ptr<Node>> slots_;    // guarded by map_mutex_; kClusterSlots entries
  std::vector<std::shared_ptr<Node>> masters_;  // guarded by map_mutex_
  std::vector<std::shared_ptr<Node>> members_;  // guarded by map_mutex_; masters and replicas
  View installed_;                              // guarded by map_mutex_; what Install last got

  std::atomic<std::uint64_t> generation_{0};  // counts the changes Install made

  std::mutex refresh_mutex_;                            // one Refresh at a time
  std::chrono::steady_clock::time_point last_refresh_;  // guarded by refresh_mutex_
};

}  // namespace credstore::redis_internal

#endif  // CREDSTORE_BACKENDS_REDIS_SRC_CLUSTER_TOPOLOGY_H_
