#include "responses.h"

#include <boost/beast/http/field.hpp>
#include <boost/json/serialize.hpp>
#include <utility>

namespace credstore::http {

namespace beast_http = boost::beast::http;

Response NoStoreBody(beast_http::status code, std::string_view content_type, std::string body,
                     const RequestMeta& meta) {
  Response response(code, meta.http_version);
  response.set(beast_http::field::content_type, content_type);
  response.set(beast_http::field::cache_control, "no-store");
  response.keep_alive(meta.keep_alive);
  response.body() = std::move(body);
  response.prepare_payload();
  return response;
}

Response NoStoreJson(beast_http::status code, const boost::json::object& body,
                     const RequestMeta& meta) {
  return NoStoreBody(code, "application/json", boost::json::serialize(body), meta);
}

Response WithReplication(Response response, bool pending) {
  if (pending) response.set("Credstore-Replication", "pending");
  return response;
}

Response NoContent(const RequestMeta& meta) {
  Response response(beast_http::status::no_content, meta.http_version);
  response.set(beast_http::field::cache_control, "no-store");
  response.keep_alive(meta.keep_alive);
  // No prepare_payload(): it would add "Content-Length: 0", which a 204 must not carry
  // (RFC 9110 §8.6).
  return response;
}

Response BadRequest(std::string_view detail, const RequestMeta& meta) {
  return MakeProblem(beast_http::status::bad_request, detail, meta);
}

Response MethodNotAllowed(std::string_view allow, const RequestMeta& meta) {
  ProblemExtras extras;
  extras.allow = std::string(allow);
  return MakeProblem(beast_http::status::method_not_allowed,
                     "this route accepts " + std::string(allow) + " only", meta, extras);
}

}  // namespace credstore::http
