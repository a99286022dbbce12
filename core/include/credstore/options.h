// credstore/options.h — how a CredentialStore behaves.
//
// Every option has its default written beside it. Options are read once, when the store is
// opened; changing them afterwards has no effect on an open store.
#ifndef CREDSTORE_OPTIONS_H_
#define CREDSTORE_OPTIONS_H_

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "credstore/api_key_validator.h"
#include "credstore/audit.h"
#include "credstore/clock.h"

namespace credstore {

// Argon2id cost for customer secrets (libsodium crypto_pwhash_str).
struct Argon2Cost {
  std::uint64_t ops_limit = 0;
  std::size_t mem_limit_bytes = 0;

  // libsodium's interactive profile: 2 passes over 64 MiB (~0.1 s on a 2-core server).
  static Argon2Cost Production();
  // libsodium's minimum: 1 pass over 8 KiB. For tests and bulk seeding only; never in production.
  static Argon2Cost MinimumForTests();

  friend bool operator==(const Argon2Cost&, const Argon2Cost&) = default;
};

// Failed-secret throttling. Attempts are reserved in the store before Argon2id runs (so parallel
// guesses cannot slip past the limit) and refunded when the secret turns out right.
struct ThrottlePolicy {
  // Per client address (IPv4 /32, IPv6 /64): failed attempts allowed per window.
  std::uint32_t failures_per_address = 10;                              // default: 10
  std::chrono::milliseconds address_window = std::chrono::minutes(15);  // default: 15 min

  // Per customer (API key, known or not): a token bucket. Each failed attempt spends a token;
  // tokens come back at a steady rate, so a customer is slowed, never locked out.
  std::uint32_t customer_burst = 20;                                            // default: 20
  std::chrono::milliseconds customer_token_interval = std::chrono::seconds(6);  // default: 6 s

  // Register calls per client address per window (each one costs an Argon2id hash).
  std::uint32_t registrations_per_address = 20;                              // default: 20
  std::chrono::milliseconds registration_window = std::chrono::minutes(60);  // default: 60 min
};

struct Options {
  // Argon2id cost of newly stored secret hashes. Hashes of another cost are upgraded on the
  // customer's next successful secret check.
  Argon2Cost argon2 = Argon2Cost::Production();  // default: Production()

  // At most this many Argon2id computations run at once; one more answers kUnavailable at once
  // rather than queueing (each one holds argon2.mem_limit_bytes of memory).
  std::size_t max_concurrent_hashes = 2;  // default: 2

  // The services customers register with (the {service} of the routes).
  std::vector<std::string> services = {"geofencing", "locationHistory"};

  // Longest grace for an old admin key or integrator secret.
  std::chrono::milliseconds max_grace = std::chrono::hours(1);  // default: 3600 s

  // Signed requests whose timestamp is further than this from now (either way) are rejected;
  // replay records are kept until timestamp + this.
  std::chrono::milliseconds signature_tolerance = std::chrono::minutes(5);  // default: 300 s

  // Largest settings document, in bytes.
  std::size_t max_settings_bytes = 16 * 1024;  // default: 16 KiB

  // Secrets are 1..max_secret_bytes bytes of valid UTF-8.
  std::size_t max_secret_bytes = 1024;  // default: 1024

  // How often a compare-and-swap that lost a race is retried before answering kUnavailable.
  int max_cas_attempts = 64;  // default: 64

  ThrottlePolicy throttle;

  // Collaborators. nullptr selects the default shown.
  std::shared_ptr<const Clock> clock;                  // default: SystemClock
  std::shared_ptr<AuditSink> audit;                    // default: JSON lines on std::clog
  std::shared_ptr<ApiKeyValidator> api_key_validator;  // default: AnyWellFormedApiKey
};

}  // namespace credstore

#endif  // CREDSTORE_OPTIONS_H_
