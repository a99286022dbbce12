// SIGKILL a process mid-stream of registrations and rotations on RocksDB; after reopening,
// every acknowledged write is there and no revoked key or dropped secret verifies.
//
// The child makes one call at a time, so at most one call was in flight when it died: that one
// may or may not have landed. Every customer (and the integrator) must end exactly at its last
// acknowledged generation, except at most one, which may be one step further.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/test/unit_test.hpp>
#include <cstdio>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "credstore/backends/rocksdb.h"
#include "credstore/credential_store.h"
#include "support/test_helpers.h"
#include "workload.h"

namespace credstore::testing {
namespace {

struct Acknowledged {
  std::vector<std::pair<std::uint64_t, std::string>> grants;  // generation, key or secret
};

BOOST_AUTO_TEST_SUITE(store_crash)

BOOST_AUTO_TEST_CASE(acknowledged_registrations_and_rotations_survive_sigkill) {
  TempDir folder("credstore-crash");
  const std::string db = (folder.path() / "db").string();
  const std::string key_path = (folder.path() / "keys").string();
  const Keyring keyring = Keyring::Generate();
  {
    std::ofstream out(key_path);
    out << keyring.Serialize().view();
  }

  int pipe_fds[2];
  BOOST_TEST_REQUIRE(pipe(pipe_fds) == 0);
  const pid_t child = fork();
  BOOST_TEST_REQUIRE(child >= 0);
  if (child == 0) {
    dup2(pipe_fds[1], STDOUT_FILENO);
    close(pipe_fds[0]);
    close(pipe_fds[1]);
    execl(CREDSTORE_STORE_CRASH_CHILD, CREDSTORE_STORE_CRASH_CHILD, db.c_str(), key_path.c_str(),
          static_cast<char*>(nullptr));
    _exit(127);
  }
  close(pipe_fds[1]);
  FILE* lines = fdopen(pipe_fds[0], "r");
  std::map<std::string, Acknowledged> customers;
  Acknowledged integrator;
  std::string integrator_id;
  constexpr int kKillAfter = 300;
  int acknowledged = 0;
  char buffer[512];
  while (acknowledged < kKillAfter && std::fgets(buffer, sizeof buffer, lines) != nullptr) {
    std::istringstream line(buffer);
    std::string kind, id, value;
    std::uint64_t generation = 0;
    line >> kind >> id >> generation >> value;
    if (kind == "C") customers[id].grants.emplace_back(generation, value);
    if (kind == "I") {
      integrator_id = id;
      integrator.grants.emplace_back(generation, value);
    }
    ++acknowledged;
  }
  kill(child, SIGKILL);
  int status = 0;
  waitpid(child, &status, 0);
  std::fclose(lines);
  BOOST_TEST_REQUIRE(acknowledged == kKillAfter, "the child stopped early: status " << status);
  BOOST_TEST_REQUIRE(WIFSIGNALED(status));

  RocksDbOptions options;
  options.path = db;
  auto backend = RocksDbBackend::Open(options);
  BOOST_TEST_REQUIRE(backend.ok(), backend.status().ToString());
  auto clock = std::make_shared<SystemClock>();
  auto store =
      CredentialStore::Open(std::move(backend).value(), keyring, DurabilityTestOptions(clock));
  BOOST_TEST_REQUIRE(store.ok(), store.status().ToString());

  int ahead = 0;  // records one unacknowledged step past their last acknowledged write
  for (const auto& [api_key, acks] : customers) {
    BOOST_TEST_CONTEXT("customer " << api_key) {
      const auto& last = acks.grants.back().second;
      const bool last_verifies = (*store)->VerifyAdminKey("geofencing", api_key, last).ok();
      if (!last_verifies) ++ahead;
      for (std::size_t i = 0; i + 1 < acks.grants.size(); ++i) {
        BOOST_TEST(!(*store)->VerifyAdminKey("geofencing", api_key, acks.grants[i].second).ok(),
                   "revoked admin key of generation " << acks.grants[i].first << " verifies");
      }
    }
  }
  auto verifies = [&](const std::string& secret) {
    const std::string ts = std::to_string(clock->Now().time_since_epoch().count());
    const std::string target = "/check?" + secret.substr(3, 8);
    const std::string signature = SignRequest(secret, ts, "GET", target, "");
    return (*store)->VerifySignedRequest({integrator_id, ts, signature, "GET", target, ""}).ok();
  };
  if (!verifies(integrator.grants.back().second)) ++ahead;
  for (std::size_t i = 0; i + 1 < integrator.grants.size(); ++i) {
    BOOST_TEST(!verifies(integrator.grants[i].second),
               "dropped secret of generation " << integrator.grants[i].first << " verifies");
  }
  BOOST_TEST(ahead <= 1, ahead << " records lost their last acknowledged write");
  BOOST_TEST_MESSAGE("acknowledged " << acknowledged << " writes over " << customers.size()
                                     << " customers and one integrator; " << ahead
                                     << " record(s) held the in-flight write");
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace
}  // namespace credstore::testing
