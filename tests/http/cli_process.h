// The `credstore` operator command as a subprocess, for the tests that run it (the operator
// tests, the master-key rotation test).
//
// Thread safety: RunCli uses BOOST_TEST; call it from the test's own thread.
#ifndef CREDSTORE_TESTS_HTTP_CLI_PROCESS_H_
#define CREDSTORE_TESTS_HTTP_CLI_PROCESS_H_

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace credstore::http_tests {

struct CliRun {
  bool exited = false;
  int code = -1;
  std::string out;
  std::string err;
  std::string Describe() const {
    return "exit " + (exited ? std::to_string(code) : std::string("abnormal")) +
           "; stdout: " + out + "; stderr: " + err;
  }
};

// Runs Args().credstore_cli with `args`, `stdin_text` on stdin and CREDSTORE_OPERATOR_TOKEN set
// to `token` (unset when nullopt); kills it after 30 s (a failed check). Its stdout and stderr
// are captured whole.
CliRun RunCli(const std::vector<std::string>& args, std::string_view stdin_text,
              const std::optional<std::string>& token);

}  // namespace credstore::http_tests

#endif  // CREDSTORE_TESTS_HTTP_CLI_PROCESS_H_
