#include "redis/redis_cluster_fixture.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <iterator>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace credstore::testing {
namespace {

using namespace std::chrono_literals;

constexpr std::chrono::milliseconds kFormingNodeTimeout = 15s;
constexpr std::chrono::milliseconds kNodeTimeout = 1s;

// One line of CLUSTER NODES: `<id> <ip:port@bus> <flags> <master> <ping> <pong> <epoch> <link>
// <slot>...`.
struct NodeLine {
  std::string id;
  std::string flags;
  std::string master;              // "-" for a master
  std::vector<std::string> slots;  // "a-b" or "a"; migration markers "[...]" left out
};

std::vector<NodeLine> ParseClusterNodes(const std::string& text) {
  std::vector<NodeLine> lines;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream words(line);
    NodeLine node;
    std::string address, ping, pong, epoch, link, slot;
    if (!(words >> node.id >> address >> node.flags >> node.master >> ping >> pong >> epoch >>
          link)) {
      continue;
    }
    while (words >> slot) {
      if (!slot.empty() && slot.front() != '[') node.slots.push_back(slot);
    }
    lines.push_back(std::move(node));
  }
  return lines;
}

bool HasFlag(const NodeLine& node, std::string_view flag) {
  std::istringstream flags(node.flags);
  std::string one;
  while (std::getline(flags, one, ',')) {
    if (one == flag) return true;
  }
  return false;
}

bool Serves(const NodeLine& node, int slot) {
  for (const std::string& range : node.slots) {
    const std::size_t dash = range.find('-');
    const int first = std::stoi(range.substr(0, dash));
    const int last = dash == std::string::npos ? first : std::stoi(range.substr(dash + 1));
    if (slot >= first && slot <= last) return true;
  }
  return false;
}

bool LiveMaster(const NodeLine& node) {
  return HasFlag(node, "master") && !HasFlag(node, "fail") && !HasFlag(node, "fail?");
}

// Runs `argv` with its output in `log`, waiting at most `limit`; the child dies with the test.
int RunBounded(const std::vector<std::string>& argv, const std::string& log,
               std::chrono::seconds limit) {
  std::vector<char*> args;
  for (const std::string& arg : argv) args.push_back(const_cast<char*>(arg.c_str()));
  args.push_back(nullptr);
  const pid_t parent = getpid();
  const pid_t child = fork();
  if (child < 0) throw std::runtime_error("fork failed");
  if (child == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(126);
    const int out = open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    const int null_fd = open("/dev/null", O_RDONLY);
    if (null_fd >= 0) dup2(null_fd, STDIN_FILENO);
    if (out >= 0) {
      dup2(out, STDOUT_FILENO);
      dup2(out, STDERR_FILENO);
    }
    execvp(args[0], args.data());
    _exit(127);
  }
  const auto deadline = std::chrono::steady_clock::now() + limit;
  for (;;) {
    int status = 0;
    if (waitpid(child, &status, WNOHANG) == child) {
      return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    }
    if (std::chrono::steady_clock::now() >= deadline) {
      kill(child, SIGKILL);
      waitpid(child, nullptr, 0);
      return -1;
    }
    std::this_thread::sleep_for(20ms);
  }
}

std::string ReadAll(const std::string& path) {
  std::ifstream in(path);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

}  // namespace

RedisClusterFixture::RedisClusterFixture() {
  RedisServerFixture::Settings settings;
  settings.cluster_node = true;
  // redis-cli sends each CLUSTER MEET once; on a loaded machine a handshake can outlast the
  // tests' 1 s node timeout, the node drops the peer and the cluster never forms. So the
  // nodes meet under a generous timeout and get the short one (fast failover) once formed.
  settings.cluster_node_timeout = kFormingNodeTimeout;
  std::vector<std::string> create = {"redis-cli", "--cluster", "create"};
  for (std::size_t i = 0; i < kNodes; ++i) {
    nodes_.push_back(std::make_unique<RedisServerFixture>(settings));
    create.push_back(nodes_.back()->tcp_address());
  }
  for (std::size_t i = 0; i < kNodes; ++i) ids_.push_back(Command(i, {"CLUSTER", "MYID"}));
  create.insert(create.end(), {"--cluster-replicas", "1", "--cluster-yes"});
  const std::string log = (node(0).folder() / "cluster-create.log").string();
  if (RunBounded(create, log, 60s) != 0) {
    throw std::runtime_error("redis-cli --cluster create failed:\n" + ReadAll(log));
  }
  WaitUntilStable();
  const std::string timeout = std::to_string(kNodeTimeout.count());
  for (std::size_t i = 0; i < kNodes; ++i) {
    Command(i, {"CONFIG", "SET", "cluster-node-timeout", timeout});
  }
}

std::string RedisClusterFixture::Uri() const {
  std::string uri = "redis+cluster://";
  for (std::size_t i = 0; i < kNodes; ++i) {
    if (i > 0) uri += ",";
    uri += nodes_[i]->tcp_address();
  }
  return uri;
}

RedisOptions RedisClusterFixture::BackendOptions() const {
  RedisOptions options;
  for (const auto& node : nodes_) {
    options.cluster_seeds.push_back(RedisAddress{"127.0.0.1", node->tcp_port()});
  }
  options.pool_size = 4;
  options.connect_timeout = 500ms;
  options.command_timeout = 2000ms;
  return options;
}

std::size_t RedisClusterFixture::AnyLiveNode() const {
  for (std::size_t i = 0; i < kNodes; ++i) {
    if (nodes_[i]->running()) return i;
  }
  throw std::runtime_error("no cluster node is running");
}

std::size_t RedisClusterFixture::IndexOfId(std::string_view id) const {
  for (std::size_t i = 0; i < ids_.size(); ++i) {
    if (ids_[i] == id) return i;
  }
  throw std::runtime_error("unknown cluster node id");
}

std::string RedisClusterFixture::NodeId(std::size_t index) const { return ids_[index]; }

std::size_t RedisClusterFixture::MasterOf(int slot) const {
  for (const NodeLine& line : ParseClusterNodes(Command(AnyLiveNode(), {"CLUSTER", "NODES"}))) {
    if (LiveMaster(line) && Serves(line, slot)) return IndexOfId(line.id);
  }
  throw std::runtime_error("no live master serves slot " + std::to_string(slot));
}

std::vector<std::size_t> RedisClusterFixture::Masters() const {
  std::vector<std::size_t> masters;
  for (const NodeLine& line : ParseClusterNodes(Command(AnyLiveNode(), {"CLUSTER", "NODES"}))) {
    const std::size_t index = IndexOfId(line.id);
    // Without slots it is no master a key can live on (and may be a replica not yet known as
    // one: see WaitUntilStable).
    if (LiveMaster(line) && !line.slots.empty() && nodes_[index]->running()) {
      masters.push_back(index);
    }
  }
  std::sort(masters.begin(), masters.end());
  return masters;
}

std::size_t RedisClusterFixture::AnotherMaster(std::size_t other) const {
  for (const std::size_t master : Masters()) {
    if (master != other) return master;
  }
  throw std::runtime_error("no other live master");
}

std::size_t RedisClusterFixture::ReplicaOf(std::size_t master) const {
  for (const NodeLine& line : ParseClusterNodes(Command(AnyLiveNode(), {"CLUSTER", "NODES"}))) {
    if (HasFlag(line, "slave") && line.master == ids_[master]) return IndexOfId(line.id);
  }
  throw std::runtime_error("master has no replica");
}

void RedisClusterFixture::FlushAll() {
  for (const std::size_t master : Masters()) {
    const std::string flushed = Command(master, {"FLUSHALL", "SYNC"});
    if (flushed != "OK") throw std::runtime_error("FLUSHALL failed: " + flushed);
  }
}

void RedisClusterFixture::WaitUntilStable() const {
  const auto deadline = std::chrono::steady_clock::now() + 20s;
  for (;;) {
    bool stable = true;
    std::string agreed;
    for (std::size_t i = 0; i < kNodes && stable; ++i) {
      if (!nodes_[i]->running()) continue;
      if (Command(i, {"CLUSTER", "INFO"}).find("cluster_state:ok") == std::string::npos) {
        stable = false;
        break;
      }
      // Each node's view of who serves which slots and who replicates whom: right after the
      // cluster is made, a node may still list a new replica as a master without slots (gossip
      // has not told it yet), and a write sent there by its view is refused READONLY.
      std::vector<std::string> view;
      for (const NodeLine& line : ParseClusterNodes(Command(i, {"CLUSTER", "NODES"}))) {
        std::string entry = line.id;
        if (LiveMaster(line) && !line.slots.empty()) {
          for (const std::string& slots : line.slots) entry += " " + slots;
        } else if (HasFlag(line, "slave") && !HasFlag(line, "fail") && !HasFlag(line, "fail?")) {
          entry += " replicates " + line.master;
        } else {
          continue;  // failed, or a master without slots: a node some view has not placed yet
        }
        view.push_back(std::move(entry));
      }
      std::sort(view.begin(), view.end());
      std::string joined;
      for (const std::string& entry : view) joined += entry + "\n";
      if (agreed.empty()) {
        agreed = joined;
      } else if (joined != agreed) {
        stable = false;
      }
    }
    if (stable) return;
    if (std::chrono::steady_clock::now() >= deadline) {
      throw std::runtime_error("the test cluster did not become stable within 20 s");
    }
    std::this_thread::sleep_for(50ms);
  }
}

void RedisClusterFixture::WaitForReplication(std::size_t master) const {
  const auto field = [](const std::string& info, const std::string& name) {
    const std::size_t at = info.find(name);
    if (at == std::string::npos) return std::string();
    const std::size_t start = at + name.size();
    return info.substr(start, info.find_first_of(",\r\n", start) - start);
  };
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  for (;;) {
    const std::string info = Command(master, {"INFO", "replication"});
    const std::string master_offset = field(info, "master_repl_offset:");
    const std::string replica_offset = field(info, "offset=");
    const std::string state = field(info, "state=");
    if (state == "online" && !master_offset.empty() && master_offset == replica_offset) return;
    if (std::chrono::steady_clock::now() >= deadline) {
      throw std::runtime_error("the replica did not catch up within 10 s");
    }
    std::this_thread::sleep_for(20ms);
  }
}

std::size_t RedisClusterFixture::KillMasterAndPromoteReplica(std::size_t master) {
  const std::size_t replica = ReplicaOf(master);
  nodes_[master]->Kill();
  const std::string answer = Command(replica, {"CLUSTER", "FAILOVER", "TAKEOVER"});
  if (answer != "OK") throw std::runtime_error("CLUSTER FAILOVER TAKEOVER failed: " + answer);
  const auto deadline = std::chrono::steady_clock::now() + 20s;
  while (Command(replica, {"ROLE"}).rfind("master", 0) != 0) {
    if (std::chrono::steady_clock::now() >= deadline) {
      throw std::runtime_error("the replica was not promoted within 20 s");
    }
    std::this_thread::sleep_for(20ms);
  }
  WaitUntilStable();
  return replica;
}

void RedisClusterFixture::BeginSlotMigration(int slot, std::size_t to) {
  const std::size_t from = MasterOf(slot);
  const std::string number = std::to_string(slot);
  const std::string importing =
      Command(to, {"CLUSTER", "SETSLOT", number, "IMPORTING", ids_[from]});
  const std::string migrating =
      Command(from, {"CLUSTER", "SETSLOT", number, "MIGRATING", ids_[to]});
  if (importing != "OK" || migrating != "OK") {
    throw std::runtime_error("SETSLOT IMPORTING/MIGRATING failed: " + importing + " " + migrating);
  }
}

void RedisClusterFixture::MigrateKeys(int slot, std::size_t to) {
  const std::size_t from = MasterOf(slot);
  const std::string number = std::to_string(slot);
  const std::string port = std::to_string(nodes_[to]->tcp_port());
  for (int round = 0; round < 10000; ++round) {
    const std::string keys = Command(from, {"CLUSTER", "GETKEYSINSLOT", number, "100"});
    if (keys.empty()) return;
    std::istringstream lines(keys);
    std::string key;
    while (std::getline(lines, key)) {
      const std::string moved = Command(from, {"MIGRATE", "127.0.0.1", port, key, "0", "5000"});
      if (moved != "OK" && moved != "NOKEY") throw std::runtime_error("MIGRATE failed: " + moved);
    }
  }
  throw std::runtime_error("the slot's keys did not drain");
}

void RedisClusterFixture::FinishSlotMigration(int slot, std::size_t to) {
  const std::size_t from = MasterOf(slot);
  const std::string number = std::to_string(slot);
  // The importing node first, then the old owner, then every other master (the manual's order).
  std::vector<std::size_t> order = {to, from};
  for (const std::size_t master : Masters()) {
    if (master != to && master != from) order.push_back(master);
  }
  for (const std::size_t index : order) {
    const std::string answer = Command(index, {"CLUSTER", "SETSLOT", number, "NODE", ids_[to]});
    if (answer != "OK") throw std::runtime_error("SETSLOT NODE failed: " + answer);
  }
  WaitUntilStable();
}

void RedisClusterFixture::MoveSlot(int slot, std::size_t to) {
  BeginSlotMigration(slot, to);
  MigrateKeys(slot, to);
  FinishSlotMigration(slot, to);
}

}  // namespace credstore::testing
