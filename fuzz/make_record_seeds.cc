// Writes the seed corpus of fuzz_records: one record of each kind and shape, as the encoders
// write them, so the fuzzer starts from valid layouts instead of guessing length prefixes.
//   fuzz_records_seeds fuzz/corpus/fuzz_records
#include <chrono>
#include <cstdio>
#include <fstream>
#include <string>

#include "records.h"

namespace {

using namespace credstore::internal;
using credstore::Timestamp;

Digest Filled(unsigned char byte) {
  Digest d{};
  d.fill(byte);
  return d;
}

bool Write(const std::string& dir, const char* name, const std::string& bytes) {
  std::ofstream out(dir + "/" + name, std::ios::binary);
  out << bytes;
  return static_cast<bool>(out);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s DIR\n", argv[0]);
    return 2;
  }
  const std::string dir = argv[1];
  const Timestamp t(std::chrono::milliseconds(1'700'000'000'000));

  CustomerRecord customer;
  customer.secret_hash = "$argon2id$v=19$m=8,t=1,p=1$c2FsdHNhbHRzYWx0c2FsdA$aGFzaGhhc2hoYXNoaGFzaA";
  customer.admin_key_digest = Filled(0xa1);
  customer.created_at = t;
  CustomerRecord graced = customer;
  graced.admin_generation = 2;
  graced.secret_generation = 3;
  graced.previous_admin_key = GracedAdminKey{Filled(0xb2), t + std::chrono::hours(1)};
  graced.settings_json = R"({"fences":[1,2,3],"name":"depot"})";
  CustomerRecord devices = graced;  // format 2: device-token digests, most recent first
  devices.device_tokens = {DeviceTokenDigest{Filled(0xd4), t + std::chrono::hours(24 * 30)},
                           DeviceTokenDigest{Filled(0xd3), t + std::chrono::hours(24 * 29)}};

  IntegratorRecord integrator;
  integrator.integrator_id = "int_0123456789abcdef";
  integrator.label = "Acme";
  integrator.created_at = t;
  integrator.last_generation = 1;
  integrator.current = SealedSecret{1, 1, std::string(24 + 32 + 16, 'S'), std::nullopt};
  IntegratorRecord rotated = integrator;
  rotated.enabled = false;
  rotated.last_generation = 2;
  rotated.old = rotated.current;
  rotated.old->expires_at = t + std::chrono::minutes(30);
  rotated.current = SealedSecret{2, 2, std::string(24 + 32 + 16, 'T'), std::nullopt};

  const KeycheckRecord keycheck{1, Filled(0xc3), 1, std::string(24 + 16 + 8, 'K')};

  const bool ok =
      Write(dir, "customer", Encode(customer)) && Write(dir, "customer_graced", Encode(graced)) &&
      Write(dir, "customer_devices", Encode(devices)) &&
      Write(dir, "integrator", Encode(integrator)) &&
      Write(dir, "integrator_rotated", Encode(rotated)) &&
      Write(dir, "keycheck", Encode(keycheck)) && Write(dir, "counter", EncodeCounter(7)) &&
      Write(dir, "timestamp", EncodeTimestamp(t));
  return ok ? 0 : 1;
}
