// Fuzzes the record decoders: bytes read back from a StorageBackend, which a damaged or foreign
// store may fill with anything.
//
// Checks, beyond "never crashes": the two customer decoders agree (DecodeCustomerAdminKeys is
// the hot path's shortcut through the same layout: it accepts whatever DecodeCustomer accepts,
// with the same digests and grace); and every record a decoder accepts re-encodes to exactly the
// same bytes, encode(decode(x)) == x. That holds because the layout has one form per record: the
// decoders refuse flag bytes other than 0 and 1 as corrupt (the regression inputs
// customer_flag_2 and integrator_enabled_7 are such records, once read as "no"), and a customer
// record in format 2 (device tokens) must hold 1..8 tokens: with none it would be a second
// encoding of a format 1 record (regression input customer_devices_0).
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "records.h"

namespace {

using namespace credstore::internal;

void Check(bool holds, const char* what) {
  if (holds) return;
  std::fprintf(stderr, "fuzz_records: violated: %s\n", what);
  std::abort();
}

bool SameGraced(const std::optional<GracedAdminKey>& a, const std::optional<GracedAdminKey>& b) {
  if (!a || !b) return a.has_value() == b.has_value();
  return a->digest == b->digest && a->expires_at == b->expires_at;
}

bool SameDeviceTokens(const std::vector<DeviceTokenDigest>& a,
                      const std::vector<DeviceTokenDigest>& b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (a[i].digest != b[i].digest || a[i].expires_at != b[i].expires_at) return false;
  }
  return true;
}

bool SameCustomer(const CustomerRecord& a, const CustomerRecord& b) {
  return a.secret_hash == b.secret_hash && a.secret_generation == b.secret_generation &&
         a.admin_key_digest == b.admin_key_digest && a.admin_generation == b.admin_generation &&
         SameGraced(a.previous_admin_key, b.previous_admin_key) &&
         a.settings_json == b.settings_json && a.created_at == b.created_at &&
         SameDeviceTokens(a.device_tokens, b.device_tokens);
}

bool SameSealed(const SealedSecret& a, const SealedSecret& b) {
  return a.generation == b.generation && a.master_key_id == b.master_key_id &&
         a.sealed == b.sealed && a.expires_at == b.expires_at;
}

bool SameIntegrator(const IntegratorRecord& a, const IntegratorRecord& b) {
  const bool same_old =
      a.old.has_value() == b.old.has_value() && (!a.old.has_value() || SameSealed(*a.old, *b.old));
  return a.integrator_id == b.integrator_id && a.label == b.label && a.enabled == b.enabled &&
         a.created_at == b.created_at && a.last_generation == b.last_generation &&
         SameSealed(a.current, b.current) && same_old;
}

void FuzzCustomer(std::string_view bytes) {
  auto full = DecodeCustomer(bytes);
  auto keys = DecodeCustomerAdminKeys(bytes);
  Check(full.ok() == keys.ok(), "DecodeCustomerAdminKeys accepts exactly what DecodeCustomer does");
  if (!full.ok()) return;
  Check(keys->current == full->admin_key_digest, "both decoders read the same current digest");
  Check(SameGraced(keys->previous, full->previous_admin_key),
        "both decoders read the same graced key");

  const std::string encoded = Encode(*full);
  Check(encoded == bytes, "a customer record re-encodes to the same bytes");
  auto again = DecodeCustomer(encoded);
  Check(again.ok() && SameCustomer(*again, *full), "decode(encode(r)) == r for customers");
}

void FuzzIntegrator(std::string_view bytes) {
  auto record = DecodeIntegrator(bytes);
  if (!record.ok()) return;
  const std::string encoded = Encode(*record);
  Check(encoded == bytes, "an integrator record re-encodes to the same bytes");
  auto again = DecodeIntegrator(encoded);
  Check(again.ok() && SameIntegrator(*again, *record), "decode(encode(r)) == r for integrators");
}

void FuzzSmallRecords(std::string_view bytes) {
  if (auto keycheck = DecodeKeycheck(bytes); keycheck.ok()) {
    Check(Encode(*keycheck) == bytes, "a keycheck record re-encodes to the same bytes");
  }
  if (auto counter = DecodeCounter(bytes); counter.ok()) {
    Check(EncodeCounter(*counter) == bytes, "a counter re-encodes to the same bytes");
  }
  if (auto timestamp = DecodeTimestamp(bytes); timestamp.ok()) {
    Check(EncodeTimestamp(*timestamp) == bytes, "a timestamp re-encodes to the same bytes");
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  // Every decoder sees every input: each must refuse the others' records by their type byte.
  FuzzCustomer(bytes);
  FuzzIntegrator(bytes);
  FuzzSmallRecords(bytes);
  return 0;
}
