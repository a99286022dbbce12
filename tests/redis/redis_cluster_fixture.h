// A private Redis Cluster for tests: six redis-servers on free 127.0.0.1 ports, three masters
// with one replica each.
//
// Each node is a RedisServerFixture in cluster mode (`cluster-enabled yes`,
// `cluster-node-timeout 1000` once the cluster is formed, 15000 while its nodes meet, and the
// production settings of that fixture: appendonly yes, appendfsync always, maxmemory-policy
// noeviction), so every node gets SIGKILL if the test dies (PR_SET_PDEATHSIG). The cluster is
// formed with `redis-cli --cluster create ... --cluster-replicas 1 --cluster-yes`, then the fixture
// waits until every node reports `cluster_state:ok`. Helpers disturb it the ways a real cluster is
// disturbed: a master killed with SIGKILL and its replica promoted (CLUSTER FAILOVER TAKEOVER),
// and a slot moved between masters by hand (SETSLOT IMPORTING/MIGRATING, MIGRATE, SETSLOT NODE),
// in steps so that a test can act while the slot is half-migrated.
//
// Every wait is bounded (cluster creation 60 s, each wait for the cluster's state ~20 s).
// Thread safety: none; drive it from one thread. Errors throw std::runtime_error.
#ifndef CREDSTORE_TESTS_REDIS_REDIS_CLUSTER_FIXTURE_H_
#define CREDSTORE_TESTS_REDIS_REDIS_CLUSTER_FIXTURE_H_

#include <cstddef>
#include <initializer_list>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "credstore/backends/redis.h"
#include "redis/redis_server_fixture.h"

namespace credstore::testing {

class RedisClusterFixture {
 public:
  static constexpr std::size_t kNodes = 6;

  // Starts the six servers and forms the cluster; throws if it is not ok within the bounds.
  RedisClusterFixture();
  ~RedisClusterFixture() = default;
  RedisClusterFixture(const RedisClusterFixture&) = delete;
  RedisClusterFixture& operator=(const RedisClusterFixture&) = delete;

  RedisServerFixture& node(std::size_t index) { return *nodes_[index]; }

  // `redis+cluster://` with every node as a seed.
  std::string Uri() const;
  // Backend options for this cluster: every node a seed, short timeouts that fit loopback.
  RedisOptions BackendOptions() const;

  // The index of the node currently serving `slot` as master, asked of a live node.
  std::size_t MasterOf(int slot) const;
  // The index of a live master other than `other`.
  std::size_t AnotherMaster(std::size_t other) const;
  // The indexes of the live masters that serve slots, as the live nodes' view says.
  std::vector<std::size_t> Masters() const;
  // The index of the replica of master `master`.
  std::size_t ReplicaOf(std::size_t master) const;

  // FLUSHALL SYNC on every live master.
  void FlushAll();

  // Waits (~10 s at most) until master `master`'s replica has replicated everything the master
  // holds now (its offset equals master_repl_offset); throws otherwise.
  void WaitForReplication(std::size_t master) const;

  // SIGKILL to master `master`; then CLUSTER FAILOVER TAKEOVER on its replica and a wait until
  // every live node agrees that the replica serves the slots (cluster_state:ok). Returns the
  // replica's index.
  std::size_t KillMasterAndPromoteReplica(std::size_t master);

  // Slot migration in the three steps of the Redis Cluster manual. Begin: `to` IMPORTING and
  // the current owner MIGRATING. MigrateKeys: MIGRATE every key of the slot from the owner to
  // `to` (the slot stays half-migrated). Finish: SETSLOT NODE on every master.
  void BeginSlotMigration(int slot, std::size_t to);
  void MigrateKeys(int slot, std::size_t to);
  void FinishSlotMigration(int slot, std::size_t to);
  void MoveSlot(int slot, std::size_t to);

  // Waits (~20 s at most) until every live node reports cluster_state:ok and agrees on the
  // owner of every slot; throws otherwise.
  void WaitUntilStable() const;

  // A node's id (CLUSTER MYID).
  std::string NodeId(std::size_t index) const;
  // One command on node `index` (see RedisServerFixture::Command).
  std::string Command(std::size_t index, std::initializer_list<std::string_view> command) const {
    return nodes_[index]->Command(command);
  }

 private:
  std::size_t IndexOfId(std::string_view id) const;
  std::size_t AnyLiveNode() const;

  std::vector<std::unique_ptr<RedisServerFixture>> nodes_;
  std::vector<std::string> ids_;
};

}  // namespace credstore::testing

#endif  // CREDSTORE_TESTS_REDIS_REDIS_CLUSTER_FIXTURE_H_
