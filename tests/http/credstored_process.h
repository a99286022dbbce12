// credstored as a child process, for black-box tests.
//
// Start() forks and execs credstored with its public and operator listeners on 127.0.0.1:0,
// waits (bounded) until both port files hold a port, and fails if the child exits first.
// Stop() sends SIGTERM and waits (bounded; SIGKILL after) and returns how the child ended.
// stdout and stderr go to a log file, which tests read to check that no secret is ever logged.
// The child is killed if the test process dies (PR_SET_PDEATHSIG), so none outlives a crash.
//
// Thread safety: drive one CredstoredProcess from one thread; pid() and ports may be read from
// others while it runs.
#ifndef CREDSTORE_TESTS_HTTP_CREDSTORED_PROCESS_H_
#define CREDSTORE_TESTS_HTTP_CREDSTORED_PROCESS_H_

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace credstore::http_tests {

struct CredstoredConfig {
  std::string binary;                   // path of credstored
  std::string storage_uri;              // memory://, rocksdb://..., redis+unix://...
  std::filesystem::path key_file;       // the server's keyring
  std::filesystem::path work_dir;       // port files and the log live here
  std::string operator_token;           // CREDSTORE_OPERATOR_TOKEN
  std::string argon2 = "minimum";       // --argon2
  std::vector<std::string> extra_args;  // appended to the command line
  // Set: the operator listener is this unix socket instead of 127.0.0.1:0 (no operator port).
  std::filesystem::path operator_socket;
  // Nonzero: the child's RLIMIT_NOFILE (soft and hard) before it execs credstored, so a test
  // can run it against a small descriptor table without needing one itself.
  std::uint64_t open_files_limit = 0;
};

// How the child ended.
struct ExitInfo {
  bool exited = false;  // false: killed by a signal, or still running when we gave up
  int code = -1;        // exit code when `exited`
  int signal = 0;       // the signal when killed
  std::string Describe() const;
};

class CredstoredProcess {
 public:
  explicit CredstoredProcess(CredstoredConfig config);
  // Kills the child if still running (SIGKILL), without checks: Stop() is the checked way.
  ~CredstoredProcess();
  CredstoredProcess(const CredstoredProcess&) = delete;
  CredstoredProcess& operator=(const CredstoredProcess&) = delete;

  // Starts the server; throws std::runtime_error (with the log's tail) if it exits or writes no
  // port within `timeout`.
  void Start(std::chrono::milliseconds timeout = std::chrono::seconds(30));
  // SIGTERM, then waits up to `timeout` for the exit (SIGKILL after that).
  ExitInfo Stop(std::chrono::milliseconds timeout = std::chrono::seconds(30));
  // SIGKILL: a crash.
  ExitInfo Kill();
  // Sends SIGTERM without waiting; WaitForExit() collects the result.
  void SignalTerm();
  ExitInfo WaitForExit(std::chrono::milliseconds timeout);

  bool running() const { return pid_ > 0; }
  pid_t pid() const { return pid_; }
  std::uint16_t port() const { return port_; }
  std::uint16_t operator_port() const { return operator_port_; }
  const CredstoredConfig& config() const { return config_; }
  // Everything the server wrote to stdout and stderr so far.
  std::string Log() const;
  std::filesystem::path log_path() const { return config_.work_dir / "credstored.log"; }

 private:
  CredstoredConfig config_;
  pid_t pid_ = -1;
  std::uint16_t port_ = 0;
  std::uint16_t operator_port_ = 0;
};

// A field of /proc/<pid>/status in KiB (VmHWM, VmRSS), or -1 when unreadable.
long ProcStatusKiB(pid_t pid, const std::string& field);

}  // namespace credstore::http_tests

#endif  // CREDSTORE_TESTS_HTTP_CREDSTORED_PROCESS_H_
