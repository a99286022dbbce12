// The operator routes: the token, then request parsing in DESIGN.md §1's check order, then one
// CredentialStore (or ProvisionedApiKeys) call, then the response. No business rule lives here.
#include "credstore/http/operator_api.h"

#include <sodium.h>

#include <boost/beast/http/field.hpp>
#include <boost/json/array.hpp>
#include <boost/json/serialize.hpp>
#include <boost/url/parse.hpp>
#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <initializer_list>
#include <optional>
#include <sstream>
#include <utility>
#include <variant>
#include <vector>

#include "responses.h"
#include "strict_json.h"

namespace credstore::http {
namespace {

namespace beast_http = boost::beast::http;
namespace json = boost::json;
using beast_http::status;
using beast_http::verb;

static_assert(crypto_generichash_KEYBYTES == 32 && crypto_generichash_BYTES == 32,
              "operator_api.h sizes its token digest arrays for BLAKE2b-256");

constexpr std::string_view kRealm = "credstore-operator";
constexpr std::string_view kScope = "operator";
constexpr std::size_t kDefaultListLimit = 100;
constexpr std::size_t kMaxListLimit = 1000;
constexpr std::size_t kMaxCursorLength = 128;

enum class Route {
  kHealth,
  kMetrics,
  kCreateIntegrator,
  kListIntegrators,
  kGetIntegrator,
  kDisableIntegrator,
  kResetIntegratorSecret,
  kProvisionApiKey,
  kRevokeApiKey,
  kRevokeApiKeyInPath,
  kResetCustomer,
  kDeleteCustomer,
};

struct Routed {
  Route route;
  // Path parameters, percent-decoded: the integrator id, or the service and API key of
  // kRevokeApiKeyInPath.
  std::string first;
  std::string second;
};

std::string_view RouteTemplate(Route route) {
  switch (route) {
    case Route::kHealth:
      return "/healthz";
    case Route::kMetrics:
      return "/metrics";
    case Route::kCreateIntegrator:
    case Route::kListIntegrators:
      return "/v1/integrators";
    case Route::kGetIntegrator:
      return "/v1/integrators/{id}";
    case Route::kDisableIntegrator:
      return "/v1/integrators/{id}/disable";
    case Route::kResetIntegratorSecret:
      return "/v1/integrators/{id}/reset-secret";
    case Route::kProvisionApiKey:
      return "/v1/api-keys";
    case Route::kRevokeApiKey:
      return "/v1/api-keys/revoke";
    case Route::kRevokeApiKeyInPath:
      return "/v1/api-keys/{service}/{apiKey}";
    case Route::kResetCustomer:
      return "/v1/customers/reset";
    case Route::kDeleteCustomer:
      return "/v1/customers/delete";
  }
  return "unmatched";
}

WorkPool PoolFor(Route route) {
  switch (route) {
    case Route::kHealth:
      return WorkPool::kInline;
    case Route::kResetCustomer:
      return WorkPool::kHashing;  // hashes the new secret with Argon2id
    default:
      return WorkPool::kStorage;
  }
}

// ---- Problems ------------------------------------------------------------------------------

Response Unauthorized(const RequestMeta& meta) {
  ProblemExtras extras;
  extras.auth_scheme = "Bearer";  // the operator token is a bearer token (RFC 6750)
  extras.realm = std::string(kRealm);
  extras.scope = std::string(kScope);
  return MakeProblem(status::unauthorized,
                     "operator token missing or invalid (Authorization: Bearer <token>)", meta,
                     extras);
}

// Integrator ids are public and may be echoed; anything else in the id's place might be a
// pasted secret, so only what looks like an id ("int_" and letters or digits) is.
bool LooksLikeIntegratorId(std::string_view id) {
  if (!id.starts_with("int_") || id.size() > 64) return false;
  for (char c : id.substr(4)) {
    const bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
    if (!ok) return false;
  }
  return true;
}

// What a 404 names: a resource type, and an id when it is public.
struct Resource {
  std::string_view type;
  std::string_view id;
};

// The problem for a failed core call.
Response ProblemFor(const Status& failure, const RequestMeta& meta, Resource resource = {}) {
  const status code = HttpStatusFor(failure);
  if (code == status::internal_server_error) {
    return MakeProblem(code, "internal error; the request id is in the server log", meta);
  }
  ProblemExtras extras;
  if (code == status::unauthorized) {
    extras.auth_scheme = "Bearer";
    extras.realm = std::string(kRealm);
    extras.scope = std::string(kScope);
  }
  if (code == status::not_found) {
    extras.resource_type = std::string(resource.type);
    if (LooksLikeIntegratorId(resource.id)) extras.resource_id = std::string(resource.id);
  }
  if (code == status::too_many_requests || code == status::service_unavailable) {
    extras.retry_after = RetryAfterSeconds(failure.retry_after());
  }
  return MakeProblem(code, failure.message(), meta, extras);
}

Response UnknownService(const RequestMeta& meta) {
  ProblemExtras extras;
  extras.resource_type = "service";
  // The name is not echoed: a mixed-up request could carry an API key in its place.
  return MakeProblem(status::not_found, "unknown service", meta, extras);
}

// ---- Routing --------------------------------------------------------------------------------

// The route for a request, or the early answer (404, 405, or 400 for a target that is not
// origin-form). Only the path is read here; the query is the handler's.
std::variant<Routed, Response> Classify(const Request& request, const RequestMeta& meta) {
  const std::string_view target = request.target();
  if (target.empty() || target.front() != '/') {
    return BadRequest("the request target must be in origin-form (a path, not a URL)", meta);
  }
  auto url = boost::urls::parse_origin_form(target);
  if (!url) return BadRequest("the request target is malformed", meta);
  std::vector<std::string> segments;
  for (std::string segment : url->segments()) segments.push_back(std::move(segment));
  const verb method = request.method();
  auto only = [&](verb allowed, std::string_view allow,
                  Routed routed) -> std::variant<Routed, Response> {
    if (method != allowed) return MethodNotAllowed(allow, meta);
    return routed;
  };
  auto is = [&](std::initializer_list<std::string_view> fixed) {
    // True iff the path has as many segments as `fixed`, equal wherever `fixed` is not "*".
    if (segments.size() != fixed.size()) return false;
    std::size_t i = 0;
    for (std::string_view part : fixed) {
      if (part != "*" && segments[i] != part) return false;
      if (part == "*" && segments[i].empty()) return false;
      ++i;
    }
    return true;
  };

  if (is({"healthz"})) return only(verb::get, "GET", {Route::kHealth, {}, {}});
  if (is({"metrics"})) return only(verb::get, "GET", {Route::kMetrics, {}, {}});
  if (is({"v1", "integrators"})) {
    if (method == verb::get) return Routed{Route::kListIntegrators, {}, {}};
    if (method == verb::post) return Routed{Route::kCreateIntegrator, {}, {}};
    return MethodNotAllowed("GET, POST", meta);
  }
  if (is({"v1", "integrators", "*"})) {
    return only(verb::get, "GET", {Route::kGetIntegrator, segments[2], {}});
  }
  if (is({"v1", "integrators", "*", "disable"})) {
    return only(verb::post, "POST", {Route::kDisableIntegrator, segments[2], {}});
  }
  if (is({"v1", "integrators", "*", "reset-secret"})) {
    return only(verb::post, "POST", {Route::kResetIntegratorSecret, segments[2], {}});
  }
  if (is({"v1", "api-keys"})) return only(verb::post, "POST", {Route::kProvisionApiKey, {}, {}});
  if (is({"v1", "api-keys", "revoke"})) {
    return only(verb::post, "POST", {Route::kRevokeApiKey, {}, {}});
  }
  if (is({"v1", "api-keys", "*", "*"})) {
    return only(verb::delete_, "DELETE", {Route::kRevokeApiKeyInPath, segments[2], segments[3]});
  }
  if (is({"v1", "customers", "reset"})) {
    return only(verb::post, "POST", {Route::kResetCustomer, {}, {}});
  }
  if (is({"v1", "customers", "delete"})) {
    return only(verb::post, "POST", {Route::kDeleteCustomer, {}, {}});
  }
  return MakeProblem(status::not_found, "no such route", meta);
}

// ---- Request parts -----------------------------------------------------------------------------

// application/json (any case, parameters allowed), or curl's default form type carrying JSON.
bool IsAcceptedMediaType(std::string_view content_type) {
  std::string_view type = content_type.substr(0, content_type.find(';'));
  while (!type.empty() && (type.back() == ' ' || type.back() == '\t')) type.remove_suffix(1);
  while (!type.empty() && (type.front() == ' ' || type.front() == '\t')) type.remove_prefix(1);
  auto iequals = [](std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i) {
      const char x = (a[i] >= 'A' && a[i] <= 'Z') ? static_cast<char>(a[i] + ('a' - 'A')) : a[i];
      if (x != b[i]) return false;
    }
    return true;
  };
  return iequals(type, "application/json") || iequals(type, "application/x-www-form-urlencoded");
}

// Wipes the JSON strings that held an API key or a secret once the call is done with them.
class ScrubOnExit {
 public:
  ScrubOnExit(json::object& body, std::initializer_list<std::string_view> names)
      : body_(body), names_(names) {}
  ~ScrubOnExit() {
    for (std::string_view name : names_) {
      auto it = body_.find(name);
      if (it != body_.end() && it->value().is_string()) {
        json::string& text = it->value().get_string();
        sodium_memzero(text.data(), text.size());
      }
    }
  }
  ScrubOnExit(const ScrubOnExit&) = delete;
  ScrubOnExit& operator=(const ScrubOnExit&) = delete;

 private:
  json::object& body_;
  std::vector<std::string_view> names_;
};

// The body as a strict JSON object whose members are all in `allowed`, or the 400 to send.
std::variant<json::object, Response> ParseBody(const Request& request, const RequestMeta& meta,
                                               std::initializer_list<std::string_view> allowed) {
  auto parsed = internal::ParseStrictJsonObject(request.body());
  if (auto* problem = std::get_if<std::string>(&parsed)) return BadRequest(*problem, meta);
  auto& body = std::get<json::object>(parsed);
  for (const auto& member : body) {
    bool known = false;
    for (std::string_view name : allowed) known = known || member.key() == name;
    if (!known) {
      // Scrub before the object dies: an unknown member may hold a key the caller misnamed.
      for (auto& each : body) {
        if (each.value().is_string()) {
          sodium_memzero(each.value().get_string().data(), each.value().get_string().size());
        }
      }
      return BadRequest("unknown member '" + std::string(member.key()) + "'", meta);
    }
  }
  return std::move(body);
}

// The member's text, or the 400 detail. `required` false: a missing member reads as "".
std::variant<std::string_view, std::string> StringMember(const json::object& body,
                                                         std::string_view name,
                                                         bool required = true) {
  auto it = body.find(name);
  if (it == body.end()) {
    if (!required) return std::string_view();
    return "missing member '" + std::string(name) + "'";
  }
  if (!it->value().is_string()) return "member '" + std::string(name) + "' must be a string";
  const json::string& text = it->value().get_string();
  return std::string_view(text.data(), text.size());
}

// The customer a body names: its `service` and `apiKey` members (API-key and customer routes).
struct NamedCustomer {
  std::string_view service;
  std::string_view api_key;
};

// The named customer, or the 400 for a missing or non-string member.
std::variant<NamedCustomer, Response> ReadNamedCustomer(const json::object& body,
                                                        const RequestMeta& meta) {
  auto service = StringMember(body, "service");
  if (auto* problem = std::get_if<std::string>(&service)) return BadRequest(*problem, meta);
  auto api_key = StringMember(body, "apiKey");
  if (auto* problem = std::get_if<std::string>(&api_key)) return BadRequest(*problem, meta);
  return NamedCustomer{std::get<std::string_view>(service), std::get<std::string_view>(api_key)};
}

struct ListQuery {
  std::string cursor;
  std::size_t limit = kDefaultListLimit;
};

std::variant<ListQuery, std::string> ParseListQuery(std::string_view target) {
  auto url = boost::urls::parse_origin_form(target);
  if (!url) return std::string("the request target is malformed");
  ListQuery query;
  bool seen_cursor = false;
  bool seen_limit = false;
  for (const auto& param : url->params()) {
    if (param.key == "cursor") {
      if (seen_cursor) return std::string("query parameter 'cursor' appears more than once");
      seen_cursor = true;
      query.cursor = param.value;
      if (query.cursor.size() > kMaxCursorLength) return std::string("'cursor' is malformed");
      for (char c : query.cursor) {
        const bool ok =
            (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
        if (!ok) return std::string("'cursor' is malformed");
      }
    } else if (param.key == "limit") {
      if (seen_limit) return std::string("query parameter 'limit' appears more than once");
      seen_limit = true;
      const std::string& text = param.value;
      std::size_t limit = 0;
      const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), limit);
      if (text.empty() || error != std::errc() || end != text.data() + text.size() || limit < 1 ||
          limit > kMaxListLimit) {
        return std::string("'limit' must be an integer between 1 and 1000");
      }
      query.limit = limit;
    }
  }
  return query;
}

// "2026-11-23T08:00:00.000Z".
std::string Iso8601(Timestamp t) {
  const auto day = std::chrono::floor<std::chrono::days>(t);
  const std::chrono::year_month_day date(day);
  const std::chrono::hh_mm_ss<std::chrono::milliseconds> time(t - day);
  std::string out;
  auto append = [&out](long long value, std::size_t width, char after) {
    const std::string digits = std::to_string(value);
    if (digits.size() < width) out.append(width - digits.size(), '0');
    out += digits;
    out += after;
  };
  append(static_cast<int>(date.year()), 4, '-');
  append(static_cast<unsigned>(date.month()), 2, '-');
  append(static_cast<unsigned>(date.day()), 2, 'T');
  append(time.hours().count(), 2, ':');
  append(time.minutes().count(), 2, ':');
  append(time.seconds().count(), 2, '.');
  append(time.subseconds().count(), 3, 'Z');
  return out;
}

json::object Describe(const IntegratorInfo& info) {
  json::object out;
  out["integratorId"] = info.integrator_id;
  out["label"] = info.label;
  out["enabled"] = info.enabled;
  out["createdAt"] = Iso8601(info.created_at);
  out["generation"] = info.generation;
  if (info.old_secret_expires_at) {
    out["oldSecretExpiresAt"] = Iso8601(*info.old_secret_expires_at);
  }
  return out;
}

RequestContext ContextOf(const RequestMeta& meta) {
  return RequestContext{meta.client_address, meta.request_id};
}

// The store's own counters, after the server's metrics. A family the server already renders
// (it may register the same counters as gauges) is not repeated: Prometheus rejects duplicates.
std::string RenderMetrics(const Metrics& metrics, const StoreStats& stats) {
  std::string text = metrics.RenderPrometheus();
  std::ostringstream out;
  auto counter = [&](std::string_view name, std::string_view help, std::uint64_t value) {
    if (text.find("# TYPE " + std::string(name) + " ") != std::string::npos) return;
    out << "# HELP " << name << ' ' << help << '\n'
        << "# TYPE " << name << " counter\n"
        << name << ' ' << value << '\n';
  };
  counter("credstore_store_argon2_hashes_total", "Argon2id hashes of new customer secrets.",
          stats.argon2_hashes);
  counter("credstore_store_argon2_verifications_total",
          "Argon2id secret checks, dummy checks of unknown customers included.",
          stats.argon2_verifications);
  counter("credstore_store_argon2_budget_rejections_total",
          "Calls answered unavailable because every Argon2id permit was taken.",
          stats.argon2_budget_rejections);
  counter("credstore_store_throttled_total", "Secret attempts refused by throttling.",
          stats.throttled);
  counter("credstore_store_cas_retries_total", "Compare-and-swap writes retried after a race.",
          stats.cas_retries);
  return text + out.str();
}

// ---- Handlers (each runs after routing, the token, size and media-type checks) --------------

struct Call {
  const Request& request;
  const RequestMeta& meta;
  const Routed& routed;
  CredentialStore& store;
  ProvisionedApiKeys* api_keys;
};

Response CreateIntegrator(const Call& call) {
  auto parsed = ParseBody(call.request, call.meta, {"label"});
  if (auto* early = std::get_if<Response>(&parsed)) return std::move(*early);
  auto& body = std::get<json::object>(parsed);
  auto label = StringMember(body, "label", /*required=*/false);
  if (auto* problem = std::get_if<std::string>(&label)) return BadRequest(*problem, call.meta);
  auto created =
      call.store.CreateIntegrator(ContextOf(call.meta), std::get<std::string_view>(label));
  if (!created.ok()) return ProblemFor(created.status(), call.meta);
  Response response = NoStoreJson(
      status::created,
      {{"integratorId", created->integrator_id}, {"secret", created->secret.view()}}, call.meta);
  response.set(beast_http::field::location, "/v1/integrators/" + created->integrator_id);
  return response;
}

Response ListIntegrators(const Call& call) {
  auto query = ParseListQuery(call.request.target());
  if (auto* problem = std::get_if<std::string>(&query)) return BadRequest(*problem, call.meta);
  const ListQuery& list = std::get<ListQuery>(query);
  auto page = call.store.ListIntegrators(list.cursor, list.limit);
  if (!page.ok()) return ProblemFor(page.status(), call.meta);
  json::array integrators;
  integrators.reserve(page->integrators.size());
  for (const IntegratorInfo& info : page->integrators) integrators.push_back(Describe(info));
  json::object body;
  body["integrators"] = std::move(integrators);
  if (page->next_cursor.empty()) {
    body["nextCursor"] = nullptr;
  } else {
    body["nextCursor"] = page->next_cursor;
  }
  return NoStoreJson(status::ok, body, call.meta);
}

Response GetIntegrator(const Call& call) {
  const std::string& id = call.routed.first;
  auto info = call.store.GetIntegrator(id);
  if (!info.ok()) return ProblemFor(info.status(), call.meta, {"integrator", id});
  return NoStoreJson(status::ok, Describe(*info), call.meta);
}

Response DisableIntegrator(const Call& call) {
  const std::string& id = call.routed.first;
  Status disabled = call.store.DisableIntegrator(ContextOf(call.meta), id);
  if (!disabled.ok()) return ProblemFor(disabled, call.meta, {"integrator", id});
  return NoContent(call.meta);
}

Response ResetIntegratorSecret(const Call& call) {
  const std::string& id = call.routed.first;
  auto reset = call.store.ResetIntegratorSecret(ContextOf(call.meta), id);
  if (!reset.ok()) return ProblemFor(reset.status(), call.meta, {"integrator", id});
  return NoStoreJson(status::ok, {{"secret", reset->secret.view()}}, call.meta);
}

Response ProvisioningOff(const RequestMeta& meta) {
  return MakeProblem(status::conflict,
                     "API key provisioning is off: this server accepts any well-formed API key "
                     "(--api-keys any)",
                     meta);
}

// Provision or revoke, with the service and key from `service` and `api_key`.
Response ChangeApiKey(const Call& call, std::string_view service, std::string_view api_key,
                      bool provision) {
  if (!IsWellFormedApiKey(api_key)) {
    return BadRequest("'apiKey' must be 8-128 characters of [A-Za-z0-9_-]", call.meta);
  }
  if (call.api_keys == nullptr) return ProvisioningOff(call.meta);
  if (!call.store.HasService(service)) return UnknownService(call.meta);
  const RequestContext context = ContextOf(call.meta);
  Status changed = provision ? call.api_keys->Provision(service, api_key, context)
                             : call.api_keys->Revoke(service, api_key, context);
  if (!changed.ok()) return ProblemFor(changed, call.meta, {"apiKey", {}});
  return NoContent(call.meta);
}

Response ApiKeyFromBody(const Call& call, bool provision) {
  auto parsed = ParseBody(call.request, call.meta, {"service", "apiKey"});
  if (auto* early = std::get_if<Response>(&parsed)) return std::move(*early);
  auto& body = std::get<json::object>(parsed);
  const ScrubOnExit scrub(body, {"apiKey"});
  auto named = ReadNamedCustomer(body, call.meta);
  if (auto* early = std::get_if<Response>(&named)) return std::move(*early);
  const auto [service, api_key] = std::get<NamedCustomer>(named);
  return ChangeApiKey(call, service, api_key, provision);
}

// The backend's "not found" names a record; the operator asked about a customer.
Response CustomerProblem(const Status& failure, const RequestMeta& meta) {
  if (failure.code() == StatusCode::kNotFound) {
    return ProblemFor(Status::NotFound("no customer configuration for this API key"), meta,
                      {"customer", {}});
  }
  return ProblemFor(failure, meta, {"customer", {}});
}

Response ResetCustomer(const Call& call) {
  auto parsed = ParseBody(call.request, call.meta, {"service", "apiKey", "secret"});
  if (auto* early = std::get_if<Response>(&parsed)) return std::move(*early);
  auto& body = std::get<json::object>(parsed);
  const ScrubOnExit scrub(body, {"apiKey", "secret"});
  auto named = ReadNamedCustomer(body, call.meta);
  if (auto* early = std::get_if<Response>(&named)) return std::move(*early);
  const auto [service, api_key] = std::get<NamedCustomer>(named);
  auto secret = StringMember(body, "secret");
  if (auto* problem = std::get_if<std::string>(&secret)) return BadRequest(*problem, call.meta);
  if (!call.store.HasService(service)) {
    return UnknownService(call.meta);
  }
  auto grant = call.store.ResetCustomer(ContextOf(call.meta), service, api_key,
                                        std::get<std::string_view>(secret));
  if (!grant.ok()) return CustomerProblem(grant.status(), call.meta);
  return NoStoreJson(status::ok, {{"adminKey", grant->admin_key.view()}}, call.meta);
}

Response DeleteCustomer(const Call& call) {
  auto parsed = ParseBody(call.request, call.meta, {"service", "apiKey"});
  if (auto* early = std::get_if<Response>(&parsed)) return std::move(*early);
  auto& body = std::get<json::object>(parsed);
  const ScrubOnExit scrub(body, {"apiKey"});
  auto named = ReadNamedCustomer(body, call.meta);
  if (auto* early = std::get_if<Response>(&named)) return std::move(*early);
  const auto [service, api_key] = std::get<NamedCustomer>(named);
  if (!call.store.HasService(service)) {
    return UnknownService(call.meta);
  }
  Status deleted = call.store.DeleteCustomer(ContextOf(call.meta), service, api_key);
  if (!deleted.ok()) return CustomerProblem(deleted, call.meta);
  return NoContent(call.meta);
}

// Routes that take no body accept none, or an empty object.
std::optional<Response> CheckEmptyBody(const Request& request, const RequestMeta& meta) {
  if (request.body().empty()) return std::nullopt;
  auto parsed = ParseBody(request, meta, {});
  if (auto* early = std::get_if<Response>(&parsed)) return std::move(*early);
  return std::nullopt;
}

bool TakesBody(Route route) {
  switch (route) {
    case Route::kCreateIntegrator:
    case Route::kProvisionApiKey:
    case Route::kRevokeApiKey:
    case Route::kResetCustomer:
    case Route::kDeleteCustomer:
      return true;
    default:
      return false;
  }
}

}  // namespace

OperatorApi::OperatorApi(CredentialStore& store, ProvisionedApiKeys* api_keys, Metrics& metrics,
                         OperatorApiOptions options)
    : store_(store),
      api_keys_(api_keys),
      metrics_(metrics),
      max_body_bytes_(options.max_body_bytes) {
  if (sodium_init() < 0) std::abort();  // libsodium cannot work without a random source
  randombytes_buf(digest_key_.data(), digest_key_.size());
  has_token_ = !options.token.empty();
  crypto_generichash(token_digest_.data(), token_digest_.size(),
                     reinterpret_cast<const unsigned char*>(options.token.data()),
                     options.token.size(), digest_key_.data(), digest_key_.size());
  sodium_memzero(options.token.data(), options.token.size());
}

OperatorApi::~OperatorApi() {
  sodium_memzero(digest_key_.data(), digest_key_.size());
  sodium_memzero(token_digest_.data(), token_digest_.size());
}

bool OperatorApi::IsAuthorized(const Request& request) const {
  // Two Authorization headers are ambiguous about who is asking: neither counts.
  if (request.count(beast_http::field::authorization) != 1) return false;
  const std::string_view header = request[beast_http::field::authorization];
  constexpr std::string_view kScheme = "bearer ";
  if (header.size() <= kScheme.size()) return false;
  for (std::size_t i = 0; i < kScheme.size(); ++i) {
    const char c = header[i];
    const char lower = (c >= 'A' && c <= 'Z') ? static_cast<char>(c + ('a' - 'A')) : c;
    if (lower != kScheme[i]) return false;
  }
  std::string_view presented = header.substr(kScheme.size());
  while (!presented.empty() && presented.front() == ' ') presented.remove_prefix(1);
  while (!presented.empty() && (presented.back() == ' ' || presented.back() == '\t')) {
    presented.remove_suffix(1);
  }
  // Digests of equal length, compared in constant time: neither the token's length nor its
  // bytes leak through timing.
  std::array<unsigned char, 32> digest{};
  crypto_generichash(digest.data(), digest.size(),
                     reinterpret_cast<const unsigned char*>(presented.data()), presented.size(),
                     digest_key_.data(), digest_key_.size());
  const bool equal = sodium_memcmp(digest.data(), token_digest_.data(), digest.size()) == 0;
  return has_token_ && !presented.empty() && equal;
}

RouteMatch OperatorApi::Match(const Request& request, const RequestMeta& meta) const {
  RouteMatch match;
  auto classified = Classify(request, meta);
  if (auto* early = std::get_if<Response>(&classified)) {
    match.route_template = "unmatched";
    match.early_response = std::move(*early);
    return match;
  }
  const Routed& routed = std::get<Routed>(classified);
  match.route_template = std::string(RouteTemplate(routed.route));
  match.pool = PoolFor(routed.route);
  if (routed.route == Route::kHealth) {
    match.early_response = NoStoreJson(status::ok, {{"status", "ok"}}, meta);
  } else if (!IsAuthorized(request)) {
    // One BLAKE2b hash: cheap enough for an I/O thread, and keeps strangers off the workers.
    match.early_response = Unauthorized(meta);
  }
  return match;
}

Response OperatorApi::Handle(const Request& request, const RequestMeta& meta) const {
  auto classified = Classify(request, meta);
  if (auto* early = std::get_if<Response>(&classified)) return std::move(*early);
  const Routed& routed = std::get<Routed>(classified);
  if (routed.route == Route::kHealth) return NoStoreJson(status::ok, {{"status", "ok"}}, meta);
  if (!IsAuthorized(request)) return Unauthorized(meta);

  // 413: the server's parser already enforces this; repeated for hosts that call Handle alone.
  if (request.body().size() > max_body_bytes_) {
    return MakeProblem(status::payload_too_large, "request body too large", meta);
  }
  // 415: a body must say it is JSON. An empty body needs no type.
  if (!request.body().empty() && !IsAcceptedMediaType(request[beast_http::field::content_type])) {
    return MakeProblem(status::unsupported_media_type, "request body must be application/json",
                       meta);
  }
  if (!TakesBody(routed.route)) {
    if (auto problem = CheckEmptyBody(request, meta)) return std::move(*problem);
  }

  const Call call{request, meta, routed, store_, api_keys_};
  switch (routed.route) {
    case Route::kMetrics:
      return NoStoreBody(status::ok, "text/plain; version=0.0.4; charset=utf-8",
                         RenderMetrics(metrics_, store_.Stats()), meta);
    case Route::kCreateIntegrator:
      return CreateIntegrator(call);
    case Route::kListIntegrators:
      return ListIntegrators(call);
    case Route::kGetIntegrator:
      return GetIntegrator(call);
    case Route::kDisableIntegrator:
      return DisableIntegrator(call);
    case Route::kResetIntegratorSecret:
      return ResetIntegratorSecret(call);
    case Route::kProvisionApiKey:
      return ApiKeyFromBody(call, /*provision=*/true);
    case Route::kRevokeApiKey:
      return ApiKeyFromBody(call, /*provision=*/false);
    case Route::kRevokeApiKeyInPath:
      return ChangeApiKey(call, routed.first, routed.second, /*provision=*/false);
    case Route::kResetCustomer:
      return ResetCustomer(call);
    case Route::kDeleteCustomer:
      return DeleteCustomer(call);
    case Route::kHealth:
      break;
  }
  return MakeProblem(status::internal_server_error, "unrouted request", meta);
}

}  // namespace credstore::http
