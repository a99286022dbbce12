// Internal: every cryptographic primitive credstore uses, each a thin wrapper over libsodium.
#ifndef CREDSTORE_CORE_SRC_CRYPTO_H_
#define CREDSTORE_CORE_SRC_CRYPTO_H_

#include <sodium.h>

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "credstore/keyring.h"
#include "credstore/options.h"
#include "credstore/secret_string.h"
#include "credstore/status.h"

namespace credstore::internal {

inline constexpr std::size_t kDigestBytes = 32;
using Digest = std::array<unsigned char, kDigestBytes>;

// BLAKE2b personalizations (16 bytes each): one per kind of thing digested, so a digest of one
// kind can never be mistaken for another.
enum class DigestKind { kApiKey, kAdminKey, kIntegratorId, kKeycheck, kCustomerId, kDeviceToken };
inline constexpr std::size_t kDigestKinds = 6;

// Keyed BLAKE2b-256 of `data` under the pepper, personalized by `kind`.
Digest KeyedDigest(const KeyBytes& pepper, DigestKind kind, std::string_view data);

// KeyedDigest under one pepper, for a caller that digests many times (the store: two digests per
// verification). Each kind's keyed BLAKE2b state is set up once, and a digest starts from a copy
// of it instead of building the parameter and key blocks again: about a tenth of a digest of an
// API or admin key here. The digests are KeyedDigest's, bit for bit.
//
// The states hold the pepper (BLAKE2b keeps the key block until more input comes), so they are
// wiped: on destruction, and every copy made for a digest once the digest is out.
//
// Thread safety: Hash is const and may be called from many threads at once.
class KeyedHasher {
 public:
  explicit KeyedHasher(const KeyBytes& pepper);
  ~KeyedHasher();
  KeyedHasher(const KeyedHasher&) = delete;
  KeyedHasher& operator=(const KeyedHasher&) = delete;

  Digest Hash(DigestKind kind, std::string_view data) const;

 private:
  std::array<crypto_generichash_blake2b_state, kDigestKinds> states_;
};

// Constant-time equality (crypto_verify_32).
bool DigestsEqual(const Digest& a, const Digest& b);

std::string ToHex(std::string_view bytes);
// Appends the lowercase hex of `bytes` to `out`, without a temporary string.
void AppendHex(std::string& out, std::string_view bytes);
// Writes the lowercase hex of `bytes` at `out` (2 * bytes.size() chars, no NUL); returns the end.
char* WriteHex(char* out, std::string_view bytes);
std::string ToHex(const Digest& digest);
// Strict: exactly 2*N lowercase hex digits. nullopt otherwise.
std::optional<Digest> ParseLowerHexDigest(std::string_view hex);

// `length` characters of [A-Za-z0-9], each uniform (randombytes_uniform rejects the biased tail).
SecretString RandomAlphanumeric(std::size_t length);

// Argon2id (crypto_pwhash_str). Hashing fails only when out of memory: kUnavailable.
Result<std::string> HashSecret(std::string_view secret, const Argon2Cost& cost);
bool VerifySecret(const std::string& hash, std::string_view secret);
bool HashNeedsRehash(const std::string& hash, const Argon2Cost& cost);

// XChaCha20-Poly1305 with a random nonce; returns nonce ‖ ciphertext ‖ tag.
std::string Seal(const KeyBytes& key, std::string_view plaintext, std::string_view associated);
// nullopt if the key, the associated data or the bytes are not the ones sealed.
std::optional<SecretString> Open(const KeyBytes& key, std::string_view sealed,
                                 std::string_view associated);

// HMAC-SHA256 with an arbitrary-length key; SHA-256.
Digest HmacSha256(std::string_view key, std::string_view message);
Digest Sha256(std::string_view data);

}  // namespace credstore::internal

#endif  // CREDSTORE_CORE_SRC_CRYPTO_H_
