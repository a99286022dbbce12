#include "backend_floors.h"

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <unordered_map>
#include <vector>

#include "credstore/backends/memory.h"
#include "crypto.h"
#include "records.h"
#include "support/test_helpers.h"
#if CREDSTORE_BENCH_HAVE_ROCKSDB
#include <rocksdb/db.h>

#include "credstore/backends/rocksdb.h"
#endif
#if CREDSTORE_BENCH_HAVE_REDIS
#include <hiredis/hiredis.h>

#include "crc16.h"
#include "redis/redis_cluster_fixture.h"
#include "redis/redis_server_fixture.h"
#endif

namespace credstore::bench {
namespace {

using internal::Digest;
using internal::DigestKind;

[[noreturn]] void Die(const std::string& message) {
  std::cerr << "benchmark setup failed: " << message << "\n";
  std::exit(1);
}

std::size_t FolderBytes(const std::filesystem::path& folder) {
  std::size_t total = 0;
  std::error_code ec;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(folder, ec)) {
    if (entry.is_regular_file(ec)) total += entry.file_size(ec);
  }
  return total;
}

// A value as large as the record the store keeps for a customer, starting with the admin key's
// digest, so the floor reads as many bytes and compares the digest without decoding anything.
std::string RecordFor(const internal::KeyedHasher& hasher, const std::string& admin_key) {
  internal::CustomerRecord record;
  record.secret_hash = std::string(97, 'h');  // the length of a minimum-cost Argon2id string
  record.admin_key_digest = hasher.Hash(DigestKind::kAdminKey, admin_key);
  std::string value = internal::Encode(record);
  value.replace(0, record.admin_key_digest.size(),
                reinterpret_cast<const char*>(record.admin_key_digest.data()),
                record.admin_key_digest.size());
  return value;
}

bool StartsWithDigest(std::string_view value, const Digest& digest) {
  if (value.size() < digest.size()) return false;
  Digest stored;
  std::copy_n(value.data(), stored.size(), reinterpret_cast<char*>(stored.data()));
  return internal::DigestsEqual(stored, digest);
}

// Memory: the two hashes and one probe of a hash map from API-key digest to admin-key digest.
class MemoryFloor final : public BackendFloor {
 public:
  MemoryFloor(const Keyring& keyring, const SeededCustomers& customers)
      : hasher_(keyring.pepper().bytes) {
    for (std::size_t i = 0; i < customers.size(); ++i) {
      const Digest api = hasher_.Hash(DigestKind::kApiKey, customers.api_keys[i]);
      map_.emplace(std::string(reinterpret_cast<const char*>(api.data()), api.size()),
                   hasher_.Hash(DigestKind::kAdminKey, customers.admin_keys[i]));
    }
  }
  std::string Describe() const override { return "hash-map probe"; }
  bool Verify(int, const std::string& api_key, const std::string& admin_key) override {
    const Digest api = hasher_.Hash(DigestKind::kApiKey, api_key);
    auto it = map_.find(std::string(reinterpret_cast<const char*>(api.data()), api.size()));
    if (it == map_.end()) return false;
    const Digest admin = hasher_.Hash(DigestKind::kAdminKey, admin_key);
    return internal::DigestsEqual(admin, it->second);
  }

 private:
  const internal::KeyedHasher hasher_;
  std::unordered_map<std::string, Digest> map_;
};

#if CREDSTORE_BENCH_HAVE_ROCKSDB
// RocksDB: the two hashes and a bare DB::Get of a same-size record in a plain database.
class RocksDbFloor final : public BackendFloor {
 public:
  RocksDbFloor(const Keyring& keyring, const SeededCustomers& customers)
      : hasher_(keyring.pepper().bytes) {
    rocksdb::Options options;
    options.create_if_missing = true;
    rocksdb::DB* db = nullptr;
    auto status = rocksdb::DB::Open(options, (folder_.path() / "floor").string(), &db);
    if (!status.ok()) Die("bare RocksDB: " + status.ToString());
    db_.reset(db);
    for (std::size_t i = 0; i < customers.size(); ++i) {
      const Digest api = hasher_.Hash(DigestKind::kApiKey, customers.api_keys[i]);
      auto put = db_->Put(rocksdb::WriteOptions(), internal::CustomerKey(customers.service, api),
                          RecordFor(hasher_, customers.admin_keys[i]));
      if (!put.ok()) Die("bare RocksDB put: " + put.ToString());
    }
    service_ = customers.service;
  }
  std::string Describe() const override { return "bare RocksDB Get"; }
  bool Verify(int, const std::string& api_key, const std::string& admin_key) override {
    const Digest api = hasher_.Hash(DigestKind::kApiKey, api_key);
    std::string value;
    if (!db_->Get(rocksdb::ReadOptions(), internal::CustomerKey(service_, api), &value).ok()) {
      return false;
    }
    const Digest admin = hasher_.Hash(DigestKind::kAdminKey, admin_key);
    return StartsWithDigest(value, admin);
  }

 private:
  const internal::KeyedHasher hasher_;
  testing::TempDir folder_{"credstore-bench-floor"};
  std::unique_ptr<rocksdb::DB> db_;
  std::string service_;
};
#endif

#if CREDSTORE_BENCH_HAVE_REDIS
// The bare read of both Redis floors: GET `key` on `context`, then the admin key's hash compared
// with the digest the value starts with.
bool BareGetMatches(redisContext* context, const std::string& key,
                    const internal::KeyedHasher& hasher, const std::string& admin_key) {
  auto* reply = static_cast<redisReply*>(redisCommand(context, "GET %b", key.data(), key.size()));
  if (reply == nullptr) return false;
  const bool found = reply->type == REDIS_REPLY_STRING;
  const std::string value = found ? std::string(reply->str, reply->len) : std::string();
  freeReplyObject(reply);
  const Digest admin = hasher.Hash(DigestKind::kAdminKey, admin_key);
  return found && StartsWithDigest(value, admin);
}

// Redis: the two hashes and a bare hiredis GET of a same-size value, one connection per thread
// (the backend's pool has as many connections as there are threads here).
class RedisFloor final : public BackendFloor {
 public:
  RedisFloor(const Keyring& keyring, const SeededCustomers& customers, const std::string& socket)
      : hasher_(keyring.pepper().bytes), service_(customers.service) {
    for (int t = 0; t < 2; ++t) {
      redisContext* context = redisConnectUnix(socket.c_str());
      if (context == nullptr || context->err) Die("bare hiredis connect");
      contexts_.push_back(context);
    }
    for (std::size_t i = 0; i < customers.size(); ++i) {
      const Digest api = hasher_.Hash(DigestKind::kApiKey, customers.api_keys[i]);
      const std::string key = "floor:" + internal::CustomerKey(service_, api);
      const std::string value = RecordFor(hasher_, customers.admin_keys[i]);
      redisAppendCommand(contexts_[0], "SET %b %b", key.data(), key.size(), value.data(),
                         value.size());
    }
    for (std::size_t i = 0; i < customers.size(); ++i) {
      void* reply = nullptr;
      if (redisGetReply(contexts_[0], &reply) != REDIS_OK) Die("bare hiredis SET");
      freeReplyObject(reply);
    }
  }
  ~RedisFloor() override {
    for (auto* context : contexts_) redisFree(context);
  }
  std::string Describe() const override { return "bare hiredis GET"; }
  bool Verify(int thread, const std::string& api_key, const std::string& admin_key) override {
    const Digest api = hasher_.Hash(DigestKind::kApiKey, api_key);
    const std::string key = "floor:" + internal::CustomerKey(service_, api);
    return BareGetMatches(contexts_[thread % contexts_.size()], key, hasher_, admin_key);
  }

 private:
  const internal::KeyedHasher hasher_;
  std::string service_;
  std::vector<redisContext*> contexts_;
};

// Redis Cluster: the two hashes and a bare hiredis GET sent straight to the master that owns the
// key's slot (the floor knows the map; the backend finds it out), one connection per thread and
// master. The floor's keys carry the record's hash tag, so each sits on its record's node.
class RedisClusterFloor final : public BackendFloor {
 public:
  RedisClusterFloor(const Keyring& keyring, const SeededCustomers& customers,
                    testing::RedisClusterFixture& cluster)
      : hasher_(keyring.pepper().bytes), service_(customers.service) {
    for (int t = 0; t < 2; ++t) {
      std::unordered_map<std::size_t, redisContext*> by_master;
      for (const std::size_t master : cluster.Masters()) {
        redisContext* context = redisConnect("127.0.0.1", cluster.node(master).tcp_port());
        if (context == nullptr || context->err) Die("bare hiredis connect to a cluster master");
        by_master.emplace(master, context);
      }
      contexts_.push_back(std::move(by_master));
    }
    owner_of_slot_.resize(16384);
    for (int slot = 0; slot < 16384; ++slot) owner_of_slot_[slot] = cluster.MasterOf(slot);
    for (std::size_t i = 0; i < customers.size(); ++i) {
      const Digest api = hasher_.Hash(DigestKind::kApiKey, customers.api_keys[i]);
      const std::string key = FloorKey(api);
      const std::string value = RecordFor(hasher_, customers.admin_keys[i]);
      auto* reply = static_cast<redisReply*>(redisCommand(Owner(0, key), "SET %b %b", key.data(),
                                                          key.size(), value.data(), value.size()));
      if (reply == nullptr || reply->type == REDIS_REPLY_ERROR) Die("bare hiredis SET (cluster)");
      freeReplyObject(reply);
    }
  }
  ~RedisClusterFloor() override {
    for (auto& by_master : contexts_) {
      for (auto& [master, context] : by_master) redisFree(context);
    }
  }
  std::string Describe() const override { return "bare hiredis GET to the owning master"; }
  bool Verify(int thread, const std::string& api_key, const std::string& admin_key) override {
    const Digest api = hasher_.Hash(DigestKind::kApiKey, api_key);
    const std::string key = FloorKey(api);
    return BareGetMatches(Owner(thread, key), key, hasher_, admin_key);
  }

 private:
  std::string FloorKey(const Digest& api) const {
    return "floor:{" + internal::CustomerKey(service_, api) + "}";
  }
  redisContext* Owner(int thread, const std::string& key) {
    const std::size_t master =
        owner_of_slot_[static_cast<std::size_t>(redis_internal::HashSlot(key))];
    return contexts_[static_cast<std::size_t>(thread) % contexts_.size()].at(master);
  }

  const internal::KeyedHasher hasher_;
  std::string service_;
  std::vector<std::size_t> owner_of_slot_;
  std::vector<std::unordered_map<std::size_t, redisContext*>> contexts_;
};

// INFO memory's used_memory of one server.
std::size_t UsedMemory(const testing::RedisServerFixture& server) {
  const std::string info = server.Command({"INFO", "memory"});
  const std::string field = "used_memory:";
  const auto at = info.find(field);
  return at == std::string::npos
             ? std::size_t{0}
             : static_cast<std::size_t>(std::stoull(info.substr(at + field.size())));
}
#endif

}  // namespace

bool IsBenchBackendBuilt(const std::string& name) {
  if (name == "memory") return true;
  if (name == "rocksdb") return CREDSTORE_BENCH_HAVE_ROCKSDB != 0;
  if (name == "redis" || name == "redis_cached" || name == "redis_cluster") {
    return CREDSTORE_BENCH_HAVE_REDIS != 0;
  }
  return false;
}

BenchBackend OpenBenchBackend(const std::string& name) {
  BenchBackend opened;
  opened.name = name;
  if (name == "memory") {
    opened.backend = std::make_shared<MemoryBackend>();
    return opened;
  }
#if CREDSTORE_BENCH_HAVE_ROCKSDB
  if (name == "rocksdb") {
    auto folder = std::make_shared<testing::TempDir>("credstore-bench");
    RocksDbOptions options;
    options.path = (folder->path() / "db").string();
    auto backend = RocksDbBackend::Open(options);
    if (!backend.ok()) Die(backend.status().ToString());
    std::shared_ptr<RocksDbBackend> rocks = std::move(backend).value();
    opened.backend = rocks;
    opened.resources = folder;
    opened.location = options.path;
    // Flushed and compacted first, so the count reflects table files, not the write-ahead log.
    opened.storage_bytes = [rocks, path = options.path] {
      (void)rocks->CollectExpired();
      return FolderBytes(path);
    };
    return opened;
  }
#endif
#if CREDSTORE_BENCH_HAVE_REDIS
  if (name == "redis" || name == "redis_cached") {
    auto server = std::make_shared<testing::RedisServerFixture>();
    RedisOptions options = server->BackendOptions();
    if (name == "redis_cached") {
      // Room for every benchmarked customer: the cached figure is the hit path's.
      options.cache = true;
      options.cache_size = 10'000'000;
      options.cache_bytes = std::size_t{4} << 30;
    }
    auto backend = RedisBackend::Open(options);
    if (!backend.ok()) Die(backend.status().ToString());
    opened.backend = std::move(backend).value();
    opened.resources = server;
    opened.location = server->socket_path();
    opened.storage_bytes = [server] { return UsedMemory(*server); };
    return opened;
  }
  if (name == "redis_cluster") {
    auto cluster = std::make_shared<testing::RedisClusterFixture>();
    auto backend = RedisBackend::Open(cluster->BackendOptions());
    if (!backend.ok()) Die(backend.status().ToString());
    opened.backend = std::move(backend).value();
    opened.resources = cluster;
    opened.storage_bytes = [cluster] {
      std::size_t total = 0;
      for (const std::size_t master : cluster->Masters())
        total += UsedMemory(cluster->node(master));
      return total;
    };
    return opened;
  }
#endif
  Die("backend '" + name + "' is not built");
}

std::unique_ptr<BackendFloor> MakeFloor(const std::string& name,
                                        [[maybe_unused]] BenchBackend& opened,
                                        const Keyring& keyring, const SeededCustomers& customers) {
  if (name == "memory") return std::make_unique<MemoryFloor>(keyring, customers);
#if CREDSTORE_BENCH_HAVE_ROCKSDB
  if (name == "rocksdb") return std::make_unique<RocksDbFloor>(keyring, customers);
#endif
#if CREDSTORE_BENCH_HAVE_REDIS
  if (name == "redis") return std::make_unique<RedisFloor>(keyring, customers, opened.location);
  // A cache hit costs what the memory backend's probe costs: that is its floor.
  if (name == "redis_cached") return std::make_unique<MemoryFloor>(keyring, customers);
  if (name == "redis_cluster") {
    return std::make_unique<RedisClusterFloor>(
        keyring, customers,
        *std::static_pointer_cast<testing::RedisClusterFixture>(opened.resources));
  }
#endif
  Die("no floor for backend '" + name + "'");
}

}  // namespace credstore::bench
