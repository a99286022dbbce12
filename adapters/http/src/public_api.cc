// The public routes: one routing step in the documented check order, then one CredentialStore
// call, then the response. No business rule lives here: every rule about keys, secrets, grace
// and throttling is the core's.
#include "credstore/http/public_api.h"

#include <boost/beast/http/field.hpp>
#include <boost/json/serialize.hpp>
#include <boost/url/parse.hpp>
#include <utility>

#include "prepared_calls.h"
#include "readiness.h"
#include "request_parts.h"
#include "responses.h"
#include "strict_json.h"
#include "verifier_gate.h"

namespace credstore::http {
namespace {

namespace beast_http = boost::beast::http;
namespace json = boost::json;
using beast_http::status;
using beast_http::verb;

constexpr std::string_view kRealm = "credstore";
constexpr std::string_view kRegenerateSecretPath = "/v1/integrator/regenerate-secret";

constexpr std::string_view kRegisterTemplate = "/{service}/1/register";
constexpr std::string_view kRegenerateKeyTemplate = "/{service}/1/regenerateKey";
constexpr std::string_view kUpdateSecretTemplate = "/{service}/1/updateSecret";
constexpr std::string_view kSettingsTemplate = "/{service}/1/settings";
constexpr std::string_view kUnmatched = "unmatched";

enum class CustomerRoute { kRegister, kRegenerateKey, kUpdateSecret, kSettings };

std::string_view TemplateOf(CustomerRoute route) {
  switch (route) {
    case CustomerRoute::kRegister:
      return kRegisterTemplate;
    case CustomerRoute::kRegenerateKey:
      return kRegenerateKeyTemplate;
    case CustomerRoute::kUpdateSecret:
      return kUpdateSecretTemplate;
    case CustomerRoute::kSettings:
      return kSettingsTemplate;
  }
  return kUnmatched;
}

ProblemLabels CustomerLabels(std::string_view service, std::string_view what) {
  ProblemLabels labels;
  labels.realm = kRealm;
  labels.scope = std::string(service) + ":" + std::string(what);
  return labels;
}

// The query parameters a customer route reads, each at most once.
struct CustomerQuery {
  std::optional<std::string> key;
  std::optional<std::string> admin_key;
};

std::variant<CustomerQuery, std::string> ReadCustomerQuery(const boost::urls::url_view& url) {
  CustomerQuery query;
  for (const auto& param : url.params()) {
    std::optional<std::string>* slot = nullptr;
    if (param.key == "key") slot = &query.key;
    if (param.key == "adminKey") slot = &query.admin_key;
    if (slot == nullptr) continue;  // other parameters are not ours to judge
    if (slot->has_value()) return "query parameter '" + param.key + "' appears more than once";
    *slot = param.has_value ? param.value : std::string();
  }
  return query;
}

// What a customer route's call needs, owned: it may run later on a worker thread.
struct CustomerCall {
  CredentialStore* store;
  RequestMeta meta;
  std::string service;
  std::string api_key;
  const StorageUnavailableLog* storage_unavailable;  // the PublicApi's; see ProblemLabels
  std::string device_token = {};  // the Credstore-Device header, for the secret-checking routes
};

// The core's view of who is asking, with the device token the client presented.
RequestContext ContextOf(const CustomerCall& call) {
  RequestContext context = ContextOf(call.meta);
  context.device_token = call.device_token;
  return context;
}

// A success of a secret-checking route carries the device token it minted; errors never do.
Response WithDeviceToken(Response response, const SecretString& device_token) {
  response.set(kDeviceTokenHeader, device_token.view());
  return response;
}

// The labels of a failed call's problem: the route's, on the public listener.
ProblemLabels CallLabels(const CustomerCall& call, std::string_view what) {
  ProblemLabels labels = CustomerLabels(call.service, what);
  labels.storage_unavailable = call.storage_unavailable;
  return labels;
}

// ---- Customer routes (after routing, size, media type and query checks) ---------------------

// register, regenerateKey and updateSecret: the attempt is reserved (the throttle, storage I/O)
// before the call takes a place in the hashing queue, and Run() spends it on Argon2id.
class SecretRouteCall final : public PreparedCall {
 public:
  SecretRouteCall(CustomerCall call, JsonBody body, SecretOperation operation,
                  std::chrono::milliseconds grace)
      : call_(std::move(call)), body_(std::move(body)), operation_(operation), grace_(grace) {}

  std::optional<Response> Reserve() override {
    auto attempt =
        call_.store->ReserveAttempt(ContextOf(call_), operation_, call_.service, call_.api_key,
                                    Member("secret"), Member("newSecret"), grace_);
    if (!attempt.ok()) return Problem(attempt.status());
    attempt_.emplace(std::move(attempt).value());
    return std::nullopt;
  }

  void Unreserve() override {
    if (attempt_) call_.store->RefundAttempt(std::move(*attempt_));
    attempt_.reset();
  }

  Response Run() override {
    if (!attempt_) {
      if (auto refused = Reserve()) return std::move(*refused);  // Handle() without Reserve()
    }
    SecretAttempt attempt = std::move(*attempt_);
    attempt_.reset();
    const RequestContext context = ContextOf(call_);
    switch (operation_) {
      case SecretOperation::kRegister: {
        auto grant = call_.store->Register(std::move(attempt), context, call_.service,
                                           call_.api_key, Member("secret"));
        if (!grant.ok()) return Problem(grant.status());
        return WithReplication(
            WithDeviceToken(
                NoStoreJson(status::ok, {{"adminKey", grant->admin_key.view()}}, call_.meta),
                grant->device_token),
            grant->replication_pending);
      }
      case SecretOperation::kRegenerateAdminKey: {
        auto grant = call_.store->RegenerateAdminKey(std::move(attempt), context, call_.service,
                                                     call_.api_key, Member("secret"), grace_);
        if (!grant.ok()) return Problem(grant.status());
        json::object answer{{"adminKey", grant->admin_key.view()}};
        if (grant->old_key_expires_at) {
          answer["oldKeyExpiresAt"] = Iso8601(*grant->old_key_expires_at);
        }
        return WithReplication(
            WithDeviceToken(NoStoreJson(status::ok, answer, call_.meta), grant->device_token),
            grant->replication_pending);
      }
      case SecretOperation::kUpdateSecret: {
        auto updated =
            call_.store->UpdateSecret(std::move(attempt), context, call_.service, call_.api_key,
                                      Member("secret"), Member("newSecret"));
        if (!updated.ok()) return Problem(updated.status());
        return WithDeviceToken(NoContent(call_.meta), updated->device_token);
      }
    }
    return Problem(Status::Internal("unknown secret operation"));
  }

 private:
  // A string member the route's body check required, or empty when the route has none by that
  // name (newSecret outside updateSecret).
  std::string_view Member(std::string_view name) const {
    auto member = StringMember(body_.object(), name);
    const auto* text = std::get_if<std::string_view>(&member);
    return text != nullptr ? *text : std::string_view();
  }

  Response Problem(const Status& failed) const {
    return ProblemFor(
        failed, call_.meta,
        CallLabels(call_, operation_ == SecretOperation::kRegister ? "register" : "configuration"));
  }

  CustomerCall call_;
  JsonBody body_;  // wipes the secrets when the call goes
  const SecretOperation operation_;
  const std::chrono::milliseconds grace_;
  std::optional<SecretAttempt> attempt_;
};

Routed PrepareSecretRoute(std::string_view route_template, CustomerCall call, JsonBody body,
                          SecretOperation operation,
                          std::chrono::milliseconds grace = std::chrono::milliseconds(0)) {
  Routed routed;
  routed.route_template = route_template;
  routed.work = WorkClass::kHashing;
  routed.reserve_work = call.store->NeverBlocks() ? WorkClass::kInline : WorkClass::kStorage;
  routed.call =
      std::make_unique<SecretRouteCall>(std::move(call), std::move(body), operation, grace);
  return routed;
}

Routed Register(CustomerCall call, JsonBody body) {
  return PrepareSecretRoute(kRegisterTemplate, std::move(call), std::move(body),
                            SecretOperation::kRegister);
}

Routed RegenerateKey(CustomerCall call, JsonBody body, std::chrono::milliseconds grace) {
  return PrepareSecretRoute(kRegenerateKeyTemplate, std::move(call), std::move(body),
                            SecretOperation::kRegenerateAdminKey, grace);
}

Routed UpdateSecret(CustomerCall call, JsonBody body) {
  return PrepareSecretRoute(kUpdateSecretTemplate, std::move(call), std::move(body),
                            SecretOperation::kUpdateSecret);
}

Response SettingsAnswer(Result<std::string> settings, const CustomerCall& call) {
  if (!settings.ok()) {
    return ProblemFor(settings.status(), call.meta, CallLabels(call, "settings"));
  }
  return NoStoreBody(status::ok, "application/json", std::move(settings).value(), call.meta);
}

Routed GetSettings(CustomerCall call, std::string admin_key) {
  auto shared =
      std::make_shared<std::pair<CustomerCall, std::string>>(std::move(call), std::move(admin_key));
  return PrepareRead(
      kSettingsTemplate,
      [shared]() -> std::optional<Response> {
        const auto& [call, admin_key] = *shared;
        auto settings = call.store->TryGetSettings(call.service, call.api_key, admin_key);
        if (!settings) return std::nullopt;  // would block: the storage pool reads it
        return SettingsAnswer(std::move(*settings), call);
      },
      [shared]() -> Response {
        const auto& [call, admin_key] = *shared;
        return SettingsAnswer(call.store->GetSettings(call.service, call.api_key, admin_key), call);
      });
}

Routed PutSettings(CustomerCall call, std::string admin_key, std::string settings_json) {
  const WorkClass work = call.store->NeverBlocks() ? WorkClass::kInline : WorkClass::kStorage;
  return Prepare(kSettingsTemplate, work,
                 [call = std::move(call), admin_key = std::move(admin_key),
                  settings_json = std::move(settings_json)]() -> Response {
                   return SettingsAnswer(
                       call.store->PutSettings(ContextOf(call.meta), call.service, call.api_key,
                                               admin_key, settings_json),
                       call);
                 });
}

// The customer route's checks after the route and its method: 413, 415, then 400 for the query
// and the body, then the prepared call.
Routed RouteCustomer(CustomerRoute route, std::string_view service,
                     const boost::urls::url_view& url, Request& request, const RequestMeta& meta,
                     CredentialStore& store, std::size_t max_body_bytes,
                     const StorageUnavailableLog* storage_unavailable) {
  const std::string_view route_template = TemplateOf(route);
  const bool is_post = request.method() == verb::post;
  if (auto problem = CheckBodyEnvelope(request, max_body_bytes, is_post, meta)) {
    return Answer(route_template, std::move(*problem));
  }
  auto query = ReadCustomerQuery(url);
  if (auto* problem = std::get_if<std::string>(&query)) {
    return Answer(route_template, BadRequest(*problem, meta));
  }
  CustomerQuery& params = std::get<CustomerQuery>(query);
  if (!params.key || !IsWellFormedApiKey(*params.key)) {
    return Answer(
        route_template,
        BadRequest("query parameter 'key' must be 8-128 characters of [A-Za-z0-9_-]", meta));
  }
  CustomerCall call{&store, meta, std::string(service), std::move(*params.key),
                    storage_unavailable};

  if (route == CustomerRoute::kSettings) {
    // A malformed body is 400 before any credential is looked at (the check order). Settings
    // may hold any members; the core stores the client's own text, compacted (strict_json.h).
    std::string settings_json;
    if (is_post) {
      auto parsed = internal::ParseStrictJsonObject(request.body());
      if (auto* problem = std::get_if<std::string>(&parsed)) {
        return Answer(route_template, BadRequest(*problem, meta));
      }
      settings_json = internal::CompactJson(request.body());
    }
    // The `adminKey` query parameter or the X-Admin-Key header, which keeps the key out of URLs.
    auto admin_key = QueryOrHeader(std::move(params.admin_key), request, "X-Admin-Key", "adminKey");
    if (auto* problem = std::get_if<std::string>(&admin_key)) {
      return Answer(route_template, BadRequest(*problem, meta));
    }
    params.admin_key = std::move(std::get<std::optional<std::string>>(admin_key));
    if (!params.admin_key || params.admin_key->empty()) {
      return Answer(route_template, ProblemFor(Status::Unauthorized("admin key missing or invalid"),
                                               meta, CustomerLabels(service, "settings")));
    }
    if (!is_post) return GetSettings(std::move(call), std::move(*params.admin_key));
    return PutSettings(std::move(call), std::move(*params.admin_key), std::move(settings_json));
  }

  // The routes that check the customer's secret read the device token too. Sent twice, it is
  // ambiguous about which device asks: neither counts (as no token, which is always safe).
  if (request.count(kDeviceTokenHeader) == 1) {
    call.device_token = std::string(request[kDeviceTokenHeader]);
  }
  static constexpr std::string_view kRegisterMembers[] = {"secret"};
  static constexpr std::string_view kRegenerateMembers[] = {"secret", "oldKeyValidForSeconds"};
  static constexpr std::string_view kUpdateMembers[] = {"secret", "newSecret"};
  std::span<const std::string_view> allowed = kRegisterMembers;
  if (route == CustomerRoute::kRegenerateKey) allowed = kRegenerateMembers;
  if (route == CustomerRoute::kUpdateSecret) allowed = kUpdateMembers;
  auto parsed = ParseJsonBody(request.body(), allowed);
  if (auto* problem = std::get_if<std::string>(&parsed)) {
    return Answer(route_template, BadRequest(*problem, meta));
  }
  JsonBody body = std::move(std::get<JsonBody>(parsed));
  auto secret = StringMember(body.object(), "secret");
  if (auto* problem = std::get_if<std::string>(&secret)) {
    return Answer(route_template, BadRequest(*problem, meta));
  }
  switch (route) {
    case CustomerRoute::kRegister:
      return Register(std::move(call), std::move(body));
    case CustomerRoute::kRegenerateKey: {
      auto grace = GraceMember(body.object(), "oldKeyValidForSeconds");
      if (auto* problem = std::get_if<std::string>(&grace)) {
        return Answer(route_template, BadRequest(*problem, meta));
      }
      return RegenerateKey(std::move(call), std::move(body),
                           std::get<std::chrono::milliseconds>(grace));
    }
    case CustomerRoute::kUpdateSecret: {
      auto new_secret = StringMember(body.object(), "newSecret");
      if (auto* problem = std::get_if<std::string>(&new_secret)) {
        return Answer(route_template, BadRequest(*problem, meta));
      }
      return UpdateSecret(std::move(call), std::move(body));
    }
    case CustomerRoute::kSettings:
      break;
  }
  return Answer(route_template,
                MakeProblem(status::internal_server_error, "unrouted request", meta));
}

}  // namespace

PublicApi::PublicApi(CredentialStore& store, PublicApiOptions options)
    : store_(store), options_(options) {
  if (options_.verifier_tokens != nullptr) {
    // The verify and auth routes are public too: their 503s keep the backend to the log.
    VerifyApiOptions verify = options_.verify;
    verify.storage_unavailable = &options_.storage_unavailable;
    // One gate for both APIs a verifier token opens: one budget of failed tokens per address.
    auto gate = std::make_shared<VerifierGate>(*options_.verifier_tokens, verify);
    verify_ = std::make_unique<VerifyApi>(store_, gate, verify);
    if (options_.forward_auth) {
      forward_auth_ = std::make_unique<ForwardAuthApi>(
          store_, gate,
          ForwardAuthApiOptions{*options_.forward_auth, verify, options_.max_body_bytes});
    }
  }
}

PublicApi::~PublicApi() = default;

Routed PublicApi::Route(Request& request, const RequestMeta& meta) const {
  const std::string_view target = request.target();
  if (target.empty() || target.front() != '/') {
    return Answer(
        kUnmatched,
        BadRequest("the request target must be in origin-form (a path, not a URL)", meta));
  }
  auto url = boost::urls::parse_origin_form(target);
  if (!url) return Answer(kUnmatched, BadRequest("the request target is malformed", meta));
  const std::string_view path = url->encoded_path();
  const verb method = request.method();

  if (path == kHealthPath || path == kReadyPath) {
    if (method != verb::get) return Answer(kUnmatched, MethodNotAllowed("GET", meta));
    if (path == kHealthPath) return Health(meta);
    return Readiness(store_, meta, ReadinessDetail::kPublic);
  }
  if (path.starts_with(VerifyApi::kPathPrefix)) {
    if (verify_) return verify_->Route(request, meta);
    return Answer(kUnmatched, MakeProblem(status::not_found, "no such route", meta));
  }
  if (path.starts_with(ForwardAuthApi::kPathPrefix)) {
    if (forward_auth_) return forward_auth_->Route(request, meta);
    return Answer(kUnmatched, MakeProblem(status::not_found, "no such route", meta));
  }
  if (path == kRegenerateSecretPath) {
    if (method != verb::post) return Answer(kUnmatched, MethodNotAllowed("POST", meta));
    return RouteRegenerateSecret(request, meta);
  }
  // /{service}/1/{operation}
  const std::size_t first = path.find('/', 1);
  if (first != std::string_view::npos && path.substr(first).starts_with("/1/")) {
    const std::string_view service = path.substr(1, first - 1);
    const std::string_view operation = path.substr(first + 3);
    std::optional<CustomerRoute> route;
    if (operation == "register") route = CustomerRoute::kRegister;
    if (operation == "regenerateKey") route = CustomerRoute::kRegenerateKey;
    if (operation == "updateSecret") route = CustomerRoute::kUpdateSecret;
    if (operation == "settings") route = CustomerRoute::kSettings;
    if (route && store_.HasService(service)) {
      if (*route == CustomerRoute::kSettings) {
        if (method != verb::get && method != verb::post) {
          return Answer(kUnmatched, MethodNotAllowed("GET, POST", meta));
        }
      } else if (method != verb::post) {
        return Answer(kUnmatched, MethodNotAllowed("POST", meta));
      }
      return RouteCustomer(*route, service, *url, request, meta, store_, options_.max_body_bytes,
                           &options_.storage_unavailable);
    }
  }
  return Answer(kUnmatched, MakeProblem(status::not_found, "no such route", meta));
}

Routed PublicApi::RouteRegenerateSecret(Request& request, const RequestMeta& meta) const {
  constexpr std::string_view kTemplate = kRegenerateSecretPath;
  ProblemLabels labels;
  labels.realm = kRealm;
  labels.scope = "integrator:regenerate-secret";
  labels.storage_unavailable = &options_.storage_unavailable;
  if (auto problem = CheckBodyEnvelope(request, options_.max_body_bytes, true, meta)) {
    return Answer(kTemplate, std::move(*problem));
  }
  std::chrono::milliseconds grace(0);
  if (!request.body().empty()) {
    static constexpr std::string_view kMembers[] = {"oldSecretValidForSeconds"};
    auto parsed = ParseJsonBody(request.body(), kMembers);
    if (auto* problem = std::get_if<std::string>(&parsed)) {
      return Answer(kTemplate, BadRequest(*problem, meta));
    }
    auto parsed_grace =
        GraceMember(std::get<JsonBody>(parsed).object(), "oldSecretValidForSeconds");
    if (auto* problem = std::get_if<std::string>(&parsed_grace)) {
      return Answer(kTemplate, BadRequest(*problem, meta));
    }
    grace = std::get<std::chrono::milliseconds>(parsed_grace);
  }
  // A header sent twice is ambiguous about what was signed: treat it as no credential.
  auto parts = SignedRequestOf(request);
  if (!parts.ok()) return Answer(kTemplate, ProblemFor(parts.status(), meta, labels));
  // The call owns copies of what was signed: it may run on the storage pool.
  auto owned = std::make_shared<OwnedSignedRequest>(*parts, std::move(request));
  const WorkClass work = store_.NeverBlocks() ? WorkClass::kInline : WorkClass::kStorage;
  return Prepare(kTemplate, work, [store = &store_, meta, owned, grace, labels]() -> Response {
    const SignedRequest signed_request = owned->view();
    auto rotated = store->RotateIntegratorSecret(ContextOf(meta), signed_request, grace);
    if (!rotated.ok()) {
      ProblemLabels named = labels;
      named.resource_type = "integrator";
      named.resource_id = signed_request.integrator_key;
      return ProblemFor(rotated.status(), meta, named);
    }
    json::object body{{"secret", rotated->secret.view()}};
    if (rotated->old_secret_expires_at) {
      body["oldSecretExpiresAt"] = Iso8601(*rotated->old_secret_expires_at);
    }
    return WithReplication(NoStoreJson(status::ok, body, meta), rotated->replication_pending);
  });
}

}  // namespace credstore::http
