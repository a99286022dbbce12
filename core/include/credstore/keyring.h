// credstore/keyring.h — the server's own keys.
//
// A Keyring holds:
//  - master keys (32 bytes each, with ids): seal integrator secrets (XChaCha20-Poly1305). The
//    one with the highest id seals new values; older ones still open what they sealed, so the
//    master key can be rotated by adding a key and re-sealing.
//  - a pepper (32 bytes, with an id): keys the BLAKE2b digests of admin keys, API keys and
//    integrator ids. It is independent of the master keys — never derived from them — because a
//    digest cannot be re-keyed without the plain keys, so the pepper is never rotated.
//
// The text form (`Serialize`/`Parse`) is what credstored keeps in its key file:
//   credstore-keyring v1
//   pepper <id> <64 hex>
//   master <id> <64 hex>      (one line per master key)
//
// Key bytes are wiped when the Keyring is destroyed.
//
// Thread safety: immutable after construction; safe to share between threads.
#ifndef CREDSTORE_KEYRING_H_
#define CREDSTORE_KEYRING_H_

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "credstore/secret_string.h"
#include "credstore/status.h"

namespace credstore {

inline constexpr std::size_t kKeyBytes = 32;
using KeyBytes = std::array<unsigned char, kKeyBytes>;

struct KeyWithId {
  std::uint32_t id = 0;
  KeyBytes bytes{};
};

class Keyring {
 public:
  // A new keyring with random pepper (id 1) and one random master key (id 1).
  static Keyring Generate();

  // Parses the text form. kInvalidArgument (naming the line, never the key bytes) when malformed,
  // when a key is not 32 bytes, when ids repeat, or when the pepper or every master key is missing.
  static Result<Keyring> Parse(std::string_view text);

  // Builds a keyring from parts. kInvalidArgument if `masters` is empty or ids repeat.
  static Result<Keyring> FromKeys(KeyWithId pepper, std::vector<KeyWithId> masters);

  Keyring(const Keyring& other) = default;
  Keyring& operator=(const Keyring& other) = default;
  Keyring(Keyring&& other) noexcept;
  Keyring& operator=(Keyring&& other) noexcept;
  ~Keyring();

  // The text form above. The result holds key material: it is returned as a SecretString.
  SecretString Serialize() const;

  // Returns a copy with a new random master key whose id is one above the highest.
  Keyring WithNewMasterKey() const;

  const KeyWithId& pepper() const { return pepper_; }
  // The key that seals new values (highest id).
  const KeyWithId& current_master() const { return masters_.back(); }
  // The master key with this id, or nullptr.
  const KeyWithId* FindMaster(std::uint32_t id) const;
  const std::vector<KeyWithId>& masters() const { return masters_; }

 private:
  Keyring() = default;
  void Wipe();

  KeyWithId pepper_;
  std::vector<KeyWithId> masters_;  // ascending by id
};

}  // namespace credstore

#endif  // CREDSTORE_KEYRING_H_
