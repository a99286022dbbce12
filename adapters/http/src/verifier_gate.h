// verifier_gate.h — the first check of every route a verifier token opens: the verify routes
// (verify_api.h) and the forward-auth routes (forward_auth_api.h).
//
// One rule in one place: an address that failed too often is refused before its token is looked
// at; otherwise the token must be one of the live set, and a missing or wrong one is counted.
// An admitted request keeps the set that admitted it and its token's scope: the route asks the
// scope about its service once the body is read, without a second digest, and a reload in
// between does not change the answer (a request finishes against the set live when it came).
// PublicApi gives both APIs one gate, so a guesser gets one budget of failures, not one per API.
// Each API turns the outcome into its own answer (a problem body, or a bodiless gateway answer).
//
// Thread safety: Admit() may be called from many threads at once.
#ifndef CREDSTORE_HTTP_SRC_VERIFIER_GATE_H_
#define CREDSTORE_HTTP_SRC_VERIFIER_GATE_H_

#include <chrono>
#include <memory>
#include <string_view>

#include "credstore/clock.h"
#include "credstore/http/http_api.h"
#include "credstore/http/verifier_tokens.h"
#include "credstore/http/verify_api.h"
#include "failure_limiter.h"

namespace credstore::http {

class VerifierGate {
 public:
  enum class Outcome {
    kAdmitted,      // a token of the live set (its scope is the route's to check)
    kThrottled,     // too many failures from the address: the token was not looked at
    kUnknownToken,  // missing or wrong (counted)
  };
  struct Admission {
    Outcome outcome = Outcome::kUnknownToken;
    std::chrono::milliseconds retry_after{0};  // kThrottled: how long the address must wait
    // kAdmitted: the token's scope, valid while `tokens` is held; null otherwise.
    const VerifierScope* scope = nullptr;
    std::shared_ptr<const VerifierTokenSet> tokens{};
  };

  // `tokens` must outlive the gate. The failure limits are VerifyApiOptions'.
  VerifierGate(const VerifierTokens& tokens, const VerifyApiOptions& options);

  // The bearer token of `request` (request_parts.h: BearerToken) from `meta.client_address`.
  Admission Admit(const Request& request, const RequestMeta& meta, Timestamp now);

  const VerifierTokens& tokens() const { return tokens_; }

 private:
  const VerifierTokens& tokens_;
  FailureLimiter failures_;
};

// The answers of a refused verifier token, the same on every route it opens (each API may carry
// them differently: forward_auth_api.h moves a problem into headers).
//   401, WWW-Authenticate: Bearer realm="credstore-verify": the token is missing or wrong.
Response VerifierTokenRefused(const RequestMeta& meta);
//   429 with Retry-After, realm "credstore-verify": too many failed tokens from the address.
Response VerifierTokensThrottled(std::chrono::milliseconds wait, const RequestMeta& meta);
//   403 urn:credstore:problem:forbidden: a valid token whose scope does not cover `what`.
Response VerifierScopeRefused(std::string_view what, const RequestMeta& meta);

}  // namespace credstore::http

#endif  // CREDSTORE_HTTP_SRC_VERIFIER_GATE_H_
