// A tiny HTTP/1.1 client for black-box tests of credstored.
//
// Requests are raw bytes, sent exactly as given, so a test can send what no well-behaved client
// would: absolute-form targets, duplicate query parameters or headers, a wrong Content-Length,
// bytes that are not UTF-8. Responses are parsed with Beast's parser.
//
// Every call is bounded: connecting, sending and reading each give up after the timeout. The
// client may bind its end of the connection to any address of 127.0.0.0/8, so that the server
// sees a different client address (credstore throttles failed attempts per address).
//
// Thread safety: a Connection belongs to one thread; distinct Connections may be used at once.
#ifndef CREDSTORE_TESTS_HTTP_HTTP_CLIENT_H_
#define CREDSTORE_TESTS_HTTP_HTTP_CLIENT_H_

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace credstore::http_tests {

struct HttpResponse {
  // 0 when no complete response arrived; `error` then says why.
  unsigned status = 0;
  std::string error;
  std::vector<std::pair<std::string, std::string>> headers;  // in order received
  std::string body;

  // The first header of that name (case-insensitive), or nullopt.
  std::optional<std::string> Header(std::string_view name) const;
  std::size_t HeaderCount(std::string_view name) const;
  // Everything received, as text, for failure messages and leak checks.
  std::string Describe() const;
};

struct ClientOptions {
  std::string source_address = "127.0.0.1";  // the local end of the connection
  std::chrono::milliseconds timeout = std::chrono::seconds(30);
};

class Connection {
 public:
  // Connects to 127.0.0.1:port. On failure, ok() is false and error() says why.
  Connection(std::uint16_t port, const ClientOptions& options = {});
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  bool ok() const { return fd_ >= 0; }
  const std::string& error() const { return error_; }

  // Sends every byte (errors are remembered: a server may answer and close before reading all
  // of a large body, and that answer is still read).
  void Send(std::string_view bytes);
  // Closes the sending half, so the server sees the end of the request stream.
  void ShutdownSend();
  // Reads one response (bytes after it are kept for the next call).
  HttpResponse ReadResponse();
  // True when the server closes the connection (end of stream or reset) within `timeout`;
  // false when it is still open then. Bytes that arrive meanwhile are kept for ReadResponse.
  bool WaitForClose(std::chrono::milliseconds timeout);

 private:
  int fd_ = -1;
  std::string error_;
  std::string send_error_;
  std::string pending_;  // received but not yet parsed
  std::chrono::milliseconds timeout_;
};

// Connects, sends `request`, reads one response, closes.
HttpResponse SendRaw(std::uint16_t port, std::string_view request,
                     const ClientOptions& options = {});

// Builds a request with `Host`, `Content-Length` (when a body is given or `force_length`) and
// `Connection: close`. `headers` are extra header lines, each ending in "\r\n".
std::string BuildRequest(std::string_view method, std::string_view target,
                         std::string_view headers = {}, std::string_view body = {},
                         bool force_length = false);

}  // namespace credstore::http_tests

#endif  // CREDSTORE_TESTS_HTTP_HTTP_CLIENT_H_
