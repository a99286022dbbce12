#include "http/cli_process.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/test/unit_test.hpp>
#include <chrono>
#include <fstream>
#include <sstream>
#include <thread>

#include "http/http_test_env.h"
#include "support/test_helpers.h"

extern char** environ;

namespace credstore::http_tests {
namespace {

std::string ReadFile(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

std::string_view NameOf(std::string_view entry) { return entry.substr(0, entry.find('=')); }

}  // namespace

std::string CommandRun::Describe() const {
  const std::string how =
      exited ? "exit " + std::to_string(code) : "killed by signal " + std::to_string(signal);
  return how + "; stdout: " + out + "; stderr: " + err;
}

CommandRun RunCredstore(const std::vector<std::string>& args, std::string_view stdin_text,
                        const std::vector<std::string>& environment) {
  BOOST_TEST_REQUIRE(!Args().credstore_cli.empty(), "no --credstore-cli PATH given");
  const credstore::testing::TempDir dir("credstore-cli");
  const auto in_path = dir.path() / "stdin";
  const auto out_path = dir.path() / "stdout";
  const auto err_path = dir.path() / "stderr";
  {
    std::ofstream in(in_path, std::ios::binary);
    in << stdin_text;
  }
  std::vector<std::string> argv_strings = {Args().credstore_cli};
  argv_strings.insert(argv_strings.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& arg : argv_strings) argv.push_back(arg.data());
  argv.push_back(nullptr);
  std::vector<std::string> env_strings;
  for (char** entry = environ; *entry != nullptr; ++entry) {
    bool replaced = false;
    for (const std::string& mine : environment) replaced |= NameOf(mine) == NameOf(*entry);
    if (!replaced) env_strings.emplace_back(*entry);
  }
  for (const std::string& mine : environment) {
    if (mine.find('=') != std::string::npos) env_strings.push_back(mine);  // bare: removed
  }
  std::vector<char*> envp;
  for (auto& entry : env_strings) envp.push_back(entry.data());
  envp.push_back(nullptr);

  const int in_fd = open(in_path.c_str(), O_RDONLY | O_CLOEXEC);
  const int out_fd = open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  const int err_fd = open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  BOOST_TEST_REQUIRE((in_fd >= 0 && out_fd >= 0 && err_fd >= 0));
  const pid_t pid = fork();
  if (pid == 0) {
    dup2(in_fd, STDIN_FILENO);
    dup2(out_fd, STDOUT_FILENO);
    dup2(err_fd, STDERR_FILENO);
    execve(argv[0], argv.data(), envp.data());
    _exit(127);
  }
  close(in_fd);
  close(out_fd);
  close(err_fd);
  BOOST_TEST_REQUIRE(pid > 0, "fork failed");
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  int status = 0;
  while (waitpid(pid, &status, WNOHANG) != pid) {
    if (std::chrono::steady_clock::now() > deadline) {
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      BOOST_TEST(false, "credstore did not finish within 60 s");
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  CommandRun run;
  run.exited = WIFEXITED(status);
  run.code = run.exited ? WEXITSTATUS(status) : -1;
  run.signal = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
  run.out = ReadFile(out_path);
  run.err = ReadFile(err_path);
  return run;
}

CliRun RunCli(const std::vector<std::string>& args, std::string_view stdin_text,
              const std::optional<std::string>& token) {
  return RunCredstore(args, stdin_text,
                      {token ? "CREDSTORE_OPERATOR_TOKEN=" + *token
                             : std::string("CREDSTORE_OPERATOR_TOKEN")});
}

}  // namespace credstore::http_tests
