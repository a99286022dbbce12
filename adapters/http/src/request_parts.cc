#include "request_parts.h"

#include <sodium.h>

#include <boost/beast/core/string.hpp>
#include <boost/beast/http/field.hpp>
#include <boost/url/parse.hpp>
#include <cmath>
#include <utility>

#include "access_log.h"
#include "credstore/api_key_validator.h"
#include "credstore/signed_request.h"
#include "strict_json.h"
#include "trim.h"

namespace credstore::http {

namespace beast_http = boost::beast::http;
namespace json = boost::json;

bool IsAcceptedMediaType(std::string_view content_type) {
  const std::string_view type = Trim(content_type.substr(0, content_type.find(';')));
  return boost::beast::iequals(type, "application/json") ||
         boost::beast::iequals(type, "application/x-www-form-urlencoded");
}

std::optional<Response> CheckBodyEnvelope(const Request& request, std::size_t max_body_bytes,
                                          bool body_is_read, const RequestMeta& meta) {
  // 413: the server's parser enforces this already; checked again for hosts that call Route
  // with a request of their own.
  if (request.body().size() > max_body_bytes) {
    return MakeProblem(beast_http::status::payload_too_large,
                       "the request body is larger than " + std::to_string(max_body_bytes) +
                           " bytes",
                       meta);
  }
  if (body_is_read && !request.body().empty() &&
      !IsAcceptedMediaType(request[beast_http::field::content_type])) {
    return MakeProblem(beast_http::status::unsupported_media_type,
                       "request body must be application/json", meta);
  }
  return std::nullopt;
}

std::string_view BearerToken(const Request& request) {
  if (request.count(beast_http::field::authorization) != 1) return {};
  const std::string_view header = request[beast_http::field::authorization];
  constexpr std::string_view kScheme = "bearer ";
  if (header.size() <= kScheme.size() ||
      !boost::beast::iequals(header.substr(0, kScheme.size()), kScheme)) {
    return {};
  }
  return Trim(header.substr(kScheme.size()));
}

std::variant<std::optional<std::string_view>, std::string> SingleHeader(const Request& request,
                                                                        std::string_view name) {
  const std::size_t count = request.count(name);
  if (count == 0) return std::optional<std::string_view>();
  if (count > 1) return "header " + std::string(name) + " appears more than once";
  return std::optional<std::string_view>(request[name]);
}

std::variant<std::optional<std::string>, std::string> QueryOrHeader(
    std::optional<std::string> from_query, const Request& request, std::string_view header,
    std::string_view param) {
  auto single = SingleHeader(request, header);
  if (auto* problem = std::get_if<std::string>(&single)) {
    if (from_query) sodium_memzero(from_query->data(), from_query->size());
    return std::move(*problem);
  }
  const auto from_header = std::get<std::optional<std::string_view>>(single);
  if (!from_header) return from_query;
  if (from_query) {
    const bool equal =
        from_query->size() == from_header->size() &&
        sodium_memcmp(from_query->data(), from_header->data(), from_header->size()) == 0;
    sodium_memzero(from_query->data(), from_query->size());
    if (!equal) {
      return "query parameter '" + std::string(param) + "' and header " + std::string(header) +
             " disagree";
    }
  }
  return std::optional<std::string>(std::string(*from_header));
}

Result<AdminKeyCredentials> AdminKeyCredentialsFrom(std::string_view query,
                                                    const Request& request) {
  auto params = StrictParams<2>(query, {"key", "adminKey"});
  if (auto* problem = std::get_if<std::string>(&params)) {
    return Status::InvalidArgument(std::move(*problem));
  }
  auto& [key_query, admin_key_query] = std::get<std::array<std::optional<std::string>, 2>>(params);
  auto api_key = QueryOrHeader(std::move(key_query), request, "X-Api-Key", "key");
  auto admin_key = QueryOrHeader(std::move(admin_key_query), request, "X-Admin-Key", "adminKey");
  // Owned at once, so that every way out below wipes whatever was read.
  auto take = [](std::variant<std::optional<std::string>, std::string>& read) {
    auto* value = std::get_if<std::optional<std::string>>(&read);
    return value != nullptr && value->has_value() ? std::move(**value) : std::string();
  };
  AdminKeyCredentials read(take(api_key), take(admin_key));
  if (auto* problem = std::get_if<std::string>(&api_key)) {
    return Status::InvalidArgument(std::move(*problem));
  }
  if (auto* problem = std::get_if<std::string>(&admin_key)) {
    return Status::InvalidArgument(std::move(*problem));
  }
  if (!IsWellFormedApiKey(read.api_key())) {
    return Status::InvalidArgument(
        "API key (query parameter 'key' or X-Api-Key) missing or malformed");
  }
  if (read.admin_key().empty()) {
    return Status::Unauthorized("admin key (query parameter 'adminKey' or X-Admin-Key) missing");
  }
  return Result<AdminKeyCredentials>(std::move(read));
}

bool IsHttpMethod(std::string_view text) {
  constexpr std::size_t kMaxMethodLength = 32;
  if (text.empty() || text.size() > kMaxMethodLength) return false;
  constexpr std::string_view kSymbols = "!#$%&'*+-.^_`|~";
  for (char c : text) {
    const bool alnum = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
    if (!alnum && kSymbols.find(c) == std::string_view::npos) return false;
  }
  return true;
}

bool IsSignableTarget(std::string_view target) {
  constexpr std::size_t kMaxTargetLength = 8 * 1024;
  return !target.empty() && target.front() == '/' && target.size() <= kMaxTargetLength &&
         boost::urls::parse_origin_form(target).has_value();
}

RequestContext ContextOf(const RequestMeta& meta) {
  return RequestContext{meta.client_address, meta.request_id};
}

Response ProblemFor(const Status& failure, const RequestMeta& meta, const ProblemLabels& labels) {
  const beast_http::status code = HttpStatusFor(failure);
  if (code == beast_http::status::internal_server_error) {
    return MakeProblem(code, "internal error; the request id is in the server log", meta);
  }
  ProblemExtras extras;
  if (code == beast_http::status::unauthorized) {
    extras.auth_scheme = std::string(labels.auth_scheme);
    extras.realm = std::string(labels.realm);
    extras.scope = labels.scope;
  }
  if (code == beast_http::status::not_found) {
    extras.resource_type = std::string(labels.resource_type);
    // Integrator ids are public; anything else in an id's place might be a pasted secret.
    if (IsWellFormedIntegratorId(labels.resource_id)) {
      extras.resource_id = std::string(labels.resource_id);
    }
  }
  if (code == beast_http::status::too_many_requests ||
      code == beast_http::status::service_unavailable) {
    extras.retry_after = RetryAfterSeconds(failure.retry_after());
  }
  // "redis: cannot connect: No such file or directory" tells an anonymous client which backend
  // runs and how it fails; the operator listener and the log may know, the public may not.
  if (labels.storage_unavailable != nullptr && failure.code() == StatusCode::kUnavailable &&
      failure.message() != kHashBudgetExhausted) {
    if (*labels.storage_unavailable) (*labels.storage_unavailable)(meta, failure.message());
    return MakeProblem(code, "storage unavailable", meta, extras);
  }
  return MakeProblem(code, failure.message(), meta, extras);
}

JsonBody& JsonBody::operator=(JsonBody&& other) noexcept {
  if (this != &other) {
    Wipe();
    object_ = std::move(other.object_);
  }
  return *this;
}

void JsonBody::Wipe() {
  for (auto& member : object_) {
    if (member.value().is_string()) {
      json::string& text = member.value().get_string();
      sodium_memzero(text.data(), text.size());
    }
  }
}

std::variant<JsonBody, std::string> ParseJsonBody(std::string_view body,
                                                  std::span<const std::string_view> allowed) {
  auto parsed = internal::ParseStrictJsonObject(body);
  if (auto* problem = std::get_if<std::string>(&parsed)) return std::move(*problem);
  JsonBody owned(std::move(std::get<json::object>(parsed)));
  for (const auto& member : owned.object()) {
    bool known = false;
    for (std::string_view name : allowed) known = known || member.key() == name;
    // `owned` wipes every string as it goes: an unknown member may hold a misnamed secret.
    if (!known) return "unknown member '" + std::string(member.key()) + "'";
  }
  return owned;
}

std::variant<std::string_view, std::string> StringMember(const json::object& body,
                                                         std::string_view name, bool required) {
  auto it = body.find(name);
  if (it == body.end()) {
    if (!required) return std::string_view();
    return "missing member '" + std::string(name) + "'";
  }
  if (!it->value().is_string()) return "member '" + std::string(name) + "' must be a string";
  const json::string& text = it->value().get_string();
  return std::string_view(text.data(), text.size());
}

std::variant<std::chrono::milliseconds, std::string> GraceMember(const json::object& body,
                                                                 std::string_view name) {
  auto it = body.find(name);
  if (it == body.end()) return std::chrono::milliseconds(0);
  const json::value& value = it->value();
  double seconds = 0;
  if (value.is_int64()) {
    seconds = static_cast<double>(value.get_int64());
  } else if (value.is_uint64()) {
    seconds = static_cast<double>(value.get_uint64());
  } else if (value.is_double()) {
    seconds = value.get_double();
  } else {
    return "member '" + std::string(name) + "' must be a number of seconds";
  }
  if (!std::isfinite(seconds) || seconds < 0 || seconds > 3600) {
    return "member '" + std::string(name) + "' must be between 0 and 3600";
  }
  return std::chrono::milliseconds(std::llround(seconds * 1000));
}

std::string Iso8601(Timestamp t) {
  return FormatUtcTimestamp(std::chrono::system_clock::time_point(t.time_since_epoch()));
}

}  // namespace credstore::http
