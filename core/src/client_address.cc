#include "client_address.h"

#include <arpa/inet.h>

#include <array>
#include <cstring>

#include "credstore/request_context.h"
#include "crypto.h"

namespace credstore::internal {

std::optional<std::string> AddressBucket(std::string_view address) {
  // inet_pton needs a NUL-terminated string; addresses are short.
  if (address.empty()) return std::nullopt;
  if (address.size() >= INET6_ADDRSTRLEN) return "x/" + ToHex(address.substr(0, 64));
  char text[INET6_ADDRSTRLEN] = {};
  std::memcpy(text, address.data(), address.size());

  std::array<unsigned char, 4> v4{};
  if (inet_pton(AF_INET, text, v4.data()) == 1) {
    return "4/" + ToHex(std::string_view(reinterpret_cast<const char*>(v4.data()), v4.size()));
  }
  std::array<unsigned char, 16> v6{};
  // An IPv6 zone id ("fe80::1%eth0", RFC 4007) names the local interface, not the client:
  // inet_pton refuses it, and keeping it would give every spelling of one address a bucket of
  // its own. Only the address before it is grouped.
  if (char* zone = std::strchr(text, '%')) *zone = '\0';
  if (inet_pton(AF_INET6, text, v6.data()) == 1) {
    static constexpr unsigned char kMappedPrefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF};
    if (std::memcmp(v6.data(), kMappedPrefix, sizeof kMappedPrefix) == 0) {
      return "4/" + ToHex(std::string_view(reinterpret_cast<const char*>(v6.data()) + 12, 4));
    }
    // One customer network usually holds a whole /64: throttle the prefix, not the address.
    return "6/" + ToHex(std::string_view(reinterpret_cast<const char*>(v6.data()), 8));
  }
  // Not an IP address ("203.0.113.7:443", "[::1]"): an adapter bug, but never a reason to skip
  // the per-address limit. The text itself is the bucket.
  return "x/" + ToHex(address.substr(0, 64));
}

}  // namespace credstore::internal

namespace credstore {

std::optional<std::string> ThrottleBucketOf(std::string_view client_address) {
  return internal::AddressBucket(client_address);
}

}  // namespace credstore
