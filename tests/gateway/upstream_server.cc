#include "gateway/upstream_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/beast/core/string.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>
#include <cerrno>
#include <stdexcept>

namespace credstore::gateway_tests {
namespace {

namespace beast_http = boost::beast::http;

// Reads one request from `fd` into `parser`, keeping bytes after it in `pending`. False when
// the connection ended or broke first.
bool ReadRequest(int fd, std::string& pending,
                 beast_http::request_parser<beast_http::string_body>& parser) {
  parser.eager(true);
  parser.body_limit(1024 * 1024);
  boost::beast::error_code error;
  for (;;) {
    if (!pending.empty()) {
      const std::size_t used = parser.put(boost::asio::buffer(pending), error);
      pending.erase(0, used);
      if (error == beast_http::error::need_more) {
        error = {};
      } else if (error) {
        return false;
      }
      if (parser.is_done()) return true;
      if (used != 0) continue;
    }
    char buffer[16 * 1024];
    const ssize_t got = ::recv(fd, buffer, sizeof buffer, 0);
    if (got <= 0) return false;
    pending.append(buffer, static_cast<std::size_t>(got));
  }
}

bool SendAll(int fd, std::string_view bytes) {
  while (!bytes.empty()) {
    const ssize_t sent = ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (sent <= 0) return false;
    bytes.remove_prefix(static_cast<std::size_t>(sent));
  }
  return true;
}

}  // namespace

std::optional<std::string> UpstreamRequest::Header(std::string_view name) const {
  for (const auto& [key, value] : headers) {
    if (boost::beast::iequals(key, name)) return value;
  }
  return std::nullopt;
}

UpstreamServer::UpstreamServer() {
  listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (listen_fd_ < 0) throw std::runtime_error("upstream: socket failed");
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof address;
  if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 ||
      ::listen(listen_fd_, 64) != 0 ||
      ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
    ::close(listen_fd_);
    throw std::runtime_error("upstream: cannot listen on 127.0.0.1");
  }
  port_ = ntohs(address.sin_port);
  accept_thread_ = std::thread([this] { AcceptLoop(); });
}

UpstreamServer::~UpstreamServer() {
  stopping_ = true;
  // shutdown(), not close(): it wakes a thread blocked in accept() or recv() on Linux.
  ::shutdown(listen_fd_, SHUT_RDWR);
  accept_thread_.join();
  std::vector<std::thread> threads;
  {
    std::lock_guard lock(mutex_);
    for (int fd : connection_fds_) ::shutdown(fd, SHUT_RDWR);
    threads.swap(connection_threads_);
  }
  for (std::thread& thread : threads) thread.join();
  std::lock_guard lock(mutex_);
  for (int fd : connection_fds_) ::close(fd);
  ::close(listen_fd_);
}

std::vector<UpstreamRequest> UpstreamServer::Requests() const {
  std::lock_guard lock(mutex_);
  return requests_;
}

std::size_t UpstreamServer::count() const {
  std::lock_guard lock(mutex_);
  return requests_.size();
}

void UpstreamServer::AcceptLoop() {
  while (!stopping_) {
    const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR) continue;
      return;  // shut down
    }
    std::lock_guard lock(mutex_);
    if (stopping_) {
      ::close(fd);
      return;
    }
    connection_fds_.push_back(fd);
    connection_threads_.emplace_back([this, fd] { Serve(fd); });
  }
}

void UpstreamServer::Serve(int fd) {
  std::string pending;
  while (!stopping_) {
    beast_http::request_parser<beast_http::string_body> parser;
    if (!ReadRequest(fd, pending, parser)) return;
    const auto& request = parser.get();
    UpstreamRequest seen;
    seen.method = std::string(request.method_string());
    seen.target = std::string(request.target());
    for (const auto& field : request) {
      seen.headers.emplace_back(std::string(field.name_string()), std::string(field.value()));
    }
    seen.body = request.body();
    // The upstream's one check: the body it got is the one whose hash was verified.
    const auto claimed = seen.Header("X-Credstore-Body-SHA256");
    const bool mismatch = claimed && *claimed != Sha256Hex(seen.body);
    seen.answered = mismatch ? 400 : 200;
    const std::string body =
        mismatch ? "body does not match X-Credstore-Body-SHA256\n" : "upstream ok\n";
    const bool keep_alive = request.keep_alive();
    std::string response =
        "HTTP/1.1 " + std::to_string(seen.answered) + (mismatch ? " Bad Request" : " OK") +
        "\r\nContent-Type: text/plain\r\nContent-Length: " + std::to_string(body.size()) + "\r\n" +
        (keep_alive ? "" : "Connection: close\r\n") + "\r\n" + body;
    {
      std::lock_guard lock(mutex_);
      requests_.push_back(std::move(seen));
    }
    if (!SendAll(fd, response) || !keep_alive) return;
  }
}

}  // namespace credstore::gateway_tests
