// Internal: the throttling bucket of a client address.
#ifndef CREDSTORE_CORE_SRC_CLIENT_ADDRESS_H_
#define CREDSTORE_CORE_SRC_CLIENT_ADDRESS_H_

#include <optional>
#include <string>
#include <string_view>

namespace credstore::internal {

// "4/<8 hex>" for an IPv4 address (and IPv4-mapped IPv6), "6/<16 hex>" for the /64 of an IPv6
// address (a zone id, "%eth0", is ignored), "x/<hex of the text>" for text that is not an IP
// address (it still gets a bucket of its own), nullopt only for an empty address (only the
// per-customer rate applies then).
std::optional<std::string> AddressBucket(std::string_view address);

}  // namespace credstore::internal

#endif  // CREDSTORE_CORE_SRC_CLIENT_ADDRESS_H_
