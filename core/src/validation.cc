#include "validation.h"

#include <cstdint>
#include <string>

#include "credstore/api_key_validator.h"

namespace credstore {

bool IsWellFormedApiKey(std::string_view api_key) {
  return api_key.size() >= 8 && api_key.size() <= 128 && internal::IsNameText(api_key);
}

namespace internal {

bool IsNameText(std::string_view text) {
  for (const char c : text) {
    const bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                    c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

bool IsValidServiceName(std::string_view name) {
  return !name.empty() && name.size() <= kMaxServiceNameBytes && IsNameText(name);
}

bool IsValidUtf8(std::string_view text) {
  // RFC 3629: no overlong forms, no surrogates, nothing above U+10FFFF.
  std::size_t i = 0;
  const std::size_t n = text.size();
  while (i < n) {
    const auto c = static_cast<std::uint8_t>(text[i]);
    std::size_t extra;
    std::uint32_t min;
    std::uint32_t code;
    if (c < 0x80) {
      ++i;
      continue;
    } else if ((c & 0xE0) == 0xC0) {
      extra = 1, min = 0x80, code = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      extra = 2, min = 0x800, code = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      extra = 3, min = 0x10000, code = c & 0x07;
    } else {
      return false;
    }
    if (n - i <= extra) return false;
    for (std::size_t k = 1; k <= extra; ++k) {
      const auto cc = static_cast<std::uint8_t>(text[i + k]);
      if ((cc & 0xC0) != 0x80) return false;
      code = (code << 6) | (cc & 0x3F);
    }
    if (code < min || code > 0x10FFFF || (code >= 0xD800 && code <= 0xDFFF)) return false;
    i += extra + 1;
  }
  return true;
}

Status ValidateApiKey(std::string_view api_key) {
  if (!IsWellFormedApiKey(api_key)) {
    return Status::InvalidArgument("key must be 8-128 characters of [A-Za-z0-9_-]");
  }
  return Status::Ok();
}

Status ValidateSecret(std::string_view secret, std::string_view field, const Options& options) {
  if (secret.empty() || secret.size() > options.max_secret_bytes) {
    return Status::InvalidArgument(std::string(field) + " must be 1-" +
                                   std::to_string(options.max_secret_bytes) + " bytes");
  }
  if (!IsValidUtf8(secret)) {
    return Status::InvalidArgument(std::string(field) + " must be valid UTF-8");
  }
  return Status::Ok();
}

Status ValidateGrace(std::chrono::milliseconds grace, const Options& options) {
  if (grace < std::chrono::milliseconds(0) || grace > options.max_grace) {
    return Status::InvalidArgument(
        "grace must be between 0 and " +
        std::to_string(
            std::chrono::duration_cast<std::chrono::seconds>(options.max_grace).count()) +
        " seconds");
  }
  return Status::Ok();
}

}  // namespace internal
}  // namespace credstore
