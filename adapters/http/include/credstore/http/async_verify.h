// credstore/http/async_verify.h — admin-key and signature checks as Asio asynchronous
// operations, for a host whose server runs on Asio event loops.
//
//   credstore::http::VerifyExecutor verifier;  // the threads that may block on storage
//
//   // A callback: runs on its associated executor, else on one of the verifier's threads.
//   credstore::http::async_verify_admin_key(
//       store, verifier, "geofencing", api_key, admin_key,
//       boost::asio::bind_executor(strand, [](credstore::Result<credstore::AdminKeyCheck> r) {}));
//
//   // A coroutine (boost::asio::use_awaitable): resumes on the coroutine's executor.
//   credstore::Result<credstore::VerifiedRequest> verified =
//       co_await credstore::http::async_verify_signed_request(
//           store, verifier, credstore::http::OwnedSignedRequest(*parts),
//           boost::asio::use_awaitable);
//
//   // A future (boost::asio::use_future), for a thread that may wait.
//   std::future<credstore::Result<credstore::AdminKeyCheck>> later =
//       credstore::http::async_verify_admin_key(store, verifier, service, key, admin_key,
//                                               boost::asio::use_future);
//
// Any completion token of Asio's model works (deferred, as_tuple, ...): the operations are
// initiated with boost::asio::async_initiate, with these completion signatures:
//
//   async_verify_admin_key:       void(credstore::Result<credstore::AdminKeyCheck>)
//   async_verify_signed_request:  void(credstore::Result<credstore::VerifiedRequest>)
//
// The answer is a Result, the store's own: credstore throws no exception into the handler or out
// of the operation (a future never holds one of credstore's), and no error_code stands in for a
// Status (its code, message and retry_after() say
// what HttpStatusFor and the response need). An admin key's Result is CheckAdminKey's, which
// says which customer and whether the key is graced; a host that needs only yes or no reads
// ok().
//
// Where the work runs. The check is first tried without blocking, on the initiating thread:
// TryCheckAdminKey for an admin key; for a signature, VerifySignedRequest itself when the store
// NeverBlocks() (it writes a replay record, so there is no read-only Try form). When that cannot
// answer, the blocking call runs on one of the VerifyExecutor's threads. Either way the handler
// is then *posted* to its associated executor (the verifier's, when it has none): it never runs
// inside the initiating call, even when the answer was known at once, so a handler may take
// locks its initiator holds, and a loop of immediate answers cannot grow the stack. Until the
// handler has run, the operation counts as outstanding work on that executor (an io_context's
// run() does not return meanwhile).
//
// Lifetimes: `store` and `verifier` must outlive every operation started on them. The keys and
// the signed request are copied (owned) before the initiating call returns, for every token
// kind, so the caller may free its buffers at once; admin keys are wiped after the check.
//
// Cancellation: none; a started check always completes (unless the verifier is destroyed
// first: see VerifyExecutor).
//
// Thread safety: the functions may be called from many threads at once, as may the store.
#ifndef CREDSTORE_HTTP_ASYNC_VERIFY_H_
#define CREDSTORE_HTTP_ASYNC_VERIFY_H_

#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/thread_pool.hpp>
#include <cstddef>
#include <string>
#include <string_view>
#include <utility>

#include "credstore/credential_store.h"
#include "credstore/http/beast_helpers.h"
#include "credstore/status.h"

namespace credstore::http {

// The threads on which the checks that would block (storage I/O) run: a boost::asio::thread_pool
// of the library's, kept apart from the host's event loops so that a slow backend stalls only
// these. Size it to the storage round trips to overlap; the checks run no Argon2id.
//
// Destroying it stops the pool: checks queued but not started are dropped, and their handlers
// destroyed without being called (a use_future waiter sees std::future_error broken_promise).
// Call Join() first to let every started operation complete.
class VerifyExecutor {
 public:
  using executor_type = boost::asio::thread_pool::executor_type;

  // `threads` of at least 1 (0 is taken as 1).
  explicit VerifyExecutor(std::size_t threads = 2);
  ~VerifyExecutor();
  VerifyExecutor(const VerifyExecutor&) = delete;
  VerifyExecutor& operator=(const VerifyExecutor&) = delete;

  executor_type get_executor() noexcept { return pool_.get_executor(); }

  // Waits until every operation started on this executor has been handed to its handler's
  // executor (and run, for handlers that run here). No new operation may be started meanwhile.
  void Join();

 private:
  boost::asio::thread_pool pool_;
};

namespace async_verify_detail {

// Hands `value` to `handler` on `work`'s executor, later: posted, never run here.
template <typename Handler, typename WorkGuard, typename Value>
void Complete(Handler handler, WorkGuard work, Value value) {
  auto executor = work.get_executor();
  boost::asio::post(executor, [handler = std::move(handler), work = std::move(work),
                               value = std::move(value)]() mutable {
    std::move(handler)(std::move(value));
    // `work` goes with this function object: the executor keeps running until the handler has.
  });
}

// The handler's associated executor (the verifier's when it has none), marked busy until the
// handler has run.
template <typename Handler>
auto TrackHandlerExecutor(const Handler& handler, VerifyExecutor& verifier) {
  return boost::asio::make_work_guard(
      boost::asio::get_associated_executor(handler, verifier.get_executor()));
}

}  // namespace async_verify_detail

// Checks the admin key `admin_key` of the customer `api_key` for `service`, as
// CredentialStore::CheckAdminKey does (same checks, answers and work), and completes with its
// Result<AdminKeyCheck>: kUnauthorized for a missing, wrong, revoked or expired key or an
// unknown customer, kInvalidArgument for a malformed API key, kNotFound for an unknown service,
// and kUnavailable or kInternal when storage fails.
// Completion signature: void(credstore::Result<credstore::AdminKeyCheck>).
template <typename CompletionToken>
auto async_verify_admin_key(CredentialStore& store, VerifyExecutor& verifier,
                            std::string_view service, std::string_view api_key,
                            std::string_view admin_key, CompletionToken&& token) {
  auto initiation = [&store, &verifier](auto handler, std::string service,
                                        AdminKeyCredentials keys) {
    auto work = async_verify_detail::TrackHandlerExecutor(handler, verifier);
    if (auto answer = store.TryCheckAdminKey(service, keys.api_key(), keys.admin_key())) {
      async_verify_detail::Complete(std::move(handler), std::move(work), std::move(*answer));
      return;
    }
    boost::asio::post(
        verifier.get_executor(), [&store, handler = std::move(handler), work = std::move(work),
                                  service = std::move(service), keys = std::move(keys)]() mutable {
          auto checked = store.CheckAdminKey(service, keys.api_key(), keys.admin_key());
          async_verify_detail::Complete(std::move(handler), std::move(work), std::move(checked));
        });
  };
  // The arguments are owned here: a lazy token (use_awaitable, deferred) starts the operation
  // only later, when the caller's buffers may be gone.
  return boost::asio::async_initiate<CompletionToken, void(Result<AdminKeyCheck>)>(
      std::move(initiation), token, std::string(service),
      AdminKeyCredentials(std::string(api_key), std::string(admin_key)));
}

// Checks the signed request `request`, as CredentialStore::VerifySignedRequest does (it keeps a
// replay record, so a request that verified once is a replay after), and completes with its
// Result<VerifiedRequest>: kUnauthorized for missing or malformed headers, a timestamp outside
// the window, a bad MAC, a replay or a disabled integrator; kNotFound for an unknown integrator;
// kInvalidArgument for a malformed body hash; kUnavailable or kInternal when storage fails.
// Completion signature: void(credstore::Result<credstore::VerifiedRequest>).
template <typename CompletionToken>
auto async_verify_signed_request(CredentialStore& store, VerifyExecutor& verifier,
                                 OwnedSignedRequest request, CompletionToken&& token) {
  auto initiation = [&store, &verifier](auto handler, OwnedSignedRequest request) {
    auto work = async_verify_detail::TrackHandlerExecutor(handler, verifier);
    if (store.NeverBlocks()) {
      auto verified = store.VerifySignedRequest(request.view());
      async_verify_detail::Complete(std::move(handler), std::move(work), std::move(verified));
      return;
    }
    boost::asio::post(
        verifier.get_executor(), [&store, handler = std::move(handler), work = std::move(work),
                                  request = std::move(request)]() mutable {
          auto verified = store.VerifySignedRequest(request.view());
          async_verify_detail::Complete(std::move(handler), std::move(work), std::move(verified));
        });
  };
  return boost::asio::async_initiate<CompletionToken, void(Result<VerifiedRequest>)>(
      std::move(initiation), token, std::move(request));
}

}  // namespace credstore::http

#endif  // CREDSTORE_HTTP_ASYNC_VERIFY_H_
