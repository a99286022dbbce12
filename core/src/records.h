// Internal: the records credstore keeps in a StorageBackend, their storage keys and their
// binary encoding. Every record starts with a format byte, so a later format can read (and
// upgrade) an older one. Decoding never trusts its input: a truncated or foreign value is
// kInternal ("corrupt record"), never undefined behaviour.
#ifndef CREDSTORE_CORE_SRC_RECORDS_H_
#define CREDSTORE_CORE_SRC_RECORDS_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "credstore/clock.h"
#include "credstore/status.h"
#include "crypto.h"
#include "validation.h"

namespace credstore::internal {

inline constexpr std::uint8_t kRecordFormat = 1;
// A customer record that holds device tokens is written in format 2: format 1's layout, then the
// tokens. One without any is still written in format 1, so records written before device tokens
// existed decode unchanged, and every record has exactly one encoding (a format 2 record with no
// token is refused as corrupt).
inline constexpr std::uint8_t kCustomerWithDevicesFormat = 2;
// The most device tokens a customer record holds (a longer list is corrupt).
inline constexpr std::size_t kMaxDeviceTokensPerCustomer = 8;

// ---- Storage keys -----------------------------------------------------------------------------
// A customer's storage key, c/{service}/{lowercase hex of the API key's digest}, held inline:
// every authenticated call builds one, and a std::string that long is a heap allocation.
// Precondition: `service` is a valid service name (validation.h); a longer one aborts.
class CustomerStorageKey {
 public:
  CustomerStorageKey() = default;
  CustomerStorageKey(std::string_view service, const Digest& api_key_digest);
  // Copies only the key's bytes, never the unused tail (left unwritten: no call zeroes it).
  CustomerStorageKey(const CustomerStorageKey& other) noexcept : size_(other.size_) {
    std::memcpy(bytes_.data(), other.bytes_.data(), size_);
  }
  CustomerStorageKey& operator=(const CustomerStorageKey& other) noexcept {
    size_ = other.size_;
    std::memmove(bytes_.data(), other.bytes_.data(), size_);
    return *this;
  }

  std::string_view view() const { return {bytes_.data(), size_}; }
  operator std::string_view() const { return view(); }  // NOLINT: a key is read as its bytes

 private:
  static constexpr std::size_t kCapacity = 2 + kMaxServiceNameBytes + 1 + 2 * kDigestBytes;
  static_assert(kCapacity <= 255, "the size is kept in one byte");
  std::array<char, kCapacity> bytes_;
  std::uint8_t size_ = 0;
};
// The same key as a string, for the calls off the hot path.
std::string CustomerKey(std::string_view service, const Digest& api_key_digest);
std::string IntegratorKey(std::string_view integrator_id);
inline constexpr std::string_view kIntegratorKeyPrefix = "i/";
inline constexpr std::string_view kKeycheckKey = "keycheck";
// Present only on the target of an unfinished `credstore migrate` (migration.h): written before
// the first record is copied, erased after the last, and a store holding it is never opened.
inline constexpr std::string_view kMigrationMarkerKey = "migration";
std::string ReplayKey(std::string_view integrator_id, const Digest& mac);

// ---- Customer ---------------------------------------------------------------------------------
struct GracedAdminKey {
  Digest digest{};
  Timestamp expires_at;
};

// A device token (device_tokens.h) as stored: only its keyed digest, never the token.
struct DeviceTokenDigest {
  Digest digest{};
  Timestamp expires_at;  // valid while now < expires_at
};

struct CustomerRecord {
  std::string secret_hash;  // crypto_pwhash_str output (Argon2id)
  std::uint64_t secret_generation = 1;
  Digest admin_key_digest{};
  std::uint64_t admin_generation = 1;
  std::optional<GracedAdminKey> previous_admin_key;  // valid while now < expires_at
  std::string settings_json = "{}";
  Timestamp created_at;
  // Most recent first, at most kMaxDeviceTokensPerCustomer.
  std::vector<DeviceTokenDigest> device_tokens;
};

std::string Encode(const CustomerRecord& record);
Result<CustomerRecord> DecodeCustomer(std::string_view bytes);

// Only the admin-key digests of a customer record: what VerifyAdminKey, the hot path, needs,
// decoded without copying the secret hash, the settings or the device tokens. Same validation as
// DecodeCustomer.
struct CustomerAdminKeys {
  Digest current{};
  std::optional<GracedAdminKey> previous;
};
Result<CustomerAdminKeys> DecodeCustomerAdminKeys(std::string_view bytes);

// ---- Integrator -------------------------------------------------------------------------------
enum class SecretSlot : std::uint8_t { kCurrent = 'C', kOld = 'O' };

struct SealedSecret {
  std::uint64_t generation = 0;
  std::uint32_t master_key_id = 0;
  std::string sealed;                   // XChaCha20-Poly1305: nonce ‖ ciphertext ‖ tag
  std::optional<Timestamp> expires_at;  // old slot only
};

struct IntegratorRecord {
  std::string integrator_id;
  std::string label;
  bool enabled = true;
  Timestamp created_at;
  std::uint64_t last_generation = 0;  // highest secret generation ever issued
  SealedSecret current;
  std::optional<SealedSecret> old;
};

std::string Encode(const IntegratorRecord& record);
Result<IntegratorRecord> DecodeIntegrator(std::string_view bytes);

// The associated data that binds a sealed secret to its place:
// format ‖ master key id ‖ integrator digest ‖ slot ‖ generation.
std::string SealingContext(std::uint32_t master_key_id, const Digest& integrator_digest,
                           SecretSlot slot, std::uint64_t generation);

// ---- Keycheck ---------------------------------------------------------------------------------
// Proves which keys wrote a store: a pepper digest of a fixed text, and a fixed text sealed
// under the master key in force when the store was created (or last re-sealed).
struct KeycheckRecord {
  std::uint32_t pepper_id = 0;
  Digest pepper_check{};
  std::uint32_t master_key_id = 0;
  std::string sealed_check;
};

std::string Encode(const KeycheckRecord& record);
Result<KeycheckRecord> DecodeKeycheck(std::string_view bytes);

// ---- Short-lived records (durable = false) ----------------------------------------------------
// A counter within a window (the window's end is the record's expires_at).
std::string EncodeCounter(std::uint32_t count);
Result<std::uint32_t> DecodeCounter(std::string_view bytes);

// A token bucket as its theoretical arrival time (GCRA).
std::string EncodeTimestamp(Timestamp t);
Result<Timestamp> DecodeTimestamp(std::string_view bytes);

}  // namespace credstore::internal

#endif  // CREDSTORE_CORE_SRC_RECORDS_H_
