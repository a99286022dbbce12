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

BOOST_AUTO_TEST_SUITE_END()

}  // namespace
}  // namespace credstore::testing
