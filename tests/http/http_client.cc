#include "http/http_client.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio/buffer.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>
#include <cerrno>
#include <cstring>
#include <sstream>

namespace credstore::http_tests {
namespace {

namespace beast_http = boost::beast::http;
using Clock = std::chrono::steady_clock;

bool IEquals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    auto lower = [](char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c; };
    if (lower(a[i]) != lower(b[i])) return false;
  }
  return true;
}

std::string ErrnoText(const char* what) { return std::string(what) + ": " + std::strerror(errno); }

// Waits until `fd` is ready for `events` or the deadline passes.
bool WaitFor(int fd, short events, Clock::time_point deadline) {
  for (;;) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if (left <= 0) return false;
    pollfd entry{fd, events, 0};
    const int ready = poll(&entry, 1, static_cast<int>(left));
    if (ready > 0) return true;
    if (ready < 0 && errno != EINTR) return false;
  }
}

}  // namespace

std::optional<std::string> HttpResponse::Header(std::string_view name) const {
  for (const auto& [key, value] : headers) {
    if (IEquals(key, name)) return value;
  }
  return std::nullopt;
}

std::size_t HttpResponse::HeaderCount(std::string_view name) const {
  std::size_t count = 0;
  for (const auto& header : headers) count += IEquals(header.first, name) ? 1 : 0;
  return count;
}

std::string HttpResponse::Describe() const {
  std::ostringstream out;
  if (status == 0) {
    out << "(no response: " << error << ")";
    return out.str();
  }
  out << status << "\n";
  for (const auto& [key, value] : headers) out << key << ": " << value << "\n";
  out << "\n" << body;
  return out.str();
}

Connection::Connection(std::uint16_t port, const ClientOptions& options)
    : timeout_(options.timeout) {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) {
    error_ = ErrnoText("socket");
    return;
  }
  sockaddr_in local{};
  local.sin_family = AF_INET;
  if (inet_pton(AF_INET, options.source_address.c_str(), &local.sin_addr) != 1) {
    error_ = "bad source address " + options.source_address;
    close(fd);
    return;
  }
  if (bind(fd, reinterpret_cast<const sockaddr*>(&local), sizeof local) != 0) {
    error_ = ErrnoText("bind");
    close(fd);
    return;
  }
  sockaddr_in remote{};
  remote.sin_family = AF_INET;
  remote.sin_port = htons(port);
  remote.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  const auto deadline = Clock::now() + timeout_;
  if (connect(fd, reinterpret_cast<const sockaddr*>(&remote), sizeof remote) != 0) {
    if (errno != EINPROGRESS) {
      error_ = ErrnoText("connect");
      close(fd);
      return;
    }
    if (!WaitFor(fd, POLLOUT, deadline)) {
      error_ = "connect timed out";
      close(fd);
      return;
    }
    int so_error = 0;
    socklen_t length = sizeof so_error;
    getsockopt(fd, SOL_SOCKET, SO_ERROR, &so_error, &length);
    if (so_error != 0) {
      error_ = std::string("connect: ") + std::strerror(so_error);
      close(fd);
      return;
    }
  }
  fd_ = fd;
}

Connection::~Connection() {
  if (fd_ >= 0) close(fd_);
}

void Connection::Send(std::string_view bytes) {
  if (fd_ < 0 || !send_error_.empty()) return;
  const auto deadline = Clock::now() + timeout_;
  while (!bytes.empty()) {
    const ssize_t sent = send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (sent > 0) {
      bytes.remove_prefix(static_cast<std::size_t>(sent));
      continue;
    }
    if (sent < 0 && errno == EINTR) continue;
    if (sent < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      // The server may have stopped reading (it answered early); stop sending and read.
      if (!WaitFor(fd_, POLLOUT, deadline)) {
        send_error_ = "send timed out";
        return;
      }
      continue;
    }
    send_error_ = ErrnoText("send");
    return;
  }
}

void Connection::ShutdownSend() {
  if (fd_ >= 0) shutdown(fd_, SHUT_WR);
}

HttpResponse Connection::ReadResponse() {
  HttpResponse response;
  if (fd_ < 0) {
    response.error = error_;
    return response;
  }
  beast_http::response_parser<beast_http::string_body> parser;
  parser.eager(true);
  parser.body_limit(64 * 1024 * 1024);
  const auto deadline = Clock::now() + timeout_;
  bool eof = false;
  boost::beast::error_code ec;
  while (!parser.is_done()) {
    // Feed what we have; the parser takes what it can.
    while (!pending_.empty() && !parser.is_done()) {
      const std::size_t used =
          parser.put(boost::asio::buffer(pending_.data(), pending_.size()), ec);
      pending_.erase(0, used);
      if (ec == beast_http::error::need_more) {
        ec = {};
        break;
      }
      if (ec) {
        response.error = "malformed response: " + ec.message();
        return response;
      }
      if (used == 0) break;
    }
    if (parser.is_done()) break;
    if (eof) {
      // Closed before a single byte of a response: put_eof would "complete" an empty parser
      // into a default 200 with no fields, so this case is answered here.
      if (!parser.got_some()) {
        response.error = "connection closed without a response" +
                         (send_error_.empty() ? std::string() : " (" + send_error_ + ")");
        return response;
      }
      parser.put_eof(ec);
      if (ec || !parser.is_done()) {
        response.error = "connection closed before a complete response" +
                         (send_error_.empty() ? std::string() : " (" + send_error_ + ")");
        return response;
      }
      break;
    }
    if (!WaitFor(fd_, POLLIN, deadline)) {
      response.error = "timed out waiting for the response";
      return response;
    }
    char chunk[16384];
    const ssize_t received = recv(fd_, chunk, sizeof chunk, 0);
    if (received > 0) {
      pending_.append(chunk, static_cast<std::size_t>(received));
    } else if (received == 0) {
      eof = true;
    } else if (errno != EINTR && errno != EAGAIN && errno != EWOULDBLOCK) {
      response.error = ErrnoText("recv");
      return response;
    }
  }
  auto message = parser.release();
  response.status = message.result_int();
  for (const auto& field : message) {
    response.headers.emplace_back(std::string(field.name_string()), std::string(field.value()));
  }
  response.body = std::move(message.body());
  return response;
}

bool Connection::WaitForClose(std::chrono::milliseconds timeout) {
  if (fd_ < 0) return true;
  const auto deadline = Clock::now() + timeout;
  for (;;) {
    if (!WaitFor(fd_, POLLIN, deadline)) return false;
    char chunk[4096];
    const ssize_t received = recv(fd_, chunk, sizeof chunk, 0);
    if (received > 0) {
      pending_.append(chunk, static_cast<std::size_t>(received));
      continue;
    }
    if (received == 0) return true;
    if (errno != EINTR && errno != EAGAIN && errno != EWOULDBLOCK) return true;  // reset
  }
}

HttpResponse SendRaw(std::uint16_t port, std::string_view request, const ClientOptions& options) {
  Connection connection(port, options);
  if (!connection.ok()) {
    HttpResponse failed;
    failed.error = connection.error();
    return failed;
  }
  connection.Send(request);
  return connection.ReadResponse();
}

std::string BuildRequest(std::string_view method, std::string_view target, std::string_view headers,
                         std::string_view body, bool force_length) {
  std::string request;
  request.reserve(256 + headers.size() + body.size());
  request.append(method).append(" ").append(target).append(" HTTP/1.1\r\n");
  request.append("Host: 127.0.0.1\r\n");
  request.append(headers);
  if (!body.empty() || force_length) {
    request.append("Content-Length: ").append(std::to_string(body.size())).append("\r\n");
  }
  request.append("Connection: close\r\n\r\n");
  request.append(body);
  return request;
}

}  // namespace credstore::http_tests
