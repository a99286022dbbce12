// credstore/api_key_validator.h — whose API keys count.
//
// A customer is identified by the API key it calls with. credstore checks that a key is
// well-formed (8–128 characters of [A-Za-z0-9_-]) itself; whether a well-formed key is a valid
// key for a service is the host's call, made through this interface before any other storage
// work. On the calls that take a secret (register, regenerate, update) a refused key is then
// treated as a wrong secret would be — throttled, and refused only after the same Argon2id work
// — so the answer is no cheap oracle of which keys the validator accepts (credential_store.h).
//
// Thread safety: IsValid() is called from many threads at once.
#ifndef CREDSTORE_API_KEY_VALIDATOR_H_
#define CREDSTORE_API_KEY_VALIDATOR_H_

#include <optional>
#include <string_view>

#include "credstore/status.h"

namespace credstore {

class ApiKeyValidator {
 public:
  virtual ~ApiKeyValidator() = default;
  // OK if `api_key` (already well-formed) may use `service`; kUnauthorized if not;
  // kUnavailable if the answer cannot be had now. The key must not appear in the message.
  virtual Status IsValid(std::string_view service, std::string_view api_key) = 0;

  // IsValid without blocking (no I/O, no lock waited for), for callers on an event loop:
  // nullopt ("would block") when the answer cannot be had that way, else what IsValid would
  // answer. Default: always nullopt, so a validator that does not override it is only ever
  // asked from a thread that may block.
  virtual std::optional<Status> TryIsValid(std::string_view service, std::string_view api_key) {
    (void)service;
    (void)api_key;
    return std::nullopt;
  }

  // True iff IsValid never blocks (it answers from memory). Default: false.
  virtual bool NeverBlocks() const { return false; }
};

// Accepts every well-formed key: for deployments behind a gateway that already checks keys.
class AnyWellFormedApiKey final : public ApiKeyValidator {
 public:
  Status IsValid(std::string_view, std::string_view) override { return Status::Ok(); }
  std::optional<Status> TryIsValid(std::string_view, std::string_view) override {
    return Status::Ok();
  }
  bool NeverBlocks() const override { return true; }
};

// True iff `api_key` is 8–128 characters of [A-Za-z0-9_-].
bool IsWellFormedApiKey(std::string_view api_key);

}  // namespace credstore

#endif  // CREDSTORE_API_KEY_VALIDATOR_H_
