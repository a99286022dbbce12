#include "operator_client.h"

#include <sodium.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/beast/core/basic_stream.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/field.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <charconv>
#include <utility>

namespace credstore::cli {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace beast_http = beast::http;
using Request = beast_http::request<beast_http::string_body>;
using UnixStream = beast::basic_stream<asio::local::stream_protocol>;

// A page of 1000 integrators with long labels is well under this.
constexpr std::uint64_t kMaxResponseBytes = 16 * 1024 * 1024;

// Starts an asynchronous operation and runs the io_context until it completes. The stream's
// timer (expires_after) ends it with beast::error::timeout when the peer stalls.
template <typename Start>
beast::error_code RunToCompletion(asio::io_context& io, Start start) {
  beast::error_code result = asio::error::would_block;
  start([&result](beast::error_code ec, auto&&...) { result = ec; });
  io.restart();
  io.run();
  return result;
}

std::string Explain(std::string_view step, const beast::error_code& ec) {
  if (ec == beast::error::timeout) return std::string(step) + " timed out";
  return std::string(step) + " failed: " + ec.message();
}

// Writes `request` and reads the response on a connected stream.
template <typename Stream>
std::variant<HttpReply, std::string> Exchange(asio::io_context& io, Stream& stream,
                                              const Request& request,
                                              std::chrono::seconds timeout) {
  stream.expires_after(timeout);
  beast::error_code ec = RunToCompletion(
      io, [&](auto handler) { beast_http::async_write(stream, request, std::move(handler)); });
  if (ec) return Explain("sending the request", ec);

  beast::flat_buffer buffer;
  beast_http::response_parser<beast_http::string_body> parser;
  parser.body_limit(kMaxResponseBytes);
  stream.expires_after(timeout);
  ec = RunToCompletion(io, [&](auto handler) {
    beast_http::async_read(stream, buffer, parser, std::move(handler));
  });
  if (ec) return Explain("reading the response", ec);

  auto response = parser.release();
  HttpReply reply;
  reply.status = response.result_int();
  reply.content_type = std::string(response[beast_http::field::content_type]);
  reply.body = std::move(response.body());
  beast::error_code ignored;
  stream.socket().shutdown(asio::socket_base::shutdown_both, ignored);
  return reply;
}

}  // namespace

std::optional<Endpoint> ParseHostPort(std::string_view text) {
  Endpoint endpoint;
  std::string_view port;
  if (text.starts_with('[')) {
    const std::size_t close = text.find(']');
    if (close == std::string_view::npos || text.substr(close + 1, 1) != ":") return std::nullopt;
    endpoint.host = std::string(text.substr(1, close - 1));
    port = text.substr(close + 2);
  } else {
    const std::size_t colon = text.rfind(':');
    if (colon == std::string_view::npos) return std::nullopt;
    endpoint.host = std::string(text.substr(0, colon));
    port = text.substr(colon + 1);
    // A bare IPv6 address needs brackets to tell its colons from the port's.
    if (endpoint.host.find(':') != std::string::npos) return std::nullopt;
  }
  unsigned value = 0;
  const auto [end, error] = std::from_chars(port.data(), port.data() + port.size(), value);
  if (endpoint.host.empty() || port.empty() || error != std::errc() ||
      end != port.data() + port.size() || value == 0 || value > 65535) {
    return std::nullopt;
  }
  endpoint.port = std::string(port);
  return endpoint;
}

std::string Describe(const Endpoint& endpoint) {
  if (!endpoint.socket_path.empty()) return "unix:" + endpoint.socket_path;
  if (endpoint.host.find(':') != std::string::npos) {
    return "[" + endpoint.host + "]:" + endpoint.port;
  }
  return endpoint.host + ":" + endpoint.port;
}

OperatorClient::OperatorClient(Endpoint endpoint, std::chrono::seconds timeout)
    : endpoint_(std::move(endpoint)), timeout_(timeout) {}

std::variant<HttpReply, std::string> OperatorClient::Send(beast_http::verb method,
                                                          std::string_view target,
                                                          std::string_view json_body,
                                                          std::string_view token) const {
  Request request(method, target, 11);
  request.set(beast_http::field::host,
              endpoint_.socket_path.empty() ? Describe(endpoint_) : std::string("localhost"));
  request.set(beast_http::field::user_agent, "credstore-cli");
  request.set(beast_http::field::accept, "application/json, application/problem+json");
  request.set(beast_http::field::connection, "close");
  std::string authorization;
  if (!token.empty()) {
    authorization = "Bearer " + std::string(token);
    request.set(beast_http::field::authorization, authorization);
    sodium_memzero(authorization.data(), authorization.size());
  }
  if (!json_body.empty()) {
    request.set(beast_http::field::content_type, "application/json");
    request.body() = std::string(json_body);
  }
  request.prepare_payload();

  asio::io_context io;
  std::variant<HttpReply, std::string> outcome;
  if (!endpoint_.socket_path.empty()) {
    UnixStream stream(io);
    stream.expires_after(timeout_);
    const asio::local::stream_protocol::endpoint peer(endpoint_.socket_path);
    beast::error_code ec =
        RunToCompletion(io, [&](auto handler) { stream.async_connect(peer, std::move(handler)); });
    outcome = ec ? std::variant<HttpReply, std::string>(Explain("connecting", ec))
                 : Exchange(io, stream, request, timeout_);
  } else {
    asio::ip::tcp::resolver resolver(io);
    beast::error_code ec;
    auto peers = resolver.resolve(endpoint_.host, endpoint_.port, ec);
    if (ec) {
      outcome = Explain("resolving " + endpoint_.host, ec);
    } else {
      beast::tcp_stream stream(io);
      stream.expires_after(timeout_);
      ec = RunToCompletion(io,
                           [&](auto handler) { stream.async_connect(peers, std::move(handler)); });
      outcome = ec ? std::variant<HttpReply, std::string>(Explain("connecting", ec))
                   : Exchange(io, stream, request, timeout_);
    }
  }
  // The request's copies of the token and of any key or secret in the body.
  auto wipe = [](std::string_view bytes) {
    sodium_memzero(const_cast<char*>(bytes.data()), bytes.size());
  };
  wipe(request[beast_http::field::authorization]);
  wipe(request.body());
  return outcome;
}

}  // namespace credstore::cli
