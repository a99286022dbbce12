// The verify routes: routing, the verifier token, the body in the documented check order, then
// one CredentialStore call. No business rule lives here: what makes an admin key or a signature
// valid is the core's.
#include "credstore/http/verify_api.h"

#include <boost/beast/http/field.hpp>
#include <boost/json/object.hpp>
#include <memory>
#include <utility>

#include "credstore/api_key_validator.h"
#include "credstore/signed_request.h"
#include "prepared_calls.h"
#include "request_parts.h"
#include "responses.h"
#include "verifier_gate.h"

namespace credstore::http {
namespace {

namespace beast_http = boost::beast::http;
namespace json = boost::json;
using beast_http::status;
using beast_http::verb;

// The realm of the credential being verified (a customer's admin key, an integrator's
// signature), as the public routes name it: a 401 in this realm is about that credential, not
// about the caller's token.
constexpr std::string_view kSubjectRealm = "credstore";
constexpr std::size_t kMaxTimestampDigits = 16;

Response UnknownService(const RequestMeta& meta) {
  ProblemExtras extras;
  extras.resource_type = "service";
  // The name is not echoed: a mixed-up request could carry an API key in its place.
  return MakeProblem(status::not_found, "unknown service", meta, extras);
}

bool IsLowerHex(std::string_view text, std::size_t length) {
  if (text.size() != length) return false;
  for (char c : text) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

bool IsDigits(std::string_view text) {
  if (text.empty()) return false;
  for (char c : text) {
    if (c < '0' || c > '9') return false;
  }
  return true;
}

// The string members a verify body must all have, or the 400 detail.
std::variant<std::vector<std::string_view>, std::string> RequiredStrings(
    const json::object& body, std::span<const std::string_view> names) {
  std::vector<std::string_view> values;
  for (std::string_view name : names) {
    auto value = StringMember(body, name);
    if (auto* problem = std::get_if<std::string>(&value)) return std::move(*problem);
    values.push_back(std::get<std::string_view>(value));
  }
  return values;
}

// A verify body: the 413/415 envelope, a strict JSON object of exactly `members`, each a
// string; or the answer to send. `values` views into `body`, which owns (and wipes) them.
struct VerifyBody {
  std::shared_ptr<JsonBody> body;
  std::vector<std::string_view> values;
};

std::variant<VerifyBody, Response> ReadVerifyBody(const Request& request,
                                                  std::size_t max_body_bytes,
                                                  std::span<const std::string_view> members,
                                                  const RequestMeta& meta) {
  if (auto problem = CheckBodyEnvelope(request, max_body_bytes, true, meta)) {
    return std::move(*problem);
  }
  auto parsed = ParseJsonBody(request.body(), members);
  if (auto* problem = std::get_if<std::string>(&parsed)) return BadRequest(*problem, meta);
  auto body = std::make_shared<JsonBody>(std::move(std::get<JsonBody>(parsed)));
  auto values = RequiredStrings(body->object(), members);
  if (auto* problem = std::get_if<std::string>(&values)) return BadRequest(*problem, meta);
  return VerifyBody{std::move(body), std::move(std::get<std::vector<std::string_view>>(values))};
}

}  // namespace

VerifyApi::VerifyApi(CredentialStore& store, const VerifierTokens& tokens, VerifyApiOptions options)
    : VerifyApi(store, std::make_shared<VerifierGate>(tokens, options), options) {}

VerifyApi::VerifyApi(CredentialStore& store, std::shared_ptr<VerifierGate> gate,
                     VerifyApiOptions options)
    : store_(store), gate_(std::move(gate)), tokens_(gate_->tokens()), options_(options) {}

VerifyApi::~VerifyApi() = default;

Routed VerifyApi::Route(Request& request, const RequestMeta& meta) const {
  const std::string_view target = request.target();
  const std::string_view path = target.substr(0, target.find('?'));
  const bool admin_key = path == kAdminKeyPath;
  const bool signature = path == kSignaturePath;
  // Without a token nothing could ever be allowed here: the routes are absent, not locked.
  if ((!admin_key && !signature) || tokens_.empty()) {
    return Answer("unmatched", MakeProblem(status::not_found, "no such route", meta));
  }
  const std::string_view route_template = admin_key ? kAdminKeyPath : kSignaturePath;
  if (request.method() != verb::post) return Answer("unmatched", MethodNotAllowed("POST", meta));

  // The token right after routing, on this thread: an unauthenticated request never reaches a
  // worker, and an address that keeps failing is refused before any digest is computed.
  const auto admission = gate_->Admit(request, meta, store_.options().clock->Now());
  switch (admission.outcome) {
    case VerifierGate::Outcome::kAdmitted:
      break;
    case VerifierGate::Outcome::kThrottled:
      return Answer(route_template, VerifierTokensThrottled(admission.retry_after, meta));
    case VerifierGate::Outcome::kUnknownToken:
      return Answer(route_template, VerifierTokenRefused(meta));
  }
  // `admission` holds the set its scope belongs to until the route returns.
  return admin_key ? RouteAdminKey(request, meta, *admission.scope)
                   : RouteSignature(request, meta, *admission.scope);
}

Routed VerifyApi::RouteAdminKey(Request& request, const RequestMeta& meta,
                                const VerifierScope& token_scope) const {
  constexpr std::string_view kTemplate = kAdminKeyPath;
  static constexpr std::string_view kMembers[] = {"service", "apiKey", "adminKey"};
  auto read = ReadVerifyBody(request, options_.max_body_bytes, kMembers, meta);
  if (auto* answer = std::get_if<Response>(&read)) return Answer(kTemplate, std::move(*answer));
  auto& [body, values] = std::get<VerifyBody>(read);
  const std::string_view service = values[0];
  const std::string_view api_key = values[1];
  const std::string_view admin_key = values[2];
  if (!IsWellFormedApiKey(api_key)) {
    return Answer(kTemplate,
                  BadRequest("member 'apiKey' must be 8-128 characters of [A-Za-z0-9_-]", meta));
  }
  // The scope needs the service, so it is checked once the body is known to be well-formed.
  if (token_scope.Access(service, false) != VerifierAccess::kAllowed) {
    return Answer(kTemplate, VerifierScopeRefused("this service", meta));
  }
  if (!store_.HasService(service)) return Answer(kTemplate, UnknownService(meta));

  struct Call {
    CredentialStore* store;
    RequestMeta meta;
    std::shared_ptr<JsonBody> body;  // wipes the keys when the last copy goes
    std::string_view service, api_key, admin_key;
    const StorageUnavailableLog* storage_unavailable;

    Response Respond(const Result<AdminKeyCheck>& checked) const {
      if (!checked.ok()) {
        ProblemLabels labels;
        labels.realm = kSubjectRealm;
        labels.scope = std::string(service) + ":admin-key";
        labels.resource_type = "service";
        labels.storage_unavailable = storage_unavailable;
        return ProblemFor(checked.status(), meta, labels);
      }
      json::object answer{{"service", service},
                          {"customer", checked->customer_id},
                          {"keyState", checked->graced ? "graced" : "current"}};
      if (checked->expires_at) answer["expiresAt"] = Iso8601(*checked->expires_at);
      return NoStoreJson(status::ok, answer, meta);
    }
  };
  auto call = std::make_shared<Call>(
      Call{&store_, meta, body, service, api_key, admin_key, options_.storage_unavailable});
  return PrepareRead(
      kTemplate,
      [call]() -> std::optional<Response> {
        auto checked = call->store->TryCheckAdminKey(call->service, call->api_key, call->admin_key);
        if (!checked) return std::nullopt;  // would block: the storage pool reads it
        return call->Respond(*checked);
      },
      [call]() -> Response {
        return call->Respond(
            call->store->CheckAdminKey(call->service, call->api_key, call->admin_key));
      });
}

Routed VerifyApi::RouteSignature(Request& request, const RequestMeta& meta,
                                 const VerifierScope& token_scope) const {
  constexpr std::string_view kTemplate = kSignaturePath;
  static constexpr std::string_view kMembers[] = {"method",    "target",    "integratorKey",
                                                  "timestamp", "signature", "bodySha256"};
  auto read = ReadVerifyBody(request, options_.max_body_bytes, kMembers, meta);
  if (auto* answer = std::get_if<Response>(&read)) return Answer(kTemplate, std::move(*answer));
  // Named members, not a structured binding: the lambda below captures `body`, and clang 14
  // (Debian 12's) refuses to capture a binding.
  std::shared_ptr<JsonBody> body = std::get<VerifyBody>(read).body;
  const std::vector<std::string_view>& values = std::get<VerifyBody>(read).values;
  SignedRequest signed_request;
  signed_request.method = values[0];
  signed_request.target = values[1];
  signed_request.integrator_key = values[2];
  signed_request.timestamp = values[3];
  signed_request.signature = values[4];
  signed_request.body_sha256 = values[5];
  // The forms are checked here, as 400s: the caller relays what it received, and a malformed
  // member is its mistake to see, not a credential that failed (which the core answers 401).
  if (!IsHttpMethod(signed_request.method)) {
    return Answer(kTemplate, BadRequest("member 'method' must be an HTTP method", meta));
  }
  if (!IsSignableTarget(signed_request.target)) {
    return Answer(kTemplate,
                  BadRequest("member 'target' must be an origin-form request target (a path "
                             "and query, at most 8192 characters)",
                             meta));
  }
  if (!IsDigits(signed_request.timestamp) ||
      signed_request.timestamp.size() > kMaxTimestampDigits) {
    return Answer(kTemplate,
                  BadRequest("member 'timestamp' must be Unix time in milliseconds", meta));
  }
  const std::string_view mac = signed_request.signature;
  if (!mac.starts_with("sha256=") || !IsLowerHex(mac.substr(7), 64)) {
    return Answer(kTemplate,
                  BadRequest("member 'signature' must be sha256=<64 lowercase hex digits>", meta));
  }
  if (!IsLowerHex(signed_request.body_sha256, 64)) {
    return Answer(kTemplate,
                  BadRequest("member 'bodySha256' must be 64 lowercase hex digits", meta));
  }
  if (token_scope.Access({}, true) != VerifierAccess::kAllowed) {
    return Answer(kTemplate, VerifierScopeRefused("signatures", meta));
  }
  ProblemLabels labels;
  labels.realm = kSubjectRealm;
  labels.scope = "integrator";
  labels.resource_type = "integrator";
  labels.storage_unavailable = options_.storage_unavailable;
  // An id of another form names no integrator: 404 as the core answers one, without the id.
  if (!IsWellFormedIntegratorId(signed_request.integrator_key)) {
    return Answer(kTemplate, ProblemFor(Status::NotFound("integrator not found"), meta, labels));
  }

  const WorkClass work = store_.NeverBlocks() ? WorkClass::kInline : WorkClass::kStorage;
  return Prepare(kTemplate, work,
                 [store = &store_, meta, body, signed_request, labels]() -> Response {
                   auto verified = store->VerifySignedRequest(signed_request);
                   if (!verified.ok()) {
                     ProblemLabels named = labels;
                     named.resource_id = signed_request.integrator_key;
                     return ProblemFor(verified.status(), meta, named);
                   }
                   return NoStoreJson(status::ok,
                                      {{"integratorId", verified->integrator_id},
                                       {"signedWithCurrent", verified->signed_with_current}},
                                      meta);
                 });
}

}  // namespace credstore::http
