#include "http/credstored_process.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

extern char** environ;

namespace credstore::http_tests {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

std::string ReadFile(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// The port in a port file: "8080", "8080\n" or "127.0.0.1:8080\n"; 0 while not (fully) written.
std::uint16_t ParsePortFile(const std::filesystem::path& path) {
  std::string text = ReadFile(path);
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r' || text.back() == ' ')) {
    text.pop_back();
  }
  const std::size_t colon = text.rfind(':');
  if (colon != std::string::npos) text = text.substr(colon + 1);
  if (text.empty() || text.size() > 5) return 0;
  unsigned value = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return 0;
    value = value * 10 + static_cast<unsigned>(c - '0');
  }
  return value > 0 && value <= 65535 ? static_cast<std::uint16_t>(value) : 0;
}

ExitInfo FromWaitStatus(int status) {
  ExitInfo info;
  if (WIFEXITED(status)) {
    info.exited = true;
    info.code = WEXITSTATUS(status);
  } else if (WIFSIGNALED(status)) {
    info.signal = WTERMSIG(status);
  }
  return info;
}

std::string Tail(const std::string& text, std::size_t bytes = 4000) {
  return text.size() <= bytes ? text : "..." + text.substr(text.size() - bytes);
}

}  // namespace

std::string ExitInfo::Describe() const {
  if (exited) return "exit code " + std::to_string(code);
  if (signal != 0) return "killed by signal " + std::to_string(signal);
  return "did not exit";
}

CredstoredProcess::CredstoredProcess(CredstoredConfig config) : config_(std::move(config)) {}

CredstoredProcess::~CredstoredProcess() {
  if (pid_ > 0) {
    kill(pid_, SIGKILL);
    int status = 0;
    waitpid(pid_, &status, 0);
  }
}

void CredstoredProcess::Start(std::chrono::milliseconds timeout) {
  if (pid_ > 0) throw std::runtime_error("credstored is already running");
  const auto port_file = config_.work_dir / "public.port";
  const auto operator_port_file = config_.work_dir / "operator.port";
  std::filesystem::remove(port_file);
  std::filesystem::remove(operator_port_file);

  std::vector<std::string> args = {
      config_.binary,      "--listen",         "127.0.0.1:0",
      "--port-file",       port_file.string(), "--storage",
      config_.storage_uri, "--key-file",       config_.key_file.string(),
      "--argon2",          config_.argon2,
  };
  if (config_.operator_socket.empty()) {
    args.insert(args.end(), {"--operator-listen", "127.0.0.1:0", "--operator-port-file",
                             operator_port_file.string()});
  } else {
    args.insert(args.end(), {"--operator-socket", config_.operator_socket.string()});
  }
  args.insert(args.end(), config_.extra_args.begin(), config_.extra_args.end());
  std::vector<char*> argv;
  for (auto& arg : args) argv.push_back(arg.data());
  argv.push_back(nullptr);

  // The environment, with our operator token (built before fork: the child only execs).
  std::vector<std::string> env_strings;
  for (char** entry = environ; *entry != nullptr; ++entry) {
    const std::string_view variable(*entry);
    // Our token, and the key file's keyring: never one inherited from the caller.
    if (variable.starts_with("CREDSTORE_OPERATOR_TOKEN=") ||
        variable.starts_with("CREDSTORE_KEYRING=")) {
      continue;
    }
    env_strings.emplace_back(*entry);
  }
  env_strings.push_back("CREDSTORE_OPERATOR_TOKEN=" + config_.operator_token);
  std::vector<char*> envp;
  for (auto& entry : env_strings) envp.push_back(entry.data());
  envp.push_back(nullptr);

  const int log_fd = open(log_path().c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (log_fd < 0) throw std::runtime_error("cannot open " + log_path().string());
  const int null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
  const pid_t parent = getpid();
  const pid_t pid = fork();
  if (pid < 0) {
    close(log_fd);
    if (null_fd >= 0) close(null_fd);
    throw std::runtime_error("fork failed");
  }
  if (pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(127);
    if (config_.open_files_limit != 0) {
      const rlimit limit{config_.open_files_limit, config_.open_files_limit};
      if (setrlimit(RLIMIT_NOFILE, &limit) != 0) _exit(126);
    }
    if (null_fd >= 0) dup2(null_fd, STDIN_FILENO);
    dup2(log_fd, STDOUT_FILENO);
    dup2(log_fd, STDERR_FILENO);
    execve(argv[0], argv.data(), envp.data());
    _exit(127);
  }
  close(log_fd);
  if (null_fd >= 0) close(null_fd);
  pid_ = pid;

  // A port counts once two reads 20 ms apart agree, so a file caught half-written is not used.
  std::uint16_t seen_port = 0;
  std::uint16_t seen_operator_port = 0;
  const auto deadline = Clock::now() + timeout;
  while (Clock::now() < deadline) {
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      throw std::runtime_error("credstored exited during start-up (" +
                               FromWaitStatus(status).Describe() + "); log:\n" + Tail(Log()));
    }
    const std::uint16_t port = ParsePortFile(port_file);
    // With an operator socket there is no operator port: the socket's existence stands for it.
    const std::uint16_t operator_port =
        config_.operator_socket.empty()
            ? ParsePortFile(operator_port_file)
            : static_cast<std::uint16_t>(std::filesystem::exists(config_.operator_socket));
    if (port != 0 && operator_port != 0 && port == seen_port &&
        operator_port == seen_operator_port) {
      port_ = port;
      operator_port_ = config_.operator_socket.empty() ? operator_port : 0;
      return;
    }
    seen_port = port;
    seen_operator_port = operator_port;
    std::this_thread::sleep_for(20ms);
  }
  Kill();
  throw std::runtime_error("credstored wrote no port within the start-up timeout; log:\n" +
                           Tail(Log()));
}

void CredstoredProcess::SignalTerm() {
  if (pid_ > 0) kill(pid_, SIGTERM);
}

ExitInfo CredstoredProcess::WaitForExit(std::chrono::milliseconds timeout) {
  if (pid_ <= 0) return ExitInfo{};
  const auto deadline = Clock::now() + timeout;
  for (;;) {
    int status = 0;
    const pid_t waited = waitpid(pid_, &status, WNOHANG);
    if (waited == pid_) {
      pid_ = -1;
      return FromWaitStatus(status);
    }
    if (waited < 0 && errno != EINTR) {
      pid_ = -1;
      return ExitInfo{};
    }
    if (Clock::now() >= deadline) break;
    std::this_thread::sleep_for(10ms);
  }
  // It did not stop in time: kill it, and report that it did not exit by itself.
  kill(pid_, SIGKILL);
  int status = 0;
  waitpid(pid_, &status, 0);
  pid_ = -1;
  return ExitInfo{};
}

ExitInfo CredstoredProcess::Stop(std::chrono::milliseconds timeout) {
  SignalTerm();
  return WaitForExit(timeout);
}

ExitInfo CredstoredProcess::Kill() {
  if (pid_ <= 0) return ExitInfo{};
  kill(pid_, SIGKILL);
  int status = 0;
  waitpid(pid_, &status, 0);
  pid_ = -1;
  return FromWaitStatus(status);
}

std::string CredstoredProcess::Log() const { return ReadFile(log_path()); }

long ProcStatusKiB(pid_t pid, const std::string& field) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.starts_with(field + ":")) {
      return std::strtol(line.c_str() + field.size() + 1, nullptr, 10);
    }
  }
  return -1;
}

}  // namespace credstore::http_tests
