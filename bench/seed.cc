#include "seed.h"

#include <cstdlib>
#include <iostream>

#include "credstore/options.h"
#include "crypto.h"  // core internals: the bench writes records as the core would
#include "records.h"

namespace credstore::bench {

SeededCustomers SeedCustomers(StorageBackend& backend, const Keyring& keyring, std::size_t count) {
  SeededCustomers seeded;
  seeded.api_keys.reserve(count);
  seeded.admin_keys.reserve(count);
  auto hash = internal::HashSecret("bench secret", Argon2Cost::MinimumForTests());
  if (!hash.ok()) std::exit(1);
  const Timestamp now = SystemClock().Now();
  WriteOptions unsynced;
  unsynced.durable = false;
  for (std::size_t i = 0; i < count; ++i) {
    std::string api_key = "bench_" + std::to_string(i) + "_customer";
    std::string admin_key(internal::RandomAlphanumeric(48).view());
    internal::CustomerRecord record;
    record.secret_hash = *hash;
    record.admin_key_digest =
        internal::KeyedDigest(keyring.pepper().bytes, internal::DigestKind::kAdminKey, admin_key);
    record.created_at = now;
    const auto api_digest =
        internal::KeyedDigest(keyring.pepper().bytes, internal::DigestKind::kApiKey, api_key);
    auto created = backend.Create(internal::CustomerKey(seeded.service, api_digest),
                                  internal::Encode(record), unsynced, now);
    if (!created.ok()) {
      std::cerr << "seeding failed at customer " << i << ": " << created.status().ToString()
                << "\n";
      std::exit(1);
    }
    seeded.api_keys.push_back(std::move(api_key));
    seeded.admin_keys.push_back(std::move(admin_key));
  }
  return seeded;
}

}  // namespace credstore::bench
