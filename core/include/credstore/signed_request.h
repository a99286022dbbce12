// credstore/signed_request.h — an integrator's HMAC-signed request, as received.
//
// Scheme (docs/http.md):
//   X-Integrator-Key: int_…
//   X-Timestamp:      <unix milliseconds, decimal digits>
//   X-Signature:      sha256=<64 lowercase hex digits>
//   MAC = HMAC-SHA256(key = the secret's UTF-8 bytes,
//                     message = "{timestamp}.{METHOD}.{target}.{hex SHA-256 of the raw body}")
// `target` is the request target exactly as received (origin-form: path and query, undecoded).
//
// A verifier that received only the body's hash (a host that hashed the body itself, as the
// /v1/verify/signature route's callers do) sets `body_sha256` instead of `body`: the message is
// then built from that hash, so both forms sign and verify the same bytes.
//
// The fields are views: the caller keeps the bytes alive for the duration of the call.
#ifndef CREDSTORE_SIGNED_REQUEST_H_
#define CREDSTORE_SIGNED_REQUEST_H_

#include <string>
#include <string_view>

namespace credstore {

struct SignedRequest {
  std::string_view integrator_key;  // X-Integrator-Key
  std::string_view timestamp;       // X-Timestamp
  std::string_view signature;       // X-Signature
  std::string_view method;          // "POST"
  std::string_view target;          // "/v1/integrator/regenerate-secret"
  std::string_view body;            // raw bytes; empty when there is none
  // When not empty: the body's SHA-256 as 64 lowercase hex digits, used in the message instead
  // of hashing `body`, which must then be empty. Any other form, or both set, is
  // kInvalidArgument from the store (before anything is read or written).
  std::string_view body_sha256 = {};
};

// True iff `id` has the form of an integrator id: "int_" and 8–64 letters or digits. Ids are
// public, so one of this form may be echoed in an answer; anything else in its place might be a
// pasted secret and never is.
bool IsWellFormedIntegratorId(std::string_view id);

// The X-Signature header value ("sha256=<hex>") for a request signed with `secret`. For clients,
// test vectors and tests; a server never needs it.
std::string SignRequest(std::string_view secret, std::string_view timestamp,
                        std::string_view method, std::string_view target, std::string_view body);

}  // namespace credstore

#endif  // CREDSTORE_SIGNED_REQUEST_H_
