// Online backups (POST /v1/backups, `credstore backup NAME`) against a real credstored, and the
// restore procedure of docs/operations.md ("Restoring a backup") followed step by step.
#include <sys/stat.h>

#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>
#include <boost/test/unit_test.hpp>
#include <filesystem>
#include <string>
#include <vector>

#include "http/cli_process.h"
#include "http/http_test_env.h"

namespace credstore::http_tests {
namespace {

namespace fs = std::filesystem;
namespace json = boost::json;
namespace utf = boost::unit_test;

std::string BackupBody(std::string_view name) {
  return R"({"name":)" + json::serialize(json::string(name)) + "}";
}

HttpResponse PostBackup(Server& server, std::string_view body, std::string_view token) {
  return server.SendOperator(BuildRequest(
      "POST", "/v1/backups",
      "Authorization: Bearer " + std::string(token) + "\r\nContent-Type: application/json\r\n",
      body));
}

HttpResponse Backup(Server& server, std::string_view name) {
  return PostBackup(server, BackupBody(name), server.process().config().operator_token);
}

HttpResponse GetIntegrator(Server& server, std::string_view id) {
  return server.SendOperator(
      BuildRequest("GET", "/v1/integrators/" + std::string(id),
                   "Authorization: Bearer " + server.process().config().operator_token + "\r\n"));
}

// The RocksDB folder of `server` (its URI is rocksdb://<absolute path>).
fs::path DataFolder(const Server& server) {
  return fs::path(server.storage_uri().substr(std::string_view("rocksdb://").size()));
}

boost::test_tools::assertion_result OnRocksDb(utf::test_unit_id) {
  boost::test_tools::assertion_result result(Args().backend == Backend::kRocksDb);
  result.message() << "checkpoints are RocksDB's";
  return result;
}

boost::test_tools::assertion_result NotOnRocksDb(utf::test_unit_id) {
  boost::test_tools::assertion_result result(Args().backend != Backend::kRocksDb);
  result.message() << "RocksDB takes checkpoints";
  return result;
}

// The steps of docs/operations.md, "Restoring a backup", on a stopped server: move the data
// folder aside, copy the checkpoint into its place (the service user's, mode 0700).
void RestoreAsDocumented(const fs::path& data, const fs::path& checkpoint) {
  fs::rename(data, fs::path(data.string() + ".before-restore"));
  fs::copy(checkpoint, data, fs::copy_options::recursive);
  BOOST_TEST_REQUIRE(::chmod(data.c_str(), 0700) == 0);
}

}  // namespace

BOOST_AUTO_TEST_SUITE(backup)

BOOST_FIXTURE_TEST_CASE(a_restored_backup_holds_what_was_written_before_it_and_nothing_after,
                        ServerFixture, *utf::precondition(OnRocksDb)) {
  const Customer before = server.NewCustomer();
  BOOST_TEST_REQUIRE(server.PostSettings(before, R"({"zone":"north"})").status == 200u);
  const Integrator integrator_before = server.NewIntegrator();

  const HttpResponse made = Backup(server, "nightly-2026-12-01");
  const json::object answer = ExpectJson(made, 201, "POST /v1/backups");
  const fs::path checkpoint = DataFolder(server).parent_path() / "backups" / "nightly-2026-12-01";
  BOOST_TEST(answer.at("name").as_string() == "nightly-2026-12-01");
  BOOST_TEST_REQUIRE(fs::exists(checkpoint / "CURRENT"), "no RocksDB store in " << checkpoint);
  BOOST_TEST(fs::equivalent(fs::path(std::string(answer.at("folder").as_string())), checkpoint));

  // Written after the backup: must not come back with it.
  const Customer after = server.NewCustomer();
  BOOST_TEST_REQUIRE(server.PostSettings(before, R"({"zone":"south"})").status == 200u);
  const Integrator integrator_after = server.NewIntegrator();

  server.Stop();
  RestoreAsDocumented(DataFolder(server), checkpoint);
  server.Relaunch();  // the same key file: the keycheck record in the backup matches it

  server.ExpectSettings(before, R"({"zone":"north"})", "a customer of the backup");
  BOOST_TEST(GetIntegrator(server, integrator_before.id).status == 200u);
  BOOST_TEST(server.GetSettings(after).status == 401u, "a customer registered after the backup");
  BOOST_TEST(GetIntegrator(server, integrator_after.id).status == 404u);
  // The backup itself is untouched by the restored server's writes.
  BOOST_TEST(fs::exists(checkpoint / "CURRENT"));
}

BOOST_FIXTURE_TEST_CASE(names_are_checked_taken_names_refused_and_the_token_required, ServerFixture,
                        *utf::precondition(OnRocksDb)) {
  BOOST_TEST(Backup(server, "first").status == 201u);
  ExpectProblem(Backup(server, "first"), 409, "a name that exists");

  const std::string too_long(65, 'a');
  for (const std::string& name :
       std::vector<std::string>{"", "../escape", "a/b", "/tmp/abs", "..", ".", ".hidden", "a..b",
                                "stage.tmp", "sp ace", too_long}) {
    ExpectProblem(Backup(server, name), 400, "name '" + name + "'");
  }
  ExpectProblem(PostBackup(server, R"({"name":7})", server.process().config().operator_token), 400,
                "a name that is not a string");
  ExpectProblem(PostBackup(server, "{}", server.process().config().operator_token), 400, "no name");
  ExpectProblem(PostBackup(server, BackupBody("other"), "wrong-operator-token-xxxxxxxx"), 401,
                "a wrong token");
  BOOST_TEST(!fs::exists(DataFolder(server).parent_path() / "backups" / "other"));
  BOOST_TEST(!fs::exists(DataFolder(server).parent_path() / "escape"));
}

BOOST_FIXTURE_TEST_CASE(the_credstore_command_makes_a_backup, ServerFixture,
                        *utf::precondition(OnRocksDb)) {
  const CommandRun run =
      RunCredstore({"--operator", "127.0.0.1:" + std::to_string(server.operator_port()), "backup",
                    "from-the-cli"},
                   {}, {"CREDSTORE_OPERATOR_TOKEN=" + server.process().config().operator_token});
  BOOST_TEST_REQUIRE((run.exited && run.code == 0), run.Describe());
  BOOST_TEST(run.out.find("\"name\":\"from-the-cli\"") != std::string::npos, run.Describe());
  BOOST_TEST(fs::exists(DataFolder(server).parent_path() / "backups" / "from-the-cli" / "CURRENT"));
  const CommandRun again =
      RunCredstore({"--operator", "127.0.0.1:" + std::to_string(server.operator_port()), "backup",
                    "from-the-cli"},
                   {}, {"CREDSTORE_OPERATOR_TOKEN=" + server.process().config().operator_token});
  BOOST_TEST((again.exited && again.code == 1), again.Describe());
  BOOST_TEST(again.err.find("409") != std::string::npos, again.Describe());
}

// Redis and memory keep no files of credstored's own: 409, saying what to use instead.
BOOST_FIXTURE_TEST_CASE(other_backends_answer_409, ServerFixture,
                        *utf::precondition(NotOnRocksDb)) {
  const json::object problem = ExpectProblem(Backup(server, "nightly"), 409, "POST /v1/backups");
  const std::string detail(problem.at("detail").as_string());
  if (Args().backend == Backend::kRedis) {
    BOOST_TEST(detail.find("Redis's own persistence") != std::string::npos, detail);
  } else {
    BOOST_TEST(detail.find("takes no checkpoints") != std::string::npos, detail);
  }
  ExpectProblem(Backup(server, "../escape"), 400, "a malformed name, whatever the backend");
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace credstore::http_tests
