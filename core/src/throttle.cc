#include "throttle.h"

#include <algorithm>

#include "records.h"

namespace credstore::internal {
namespace {

using std::chrono::milliseconds;

WriteOptions ShortLived(Timestamp expires_at) {
  WriteOptions options;
  options.expires_at = expires_at;
  options.durable = false;     // losing a counter in a crash only forgives a few failures
  options.replicated = false;  // and so does losing it in a failover
  return options;
}

milliseconds AtLeastOneMs(milliseconds d) { return std::max(d, milliseconds(1)); }

Status Busy() { return Status::Unavailable("throttle state is contended; try again"); }

}  // namespace

Result<Throttle::Reservation> Throttle::ReserveSecretAttempt(
    const std::optional<std::string>& address_bucket, std::string_view customer_bucket,
    Timestamp now) {
  Reservation reservation;
  if (address_bucket) {
    reservation.address_key = AddressKey(*address_bucket);
    Status status = IncrementWindowCounter(*reservation.address_key, policy_.failures_per_address,
                                           policy_.address_window, now);
    if (!status.ok()) return status;
  }
  reservation.customer_key = CustomerKey(customer_bucket);
  Status status = SpendCustomerToken(*reservation.customer_key, now);
  if (!status.ok()) {
    if (reservation.address_key) DecrementWindowCounter(*reservation.address_key, now);
    return status;
  }
  return reservation;
}

Result<Throttle::Reservation> Throttle::ReserveDeviceAttempt(std::string_view device_bucket,
                                                             Timestamp now) {
  Reservation reservation;
  reservation.address_key = DeviceKey(device_bucket);
  Status status = IncrementWindowCounter(*reservation.address_key, policy_.failures_per_address,
                                         policy_.address_window, now);
  if (!status.ok()) return status;
  return reservation;
}

void Throttle::Refund(const Reservation& reservation, Timestamp now) {
  if (reservation.address_key) DecrementWindowCounter(*reservation.address_key, now);
  if (reservation.customer_key) ReturnCustomerToken(*reservation.customer_key, now);
}

Result<Throttle::Reservation> Throttle::ReserveRegistration(
    const std::optional<std::string>& address_bucket, Timestamp now) {
  Reservation reservation;
  if (!address_bucket) return reservation;
  reservation.address_key = RegistrationKey(*address_bucket);
  Status status =
      IncrementWindowCounter(*reservation.address_key, policy_.registrations_per_address,
                             policy_.registration_window, now);
  if (!status.ok()) return status;
  return reservation;
}

Status Throttle::ClearAddress(const std::string& address_bucket, Timestamp now) {
  if (Status status = Forget(AddressKey(address_bucket), now); !status.ok()) return status;
  return Forget(RegistrationKey(address_bucket), now);
}

Status Throttle::ClearCustomer(std::string_view customer_bucket, Timestamp now) {
  return Forget(CustomerKey(customer_bucket), now);
}

Status Throttle::Forget(const std::string& key, Timestamp now) {
  for (int attempt = 0; attempt < max_cas_attempts_; ++attempt) {
    auto current = backend_.Get(key, now);
    if (!current.ok()) {
      return current.status().code() == StatusCode::kNotFound ? Status::Ok() : current.status();
    }
    Status erased = backend_.Erase(key, current->version, now);
    if (erased.ok() || erased.code() == StatusCode::kNotFound) return Status::Ok();
    if (erased.code() != StatusCode::kConflict) return erased;
  }
  return Busy();
}

Status Throttle::IncrementWindowCounter(const std::string& key, std::uint32_t limit,
                                        milliseconds window, Timestamp now) {
  for (int attempt = 0; attempt < max_cas_attempts_; ++attempt) {
    auto current = backend_.Get(key, now);
    if (!current.ok()) {
      if (current.status().code() != StatusCode::kNotFound) return current.status();
      if (limit == 0) return Status::Throttled("too many attempts", AtLeastOneMs(window));
      auto created = backend_.Create(key, EncodeCounter(1), ShortLived(now + window), now);
      if (created.ok()) return Status::Ok();
      if (created.status().code() != StatusCode::kConflict) return created.status();
      continue;
    }
    auto count = DecodeCounter(current->value);
    if (!count.ok()) return count.status();
    const Timestamp window_end = current->expires_at.value_or(now + window);
    if (*count >= limit) {
      return Status::Throttled("too many attempts", AtLeastOneMs(window_end - now));
    }
    auto swapped = backend_.CompareAndSwap(key, current->version, EncodeCounter(*count + 1),
                                           ShortLived(window_end), now);
    if (swapped.ok()) return Status::Ok();
    if (swapped.status().code() != StatusCode::kConflict &&
        swapped.status().code() != StatusCode::kNotFound) {
      return swapped.status();
    }
  }
  return Busy();
}

void Throttle::DecrementWindowCounter(const std::string& key, Timestamp now) {
  for (int attempt = 0; attempt < max_cas_attempts_; ++attempt) {
    auto current = backend_.Get(key, now);
    if (!current.ok()) return;  // expired (nothing to give back) or unreachable
    auto count = DecodeCounter(current->value);
    if (!count.ok() || *count == 0 || !current->expires_at) return;
    auto swapped = backend_.CompareAndSwap(key, current->version, EncodeCounter(*count - 1),
                                           ShortLived(*current->expires_at), now);
    if (swapped.ok() || swapped.status().code() != StatusCode::kConflict) return;
  }
}

// GCRA: the bucket is stored as its "theoretical arrival time" (TAT). Spending a token moves
// the TAT one interval later; a request is allowed while TAT - now stays within the burst.
// When now passes the TAT the bucket is full again, so the record expires at the TAT.
Status Throttle::SpendCustomerToken(const std::string& key, Timestamp now) {
  const milliseconds interval = AtLeastOneMs(policy_.customer_token_interval);
  const milliseconds capacity = interval * policy_.customer_burst;
  for (int attempt = 0; attempt < max_cas_attempts_; ++attempt) {
    auto current = backend_.Get(key, now);
    if (!current.ok()) {
      if (current.status().code() != StatusCode::kNotFound) return current.status();
      if (policy_.customer_burst == 0) return Status::Throttled("too many attempts", interval);
      const Timestamp tat = now + interval;
      auto created = backend_.Create(key, EncodeTimestamp(tat), ShortLived(tat), now);
      if (created.ok()) return Status::Ok();
      if (created.status().code() != StatusCode::kConflict) return created.status();
      continue;
    }
    auto stored_tat = DecodeTimestamp(current->value);
    if (!stored_tat.ok()) return stored_tat.status();
    const Timestamp tat = std::max(*stored_tat, now) + interval;
    if (tat - now > capacity) {
      return Status::Throttled("too many attempts for this customer",
                               AtLeastOneMs(tat - now - capacity));
    }
    auto swapped =
        backend_.CompareAndSwap(key, current->version, EncodeTimestamp(tat), ShortLived(tat), now);
    if (swapped.ok()) return Status::Ok();
    if (swapped.status().code() != StatusCode::kConflict &&
        swapped.status().code() != StatusCode::kNotFound) {
      return swapped.status();
    }
  }
  return Busy();
}

void Throttle::ReturnCustomerToken(const std::string& key, Timestamp now) {
  const milliseconds interval = AtLeastOneMs(policy_.customer_token_interval);
  for (int attempt = 0; attempt < max_cas_attempts_; ++attempt) {
    auto current = backend_.Get(key, now);
    if (!current.ok()) return;
    auto stored_tat = DecodeTimestamp(current->value);
    if (!stored_tat.ok()) return;
    const Timestamp tat = *stored_tat - interval;
    if (tat <= now) {  // the bucket is full again: the record has nothing left to say
      if (backend_.Erase(key, current->version, now).code() != StatusCode::kConflict) return;
      continue;
    }
    auto swapped =
        backend_.CompareAndSwap(key, current->version, EncodeTimestamp(tat), ShortLived(tat), now);
    if (swapped.ok() || swapped.status().code() != StatusCode::kConflict) return;
  }
}

}  // namespace credstore::internal
