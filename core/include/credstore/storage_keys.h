// credstore/storage_keys.h — which storage keys hold the records that verification reads.
//
// The core builds every storage key; a backend treats keys as opaque bytes. The one thing a
// backend may want to know about them is which records a verification reads (and so are read
// far more often than written), for a backend that keeps a near-cache of them: the customer
// records (`c/`), integrator records (`i/`) and provisioned API keys (`p/`). Every other key
// changes on nearly every request that touches it — replay nonces (`n/`), throttle counters
// (`t/`) — or is read once at open (`keycheck`, `migration`), and caching it would only cost.
//
// This list is the core's statement, kept next to the code that builds the keys
// (tests/unit/records_test.cc checks the two agree); a backend takes it as its default and adds
// no rule of its own about what a key means.
#ifndef CREDSTORE_STORAGE_KEYS_H_
#define CREDSTORE_STORAGE_KEYS_H_

#include <array>
#include <string_view>

namespace credstore {

// Storage-key prefixes of the records that verification reads; see above.
inline constexpr std::array<std::string_view, 3> kVerificationKeyPrefixes = {"c/", "i/", "p/"};

}  // namespace credstore

#endif  // CREDSTORE_STORAGE_KEYS_H_
