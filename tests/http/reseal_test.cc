// Retiring a master key, exactly as an operator does it (docs/operations.md, "Rotating the
// master key"), against a real credstored on RocksDB: start with master key 1, create an
// integrator (and rotate it with a grace, so it has two sealed secrets), stop; add master key 2,
// start, `credstore keys reseal`, stop; remove master key 1, start → it starts, and the
// integrator's secrets verify. Before the re-seal, a start without key 1 is refused with the
// core's reason in the log (which key id is missing), never key bytes.
//
// The key files are written by the test (text, mode 0600), one per step. Every wait is bounded:
// starts and stops by CredstoredProcess, the command by RunCli.
#include <sys/stat.h>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/test/unit_test.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "credstore/keyring.h"
#include "credstore/signed_request.h"
#include "http/cli_process.h"
#include "http/http_test_env.h"

namespace credstore::http_tests {
namespace {

namespace json = boost::json;
using credstore::testing::Sha256Hex;
namespace utf = boost::unit_test;
using namespace std::chrono_literals;

constexpr std::string_view kJson = "Content-Type: application/json\r\n";
constexpr std::string_view kRotateTarget = "/v1/integrator/regenerate-secret";

boost::test_tools::assertion_result OnRocksDb(utf::test_unit_id) {
  boost::test_tools::assertion_result result(Args().backend == Backend::kRocksDb);
  result.message() << "the operator's sequence is run once, on RocksDB; the conformance suite "
                      "runs it on every backend";
  return result;
}

std::string Bearer(std::string_view token) {
  return "Authorization: Bearer " + std::string(token) + "\r\n";
}

void WriteKeyFile(const std::filesystem::path& path, const Keyring& keyring) {
  {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << keyring.Serialize().view();
  }
  chmod(path.c_str(), 0600);
}

// The hex of every key of `keyring`: none may ever reach a log.
std::vector<std::string> KeyHexes(const Keyring& keyring) {
  std::vector<std::string> hexes;
  const std::string text(keyring.Serialize().view());
  std::size_t at = 0;
  while ((at = text.find('\n', at)) != std::string::npos) {
    ++at;
    const std::size_t end = text.find('\n', at);
    const std::string line = text.substr(at, end == std::string::npos ? end : end - at);
    const std::size_t space = line.rfind(' ');
    if (space != std::string::npos && line.size() - space - 1 == 64) {
      hexes.push_back(line.substr(space + 1));
    }
  }
  return hexes;
}

// The operator's view of one credstored: its process, and the calls the test makes.
class Rotation {
 public:
  Rotation()
      : dir_("credstore-http-reseal"),
        key_file_(dir_.path() / "credstore.keys"),
        token_("optok-" + RandomAlnum(40)),
        verifier_token_("vt-" + RandomAlnum(40)) {
    const std::filesystem::path tokens = dir_.path() / "verifier.tokens";
    std::ofstream(tokens) << "rotation *+signatures " << verifier_token_ << "\n";
    chmod(tokens.c_str(), 0600);
    config_.binary = Args().credstored;
    config_.storage_uri = "rocksdb://" + (dir_.path() / "db").string();
    config_.key_file = key_file_;
    config_.work_dir = dir_.path();
    config_.operator_token = token_;
    config_.extra_args = {"--verifier-token-file", tokens.string()};
    sensitive_ = {token_, verifier_token_};
  }

  const std::filesystem::path& key_file() const { return key_file_; }
  void AddSensitive(std::string text) { sensitive_.push_back(std::move(text)); }

  // Starts credstored on the key file as it is now; requires that it starts.
  void Start(std::string_view what) {
    process_ = std::make_unique<CredstoredProcess>(config_);
    try {
      process_->Start(30s);
    } catch (const std::exception& error) {
      BOOST_FAIL(what << ": credstored did not start: " << Redacted(error.what()));
    }
  }

  // Starts credstored and requires that it refuses to (exit 2); returns its log.
  std::string StartRefused(std::string_view what) {
    const std::string log = ExpectStartupRefusal(
        config_, what, [this](std::string failure) { return Redacted(std::move(failure)); });
    CheckClean(log, what);
    return log;
  }

  // SIGTERM; requires exit code 0 and a clean log.
  void Stop(std::string_view what) {
    const ExitInfo info = process_->Stop(30s);
    BOOST_TEST((info.exited && info.code == 0), what << ": " << info.Describe());
    CheckClean(process_->Log(), what);
  }

  HttpResponse Operator(std::string_view method, std::string_view target,
                        std::string_view body = {}) {
    std::string headers = Bearer(token_);
    if (!body.empty()) headers += kJson;
    return SendRaw(process_->operator_port(),
                   BuildRequest(method, target, headers, body, method == "POST"),
                   ClientOptions{NextClientAddress()});
  }

  Integrator CreateIntegrator() {
    const HttpResponse response = Operator("POST", "/v1/integrators", R"({"label":"rotation"})");
    const json::object body = ExpectJson(response, 201, "create an integrator");
    BOOST_TEST_REQUIRE(response.status == 201u);
    Integrator integrator{std::string(body.at("integratorId").as_string()),
                          std::string(body.at("secret").as_string())};
    AddSensitive(integrator.secret);
    return integrator;
  }

  // The integrator's own rotation, signed with `secret`; returns the new secret ("" unless 200).
  std::string Rotate(const Integrator& integrator, std::string_view body) {
    const std::string timestamp = UniqueTimestamp();
    const std::string signature =
        SignRequest(integrator.secret, timestamp, "POST", kRotateTarget, body);
    std::string headers = "X-Integrator-Key: " + integrator.id + "\r\nX-Timestamp: " + timestamp +
                          "\r\nX-Signature: " + signature + "\r\n";
    if (!body.empty()) headers += kJson;
    const HttpResponse response =
        SendRaw(process_->port(), BuildRequest("POST", kRotateTarget, headers, body, true),
                ClientOptions{NextClientAddress()});
    const json::object reply = ExpectJson(response, 200, "regenerate-secret");
    if (response.status != 200) return {};
    std::string secret(reply.at("secret").as_string());
    AddSensitive(secret);
    return secret;
  }

  // POST /v1/verify/signature of a fresh request signed with `secret`; the answer's
  // signedWithCurrent, after requiring 200.
  bool VerifySigned(std::string_view integrator_id, std::string_view secret,
                    std::string_view what) {
    const std::string timestamp = UniqueTimestamp();
    const std::string target = "/orders?n=" + timestamp;
    json::object check{{"method", "GET"},
                       {"target", target},
                       {"integratorKey", integrator_id},
                       {"timestamp", timestamp},
                       {"signature", SignRequest(secret, timestamp, "GET", target, "")},
                       {"bodySha256", Sha256Hex("")}};
    const HttpResponse response =
        SendRaw(process_->port(),
                BuildRequest("POST", "/v1/verify/signature",
                             std::string(kJson) + Bearer(verifier_token_), json::serialize(check)),
                ClientOptions{NextClientAddress()});
    const json::object verified = ExpectJson(response, 200, what);
    const json::value* current = verified.if_contains("signedWithCurrent");
    return current != nullptr && current->is_bool() && current->as_bool();
  }

  // `credstore keys reseal` against this credstored.
  CliRun ResealWithCli() {
    CliRun run = RunCli(
        {"--operator", "127.0.0.1:" + std::to_string(process_->operator_port()), "keys", "reseal"},
        {}, token_);
    CheckClean(run.out + run.err, "credstore keys reseal");
    return run;
  }

  void CheckClean(const std::string& text, std::string_view what) const {
    for (const std::string& secret : sensitive_) {
      BOOST_TEST(text.find(secret) == std::string::npos,
                 what << ": a secret, token or key ('" << secret.substr(0, 4) << "...') leaked");
    }
  }

 private:
  std::string Redacted(std::string text) const {
    for (const std::string& secret : sensitive_) {
      for (std::size_t at = text.find(secret); at != std::string::npos; at = text.find(secret)) {
        text.replace(at, secret.size(), "<redacted>");
      }
    }
    return text;
  }

  credstore::testing::TempDir dir_;
  std::filesystem::path key_file_;
  std::string token_;
  std::string verifier_token_;
  CredstoredConfig config_;
  std::unique_ptr<CredstoredProcess> process_;
  std::vector<std::string> sensitive_;
};

BOOST_AUTO_TEST_SUITE(master_key_rotation)

BOOST_AUTO_TEST_CASE(an_old_master_key_retires_after_keys_reseal, *utf::precondition(OnRocksDb)) {
  BOOST_TEST_REQUIRE(!Args().credstore_cli.empty(), "pass --credstore-cli PATH");
  Rotation rotation;
  const Keyring first = Keyring::Generate();
  const Keyring both = first.WithNewMasterKey();
  Result<Keyring> only_new = Keyring::FromKeys(both.pepper(), {both.current_master()});
  BOOST_TEST_REQUIRE(only_new.ok(), only_new.status().ToString());
  for (const std::string& hex : KeyHexes(both)) rotation.AddSensitive(hex);

  // Master key 1: an integrator, rotated with a grace (its old secret stays valid for an hour).
  WriteKeyFile(rotation.key_file(), first);
  rotation.Start("keys {1}");
  Integrator integrator = rotation.CreateIntegrator();
  const std::string graced = integrator.secret;
  integrator.secret = rotation.Rotate(integrator, R"({"oldSecretValidForSeconds":3600})");
  BOOST_TEST_REQUIRE(!integrator.secret.empty());
  rotation.Stop("keys {1}");

  // Key 1 removed before any re-seal: refused, and the log says which key the store needs.
  WriteKeyFile(rotation.key_file(), *only_new);
  const std::string refused = rotation.StartRefused("keys {2} before the reseal");
  BOOST_TEST(refused.find("master key id 1") != std::string::npos, refused);
  BOOST_TEST(refused.find("credstore keys reseal") != std::string::npos, refused);

  // Master key 2 added; the re-seal, while serving.
  WriteKeyFile(rotation.key_file(), both);
  rotation.Start("keys {1, 2}");
  const CliRun resealed = rotation.ResealWithCli();
  BOOST_TEST_REQUIRE((resealed.exited && resealed.code == 0), resealed.Describe());
  const json::value report = ParseJson(resealed.out, "credstore keys reseal");
  BOOST_TEST((report == json::parse(R"({"integrators":{"resealed":1,"already":0,"failed":0},)"
                                    R"("keycheck":"resealed"})")),
             resealed.out);
  // Run again: nothing left to do. The route answers the same counts for one page.
  const CliRun again = rotation.ResealWithCli();
  BOOST_TEST((again.exited && again.code == 0), again.Describe());
  BOOST_TEST((ParseJson(again.out, "reseal again") ==
              json::parse(R"({"integrators":{"resealed":0,"already":1,"failed":0},)"
                          R"("keycheck":"already"})")),
             again.out);
  const HttpResponse route = rotation.Operator("POST", "/v1/keys/reseal", "{}");
  const json::object answer = ExpectJson(route, 200, "POST /v1/keys/reseal");
  BOOST_TEST(
      (json::value(answer) == json::parse(R"({"integrators":{"resealed":0,"already":1,"failed":0},)"
                                          R"("keycheck":"already","nextCursor":null})")),
      route.body);
  BOOST_TEST(route.Header("Cache-Control").value_or("").find("no-store") != std::string::npos);
  rotation.Stop("keys {1, 2}");

  // Key 1 removed: it starts, and both of the integrator's secrets verify.
  WriteKeyFile(rotation.key_file(), *only_new);
  rotation.Start("keys {2} after the reseal");
  BOOST_TEST(rotation.VerifySigned(integrator.id, integrator.secret, "the current secret"));
  BOOST_TEST(!rotation.VerifySigned(integrator.id, graced, "the graced old secret"));
  const std::string next = rotation.Rotate(integrator, "");
  BOOST_TEST(!next.empty(), "a rotation under key 2 alone");
  rotation.Stop("keys {2}");
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace
}  // namespace credstore::http_tests
