// credstore/http/http_api.h — what a listener serves.
//
// The server owns sockets, parsing, pools and timeouts; an HttpApi owns meaning. The public
// routes (PublicApi) and the operator routes (OperatorApi) both implement it, and a host can
// serve its own HttpApi on credstore's server, or credstore's APIs on its own server.
//
// Thread safety: implementations are called from many threads at once.
#ifndef CREDSTORE_HTTP_HTTP_API_H_
#define CREDSTORE_HTTP_HTTP_API_H_

#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>
#include <cstddef>
#include <optional>
#include <string>

#include "credstore/http/problem.h"

namespace credstore::http {

using Request = boost::beast::http::request<boost::beast::http::string_body>;
using Response = boost::beast::http::response<boost::beast::http::string_body>;

// Which worker pool a route's work belongs on. Argon2id-bound routes get their own pool so a
// register flood cannot starve settings reads; nothing that may block runs on an I/O thread.
enum class WorkPool { kInline, kHashing, kStorage };

struct RouteMatch {
  std::string route_template;  // for logs and metrics: "/{service}/1/register", "unmatched"
  WorkPool pool = WorkPool::kInline;
  // Set when the request is answered without further work (404, 405, /healthz).
  std::optional<Response> early_response;
};

class HttpApi {
 public:
  virtual ~HttpApi() = default;
  // The route, its pool, and an early answer when there is one. Cheap; no I/O; no blocking.
  virtual RouteMatch Match(const Request& request, const RequestMeta& meta) const = 0;
  // The complete answer. May block (Argon2id, storage): run it on the pool Match named.
  virtual Response Handle(const Request& request, const RequestMeta& meta) const = 0;
  // The parser's body limit for this API; larger bodies are answered 413 by the server.
  virtual std::size_t max_body_bytes() const = 0;
};

}  // namespace credstore::http

#endif  // CREDSTORE_HTTP_HTTP_API_H_
