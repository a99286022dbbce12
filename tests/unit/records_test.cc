// Customer records: the admin-key-only decoder VerifyAdminKey uses reads exactly what the full
// decoder reads, and refuses every record the full decoder refuses.
#include <boost/test/unit_test.hpp>
#include <chrono>
#include <string>

#include "records.h"

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

BOOST_AUTO_TEST_SUITE_END()

}  // namespace
}  // namespace credstore::testing
