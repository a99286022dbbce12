// Internal: input checks shared by the operations. Each returns kInvalidArgument with a message
// that names the field, never its value (it may be a secret).
#ifndef CREDSTORE_CORE_SRC_VALIDATION_H_
#define CREDSTORE_CORE_SRC_VALIDATION_H_

#include <chrono>
#include <cstddef>
#include <string_view>

#include "credstore/options.h"
#include "credstore/status.h"

namespace credstore::internal {

inline constexpr std::size_t kMaxServiceNameBytes = 64;

bool IsValidUtf8(std::string_view text);

// Every character is one of [A-Za-z0-9_-]: the alphabet of API keys and service names.
bool IsNameText(std::string_view text);
// 1..kMaxServiceNameBytes characters of [A-Za-z0-9_-].
bool IsValidServiceName(std::string_view name);

Status ValidateApiKey(std::string_view api_key);
// 1..options.max_secret_bytes bytes of valid UTF-8. `field` names it in the message.
Status ValidateSecret(std::string_view secret, std::string_view field, const Options& options);
Status ValidateGrace(std::chrono::milliseconds grace, const Options& options);

}  // namespace credstore::internal

#endif  // CREDSTORE_CORE_SRC_VALIDATION_H_
