// Internal: the parts of request signing that need no stored state.
#ifndef CREDSTORE_CORE_SRC_SIGNATURE_H_
#define CREDSTORE_CORE_SRC_SIGNATURE_H_

#include <chrono>
#include <string>
#include <string_view>

#include "credstore/clock.h"
#include "credstore/signed_request.h"
#include "credstore/status.h"
#include "crypto.h"

namespace credstore::internal {

struct ParsedSignature {
  std::string_view integrator_id;
  Timestamp timestamp;
  Digest mac{};
};

// Checks the headers' form and the timestamp window: integrator id "int_" + [A-Za-z0-9]{8..64},
// timestamp decimal digits, |now - timestamp| <= tolerance, signature "sha256=" + 64 lowercase
// hex digits, origin-form target. kUnauthorized otherwise (never echoing header values). First
// of all, a `body_sha256` that is set must be 64 lowercase hex digits with `body` empty:
// kInvalidArgument otherwise, since that is the caller's own computation, not a credential.
Result<ParsedSignature> ParseSignedRequest(const SignedRequest& request, Timestamp now,
                                           std::chrono::milliseconds tolerance);

// "{timestamp}.{METHOD}.{target}.{hex SHA-256 of body}", the hex taken from `body_sha256` when
// it is set (precondition: its form was checked, as ParseSignedRequest does).
std::string SigningMessage(const SignedRequest& request);

}  // namespace credstore::internal

#endif  // CREDSTORE_CORE_SRC_SIGNATURE_H_
