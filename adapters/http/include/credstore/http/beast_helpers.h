// credstore/http/beast_helpers.h — the credentials of a Boost.Beast request, read the way
// credstore's own routes read them, for a host that protects routes of its own.
//
// A host server with its own routes (say `GET /geofencing/1/fences` for a customer, or
// `POST /v1/orders` for an integrator) reads the credentials with these, then checks them with
// the store, directly or through async_verify.h:
//
//   credstore::Result<credstore::http::AdminKeyCredentials> keys =
//       credstore::http::AdminKeyCredentialsOf(request);
//   if (!keys.ok()) return Refuse(credstore::http::HttpStatusFor(keys.status()));  // 400 or 401
//   auto checked = store.CheckAdminKey("geofencing", keys->api_key(), keys->admin_key());
//
//   credstore::Result<credstore::SignedRequest> parts = credstore::http::SignedRequestOf(request);
//   if (!parts.ok()) return Refuse(401);
//   auto verified = store.VerifySignedRequest(*parts);
//
// The rules are the ones of PublicApi, VerifyApi and ForwardAuthApi (one copy, which they call
// too); every error is a Status whose message is safe to show the client: it never quotes a
// key, a secret or a signature.
//
// Thread safety: the functions are pure and may be called from many threads at once.
#ifndef CREDSTORE_HTTP_BEAST_HELPERS_H_
#define CREDSTORE_HTTP_BEAST_HELPERS_H_

#include <string>
#include <string_view>

#include "credstore/http/http_api.h"
#include "credstore/signed_request.h"
#include "credstore/status.h"

namespace credstore::http {

// A customer's API key and admin key, owned. Both are wiped when destroyed.
class AdminKeyCredentials {
 public:
  AdminKeyCredentials() = default;
  AdminKeyCredentials(std::string api_key, std::string admin_key);
  AdminKeyCredentials(AdminKeyCredentials&& other) noexcept;
  AdminKeyCredentials& operator=(AdminKeyCredentials&& other) noexcept;
  AdminKeyCredentials(const AdminKeyCredentials&) = delete;
  AdminKeyCredentials& operator=(const AdminKeyCredentials&) = delete;
  ~AdminKeyCredentials();

  std::string_view api_key() const { return api_key_; }
  std::string_view admin_key() const { return admin_key_; }

 private:
  void Wipe();
  std::string api_key_;
  std::string admin_key_;
};

// The API key and admin key of `request`: the `key` and `adminKey` query parameters, or the
// `X-Api-Key` and `X-Admin-Key` headers, which keep the keys out of URLs (and proxy logs).
//
// kInvalidArgument (the client's mistake, HTTP 400) when a parameter appears twice or
// percent-encoded (neither key's alphabet needs encoding, and a host that decoded the query its
// own way could read another value than the one checked), a header appears twice, a parameter
// and its header are both sent and differ, the target is malformed, or the API key is missing or
// not 8-128 characters of [A-Za-z0-9_-]. kUnauthorized (HTTP 401) when the admin key is missing
// or empty. Otherwise the two keys, to pass to CheckAdminKey or async_verify_admin_key, which
// judge the admin key itself.
Result<AdminKeyCredentials> AdminKeyCredentialsOf(const Request& request);

// The signed request `request` carries: the X-Integrator-Key, X-Timestamp and X-Signature
// headers, the method as sent, the target exactly as received, and the raw body. The fields are
// views into `request`, valid while it lives unchanged; OwnedSignedRequest copies them.
//
// kUnauthorized (HTTP 401) when one of the three headers appears more than once: a repeated
// header is ambiguous about what was signed, so it counts as no credential. A missing header is
// not an error here: it reads as empty, and the store refuses the request (kUnauthorized, or
// kNotFound for an integrator key of no integrator).
Result<SignedRequest> SignedRequestOf(const Request& request);

// A SignedRequest that owns its bytes, so that the check may run later on another thread
// (async_verify_signed_request). view() points into this object: keep it alive and unchanged
// while the view is used.
class OwnedSignedRequest {
 public:
  OwnedSignedRequest() = default;
  // Copies every field of `request`.
  explicit OwnedSignedRequest(const SignedRequest& request);
  // Moves the body out of `request` instead of copying it (the body may be large). The other
  // fields are copied from `parts`, which must be SignedRequestOf(request)'s value.
  OwnedSignedRequest(const SignedRequest& parts, Request&& request);

  SignedRequest view() const;

 private:
  std::string integrator_key_, timestamp_, signature_, method_, target_, body_, body_sha256_;
};

}  // namespace credstore::http

#endif  // CREDSTORE_HTTP_BEAST_HELPERS_H_
