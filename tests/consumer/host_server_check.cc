// Drives examples/host_server.cc over loopback (example.host_server, and the consumer tests):
//   host_server_check <path of host_server>
// starts the server as a child, reads the demo credentials it prints, sends good and bad
// requests to both protected routes, stops it with SIGTERM and expects a clean exit. Any
// unexpected answer ends the check with a non-zero status and says which request it was.
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <map>
#include <sstream>
#include <string>
#include <thread>

#include "credstore/signed_request.h"
#include "http/http_client.h"

namespace {

using credstore::http_tests::BuildRequest;
using credstore::http_tests::SendRaw;

pid_t child = -1;

[[noreturn]] void Fail(const std::string& what) {
  std::cerr << "host_server_check: " << what << '\n';
  if (child > 0) kill(child, SIGKILL);
  std::exit(EXIT_FAILURE);
}

// Starts the server with its stdout on a pipe and returns its start-up line's fields
// ("port=8080 api_key=..." as a map).
std::map<std::string, std::string> Start(const char* program) {
  int out[2];
  if (pipe(out) != 0) Fail("pipe failed");
  const pid_t parent = getpid();
  child = fork();
  if (child < 0) Fail("fork failed");
  if (child == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);  // never outlives a crashed check
    if (getppid() != parent) _exit(127);
    dup2(out[1], STDOUT_FILENO);
    close(out[0]);
    close(out[1]);
    execl(program, program, static_cast<char*>(nullptr));
    _exit(127);
  }
  close(out[1]);
  std::string line;
  char c = 0;
  while (read(out[0], &c, 1) == 1 && c != '\n') line += c;
  close(out[0]);
  std::map<std::string, std::string> fields;
  std::istringstream words(line);
  for (std::string word; words >> word;) {
    const std::size_t equals = word.find('=');
    if (equals != std::string::npos) fields[word.substr(0, equals)] = word.substr(equals + 1);
  }
  for (const char* name : {"port", "api_key", "admin_key", "integrator_id", "integrator_secret"}) {
    if (fields[name].empty()) Fail("no " + std::string(name) + " in the start-up line: " + line);
  }
  return fields;
}

void Expect(std::uint16_t port, const std::string& what, const std::string& request,
            unsigned status) {
  const credstore::http_tests::HttpResponse response = SendRaw(port, request);
  if (response.status != status) {
    Fail(what + ": expected " + std::to_string(status) + ", got " + response.Describe());
  }
  std::cout << "host_server_check: " << what << ": " << status << '\n';
}

std::string Now() {
  return std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(
                            std::chrono::system_clock::now().time_since_epoch())
                            .count());
}

// The signature headers of POST /v1/orders with `body`, signed with `secret`.
std::string SignedHeaders(const std::string& id, const std::string& secret,
                          const std::string& body) {
  const std::string timestamp = Now();
  return "X-Integrator-Key: " + id + "\r\nX-Timestamp: " + timestamp + "\r\nX-Signature: " +
         credstore::SignRequest(secret, timestamp, "POST", "/v1/orders", body) +
         "\r\nContent-Type: application/json\r\n";
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) Fail("usage: host_server_check <path of host_server>");
  auto fields = Start(argv[1]);
  const auto port = static_cast<std::uint16_t>(std::stoi(fields["port"]));
  const std::string key = fields["api_key"];
  const std::string admin_key = fields["admin_key"];
  const std::string fences = "/geofencing/1/fences?key=" + key;

  Expect(port, "fences, keys in the query", BuildRequest("GET", fences + "&adminKey=" + admin_key),
         200);
  Expect(port, "fences, keys in headers",
         BuildRequest("GET", "/geofencing/1/fences",
                      "X-Api-Key: " + key + "\r\nX-Admin-Key: " + admin_key + "\r\n"),
         200);
  Expect(port, "fences, wrong admin key",
         BuildRequest("GET", fences + "&adminKey=not-the-admin-key-of-anyone"), 401);
  Expect(port, "fences, no admin key", BuildRequest("GET", fences), 401);
  Expect(port, "fences, query and header disagree",
         BuildRequest("GET", fences + "&adminKey=" + admin_key, "X-Admin-Key: other\r\n"), 400);

  const std::string id = fields["integrator_id"];
  const std::string secret = fields["integrator_secret"];
  const std::string body = R"({"item":"fence sensor","quantity":2})";
  const std::string signed_order =
      BuildRequest("POST", "/v1/orders", SignedHeaders(id, secret, body), body);
  Expect(port, "orders, signed", signed_order, 200);
  Expect(port, "orders, the same request replayed", signed_order, 401);
  Expect(port, "orders, signed with another secret",
         BuildRequest("POST", "/v1/orders", SignedHeaders(id, "not the secret", body), body), 401);
  Expect(port, "orders, a header sent twice",
         BuildRequest("POST", "/v1/orders",
                      SignedHeaders(id, secret, body) + "X-Timestamp: " + Now() + "\r\n", body),
         401);
  Expect(port, "orders, no signature", BuildRequest("POST", "/v1/orders", "", body), 401);
  Expect(port, "an unknown route", BuildRequest("GET", "/v1/nothing"), 404);

  kill(child, SIGTERM);
  int status = 0;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (waitpid(child, &status, WNOHANG) != child) {
    if (std::chrono::steady_clock::now() > deadline) Fail("host_server did not stop on SIGTERM");
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  child = -1;
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) Fail("host_server did not exit cleanly");
  std::cout << "host_server_check: every answer as expected\n";
  return EXIT_SUCCESS;
}
