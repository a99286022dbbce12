// The `credstore` command as a subprocess, for the tests that run it: the operator routes it
// calls (operator, backup, master-key rotation) and its local commands (migrate).
//
// Thread safety: these use BOOST_TEST; call them from the test's own thread.
#ifndef CREDSTORE_TESTS_HTTP_CLI_PROCESS_H_
#define CREDSTORE_TESTS_HTTP_CLI_PROCESS_H_

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace credstore::http_tests {

// How one run ended and what it wrote.
struct CommandRun {
  bool exited = false;  // false: killed by a signal (see `signal`)
  int code = -1;        // exit code when `exited`
  int signal = 0;       // the signal that ended it, when not `exited`
  std::string out;
  std::string err;
  std::string Describe() const;
};

// Runs the credstore command (Args().credstore_cli) with `args`, `stdin_text` on stdin and the
// environment of this process changed by `environment`: a NAME=VALUE entry replaces the
// variable of that name (or adds it), a bare NAME removes it. Kills it after 60 s (a failed
// check). Its stdout and stderr are captured whole.
CommandRun RunCredstore(const std::vector<std::string>& args, std::string_view stdin_text = {},
                        const std::vector<std::string>& environment = {});

// RunCredstore with CREDSTORE_OPERATOR_TOKEN set to `token`, or unset when nullopt.
using CliRun = CommandRun;
CliRun RunCli(const std::vector<std::string>& args, std::string_view stdin_text,
              const std::optional<std::string>& token);

}  // namespace credstore::http_tests

#endif  // CREDSTORE_TESTS_HTTP_CLI_PROCESS_H_
