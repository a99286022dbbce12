// responses.h — the success and routing answers the public and operator APIs share.
//
// Every answer here is `Cache-Control: no-store`: both APIs hand out secrets, admin keys or an
// inventory of integrators, and none of them belongs in a cache. Errors are RFC 9457 problems
// (credstore/http/problem.h); these builders only add the ones both APIs send the same way.
#ifndef CREDSTORE_HTTP_SRC_RESPONSES_H_
#define CREDSTORE_HTTP_SRC_RESPONSES_H_

#include <boost/beast/http/status.hpp>
#include <boost/json/object.hpp>
#include <string>
#include <string_view>

#include "credstore/http/http_api.h"
#include "credstore/http/problem.h"

namespace credstore::http {

// `body` as `content_type`, with the request's HTTP version and keep-alive.
Response NoStoreBody(boost::beast::http::status code, std::string_view content_type,
                     std::string body, const RequestMeta& meta);

// `body` serialized as application/json.
Response NoStoreJson(boost::beast::http::status code, const boost::json::object& body,
                     const RequestMeta& meta);

// `response` with `Credstore-Replication: pending` when `pending`: the answer of a call that
// minted a credential whose record applied while too few storage replicas had acknowledged it
// (AdminKeyGrant/IntegratorSecret::replication_pending). Unchanged otherwise.
Response WithReplication(Response response, bool pending);

// 204 with no body.
Response NoContent(const RequestMeta& meta);

// 400 problem with `detail`, which must never quote the request.
Response BadRequest(std::string_view detail, const RequestMeta& meta);

// 405 problem with `Allow: allow`.
Response MethodNotAllowed(std::string_view allow, const RequestMeta& meta);

}  // namespace credstore::http

#endif  // CREDSTORE_HTTP_SRC_RESPONSES_H_
