// credstore/http/http_api.h — what a listener serves.
//
// The server owns sockets, parsing, pools and timeouts; an HttpApi owns meaning. The public
// routes (PublicApi) and the operator routes (OperatorApi) both implement it, and a host can
// serve its own HttpApi on credstore's server, or credstore's APIs on its own server.
//
// A request is routed once. Route() runs on the thread that read the request (an I/O thread:
// it is cheap and does no I/O): it matches the route, parses the target, query and path
// parameters, checks a bearer token, reads the body as strict JSON, and answers at once when
// any of that fails (404, 405, 401, 413, 415, 400) or when nothing more is needed (/healthz).
// Otherwise it returns a PreparedCall, which owns everything it needs and only calls the core
// and builds the response, and says where that work belongs (WorkClass).
//
// Serving a prepared call (what credstore's Server does; a host may do the same):
//   kInline  — call Run() on the I/O thread: it never blocks.
//   kStorage — call TryRunInline() on the I/O thread; when it answers, that is the response
//              (a read the backend answered from memory); otherwise Run() on a thread that may
//              block (storage I/O).
//   kHashing — Reserve() first, where Routed::reserve_work says (inline, or on a thread that may
//              block): when it answers, that is the response (429 throttled, ...). Otherwise
//              Run() on a thread that may run Argon2id for a while (~0.1 s); if that thread's
//              queue refuses the call, Unreserve() (where Reserve() ran) and answer 503. So a
//              throttled attempt never takes a place in the hashing queue.
// Handle() does all of it on the calling thread, for hosts that want one call.
//
// Thread safety: implementations are called from many threads at once. A PreparedCall is used
// by one thread at a time and may move between threads.
#ifndef CREDSTORE_HTTP_HTTP_API_H_
#define CREDSTORE_HTTP_HTTP_API_H_

#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>
#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "credstore/http/problem.h"

namespace credstore::http {

using Request = boost::beast::http::request<boost::beast::http::string_body>;
using Response = boost::beast::http::response<boost::beast::http::string_body>;

// Where a prepared call's work belongs (see the top of this file).
enum class WorkClass { kInline, kStorage, kHashing };

// A routed request whose checks all passed: one core call and the response are left.
class PreparedCall {
 public:
  virtual ~PreparedCall() = default;

  // The response if it can be had without blocking, else nullopt: then call Run() on a thread
  // that may block. Call it at most once, and only before Run(). Default: nullopt.
  virtual std::optional<Response> TryRunInline() { return std::nullopt; }

  // kHashing calls: what must happen before the call may take a place in the hashing queue —
  // the throttle's reservation of the attempt. Call it once, before Run(). A response ends the
  // call (Run() is never called); nullopt: queue Run(). Default: nullopt.
  virtual std::optional<Response> Reserve() { return std::nullopt; }

  // Gives back what Reserve() took, for a call whose Run() will never be called (its queue was
  // full, or it waited in it too long). Runs where Reserve() may: on a thread that may block
  // unless reserve_work is kInline. Default: nothing.
  virtual void Unreserve() {}

  // The response. Call it at most once. May block as the call's WorkClass says.
  virtual Response Run() = 0;
};

// What Route() decided: either an answer now, or a call to run.
struct Routed {
  // For logs and metrics: "/{service}/1/register", "unmatched". Static storage.
  std::string_view route_template = "unmatched";
  WorkClass work = WorkClass::kInline;
  // Where a kHashing call's Reserve() and Unreserve() run: kInline (they never block) or
  // kStorage (they may: storage I/O).
  WorkClass reserve_work = WorkClass::kInline;
  std::optional<Response> answer;      // set iff `call` is null
  std::unique_ptr<PreparedCall> call;  // set iff `answer` is empty
};

class HttpApi {
 public:
  virtual ~HttpApi() = default;

  // Routes `request` once (see the top of this file). May take the request's body and fields
  // (a prepared call owns what it needs); the caller must not read `request` afterwards except
  // to wipe it. Never blocks and never throws for any input.
  virtual Routed Route(Request& request, const RequestMeta& meta) const = 0;

  // The parser's body limit for this API; larger bodies are answered 413 by the server, or by
  // Route() when a host hands it a larger body.
  virtual std::size_t max_body_bytes() const = 0;

  // The complete answer on the calling thread, which may block: Route(), then the prepared
  // call's TryRunInline() or Run(). For hosts that serve an HttpApi with their own server.
  Response Handle(Request& request, const RequestMeta& meta) const;
};

}  // namespace credstore::http

#endif  // CREDSTORE_HTTP_HTTP_API_H_
