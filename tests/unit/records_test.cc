// Customer records: the admin-key-only decoder VerifyAdminKey uses reads exactly what the full
// decoder reads, and refuses every record the full decoder refuses; device tokens live in format
// 2, and records written before they existed (format 1) decode unchanged.
#include "records.h"

#include <boost/test/unit_test.hpp>
#include <chrono>
#include <cstddef>
#include <string>
#include <string_view>

#include "credstore/storage_keys.h"

namespace credstore::testing {
namespace {

using internal::CustomerRecord;

CustomerRecord SampleRecord(bool graced, std::string settings) {
  CustomerRecord record;
  record.secret_hash = "$argon2id$v=19$m=65536,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNo";
  record.secret_generation = 7;
  record.admin_key_digest.fill(0xA1);
  record.admin_generation = 3;
  if (graced) {
    internal::GracedAdminKey previous;
    previous.digest.fill(0x5C);
    previous.expires_at = Timestamp(std::chrono::milliseconds(1'790'000'000'123));
    record.previous_admin_key = previous;
  }
  record.settings_json = std::move(settings);
  record.created_at = Timestamp(std::chrono::milliseconds(1'700'000'000'000));
  return record;
}

BOOST_AUTO_TEST_SUITE(records)

BOOST_AUTO_TEST_CASE(admin_key_decoder_reads_what_the_full_decoder_reads) {
  for (bool graced : {false, true}) {
    for (std::string settings : {std::string("{}"), std::string(5000, 'x')}) {
      const std::string bytes = internal::Encode(SampleRecord(graced, settings));
      const auto full = internal::DecodeCustomer(bytes);
      const auto keys = internal::DecodeCustomerAdminKeys(bytes);
      BOOST_TEST_REQUIRE(full.ok());
      BOOST_TEST_REQUIRE(keys.ok());
      BOOST_TEST((keys->current == full->admin_key_digest));
      BOOST_TEST(keys->previous.has_value() == graced);
      if (graced) {
        BOOST_TEST((keys->previous->digest == full->previous_admin_key->digest));
        BOOST_TEST((keys->previous->expires_at == full->previous_admin_key->expires_at));
      }
    }
  }
}

BOOST_AUTO_TEST_CASE(admin_key_decoder_refuses_what_the_full_decoder_refuses) {
  const std::string bytes = internal::Encode(SampleRecord(true, R"({"a":1})"));
  // Every truncation, one extra byte, and another record type's tag.
  for (std::size_t size = 0; size < bytes.size(); ++size) {
    const std::string cut = bytes.substr(0, size);
    BOOST_TEST(!internal::DecodeCustomer(cut).ok());
    BOOST_TEST(!internal::DecodeCustomerAdminKeys(cut).ok(), "truncated to " << size);
  }
  BOOST_TEST(!internal::DecodeCustomerAdminKeys(bytes + "!").ok());
  std::string retagged = bytes;
  retagged[1] = static_cast<char>(retagged[1] + 1);
  BOOST_TEST(!internal::DecodeCustomer(retagged).ok());
  BOOST_TEST(!internal::DecodeCustomerAdminKeys(retagged).ok());
}

// A flag byte is 0 or 1; any other value is corrupt data, never "absent" or "disabled".
BOOST_AUTO_TEST_CASE(decoders_refuse_non_canonical_flag_bytes) {
  const CustomerRecord customer = SampleRecord(false, "{}");
  const std::string bytes = internal::Encode(customer);
  // format, type, secret_hash, secret_generation, admin_key_digest, admin_generation, flag
  const std::size_t flag = 2 + 4 + customer.secret_hash.size() + 8 + 32 + 8;
  BOOST_TEST_REQUIRE(bytes[flag] == 0);
  for (const unsigned char value : {2, 0x80, 0xFF}) {
    std::string altered = bytes;
    altered[flag] = static_cast<char>(value);
    BOOST_TEST(!internal::DecodeCustomer(altered).ok(), "flag " << int(value));
    BOOST_TEST(!internal::DecodeCustomerAdminKeys(altered).ok(), "flag " << int(value));
    BOOST_TEST((internal::DecodeCustomer(altered).status().code() == StatusCode::kInternal));
  }

  internal::IntegratorRecord integrator;
  integrator.integrator_id = "acme";
  integrator.label = "Acme";
  integrator.enabled = true;
  const std::string sealed = internal::Encode(integrator);
  // format, type, integrator_id, label, enabled
  const std::size_t enabled = 2 + 4 + 4 + 4 + 4;
  BOOST_TEST_REQUIRE(internal::DecodeIntegrator(sealed).ok());
  BOOST_TEST_REQUIRE(sealed[enabled] == 1);
  std::string altered = sealed;
  altered[enabled] = 2;
  BOOST_TEST(!internal::DecodeIntegrator(altered).ok());
  // The old-secret flag, the last byte of a record without an old secret.
  altered = sealed;
  altered.back() = 7;
  BOOST_TEST(!internal::DecodeIntegrator(altered).ok());
}

// A customer record with a graced key and settings, as the encoder wrote it before device tokens
// existed (fuzz/corpus/fuzz_records/customer_graced).
const std::string kFormat1Graced(
    "\x01\x63\x00\x00\x00\x48\x24\x61\x72\x67\x6f\x6e\x32\x69\x64\x24"
    "\x76\x3d\x31\x39\x24\x6d\x3d\x38\x2c\x74\x3d\x31\x2c\x70\x3d\x31"
    "\x24\x63\x32\x46\x73\x64\x48\x4e\x68\x62\x48\x52\x7a\x59\x57\x78"
    "\x30\x63\x32\x46\x73\x64\x41\x24\x61\x47\x46\x7a\x61\x47\x68\x68"
    "\x63\x32\x68\x6f\x59\x58\x4e\x6f\x61\x47\x46\x7a\x61\x41\x00\x00"
    "\x00\x00\x00\x00\x00\x03\xa1\xa1\xa1\xa1\xa1\xa1\xa1\xa1\xa1\xa1"
    "\xa1\xa1\xa1\xa1\xa1\xa1\xa1\xa1\xa1\xa1\xa1\xa1\xa1\xa1\xa1\xa1"
    "\xa1\xa1\xa1\xa1\xa1\xa1\x00\x00\x00\x00\x00\x00\x00\x02\x01\xb2"
    "\xb2\xb2\xb2\xb2\xb2\xb2\xb2\xb2\xb2\xb2\xb2\xb2\xb2\xb2\xb2\xb2"
    "\xb2\xb2\xb2\xb2\xb2\xb2\xb2\xb2\xb2\xb2\xb2\xb2\xb2\xb2\xb2\x00"
    "\x00\x01\x8b\xd0\x1c\x56\x80\x00\x00\x00\x21\x7b\x22\x66\x65\x6e"
    "\x63\x65\x73\x22\x3a\x5b\x31\x2c\x32\x2c\x33\x5d\x2c\x22\x6e\x61"
    "\x6d\x65\x22\x3a\x22\x64\x65\x70\x6f\x74\x22\x7d\x00\x00\x01\x8b"
    "\xcf\xe5\x68\x00",
    212);

internal::DeviceTokenDigest TokenDigest(unsigned char fill, std::int64_t expires_ms) {
  internal::DeviceTokenDigest token;
  token.digest.fill(fill);
  token.expires_at = Timestamp(std::chrono::milliseconds(expires_ms));
  return token;
}

BOOST_AUTO_TEST_CASE(records_written_before_device_tokens_decode_unchanged) {
  const auto full = internal::DecodeCustomer(kFormat1Graced);
  BOOST_TEST_REQUIRE(full.ok(), full.status().ToString());
  BOOST_TEST(internal::DecodeCustomerAdminKeys(kFormat1Graced).ok());
  BOOST_TEST(full->device_tokens.empty());
  BOOST_TEST(full->admin_generation == 2u);
  BOOST_TEST(full->settings_json == R"({"fences":[1,2,3],"name":"depot"})");
  // Without device tokens the encoder still writes format 1, byte for byte.
  BOOST_TEST(internal::Encode(*full) == kFormat1Graced);
}

BOOST_AUTO_TEST_CASE(device_tokens_are_kept_in_format_2_and_read_by_both_decoders) {
  for (std::size_t count : {std::size_t{1}, internal::kMaxDeviceTokensPerCustomer}) {
    CustomerRecord record = SampleRecord(true, R"({"a":1})");
    for (std::size_t i = 0; i < count; ++i) {
      record.device_tokens.push_back(TokenDigest(static_cast<unsigned char>(0x10 + i),
                                                 1'800'000'000'000 - static_cast<int>(i)));
    }
    const std::string bytes = internal::Encode(record);
    BOOST_TEST(bytes[0] == internal::kCustomerWithDevicesFormat);
    const auto full = internal::DecodeCustomer(bytes);
    BOOST_TEST_REQUIRE(full.ok(), full.status().ToString());
    BOOST_TEST_REQUIRE(full->device_tokens.size() == count);
    for (std::size_t i = 0; i < count; ++i) {
      BOOST_TEST((full->device_tokens[i].digest == record.device_tokens[i].digest));
      BOOST_TEST((full->device_tokens[i].expires_at == record.device_tokens[i].expires_at));
    }
    BOOST_TEST(internal::Encode(*full) == bytes);
    const auto keys = internal::DecodeCustomerAdminKeys(bytes);
    BOOST_TEST_REQUIRE(keys.ok());
    BOOST_TEST((keys->current == full->admin_key_digest));
    for (std::size_t size = 0; size < bytes.size(); ++size) {
      BOOST_TEST(!internal::DecodeCustomer(bytes.substr(0, size)).ok(), "truncated to " << size);
      BOOST_TEST(!internal::DecodeCustomerAdminKeys(bytes.substr(0, size)).ok());
    }
  }
}

// One encoding per record: format 2 with no token, more tokens than the cap, or an unknown
// format are corrupt, for both decoders alike.
BOOST_AUTO_TEST_CASE(decoders_refuse_device_token_lists_the_encoder_never_writes) {
  std::string empty_list = kFormat1Graced;
  empty_list[0] = static_cast<char>(internal::kCustomerWithDevicesFormat);
  empty_list.push_back('\0');
  std::string too_many = kFormat1Graced;
  too_many[0] = static_cast<char>(internal::kCustomerWithDevicesFormat);
  too_many.push_back(static_cast<char>(internal::kMaxDeviceTokensPerCustomer + 1));
  too_many.append((internal::kMaxDeviceTokensPerCustomer + 1) * (32 + 8), '\x01');
  std::string format_1_with_list = kFormat1Graced;
  format_1_with_list.push_back('\1');
  format_1_with_list.append(32 + 8, '\x01');
  std::string format_3 = kFormat1Graced;
  format_3[0] = 3;
  for (const std::string* bytes : {&empty_list, &too_many, &format_1_with_list, &format_3}) {
    const auto full = internal::DecodeCustomer(*bytes);
    BOOST_TEST(!full.ok());
    BOOST_TEST((full.status().code() == StatusCode::kInternal));
    BOOST_TEST(!internal::DecodeCustomerAdminKeys(*bytes).ok());
  }
  // Other record types stay at format 1.
  std::string counter = internal::EncodeCounter(3);
  counter[0] = static_cast<char>(internal::kCustomerWithDevicesFormat);
  BOOST_TEST(!internal::DecodeCounter(counter).ok());
}

// The prefixes the core tells backends are verification reads (credstore/storage_keys.h) are the
// ones its key builders use, and the records that change on every request are outside them.
BOOST_AUTO_TEST_CASE(verification_key_prefixes_match_the_key_builders) {
  const auto verification = [](std::string_view key) {
    for (std::string_view prefix : kVerificationKeyPrefixes) {
      if (key.substr(0, prefix.size()) == prefix) return true;
    }
    return false;
  };
  internal::Digest digest{};
  digest.fill(0x42);
  BOOST_TEST(verification(internal::CustomerKey("svc", digest)));
  BOOST_TEST(verification(internal::IntegratorKey("integrator")));
  BOOST_TEST(!verification(internal::ReplayKey("integrator", digest)));
  BOOST_TEST(!verification(internal::kKeycheckKey));
  BOOST_TEST(!verification(internal::kMigrationMarkerKey));
  BOOST_TEST(!verification("t/a/127.0.0.1"));  // the throttle's counters (throttle.h)
}

// The inline key the hot path builds is the key every other caller builds as a string, for the
// longest service name too, and a copy is the same key.
BOOST_AUTO_TEST_CASE(the_inline_customer_key_is_the_string_key) {
  internal::Digest digest{};
  for (std::size_t i = 0; i < digest.size(); ++i) digest[i] = static_cast<unsigned char>(i * 37);
  const std::string longest(internal::kMaxServiceNameBytes, 's');
  for (const std::string& service : {std::string("geofencing"), std::string("a"), longest}) {
    const internal::CustomerStorageKey key(service, digest);
    BOOST_TEST(key.view() == "c/" + service + "/" + internal::ToHex(digest));
    BOOST_TEST(key.view() == internal::CustomerKey(service, digest));
    internal::CustomerStorageKey copy;
    BOOST_TEST(copy.view().empty());
    copy = key;
    BOOST_TEST(copy.view() == key.view());
    const internal::CustomerStorageKey constructed(copy);
    BOOST_TEST(constructed.view() == key.view());
  }
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace
}  // namespace credstore::testing
