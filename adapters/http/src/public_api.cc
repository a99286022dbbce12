// The public routes: request parsing and validation in DESIGN.md §1's check order, then one
// CredentialStore call, then the response. No business rule lives here: every rule about keys,
// secrets, grace and throttling is the core's.
#include "credstore/http/public_api.h"

#include <sodium.h>
#include <time.h>

#include <boost/beast/http/field.hpp>
#include <boost/json/serialize.hpp>
#include <boost/url/parse.hpp>
#include <cmath>
#include <initializer_list>
#include <variant>

#include "responses.h"
#include "strict_json.h"

namespace credstore::http {
namespace {

namespace beast_http = boost::beast::http;
namespace json = boost::json;
using beast_http::status;

constexpr std::string_view kRealm = "credstore";
constexpr std::string_view kRegenerateSecretPath = "/v1/integrator/regenerate-secret";

enum class Route {
  kRegister,
  kRegenerateKey,
  kUpdateSecret,
  kSettings,
  kRegenerateSecret,
  kHealth
};

struct Routed {
  Route route;
  std::string service;  // customer routes only
};

// ---- Problems ------------------------------------------------------------------------------

// The problem for a failed core call; `scope` names what the credential would have unlocked.
Response ProblemFor(const Status& failure, const RequestMeta& meta, std::string_view scope,
                    std::string_view resource_id = {}) {
  const status code = HttpStatusFor(failure);
  ProblemExtras extras;
  if (code == status::unauthorized) {
    extras.realm = std::string(kRealm);
    extras.scope = std::string(scope);
  }
  if (code == status::not_found && !resource_id.empty()) {
    extras.resource_type = "integrator";
    extras.resource_id = std::string(resource_id);
  }
  if (code == status::too_many_requests || code == status::service_unavailable) {
    extras.retry_after = RetryAfterSeconds(failure.retry_after());
  }
  if (code == status::internal_server_error) {
    return MakeProblem(code, "internal error; the request id is in the server log", meta);
  }
  return MakeProblem(code, failure.message(), meta, extras);
}

// ---- Routing --------------------------------------------------------------------------------

// The route for a request, or the early answer (404, 405, 400 for a target that is not
// origin-form). Only the path is read here; the query is the handler's.
std::variant<Routed, Response> Classify(const Request& request, const RequestMeta& meta,
                                        const CredentialStore& store) {
  const std::string_view target = request.target();
  if (target.empty() || target.front() != '/') {
    return BadRequest("the request target must be in origin-form (a path, not a URL)", meta);
  }
  auto url = boost::urls::parse_origin_form(target);
  if (!url) return BadRequest("the request target is malformed", meta);
  const std::string_view path = url->encoded_path();
  const beast_http::verb method = request.method();

  if (path == "/healthz") {
    if (method != beast_http::verb::get) return MethodNotAllowed("GET", meta);
    return Routed{Route::kHealth, {}};
  }
  if (path == kRegenerateSecretPath) {
    if (method != beast_http::verb::post) return MethodNotAllowed("POST", meta);
    return Routed{Route::kRegenerateSecret, {}};
  }
  // /{service}/1/{operation}
  const std::size_t first = path.find('/', 1);
  if (first != std::string_view::npos && path.substr(first).starts_with("/1/")) {
    const std::string_view service = path.substr(1, first - 1);
    const std::string_view operation = path.substr(first + 3);
    std::optional<Route> route;
    if (operation == "register") route = Route::kRegister;
    if (operation == "regenerateKey") route = Route::kRegenerateKey;
    if (operation == "updateSecret") route = Route::kUpdateSecret;
    if (operation == "settings") route = Route::kSettings;
    if (route && store.HasService(service)) {
      if (*route == Route::kSettings) {
        if (method != beast_http::verb::get && method != beast_http::verb::post) {
          return MethodNotAllowed("GET, POST", meta);
        }
      } else if (method != beast_http::verb::post) {
        return MethodNotAllowed("POST", meta);
      }
      return Routed{*route, std::string(service)};
    }
  }
  return MakeProblem(status::not_found, "no such route", meta);
}

std::string RouteTemplate(Route route) {
  switch (route) {
    case Route::kRegister:
      return "/{service}/1/register";
    case Route::kRegenerateKey:
      return "/{service}/1/regenerateKey";
    case Route::kUpdateSecret:
      return "/{service}/1/updateSecret";
    case Route::kSettings:
      return "/{service}/1/settings";
    case Route::kRegenerateSecret:
      return std::string(kRegenerateSecretPath);
    case Route::kHealth:
      return "/healthz";
  }
  return "unmatched";
}

WorkPool PoolFor(Route route) {
  switch (route) {
    case Route::kRegister:
    case Route::kRegenerateKey:
    case Route::kUpdateSecret:
      return WorkPool::kHashing;
    case Route::kSettings:
    case Route::kRegenerateSecret:
      return WorkPool::kStorage;
    case Route::kHealth:
      return WorkPool::kInline;
  }
  return WorkPool::kInline;
}

Response Health(const RequestMeta& meta) {
  return NoStoreJson(status::ok, json::object{{"status", "ok"}}, meta);
}

// ---- Request parts -----------------------------------------------------------------------------

// application/json (any case, parameters allowed), or curl's default form type when it carries
// JSON — a reference page's own curl example sends exactly that.
bool IsAcceptedMediaType(std::string_view content_type) {
  std::string_view type = content_type.substr(0, content_type.find(';'));
  while (!type.empty() && (type.back() == ' ' || type.back() == '\t')) type.remove_suffix(1);
  while (!type.empty() && (type.front() == ' ' || type.front() == '\t')) type.remove_prefix(1);
  auto iequals = [](std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i) {
      const char x = (a[i] >= 'A' && a[i] <= 'Z') ? static_cast<char>(a[i] + 32) : a[i];
      if (x != b[i]) return false;
    }
    return true;
  };
  return iequals(type, "application/json") || iequals(type, "application/x-www-form-urlencoded");
}

// The query parameters a route reads, each at most once.
struct QueryParams {
  std::optional<std::string> key;
  std::optional<std::string> admin_key;
};

std::variant<QueryParams, std::string> ParseQuery(std::string_view target) {
  auto url = boost::urls::parse_origin_form(target);
  if (!url) return std::string("the request target is malformed");
  QueryParams query;
  for (const auto& param : url->params()) {
    std::optional<std::string>* slot = nullptr;
    if (param.key == "key") slot = &query.key;
    if (param.key == "adminKey") slot = &query.admin_key;
    if (slot == nullptr) continue;  // other parameters are not ours to judge
    if (slot->has_value()) return "query parameter '" + param.key + "' appears more than once";
    *slot = param.has_value ? param.value : std::string();
  }
  return query;
}

// Every member of `body` must be one of `allowed`.
std::optional<std::string> UnknownMember(const json::object& body,
                                         std::initializer_list<std::string_view> allowed) {
  for (const auto& member : body) {
    bool known = false;
    for (std::string_view name : allowed) known = known || member.key() == name;
    if (!known) return "unknown member '" + std::string(member.key()) + "'";
  }
  return std::nullopt;
}

std::variant<std::string_view, std::string> RequiredString(const json::object& body,
                                                           std::string_view name) {
  auto it = body.find(name);
  if (it == body.end()) return "missing member '" + std::string(name) + "'";
  if (!it->value().is_string()) return "member '" + std::string(name) + "' must be a string";
  const json::string& text = it->value().get_string();
  return std::string_view(text.data(), text.size());
}

// An optional grace in seconds: a finite JSON number in 0..3600, as milliseconds
// (round(n·1000)). Strings, null, booleans, arrays and objects are not numbers.
std::variant<std::chrono::milliseconds, std::string> OptionalGrace(const json::object& body,
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
  const auto millis = t.time_since_epoch().count();
  const time_t seconds = static_cast<time_t>(millis / 1000);
  struct tm utc {};
  gmtime_r(&seconds, &utc);
  char text[64];  // roomy enough that no field width can truncate
  std::snprintf(text, sizeof text, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", utc.tm_year + 1900,
                utc.tm_mon + 1, utc.tm_mday, utc.tm_hour, utc.tm_min, utc.tm_sec,
                static_cast<int>(millis % 1000));
  return text;
}

// Wipes the JSON strings that held secrets once the call is done with them.
void WipeMembers(json::object& body, std::initializer_list<std::string_view> names) {
  for (std::string_view name : names) {
    auto it = body.find(name);
    if (it != body.end() && it->value().is_string()) {
      json::string& text = it->value().get_string();
      sodium_memzero(text.data(), text.size());
    }
  }
}

RequestContext ContextOf(const RequestMeta& meta) {
  return RequestContext{meta.client_address, meta.request_id};
}

// ---- Handlers (each runs after routing, size and media-type checks) ------------------------

struct CustomerCall {
  const Request& request;
  const RequestMeta& meta;
  const std::string& service;
  CredentialStore& store;
};

// The parsed body of a secret-carrying customer route, or the 400 to send.
std::variant<json::object, Response> ParseBody(const CustomerCall& call,
                                               std::initializer_list<std::string_view> allowed) {
  auto parsed = internal::ParseStrictJsonObject(call.request.body());
  if (auto* problem = std::get_if<std::string>(&parsed)) return BadRequest(*problem, call.meta);
  auto& body = std::get<json::object>(parsed);
  if (auto unknown = UnknownMember(body, allowed)) return BadRequest(*unknown, call.meta);
  return std::move(body);
}

Response Register(const CustomerCall& call, std::string_view api_key) {
  auto parsed = ParseBody(call, {"secret"});
  if (auto* early = std::get_if<Response>(&parsed)) return std::move(*early);
  auto& body = std::get<json::object>(parsed);
  auto secret = RequiredString(body, "secret");
  if (auto* problem = std::get_if<std::string>(&secret)) return BadRequest(*problem, call.meta);
  auto grant = call.store.Register(ContextOf(call.meta), call.service, api_key,
                                   std::get<std::string_view>(secret));
  WipeMembers(body, {"secret"});
  if (!grant.ok()) return ProblemFor(grant.status(), call.meta, call.service + ":register");
  return NoStoreJson(status::ok, {{"adminKey", grant->admin_key.view()}}, call.meta);
}

Response RegenerateKey(const CustomerCall& call, std::string_view api_key) {
  auto parsed = ParseBody(call, {"secret", "oldKeyValidForSeconds"});
  if (auto* early = std::get_if<Response>(&parsed)) return std::move(*early);
  auto& body = std::get<json::object>(parsed);
  auto secret = RequiredString(body, "secret");
  if (auto* problem = std::get_if<std::string>(&secret)) return BadRequest(*problem, call.meta);
  auto grace = OptionalGrace(body, "oldKeyValidForSeconds");
  if (auto* problem = std::get_if<std::string>(&grace)) return BadRequest(*problem, call.meta);
  auto grant = call.store.RegenerateAdminKey(ContextOf(call.meta), call.service, api_key,
                                             std::get<std::string_view>(secret),
                                             std::get<std::chrono::milliseconds>(grace));
  WipeMembers(body, {"secret"});
  if (!grant.ok()) return ProblemFor(grant.status(), call.meta, call.service + ":configuration");
  return NoStoreJson(status::ok, {{"adminKey", grant->admin_key.view()}}, call.meta);
}

Response UpdateSecret(const CustomerCall& call, std::string_view api_key) {
  auto parsed = ParseBody(call, {"secret", "newSecret"});
  if (auto* early = std::get_if<Response>(&parsed)) return std::move(*early);
  auto& body = std::get<json::object>(parsed);
  auto secret = RequiredString(body, "secret");
  if (auto* problem = std::get_if<std::string>(&secret)) return BadRequest(*problem, call.meta);
  auto new_secret = RequiredString(body, "newSecret");
  if (auto* problem = std::get_if<std::string>(&new_secret)) return BadRequest(*problem, call.meta);
  Status updated = call.store.UpdateSecret(ContextOf(call.meta), call.service, api_key,
                                           std::get<std::string_view>(secret),
                                           std::get<std::string_view>(new_secret));
  WipeMembers(body, {"secret", "newSecret"});
  if (!updated.ok()) return ProblemFor(updated, call.meta, call.service + ":configuration");
  return NoContent(call.meta);
}

Response Settings(const CustomerCall& call, std::string_view api_key,
                  const std::optional<std::string>& admin_key) {
  const std::string scope = call.service + ":settings";
  const bool is_get = call.request.method() == beast_http::verb::get;
  // A malformed body is 400 before any credential is looked at (the check order).
  std::variant<json::object, std::string> parsed;
  if (!is_get) {
    parsed = internal::ParseStrictJsonObject(call.request.body());
    if (auto* problem = std::get_if<std::string>(&parsed)) return BadRequest(*problem, call.meta);
  }
  if (!admin_key || admin_key->empty()) {
    return ProblemFor(Status::Unauthorized("admin key missing or invalid"), call.meta, scope);
  }
  if (is_get) {
    auto settings = call.store.GetSettings(call.service, api_key, *admin_key);
    if (!settings.ok()) return ProblemFor(settings.status(), call.meta, scope);
    return NoStoreBody(status::ok, "application/json", std::move(settings).value(), call.meta);
  }
  auto stored = call.store.PutSettings(ContextOf(call.meta), call.service, api_key, *admin_key,
                                       json::serialize(std::get<json::object>(parsed)));
  if (!stored.ok()) return ProblemFor(stored.status(), call.meta, scope);
  return NoStoreBody(status::ok, "application/json", std::move(stored).value(), call.meta);
}

Response RegenerateSecret(const Request& request, const RequestMeta& meta, CredentialStore& store) {
  constexpr std::string_view kScope = "integrator:regenerate-secret";
  std::chrono::milliseconds grace(0);
  if (!request.body().empty()) {
    auto parsed = internal::ParseStrictJsonObject(request.body());
    if (auto* problem = std::get_if<std::string>(&parsed)) return BadRequest(*problem, meta);
    auto& body = std::get<json::object>(parsed);
    if (auto unknown = UnknownMember(body, {"oldSecretValidForSeconds"})) {
      return BadRequest(*unknown, meta);
    }
    auto parsed_grace = OptionalGrace(body, "oldSecretValidForSeconds");
    if (auto* problem = std::get_if<std::string>(&parsed_grace)) return BadRequest(*problem, meta);
    grace = std::get<std::chrono::milliseconds>(parsed_grace);
  }
  // A header sent twice is ambiguous about what was signed: treat it as no credential.
  for (const char* name : {"X-Integrator-Key", "X-Timestamp", "X-Signature"}) {
    if (request.count(name) > 1) {
      return ProblemFor(Status::Unauthorized(std::string(name) + " appears more than once"), meta,
                        kScope);
    }
  }
  const std::string_view integrator_key = request["X-Integrator-Key"];
  SignedRequest signed_request{integrator_key,         request["X-Timestamp"],
                               request["X-Signature"], request.method_string(),
                               request.target(),       request.body()};
  auto rotated = store.RotateIntegratorSecret(ContextOf(meta), signed_request, grace);
  if (!rotated.ok()) return ProblemFor(rotated.status(), meta, kScope, integrator_key);
  json::object body{{"secret", rotated->secret.view()}};
  if (rotated->old_secret_expires_at) {
    body["oldSecretExpiresAt"] = Iso8601(*rotated->old_secret_expires_at);
  }
  return NoStoreJson(status::ok, body, meta);
}

}  // namespace

PublicApi::PublicApi(CredentialStore& store, PublicApiOptions options)
    : store_(store), options_(options) {}

RouteMatch PublicApi::Match(const Request& request, const RequestMeta& meta) const {
  RouteMatch match;
  auto classified = Classify(request, meta, store_);
  if (auto* early = std::get_if<Response>(&classified)) {
    match.route_template = "unmatched";
    match.early_response = std::move(*early);
    return match;
  }
  const Routed& routed = std::get<Routed>(classified);
  match.route_template = RouteTemplate(routed.route);
  match.pool = PoolFor(routed.route);
  if (routed.route == Route::kHealth) match.early_response = Health(meta);
  return match;
}

Response PublicApi::Handle(const Request& request, const RequestMeta& meta) const {
  auto classified = Classify(request, meta, store_);
  if (auto* early = std::get_if<Response>(&classified)) return std::move(*early);
  const Routed& routed = std::get<Routed>(classified);
  if (routed.route == Route::kHealth) return Health(meta);

  // 413: the server's parser already enforces this; repeated for hosts that call Handle alone.
  if (request.body().size() > options_.max_body_bytes) {
    return MakeProblem(status::payload_too_large, "request body too large", meta);
  }
  // 415: a body must say it is JSON. An empty body needs no type (regenerate-secret, GET).
  const bool reads_body = request.method() == beast_http::verb::post;
  if (reads_body && !request.body().empty() &&
      !IsAcceptedMediaType(request[beast_http::field::content_type])) {
    return MakeProblem(status::unsupported_media_type, "request body must be application/json",
                       meta);
  }
  if (routed.route == Route::kRegenerateSecret) return RegenerateSecret(request, meta, store_);

  // 400: the query, then the body (in each handler).
  auto query = ParseQuery(request.target());
  if (auto* problem = std::get_if<std::string>(&query)) return BadRequest(*problem, meta);
  const QueryParams& params = std::get<QueryParams>(query);
  if (!params.key || !IsWellFormedApiKey(*params.key)) {
    return BadRequest("query parameter 'key' must be 8-128 characters of [A-Za-z0-9_-]", meta);
  }
  const CustomerCall call{request, meta, routed.service, store_};
  switch (routed.route) {
    case Route::kRegister:
      return Register(call, *params.key);
    case Route::kRegenerateKey:
      return RegenerateKey(call, *params.key);
    case Route::kUpdateSecret:
      return UpdateSecret(call, *params.key);
    case Route::kSettings:
      return Settings(call, *params.key, params.admin_key);
    default:
      return MakeProblem(status::internal_server_error, "unrouted request", meta);
  }
}

}  // namespace credstore::http
