// The `credstore` command's HTTP client for credstored's operator listener.
//
// One connection per request (`Connection: close`): an operator command makes a handful of
// calls, so keeping connections buys nothing and a fresh one never trips over a half-closed
// socket. Every step (connect, write, read) has a deadline: Beast's stream operations run to
// completion on a private io_context with the stream's timer armed, so a stuck listener ends the
// command instead of hanging it.
//
// Thread safety: an OperatorClient is used from one thread.
#ifndef CREDSTORE_ADAPTERS_CLI_SRC_OPERATOR_CLIENT_H_
#define CREDSTORE_ADAPTERS_CLI_SRC_OPERATOR_CLIENT_H_

#include <boost/beast/http/verb.hpp>
#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

namespace credstore::cli {

// Where the operator listener is: a TCP host and port, or a unix socket path.
struct Endpoint {
  std::string host;         // TCP: a name, an IPv4 address, or an IPv6 address without brackets
  std::string port;         // TCP: decimal
  std::string socket_path;  // non-empty: connect to this unix socket instead
};

// Parses "host:port" or "[ipv6]:port"; nullopt when malformed.
std::optional<Endpoint> ParseHostPort(std::string_view text);

// A display form for messages: "127.0.0.1:8081" or "unix:/run/credstore/operator.sock".
std::string Describe(const Endpoint& endpoint);

struct HttpReply {
  unsigned status = 0;
  std::string content_type;
  std::string body;
};

class OperatorClient {
 public:
  // `timeout` bounds each of connect, write and read.
  OperatorClient(Endpoint endpoint, std::chrono::seconds timeout);

  // Sends one request and reads the whole response. `token` empty: no Authorization header.
  // `json_body` non-empty: sent as application/json. Returns the reply, or a message saying why
  // none came (the message never contains the token or the body).
  std::variant<HttpReply, std::string> Send(boost::beast::http::verb method,
                                            std::string_view target, std::string_view json_body,
                                            std::string_view token) const;

 private:
  Endpoint endpoint_;
  std::chrono::seconds timeout_;
};

}  // namespace credstore::cli

#endif  // CREDSTORE_ADAPTERS_CLI_SRC_OPERATOR_CLIENT_H_
