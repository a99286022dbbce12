// credstore/http/operator_api.h — the operator routes (docs/operations.md), served on the operator
// listener (loopback or a unix socket), separate from the public one.
//
//   GET    /healthz                                   -> 200 {"status":"ok"}      (no token)
//   GET    /readyz                                    -> 200 {"status":"ready"}, or 503 with
//                                                        Retry-After and why   (no token)
//   GET    /metrics                                   -> 200 Prometheus text
//   POST   /v1/integrators          {"label": L}      -> 201 {"integratorId","secret"}
//   GET    /v1/integrators?cursor=C&limit=N           -> 200 {"integrators":[…],"nextCursor"}
//   GET    /v1/integrators/{id}                       -> 200 the integrator
//   POST   /v1/integrators/{id}/disable               -> 204
//   POST   /v1/integrators/{id}/reset-secret          -> 200 {"secret"}
//   POST   /v1/api-keys             {"service","apiKey"}           -> 204 (provision)
//   POST   /v1/api-keys/revoke      {"service","apiKey"}           -> 204
//   DELETE /v1/api-keys/{service}/{apiKey}                         -> 204 (revoke; prefer POST:
//                                                                     URLs end up in proxy logs)
//   POST   /v1/customers/reset      {"service","apiKey","secret"}  -> 200 {"adminKey"}
//   POST   /v1/customers/delete     {"service","apiKey"}           -> 204
//   POST   /v1/backups              {"name": N}                    -> 201 {"name","folder"}: an
//                                                                     online checkpoint in the
//                                                                     backend's backups folder
//                                                                     (StorageBackend::Checkpoint)
//   POST   /v1/keys/reseal          {} or {"cursor","limit"}       -> 200 {"integrators":
//                                       {"resealed","already","failed"},"keycheck","nextCursor"}
//   (and the enable, delete and throttle-clear routes of docs/operations.md)
//
// Authentication: every route but /healthz and /readyz requires `Authorization: Bearer <token>`;
// the token is compared in constant time (keyed BLAKE2b digests of equal length, crypto_verify_32)
// and only its digest is kept. It is checked right after routing, on the I/O thread, so a missing
// or wrong token is a 401 problem at once and an unauthenticated request never occupies a worker.
//
// Where the work runs (http_api.h): /healthz and /metrics inline; customers/reset on the hashing
// pool (Argon2id); the rest (/readyz included) inline when the store never blocks (the memory
// backend), else on the storage pool.
//
// Failed token attempts are throttled per client (address; uid on a unix socket): after 10 in a
// minute, 429 with Retry-After until the minute ends, before the token is looked at. The probes
// (/healthz, /readyz) are never throttled.
//
// Errors are RFC 9457 problems (problem.h), checked in this order: 404/405 route -> 429 failed
// tokens -> 401 token -> 413 size -> 415 media type -> 400 malformed -> the operation (404 with
// resourceType and, for integrators, resourceId; 409 when API key provisioning is off, and for a
// backup whose name exists or whose backend takes none (Redis, memory); 503 with
// Retry-After when unavailable). Every response has `Cache-Control: no-store`. No response or
// problem carries the token, an API key, a customer secret or an admin key other than the one
// being issued.
//
// Thread safety: Route() and Handle() may be called from many threads at once.
#ifndef CREDSTORE_HTTP_OPERATOR_API_H_
#define CREDSTORE_HTTP_OPERATOR_API_H_

#include <array>
#include <cstddef>
#include <memory>
#include <string>

#include "credstore/credential_store.h"
#include "credstore/http/http_api.h"
#include "credstore/http/metrics.h"
#include "credstore/http/problem.h"
#include "credstore/provisioned_api_keys.h"

namespace credstore::http {

class FailureLimiter;

struct OperatorApiOptions {
  // The bearer token every route but /healthz and /readyz requires. Must not be empty: with an
  // empty token nothing authenticates and every such route answers 401. The OperatorApi keeps
  // only a keyed digest of it.
  std::string token;  // default: empty (every authenticated route answers 401)

  // Largest request body (413 beyond): operator bodies are a few short strings.
  std::size_t max_body_bytes = 16 * 1024;  // default: 16 KiB
};

class OperatorApi final : public HttpApi {
 public:
  // `store`, `metrics` and `api_keys` must outlive the OperatorApi. `api_keys` is null when the
  // server accepts any well-formed API key (`--api-keys any`): the provisioning routes then
  // answer 409 saying so. The token in `options` is wiped once digested.
  OperatorApi(CredentialStore& store, ProvisionedApiKeys* api_keys, Metrics& metrics,
              OperatorApiOptions options);
  ~OperatorApi() override;

  OperatorApi(const OperatorApi&) = delete;
  OperatorApi& operator=(const OperatorApi&) = delete;

  // Every check of the order above that needs no storage (the token once), then the prepared
  // call. No I/O.
  Routed Route(Request& request, const RequestMeta& meta) const override;

  std::size_t max_body_bytes() const override { return max_body_bytes_; }

 private:
  // True iff the request carries `Authorization: Bearer <the token>`.
  bool IsAuthorized(const Request& request) const;

  CredentialStore& store_;
  ProvisionedApiKeys* api_keys_;
  Metrics& metrics_;
  std::size_t max_body_bytes_;
  bool has_token_ = false;
  // Per-instance random key for the token digests: a digest in memory says nothing on its own.
  std::array<unsigned char, 32> digest_key_{};
  std::array<unsigned char, 32> token_digest_{};
  // Failed token attempts per client (Route is const; the throttle is the one thing it counts).
  std::unique_ptr<FailureLimiter> failed_tokens_;
};

}  // namespace credstore::http

#endif  // CREDSTORE_HTTP_OPERATOR_API_H_
