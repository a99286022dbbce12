// The `credstore` command as a subprocess, for the tests of its local commands (migrate) and of
// the routes it calls (backup).
#ifndef CREDSTORE_TESTS_HTTP_CLI_PROCESS_H_
#define CREDSTORE_TESTS_HTTP_CLI_PROCESS_H_

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
// environment of this process plus `environment` (NAME=VALUE entries, which replace ones of the
// same name). Kills it after 60 s.
CommandRun RunCredstore(const std::vector<std::string>& args, std::string_view stdin_text = {},
                        const std::vector<std::string>& environment = {});

}  // namespace credstore::http_tests

#endif  // CREDSTORE_TESTS_HTTP_CLI_PROCESS_H_
