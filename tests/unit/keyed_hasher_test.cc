// KeyedHasher against KeyedDigest and against an independent BLAKE2b (Python's hashlib): the
// store's digests name its records, so a hasher that differed by one bit would lose every one.
#include <sodium.h>

#include <boost/test/unit_test.hpp>
#include <cstddef>
#include <string>
#include <string_view>

#include "crypto.h"

namespace credstore::testing {
namespace {

using internal::DigestKind;
using internal::KeyedDigest;
using internal::KeyedHasher;

constexpr DigestKind kEveryKind[] = {DigestKind::kApiKey,       DigestKind::kAdminKey,
                                     DigestKind::kIntegratorId, DigestKind::kKeycheck,
                                     DigestKind::kCustomerId,   DigestKind::kDeviceToken};
static_assert(std::size(kEveryKind) == internal::kDigestKinds);

KeyBytes CountingPepper() {
  KeyBytes pepper{};
  for (std::size_t i = 0; i < pepper.size(); ++i) pepper[i] = static_cast<unsigned char>(i);
  return pepper;
}

BOOST_AUTO_TEST_SUITE(keyed_hasher)

// Every kind, and lengths on both sides of BLAKE2b's 128-byte block (where the key block is
// compressed and where the last block starts).
BOOST_AUTO_TEST_CASE(every_kind_and_length_digests_as_keyed_digest) {
  BOOST_REQUIRE(sodium_init() >= 0);
  KeyBytes pepper{};
  randombytes_buf(pepper.data(), pepper.size());
  const KeyedHasher hasher(pepper);
  for (const DigestKind kind : kEveryKind) {
    for (const std::size_t length : {0, 1, 31, 48, 127, 128, 129, 255, 256, 257, 1000}) {
      std::string data(length, '\0');
      randombytes_buf(data.data(), data.size());
      BOOST_TEST_CONTEXT("kind " << static_cast<int>(kind) << ", " << length << " bytes") {
        BOOST_TEST((hasher.Hash(kind, data) == KeyedDigest(pepper, kind, data)));
        // A digest starts from a copy: the hasher's own state is never advanced.
        BOOST_TEST((hasher.Hash(kind, data) == KeyedDigest(pepper, kind, data)));
      }
    }
  }
}

// Computed with Python: hashlib.blake2b(data, digest_size=32, key=bytes(range(32)),
// person=b"credstore.apikey") and so on.
BOOST_AUTO_TEST_CASE(digests_match_an_independent_blake2b) {
  BOOST_REQUIRE(sodium_init() >= 0);
  const KeyedHasher hasher(CountingPepper());
  BOOST_TEST(internal::ToHex(hasher.Hash(DigestKind::kApiKey, "bench_customer_1")) ==
             "abc7bb77200d05e799f372fbb1b0305e5bdb32a774fcde7d459cc79d1a8ab71e");
  BOOST_TEST(internal::ToHex(hasher.Hash(DigestKind::kAdminKey, std::string(48, 'A'))) ==
             "b1d26207cb5179a85b50b963e89d539264e9ac158ec441ed52c4776785f2ec64");
  BOOST_TEST(internal::ToHex(hasher.Hash(DigestKind::kCustomerId, "")) ==
             "20fad4d5f957f9c760348735be076c91634ce081bb5f281df2007cdf7939e9a8");
}

BOOST_AUTO_TEST_CASE(another_pepper_or_kind_gives_another_digest) {
  BOOST_REQUIRE(sodium_init() >= 0);
  KeyBytes other = CountingPepper();
  other[0] ^= 1;
  const KeyedHasher hasher(CountingPepper());
  const KeyedHasher other_hasher(other);
  BOOST_TEST((hasher.Hash(DigestKind::kApiKey, "bench_customer_1") !=
              other_hasher.Hash(DigestKind::kApiKey, "bench_customer_1")));
  BOOST_TEST((hasher.Hash(DigestKind::kApiKey, "bench_customer_1") !=
              hasher.Hash(DigestKind::kAdminKey, "bench_customer_1")));
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace
}  // namespace credstore::testing
