// `credstore migrate` between RocksDB and Redis (a single server, and a Redis Cluster), both
// ways, against real stores and real
// credstored processes: a run cut short by SIGKILL leaves a target credstored refuses to start
// on, a second run finishes it, and a credstored on the target then serves the customers and
// integrators of the source with the same key file.
#include <signal.h>

#include <boost/json/object.hpp>
#include <boost/json/parse.hpp>
#include <boost/test/unit_test.hpp>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "http/cli_process.h"
#include "http/http_test_env.h"
#ifdef CREDSTORE_HTTP_TESTS_WITH_REDIS
#include "redis/redis_cluster_fixture.h"
#include "redis/redis_server_fixture.h"
#endif

namespace credstore::http_tests {
namespace {

namespace json = boost::json;
namespace utf = boost::unit_test;

// Runs in the RocksDB variant (it opens RocksDB and Redis itself), with the command and Redis.
boost::test_tools::assertion_result CanMigrate(utf::test_unit_id) {
#ifdef CREDSTORE_HTTP_TESTS_WITH_REDIS
  const bool can = Args().backend == Backend::kRocksDb && !Args().credstore_cli.empty();
#else
  const bool can = false;
#endif
  boost::test_tools::assertion_result result(can);
  result.message() << "needs the RocksDB variant, Redis and --credstore-cli";
  return result;
}

CommandRun Migrate(const std::string& from, const std::string& to,
                   std::vector<std::string> environment = {}) {
  return RunCredstore({"migrate", "--from", from, "--to", to}, {}, environment);
}

std::int64_t Count(const json::object& report, std::string_view name) {
  return report.at(name).to_number<std::int64_t>();
}

// The report of a migration that finished; checks the counts agree.
json::object Finished(const CommandRun& run, std::string_view what) {
  BOOST_TEST_REQUIRE((run.exited && run.code == 0), what << ": " << run.Describe());
  const json::value report = json::parse(run.out);
  BOOST_TEST_REQUIRE(report.is_object(), what << ": " << run.Describe());
  const json::object& counts = report.as_object();
  BOOST_TEST(Count(counts, "sourceRecords") == Count(counts, "targetRecords"),
             what << ": " << run.out);
  return counts;
}

// Cut short by SIGKILL after `records` records, as a crash half-way would be.
void KilledHalfWay(const std::string& from, const std::string& to, int records) {
  const CommandRun run =
      Migrate(from, to, {"CREDSTORE_TEST_MIGRATE_KILL_AFTER=" + std::to_string(records)});
  BOOST_TEST_REQUIRE((!run.exited && run.signal == SIGKILL), run.Describe());
}

// credstored refuses to start on a half-copied store, and says why.
void RefusesToStart(Server& like, const std::string& storage_uri) {
  credstore::testing::TempDir dir("credstore-http-refused");
  CredstoredConfig config = like.process().config();
  config.storage_uri = storage_uri;
  config.work_dir = dir.path();
  CredstoredProcess refused(config);
  bool started = true;
  try {
    refused.Start(std::chrono::seconds(30));
  } catch (const std::exception&) {
    started = false;
  }
  BOOST_TEST(!started, "credstored started on a half-copied store");
  if (started) refused.Kill();
  BOOST_TEST(refused.Log().find("unfinished `credstore migrate`") != std::string::npos,
             refused.Log());
}

// What a credstored on a copy must still serve.
struct Population {
  std::vector<Customer> customers;
  std::vector<Integrator> integrators;
};

void ExpectServed(Server& server, Population& population, std::string_view where) {
  for (const Customer& customer : population.customers) {
    server.ExpectSettings(customer, R"({"copied":true})", std::string(where) + ": a customer");
  }
  // A rotation needs the sealed secret opened with the master key: the copy kept it sealed.
  for (Integrator& integrator : population.integrators) {
    integrator = server.RotateOk(integrator);
  }
}

}  // namespace

BOOST_AUTO_TEST_SUITE(migrate)

#ifdef CREDSTORE_HTTP_TESTS_WITH_REDIS
BOOST_AUTO_TEST_CASE(rocksdb_to_redis_to_rocksdb_survives_a_kill_and_serves_the_source,
                     *utf::precondition(CanMigrate)) {
  Server source;
  Population population;
  for (int i = 0; i < 3; ++i) {
    population.customers.push_back(source.NewCustomer());
    BOOST_TEST_REQUIRE(
        source.PostSettings(population.customers.back(), R"({"copied":true})").status == 200u);
  }
  for (int i = 0; i < 2; ++i) population.integrators.push_back(source.NewIntegrator());
  // Short-lived records too: a replay record per rotation, a throttle counter per wrong secret.
  for (Integrator& integrator : population.integrators) integrator = source.RotateOk(integrator);
  BOOST_TEST(source.RegenerateKey(population.customers.front(), "not-the-secret").status == 401u);

  credstore::testing::RedisServerFixture redis;
  const std::string rocksdb_uri = source.storage_uri();

  // The source is held by its credstored: refused, and the operator is told to stop it.
  const CommandRun locked = Migrate(rocksdb_uri, redis.unix_uri());
  BOOST_TEST((locked.exited && locked.code == 1), locked.Describe());
  BOOST_TEST(locked.err.find("stop the credstored") != std::string::npos, locked.Describe());
  source.Stop();

  // RocksDB -> Redis, cut short, refused by credstored, then finished.
  KilledHalfWay(rocksdb_uri, redis.unix_uri(), 3);
  RefusesToStart(source, redis.unix_uri());
  const json::object to_redis = Finished(Migrate(rocksdb_uri, redis.unix_uri()), "to Redis");
  BOOST_TEST(to_redis.at("resumed").as_bool());
  BOOST_TEST(Count(to_redis, "alreadyThere") >= 3);
  // 3 customers, 2 integrators, the keycheck, and the short-lived records.
  BOOST_TEST(Count(to_redis, "sourceRecords") > 6);

  // A target that is not empty and holds no marker is refused, and left as it was.
  const CommandRun into_full = Migrate(redis.unix_uri(), rocksdb_uri);
  BOOST_TEST((into_full.exited && into_full.code == 1), into_full.Describe());
  BOOST_TEST(into_full.err.find("not empty") != std::string::npos, into_full.Describe());

  {
    ServerOptions on_redis;
    on_redis.storage_uri = redis.unix_uri();
    Server copy(on_redis);
    ExpectServed(copy, population, "on Redis");
  }

  // Redis -> a new RocksDB folder, cut short after one record, refused, then finished.
  credstore::testing::TempDir back("credstore-http-migrated");
  const std::string back_uri = "rocksdb://" + (back.path() / "db").string();
  KilledHalfWay(redis.unix_uri(), back_uri, 1);
  RefusesToStart(source, back_uri);
  const json::object to_rocksdb = Finished(Migrate(redis.unix_uri(), back_uri), "to RocksDB");
  BOOST_TEST(to_rocksdb.at("resumed").as_bool());

  ServerOptions on_rocksdb;
  on_rocksdb.storage_uri = back_uri;
  Server copy_of_copy(on_rocksdb);
  ExpectServed(copy_of_copy, population, "back on RocksDB");
}
#endif

#ifdef CREDSTORE_HTTP_TESTS_WITH_REDIS
BOOST_AUTO_TEST_CASE(rocksdb_to_a_redis_cluster_and_back_serves_the_source,
                     *utf::precondition(CanMigrate)) {
  Server source;
  Population population;
  for (int i = 0; i < 3; ++i) {
    population.customers.push_back(source.NewCustomer());
    BOOST_TEST_REQUIRE(
        source.PostSettings(population.customers.back(), R"({"copied":true})").status == 200u);
  }
  population.integrators.push_back(source.NewIntegrator());
  population.integrators.front() = source.RotateOk(population.integrators.front());
  const std::string rocksdb_uri = source.storage_uri();
  source.Stop();

  // Into the cluster (its records spread over three masters), cut short, refused, finished.
  credstore::testing::RedisClusterFixture cluster;
  const std::string cluster_uri = cluster.Uri();
  KilledHalfWay(rocksdb_uri, cluster_uri, 2);
  RefusesToStart(source, cluster_uri);
  const json::object to_cluster = Finished(Migrate(rocksdb_uri, cluster_uri), "to the cluster");
  BOOST_TEST(to_cluster.at("resumed").as_bool());
  BOOST_TEST(Count(to_cluster, "sourceRecords") > 5);
  std::int64_t on_masters = 0;
  for (const std::size_t master : cluster.Masters()) {
    on_masters += std::stoll(cluster.Command(master, {"DBSIZE"}));
  }
  // Every record is on some master, plus the erased marker's tombstone (which Redis collects)
  // and the store's 16 canary records (one per 1024 slots: docs/operations.md).
  BOOST_TEST(on_masters == Count(to_cluster, "targetRecords") + 1 + 16);
  {
    ServerOptions on_cluster;
    on_cluster.storage_uri = cluster_uri;
    Server copy(on_cluster);
    ExpectServed(copy, population, "on the cluster");
  }

  // Out of the cluster into a new RocksDB folder.
  credstore::testing::TempDir back("credstore-http-migrated");
  const std::string back_uri = "rocksdb://" + (back.path() / "db").string();
  const json::object to_rocksdb = Finished(Migrate(cluster_uri, back_uri), "out of the cluster");
  BOOST_TEST(!to_rocksdb.at("resumed").as_bool());
  ServerOptions on_rocksdb;
  on_rocksdb.storage_uri = back_uri;
  Server copy_of_copy(on_rocksdb);
  ExpectServed(copy_of_copy, population, "back on RocksDB");
}
#endif

BOOST_AUTO_TEST_CASE(a_password_never_goes_on_the_command_line, *utf::precondition(CanMigrate)) {
  const CommandRun run = Migrate("redis://:hunter2-password@127.0.0.1:6379", "rocksdb://./x");
  BOOST_TEST((run.exited && run.code == 2), run.Describe());
  BOOST_TEST(run.err.find("hunter2") == std::string::npos, run.Describe());
  BOOST_TEST(run.err.find("stdin") != std::string::npos, run.Describe());
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace credstore::http_tests
