#include "device_tokens.h"

#include <algorithm>

#include "credstore/credential_store.h"

namespace credstore::internal {

static_assert(kMaxDeviceTokensPerCustomer == kMaxDeviceTokens,
              "the record codec and the public contract must agree on the cap");

SecretString NewDeviceToken() { return RandomAlphanumeric(kDeviceTokenLength); }

bool IsWellFormedDeviceToken(std::string_view token) {
  return token.size() == kDeviceTokenLength && std::all_of(token.begin(), token.end(), [](char c) {
           return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
         });
}

void RememberDeviceToken(std::vector<DeviceTokenDigest>& tokens, const Digest& digest,
                         Timestamp now) {
  std::erase_if(tokens, [now](const DeviceTokenDigest& token) { return token.expires_at <= now; });
  tokens.insert(tokens.begin(), DeviceTokenDigest{digest, now + kDeviceTokenLifetime});
  if (tokens.size() > kMaxDeviceTokens) tokens.resize(kMaxDeviceTokens);
}

bool HoldsDeviceToken(const std::vector<DeviceTokenDigest>& tokens, const Digest& digest,
                      Timestamp now) {
  bool held = false;
  for (const DeviceTokenDigest& token : tokens) {
    held = (DigestsEqual(token.digest, digest) && now < token.expires_at) || held;
  }
  return held;
}

}  // namespace credstore::internal
