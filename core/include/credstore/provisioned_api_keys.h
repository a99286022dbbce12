// credstore/provisioned_api_keys.h — API keys an operator provisioned, and nothing else.
//
// ProvisionedApiKeys is the ApiKeyValidator for deployments where credstore itself decides
// which API keys exist (credstored's `--api-keys provisioned`): an operator provisions a key for
// a service, and from then on that key may register and manage its configuration there;
// revoking the key makes every later customer call with it answer kUnauthorized.
//
// What is stored: one durable record per (service, key) under `p/{service}/{hex digest}`, where
// the digest is the keyed BLAKE2b of the API key under the keyring's pepper (the same digest the
// customer's own record is keyed by). The API key itself is never stored, logged or put in a
// Status message.
//
// No cache: IsValid() reads the backend every time (one Get, like VerifyAdminKey's), so a revoke
// takes effect at once on every instance sharing the backend. TryIsValid() reads it the same
// way with the backend's TryGet, so it answers exactly when the backend can answer without
// blocking, and then what IsValid would.
//
// Keys: open the CredentialStore on the same backend and keyring first — its keycheck proves the
// pepper is the one the store was written with; ProvisionedApiKeys does not check it again.
//
// Typical wiring:
//   auto keys = std::make_shared<ProvisionedApiKeys>(backend, keyring, clock, audit);
//   options.api_key_validator = keys;
//   auto store = CredentialStore::Open(backend, keyring, options);
//
// Thread safety: every method may be called from many threads at once; each call is one atomic
// backend operation (or a short retry loop of them).
#ifndef CREDSTORE_PROVISIONED_API_KEYS_H_
#define CREDSTORE_PROVISIONED_API_KEYS_H_

#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "credstore/api_key_validator.h"
#include "credstore/audit.h"
#include "credstore/clock.h"
#include "credstore/keyring.h"
#include "credstore/request_context.h"
#include "credstore/status.h"
#include "credstore/storage_backend.h"

namespace credstore {

namespace internal {
class KeyedHasher;
}  // namespace internal

class ProvisionedApiKeys final : public ApiKeyValidator {
 public:
  // Keeps `backend` alive, and a hashing state keyed by `keyring`'s pepper (wiped on
  // destruction).
  // `clock` nullptr: SystemClock. `audit` nullptr: JSON lines on std::clog (as CredentialStore).
  ProvisionedApiKeys(std::shared_ptr<StorageBackend> backend, const Keyring& keyring,
                     std::shared_ptr<const Clock> clock = nullptr,
                     std::shared_ptr<AuditSink> audit = nullptr);
  ~ProvisionedApiKeys() override;

  ProvisionedApiKeys(const ProvisionedApiKeys&) = delete;
  ProvisionedApiKeys& operator=(const ProvisionedApiKeys&) = delete;

  // Makes `api_key` valid for `service` (durable write), emitting "api_key.provision".
  // Provisioning a key that is already provisioned is OK and changes nothing.
  // kInvalidArgument (service not 1..64 characters of [A-Za-z0-9_-], or API key not
  // well-formed) · kUnavailable · kInternal.
  Status Provision(std::string_view service, std::string_view api_key,
                   const RequestContext& context = {});

  // Makes `api_key` invalid for `service` at once (durable erase), emitting "api_key.revoke".
  // The customer's configuration, if any, is kept: provisioning the key again restores access.
  // kInvalidArgument · kNotFound ("API key not provisioned") · kUnavailable · kInternal.
  Status Revoke(std::string_view service, std::string_view api_key,
                const RequestContext& context = {});

  // OK iff `api_key` is provisioned for `service`. kUnauthorized ("API key not provisioned"),
  // also for a malformed service or key · kUnavailable (backend unreachable) · kInternal.
  Status IsValid(std::string_view service, std::string_view api_key) override;

  // IsValid without blocking: nullopt when the backend's TryGet would block, else IsValid's
  // answer. A malformed service or key is refused without reading, so it is always answered.
  std::optional<Status> TryIsValid(std::string_view service, std::string_view api_key) override;

  // True iff the backend answers from memory (StorageBackend::AnswersFromMemory).
  bool NeverBlocks() const override;

 private:
  struct Located;
  Located Locate(std::string_view service, std::string_view api_key) const;
  void Audit(std::string_view action, const Located& key, const RequestContext& context);
  // The one reading of the record: with Get (`may_block`; always engaged) or with TryGet.
  std::optional<Status> Check(std::string_view service, std::string_view api_key, bool may_block);

  std::shared_ptr<StorageBackend> backend_;
  // Keyed once by the pepper, as the store's own hasher: each check hashes from its state.
  std::unique_ptr<const internal::KeyedHasher> hasher_;
  std::shared_ptr<const Clock> clock_;
  std::shared_ptr<AuditSink> audit_;
};

}  // namespace credstore

#endif  // CREDSTORE_PROVISIONED_API_KEYS_H_
