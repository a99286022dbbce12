// The operator routes: the token, then request parsing in the documented check order, then one
// CredentialStore (or ProvisionedApiKeys) call, then the response. No business rule lives here.
#include "credstore/http/operator_api.h"

#include <sodium.h>

#include <boost/asio/ip/address.hpp>
#include <boost/beast/http/field.hpp>
#include <boost/json/array.hpp>
#include <boost/json/serialize.hpp>
#include <boost/url/parse.hpp>
#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <initializer_list>
#include <memory>
#include <optional>
#include <span>
#include <sstream>
#include <utility>
#include <variant>
#include <vector>

#include "failure_limiter.h"
#include "prepared_calls.h"
#include "readiness.h"
#include "request_parts.h"
#include "responses.h"

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

enum class Endpoint {
  kHealth,
  kReady,
  kMetrics,
  kCreateIntegrator,
  kListIntegrators,
  kGetIntegrator,
  kDisableIntegrator,
  kEnableIntegrator,
  kDeleteIntegrator,
  kResetIntegratorSecret,
  kProvisionApiKey,
  kRevokeApiKey,
  kRevokeApiKeyInPath,
  kResetCustomer,
  kDeleteCustomer,
  kClearThrottle,
  kResealKeys,
  kCreateBackup,
};

struct Matched {
  Endpoint route;
  // Path parameters, percent-decoded: the integrator id, or the service and API key of
  // kRevokeApiKeyInPath.
  std::string first;
  std::string second;
};

std::string_view RouteTemplate(Endpoint route) {
  switch (route) {
    case Endpoint::kHealth:
      return kHealthPath;
    case Endpoint::kReady:
      return kReadyPath;
    case Endpoint::kMetrics:
      return "/metrics";
    case Endpoint::kCreateIntegrator:
    case Endpoint::kListIntegrators:
      return "/v1/integrators";
    case Endpoint::kGetIntegrator:
    case Endpoint::kDeleteIntegrator:
      return "/v1/integrators/{id}";
    case Endpoint::kDisableIntegrator:
      return "/v1/integrators/{id}/disable";
    case Endpoint::kEnableIntegrator:
      return "/v1/integrators/{id}/enable";
    case Endpoint::kResetIntegratorSecret:
      return "/v1/integrators/{id}/reset-secret";
    case Endpoint::kProvisionApiKey:
      return "/v1/api-keys";
    case Endpoint::kRevokeApiKey:
      return "/v1/api-keys/revoke";
    case Endpoint::kRevokeApiKeyInPath:
      return "/v1/api-keys/{service}/{apiKey}";
    case Endpoint::kResetCustomer:
      return "/v1/customers/reset";
    case Endpoint::kDeleteCustomer:
      return "/v1/customers/delete";
    case Endpoint::kClearThrottle:
      return "/v1/throttle/clear";
    case Endpoint::kResealKeys:
      return "/v1/keys/reseal";
    case Endpoint::kCreateBackup:
      return "/v1/backups";
  }
  return "unmatched";
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

// docs/operations.md: this many failed token attempts per client in one window, then 429 until
// the window ends. Enough for an operator's typos, far too few to guess a 16-character token.
constexpr std::uint32_t kMaxTokenFailures = 10;
constexpr std::chrono::seconds kTokenFailureWindow{60};
constexpr std::size_t kMaxThrottledClients = 4096;

Response TooManyTokenFailures(std::chrono::milliseconds wait, const RequestMeta& meta) {
  ProblemExtras extras;
  extras.retry_after = RetryAfterSeconds(wait);
  return MakeProblem(status::too_many_requests,
                     "too many failed operator token attempts; try again later", meta, extras);
}

// Who a failed attempt is counted against: the client address on a loopback listener, the
// local user on a unix socket (so one user cannot lock out another).
std::string ThrottleKey(const RequestMeta& meta) {
  if (!meta.client_address.empty()) {
    return "addr/" + FailureLimiter::AddressKey(meta.client_address);
  }
  if (meta.peer_uid) return "uid/" + std::to_string(*meta.peer_uid);
  return "unknown";
}

// What a 404 names: a resource type, and an id when it is public.
struct Resource {
  std::string_view type;
  std::string_view id;
};

// The problem for a failed core call.
Response OperatorProblem(const Status& failure, const RequestMeta& meta, Resource resource = {}) {
  ProblemLabels labels;
  labels.auth_scheme = "Bearer";
  labels.realm = kRealm;
  labels.scope = std::string(kScope);
  labels.resource_type = resource.type;
  labels.resource_id = resource.id;
  return ProblemFor(failure, meta, labels);
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
std::variant<Matched, Response> Classify(const Request& request, const RequestMeta& meta) {
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
                  Matched routed) -> std::variant<Matched, Response> {
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

  if (is({"healthz"})) return only(verb::get, "GET", {Endpoint::kHealth, {}, {}});
  if (is({"readyz"})) return only(verb::get, "GET", {Endpoint::kReady, {}, {}});
  if (is({"metrics"})) return only(verb::get, "GET", {Endpoint::kMetrics, {}, {}});
  if (is({"v1", "integrators"})) {
    if (method == verb::get) return Matched{Endpoint::kListIntegrators, {}, {}};
    if (method == verb::post) return Matched{Endpoint::kCreateIntegrator, {}, {}};
    return MethodNotAllowed("GET, POST", meta);
  }
  if (is({"v1", "integrators", "*"})) {
    if (method == verb::get) return Matched{Endpoint::kGetIntegrator, segments[2], {}};
    if (method == verb::delete_) return Matched{Endpoint::kDeleteIntegrator, segments[2], {}};
    return MethodNotAllowed("GET, DELETE", meta);
  }
  if (is({"v1", "integrators", "*", "disable"})) {
    return only(verb::post, "POST", {Endpoint::kDisableIntegrator, segments[2], {}});
  }
  if (is({"v1", "integrators", "*", "enable"})) {
    return only(verb::post, "POST", {Endpoint::kEnableIntegrator, segments[2], {}});
  }
  if (is({"v1", "integrators", "*", "reset-secret"})) {
    return only(verb::post, "POST", {Endpoint::kResetIntegratorSecret, segments[2], {}});
  }
  if (is({"v1", "api-keys"})) return only(verb::post, "POST", {Endpoint::kProvisionApiKey, {}, {}});
  if (is({"v1", "api-keys", "revoke"})) {
    return only(verb::post, "POST", {Endpoint::kRevokeApiKey, {}, {}});
  }
  if (is({"v1", "api-keys", "*", "*"})) {
    return only(verb::delete_, "DELETE", {Endpoint::kRevokeApiKeyInPath, segments[2], segments[3]});
  }
  if (is({"v1", "customers", "reset"})) {
    return only(verb::post, "POST", {Endpoint::kResetCustomer, {}, {}});
  }
  if (is({"v1", "customers", "delete"})) {
    return only(verb::post, "POST", {Endpoint::kDeleteCustomer, {}, {}});
  }
  if (is({"v1", "throttle", "clear"})) {
    return only(verb::post, "POST", {Endpoint::kClearThrottle, {}, {}});
  }
  if (is({"v1", "keys", "reseal"})) {
    return only(verb::post, "POST", {Endpoint::kResealKeys, {}, {}});
  }
  if (is({"v1", "backups"})) return only(verb::post, "POST", {Endpoint::kCreateBackup, {}, {}});
  return MakeProblem(status::not_found, "no such route", meta);
}

// ---- Request parts -----------------------------------------------------------------------------

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

// An integrator id as a page cursor: at most 128 characters of [A-Za-z0-9_]. The same rule for
// the list's query and the re-seal's body.
bool IsCursorText(std::string_view cursor) {
  if (cursor.size() > kMaxCursorLength) return false;
  for (char c : cursor) {
    const bool ok =
        (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
    if (!ok) return false;
  }
  return true;
}

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
      if (!IsCursorText(query.cursor)) return std::string("'cursor' is malformed");
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

// The store's own counters, after the server's metrics. A family the server already renders
// (it may register the same counters as gauges) is not repeated: Prometheus rejects duplicates.
// `writes_available`: CredentialStore::CheckWrites, as /readyz reports it.
std::string RenderMetrics(const Metrics& metrics, const StoreStats& stats, bool writes_available) {
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
  counter("credstore_replication_pending_total",
          "Credentials minted and handed out while too few replicas had acknowledged them "
          "(answered with Credstore-Replication: pending).",
          stats.replication_pending);
  out << "# HELP credstore_storage_writes_available 1 while the backend accepts writes, 0 while "
         "it refuses them and serves reads only (e.g. RocksDB below its free-space reserve).\n"
      << "# TYPE credstore_storage_writes_available gauge\n"
      << "credstore_storage_writes_available " << (writes_available ? 1 : 0) << '\n';
  return text + out.str();
}

// ---- Handlers (each runs after routing, the token, size, media-type and body checks) --------

// What an operator call needs, owned: it may run later on a worker thread.
struct Call {
  CredentialStore* store;
  ProvisionedApiKeys* api_keys;
  RequestMeta meta;
  Matched routed;  // the route and its path parameters
  JsonBody body;   // the strict JSON body (empty for routes that take none)
  ListQuery list;
};

Response CreateIntegrator(const Call& call) {
  auto label = StringMember(call.body.object(), "label", /*required=*/false);
  if (auto* problem = std::get_if<std::string>(&label)) return BadRequest(*problem, call.meta);
  auto created =
      call.store->CreateIntegrator(ContextOf(call.meta), std::get<std::string_view>(label));
  if (!created.ok()) return OperatorProblem(created.status(), call.meta);
  Response response = NoStoreJson(
      status::created,
      {{"integratorId", created->integrator_id}, {"secret", created->secret.view()}}, call.meta);
  response.set(beast_http::field::location, "/v1/integrators/" + created->integrator_id);
  return WithReplication(std::move(response), created->replication_pending);
}

Response ListIntegrators(const Call& call) {
  auto page = call.store->ListIntegrators(call.list.cursor, call.list.limit);
  if (!page.ok()) return OperatorProblem(page.status(), call.meta);
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
  auto info = call.store->GetIntegrator(id);
  if (!info.ok()) return OperatorProblem(info.status(), call.meta, {"integrator", id});
  return NoStoreJson(status::ok, Describe(*info), call.meta);
}

// Disable, enable or delete: one call on the integrator the path names, 204 or its problem.
template <class Change>
Response ChangeIntegrator(const Call& call, Change change) {
  const std::string& id = call.routed.first;
  Status changed = change(*call.store, ContextOf(call.meta), id);
  if (!changed.ok()) return OperatorProblem(changed, call.meta, {"integrator", id});
  return NoContent(call.meta);
}

Response ResetIntegratorSecret(const Call& call) {
  const std::string& id = call.routed.first;
  auto reset = call.store->ResetIntegratorSecret(ContextOf(call.meta), id);
  if (!reset.ok()) return OperatorProblem(reset.status(), call.meta, {"integrator", id});
  return WithReplication(NoStoreJson(status::ok, {{"secret", reset->secret.view()}}, call.meta),
                         reset->replication_pending);
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
  if (!call.store->HasService(service)) return UnknownService(call.meta);
  const RequestContext context = ContextOf(call.meta);
  Status changed = provision ? call.api_keys->Provision(service, api_key, context)
                             : call.api_keys->Revoke(service, api_key, context);
  if (!changed.ok()) return OperatorProblem(changed, call.meta, {"apiKey", {}});
  return NoContent(call.meta);
}

Response ApiKeyFromBody(const Call& call, bool provision) {
  auto named = ReadNamedCustomer(call.body.object(), call.meta);
  if (auto* early = std::get_if<Response>(&named)) return std::move(*early);
  const auto [service, api_key] = std::get<NamedCustomer>(named);
  return ChangeApiKey(call, service, api_key, provision);
}

// The backend's "not found" names a record; the operator asked about a customer.
Response CustomerProblem(const Status& failure, const RequestMeta& meta) {
  if (failure.code() == StatusCode::kNotFound) {
    return OperatorProblem(Status::NotFound("no customer configuration for this API key"), meta,
                           {"customer", {}});
  }
  return OperatorProblem(failure, meta, {"customer", {}});
}

Response ResetCustomer(const Call& call) {
  auto named = ReadNamedCustomer(call.body.object(), call.meta);
  if (auto* early = std::get_if<Response>(&named)) return std::move(*early);
  const auto [service, api_key] = std::get<NamedCustomer>(named);
  auto secret = StringMember(call.body.object(), "secret");
  if (auto* problem = std::get_if<std::string>(&secret)) return BadRequest(*problem, call.meta);
  if (!call.store->HasService(service)) return UnknownService(call.meta);
  auto grant = call.store->ResetCustomer(ContextOf(call.meta), service, api_key,
                                         std::get<std::string_view>(secret));
  if (!grant.ok()) return CustomerProblem(grant.status(), call.meta);
  return WithReplication(
      NoStoreJson(status::ok, {{"adminKey", grant->admin_key.view()}}, call.meta),
      grant->replication_pending);
}

// {"address": A} clears a client address; {"service": S, "apiKey": K} a customer.
Response ClearThrottle(const Call& call) {
  const json::object& body = call.body.object();
  const RequestContext context = ContextOf(call.meta);
  if (body.contains("address")) {
    if (body.contains("service") || body.contains("apiKey")) {
      return BadRequest("give either 'address', or 'service' and 'apiKey'", call.meta);
    }
    auto address = StringMember(body, "address");
    if (auto* problem = std::get_if<std::string>(&address)) return BadRequest(*problem, call.meta);
    const std::string_view text = std::get<std::string_view>(address);
    boost::system::error_code invalid;
    (void)boost::asio::ip::make_address(std::string(text), invalid);
    if (invalid) {
      return BadRequest("member 'address' must be an IPv4 or IPv6 address", call.meta);
    }
    Status cleared = call.store->ClearAddressThrottle(context, text);
    if (!cleared.ok()) return OperatorProblem(cleared, call.meta, {});
    return NoContent(call.meta);
  }
  auto named = ReadNamedCustomer(body, call.meta);
  if (auto* early = std::get_if<Response>(&named)) return std::move(*early);
  const NamedCustomer customer = std::get<NamedCustomer>(named);
  if (!IsWellFormedApiKey(customer.api_key)) {
    return BadRequest("'apiKey' must be 8-128 characters of [A-Za-z0-9_-]", call.meta);
  }
  if (!call.store->HasService(customer.service)) return UnknownService(call.meta);
  Status cleared = call.store->ClearCustomerThrottle(context, customer.service, customer.api_key);
  if (!cleared.ok()) return CustomerProblem(cleared, call.meta);
  return NoContent(call.meta);
}

Response DeleteCustomer(const Call& call) {
  auto named = ReadNamedCustomer(call.body.object(), call.meta);
  if (auto* early = std::get_if<Response>(&named)) return std::move(*early);
  const auto [service, api_key] = std::get<NamedCustomer>(named);
  if (!call.store->HasService(service)) return UnknownService(call.meta);
  Status deleted = call.store->DeleteCustomer(ContextOf(call.meta), service, api_key);
  if (!deleted.ok()) return CustomerProblem(deleted, call.meta);
  return NoContent(call.meta);
}

// {} re-seals every integrator and then the keycheck; {"cursor": C, "limit": N} one page of N
// (1..1000) after C (either may be left out). The answer has the counts, the keycheck's state and
// the next page's cursor (null once the scan is complete).
Response ResealKeys(const Call& call) {
  const json::object& body = call.body.object();
  auto cursor = StringMember(body, "cursor", /*required=*/false);
  if (auto* problem = std::get_if<std::string>(&cursor)) return BadRequest(*problem, call.meta);
  if (!IsCursorText(std::get<std::string_view>(cursor))) {
    return BadRequest("member 'cursor' is malformed", call.meta);
  }
  std::size_t limit = 0;  // the core's "every integrator"
  if (const json::value* member = body.if_contains("limit")) {
    // Integers only: 10.0 and "10" are refused like 0 and 1001, so one page size has one form.
    const bool integral = member->is_int64() || member->is_uint64();
    const double value = integral ? member->to_number<double>() : 0;
    if (!integral || value < 1 || value > static_cast<double>(kMaxListLimit)) {
      return BadRequest("member 'limit' must be an integer between 1 and 1000", call.meta);
    }
    limit = static_cast<std::size_t>(value);
  }
  auto report = call.store->ResealUnderNewestMasterKey(ContextOf(call.meta),
                                                       std::get<std::string_view>(cursor), limit);
  if (!report.ok()) {
    // kUnauthorized here says the keycheck was rewritten under other keys since the store
    // opened — the store is out of service for these keys, as /readyz says too. A 401 would
    // blame the operator's token instead.
    if (report.status().code() == StatusCode::kUnauthorized) {
      return OperatorProblem(Status::Unavailable(report.status().message()), call.meta);
    }
    return OperatorProblem(report.status(), call.meta);
  }
  json::object out;
  out["integrators"] = json::object{{"resealed", report->integrators_resealed},
                                    {"already", report->integrators_already},
                                    {"failed", report->integrators_failed}};
  switch (report->keycheck) {
    case ResealReport::Keycheck::kResealed:
      out["keycheck"] = "resealed";
      break;
    case ResealReport::Keycheck::kAlready:
      out["keycheck"] = "already";
      break;
    case ResealReport::Keycheck::kPending:
      out["keycheck"] = "pending";
      break;
  }
  if (report->next_cursor.empty()) {
    out["nextCursor"] = nullptr;
  } else {
    out["nextCursor"] = report->next_cursor;
  }
  return NoStoreJson(status::ok, out, call.meta);
}

// {"name": N}: an online checkpoint named N in the server's own backups folder (never a path the
// caller names: the name is one folder entry). 409 for a name that exists and for a backend
// that takes no checkpoints (Redis, memory), as for provisioning that is off: the request is
// fine, the server's state or configuration refuses it.
Response CreateBackup(const Call& call) {
  auto name = StringMember(call.body.object(), "name");
  if (auto* problem = std::get_if<std::string>(&name)) return BadRequest(*problem, call.meta);
  const std::string_view text = std::get<std::string_view>(name);
  if (!IsValidCheckpointName(text)) {
    return BadRequest(
        "'name' must be 1-64 characters of [A-Za-z0-9._-], not starting with '.', without '..' "
        "and not ending in '.tmp'",
        call.meta);
  }
  auto made = call.store->Checkpoint(ContextOf(call.meta), text);
  if (!made.ok()) {
    if (made.status().code() == StatusCode::kConflict) {
      return MakeProblem(status::conflict, made.status().message(), call.meta);
    }
    return OperatorProblem(made.status(), call.meta);
  }
  return NoStoreJson(status::created, {{"name", text}, {"folder", *made}}, call.meta);
}

// The members a route's body may hold; routes that take no body accept none, or `{}`.
std::span<const std::string_view> AllowedMembers(Endpoint route) {
  static constexpr std::string_view kIntegrator[] = {"label"};
  static constexpr std::string_view kNamedCustomer[] = {"service", "apiKey"};
  static constexpr std::string_view kCustomerReset[] = {"service", "apiKey", "secret"};
  static constexpr std::string_view kThrottleClear[] = {"address", "service", "apiKey"};
  static constexpr std::string_view kReseal[] = {"cursor", "limit"};
  static constexpr std::string_view kBackup[] = {"name"};
  switch (route) {
    case Endpoint::kCreateIntegrator:
      return kIntegrator;
    case Endpoint::kProvisionApiKey:
    case Endpoint::kRevokeApiKey:
    case Endpoint::kDeleteCustomer:
      return kNamedCustomer;
    case Endpoint::kResetCustomer:
      return kCustomerReset;
    case Endpoint::kClearThrottle:
      return kThrottleClear;
    case Endpoint::kResealKeys:
      return kReseal;
    case Endpoint::kCreateBackup:
      return kBackup;
    default:
      return {};
  }
}

// Whether a route needs a body. The re-seal reads one but needs none: an empty body is `{}`.
bool TakesBody(Endpoint route) {
  return route != Endpoint::kResealKeys && AllowedMembers(route).size() > 0;
}

Response RunCall(const Call& call) {
  switch (call.routed.route) {
    case Endpoint::kCreateIntegrator:
      return CreateIntegrator(call);
    case Endpoint::kListIntegrators:
      return ListIntegrators(call);
    case Endpoint::kGetIntegrator:
      return GetIntegrator(call);
    case Endpoint::kDisableIntegrator:
      return ChangeIntegrator(
          call, [](CredentialStore& store, const RequestContext& context, std::string_view id) {
            return store.DisableIntegrator(context, id);
          });
    case Endpoint::kEnableIntegrator:
      return ChangeIntegrator(
          call, [](CredentialStore& store, const RequestContext& context, std::string_view id) {
            return store.EnableIntegrator(context, id);
          });
    case Endpoint::kDeleteIntegrator:
      return ChangeIntegrator(
          call, [](CredentialStore& store, const RequestContext& context, std::string_view id) {
            return store.DeleteIntegrator(context, id);
          });
    case Endpoint::kResetIntegratorSecret:
      return ResetIntegratorSecret(call);
    case Endpoint::kProvisionApiKey:
      return ApiKeyFromBody(call, /*provision=*/true);
    case Endpoint::kRevokeApiKey:
      return ApiKeyFromBody(call, /*provision=*/false);
    case Endpoint::kRevokeApiKeyInPath:
      return ChangeApiKey(call, call.routed.first, call.routed.second, /*provision=*/false);
    case Endpoint::kResetCustomer:
      return ResetCustomer(call);
    case Endpoint::kDeleteCustomer:
      return DeleteCustomer(call);
    case Endpoint::kClearThrottle:
      return ClearThrottle(call);
    case Endpoint::kResealKeys:
      return ResealKeys(call);
    case Endpoint::kCreateBackup:
      return CreateBackup(call);
    case Endpoint::kHealth:
    case Endpoint::kReady:
    case Endpoint::kMetrics:
      break;
  }
  return MakeProblem(status::internal_server_error, "unrouted request", call.meta);
}

}  // namespace

OperatorApi::OperatorApi(CredentialStore& store, ProvisionedApiKeys* api_keys, Metrics& metrics,
                         OperatorApiOptions options)
    : store_(store),
      api_keys_(api_keys),
      metrics_(metrics),
      max_body_bytes_(options.max_body_bytes),
      failed_tokens_(std::make_unique<FailureLimiter>(kMaxTokenFailures, kTokenFailureWindow,
                                                      kMaxThrottledClients)) {
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
  const std::string_view presented = BearerToken(request);
  // Digests of equal length, compared in constant time: neither the token's length nor its
  // bytes leak through timing.
  std::array<unsigned char, 32> digest{};
  crypto_generichash(digest.data(), digest.size(),
                     reinterpret_cast<const unsigned char*>(presented.data()), presented.size(),
                     digest_key_.data(), digest_key_.size());
  static_assert(sizeof(digest) == crypto_verify_32_BYTES);
  const bool equal = crypto_verify_32(digest.data(), token_digest_.data()) == 0;
  return has_token_ && !presented.empty() && equal;
}

Routed OperatorApi::Route(Request& request, const RequestMeta& meta) const {
  auto classified = Classify(request, meta);
  if (auto* early = std::get_if<Response>(&classified)) {
    return Answer("unmatched", std::move(*early));
  }
  Matched routed = std::move(std::get<Matched>(classified));
  const std::string_view route_template = RouteTemplate(routed.route);
  // Probes need no token, and are not throttled: a load balancer must never be locked out.
  if (routed.route == Endpoint::kHealth) return Health(meta);
  if (routed.route == Endpoint::kReady) {
    return Readiness(store_, meta, ReadinessDetail::kOperator);
  }
  // Right after routing: one BLAKE2b hash, cheap enough for an I/O thread, and it keeps
  // strangers off the workers.
  // Failed tokens are throttled per client before the token is looked at, so a client that
  // guessed too often learns nothing more, not even from the right token.
  const std::string client = ThrottleKey(meta);
  const Timestamp now = store_.options().clock->Now();
  if (auto wait = failed_tokens_->Blocked(client, now)) {
    return Answer(route_template, TooManyTokenFailures(*wait, meta));
  }
  if (!IsAuthorized(request)) {
    failed_tokens_->CountFailure(client, now);
    return Answer(route_template, Unauthorized(meta));
  }
  if (auto problem = CheckBodyEnvelope(request, max_body_bytes_, /*body_is_read=*/true, meta)) {
    return Answer(route_template, std::move(*problem));
  }
  Call call{&store_, api_keys_, meta, std::move(routed), {}, {}};
  if (TakesBody(call.routed.route) || !request.body().empty()) {
    auto parsed = ParseJsonBody(request.body(), AllowedMembers(call.routed.route));
    if (auto* problem = std::get_if<std::string>(&parsed)) {
      return Answer(route_template, BadRequest(*problem, meta));
    }
    call.body = std::move(std::get<JsonBody>(parsed));
  }
  if (call.routed.route == Endpoint::kListIntegrators) {
    auto query = ParseListQuery(request.target());
    if (auto* problem = std::get_if<std::string>(&query)) {
      return Answer(route_template, BadRequest(*problem, meta));
    }
    call.list = std::move(std::get<ListQuery>(query));
  }
  if (call.routed.route == Endpoint::kMetrics) {
    // Reads counters in memory, and CheckWrites, which never blocks.
    return Prepare(route_template, WorkClass::kInline, [this, meta]() -> Response {
      return NoStoreBody(status::ok, "text/plain; version=0.0.4; charset=utf-8",
                         RenderMetrics(metrics_, store_.Stats(), store_.CheckWrites().ok()), meta);
    });
  }
  WorkClass work = store_.NeverBlocks() ? WorkClass::kInline : WorkClass::kStorage;
  if (call.routed.route == Endpoint::kResetCustomer) work = WorkClass::kHashing;  // Argon2id
  return Prepare(route_template, work,
                 [call = std::move(call)]() -> Response { return RunCall(call); });
}

}  // namespace credstore::http
