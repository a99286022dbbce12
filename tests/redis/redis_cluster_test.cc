// Tests of credstore::redis over Redis Cluster: the routing layer's pieces (CRC16, the hash-tag
// rule, the slot-map and redirection parsers, the redis+cluster:// URI) and its behaviour on a
// real six-node cluster (redis_cluster_fixture): keys on their owners, ASK during a
// half-migrated slot, MOVED after a slot moved, CLUSTERDOWN retried within the timeout, the
// server checks on every node, and the faults — a slot migrated under a write storm, a master
// killed with SIGKILL and its replica promoted. The StorageBackend contract itself is checked by
// conformance.redis_cluster.
//
// Every wait is bounded; the tests that disturb the cluster beyond repair start their own.
#include <hiredis/hiredis.h>

#include <algorithm>
#include <atomic>
#include <boost/test/unit_test.hpp>
#include <chrono>
#include <cstdint>
#include <iostream>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "crc16.h"
#include "credstore/backends/redis.h"
#include "credstore/storage_backend.h"
#include "redis/redis_cluster_fixture.h"
#include "slot_map.h"
#include "support/test_helpers.h"

namespace credstore::testing {
namespace {

using namespace std::chrono_literals;
using redis_internal::Crc16;
using redis_internal::HashSlot;
using redis_internal::HashTag;
using Clock = std::chrono::steady_clock;

constexpr Timestamp kNow = kBackendTestEpoch;
constexpr std::string_view kPassword = "Sup3rSecretPw";

struct ReplyDeleter {
  void operator()(redisReply* reply) const { freeReplyObject(reply); }
};
using ReplyPtr = std::unique_ptr<redisReply, ReplyDeleter>;

// A reply parsed from its RESP bytes by hiredis's own reader, as a server would send it.
ReplyPtr Parse(std::string_view resp) {
  redisReader* reader = redisReaderCreate();
  redisReaderFeed(reader, resp.data(), resp.size());
  void* reply = nullptr;
  const int status = redisReaderGetReply(reader, &reply);
  redisReaderFree(reader);
  BOOST_TEST_REQUIRE(status == REDIS_OK);
  BOOST_TEST_REQUIRE(reply != nullptr);
  return ReplyPtr(static_cast<redisReply*>(reply));
}

std::string RedisKeyOf(std::string_view key) { return "credstore:{" + std::string(key) + "}"; }

std::shared_ptr<RedisBackend> MustOpen(const RedisOptions& options) {
  Result<std::shared_ptr<RedisBackend>> opened = RedisBackend::Open(options);
  BOOST_TEST_REQUIRE(opened.ok(), "Open failed: " << opened.status().message());
  return std::move(opened).value();
}

// The first `count` credstore keys "k<i>" whose records live in `slot`.
std::vector<std::string> KeysInSlot(int slot, std::size_t count) {
  std::vector<std::string> keys;
  for (int i = 0; keys.size() < count && i < 100'000'000; ++i) {
    std::string key = "k" + std::to_string(i);
    if (HashSlot(RedisKeyOf(key)) == slot) keys.push_back(std::move(key));
  }
  if (keys.size() < count) throw std::runtime_error("too few keys found for the slot");
  return keys;
}

// The n-th of them.
std::string KeyInSlot(int slot, std::size_t n = 0) { return KeysInSlot(slot, n + 1).back(); }

// One cluster for the tests that leave it as they found it.
RedisClusterFixture& SharedCluster() {
  static RedisClusterFixture cluster;
  return cluster;
}

double Seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

BOOST_AUTO_TEST_SUITE(redis_cluster_routing)

BOOST_AUTO_TEST_CASE(crc16_matches_the_cluster_specification) {
  BOOST_TEST(Crc16("123456789") == 0x31C3);
  BOOST_TEST(Crc16("") == 0);
  // Slots Redis itself reports (CLUSTER KEYSLOT).
  BOOST_TEST(HashSlot("foo") == 12182);
  BOOST_TEST(HashSlot("bar") == 5061);
  BOOST_TEST(HashSlot("123456789") == 0x31C3 % 16384);
}

BOOST_AUTO_TEST_CASE(the_hash_tag_is_the_first_non_empty_brace_pair) {
  BOOST_TEST(HashTag("{user1000}.following") == "user1000");
  BOOST_TEST(HashSlot("{user1000}.following") == HashSlot("{user1000}.followers"));
  BOOST_TEST(HashTag("foo{}{bar}") == "foo{}{bar}");  // "{}" is no tag: the whole key
  BOOST_TEST(HashTag("foo{{bar}}zap") == "{bar");     // from the first '{' to the next '}'
  BOOST_TEST(HashTag("foo{bar}{zap}") == "bar");      // only the first pair counts
  BOOST_TEST(HashTag("foo{bar") == "foo{bar");        // unterminated: the whole key
  BOOST_TEST(HashTag("credstore:{ak:1}") == "ak:1");
  BOOST_TEST(HashSlot("credstore:{ak:1}") == HashSlot("other:{ak:1}"));
}

BOOST_AUTO_TEST_CASE(parses_cluster_slots) {
  // Two ranges; the second master does not know its address (empty host).
  const ReplyPtr reply = Parse(
      "*2\r\n"
      "*4\r\n:0\r\n:5460\r\n*3\r\n$9\r\n127.0.0.1\r\n:7000\r\n$2\r\nid\r\n"
      "*3\r\n$9\r\n127.0.0.1\r\n:7003\r\n$2\r\nir\r\n"
      "*3\r\n:5461\r\n:16383\r\n*3\r\n$0\r\n\r\n:7001\r\n$2\r\nid\r\n");
  Result<std::vector<redis_internal::SlotRange>> ranges =
      redis_internal::ParseClusterSlots(*reply, "10.0.0.9");
  BOOST_TEST_REQUIRE(ranges.ok());
  BOOST_TEST_REQUIRE(ranges->size() == 2u);
  BOOST_TEST((*ranges)[0].first == 0);
  BOOST_TEST((*ranges)[0].last == 5460);
  BOOST_TEST((*ranges)[0].master == "127.0.0.1:7000");
  BOOST_TEST_REQUIRE((*ranges)[0].replicas.size() == 1u);
  BOOST_TEST((*ranges)[0].replicas[0] == "127.0.0.1:7003");
  BOOST_TEST((*ranges)[1].master == "10.0.0.9:7001");
  BOOST_TEST((*ranges)[1].replicas.empty());

  for (const std::string_view bad : {
           std::string_view("+OK\r\n"),
           std::string_view("*1\r\n*3\r\n:0\r\n:16384\r\n*2\r\n$1\r\nh\r\n:1\r\n"),
           std::string_view("*1\r\n*3\r\n:9\r\n:3\r\n*2\r\n$1\r\nh\r\n:1\r\n"),
           std::string_view("*1\r\n*3\r\n:0\r\n:3\r\n*2\r\n$1\r\nh\r\n:0\r\n"),
           std::string_view("*1\r\n*2\r\n:0\r\n:3\r\n"),
       }) {
    const ReplyPtr malformed = Parse(bad);
    BOOST_TEST(redis_internal::ParseClusterSlots(*malformed, "h").status().code() ==
               StatusCode::kInternal);
  }
}

BOOST_AUTO_TEST_CASE(reads_the_usable_replicas_from_cluster_nodes) {
  const std::string nodes =
      "a1 127.0.0.1:7000@17000 myself,master - 0 0 1 connected 0-5460\n"
      "b2 127.0.0.1:7003@17003,host-b slave a1 0 0 1 connected\n"
      "c3 :7004@17004 slave a1 0 0 1 connected\n"
      "d4 127.0.0.1:7005@17005 slave,fail a1 0 0 1 disconnected\n"
      "e5 127.0.0.1:7006@17006 slave,handshake - 0 0 0 connected\n"
      "garbage\n";
  const std::vector<std::string> replicas =
      redis_internal::ParseClusterNodesReplicas(nodes, "10.0.0.9");
  BOOST_TEST_REQUIRE(replicas.size() == 2u);
  BOOST_TEST(replicas[0] == "127.0.0.1:7003");
  BOOST_TEST(replicas[1] == "10.0.0.9:7004");
}

BOOST_AUTO_TEST_CASE(parses_redirections) {
  using Kind = redis_internal::Redirect::Kind;
  const auto redirect = [](std::string_view resp) {
    return redis_internal::ParseRedirect(*Parse(resp));
  };
  const redis_internal::Redirect moved = redirect("-MOVED 3999 127.0.0.1:6381\r\n");
  BOOST_TEST((moved.kind == Kind::kMoved));
  BOOST_TEST(moved.slot == 3999);
  BOOST_TEST(moved.address == "127.0.0.1:6381");
  const redis_internal::Redirect ask = redirect("-ASK 12 :6390\r\n");
  BOOST_TEST((ask.kind == Kind::kAsk));
  BOOST_TEST(ask.slot == 12);
  BOOST_TEST(ask.address == ":6390");
  for (const std::string_view other :
       {"-MOVED 16384 h:1\r\n", "-MOVED x h:1\r\n", "-MOVED 1 h\r\n", "-ASK 1\r\n",
        "-TRYAGAIN Multiple keys\r\n", "+MOVED 1 h:1\r\n", "$5\r\nMOVED\r\n"}) {
    BOOST_TEST((redirect(other).kind == Kind::kNone), other);
  }
}

BOOST_AUTO_TEST_CASE(parses_cluster_uris) {
  Result<RedisOptions> plain = RedisBackend::ParseUri("redis+cluster://10.0.0.1:7000");
  BOOST_TEST_REQUIRE(plain.ok());
  BOOST_TEST_REQUIRE(plain->cluster_seeds.size() == 1u);
  BOOST_TEST(plain->cluster_seeds[0].host == "10.0.0.1");
  BOOST_TEST(plain->cluster_seeds[0].port == 7000);
  BOOST_TEST(plain->password.empty());

  Result<RedisOptions> full =
      RedisBackend::ParseUri("REDIS+CLUSTER://app:p%40ss@a.internal:7000,[::1]:7001,b");
  BOOST_TEST_REQUIRE(full.ok());
  BOOST_TEST(full->username == "app");
  BOOST_TEST(full->password == "p@ss");
  BOOST_TEST_REQUIRE(full->cluster_seeds.size() == 3u);
  BOOST_TEST(full->cluster_seeds[0].host == "a.internal");
  BOOST_TEST(full->cluster_seeds[1].host == "::1");
  BOOST_TEST(full->cluster_seeds[1].port == 7001);
  BOOST_TEST(full->cluster_seeds[2].host == "b");
  BOOST_TEST(full->cluster_seeds[2].port == 6379);
  BOOST_TEST(full->db == 0);

  Result<RedisOptions> raw_at = RedisBackend::ParseUri("redis+cluster://:p@ss@h:1,h:2");
  BOOST_TEST_REQUIRE(raw_at.ok());
  BOOST_TEST(raw_at->password == "p@ss");
  BOOST_TEST(raw_at->cluster_seeds.size() == 2u);
}

BOOST_AUTO_TEST_CASE(rejects_bad_cluster_uris_without_echoing_them) {
  const std::vector<std::string> bad = {
      "redis+cluster://",
      "redis+cluster://:Sup3rSecretPw@",
      "redis+cluster://:Sup3rSecretPw@h:1/0",
      "redis+cluster://:Sup3rSecretPw@h:1,h:2/3",
      "redis+cluster://:Sup3rSecretPw@h:1/",
      "redis+cluster://:Sup3rSecretPw@h:1?db=1",
      "redis+cluster://:Sup3rSecretPw@h:1,",
      "redis+cluster://:Sup3rSecretPw@h:1,,h:2",
      "redis+cluster://:Sup3rSecretPw@h:0",
      "redis+cluster://h:Sup3rSecretPw",
      "redis+cluster://Sup3rSecretPw@h:1",
      "redis+cluster://:Sup3rSecretPw@h st:1",
  };
  for (const std::string& uri : bad) {
    Result<RedisOptions> parsed = RedisBackend::ParseUri(uri);
    BOOST_TEST_CONTEXT("uri #" << (&uri - bad.data())) {
      BOOST_TEST_REQUIRE(!parsed.ok());
      BOOST_TEST(parsed.status().code() == StatusCode::kInvalidArgument);
      BOOST_TEST(parsed.status().message().find(kPassword) == std::string::npos);
      BOOST_TEST(parsed.status().message().find(uri) == std::string::npos);
    }
  }
  // Options built by hand: a db is refused by Open too.
  RedisOptions with_db;
  with_db.cluster_seeds.push_back(RedisAddress{"127.0.0.1", 1});
  with_db.db = 2;
  BOOST_TEST(RedisBackend::Open(with_db).status().code() == StatusCode::kInvalidArgument);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(redis_cluster_real)

BOOST_AUTO_TEST_CASE(our_slots_are_the_servers_slots) {
  RedisClusterFixture& cluster = SharedCluster();
  std::mt19937 random(7);
  for (int i = 0; i < 200; ++i) {
    std::string key = RedisKeyOf("key-" + std::to_string(random()));
    if (i % 3 == 0) key = "no tag " + std::to_string(random());
    BOOST_TEST(std::to_string(HashSlot(key)) == cluster.Command(0, {"CLUSTER", "KEYSLOT", key}));
  }
}

BOOST_AUTO_TEST_CASE(each_record_lives_on_the_master_of_its_slot) {
  RedisClusterFixture& cluster = SharedCluster();
  cluster.FlushAll();
  auto backend = MustOpen(cluster.BackendOptions());
  std::size_t per_master[RedisClusterFixture::kNodes] = {};
  for (int i = 0; i < 60; ++i) {
    const std::string key = "rec" + std::to_string(i);
    MustCreate(*backend, key, "v" + std::to_string(i), NoExpiry(), kNow);
    const std::string redis_key = RedisKeyOf(key);
    const std::size_t owner = cluster.MasterOf(HashSlot(redis_key));
    BOOST_TEST(cluster.Command(owner, {"EXISTS", redis_key}) == "1");
    ++per_master[owner];
  }
  std::size_t masters_used = 0;
  for (std::size_t n : per_master) masters_used += n > 0 ? 1 : 0;
  BOOST_TEST(masters_used == 3u);
  // Scan visits every master and merges into one ordered listing.
  const std::vector<ScanEntry> all = ScanAll(*backend, "rec", 7, kNow);
  BOOST_TEST(all.size() == 60u);
}

// A master that lost its data (here: FLUSHALL, which its replica follows) is noticed by its
// canaries: its keys answer unavailable, never "no record", and CheckHealth fails, while the
// other masters keep serving; the data coming back clears it.
BOOST_AUTO_TEST_CASE(a_master_that_lost_its_data_answers_unavailable_not_not_found) {
  RedisClusterFixture cluster;
  RedisOptions options = cluster.BackendOptions();
  options.canary_check_interval = std::chrono::milliseconds(50);
  auto backend = MustOpen(options);
  const std::vector<std::size_t> masters = cluster.Masters();
  std::vector<std::string> keys;  // one record on each master
  for (const std::size_t master : masters) {
    for (int i = 0;; ++i) {
      const std::string key = "lost" + std::to_string(i);
      if (cluster.MasterOf(HashSlot(RedisKeyOf(key))) != master) continue;
      MustCreate(*backend, key, "v", NoExpiry(), kNow);
      keys.push_back(key);
      break;
    }
  }
  const std::size_t victim = masters.front();
  BOOST_TEST(cluster.Command(victim, {"FLUSHALL", "SYNC"}) == "OK");
  // The periodic check notices within a few intervals.
  const auto deadline = Clock::now() + std::chrono::seconds(5);
  while (backend->CheckHealth().ok() && Clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  BOOST_TEST(backend->CheckHealth().code() == StatusCode::kUnavailable);
  BOOST_TEST(backend->CheckHealth().message().find("lost its data") != std::string::npos);
  const Result<VersionedValue> on_victim = backend->Get(keys.front(), kNow);
  BOOST_TEST(on_victim.status().code() == StatusCode::kUnavailable, on_victim.status().message());
  for (std::size_t i = 1; i < keys.size(); ++i) {
    BOOST_TEST(backend->Get(keys[i], kNow).ok(), "a record on another master, " << keys[i]);
  }
  // A second backend opened on the store now refuses it: some masters hold canaries, one none.
  BOOST_TEST(RedisBackend::Open(options).status().code() == StatusCode::kUnavailable);
}

BOOST_AUTO_TEST_CASE(moved_after_a_slot_moved_is_followed) {
  RedisClusterFixture& cluster = SharedCluster();
  cluster.FlushAll();
  auto backend = MustOpen(cluster.BackendOptions());  // its map predates the move
  const std::string key = "moving";
  const int slot = HashSlot(RedisKeyOf(key));
  const Version first = MustCreate(*backend, key, "one", NoExpiry(), kNow);
  const std::size_t from = cluster.MasterOf(slot);
  const std::size_t to = cluster.AnotherMaster(from);
  cluster.MoveSlot(slot, to);
  BOOST_TEST(cluster.MasterOf(slot) == to);

  BOOST_TEST(MustGet(*backend, key, kNow).value == "one");  // MOVED, then the new owner
  const Version second = MustCas(*backend, key, first, "two", NoExpiry(), kNow);
  BOOST_TEST(cluster.Command(to, {"HGET", RedisKeyOf(key), "v"}) == "two");
  BOOST_TEST(cluster.Command(from, {"CLUSTER", "COUNTKEYSINSLOT", std::to_string(slot)}) == "0");
  const std::string other = KeyInSlot(slot, 1);
  MustCreate(*backend, other, "x", NoExpiry(), kNow);
  BOOST_TEST(cluster.Command(to, {"EXISTS", RedisKeyOf(other)}) == "1");
  BOOST_TEST(backend->Erase(key, second, kNow).ok());
  cluster.MoveSlot(slot, from);  // as found
}

BOOST_AUTO_TEST_CASE(ask_during_a_half_migrated_slot_is_followed_with_asking) {
  RedisClusterFixture& cluster = SharedCluster();
  cluster.FlushAll();
  auto backend = MustOpen(cluster.BackendOptions());
  const std::string old_key = "half-old";
  const int slot = HashSlot(RedisKeyOf(old_key));
  const std::string new_key = KeyInSlot(slot, 3);
  const std::string slot_text = std::to_string(slot);
  const Version old_version = MustCreate(*backend, old_key, "before", NoExpiry(), kNow);
  const std::size_t from = cluster.MasterOf(slot);
  const std::size_t to = cluster.AnotherMaster(from);

  cluster.BeginSlotMigration(slot, to);
  // The target has no script cached: the EVALSHA after its NOSCRIPT reload needs ASKING too, or
  // the target would answer MOVED back to the source.
  BOOST_TEST(cluster.Command(to, {"SCRIPT", "FLUSH"}) == "OK");
  BOOST_TEST(cluster.Command(to, {"CONFIG", "RESETSTAT"}) == "OK");
  // A key the source does not hold: ASK, then ASKING + EVALSHA on the target.
  MustCreate(*backend, new_key, "during", NoExpiry(), kNow);
  BOOST_TEST(cluster.Command(to, {"CLUSTER", "COUNTKEYSINSLOT", slot_text}) == "1");
  BOOST_TEST(cluster.Command(from, {"CLUSTER", "COUNTKEYSINSLOT", slot_text}) == "1");
  BOOST_TEST(MustGet(*backend, new_key, kNow).value == "during");  // ASK for a read too
  BOOST_TEST(MustGet(*backend, old_key, kNow).value == "before");  // still on the source

  cluster.MigrateKeys(slot, to);
  // Both keys now on the target while the slot is still half-migrated: ASK for each.
  BOOST_TEST(cluster.Command(from, {"CLUSTER", "COUNTKEYSINSLOT", slot_text}) == "0");
  BOOST_TEST(MustGet(*backend, old_key, kNow).value == "before");
  MustCas(*backend, old_key, old_version, "after", NoExpiry(), kNow);
  // The target never had to refuse a command of ours for want of ASKING.
  BOOST_TEST(cluster.Command(to, {"INFO", "errorstats"}).find("errorstat_MOVED") ==
             std::string::npos);
  BOOST_TEST(MustGet(*backend, old_key, kNow).value == "after");
  // A scan during the migration sees each record once.
  BOOST_TEST(KeysOf(ScanAll(*backend, "", 1, kNow)).size() == 2u);

  cluster.FinishSlotMigration(slot, to);
  BOOST_TEST(MustGet(*backend, old_key, kNow).value == "after");
  BOOST_TEST(MustGet(*backend, new_key, kNow).value == "during");
  cluster.MoveSlot(slot, from);  // as found
}

BOOST_AUTO_TEST_CASE(the_eviction_policy_is_checked_on_every_node) {
  RedisClusterFixture& cluster = SharedCluster();
  const std::size_t replica = cluster.ReplicaOf(cluster.Masters().front());
  BOOST_TEST(cluster.Command(replica, {"CONFIG", "SET", "maxmemory-policy", "allkeys-lru"}) ==
             "OK");
  Result<std::shared_ptr<RedisBackend>> refused = RedisBackend::Open(cluster.BackendOptions());
  BOOST_TEST(refused.status().code() == StatusCode::kInvalidArgument);
  BOOST_TEST(refused.status().message().find("allkeys-lru") != std::string::npos);
  BOOST_TEST(cluster.Command(replica, {"CONFIG", "SET", "maxmemory-policy", "noeviction"}) == "OK");

  // While running: the watch reads every node of the map, replicas included.
  RedisOptions options = cluster.BackendOptions();
  options.policy_check_interval = 50ms;
  options.on_health_change = [](const Status&) {};
  auto backend = MustOpen(options);
  BOOST_TEST(backend->CheckHealth().ok());
  BOOST_TEST(cluster.Command(replica, {"CONFIG", "SET", "maxmemory-policy", "volatile-lru"}) ==
             "OK");
  const auto deadline = Clock::now() + 5s;
  while (backend->CheckHealth().ok() && Clock::now() < deadline) std::this_thread::sleep_for(10ms);
  BOOST_TEST(backend->CheckHealth().code() == StatusCode::kUnavailable);
  BOOST_TEST(cluster.Command(replica, {"CONFIG", "SET", "maxmemory-policy", "noeviction"}) == "OK");
  const auto healed = Clock::now() + 5s;
  while (!backend->CheckHealth().ok() && Clock::now() < healed) std::this_thread::sleep_for(10ms);
  BOOST_TEST(backend->CheckHealth().ok());
}

BOOST_AUTO_TEST_CASE(a_seed_that_is_not_in_cluster_mode_is_refused) {
  RedisServerFixture::Settings settings;
  settings.listen_on_tcp = true;
  RedisServerFixture single(settings);
  RedisOptions options;
  options.cluster_seeds.push_back(RedisAddress{"127.0.0.1", single.tcp_port()});
  Result<std::shared_ptr<RedisBackend>> refused = RedisBackend::Open(options);
  BOOST_TEST(refused.status().code() == StatusCode::kInvalidArgument);
  // No seed reachable at all: unavailable, at once.
  RedisOptions nowhere;
  nowhere.cluster_seeds.push_back(RedisAddress{"127.0.0.1", 1});
  nowhere.connect_timeout = 300ms;
  BOOST_TEST(RedisBackend::Open(nowhere).status().code() == StatusCode::kUnavailable);
}

BOOST_AUTO_TEST_CASE(the_password_goes_to_every_node_and_is_never_echoed) {
  RedisClusterFixture cluster;  // its own: it ends password-protected
  for (std::size_t i = 0; i < RedisClusterFixture::kNodes; ++i) {
    BOOST_TEST(cluster.Command(i, {"CONFIG", "SET", "masterauth", kPassword}) == "OK");
    BOOST_TEST(cluster.Command(i, {"CONFIG", "SET", "requirepass", kPassword}) == "OK");
  }
  const RedisOptions plain = cluster.BackendOptions();
  Result<std::shared_ptr<RedisBackend>> no_password = RedisBackend::Open(plain);
  BOOST_TEST(no_password.status().code() == StatusCode::kInvalidArgument);
  RedisOptions wrong = plain;
  wrong.password = "not-" + std::string(kPassword);
  Result<std::shared_ptr<RedisBackend>> refused = RedisBackend::Open(wrong);
  BOOST_TEST(refused.status().code() == StatusCode::kInvalidArgument);
  BOOST_TEST(refused.status().message().find(kPassword) == std::string::npos);

  // Through the URI, as credstored gets it: every master serves a record.
  Result<RedisOptions> parsed = RedisBackend::ParseUri(
      "redis+cluster://:" + std::string(kPassword) + "@" + cluster.Uri().substr(16));
  BOOST_TEST_REQUIRE(parsed.ok());
  BOOST_TEST(parsed->cluster_seeds.size() == RedisClusterFixture::kNodes);
  auto backend = MustOpen(*parsed);
  for (int i = 0; i < 30; ++i) {
    const std::string key = "auth-" + std::to_string(i);
    MustCreate(*backend, key, "v", NoExpiry(), kNow);
    BOOST_TEST(MustGet(*backend, key, kNow).value == "v");
  }
  BOOST_TEST(ScanAll(*backend, "auth-", 100, kNow).size() == 30u);
}

BOOST_AUTO_TEST_CASE(clusterdown_is_retried_within_the_command_timeout) {
  RedisClusterFixture& cluster = SharedCluster();
  cluster.FlushAll();
  RedisOptions options = cluster.BackendOptions();
  options.command_timeout = 3000ms;
  auto backend = MustOpen(options);
  const std::string key = "down";
  MustCreate(*backend, key, "v", NoExpiry(), kNow);
  const int slot = HashSlot(RedisKeyOf(key));
  const std::size_t owner = cluster.MasterOf(slot);
  const std::string slot_text = std::to_string(slot);

  // The slot served by no one: every node answers CLUSTERDOWN until the owner claims it back.
  for (std::size_t i = 0; i < RedisClusterFixture::kNodes; ++i) {
    BOOST_TEST(cluster.Command(i, {"CLUSTER", "DELSLOTS", slot_text}) == "OK");
  }
  BOOST_TEST(cluster.Command(owner, {"HGET", RedisKeyOf(key), "v"}).rfind("-CLUSTERDOWN", 0) == 0);
  std::thread heal([&cluster, owner, slot_text] {
    std::this_thread::sleep_for(500ms);
    cluster.Command(owner, {"CLUSTER", "ADDSLOTS", slot_text});
  });
  const auto start = Clock::now();
  Result<VersionedValue> read = backend->Get(key, kNow);
  const double waited = Seconds(Clock::now() - start);
  heal.join();
  BOOST_TEST_REQUIRE(read.ok(), read.status().message());
  BOOST_TEST(read->value == "v");
  BOOST_TEST(waited >= 0.4);
  BOOST_TEST(waited < 3.5);
  std::cout << "clusterdown: the read waited " << waited << " s for the slot to come back\n";
  cluster.WaitUntilStable();

  // Never healed within the timeout: kUnavailable, bounded by the timeout.
  RedisOptions short_options = cluster.BackendOptions();
  short_options.command_timeout = 500ms;
  auto impatient = MustOpen(short_options);
  for (std::size_t i = 0; i < RedisClusterFixture::kNodes; ++i) {
    cluster.Command(i, {"CLUSTER", "DELSLOTS", slot_text});
  }
  const auto again = Clock::now();
  BOOST_TEST(impatient->Get(key, kNow).status().code() == StatusCode::kUnavailable);
  BOOST_TEST(Seconds(Clock::now() - again) < 2.0);
  cluster.Command(owner, {"CLUSTER", "ADDSLOTS", slot_text});
  cluster.WaitUntilStable();
  BOOST_TEST(MustGet(*impatient, key, kNow).value == "v");
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(redis_cluster_faults)

// What one writer thread of a storm knows about each of its keys: the value of its last
// acknowledged write, and the values of writes after it whose outcome is unknown (kUnavailable:
// they may or may not have landed).
struct KeyLedger {
  std::string key;
  Version version = 0;
  std::string acknowledged;  // empty: never acknowledged
  std::vector<std::string> unknown_after;
};

struct StormCounts {
  std::atomic<int> acknowledged{0};
  std::atomic<int> unavailable{0};
  std::atomic<int> other_errors{0};
};

// Writes to its keys until `stop` (and at most `max_writes`): a create per key, then CAS rounds.
// After an unknown outcome the key's version is read back before the next write.
void Storm(StorageBackend& backend, std::vector<KeyLedger>& keys, const std::atomic<bool>& stop,
           int max_writes, int thread, StormCounts& counts) {
  for (int write = 0; write < max_writes && !stop.load(); ++write) {
    KeyLedger& ledger = keys[static_cast<std::size_t>(write) % keys.size()];
    const std::string value = "t" + std::to_string(thread) + "-w" + std::to_string(write);
    Result<Version> written =
        ledger.version == 0
            ? backend.Create(ledger.key, value, NoExpiry(), kNow)
            : backend.CompareAndSwap(ledger.key, ledger.version, value, NoExpiry(), kNow);
    if (written.ok()) {
      ledger.version = *written;
      ledger.acknowledged = value;
      ledger.unknown_after.clear();
      ++counts.acknowledged;
      continue;
    }
    if (written.status().code() == StatusCode::kUnavailable) {
      ++counts.unavailable;
      ledger.unknown_after.push_back(value);
    } else {
      ++counts.other_errors;  // a conflict after a write that landed unacknowledged
    }
    // Resynchronise with what is stored (a bounded pause: the cluster may be failing over).
    std::this_thread::sleep_for(2ms);
    Result<VersionedValue> stored = backend.Get(ledger.key, kNow);
    if (stored.ok()) ledger.version = stored->version;
  }
}

// The keys whose stored value is the last acknowledged one (or a later write of unknown
// outcome), out of those with an acknowledged write; each miss is reported.
std::pair<int, int> Audit(StorageBackend& backend, const std::vector<std::vector<KeyLedger>>& all) {
  int with_ack = 0;
  int found = 0;
  for (const std::vector<KeyLedger>& keys : all) {
    for (const KeyLedger& ledger : keys) {
      if (ledger.acknowledged.empty()) continue;
      ++with_ack;
      Result<VersionedValue> stored = backend.Get(ledger.key, kNow);
      const bool present =
          stored.ok() && (stored->value == ledger.acknowledged ||
                          std::find(ledger.unknown_after.begin(), ledger.unknown_after.end(),
                                    stored->value) != ledger.unknown_after.end());
      if (present) {
        ++found;
      } else {
        BOOST_TEST_MESSAGE("missing: "
                           << ledger.key << " acknowledged " << ledger.acknowledged << ", found "
                           << (stored.ok() ? stored->value : stored.status().message()));
      }
    }
  }
  return {with_ack, found};
}

BOOST_AUTO_TEST_CASE(a_slot_migrated_during_a_write_storm_keeps_every_acknowledged_write) {
  RedisClusterFixture& cluster = SharedCluster();
  cluster.FlushAll();
  auto backend = MustOpen(cluster.BackendOptions());
  const int slot = HashSlot(RedisKeyOf("storm-anchor"));
  constexpr int kThreads = 4;
  constexpr int kKeysPerThread = 24;
  // Most keys in the migrating slot, some elsewhere (served throughout).
  const std::vector<std::string> in_slot = KeysInSlot(slot, kThreads * kKeysPerThread);
  std::vector<std::vector<KeyLedger>> ledgers(kThreads);
  for (int t = 0; t < kThreads; ++t) {
    for (int k = 0; k < kKeysPerThread; ++k) {
      KeyLedger ledger;
      ledger.key = k % 4 == 3 ? "storm-elsewhere-" + std::to_string(t) + "-" + std::to_string(k)
                              : in_slot[static_cast<std::size_t>(t * kKeysPerThread + k)];
      ledgers[static_cast<std::size_t>(t)].push_back(std::move(ledger));
    }
  }
  StormCounts counts;
  std::atomic<bool> stop{false};
  std::vector<std::thread> writers;
  for (int t = 0; t < kThreads; ++t) {
    writers.emplace_back(
        [&, t] { Storm(*backend, ledgers[static_cast<std::size_t>(t)], stop, 20'000, t, counts); });
  }
  const auto start = Clock::now();
  const std::size_t from = cluster.MasterOf(slot);
  const std::size_t to = cluster.AnotherMaster(from);
  std::this_thread::sleep_for(200ms);
  const int before = counts.acknowledged.load();
  cluster.BeginSlotMigration(slot, to);
  std::this_thread::sleep_for(200ms);  // half-migrated, under load: ASK for new keys
  cluster.MigrateKeys(slot, to);
  std::this_thread::sleep_for(200ms);  // every key on the target, slot still half-migrated
  cluster.FinishSlotMigration(slot, to);
  const int during = counts.acknowledged.load() - before;
  std::this_thread::sleep_for(300ms);  // MOVED for every key, then the new owner
  stop = true;
  for (std::thread& writer : writers) writer.join();
  const double seconds = Seconds(Clock::now() - start);

  BOOST_TEST(cluster.MasterOf(slot) == to);
  // Read back through a backend whose map never saw the old owner, and through this one.
  auto fresh = MustOpen(cluster.BackendOptions());
  const auto [with_ack, found] = Audit(*fresh, ledgers);
  const auto [with_ack_old_map, found_old_map] = Audit(*backend, ledgers);
  std::cout << "slot migration under a write storm (" << seconds
            << " s): " << counts.acknowledged.load() << " writes acknowledged (" << during
            << " while the slot moved), " << counts.unavailable.load() << " unavailable, "
            << counts.other_errors.load() << " other; keys with an acknowledged write " << with_ack
            << ", found with it " << found << " (old map: " << found_old_map << "/"
            << with_ack_old_map << ")\n";
  BOOST_TEST(with_ack == kThreads * kKeysPerThread);
  BOOST_TEST(found == with_ack);
  BOOST_TEST(found_old_map == with_ack_old_map);
  BOOST_TEST(during > 0);
  // A redirection means the write did not run: the storm needs no retries of its own.
  BOOST_TEST(counts.unavailable.load() == 0);
  BOOST_TEST(counts.other_errors.load() == 0);
  cluster.MoveSlot(slot, from);  // as found
}

BOOST_AUTO_TEST_CASE(a_master_killed_and_its_replica_promoted_serves_again) {
  RedisClusterFixture cluster;  // its own: one master does not come back
  auto backend = MustOpen(cluster.BackendOptions());
  const std::string anchor = "failover-anchor";
  const int slot = HashSlot(RedisKeyOf(anchor));
  const std::size_t master = cluster.MasterOf(slot);

  // Phase 1: records acknowledged and replicated before the crash.
  constexpr int kBefore = 300;
  std::vector<std::string> before;
  int in_failed_slots = 0;
  for (int i = 0; i < kBefore; ++i) {
    before.push_back("before-" + std::to_string(i));
    MustCreate(*backend, before.back(), "v" + std::to_string(i), NoExpiry(), kNow);
    if (cluster.MasterOf(HashSlot(RedisKeyOf(before.back()))) == master) ++in_failed_slots;
  }
  cluster.WaitForReplication(master);

  // Phase 2: a storm while the master dies and its replica takes over.
  constexpr int kThreads = 2;
  const std::vector<std::string> in_slot = KeysInSlot(slot, kThreads * 16 + 1);
  std::vector<std::vector<KeyLedger>> ledgers(kThreads);
  for (int t = 0; t < kThreads; ++t) {
    for (int k = 0; k < 16; ++k) {
      KeyLedger ledger;
      ledger.key = k % 2 == 0 ? in_slot[static_cast<std::size_t>(t * 16 + k)]
                              : "storm-" + std::to_string(t) + "-" + std::to_string(k);
      ledgers[static_cast<std::size_t>(t)].push_back(std::move(ledger));
    }
  }
  StormCounts counts;
  std::atomic<bool> stop{false};
  std::vector<std::thread> writers;
  for (int t = 0; t < kThreads; ++t) {
    writers.emplace_back(
        [&, t] { Storm(*backend, ledgers[static_cast<std::size_t>(t)], stop, 20'000, t, counts); });
  }
  std::this_thread::sleep_for(200ms);
  const auto killed_at = Clock::now();
  const std::size_t promoted = cluster.KillMasterAndPromoteReplica(master);
  const double promotion_seconds = Seconds(Clock::now() - killed_at);

  // The backend follows the new map: a write to the failed-over slot succeeds, within bounds.
  const std::string probe = in_slot.back();
  Result<Version> served = Status::Unavailable("not tried");
  const auto deadline = Clock::now() + 10s;
  while (Clock::now() < deadline) {
    served = backend->Create(probe, "after", NoExpiry(), kNow);
    if (served.ok()) break;
    std::this_thread::sleep_for(20ms);
  }
  const double serving_seconds = Seconds(Clock::now() - killed_at);
  std::this_thread::sleep_for(300ms);
  stop = true;
  for (std::thread& writer : writers) writer.join();

  BOOST_TEST_REQUIRE(served.ok(), served.status().message());
  BOOST_TEST(cluster.MasterOf(slot) == promoted);
  BOOST_TEST(cluster.Command(promoted, {"HGET", RedisKeyOf(probe), "v"}) == "after");
  int before_found = 0;
  for (int i = 0; i < kBefore; ++i) {
    Result<VersionedValue> stored = backend->Get(before[static_cast<std::size_t>(i)], kNow);
    if (stored.ok() && stored->value == "v" + std::to_string(i)) ++before_found;
  }
  const auto [with_ack, found] = Audit(*backend, ledgers);
  std::cout << "kill -9 of a master, replica promoted in " << promotion_seconds
            << " s, served again " << serving_seconds
            << " s after the kill; replicated before: " << kBefore << " acknowledged ("
            << in_failed_slots << " on the killed master), " << before_found
            << " found; storm: " << counts.acknowledged.load() << " acknowledged, "
            << counts.unavailable.load() << " unavailable, keys with an "
            << "acknowledged write " << with_ack << ", found with it " << found
            << " (without WAIT, a write acknowledged in the last moments before the kill may be "
               "lost)\n";
  BOOST_TEST(in_failed_slots > 0);
  BOOST_TEST(before_found == kBefore);
  BOOST_TEST(counts.acknowledged.load() > 0);
  // Every storm key is readable again (found or lost, never an error).
  for (const std::vector<KeyLedger>& keys : ledgers) {
    for (const KeyLedger& ledger : keys) {
      const StatusCode code = backend->Get(ledger.key, kNow).status().code();
      BOOST_TEST((code == StatusCode::kOk || code == StatusCode::kNotFound), ledger.key);
    }
  }
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace
}  // namespace credstore::testing
