// request_parts.h — the pieces of a request that the public and operator APIs read the same way.
//
// One rule each: which media types a body may have, how a body is parsed and which members it
// may hold, how a string or grace member is read, how secrets in a body are wiped, how a
// credential is read from a query or its header, how a failed core call becomes a problem, and
// how a timestamp is written. Every API (and the public helpers of beast_helpers.h) calls these;
// none has a copy of its own.
#ifndef CREDSTORE_HTTP_SRC_REQUEST_PARTS_H_
#define CREDSTORE_HTTP_SRC_REQUEST_PARTS_H_

#include <array>
#include <boost/json/object.hpp>
#include <boost/url/parse.hpp>
#include <chrono>
#include <initializer_list>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>

#include "credstore/clock.h"
#include "credstore/http/beast_helpers.h"
#include "credstore/http/http_api.h"
#include "credstore/http/problem.h"
#include "credstore/request_context.h"
#include "credstore/status.h"

namespace credstore::http {

// application/json (any case, parameters allowed), or curl's default form type when it carries
// JSON — a reference page's own curl example sends exactly that.
bool IsAcceptedMediaType(std::string_view content_type);

// The 413 and 415 checks of a request's body, in that order: at most `max_body_bytes`, and an
// accepted media type when the route reads the body (`body_is_read`) and it is not empty.
// nullopt when both pass.
std::optional<Response> CheckBodyEnvelope(const Request& request, std::size_t max_body_bytes,
                                          bool body_is_read, const RequestMeta& meta);

// The token of `Authorization: Bearer <token>` (scheme in any case, RFC 6750), or "" when the
// header is absent, sent twice (ambiguous about who is asking), or of another scheme.
std::string_view BearerToken(const Request& request);

// The value of a header that may appear at most once: nullopt when absent, the detail of the
// refusal when repeated.
std::variant<std::optional<std::string_view>, std::string> SingleHeader(const Request& request,
                                                                        std::string_view name);

// The query parameters `names` of `query` (the part after '?'), each at most once and never
// percent-encoded (in its name or its value): a gateway, upstream or host that decodes, or picks
// another of two, would otherwise see another value than the one checked. The detail of the
// refusal otherwise. Other parameters are not ours to judge.
template <std::size_t N>
std::variant<std::array<std::optional<std::string>, N>, std::string> StrictParams(
    std::string_view query, const std::array<std::string_view, N>& names) {
  std::array<std::optional<std::string>, N> values;
  // Parsed as a whole target, which the url_view points into: it must outlive the loop.
  const std::string as_target = "/?" + std::string(query);
  auto url = boost::urls::parse_origin_form(as_target);
  if (!url) return std::string("the query is malformed");
  for (const auto& param : url->encoded_params()) {
    const std::string decoded = param.key.decode();
    const std::string_view key(param.key.data(), param.key.size());
    const std::string_view value(param.value.data(), param.value.size());
    for (std::size_t i = 0; i < N; ++i) {
      if (decoded != names[i]) continue;
      if (key != names[i] || value.find('%') != std::string_view::npos) {
        return "query parameter '" + std::string(names[i]) + "' is percent-encoded";
      }
      if (values[i]) {
        return "query parameter '" + std::string(names[i]) + "' appears more than once";
      }
      values[i] = std::string(value);
    }
  }
  return values;
}

// One credential from the query parameter `param` (`from_query`, wiped here) or its header:
// both may be sent only when equal, since a disagreement says the client is confused about which
// key it sends (compared in constant time for equal lengths: the comparison must not become a
// key oracle); the header may appear once. The detail of the refusal otherwise, which never
// quotes either value.
std::variant<std::optional<std::string>, std::string> QueryOrHeader(
    std::optional<std::string> from_query, const Request& request, std::string_view header,
    std::string_view param);

// The admin-key credentials of a request whose query (the part after '?') is `query` and whose
// headers are `request`'s, with the errors of AdminKeyCredentialsOf (beast_helpers.h). A
// forward-auth check reads the original request's query from a header, hence the split.
Result<AdminKeyCredentials> AdminKeyCredentialsFrom(std::string_view query, const Request& request);

// The three headers of a signed request (signed_request.h), in the order they are checked.
inline constexpr std::array<std::string_view, 3> kSignatureHeaders = {"X-Integrator-Key",
                                                                      "X-Timestamp", "X-Signature"};

// An HTTP method: a token (RFC 9110 §5.6.2) of at most 32 characters.
bool IsHttpMethod(std::string_view text);

// A request target a signed request may name: origin-form (a path and query, as received), at
// most 8192 characters.
bool IsSignableTarget(std::string_view target);

// The core's view of who is asking.
RequestContext ContextOf(const RequestMeta& meta);

// How a 401 or 404 of one API names itself.
struct ProblemLabels {
  std::string_view auth_scheme = "credstore";  // 401: the WWW-Authenticate scheme
  std::string_view realm;                      // 401
  std::string scope;                           // 401: what the credential would have unlocked
  std::string_view resource_type;              // 404: "integrator", "customer", ...
  std::string_view resource_id;                // 404: echoed only when it is an integrator id
  // Set on the public listener: a 503 from storage says only "storage unavailable" there, and
  // its cause goes here instead (when the function is set: the server's log).
  const StorageUnavailableLog* storage_unavailable = nullptr;
};

// The problem for a failed core call: the one Status -> HTTP mapping (HttpStatusFor), with
// `labels` on 401 and 404, Retry-After on 429 and 503, and no detail on 500 (the cause is in
// the server log, never in the answer). On the public listener (`labels.storage_unavailable`) a
// 503 other than the Argon2id budget's does not name the backend either.
Response ProblemFor(const Status& failure, const RequestMeta& meta, const ProblemLabels& labels);

// A JSON request body that owns its members and wipes every string in it when destroyed: the
// strings may be secrets, API keys, or misnamed members that hold one.
class JsonBody {
 public:
  JsonBody() = default;
  explicit JsonBody(boost::json::object object) : object_(std::move(object)) {}
  JsonBody(JsonBody&& other) noexcept : object_(std::move(other.object_)) {}
  JsonBody& operator=(JsonBody&& other) noexcept;
  ~JsonBody() { Wipe(); }

  const boost::json::object& object() const { return object_; }

 private:
  void Wipe();
  boost::json::object object_;
};

// `body` as a strict JSON object (strict_json.h) whose members are all in `allowed`, or the
// detail of the 400 to send.
std::variant<JsonBody, std::string> ParseJsonBody(std::string_view body,
                                                  std::span<const std::string_view> allowed);

// The member's text, or the 400 detail for a missing or non-string member. With `required`
// false, a missing member reads as "".
std::variant<std::string_view, std::string> StringMember(const boost::json::object& body,
                                                         std::string_view name,
                                                         bool required = true);

// An optional grace in seconds: a finite JSON number in 0..3600, as milliseconds (round(n·1000));
// absent is 0. Strings, null, booleans, arrays and objects are not numbers.
std::variant<std::chrono::milliseconds, std::string> GraceMember(const boost::json::object& body,
                                                                 std::string_view name);

// "2026-11-23T08:00:00.000Z".
std::string Iso8601(Timestamp t);

}  // namespace credstore::http

#endif  // CREDSTORE_HTTP_SRC_REQUEST_PARTS_H_
