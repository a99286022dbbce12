#include "cluster_topology.h"

#include <algorithm>
#include <utility>

#include "crc16.h"

namespace credstore::redis_internal {

ClusterTopology::ClusterTopology(const Endpoint& base, NodeSettings settings)
    : base_(base), settings_(std::move(settings)), slots_(kClusterSlots) {}

Result<std::unique_ptr<ClusterTopology>> ClusterTopology::Open(
    const std::vector<RedisAddress>& seeds, const Endpoint& base, NodeSettings settings) {
  std::unique_ptr<ClusterTopology> topology(new ClusterTopology(base, std::move(settings)));
  Status last = Status::Unavailable("redis: no cluster seed node given");
  for (std::size_t i = 0; i < seeds.size(); ++i) {
    std::shared_ptr<Node> seed;
    {
      std::lock_guard lock(topology->nodes_mutex_);
      const bool v6 = seeds[i].host.find(':') != std::string::npos;
      seed = topology->NodeLocked((v6 ? "[" + seeds[i].host + "]" : seeds[i].host) + ":" +
                                  std::to_string(seeds[i].port));
    }
    if (seed == nullptr) return Status::InvalidArgument("redis: a cluster seed is malformed");
    Result<View> view = topology->ReadSlots(*seed);
    if (!view.ok()) {
      // A seed that answers but refuses is a configuration error; an unreachable one is not.
      if (view.status().code() != StatusCode::kUnavailable) return view.status();
      last = Status::Unavailable("redis: cluster seed " + std::to_string(i + 1) +
                                 " cannot be reached: " + view.status().message());
      continue;
    }
    if (view->ranges.empty()) {
      return Status::InvalidArgument("redis: the cluster serves no slot (CLUSTER SLOTS is empty)");
    }
    // The first Install always changes the empty map, unless no master address was usable.
    if (!topology->Install(*view)) {
      return Status::Internal("redis: CLUSTER SLOTS named no usable master address");
    }
    topology->last_refresh_ = std::chrono::steady_clock::now();
    return topology;
  }
  return last;
}

std::shared_ptr<Node> ClusterTopology::NodeLocked(std::string_view address) {
  const auto found = nodes_.find(address);
  if (found != nodes_.end()) return found->second;
  std::optional<HostPort> split = SplitAddress(address);
  if (!split || split->host.empty()) return nullptr;
  Endpoint endpoint = base_;
  endpoint.unix_socket.clear();
  endpoint.host = split->host;
  endpoint.port = split->port;
  endpoint.db = 0;
  auto node = std::make_shared<Node>(std::move(endpoint), settings_);
  nodes_.emplace(std::string(address), node);
  return node;
}

Result<ClusterTopology::View> ClusterTopology::ReadSlots(Node& node) {
  Result<ConnectionPool::Lease> acquired = node.pool().Acquire();
  if (!acquired.ok()) return acquired.status();
  ConnectionPool::Lease lease = std::move(acquired).value();
  std::vector<ReplyPtr> replies;
  if (!lease->Exchange({Command{"CLUSTER", "SLOTS"}, Command{"CLUSTER", "NODES"}}, replies)) {
    return Status::Unavailable("redis: cluster slots: " + lease->failure());
  }
  const ReplyPtr& reply = replies[0];
  if (reply->type == REDIS_REPLY_ERROR) {
    const std::string_view code = ErrorCode(*reply);
    if (code == "NOAUTH") {
      return Status::InvalidArgument("redis requires a password (NOAUTH) and none was given");
    }
    if (code == "LOADING" || code == "BUSY") {
      return Status::Unavailable("redis: cluster node not ready (" + std::string(code) + ")");
    }
    return Status::InvalidArgument(
        "redis: a cluster seed refused CLUSTER SLOTS (is it in cluster mode?)");
  }
  Result<std::vector<SlotRange>> ranges = ParseClusterSlots(*reply, node.endpoint().host);
  if (!ranges.ok()) return ranges.status();
  View view;
  view.ranges = std::move(ranges).value();
  if (replies[1]->type == REDIS_REPLY_STRING) {
    view.replicas = ParseClusterNodesReplicas(ReplyText(*replies[1]), node.endpoint().host);
  }
  for (const SlotRange& range : view.ranges) {
    view.replicas.insert(view.replicas.end(), range.replicas.begin(), range.replicas.end());
  }
  std::sort(view.replicas.begin(), view.replicas.end());
  view.replicas.erase(std::unique(view.replicas.begin(), view.replicas.end()), view.replicas.end());
  return view;
}

bool ClusterTopology::Install(const View& view) {
  std::vector<std::shared_ptr<Node>> slots(kClusterSlots);
  std::vector<std::shared_ptr<Node>> masters;
  std::vector<std::shared_ptr<Node>> members;
  const auto add_once = [](std::vector<std::shared_ptr<Node>>& list,
                           const std::shared_ptr<Node>& node) {
    if (std::find(list.begin(), list.end(), node) == list.end()) list.push_back(node);
  };
  {
    std::lock_guard lock(nodes_mutex_);
    for (const SlotRange& range : view.ranges) {
      std::shared_ptr<Node> master = NodeLocked(range.master);
      if (master == nullptr) continue;
      std::fill(slots.begin() + range.first, slots.begin() + range.last + 1, master);
      add_once(masters, master);
      add_once(members, master);
    }
    for (const std::string& replica : view.replicas) {
      if (std::shared_ptr<Node> node = NodeLocked(replica)) add_once(members, node);
    }
  }
  // A view naming no usable master would leave Owner nothing to answer: keep the map we have.
  if (masters.empty()) return false;
  const auto same = [](const SlotRange& a, const SlotRange& b) {
    return a.first == b.first && a.last == b.last && a.master == b.master &&
           a.replicas == b.replicas;
  };
  std::unique_lock lock(map_mutex_);
  const bool changed = !std::equal(view.ranges.begin(), view.ranges.end(),
                                   installed_.ranges.begin(), installed_.ranges.end(), same) ||
                       view.replicas != installed_.replicas || slots != slots_;
  if (changed) generation_.fetch_add(1);
  slots_ = std::move(slots);
  masters_ = std::move(masters);
  members_ = std::move(members);
  installed_ = view;
  return changed;
}

std::shared_ptr<Node> ClusterTopology::Owner(std::string_view redis_key) {
  const int slot = HashSlot(redis_key);
  std::shared_lock lock(map_mutex_);
  if (slots_[static_cast<std::size_t>(slot)] != nullptr) {
    return slots_[static_cast<std::size_t>(slot)];
  }
  // A slot no master serves: any master answers it with CLUSTERDOWN (retried) or MOVED.
  return masters_.front();
}

std::vector<std::shared_ptr<Node>> ClusterTopology::Masters() {
  std::shared_lock lock(map_mutex_);
  return masters_;
}

std::vector<std::shared_ptr<Node>> ClusterTopology::Nodes() {
  std::shared_lock lock(map_mutex_);
  return members_;
}

std::shared_ptr<Node> ClusterTopology::Moved(int slot, std::string_view address) {
  std::shared_ptr<Node> node;
  {
    std::lock_guard lock(nodes_mutex_);
    node = NodeLocked(address);
  }
  if (node == nullptr || slot < 0 || slot >= kClusterSlots) return nullptr;
  std::unique_lock lock(map_mutex_);
  if (slots_[static_cast<std::size_t>(slot)] != node) generation_.fetch_add(1);
  slots_[static_cast<std::size_t>(slot)] = node;
  if (std::find(masters_.begin(), masters_.end(), node) == masters_.end()) {
    masters_.push_back(node);
    if (std::find(members_.begin(), members_.end(), node) == members_.end()) {
      members_.push_back(node);
    }
  }
  return node;
}

std::shared_ptr<Node> ClusterTopology::NodeAt(std::string_view address) {
  std::lock_guard lock(nodes_mutex_);
  return NodeLocked(address);
}

bool ClusterTopology::Refresh() {
  const std::uint64_t seen = generation_.load();
  std::lock_guard refreshing(refresh_mutex_);
  // Another caller changed the map while this one waited: that is the news it came for.
  if (generation_.load() != seen) return true;
  const auto now = std::chrono::steady_clock::now();
  if (now - last_refresh_ < kRefreshInterval) return false;
  last_refresh_ = now;
  // The masters of the current map first (the likeliest to know), then every other node met.
  std::vector<std::shared_ptr<Node>> candidates = Masters();
  {
    std::lock_guard lock(nodes_mutex_);
    for (const auto& [address, node] : nodes_) {
      if (std::find(candidates.begin(), candidates.end(), node) == candidates.end()) {
        candidates.push_back(node);
      }
    }
  }
  for (const std::shared_ptr<Node>& node : candidates) {
    Result<View> view = ReadSlots(*node);
    if (view.ok() && !view->ranges.empty()) return Install(*view);
  }
  return false;
}

}  // namespace credstore::redis_internal
