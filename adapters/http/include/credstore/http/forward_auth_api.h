// credstore/http/forward_auth_api.h — forward auth: a gateway (nginx auth_request, Traefik
// forwardAuth, Envoy ext_authz) asks credstore whether the request it holds may pass, and
// forwards it to its upstream only on a 204. The contract, which docs/gateways.md configures:
//
// Profile. One gateway profile at a time (GatewayProfile; credstored --forward-auth). Off, the
// routes answer 404; so do they while no verifier token is configured (as the verify routes).
//
// Routes, per profile (the check request is what the gateway sends credstore):
//   nginx, Traefik:  <any method> /v1/auth/admin-key?service=S     <any method> /v1/auth/signature
//   Envoy:           <the original method> /v1/auth/admin-key/S<original target>
//                    <the original method> /v1/auth/signature<original target>
//   (Envoy's http_service path_prefix is "/v1/auth/admin-key/S" or "/v1/auth/signature".)
//
// The original request is read only from the profile's own headers: nginx X-Original-URI and
// X-Original-Method; Traefik X-Forwarded-Uri and X-Forwarded-Method; Envoy the check request's
// own method and target after the prefix. Each is needed exactly once. A header another profile
// reads (X-Original-* under Traefik or Envoy, X-Forwarded-Uri/-Method under nginx or Envoy) is
// 401: it says the request did not come the way this deployment's gateway sends it.
//
// Every check needs `Authorization: Bearer <verifier token>` (verifier_tokens.h), set by the
// gateway; admin-key needs a scope covering S, signature "+signatures".
//
// admin-key: `key` and `adminKey` from the original target's query, or the X-Api-Key and
// X-Admin-Key headers. A repeated or percent-encoded `key`, `adminKey` or `service` is 401 (a
// gateway or upstream that decodes or picks differently must never see another key than the one
// checked); a header sent twice is 401; query and header both set and differing is 401. Then
// CredentialStore::CheckAdminKey, tried without blocking first (kStorage).
//
// signature: X-Integrator-Key, X-Timestamp and X-Signature (each once) over the original method
// and target, by CredentialStore::VerifySignedRequest with SignedRequest::body_sha256. The body's
// hash comes from the body the gateway forwarded (Envoy with_request_body, Traefik forwardBody:
// present when the check request has Content-Length or Transfer-Encoding) or from the client's
// X-Content-SHA256 (64 lowercase hex digits); both present and different is 401, neither is 401,
// an Envoy partial body (x-envoy-auth-partial-body: true) is 401. nginx cannot forward a body:
// under nginx only X-Content-SHA256 counts, and a check request with a body is 401. kInline when
// the store never blocks, else kStorage. A signature that passed here is a replay everywhere
// after (one replay record per MAC), so a client that retries signs again.
//
// Answers: 204, 401 or 403 only, all without a body (nginx turns any other status into 500 and
// drops the body; a body would also cost every check bytes for nothing), except 5xx when the
// store is in trouble (503 with Retry-After). A refusal's problem travels in headers:
// X-Credstore-Problem-Type, X-Credstore-Problem-Detail, X-Credstore-Problem-Instance, with
// WWW-Authenticate on 401 (realm "credstore-verify" when the gateway's token is wrong, else
// "credstore"). 403: the token's scope does not cover the service or signatures, or the service
// is unknown. A 204 carries, for admin-key, X-Credstore-Service and X-Credstore-Customer
// (AdminKeyCheck::customer_id); for signature, X-Credstore-Integrator and X-Credstore-Body-SHA256
// (the hash that was verified: the upstream checks the body it gets against it). Every answer
// has Cache-Control: no-store. No answer or log line carries a token, key, secret or signature.
//
// Thread safety: Route() and Handle() may be called from many threads at once.
#ifndef CREDSTORE_HTTP_FORWARD_AUTH_API_H_
#define CREDSTORE_HTTP_FORWARD_AUTH_API_H_

#include <cstddef>
#include <memory>
#include <optional>
#include <string_view>

#include "credstore/credential_store.h"
#include "credstore/http/http_api.h"
#include "credstore/http/verifier_tokens.h"
#include "credstore/http/verify_api.h"

namespace credstore::http {

class VerifierGate;

// The gateway whose check requests the auth routes read.
enum class GatewayProfile { kNginx, kTraefik, kEnvoy };

// "nginx", "traefik", "envoy" -> the profile; nullopt for anything else.
std::optional<GatewayProfile> ParseGatewayProfile(std::string_view name);

struct ForwardAuthApiOptions {
  GatewayProfile profile = GatewayProfile::kNginx;
  // The failure limit of the verifier token (shared with the verify routes in PublicApi).
  VerifyApiOptions verify;
  // Largest forwarded body (Envoy, Traefik); larger is refused (401) when a host's own server
  // let it through. Keep the gateway's own limit (Envoy max_request_bytes) at or below it.
  std::size_t max_body_bytes = 32 * 1024;  // default: 32 KiB, PublicApi's
};

class ForwardAuthApi final : public HttpApi {
 public:
  // The route templates, for logs and metrics.
  static constexpr std::string_view kAdminKeyPath = "/v1/auth/admin-key";
  static constexpr std::string_view kSignaturePath = "/v1/auth/signature";
  // Every auth route starts with it: a composing API sends these paths here.
  static constexpr std::string_view kPathPrefix = "/v1/auth/";

  // `store` and `tokens` must outlive the API; `tokens` may be replaced meanwhile.
  ForwardAuthApi(CredentialStore& store, const VerifierTokens& tokens,
                 ForwardAuthApiOptions options = {});
  // The same over a gate shared with the verify routes (PublicApi).
  ForwardAuthApi(CredentialStore& store, std::shared_ptr<VerifierGate> gate,
                 ForwardAuthApiOptions options);
  ~ForwardAuthApi() override;
  ForwardAuthApi(const ForwardAuthApi&) = delete;
  ForwardAuthApi& operator=(const ForwardAuthApi&) = delete;

  // Every check that needs no storage, then the prepared call. No I/O.
  Routed Route(Request& request, const RequestMeta& meta) const override;

  std::size_t max_body_bytes() const override { return options_.max_body_bytes; }

 private:
  struct Original;
  // `token_scope`: the scope of the token the gate admitted.
  Routed RouteAdminKey(Request& request, const RequestMeta& meta, std::string_view service,
                       const Original& original, const VerifierScope& token_scope) const;
  Routed RouteSignature(Request& request, const RequestMeta& meta, const Original& original,
                        const VerifierScope& token_scope) const;

  CredentialStore& store_;
  std::shared_ptr<VerifierGate> gate_;
  const VerifierTokens& tokens_;  // the gate's
  ForwardAuthApiOptions options_;
};

}  // namespace credstore::http

#endif  // CREDSTORE_HTTP_FORWARD_AUTH_API_H_
