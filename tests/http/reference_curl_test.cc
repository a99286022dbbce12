// Runs tests/http/reference_curl.sh (the reference pages' curl requests) against a credstored
// started here. Disabled by default: ctest's http.reference_curl runs it by name, with
// `--run_test=reference_curl -- --reference-script PATH`.
#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/test/unit_test.hpp>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <thread>

#include "http/http_test_env.h"

extern char** environ;

namespace credstore::http_tests {
namespace {

bool OnPath(const std::string& tool) {
  const char* path = std::getenv("PATH");
  std::stringstream folders(path != nullptr ? path : "/usr/bin:/bin");
  std::string folder;
  while (std::getline(folders, folder, ':')) {
    if (!folder.empty() && access((folder + "/" + tool).c_str(), X_OK) == 0) return true;
  }
  return false;
}

// Runs `bash script base_url` with the operator URL and token in its environment; returns its
// exit code (-1 when it did not finish within `timeout`) and leaves its output in `output`.
int RunScript(const std::string& script, const std::string& base_url,
              const std::string& operator_url, const std::string& token,
              const std::filesystem::path& output, std::chrono::seconds timeout) {
  std::vector<std::string> args = {"/bin/bash", script, base_url};
  std::vector<char*> argv;
  for (auto& arg : args) argv.push_back(arg.data());
  argv.push_back(nullptr);
  std::vector<std::string> env_strings;
  for (char** entry = environ; *entry != nullptr; ++entry) env_strings.emplace_back(*entry);
  env_strings.push_back("CREDSTORE_OPERATOR_URL=" + operator_url);
  env_strings.push_back("CREDSTORE_OPERATOR_TOKEN=" + token);
  std::vector<char*> envp;
  for (auto& entry : env_strings) envp.push_back(entry.data());
  envp.push_back(nullptr);

  const int out_fd = open(output.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (out_fd < 0) return -1;
  const pid_t pid = fork();
  if (pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    setpgid(0, 0);  // so a timeout can stop curl too
    dup2(out_fd, STDOUT_FILENO);
    dup2(out_fd, STDERR_FILENO);
    execve(argv[0], argv.data(), envp.data());
    _exit(127);
  }
  close(out_fd);
  if (pid < 0) return -1;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    int status = 0;
    if (waitpid(pid, &status, WNOHANG) == pid) {
      return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    }
    if (std::chrono::steady_clock::now() >= deadline) {
      kill(-pid, SIGKILL);
      waitpid(pid, &status, 0);
      return -1;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

std::string ReadAll(const std::filesystem::path& path) {
  std::ifstream in(path);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace

// Off in the per-backend runs (it needs the script's path); ctest's http.reference_curl runs it
// by name, which Boost.Test does for a disabled case.
BOOST_AUTO_TEST_CASE(reference_curl, *boost::unit_test::disabled()) {
  BOOST_TEST_REQUIRE(!Args().reference_script.empty(),
                     "pass -- --reference-script tests/http/reference_curl.sh");
  BOOST_TEST_REQUIRE(OnPath("curl"),
                     "curl is not installed: the reference pages' requests are curl commands "
                     "(install the curl package)");
  BOOST_TEST_REQUIRE(OnPath("openssl"),
                     "openssl is not installed: page 003's request is signed with it");
  Server server;
  credstore::testing::TempDir dir("credstore-http-curl");
  const auto output = dir.path() / "reference_curl.out";
  const int code =
      RunScript(Args().reference_script, "http://127.0.0.1:" + std::to_string(server.port()),
                "http://127.0.0.1:" + std::to_string(server.operator_port()),
                server.process().config().operator_token, output, std::chrono::seconds(180));
  const std::string text = ReadAll(output);
  BOOST_TEST_MESSAGE(text);
  BOOST_TEST(code == 0, "reference_curl.sh failed (exit " << code << "):\n" << text);
}

}  // namespace credstore::http_tests
