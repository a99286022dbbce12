// The helpers a host server uses to protect routes of its own (beast_helpers.h) and the
// asynchronous checks (async_verify.h), over a memory store (answers inline) and over one whose
// reads always "would block" (answers on the verifier's threads).
#include <boost/asio/bind_executor.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/use_future.hpp>
#include <boost/test/unit_test.hpp>
#include <chrono>
#include <future>
#include <memory>
#include <optional>
#include <string>
#include <thread>

#include "credstore/backends/memory.h"
#include "credstore/http/async_verify.h"
#include "credstore/http/beast_helpers.h"
#include "credstore/signed_request.h"
#include "support/test_helpers.h"

namespace credstore::http {
namespace {

namespace beast_http = boost::beast::http;
using namespace std::chrono_literals;
using testing::CountingBackend;

constexpr std::string_view kKey = "customer_key_1";
constexpr std::string_view kTarget = "/v1/orders?ref=7";
constexpr std::string_view kBody = R"({"item":"sensor"})";

struct HostFixture {
  // `would_block`: every read answers "would block", so every check goes to the verifier.
  explicit HostFixture(bool would_block = false) {
    Options options;
    options.argon2 = Argon2Cost::MinimumForTests();
    options.audit = std::make_shared<NullAuditSink>();
    backend = std::make_shared<CountingBackend>(
        std::make_shared<MemoryBackend>(), would_block ? CountingBackend::TryGetMode::kWouldBlock
                                                       : CountingBackend::TryGetMode::kForward);
    store = std::move(CredentialStore::Open(backend, Keyring::Generate(), options)).value();
    const RequestContext context{"198.51.100.4", "req-1"};
    admin_key =
        std::string(store->Register(context, "geofencing", kKey, "s3cret")->admin_key.view());
    auto created = store->CreateIntegrator(context, "acme");
    integrator_id = created->integrator_id;
    secret = std::string(created->secret.view());
  }

  Request Signed(std::string_view secret_to_use) const {
    const std::string timestamp =
        std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(
                           std::chrono::system_clock::now().time_since_epoch())
                           .count());
    Request request(beast_http::verb::post, kTarget, 11);
    request.set("X-Integrator-Key", integrator_id);
    request.set("X-Timestamp", timestamp);
    request.set("X-Signature", SignRequest(secret_to_use, timestamp, "POST", kTarget, kBody));
    request.body() = std::string(kBody);
    return request;
  }

  std::shared_ptr<CountingBackend> backend;
  std::unique_ptr<CredentialStore> store;
  VerifyExecutor verifier{2};
  std::string admin_key, integrator_id, secret;
};

Request Get(std::string target) { return Request(beast_http::verb::get, target, 11); }

// ---- AdminKeyCredentialsOf --------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(admin_key_credentials_from_the_query_or_the_headers) {
  auto from_query = AdminKeyCredentialsOf(Get("/fences?key=customer_key_1&adminKey=A1&x=y"));
  BOOST_REQUIRE(from_query.ok());
  BOOST_TEST(from_query->api_key() == kKey);
  BOOST_TEST(from_query->admin_key() == "A1");

  Request headers = Get("/fences");
  headers.set("X-Api-Key", kKey);
  headers.set("X-Admin-Key", "A1");
  auto from_headers = AdminKeyCredentialsOf(headers);
  BOOST_REQUIRE(from_headers.ok());
  BOOST_TEST(from_headers->admin_key() == "A1");

  Request both = Get("/fences?key=customer_key_1&adminKey=A1");
  both.set("X-Admin-Key", "A1");
  BOOST_TEST(AdminKeyCredentialsOf(both).ok());
}

BOOST_AUTO_TEST_CASE(ambiguous_or_malformed_admin_key_credentials_are_refused) {
  auto code = [](const Request& request) { return AdminKeyCredentialsOf(request).status().code(); };
  BOOST_TEST((code(Get("/f?key=customer_key_1&key=customer_key_1&adminKey=A")) ==
              StatusCode::kInvalidArgument));
  BOOST_TEST(
      (code(Get("/f?key=customer_key_1&adminKey=A&adminKey=A")) == StatusCode::kInvalidArgument));
  BOOST_TEST((code(Get("/f?key=customer_key_1&adminKey=%41")) == StatusCode::kInvalidArgument));
  BOOST_TEST((code(Get("/f?adminKey=A")) == StatusCode::kInvalidArgument));
  BOOST_TEST((code(Get("/f?key=short&adminKey=A")) == StatusCode::kInvalidArgument));
  BOOST_TEST((code(Get("/f?key=customer_key_1")) == StatusCode::kUnauthorized));
  BOOST_TEST((code(Get("/f?key=customer_key_1&adminKey=")) == StatusCode::kUnauthorized));

  Request disagree = Get("/f?key=customer_key_1&adminKey=A1");
  disagree.set("X-Admin-Key", "A2");
  auto refused = AdminKeyCredentialsOf(disagree);
  BOOST_TEST((refused.status().code() == StatusCode::kInvalidArgument));
  BOOST_TEST(refused.status().message().find("A1") == std::string::npos);  // never quoted

  Request twice = Get("/f?key=customer_key_1");
  twice.insert("X-Admin-Key", "A1");
  twice.insert("X-Admin-Key", "A1");
  BOOST_TEST((code(twice) == StatusCode::kInvalidArgument));
}

// ---- SignedRequestOf --------------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(signed_request_of_a_beast_request_verifies) {
  HostFixture host;
  Request request = host.Signed(host.secret);
  auto parts = SignedRequestOf(request);
  BOOST_REQUIRE(parts.ok());
  BOOST_TEST(parts->integrator_key == host.integrator_id);
  BOOST_TEST(parts->method == "POST");
  BOOST_TEST(parts->target == kTarget);
  BOOST_TEST(parts->body == kBody);
  const OwnedSignedRequest owned(*parts);
  BOOST_TEST(host.store->VerifySignedRequest(owned.view()).ok());
}

BOOST_AUTO_TEST_CASE(a_signature_header_sent_twice_is_unauthorized) {
  HostFixture host;
  for (const char* name : {"X-Integrator-Key", "X-Timestamp", "X-Signature"}) {
    Request request = host.Signed(host.secret);
    request.insert(name, std::string(request[name]));
    auto parts = SignedRequestOf(request);
    BOOST_TEST((parts.status().code() == StatusCode::kUnauthorized), name);
  }
}

// ---- async_verify_admin_key / async_verify_signed_request -------------------------------------

// The handler never runs inside the initiating call, inline answer or not: it is posted to its
// executor, here an io_context that only runs afterwards, on this thread.
BOOST_AUTO_TEST_CASE(callbacks_are_posted_to_their_executor_never_run_inline) {
  for (bool would_block : {false, true}) {
    HostFixture host(would_block);
    boost::asio::io_context io;
    std::optional<Result<AdminKeyCheck>> checked;
    std::optional<Result<VerifiedRequest>> verified;
    std::thread::id ran_on;
    Request signed_request = host.Signed(host.secret);
    const CountingBackend::Counts before = host.backend->counts();
    async_verify_admin_key(*host.store, host.verifier, "geofencing", kKey, host.admin_key,
                           boost::asio::bind_executor(io, [&](Result<AdminKeyCheck> answer) {
                             ran_on = std::this_thread::get_id();
                             checked = std::move(answer);
                           }));
    async_verify_signed_request(
        *host.store, host.verifier, OwnedSignedRequest(*SignedRequestOf(signed_request)),
        boost::asio::bind_executor(
            io, [&](Result<VerifiedRequest> answer) { verified = std::move(answer); }));
    BOOST_TEST(!checked.has_value(), "would_block=" << would_block);
    BOOST_TEST(!verified.has_value(), "would_block=" << would_block);
    io.run();  // returns only once both handlers ran: each operation is work on `io`
    BOOST_REQUIRE(checked.has_value());
    BOOST_REQUIRE(verified.has_value());
    BOOST_TEST(checked->ok(), checked->status().ToString());
    BOOST_TEST(verified->ok(), verified->status().ToString());
    BOOST_TEST((*verified)->integrator_id == host.integrator_id);
    BOOST_TEST((ran_on == std::this_thread::get_id()));
    // The admin key was answered by a non-blocking read, or else by a blocking one on the
    // verifier's threads.
    const CountingBackend::Counts after = host.backend->counts();
    if (would_block) BOOST_TEST(after.gets > before.gets);
    if (!would_block) BOOST_TEST(after.try_gets > before.try_gets);
  }
}

BOOST_AUTO_TEST_CASE(futures_carry_the_result) {
  for (bool would_block : {false, true}) {
    HostFixture host(would_block);
    auto good = async_verify_admin_key(*host.store, host.verifier, "geofencing", kKey,
                                       host.admin_key, boost::asio::use_future);
    auto wrong = async_verify_admin_key(*host.store, host.verifier, "geofencing", kKey,
                                        "not-the-admin-key", boost::asio::use_future);
    Request forged = host.Signed("not the secret");
    auto bad_mac = async_verify_signed_request(*host.store, host.verifier,
                                               OwnedSignedRequest(*SignedRequestOf(forged)),
                                               boost::asio::use_future);
    BOOST_REQUIRE((good.wait_for(30s) == std::future_status::ready));
    BOOST_TEST(good.get().ok());
    BOOST_TEST((wrong.get().status().code() == StatusCode::kUnauthorized));
    BOOST_TEST((bad_mac.get().status().code() == StatusCode::kUnauthorized));
  }
}

BOOST_AUTO_TEST_CASE(coroutines_await_the_result) {
  for (bool would_block : {false, true}) {
    HostFixture host(would_block);
    boost::asio::io_context io;
    int finished = 0;
    auto check = [&]() -> boost::asio::awaitable<void> {
      // The keys are temporaries: the operation owns copies before it starts.
      auto checked = co_await async_verify_admin_key(
          *host.store, host.verifier, std::string("geofencing"), std::string(kKey),
          std::string(host.admin_key), boost::asio::use_awaitable);
      BOOST_TEST(checked.ok(), checked.status().ToString());
      Request request = host.Signed(host.secret);
      const OwnedSignedRequest owned(*SignedRequestOf(request));
      auto first = co_await async_verify_signed_request(*host.store, host.verifier, owned,
                                                        boost::asio::use_awaitable);
      BOOST_TEST(first.ok(), first.status().ToString());
      auto replayed = co_await async_verify_signed_request(*host.store, host.verifier, owned,
                                                           boost::asio::use_awaitable);
      BOOST_TEST((replayed.status().code() == StatusCode::kUnauthorized));
      ++finished;
    };
    boost::asio::co_spawn(io, check(), boost::asio::detached);
    io.run();
    BOOST_TEST(finished == 1, "would_block=" << would_block);
  }
}

}  // namespace
}  // namespace credstore::http
