#include "credstore/http/problem.h"

#include <boost/beast/http/field.hpp>
#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>

namespace credstore::http {
namespace {

namespace beast_http = boost::beast::http;

// A stable problem type per status: clients branch on `type`, people read `title`.
std::string ProblemType(beast_http::status status) {
  switch (status) {
    case beast_http::status::bad_request:
      return "urn:credstore:problem:invalid-request";
    case beast_http::status::unauthorized:
      return "urn:credstore:problem:unauthorized";
    case beast_http::status::forbidden:
      return "urn:credstore:problem:already-registered";
    case beast_http::status::not_found:
      return "urn:credstore:problem:not-found";
    case beast_http::status::method_not_allowed:
      return "urn:credstore:problem:method-not-allowed";
    case beast_http::status::conflict:
      return "urn:credstore:problem:conflict";
    case beast_http::status::payload_too_large:
      return "urn:credstore:problem:body-too-large";
    case beast_http::status::unsupported_media_type:
      return "urn:credstore:problem:unsupported-media-type";
    case beast_http::status::too_many_requests:
      return "urn:credstore:problem:throttled";
    case beast_http::status::service_unavailable:
      return "urn:credstore:problem:unavailable";
    default:
      return "about:blank";
  }
}

}  // namespace

beast_http::response<beast_http::string_body> MakeProblem(beast_http::status status,
                                                          std::string_view detail,
                                                          const RequestMeta& meta,
                                                          const ProblemExtras& extras) {
  boost::json::object body;
  body["type"] = extras.type.empty() ? ProblemType(status) : extras.type;
  body["title"] = std::string(beast_http::obsolete_reason(status));
  body["status"] = static_cast<unsigned>(status);
  body["detail"] = std::string(detail);
  body["instance"] = "urn:credstore:request:" + meta.request_id;
  if (!extras.realm.empty()) body["realm"] = extras.realm;
  if (!extras.scope.empty()) body["scope"] = extras.scope;
  if (!extras.resource_type.empty()) body["resourceType"] = extras.resource_type;
  if (!extras.resource_id.empty()) body["resourceId"] = extras.resource_id;

  beast_http::response<beast_http::string_body> response(status, meta.http_version);
  response.set(beast_http::field::content_type, "application/problem+json");
  response.set(beast_http::field::cache_control, "no-store");
  if (status == beast_http::status::unauthorized) {
    std::string challenge = extras.auth_scheme + " realm=\"" + extras.realm + "\"";
    if (!extras.scope.empty()) challenge += ", scope=\"" + extras.scope + "\"";
    response.set(beast_http::field::www_authenticate, challenge);
  }
  if (extras.retry_after) {
    response.set(beast_http::field::retry_after, std::to_string(extras.retry_after->count()));
  }
  if (!extras.allow.empty()) response.set(beast_http::field::allow, extras.allow);
  response.keep_alive(meta.keep_alive);
  response.body() = boost::json::serialize(body);
  response.prepare_payload();
  return response;
}

beast_http::status HttpStatusFor(const Status& status) {
  switch (status.code()) {
    case StatusCode::kOk:
      return beast_http::status::ok;
    case StatusCode::kInvalidArgument:
      return beast_http::status::bad_request;
    case StatusCode::kAlreadyRegistered:
      return beast_http::status::forbidden;
    case StatusCode::kUnauthorized:
      return beast_http::status::unauthorized;
    case StatusCode::kNotFound:
      return beast_http::status::not_found;
    case StatusCode::kThrottled:
      return beast_http::status::too_many_requests;
    case StatusCode::kConflict:
    case StatusCode::kUnavailable:
      return beast_http::status::service_unavailable;
    case StatusCode::kInternal:
      return beast_http::status::internal_server_error;
  }
  return beast_http::status::internal_server_error;
}

std::chrono::seconds RetryAfterSeconds(std::chrono::milliseconds wait) {
  const auto seconds = std::chrono::ceil<std::chrono::seconds>(wait);
  return std::max(seconds, std::chrono::seconds(1));
}

}  // namespace credstore::http
