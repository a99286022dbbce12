// credstore/http/verify_api.h — the verify routes: other services ask credstore whether a
// customer's admin key or an integrator's signed request is valid, without holding either
// secret themselves.
//
//   POST /v1/verify/admin-key   {"service","apiKey","adminKey"}
//        -> 200 {"service","customer","keyState":"current"|"graced"[,"expiresAt"]}
//   POST /v1/verify/signature   {"method","target","integratorKey","timestamp","signature",
//                                "bodySha256"}
//        -> 200 {"integratorId","signedWithCurrent"}
//
// Served on the public listener, composed into PublicApi (PublicApiOptions::verifier_tokens),
// or on its own by a host. Every route needs `Authorization: Bearer <verifier token>`
// (verifier_tokens.h); no other credential works here, and a verifier token works nowhere else.
// With no verifier token configured, both routes answer 404 as if they did not exist.
//
// Check order, so every bad request has one answer:
//   404 (no token configured, or no such route) -> 405 method -> 429 (too many failed tokens
//   from the address) -> 401 token -> 413 size -> 415 media type -> 400 malformed body ->
//   403 scope -> 404 unknown service -> the core call (401 / 404 / 503).
// 401 for the token has `WWW-Authenticate: Bearer realm="credstore-verify"` and that realm in
// the problem; a 401 for the admin key or the signature itself has realm "credstore", so a
// caller can tell "my token is wrong" from "the customer's key is wrong".
//
// admin-key: `customer` is AdminKeyCheck::customer_id (opaque, per service and API key);
// `expiresAt` (ISO-8601 UTC, milliseconds) only for a graced key. A wrong, revoked or expired
// key and an unknown customer are one 401, after the same work. An unknown service is 404
// (resourceType "service", the name not echoed). An adminKey of any form is checked, so a
// malformed one is simply wrong (401), never a 400 that would tell the forms apart.
//
// signature: the caller hashes the body itself (bodySha256: 64 lowercase hex digits) and sends
// the signed request's method, target (origin-form, exactly as received), X-Integrator-Key,
// X-Timestamp and X-Signature ("sha256=<64 lowercase hex>") values. 401 for a timestamp outside
// the window, a replay, a bad MAC or a disabled integrator; 404 for an unknown integrator
// (resourceType "integrator", resourceId when the id is well-formed). A request that verified
// here is a replay for every later signed call — this route, and the integrator's own
// regenerate-secret — since the store keeps one replay record per MAC.
//
// Where the work runs (http_api.h): admin-key tries the non-blocking read inline, then the
// storage pool (kStorage); signature writes a replay record: kInline when the store never
// blocks, else kStorage. Token checks (keyed BLAKE2b) and the failure limit run on the I/O
// thread. Nothing changes but replay records (and the in-memory failure counts). Every answer
// has `Cache-Control: no-store`; none carries or logs a token, a key, a secret or a signature.
//
// Thread safety: Route() and Handle() may be called from many threads at once.
#ifndef CREDSTORE_HTTP_VERIFY_API_H_
#define CREDSTORE_HTTP_VERIFY_API_H_

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string_view>

#include "credstore/credential_store.h"
#include "credstore/http/http_api.h"
#include "credstore/http/verifier_tokens.h"

namespace credstore::http {

class VerifierGate;

struct VerifyApiOptions {
  // Failed verifier tokens (missing or wrong) allowed per client address (IPv4 /32, IPv6 /64)
  // per window; more answer 429 with Retry-After until the window ends, without checking the
  // token. Counted in memory, per process.
  std::uint32_t failures_per_address = 10;                             // default: 10
  std::chrono::milliseconds failure_window = std::chrono::minutes(5);  // default: 5 min
  std::size_t max_tracked_addresses = 10'000;                          // default: 10000

  // Largest request body (413 beyond): a verify body is a few short strings and a target.
  std::size_t max_body_bytes = 16 * 1024;  // default: 16 KiB

  // When set, a 503 caused by storage says only "storage unavailable", and this is told the
  // cause to log it (problem.h). PublicApi sets its own; must outlive the API.
  const StorageUnavailableLog* storage_unavailable = nullptr;  // default: the cause is shown
};

class VerifyApi final : public HttpApi {
 public:
  // The route templates, for logs and metrics.
  static constexpr std::string_view kAdminKeyPath = "/v1/verify/admin-key";
  static constexpr std::string_view kSignaturePath = "/v1/verify/signature";
  // The prefix every verify route starts with: a composing API sends these paths here.
  static constexpr std::string_view kPathPrefix = "/v1/verify/";

  // `store` and `tokens` must outlive the VerifyApi; `tokens` may be replaced meanwhile
  // (VerifierTokens::Replace). Failures are timed by the store's clock.
  VerifyApi(CredentialStore& store, const VerifierTokens& tokens, VerifyApiOptions options = {});
  // The same over a gate (the token check and its failure counts) shared with another API that
  // verifier tokens open: PublicApi composes this one and ForwardAuthApi over one gate.
  VerifyApi(CredentialStore& store, std::shared_ptr<VerifierGate> gate, VerifyApiOptions options);
  ~VerifyApi() override;
  VerifyApi(const VerifyApi&) = delete;
  VerifyApi& operator=(const VerifyApi&) = delete;

  // Every check of the order above that needs no storage, then the prepared call. No I/O.
  Routed Route(Request& request, const RequestMeta& meta) const override;

  std::size_t max_body_bytes() const override { return options_.max_body_bytes; }

 private:
  // `token_scope`: the scope of the token the gate admitted.
  Routed RouteAdminKey(Request& request, const RequestMeta& meta,
                       const VerifierScope& token_scope) const;
  Routed RouteSignature(Request& request, const RequestMeta& meta,
                        const VerifierScope& token_scope) const;

  CredentialStore& store_;
  std::shared_ptr<VerifierGate> gate_;
  const VerifierTokens& tokens_;  // the gate's
  VerifyApiOptions options_;
};

}  // namespace credstore::http

#endif  // CREDSTORE_HTTP_VERIFY_API_H_
