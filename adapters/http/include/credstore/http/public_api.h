// credstore/http/public_api.h — the public routes (docs/http.md) as a plain function from an
// HTTP request to an HTTP response (Boost.Beast message types).
//
//   POST /{service}/1/register?key=K              {"secret": S}                -> 200 {"adminKey"}
//   POST /{service}/1/regenerateKey?key=K         {"secret": S[, "oldKeyValidForSeconds": n]}
//   POST /{service}/1/updateSecret?key=K          {"secret": S, "newSecret": S2} -> 204
//   GET  /{service}/1/settings?key=K&adminKey=A                               -> 200 settings
//   POST /{service}/1/settings?key=K&adminKey=A   a JSON object (<= 16 KiB)    -> 200 stored
//   POST /v1/integrator/regenerate-secret         signed; [{"oldSecretValidForSeconds": n}]
//   POST /v1/verify/admin-key, /v1/verify/signature   verify_api.h (with verifier tokens)
//   /v1/auth/admin-key, /v1/auth/signature       forward_auth_api.h (with a gateway profile)
//   GET  /healthz                                 -> 200 {"status":"ok"}: the process answers
//   GET  /readyz                                  -> 200 {"status":"ready"}, or 503 (Retry-After,
//                                                    "storage unavailable") when the store cannot
//                                                    serve (CredentialStore::CheckReady)
//
// regenerateKey answers {"adminKey"[, "oldKeyExpiresAt"]}: the time the previous key stops
// verifying, present only with a grace. The settings routes take the admin key from the
// `adminKey` query parameter or from an `X-Admin-Key` header, which keeps it out of URLs (and
// so out of proxy logs); both may be sent only when they are equal (400 otherwise), and the
// header may be sent once.
//
// Device tokens (credential_store.h): every success of register, regenerateKey and updateSecret
// carries a `Credstore-Device` response header, a new 32-character token ([A-Za-z0-9]); errors
// never do. A client keeps the newest one (per customer, like a cookie it never shows anyone)
// and sends it back as a `Credstore-Device` request header on that customer's next
// regenerateKey or updateSecret: a token the customer's record holds skips the per-customer
// throttle that strangers who know the API key can spend. A missing, repeated, malformed,
// unknown or expired token counts as none, with the same answer. The header is never logged.
//
// Every error is an RFC 9457 problem (application/problem+json). Checks run in one order, so
// every bad request has one answer: 404/405 route -> 413 size -> 415 media type -> 400
// malformed -> 429 throttled -> 401/404 credentials -> the operation (503 when unavailable).
// The body-size check (413) is the server's: its parser enforces the limit before the body is
// read. No response, header or problem ever carries a secret, an admin key or an API key.
//
// Embedding: a host Beast server calls Route() on its I/O thread (cheap, no I/O) and runs the
// prepared call where its WorkClass says (http_api.h): register, regenerateKey and updateSecret
// run Argon2id (kHashing); a settings GET tries the non-blocking read first (kStorage); a
// settings POST, regenerate-secret and /readyz are kInline when the store never blocks (the
// memory backend), else kStorage. Or it simply calls Handle(), which does all of it on one thread.
//
// Thread safety: Route() and Handle() may be called from many threads at once.
#ifndef CREDSTORE_HTTP_PUBLIC_API_H_
#define CREDSTORE_HTTP_PUBLIC_API_H_

#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "credstore/credential_store.h"
#include "credstore/http/forward_auth_api.h"
#include "credstore/http/http_api.h"
#include "credstore/http/problem.h"
#include "credstore/http/verifier_tokens.h"
#include "credstore/http/verify_api.h"

namespace credstore::http {

// The request and response header that carries a device token (see above).
inline constexpr std::string_view kDeviceTokenHeader = "Credstore-Device";

struct PublicApiOptions {
  // Largest request body the server's parser admits (413 beyond); settings are 16 KiB, so a
  // little more leaves room for whitespace. Used by the server, exposed here to keep one number.
  std::size_t max_body_bytes = 32 * 1024;  // default: 32 KiB

  // The verifier tokens of the /v1/verify/ routes (verify_api.h), which must outlive the
  // PublicApi. nullptr, or a set with no token: those routes answer 404.
  const VerifierTokens* verifier_tokens = nullptr;  // default: none
  VerifyApiOptions verify;

  // A 503 caused by storage says only "storage unavailable" to the public; this is told the
  // cause (the backend's message) with the request, to log it. Called from any thread; must not
  // throw. Default: not set (the cause is dropped).
  StorageUnavailableLog storage_unavailable;

  // The gateway whose forward-auth checks the /v1/auth/ routes answer (forward_auth_api.h), with
  // the verifier tokens above and one failure count shared with the verify routes. nullopt, or
  // no verifier tokens: those routes answer 404.
  std::optional<GatewayProfile> forward_auth;  // default: off
};

class PublicApi final : public HttpApi {
 public:
  // `store` must outlive the PublicApi.
  explicit PublicApi(CredentialStore& store, PublicApiOptions options = {});
  ~PublicApi() override;
  PublicApi(const PublicApi&) = delete;
  PublicApi& operator=(const PublicApi&) = delete;

  // Every check of the order above that needs no storage, then the prepared call. No I/O.
  Routed Route(Request& request, const RequestMeta& meta) const override;

  std::size_t max_body_bytes() const override { return options_.max_body_bytes; }

 private:
  Routed RouteRegenerateSecret(Request& request, const RequestMeta& meta) const;

  CredentialStore& store_;
  PublicApiOptions options_;
  std::unique_ptr<VerifyApi> verify_;             // null without verifier tokens
  std::unique_ptr<ForwardAuthApi> forward_auth_;  // null without tokens or a profile
};

}  // namespace credstore::http

#endif  // CREDSTORE_HTTP_PUBLIC_API_H_
