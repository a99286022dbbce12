// Internal: device tokens (OWASP's "device cookies", credential_store.h), which keep a
// customer's own devices out of the per-customer throttle bucket that strangers share.
//
// A token is minted on every successful secret check and kept in the customer record only as a
// keyed digest (DigestKind::kDeviceToken); the list is capped and expires by the store's Clock.
#ifndef CREDSTORE_CORE_SRC_DEVICE_TOKENS_H_
#define CREDSTORE_CORE_SRC_DEVICE_TOKENS_H_

#include <cstddef>
#include <string_view>
#include <vector>

#include "credstore/clock.h"
#include "credstore/secret_string.h"
#include "crypto.h"
#include "records.h"

namespace credstore::internal {

inline constexpr std::size_t kDeviceTokenLength = 32;  // ~190 bits over [A-Za-z0-9]

// A new token: kDeviceTokenLength uniform characters of [A-Za-z0-9] (URL- and header-safe).
SecretString NewDeviceToken();

// True iff `token` has the form NewDeviceToken gives. Anything else is never looked up.
bool IsWellFormedDeviceToken(std::string_view token);

// Makes `digest` the newest of `tokens`, valid until now + kDeviceTokenLifetime; drops expired
// tokens, then the oldest beyond kMaxDeviceTokens.
void RememberDeviceToken(std::vector<DeviceTokenDigest>& tokens, const Digest& digest,
                         Timestamp now);

// True iff `digest` is one of `tokens` and still valid at `now`. Compares with every entry, so
// the time taken does not tell which one matched.
bool HoldsDeviceToken(const std::vector<DeviceTokenDigest>& tokens, const Digest& digest,
                      Timestamp now);

}  // namespace credstore::internal

#endif  // CREDSTORE_CORE_SRC_DEVICE_TOKENS_H_
