// The upstream behind the gateway in tests/gateway: a tiny loopback HTTP/1.1 server in the test
// process that records every request it receives (method, target, headers, body) and plays the
// part docs/gateways.md gives an upstream: it trusts the X-Credstore-* headers, and checks the
// body it got against X-Credstore-Body-SHA256 when that header is present, answering 400 on a
// mismatch (the MAC covered the hash, only this check ties the hash to the bytes) and 200
// otherwise. Keep-alive is supported, as nginx's upstream keepalive reuses connections.
//
// Thread safety: Requests() and count() may be called from any thread while it serves.
#ifndef CREDSTORE_TESTS_GATEWAY_UPSTREAM_SERVER_H_
#define CREDSTORE_TESTS_GATEWAY_UPSTREAM_SERVER_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "support/test_helpers.h"

namespace credstore::gateway_tests {

struct UpstreamRequest {
  std::string method;
  std::string target;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  unsigned answered = 0;  // the status the upstream answered

  // The first header of that name (case-insensitive), or nullopt.
  std::optional<std::string> Header(std::string_view name) const;
};

// The upstream's body check compares X-Credstore-Body-SHA256 with this (lowercase hex SHA-256).
using credstore::testing::Sha256Hex;

class UpstreamServer {
 public:
  // Listens on 127.0.0.1 (a free port) and serves on threads of its own.
  UpstreamServer();
  // Stops accepting, ends every connection and joins the threads.
  ~UpstreamServer();
  UpstreamServer(const UpstreamServer&) = delete;
  UpstreamServer& operator=(const UpstreamServer&) = delete;

  std::uint16_t port() const { return port_; }
  std::vector<UpstreamRequest> Requests() const;
  std::size_t count() const;

 private:
  void AcceptLoop();
  void Serve(int fd);

  int listen_fd_ = -1;
  std::uint16_t port_ = 0;
  std::atomic<bool> stopping_{false};
  std::thread accept_thread_;
  mutable std::mutex mutex_;  // guards everything below
  std::vector<UpstreamRequest> requests_;
  std::vector<int> connection_fds_;
  std::vector<std::thread> connection_threads_;
};

}  // namespace credstore::gateway_tests

#endif  // CREDSTORE_TESTS_GATEWAY_UPSTREAM_SERVER_H_
