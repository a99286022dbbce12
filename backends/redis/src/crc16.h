// Internal to credstore::redis: Redis Cluster's key-to-slot rule.
//
// A key's slot is CRC16(key) mod 16384, where CRC16 is the XMODEM variant (polynomial 0x1021,
// initial value 0, no reflection) that Redis Cluster specifies, and where a key that holds a
// hash tag — the first '{' followed later by a '}' with at least one byte between them — is
// hashed by that tag alone. credstore's keys (`<namespace>:{<key>}`) all carry one, so each
// record's hash lives in the slot of its credstore key.
#ifndef CREDSTORE_BACKENDS_REDIS_SRC_CRC16_H_
#define CREDSTORE_BACKENDS_REDIS_SRC_CRC16_H_

#include <cstdint>
#include <string_view>

namespace credstore::redis_internal {

inline constexpr int kClusterSlots = 16384;

// CRC16/XMODEM of `data` ("123456789" -> 0x31C3).
std::uint16_t Crc16(std::string_view data);

// The part of `key` that Redis hashes: the hash tag if there is one, else the whole key.
std::string_view HashTag(std::string_view key);

// The cluster slot of `key`, 0..16383.
int HashSlot(std::string_view key);

}  // namespace credstore::redis_internal

#endif  // CREDSTORE_BACKENDS_REDIS_SRC_CRC16_H_
