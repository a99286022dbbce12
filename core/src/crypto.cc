#include "crypto.h"

#include <sodium.h>

namespace credstore::internal {
namespace {

const unsigned char* Bytes(std::string_view s) {
  return reinterpret_cast<const unsigned char*>(s.data());
}

const char* Personalization(DigestKind kind) {
  // Exactly crypto_generichash_blake2b_PERSONALBYTES (16) characters each.
  switch (kind) {
    case DigestKind::kApiKey:
      return "credstore.apikey";
    case DigestKind::kAdminKey:
      return "credstore.admkey";
    case DigestKind::kIntegratorId:
      return "credstore.intgid";
    case DigestKind::kKeycheck:
      return "credstore.keychk";
    case DigestKind::kCustomerId:
      return "credstore.custid";
    case DigestKind::kDeviceToken:
      return "credstore.devtok";
  }
  return "credstore.unused";
}

constexpr char kAlphanumeric[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
static_assert(sizeof(kAlphanumeric) - 1 == 62);

}  // namespace

Digest KeyedDigest(const KeyBytes& pepper, DigestKind kind, std::string_view data) {
  static_assert(crypto_generichash_blake2b_PERSONALBYTES == 16);
  Digest out{};
  crypto_generichash_blake2b_salt_personal(
      out.data(), out.size(), Bytes(data), data.size(), pepper.data(), pepper.size(),
      /*salt=*/nullptr, reinterpret_cast<const unsigned char*>(Personalization(kind)));
  return out;
}

KeyedHasher::KeyedHasher(const KeyBytes& pepper) {
  static_assert(static_cast<std::size_t>(DigestKind::kDeviceToken) + 1 == kDigestKinds);
  for (std::size_t kind = 0; kind < kDigestKinds; ++kind) {
    crypto_generichash_blake2b_init_salt_personal(
        &states_[kind], pepper.data(), pepper.size(), kDigestBytes, /*salt=*/nullptr,
        reinterpret_cast<const unsigned char*>(Personalization(static_cast<DigestKind>(kind))));
  }
}

KeyedHasher::~KeyedHasher() { sodium_memzero(states_.data(), sizeof(states_)); }

Digest KeyedHasher::Hash(DigestKind kind, std::string_view data) const {
  crypto_generichash_blake2b_state state = states_[static_cast<std::size_t>(kind)];
  Digest out{};
  crypto_generichash_blake2b_update(&state, Bytes(data), data.size());
  crypto_generichash_blake2b_final(&state, out.data(), out.size());
  sodium_memzero(&state, sizeof(state));  // final wipes most of it, but not by contract
  return out;
}

bool DigestsEqual(const Digest& a, const Digest& b) {
  // crypto_verify_32 compares the 32 bytes at once (SSE2 on x86-64); sodium_memcmp, for any
  // length, goes byte by byte through volatile loads and took ten times as long here.
  static_assert(kDigestBytes == crypto_verify_32_BYTES);
  return crypto_verify_32(a.data(), b.data()) == 0;
}

std::string ToHex(std::string_view bytes) {
  std::string hex;
  AppendHex(hex, bytes);
  return hex;
}

char* WriteHex(char* out, std::string_view bytes) {
  // Branch-free and without a table (as sodium_bin2hex, which also hex-encodes MACs and secret
  // digests), but written in place: every storage key of a verification is spelled with it, and
  // sodium_bin2hex's call, its terminating NUL and its checks cost as much as the rest.
  const auto digit = [](unsigned nibble) {
    // 0..9 -> '0'..'9', 10..15 -> 'a'..'f': adds 39 more exactly when nibble > 9.
    return static_cast<char>('0' + nibble + (((9u - nibble) >> 8) & 39u));
  };
  for (const char byte : bytes) {
    const auto value = static_cast<unsigned char>(byte);
    *out++ = digit(value >> 4);
    *out++ = digit(value & 0x0fu);
  }
  return out;
}

void AppendHex(std::string& out, std::string_view bytes) {
  const std::size_t start = out.size();
  out.resize(start + bytes.size() * 2);
  WriteHex(out.data() + start, bytes);
}

std::string ToHex(const Digest& digest) {
  return ToHex(std::string_view(reinterpret_cast<const char*>(digest.data()), digest.size()));
}

std::optional<Digest> ParseLowerHexDigest(std::string_view hex) {
  if (hex.size() != kDigestBytes * 2) return std::nullopt;
  for (char c : hex) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return std::nullopt;
  }
  Digest out{};
  std::size_t written = 0;
  if (sodium_hex2bin(out.data(), out.size(), hex.data(), hex.size(), nullptr, &written, nullptr) !=
          0 ||
      written != out.size()) {
    return std::nullopt;
  }
  return out;
}

SecretString RandomAlphanumeric(std::size_t length) {
  std::string text(length, '\0');
  for (char& c : text) c = kAlphanumeric[randombytes_uniform(62)];
  SecretString result(text);
  sodium_memzero(text.data(), text.size());
  return result;
}

Result<std::string> HashSecret(std::string_view secret, const Argon2Cost& cost) {
  char hash[crypto_pwhash_STRBYTES];
  if (crypto_pwhash_str_alg(hash, secret.data(), secret.size(), cost.ops_limit,
                            cost.mem_limit_bytes, crypto_pwhash_ALG_ARGON2ID13) != 0) {
    return Status::Unavailable("out of memory for the secret hash");
  }
  return std::string(hash);
}

bool VerifySecret(const std::string& hash, std::string_view secret) {
  return crypto_pwhash_str_verify(hash.c_str(), secret.data(), secret.size()) == 0;
}

bool HashNeedsRehash(const std::string& hash, const Argon2Cost& cost) {
  return crypto_pwhash_str_needs_rehash(hash.c_str(), cost.ops_limit, cost.mem_limit_bytes) != 0;
}

std::string Seal(const KeyBytes& key, std::string_view plaintext, std::string_view associated) {
  constexpr std::size_t kNonce = crypto_aead_xchacha20poly1305_ietf_NPUBBYTES;
  constexpr std::size_t kTag = crypto_aead_xchacha20poly1305_ietf_ABYTES;
  std::string out(kNonce + plaintext.size() + kTag, '\0');
  auto* nonce = reinterpret_cast<unsigned char*>(out.data());
  randombytes_buf(nonce, kNonce);
  unsigned long long written = 0;
  crypto_aead_xchacha20poly1305_ietf_encrypt(nonce + kNonce, &written, Bytes(plaintext),
                                             plaintext.size(), Bytes(associated), associated.size(),
                                             nullptr, nonce, key.data());
  out.resize(kNonce + written);
  return out;
}

std::optional<SecretString> Open(const KeyBytes& key, std::string_view sealed,
                                 std::string_view associated) {
  constexpr std::size_t kNonce = crypto_aead_xchacha20poly1305_ietf_NPUBBYTES;
  constexpr std::size_t kTag = crypto_aead_xchacha20poly1305_ietf_ABYTES;
  if (sealed.size() < kNonce + kTag) return std::nullopt;
  std::string plain(sealed.size() - kNonce - kTag, '\0');
  unsigned long long written = 0;
  const int rc = crypto_aead_xchacha20poly1305_ietf_decrypt(
      reinterpret_cast<unsigned char*>(plain.data()), &written, nullptr, Bytes(sealed) + kNonce,
      sealed.size() - kNonce, Bytes(associated), associated.size(), Bytes(sealed), key.data());
  std::optional<SecretString> result;
  if (rc == 0) result.emplace(std::string_view(plain.data(), written));
  sodium_memzero(plain.data(), plain.size());
  return result;
}

Digest HmacSha256(std::string_view key, std::string_view message) {
  crypto_auth_hmacsha256_state state;
  crypto_auth_hmacsha256_init(&state, Bytes(key), key.size());
  crypto_auth_hmacsha256_update(&state, Bytes(message), message.size());
  Digest out{};
  crypto_auth_hmacsha256_final(&state, out.data());
  sodium_memzero(&state, sizeof state);
  return out;
}

Digest Sha256(std::string_view data) {
  Digest out{};
  crypto_hash_sha256(out.data(), Bytes(data), data.size());
  return out;
}

}  // namespace credstore::internal
