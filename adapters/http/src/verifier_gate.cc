#include "verifier_gate.h"

#include <boost/beast/http/status.hpp>
#include <string>

#include "request_parts.h"

namespace credstore::http {
namespace {

namespace beast_http = boost::beast::http;

constexpr std::string_view kRealm = "credstore-verify";
// What a verifier token unlocks, named on its 401 as every 401 names its scope.
constexpr std::string_view kTokenScope = "verify";
constexpr std::string_view kForbiddenType = "urn:credstore:problem:forbidden";

}  // namespace

VerifierGate::VerifierGate(const VerifierTokens& tokens, const VerifyApiOptions& options)
    : tokens_(tokens),
      failures_(options.failures_per_address, options.failure_window,
                options.max_tracked_addresses) {}

VerifierGate::Admission VerifierGate::Admit(const Request& request, const RequestMeta& meta,
                                            Timestamp now) {
  // The address's key is built only when some address is blocked, or to count a failure.
  if (failures_.MayBlock(now)) {
    if (auto wait = failures_.Blocked(FailureLimiter::AddressKey(meta.client_address), now)) {
      return Admission{.outcome = Outcome::kThrottled, .retry_after = *wait};
    }
  }
  std::shared_ptr<const VerifierTokenSet> tokens = tokens_.Snapshot();
  const VerifierScope* scope = tokens->ScopeOf(BearerToken(request));
  if (scope == nullptr) {
    failures_.CountFailure(FailureLimiter::AddressKey(meta.client_address), now);
    return Admission{.outcome = Outcome::kUnknownToken};
  }
  return Admission{.outcome = Outcome::kAdmitted, .scope = scope, .tokens = std::move(tokens)};
}

Response VerifierTokenRefused(const RequestMeta& meta) {
  ProblemExtras extras;
  extras.auth_scheme = "Bearer";  // a verifier token is a bearer token (RFC 6750)
  extras.realm = std::string(kRealm);
  extras.scope = std::string(kTokenScope);
  return MakeProblem(beast_http::status::unauthorized,
                     "verifier token missing or invalid (Authorization: Bearer <token>)", meta,
                     extras);
}

Response VerifierTokensThrottled(std::chrono::milliseconds wait, const RequestMeta& meta) {
  ProblemLabels labels;
  labels.realm = kRealm;
  return ProblemFor(Status::Throttled("too many failed verifier tokens", wait), meta, labels);
}

Response VerifierScopeRefused(std::string_view what, const RequestMeta& meta) {
  ProblemExtras extras;
  extras.type = std::string(kForbiddenType);
  extras.realm = std::string(kRealm);
  return MakeProblem(beast_http::status::forbidden,
                     "the verifier token's scope does not cover " + std::string(what), meta,
                     extras);
}

}  // namespace credstore::http
