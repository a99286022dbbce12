// A host's own Boost.Beast server that protects two routes of its own with credstore::http:
//   GET  /geofencing/1/fences  a customer's admin key (?key=&adminKey=, or X-Api-Key/X-Admin-Key)
//   POST /v1/orders            an integrator's signature (X-Integrator-Key/-Timestamp/-Signature)
// Usage: host_server [port]   (default 0: any free port on 127.0.0.1; SIGINT or SIGTERM stops it)
//
// Over a memory store, it registers a demo customer and integrator at start and prints them on
// one line for its test (example.host_server). A real host never prints a key or a secret.
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <string>

#include "credstore/audit.h"
#include "credstore/backends/memory.h"
#include "credstore/credential_store.h"
#include "credstore/http/async_verify.h"
#include "credstore/http/beast_helpers.h"
#include "credstore/http/problem.h"

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using asio::use_awaitable;
using credstore::http::Request;
using credstore::http::Response;

// What every connection shares; both outlive the event loop.
struct Host {
  credstore::CredentialStore& store;
  credstore::http::VerifyExecutor& verifier;
};

Response Reply(const Request& request, bhttp::status status, std::string body) {
  Response response(status, request.version());
  response.set(bhttp::field::content_type, "application/json");
  response.keep_alive(request.keep_alive());
  response.body() = std::move(body);
  response.prepare_payload();
  return response;
}

// A refused credential as the library's problem document: 400, 401, 404, 429, 503 or 500.
Response Refuse(const Request& request, const credstore::Status& status) {
  credstore::http::RequestMeta meta;
  meta.http_version = request.version();
  meta.keep_alive = request.keep_alive();
  return credstore::http::MakeProblem(credstore::http::HttpStatusFor(status), status.message(),
                                      meta);
}

asio::awaitable<Response> Handle(Host host, Request request) {
  const std::string_view target = request.target();
  const std::string_view path = target.substr(0, target.find('?'));
  if (path == "/geofencing/1/fences" && request.method() == bhttp::verb::get) {
    auto keys = credstore::http::AdminKeyCredentialsOf(request);
    if (!keys.ok()) co_return Refuse(request, keys.status());
    auto checked = co_await credstore::http::async_verify_admin_key(
        host.store, host.verifier, "geofencing", keys->api_key(), keys->admin_key(), use_awaitable);
    if (!checked.ok()) co_return Refuse(request, checked.status());
    co_return Reply(request, bhttp::status::ok,
                    R"({"customer":")" + checked->customer_id + R"(","fences":[]})");
  }
  if (path == "/v1/orders" && request.method() == bhttp::verb::post) {
    auto parts = credstore::http::SignedRequestOf(request);
    if (!parts.ok()) co_return Refuse(request, parts.status());
    auto verified = co_await credstore::http::async_verify_signed_request(
        host.store, host.verifier, credstore::http::OwnedSignedRequest(*parts), use_awaitable);
    if (!verified.ok()) co_return Refuse(request, verified.status());
    co_return Reply(request, bhttp::status::ok,
                    R"({"integrator":")" + verified->integrator_id + R"(","order":"accepted"})");
  }
  co_return Refuse(request, credstore::Status::NotFound("no such route"));
}

asio::awaitable<void> Session(Host host, asio::ip::tcp::socket socket) {
  beast::tcp_stream stream(std::move(socket));
  beast::flat_buffer buffer;
  for (;;) {
    Request request;
    stream.expires_after(std::chrono::seconds(30));  // a silent client cannot hold a session
    auto [read_error, read] =
        co_await bhttp::async_read(stream, buffer, request, asio::as_tuple(use_awaitable));
    if (read_error) co_return;  // closed, timed out or malformed: drop the connection
    Response response = co_await Handle(host, std::move(request));
    auto [write_error, written] =
        co_await bhttp::async_write(stream, response, asio::as_tuple(use_awaitable));
    if (write_error || !response.keep_alive()) co_return;
  }
}

asio::awaitable<void> Listen(Host host, asio::ip::tcp::acceptor& acceptor) {
  for (;;) {
    auto [error, socket] = co_await acceptor.async_accept(asio::as_tuple(use_awaitable));
    if (error) co_return;  // the acceptor was closed: shutting down
    asio::co_spawn(acceptor.get_executor(), Session(host, std::move(socket)), asio::detached);
  }
}

int main(int argc, char** argv) {
  credstore::Options options;
  options.argon2 = credstore::Argon2Cost::MinimumForTests();  // fast, and unsafe in production
  options.audit = std::make_shared<credstore::NullAuditSink>();
  auto opened = credstore::CredentialStore::Open(std::make_shared<credstore::MemoryBackend>(),
                                                 credstore::Keyring::Generate(), options);
  if (!opened.ok()) {
    std::cerr << "host_server: " << opened.status().ToString() << '\n';
    return EXIT_FAILURE;
  }
  credstore::CredentialStore& store = **opened;
  const credstore::RequestContext start{.client_address = "", .request_id = "host-start"};
  auto customer = store.Register(start, "geofencing", "demo_customer_1", "demo secret");
  auto integrator = store.CreateIntegrator(start, "demo integrator");
  if (!customer.ok() || !integrator.ok()) {
    std::cerr << "host_server: " << customer.status().ToString() << ' '
              << integrator.status().ToString() << '\n';
    return EXIT_FAILURE;
  }

  asio::io_context io;
  // Declared after `io`, so destroyed first: checks still queued are dropped with their handlers
  // while the coroutines those handlers resume still exist.
  credstore::http::VerifyExecutor verifier(2);
  const auto port = static_cast<unsigned short>(argc > 1 ? std::atoi(argv[1]) : 0);
  asio::ip::tcp::acceptor acceptor(io, {asio::ip::make_address("127.0.0.1"), port});
  asio::signal_set signals(io, SIGINT, SIGTERM);
  signals.async_wait([&](boost::system::error_code, int) {
    acceptor.close();
    io.stop();  // open sessions are abandoned: this is an example, not a graceful server
  });
  asio::co_spawn(io, Listen(Host{store, verifier}, acceptor), asio::detached);

  std::cout << "host_server: port=" << acceptor.local_endpoint().port()
            << " api_key=demo_customer_1 admin_key=" << customer->admin_key.view()
            << " integrator_id=" << integrator->integrator_id
            << " integrator_secret=" << integrator->secret.view() << std::endl;
  io.run();
  return EXIT_SUCCESS;
}
