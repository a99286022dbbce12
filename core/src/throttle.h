// Internal: failed-attempt throttling, kept in the store so every instance shares it.
//
// Two limits guard each secret check, both *reserved before* Argon2id runs and refunded when the
// secret turns out right, so N parallel guesses can never run more than the limit allows:
//  - per client address: a counter of failures within a fixed window;
//  - per customer (the API key's digest, registered or not): a GCRA token bucket — a rate that
//    slows guessing without ever locking the owner out.
// A request from one of the customer's own devices (a device token its record holds) counts
// against neither: its failures go to a window counter of the token's own, so strangers who spend
// the customer's bucket or share the device's address cannot lock the owner out.
// Registrations are counted per address too (every call, since each costs an Argon2id hash).
#ifndef CREDSTORE_CORE_SRC_THROTTLE_H_
#define CREDSTORE_CORE_SRC_THROTTLE_H_

#include <optional>
#include <string>
#include <string_view>

#include "credstore/options.h"
#include "credstore/status.h"
#include "credstore/storage_backend.h"

namespace credstore::internal {

class Throttle {
 public:
  // A reserved attempt: the store keys it was counted under (a registration has no customer
  // key, and no address key when the address is unknown).
  struct Reservation {
    std::optional<std::string> address_key;   // the address's, or the device token's, window
    std::optional<std::string> customer_key;  // unset for a device token's attempt
  };

  Throttle(StorageBackend& backend, const ThrottlePolicy& policy, int max_cas_attempts)
      : backend_(backend), policy_(policy), max_cas_attempts_(max_cas_attempts) {}

  // Counts one attempt against the address bucket (when known) and the customer. kThrottled
  // (with retry_after) when either limit is reached; nothing stays counted then.
  Result<Reservation> ReserveSecretAttempt(const std::optional<std::string>& address_bucket,
                                           std::string_view customer_bucket, Timestamp now);

  // Counts one attempt against the device token whose digest (hex) is `device_bucket`: a failure
  // window of its own, as large as an address's (failures_per_address per address_window), in
  // place of both the address and the customer limits. Only for a token the customer's record
  // holds. kThrottled (with retry_after) at the limit.
  Result<Reservation> ReserveDeviceAttempt(std::string_view device_bucket, Timestamp now);

  // Gives a reservation back: the secret was right. Best effort: if the store cannot be
  // reached, the attempt stays counted, which errs on the safe side.
  void Refund(const Reservation& reservation, Timestamp now);

  // Counts one registration from the address; kThrottled beyond the policy. Refund gives it
  // back (the registration was never attempted).
  Result<Reservation> ReserveRegistration(const std::optional<std::string>& address_bucket,
                                          Timestamp now);

  // Forgets what was counted against the address (failures and registrations), or against the
  // customer (its bucket is full again). OK when nothing was counted.
  Status ClearAddress(const std::string& address_bucket, Timestamp now);
  Status ClearCustomer(std::string_view customer_bucket, Timestamp now);

 private:
  static std::string AddressKey(std::string_view bucket) { return "t/a/" + std::string(bucket); }
  static std::string RegistrationKey(std::string_view bucket) {
    return "t/r/" + std::string(bucket);
  }
  static std::string CustomerKey(std::string_view bucket) { return "t/c/" + std::string(bucket); }
  static std::string DeviceKey(std::string_view bucket) { return "t/d/" + std::string(bucket); }
  Status Forget(const std::string& key, Timestamp now);
  Status IncrementWindowCounter(const std::string& key, std::uint32_t limit,
                                std::chrono::milliseconds window, Timestamp now);
  void DecrementWindowCounter(const std::string& key, Timestamp now);
  Status SpendCustomerToken(const std::string& key, Timestamp now);
  void ReturnCustomerToken(const std::string& key, Timestamp now);

  StorageBackend& backend_;
  const ThrottlePolicy policy_;
  const int max_cas_attempts_;
};

}  // namespace credstore::internal

#endif  // CREDSTORE_CORE_SRC_THROTTLE_H_
