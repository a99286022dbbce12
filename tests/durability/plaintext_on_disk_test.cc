// After a real workload through CredentialStore, no secret, admin key, API key or integrator
// secret is anywhere in what the backend wrote to disk: RocksDB's folder (log and table files),
// Redis's RDB (after SAVE) and AOF files. The scans are proven able to find bytes by the
// backends' own tests (a marker written raw is found), so "not found" here means not stored.
#include <boost/test/unit_test.hpp>

#include "support/test_helpers.h"
#include "workload.h"
#if CREDSTORE_TEST_HAVE_ROCKSDB
#include "credstore/backends/rocksdb.h"
#include "plaintext_scan.h"
#endif
#if CREDSTORE_TEST_HAVE_REDIS
#include "redis/redis_server_fixture.h"
#endif

namespace credstore::testing {
namespace {

BOOST_AUTO_TEST_SUITE(plaintext_on_disk)

#if CREDSTORE_TEST_HAVE_ROCKSDB
BOOST_AUTO_TEST_CASE(rocksdb_folder_holds_no_plaintext_credential) {
  TempDir folder("credstore-plaintext");
  const std::string path = (folder.path() / "db").string();
  auto clock = std::make_shared<ManualClock>();
  std::vector<std::string> plaintexts;
  {
    RocksDbOptions options;
    options.path = path;
    auto backend = RocksDbBackend::Open(options);
    BOOST_TEST_REQUIRE(backend.ok(), backend.status().ToString());
    std::shared_ptr<RocksDbBackend> rocks = std::move(backend).value();
    auto store = CredentialStore::Open(rocks, Keyring::Generate(), DurabilityTestOptions(clock));
    BOOST_TEST_REQUIRE(store.ok(), store.status().ToString());
    plaintexts = RunPlaintextWorkload(**store, *clock);
    // Once in the write-ahead log only, once in table files too.
    BOOST_TEST_REQUIRE(ScanFolderForBytes(path, "int_").found(), "the scan must see records");
    for (const std::string& plain : plaintexts) {
      BOOST_TEST(!ScanFolderForBytes(path, plain).found(), "plaintext in the WAL: " << plain);
    }
    BOOST_TEST_REQUIRE(rocks->CollectExpired().ok());
  }
  for (const std::string& plain : plaintexts) {
    BOOST_TEST(!ScanFolderForBytes(path, plain).found(), "plaintext in a table file: " << plain);
  }
}
#endif

#if CREDSTORE_TEST_HAVE_REDIS
BOOST_AUTO_TEST_CASE(redis_rdb_and_aof_hold_no_plaintext_credential) {
  RedisServerFixture server;
  auto backend = RedisBackend::Open(server.BackendOptions());
  BOOST_TEST_REQUIRE(backend.ok(), backend.status().ToString());
  auto clock = std::make_shared<ManualClock>();
  auto store = CredentialStore::Open(std::move(backend).value(), Keyring::Generate(),
                                     DurabilityTestOptions(clock));
  BOOST_TEST_REQUIRE(store.ok(), store.status().ToString());
  const std::vector<std::string> plaintexts = RunPlaintextWorkload(**store, *clock);
  BOOST_TEST_REQUIRE(server.PersistedFilesContain("int_"), "the scan must see records");
  for (const std::string& plain : plaintexts) {
    BOOST_TEST(!server.PersistedFilesContain(plain), "plaintext persisted by Redis: " << plain);
  }
}
#endif

BOOST_AUTO_TEST_SUITE_END()

}  // namespace
}  // namespace credstore::testing
