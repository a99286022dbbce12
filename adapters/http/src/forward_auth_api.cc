// The forward-auth routes: which profile's headers name the original request, how the
// credentials are read from it, and how a problem travels without a body. What makes an admin
// key or a signature valid is the core's; the verifier token is the gate's (verifier_gate.h).
#include "credstore/http/forward_auth_api.h"

#include <sodium.h>

#include <array>
#include <boost/beast/core/string.hpp>
#include <boost/beast/http/field.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>
#include <memory>
#include <string>
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
using beast_http::field;
using beast_http::status;

constexpr std::string_view kSubjectRealm = "credstore";
// What a signature's 401 names as its scope, as the public routes do.
constexpr std::string_view kIntegratorScope = "integrator";
constexpr std::string_view kForbiddenType = "urn:credstore:problem:forbidden";
constexpr std::string_view kPartialBodyHeader = "x-envoy-auth-partial-body";
constexpr std::string_view kContentSha256Header = "X-Content-SHA256";

// The headers that name the original request, per profile (Envoy: none, its check request is
// the original's method and target).
struct ProfileHeaders {
  std::string_view uri;
  std::string_view method;
};
constexpr ProfileHeaders kNginxHeaders{"X-Original-URI", "X-Original-Method"};
constexpr ProfileHeaders kTraefikHeaders{"X-Forwarded-Uri", "X-Forwarded-Method"};

// A header value a gateway may put inside a JSON string or a log line as it is (the error_page
// recipe of docs/gateways.md does): printable ASCII without '"' or '\'. credstore's problem
// texts are such already; this keeps them so.
std::string HeaderSafe(std::string text) {
  for (char& c : text) {
    if (c < 0x20 || c > 0x7e || c == '"' || c == '\\') c = '\'';
  }
  return text;
}

// The problem `problem` as a gateway can carry it: no body, its type, detail and instance in
// headers, and 401 unless it is a 403 or the store's trouble (5xx). A 401 keeps its challenge,
// or gets one in `realm` when the problem had another status.
Response Bodiless(Response problem, std::string_view realm, std::string_view scope) {
  std::string type, detail, instance;
  boost::system::error_code error;
  const json::value body = json::parse(problem.body(), error);
  if (!error && body.is_object()) {
    auto text = [&body](std::string_view name) -> std::string {
      const json::value* member = body.as_object().if_contains(name);
      return member != nullptr && member->is_string() ? std::string(member->as_string())
                                                      : std::string();
    };
    type = HeaderSafe(text("type"));
    detail = HeaderSafe(text("detail"));
    instance = HeaderSafe(text("instance"));
  }
  status code = problem.result();
  if (problem.result_int() < 500 && code != status::forbidden) code = status::unauthorized;
  Response answer(code, problem.version());
  answer.keep_alive(problem.keep_alive());
  answer.set(field::cache_control, "no-store");
  answer.set("X-Credstore-Problem-Type", type);
  answer.set("X-Credstore-Problem-Detail", detail);
  answer.set("X-Credstore-Problem-Instance", instance);
  if (code == status::unauthorized) {
    std::string challenge(problem[field::www_authenticate]);
    if (challenge.empty()) {
      challenge = "credstore realm=\"" + std::string(realm) + "\"";
      if (!scope.empty()) challenge += ", scope=\"" + std::string(scope) + "\"";
    }
    answer.set(field::www_authenticate, challenge);
  }
  if (problem.count(field::retry_after) != 0) {
    answer.set(field::retry_after, problem[field::retry_after]);
  }
  answer.prepare_payload();
  return answer;
}

// A refusal of the credential being checked (realm "credstore").
Response Refused(std::string_view detail, const RequestMeta& meta, std::string_view scope) {
  ProblemLabels labels;
  labels.realm = kSubjectRealm;
  labels.scope = std::string(scope);
  return Bodiless(ProblemFor(Status::Unauthorized(std::string(detail)), meta, labels),
                  kSubjectRealm, scope);
}

Response Forbidden(std::string_view detail, const RequestMeta& meta) {
  ProblemExtras extras;
  extras.type = std::string(kForbiddenType);
  return Bodiless(MakeProblem(status::forbidden, detail, meta, extras), kSubjectRealm, {});
}

std::string Sha256Hex(std::string_view data) {
  unsigned char digest[crypto_hash_sha256_BYTES];
  crypto_hash_sha256(digest, reinterpret_cast<const unsigned char*>(data.data()), data.size());
  static constexpr char kHex[] = "0123456789abcdef";
  std::string hex;
  hex.reserve(2 * sizeof digest);
  for (unsigned char byte : digest) {
    hex += kHex[byte >> 4];
    hex += kHex[byte & 0xf];
  }
  return hex;
}

}  // namespace

std::optional<GatewayProfile> ParseGatewayProfile(std::string_view name) {
  if (name == "nginx") return GatewayProfile::kNginx;
  if (name == "traefik") return GatewayProfile::kTraefik;
  if (name == "envoy") return GatewayProfile::kEnvoy;
  return std::nullopt;
}

// The original request as the profile's gateway described it.
struct ForwardAuthApi::Original {
  std::string method;
  std::string target;  // origin-form, exactly as the client sent it; may hold keys in its query
  ~Original() { sodium_memzero(target.data(), target.size()); }
  std::string_view query() const {
    const std::size_t mark = target.find('?');
    return mark == std::string::npos ? std::string_view()
                                     : std::string_view(target).substr(mark + 1);
  }
};

ForwardAuthApi::ForwardAuthApi(CredentialStore& store, const VerifierTokens& tokens,
                               ForwardAuthApiOptions options)
    : ForwardAuthApi(store, std::make_shared<VerifierGate>(tokens, options.verify), options) {}

ForwardAuthApi::ForwardAuthApi(CredentialStore& store, std::shared_ptr<VerifierGate> gate,
                               ForwardAuthApiOptions options)
    : store_(store), gate_(std::move(gate)), tokens_(gate_->tokens()), options_(options) {}

ForwardAuthApi::~ForwardAuthApi() = default;

Routed ForwardAuthApi::Route(Request& request, const RequestMeta& meta) const {
  const std::string_view target = request.target();
  const std::string_view path = target.substr(0, target.find('?'));
  const bool envoy = options_.profile == GatewayProfile::kEnvoy;
  // Envoy appends the original target to the prefix; the others send the route itself.
  auto under = [&](std::string_view route) {
    return envoy
               ? path.starts_with(route) && path.size() > route.size() && path[route.size()] == '/'
               : path == route;
  };
  const bool admin_key = under(kAdminKeyPath);
  const bool signature = under(kSignaturePath);
  // Without a token nothing could ever pass: the routes are absent, not locked.
  if ((!admin_key && !signature) || tokens_.empty()) {
    return Answer("unmatched", MakeProblem(status::not_found, "no such route", meta));
  }
  const std::string_view route_template = admin_key ? kAdminKeyPath : kSignaturePath;

  // The gateway's token first, on this thread: nothing else is read for a caller without one.
  const auto admission = gate_->Admit(request, meta, store_.options().clock->Now());
  switch (admission.outcome) {
    case VerifierGate::Outcome::kAdmitted:
      break;
    case VerifierGate::Outcome::kThrottled: {
      // A gateway gets a 401 (nginx makes a 429 of the check a 500) with the token's own
      // challenge, as for a wrong token.
      Response throttled = VerifierTokensThrottled(admission.retry_after, meta);
      throttled.set(field::www_authenticate, VerifierTokenRefused(meta)[field::www_authenticate]);
      return Answer(route_template, Bodiless(std::move(throttled), {}, {}));
    }
    case VerifierGate::Outcome::kUnknownToken:
      return Answer(route_template, Bodiless(VerifierTokenRefused(meta), {}, {}));
  }
  const std::string_view scope = admin_key ? "admin-key" : "integrator";
  auto refuse = [&](std::string_view detail) {
    return Answer(route_template, Refused(detail, meta, scope));
  };
  if (request.body().size() > options_.max_body_bytes) {
    return refuse("the forwarded body is larger than the limit");
  }

  // The original request, from this profile's headers only.
  const ProfileHeaders* own = nullptr;
  if (options_.profile == GatewayProfile::kNginx) own = &kNginxHeaders;
  if (options_.profile == GatewayProfile::kTraefik) own = &kTraefikHeaders;
  for (const ProfileHeaders* other : {&kNginxHeaders, &kTraefikHeaders}) {
    if (other == own) continue;
    if (request.count(other->uri) != 0 || request.count(other->method) != 0) {
      return refuse("a header of another gateway's forward auth is present (" +
                    std::string(request.count(other->uri) != 0 ? other->uri : other->method) + ")");
    }
  }
  Original original;
  std::string service;
  if (own != nullptr) {
    for (std::string_view name : {own->uri, own->method}) {
      if (request.count(name) != 1) {
        return refuse("header " + std::string(name) + " must appear exactly once");
      }
    }
    original.method = std::string(request[own->method]);
    original.target = std::string(request[own->uri]);
    if (admin_key) {
      const std::size_t mark = target.find('?');
      auto params = StrictParams<1>(
          mark == std::string_view::npos ? std::string_view() : target.substr(mark + 1),
          {"service"});
      if (auto* problem = std::get_if<std::string>(&params)) return refuse(*problem);
      auto& found = std::get<std::array<std::optional<std::string>, 1>>(params)[0];
      if (!found || found->empty()) return refuse("query parameter 'service' is missing");
      service = std::move(*found);
    }
  } else {
    // /v1/auth/admin-key/S<target> or /v1/auth/signature<target>: the check request is the
    // original, the prefix aside.
    std::string_view rest = target.substr(route_template.size());
    if (admin_key) {
      rest.remove_prefix(1);
      // The service ends at the path's next '/', never at one in the query.
      const std::size_t slash = path.substr(route_template.size() + 1).find('/');
      if (slash == std::string_view::npos) return refuse("no original target after the service");
      service = std::string(rest.substr(0, slash));
      rest.remove_prefix(slash);
    }
    original.method = std::string(request.method_string());
    original.target = std::string(rest);
  }
  if (!IsHttpMethod(original.method)) return refuse("the original method is malformed");
  if (!IsSignableTarget(original.target)) return refuse("the original target is malformed");
  // `admission` holds the set its scope belongs to until the route returns.
  return admin_key ? RouteAdminKey(request, meta, service, original, *admission.scope)
                   : RouteSignature(request, meta, original, *admission.scope);
}

Routed ForwardAuthApi::RouteAdminKey(Request& request, const RequestMeta& meta,
                                     std::string_view service, const Original& original,
                                     const VerifierScope& token_scope) const {
  constexpr std::string_view kTemplate = kAdminKeyPath;
  // The gateway's configuration before the client's request: a service no token can cover, or
  // one this token does not, is 403 whatever the client sent.
  if (!store_.HasService(service)) return Answer(kTemplate, Forbidden("unknown service", meta));
  if (token_scope.Access(service, false) != VerifierAccess::kAllowed) {
    return Answer(kTemplate, Bodiless(VerifierScopeRefused("this service", meta), {}, {}));
  }
  const std::string scope = std::string(service) + ":admin-key";
  auto refuse = [&](std::string_view detail) {
    return Answer(kTemplate, Refused(detail, meta, scope));
  };
  // The rules of AdminKeyCredentialsOf, on the original request's query; every refusal is a 401
  // here, since a gateway passes on only "allowed" or "not".
  auto credentials = AdminKeyCredentialsFrom(original.query(), request);
  if (!credentials.ok()) return refuse(credentials.status().message());
  struct Call {
    CredentialStore* store;
    RequestMeta meta;
    std::string service;
    AdminKeyCredentials credentials;
    std::string scope;
    const StorageUnavailableLog* storage_unavailable;
    Response Respond(const Result<AdminKeyCheck>& checked) const {
      if (!checked.ok()) {
        ProblemLabels labels;
        labels.realm = kSubjectRealm;
        labels.scope = scope;
        labels.storage_unavailable = storage_unavailable;
        return Bodiless(ProblemFor(checked.status(), meta, labels), kSubjectRealm, scope);
      }
      Response answer = NoContent(meta);
      answer.set("X-Credstore-Service", service);
      answer.set("X-Credstore-Customer", checked->customer_id);
      return answer;
    }
  };
  auto call = std::make_shared<Call>(Call{&store_, meta, std::string(service),
                                          std::move(credentials).value(), scope,
                                          options_.verify.storage_unavailable});
  return PrepareRead(
      kTemplate,
      [call]() -> std::optional<Response> {
        const AdminKeyCredentials& keys = call->credentials;
        auto checked =
            call->store->TryCheckAdminKey(call->service, keys.api_key(), keys.admin_key());
        if (!checked) return std::nullopt;  // would block: the storage pool reads it
        return call->Respond(*checked);
      },
      [call]() -> Response {
        const AdminKeyCredentials& keys = call->credentials;
        return call->Respond(
            call->store->CheckAdminKey(call->service, keys.api_key(), keys.admin_key()));
      });
}

Routed ForwardAuthApi::RouteSignature(Request& request, const RequestMeta& meta,
                                      const Original& original,
                                      const VerifierScope& token_scope) const {
  constexpr std::string_view kTemplate = kSignaturePath;
  auto refuse = [&](std::string_view detail) {
    return Answer(kTemplate, Refused(detail, meta, kIntegratorScope));
  };
  if (token_scope.Access({}, true) != VerifierAccess::kAllowed) {
    return Answer(kTemplate, Bodiless(VerifierScopeRefused("signatures", meta), {}, {}));
  }
  // A header sent twice is ambiguous about what was signed (SignedRequestOf's rule), and so is
  // the body's hash sent twice. The method, target and body are the original's, not these.
  auto parts = SignedRequestOf(request);
  if (!parts.ok()) return refuse(parts.status().message());
  if (request.count(kContentSha256Header) > 1) {
    return refuse(std::string(kContentSha256Header) + " appears more than once");
  }

  // The body's hash: the forwarded body's, the client's claim, or both when they agree.
  std::optional<std::string> forwarded;
  if (options_.profile == GatewayProfile::kNginx) {
    if (!request.body().empty()) {
      return refuse("nginx forwards no body: the check request must have none");
    }
  } else {
    if (options_.profile == GatewayProfile::kEnvoy &&
        boost::beast::iequals(request[kPartialBodyHeader], "true")) {
      return refuse("the gateway forwarded part of the body only");
    }
    if (request.count(field::content_length) != 0 || request.count(field::transfer_encoding) != 0) {
      forwarded = Sha256Hex(request.body());
    }
  }
  std::optional<std::string> claimed;
  if (request.count(kContentSha256Header) != 0) {
    claimed = std::string(request[kContentSha256Header]);
  }
  if (!forwarded && !claimed) {
    return refuse("no body hash: neither a forwarded body nor X-Content-SHA256");
  }
  if (forwarded && claimed && *forwarded != *claimed) {
    return refuse("X-Content-SHA256 is not the hash of the forwarded body");
  }

  // The call owns copies of what was signed: it may run on the storage pool.
  struct Signed {
    std::string integrator_key, timestamp, signature, method, target, body_sha256;
  };
  auto owned = std::make_shared<Signed>(
      Signed{std::string(parts->integrator_key), std::string(parts->timestamp),
             std::string(parts->signature), original.method, original.target,
             forwarded ? std::move(*forwarded) : std::move(*claimed)});
  const WorkClass work = store_.NeverBlocks() ? WorkClass::kInline : WorkClass::kStorage;
  return Prepare(kTemplate, work,
                 [store = &store_, meta, owned,
                  storage_unavailable = options_.verify.storage_unavailable]() -> Response {
                   SignedRequest signed_request;
                   signed_request.integrator_key = owned->integrator_key;
                   signed_request.timestamp = owned->timestamp;
                   signed_request.signature = owned->signature;
                   signed_request.method = owned->method;
                   signed_request.target = owned->target;
                   signed_request.body_sha256 = owned->body_sha256;
                   auto verified = store->VerifySignedRequest(signed_request);
                   if (!verified.ok()) {
                     ProblemLabels labels;
                     labels.realm = kSubjectRealm;
                     labels.scope = std::string(kIntegratorScope);
                     labels.storage_unavailable = storage_unavailable;
                     return Bodiless(ProblemFor(verified.status(), meta, labels), kSubjectRealm,
                                     kIntegratorScope);
                   }
                   Response answer = NoContent(meta);
                   answer.set("X-Credstore-Integrator", verified->integrator_id);
                   answer.set("X-Credstore-Body-SHA256", owned->body_sha256);
                   return answer;
                 });
}

}  // namespace credstore::http
