// credstore/http/problem.h — RFC 9457 problem responses and the one Status -> HTTP mapping.
//
// Every error credstore's HTTP adapter sends is built here, so each has `type`, `title`,
// `status`, `detail` and `instance` (the request id, also in the log line), plus `realm`/`scope`
// and a WWW-Authenticate header on 401, `resourceType`/`resourceId` on 404 for a named resource,
// and Retry-After on 429 and 503. Details come from Status messages, which never carry secrets.
#ifndef CREDSTORE_HTTP_PROBLEM_H_
#define CREDSTORE_HTTP_PROBLEM_H_

#include <boost/beast/http/message.hpp>
#include <boost/beast/http/status.hpp>
#include <boost/beast/http/string_body.hpp>
#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "credstore/status.h"

namespace credstore::http {

// What the transport knows about a request.
struct RequestMeta {
  std::string request_id;      // becomes the problem's `instance` and the log line's id
  std::string client_address;  // after trusted-proxy resolution; drives throttling
  unsigned http_version = 11;  // 10 or 11, echoed in the response
  bool keep_alive = true;
  // On a unix-socket listener (no client address): the peer's uid (SO_PEERCRED), so that what
  // is throttled per client there is throttled per local user.
  std::optional<unsigned> peer_uid = std::nullopt;
};

// Where an API reports the cause of a 503 it did not show the client (public_api.h).
using StorageUnavailableLog = std::function<void(const RequestMeta& meta, std::string_view cause)>;

struct ProblemExtras {
  std::string type;                                 // overrides the status's type when set
  std::string auth_scheme = "credstore";            // 401: the WWW-Authenticate scheme
  std::string realm;                                // 401: the authentication realm
  std::string scope;                                // 401: the scope required
  std::string resource_type;                        // 404: e.g. "integrator"
  std::string resource_id;                          // 404: e.g. "int_…" (public ids only)
  std::optional<std::chrono::seconds> retry_after;  // 429/503
  std::string allow;                                // 405: the Allow header
};

boost::beast::http::response<boost::beast::http::string_body> MakeProblem(
    boost::beast::http::status status, std::string_view detail, const RequestMeta& meta,
    const ProblemExtras& extras = {});

// The HTTP status for a core Status: kInvalidArgument 400, kAlreadyRegistered 403,
// kUnauthorized 401, kNotFound 404, kThrottled 429, kUnavailable 503, kConflict 503 (a race
// lost too often is transient), kInternal 500.
boost::beast::http::status HttpStatusFor(const Status& status);

// Retry-After in whole seconds, rounded up, at least 1.
std::chrono::seconds RetryAfterSeconds(std::chrono::milliseconds wait);

}  // namespace credstore::http

#endif  // CREDSTORE_HTTP_PROBLEM_H_
