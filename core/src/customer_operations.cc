// Customer configurations: register, regenerate the admin key, update the secret, settings, and
// the operator's reset/delete. Every state change is one compare-and-swap of the customer's one
// record, retried on conflict.
#include <sodium.h>

#include "client_address.h"
#include "device_tokens.h"
#include "store_impl.h"
#include "validation.h"

namespace credstore {
namespace {

using internal::CustomerRecord;
using internal::Digest;
using internal::DigestKind;

constexpr std::size_t kAdminKeyLength = 48;  // ~285 bits over [A-Za-z0-9]

Status SecretInvalid() { return Status::Unauthorized("secret invalid"); }
Status AdminKeyInvalid() { return Status::Unauthorized("admin key missing or invalid"); }
// A backend broke Inspect's contract: it answered OK without calling back.
Status BackendSkippedInspect() {
  return Status::Internal("the backend answered OK without the record");
}

}  // namespace

std::optional<Result<CustomerRef>> CredentialStore::Impl::ResolveCustomer(std::string_view service,
                                                                          std::string_view api_key,
                                                                          Caller caller,
                                                                          Read read) {
  const std::string* configured = FindService(service);
  if (configured == nullptr) return Result<CustomerRef>(Status::NotFound("unknown service"));
  if (Status status = internal::ValidateApiKey(api_key); !status.ok()) {
    return Result<CustomerRef>(std::move(status));
  }
  std::optional<Status> refused;
  if (caller != Caller::kOperator) {
    ApiKeyValidator& validator = *options_.api_key_validator;
    std::optional<Status> valid = read == Read::kMayBlock ? validator.IsValid(service, api_key)
                                                          : validator.TryIsValid(service, api_key);
    if (!valid) return std::nullopt;
    if (!valid->ok()) {
      // Only a refusal is kept for later (the call does its whole work, then refuses);
      // "cannot tell now" (kUnavailable) answers at once.
      if (valid->code() != StatusCode::kUnauthorized) {
        return Result<CustomerRef>(std::move(*valid));
      }
      refused = std::move(*valid);
    }
  }
  // Built where it is returned: every verification resolves one, and each move of it is a copy
  // of its inline storage key.
  std::optional<Result<CustomerRef>> resolved(std::in_place, CustomerRef{});
  CustomerRef& ref = **resolved;
  ref.service = *configured;
  ref.api_key_digest = KeyedDigest(DigestKind::kApiKey, api_key);
  ref.storage_key = internal::CustomerStorageKey(service, ref.api_key_digest);
  ref.refused = std::move(refused);
  return resolved;
}

std::optional<Result<VersionedValue>> CredentialStore::Impl::ReadCustomer(
    const CustomerRef& customer, Read read) {
  if (read == Read::kMayBlock) return backend_->Get(customer.storage_key, Now());
  return backend_->TryGet(customer.storage_key, Now());
}

Result<LoadedCustomer> CredentialStore::Impl::DecodeLoaded(const Result<VersionedValue>& stored) {
  if (!stored.ok()) return stored.status();
  return DecodeLoaded(RecordView{stored->value, stored->version, stored->expires_at});
}

Result<LoadedCustomer> CredentialStore::Impl::DecodeLoaded(const RecordView& stored) {
  auto record = internal::DecodeCustomer(stored.value);
  if (!record.ok()) return record.status();
  return LoadedCustomer{std::move(record).value(), stored.version};
}

Status CredentialStore::Impl::ValidateSecretCall(SecretOperation operation, std::string_view secret,
                                                 std::string_view new_secret,
                                                 std::chrono::milliseconds grace) const {
  if (Status status = internal::ValidateSecret(secret, "secret", options_); !status.ok()) {
    return status;
  }
  switch (operation) {
    case SecretOperation::kRegister:
      return Status::Ok();
    case SecretOperation::kRegenerateAdminKey:
      return internal::ValidateGrace(grace, options_);
    case SecretOperation::kUpdateSecret:
      return internal::ValidateSecret(new_secret, "newSecret", options_);
  }
  return Status::InvalidArgument("unknown secret operation");
}

// Everything before the Argon2id work, in the order the one-step calls always had: the service
// and the API key, the arguments' forms, then the throttle. A registration counts against the
// address's registrations; a secret check against the address's failures and the customer's
// bucket, whether the customer exists or not (a 429 must not tell that a key is registered).
Result<CredentialStore::Impl::Attempt> CredentialStore::Impl::ReserveAttempt(
    const RequestContext& context, SecretOperation operation, std::string_view service,
    std::string_view api_key, std::string_view secret, std::string_view new_secret,
    std::chrono::milliseconds grace) {
  auto customer = ResolveCustomer(service, api_key, Caller::kSecretHolder);
  if (!customer.ok()) return customer.status();
  if (Status status = ValidateSecretCall(operation, secret, new_secret, grace); !status.ok()) {
    return status;
  }
  const auto address = internal::AddressBucket(context.client_address);
  auto reservation = [&]() -> Result<internal::Throttle::Reservation> {
    if (operation == SecretOperation::kRegister)
      return throttle_.ReserveRegistration(address, Now());
    // One of the customer's own devices counts in a bucket of its own, not the address's and
    // the customer's: strangers cannot spend the owner's allowance.
    if (auto device = DeviceBucketOf(context, *customer)) {
      return throttle_.ReserveDeviceAttempt(*device, Now());
    }
    return throttle_.ReserveSecretAttempt(address, ThrottleBucket(*customer), Now());
  }();
  if (!reservation.ok()) {
    if (reservation.status().code() == StatusCode::kThrottled) {
      stats_throttled_.fetch_add(1, std::memory_order_relaxed);
    }
    return reservation.status();
  }
  auto attempt = std::make_unique<SecretAttempt::State>();
  attempt->store = this;
  attempt->operation = operation;
  attempt->customer = std::move(customer).value();
  attempt->client_address = context.client_address;
  attempt->reservation = std::move(reservation).value();
  return attempt;
}

void CredentialStore::Impl::RefundAttempt(Attempt attempt) {
  if (attempt && attempt->store == this) throttle_.Refund(attempt->reservation, Now());
}

CredentialStore::Impl::Attempt CredentialStore::Impl::AttemptFor(Attempt attempt,
                                                                 SecretOperation operation,
                                                                 const RequestContext& context,
                                                                 std::string_view service,
                                                                 std::string_view api_key) const {
  if (!attempt || attempt->store != this || attempt->operation != operation ||
      attempt->customer.service != service || attempt->client_address != context.client_address ||
      !internal::DigestsEqual(attempt->customer.api_key_digest,
                              KeyedDigest(DigestKind::kApiKey, api_key))) {
    return nullptr;
  }
  return attempt;
}

// Take an Argon2id permit (503, and the attempt is given back: none was made), then check the
// secret against the customer's hash — or against the dummy hash when there is no such customer,
// or when the validator refused the key, so every refusal costs the same and reads the same. A
// wrong secret leaves the attempt counted; a right one refunds it.
Result<CredentialStore::Impl::CheckedSecret> CredentialStore::Impl::CheckSecret(
    const SecretAttempt::State& attempt, std::string_view secret) {
  const CustomerRef& customer = attempt.customer;
  auto permit = AcquireHashPermit();
  if (!permit.ok()) {
    throttle_.Refund(attempt.reservation, Now());
    return permit.status();
  }
  auto loaded = LoadCustomer(customer);
  if (!loaded.ok() && loaded.status().code() != StatusCode::kNotFound) {
    throttle_.Refund(attempt.reservation, Now());
    return loaded.status();
  }
  if (!loaded.ok() || customer.refused) {
    (void)VerifySecret(dummy_hash_, secret);
    return SecretInvalid();
  }
  if (!VerifySecret(loaded->record.secret_hash, secret)) return SecretInvalid();
  throttle_.Refund(attempt.reservation, Now());
  return CheckedSecret{std::move(loaded).value(), std::move(permit).value()};
}

std::optional<std::string> CredentialStore::Impl::DeviceBucketOf(const RequestContext& context,
                                                                 const CustomerRef& customer) {
  if (context.device_token.empty() || customer.refused ||
      !internal::IsWellFormedDeviceToken(context.device_token)) {
    return std::nullopt;
  }
  const Digest digest = KeyedDigest(DigestKind::kDeviceToken, context.device_token);
  // An unreadable record gives the stranger's buckets; their reservation reports the failure.
  auto loaded = LoadCustomer(customer);
  if (!loaded.ok() || !internal::HoldsDeviceToken(loaded->record.device_tokens, digest, Now())) {
    return std::nullopt;
  }
  return internal::ToHex(digest);
}

CredentialStore::Impl::MintedDeviceToken CredentialStore::Impl::MintDeviceToken() const {
  MintedDeviceToken minted{internal::NewDeviceToken()};
  minted.digest = KeyedDigest(DigestKind::kDeviceToken, minted.token.view());
  return minted;
}

CredentialStore::Impl::PresentedAdminKey CredentialStore::Impl::PresentAdminKey(
    std::string_view admin_key) const {
  return PresentedAdminKey{KeyedDigest(DigestKind::kAdminKey, admin_key), admin_key.empty()};
}

Result<CredentialStore::Impl::AdminKeyMatch> CredentialStore::Impl::MatchAdminKey(
    const internal::CustomerAdminKeys& keys, const PresentedAdminKey& key) const {
  // Check both slots unconditionally so timing does not tell which one matched.
  const bool current = internal::DigestsEqual(key.digest, keys.current);
  const bool graced = keys.previous && Now() < keys.previous->expires_at &&
                      internal::DigestsEqual(key.digest, keys.previous->digest);
  if (key.empty || !(current || graced)) return AdminKeyInvalid();
  if (current) return AdminKeyMatch{};
  return AdminKeyMatch{true, keys.previous->expires_at};
}

Status CredentialStore::Impl::MatchAdminKey(const CustomerRecord& record,
                                            const PresentedAdminKey& key) const {
  return MatchAdminKey(
             internal::CustomerAdminKeys{record.admin_key_digest, record.previous_admin_key}, key)
      .status();
}

// An unknown customer reads the same as a wrong key, so the answer does not tell which API keys
// are registered. The empty key matches no record, whoever the customer, so it is refused
// without a read; it was hashed all the same (PresentAdminKey).
std::optional<Status> CredentialStore::Impl::InspectForAdminKey(
    const CustomerRef& customer, const PresentedAdminKey& key, Read read,
    const StorageBackend::Inspector& inspect) {
  if (key.empty) return AdminKeyInvalid();
  std::optional<Status> inspected =
      read == Read::kMayBlock
          ? std::optional<Status>(backend_->Inspect(customer.storage_key, Now(), inspect))
          : backend_->TryInspect(customer.storage_key, Now(), inspect);
  if (inspected && inspected->code() == StatusCode::kNotFound) return AdminKeyInvalid();
  return inspected;
}

std::optional<Result<internal::CustomerAdminKeys>> CredentialStore::Impl::ReadAdminKeys(
    const CustomerRef& customer, const PresentedAdminKey& key, Read read) {
  using Answer = Result<internal::CustomerAdminKeys>;
  std::optional<Answer> keys;  // not a preset error: its message would be allocated every call
  const std::optional<Status> inspected =
      InspectForAdminKey(customer, key, read, [&keys](const RecordView& record) {
        keys.emplace(internal::DecodeCustomerAdminKeys(record.value));
      });
  if (!inspected) return std::nullopt;
  if (!inspected->ok()) return Answer(*inspected);
  if (!keys) return Answer(BackendSkippedInspect());
  return std::move(*keys);
}

std::optional<Result<LoadedCustomer>> CredentialStore::Impl::LoadWithAdminKey(
    const CustomerRef& customer, const PresentedAdminKey& key, Read read) {
  // Decoded where the backend keeps the record: the one copy made is the decoded record's.
  std::optional<Result<LoadedCustomer>> decoded;
  const std::optional<Status> inspected =
      InspectForAdminKey(customer, key, read,
                         [&decoded](const RecordView& record) { decoded = DecodeLoaded(record); });
  if (!inspected) return std::nullopt;
  if (!inspected->ok()) return Result<LoadedCustomer>(*inspected);
  if (!decoded) return Result<LoadedCustomer>(BackendSkippedInspect());
  Result<LoadedCustomer>& loaded = *decoded;
  if (loaded.ok()) {
    if (Status status = MatchAdminKey(loaded->record, key); !status.ok()) {
      return Result<LoadedCustomer>(std::move(status));
    }
    // A key the validator refused: the answer of a wrong admin key, after the same work.
    if (customer.refused) return Result<LoadedCustomer>(AdminKeyInvalid());
  }
  return decoded;
}

// Applies `mutate` (Status(CustomerRecord&)) to the record and writes it with compare-and-swap;
// on a lost race, re-reads and applies `mutate` again to the fresh record, so every rule is
// re-checked against what is actually stored.
template <typename Mutate>
Result<LoadedCustomer> CredentialStore::Impl::UpdateCustomer(const CustomerRef& customer,
                                                             LoadedCustomer loaded, Mutate&& mutate,
                                                             Replication* replication) {
  WriteOptions options;
  options.replication = replication;
  for (int attempt = 0; attempt < options_.max_cas_attempts; ++attempt) {
    if (attempt > 0) {
      CountCasRetry();
      auto fresh = LoadCustomer(customer);
      if (!fresh.ok()) return fresh.status();
      loaded = std::move(fresh).value();
    }
    CustomerRecord updated = loaded.record;
    if (Status status = mutate(updated); !status.ok()) return status;
    auto version = backend_->CompareAndSwap(customer.storage_key, loaded.version,
                                            internal::Encode(updated), options, Now());
    if (version.ok()) return LoadedCustomer{std::move(updated), *version};
    // Only a conflict is retried: after kUnavailable the write may have applied (a mint would
    // mint twice).
    if (version.status().code() != StatusCode::kConflict) return version.status();
  }
  return Status::Unavailable("the customer record is changing too fast; try again");
}

Result<AdminKeyGrant> CredentialStore::Impl::Register(Attempt attempt,
                                                      const RequestContext& context,
                                                      std::string_view secret) {
  const CustomerRef* customer = &attempt->customer;
  // Registration reveals existence by design (403); checking first saves an Argon2id hash. A key
  // the validator refused learns nothing of a configuration it may have had.
  if (auto existing = backend_->Get(customer->storage_key, Now());
      existing.ok() && !customer->refused) {
    return Status::AlreadyRegistered("each customer can register only one configuration");
  } else if (!existing.ok() && existing.status().code() != StatusCode::kNotFound) {
    return existing.status();
  }
  auto permit = AcquireHashPermit();
  if (!permit.ok()) {
    throttle_.Refund(attempt->reservation, Now());  // no registration was attempted
    return permit.status();
  }
  auto hash = HashSecret(secret);
  if (!hash.ok()) return hash.status();
  // The work of a registration is done: refuse only now, so the refusal costs what it costs.
  if (customer->refused) return *customer->refused;

  AdminKeyGrant grant{internal::RandomAlphanumeric(kAdminKeyLength), 1};
  MintedDeviceToken device = MintDeviceToken();
  CustomerRecord record;
  record.secret_hash = std::move(hash).value();
  record.admin_key_digest = KeyedDigest(DigestKind::kAdminKey, grant.admin_key.view());
  record.admin_generation = grant.generation;
  record.created_at = Now();
  internal::RememberDeviceToken(record.device_tokens, device.digest, record.created_at);
  Replication replication = Replication::kNotAsked;
  WriteOptions options;
  options.replication = &replication;
  auto created = backend_->Create(customer->storage_key, internal::Encode(record), options, Now());
  if (!created.ok()) {
    if (created.status().code() == StatusCode::kConflict) {
      return Status::AlreadyRegistered("each customer can register only one configuration");
    }
    return created.status();
  }
  Audit(context, "customer.register", &*customer, {}, grant.generation);
  grant.device_token = std::move(device.token);
  grant.replication_pending = PendingMint(replication);
  return grant;
}

Result<AdminKeyGrant> CredentialStore::Impl::RegenerateAdminKey(Attempt attempt,
                                                                const RequestContext& context,
                                                                std::string_view secret,
                                                                std::chrono::milliseconds grace) {
  const CustomerRef* customer = &attempt->customer;
  auto checked = CheckSecret(*attempt, secret);
  if (!checked.ok()) return checked.status();

  SecretString admin_key = internal::RandomAlphanumeric(kAdminKeyLength);
  const Digest new_digest = KeyedDigest(DigestKind::kAdminKey, admin_key.view());
  MintedDeviceToken device = MintDeviceToken();
  const std::string verified_hash = checked->customer.record.secret_hash;
  // An upgrade of the stored hash to the configured cost, computed once outside the retry loop.
  std::optional<std::string> rehashed;
  if (internal::HashNeedsRehash(verified_hash, options_.argon2)) {
    auto hash = HashSecret(secret);
    if (hash.ok()) rehashed = std::move(hash).value();
  }
  Replication replication = Replication::kNotAsked;
  auto updated = UpdateCustomer(
      *customer, std::move(checked->customer),
      [&](CustomerRecord& record) -> Status {
        // The secret changed since it was checked: the caller's secret is stale.
        if (record.secret_hash != verified_hash) return SecretInvalid();
        const Timestamp now = Now();
        if (grace > std::chrono::milliseconds(0)) {
          record.previous_admin_key =
              internal::GracedAdminKey{record.admin_key_digest, now + grace};
        } else {
          record.previous_admin_key.reset();
        }
        record.admin_key_digest = new_digest;
        record.admin_generation += 1;
        if (rehashed) record.secret_hash = *rehashed;
        internal::RememberDeviceToken(record.device_tokens, device.digest, now);
        return Status::Ok();
      },
      &replication);
  if (!updated.ok()) return updated.status();
  AdminKeyGrant grant{std::move(admin_key), updated->record.admin_generation};
  grant.device_token = std::move(device.token);
  grant.replication_pending = PendingMint(replication);
  if (updated->record.previous_admin_key) {
    grant.old_key_expires_at = updated->record.previous_admin_key->expires_at;
  }
  Audit(context, "customer.regenerate_admin_key", &*customer, {}, grant.generation);
  return grant;
}

Result<SecretUpdate> CredentialStore::Impl::UpdateSecret(Attempt attempt,
                                                         const RequestContext& context,
                                                         std::string_view secret,
                                                         std::string_view new_secret) {
  const CustomerRef* customer = &attempt->customer;
  auto checked = CheckSecret(*attempt, secret);
  if (!checked.ok()) return checked.status();
  auto new_hash = HashSecret(new_secret);  // under the permit CheckSecret holds
  if (!new_hash.ok()) return new_hash.status();

  MintedDeviceToken device = MintDeviceToken();
  const std::string verified_hash = checked->customer.record.secret_hash;
  auto updated = UpdateCustomer(
      *customer, std::move(checked->customer), [&](CustomerRecord& record) -> Status {
        if (record.secret_hash != verified_hash) return SecretInvalid();
        record.secret_hash = *new_hash;
        record.secret_generation += 1;
        internal::RememberDeviceToken(record.device_tokens, device.digest, Now());
        return Status::Ok();
      });
  if (!updated.ok()) return updated.status();
  Audit(context, "customer.update_secret", &*customer, {}, updated->record.secret_generation);
  return SecretUpdate{updated->record.secret_generation, std::move(device.token)};
}

// VerifyAdminKey, CheckAdminKey and GetSettings hash the admin key before they read, and
// whatever the read answers: an empty, unknown, wrong or revoked key all cost the same two keyed
// hashes.
std::optional<Result<CredentialStore::Impl::AdminKeyMatch>> CredentialStore::Impl::MatchAdminKeyOf(
    const CustomerRef& customer, std::string_view admin_key, Read read) {
  using Answer = Result<AdminKeyMatch>;
  const PresentedAdminKey key = PresentAdminKey(admin_key);
  auto keys = ReadAdminKeys(customer, key, read);
  if (!keys) return std::nullopt;
  if (!keys->ok()) return Answer(keys->status());
  auto match = MatchAdminKey(**keys, key);
  if (!match.ok()) return match;
  // A key the validator refused: the answer of a wrong admin key, after the same work.
  if (customer.refused) return Answer(AdminKeyInvalid());
  return match;
}

std::optional<Status> CredentialStore::Impl::VerifyAdminKey(std::string_view service,
                                                            std::string_view api_key,
                                                            std::string_view admin_key, Read read) {
  const auto customer = ResolveCustomer(service, api_key, Caller::kCustomer, read);
  if (!customer) return std::nullopt;
  if (!customer->ok()) return customer->status();
  auto match = MatchAdminKeyOf(**customer, admin_key, read);
  if (!match) return std::nullopt;
  return match->status();
}

std::optional<Result<AdminKeyCheck>> CredentialStore::Impl::CheckAdminKey(
    std::string_view service, std::string_view api_key, std::string_view admin_key, Read read) {
  using Answer = Result<AdminKeyCheck>;
  const auto customer = ResolveCustomer(service, api_key, Caller::kCustomer, read);
  if (!customer) return std::nullopt;
  if (!customer->ok()) return Answer(customer->status());
  auto match = MatchAdminKeyOf(**customer, admin_key, read);
  if (!match) return std::nullopt;
  if (!match->ok()) return Answer(match->status());
  // The storage key names exactly one (service, API key) pair; its digest under a
  // personalization of its own is an id no other digest can be mistaken for. Only computed for a
  // valid key, so every refusal still costs the two hashes above and nothing more.
  AdminKeyCheck check;
  check.customer_id =
      internal::ToHex(KeyedDigest(DigestKind::kCustomerId, (**customer).storage_key));
  check.graced = (*match)->graced;
  check.expires_at = (*match)->expires_at;
  return Answer(std::move(check));
}

std::optional<Result<std::string>> CredentialStore::Impl::GetSettings(std::string_view service,
                                                                      std::string_view api_key,
                                                                      std::string_view admin_key,
                                                                      Read read) {
  auto customer = ResolveCustomer(service, api_key, Caller::kCustomer, read);
  if (!customer) return std::nullopt;
  if (!customer->ok()) return Result<std::string>(customer->status());
  auto loaded = LoadWithAdminKey(**customer, PresentAdminKey(admin_key), read);
  if (!loaded) return std::nullopt;
  if (!loaded->ok()) return Result<std::string>(loaded->status());
  return Result<std::string>(std::move((*loaded)->record.settings_json));
}

Result<std::string> CredentialStore::Impl::PutSettings(const RequestContext& context,
                                                       std::string_view service,
                                                       std::string_view api_key,
                                                       std::string_view admin_key,
                                                       std::string_view settings_json) {
  auto customer = ResolveCustomer(service, api_key);
  if (!customer.ok()) return customer.status();
  if (settings_json.size() > options_.max_settings_bytes) {
    return Status::InvalidArgument("settings must be at most " +
                                   std::to_string(options_.max_settings_bytes) + " bytes");
  }
  if (!internal::IsValidUtf8(settings_json)) {
    return Status::InvalidArgument("settings must be valid UTF-8");
  }
  const PresentedAdminKey key = PresentAdminKey(admin_key);
  auto loaded = *LoadWithAdminKey(*customer, key, Read::kMayBlock);
  if (!loaded.ok()) return loaded.status();
  auto updated =
      UpdateCustomer(*customer, std::move(loaded).value(), [&](CustomerRecord& record) -> Status {
        // Re-checked on every attempt: a key revoked meanwhile loses.
        if (Status status = MatchAdminKey(record, key); !status.ok()) return status;
        record.settings_json = std::string(settings_json);
        return Status::Ok();
      });
  if (!updated.ok()) return updated.status();
  Audit(context, "customer.put_settings", &*customer, {}, 0);
  return std::move(updated->record.settings_json);
}

Result<AdminKeyGrant> CredentialStore::Impl::ResetCustomer(const RequestContext& context,
                                                           std::string_view service,
                                                           std::string_view api_key,
                                                           std::string_view new_secret) {
  auto customer = ResolveCustomer(service, api_key, Caller::kOperator);
  if (!customer.ok()) return customer.status();
  if (Status status = internal::ValidateSecret(new_secret, "secret", options_); !status.ok()) {
    return status;
  }
  auto loaded = LoadCustomer(*customer);
  if (!loaded.ok()) return loaded.status();
  auto permit = AcquireHashPermit();
  if (!permit.ok()) return permit.status();
  auto hash = HashSecret(new_secret);
  if (!hash.ok()) return hash.status();

  SecretString admin_key = internal::RandomAlphanumeric(kAdminKeyLength);
  const Digest new_digest = KeyedDigest(DigestKind::kAdminKey, admin_key.view());
  Replication replication = Replication::kNotAsked;
  auto updated = UpdateCustomer(
      *customer, std::move(loaded).value(),
      [&](CustomerRecord& record) -> Status {
        record.secret_hash = *hash;
        record.secret_generation += 1;
        record.admin_key_digest = new_digest;
        record.admin_generation += 1;
        record.previous_admin_key.reset();
        record.device_tokens.clear();  // a fresh start: the next secret check issues one
        return Status::Ok();
      },
      &replication);
  if (!updated.ok()) return updated.status();
  AdminKeyGrant grant{std::move(admin_key), updated->record.admin_generation};
  grant.replication_pending = PendingMint(replication);
  Audit(context, "customer.reset", &*customer, {}, grant.generation);
  return grant;
}

Status CredentialStore::Impl::DeleteCustomer(const RequestContext& context,
                                             std::string_view service, std::string_view api_key) {
  auto customer = ResolveCustomer(service, api_key, Caller::kOperator);
  if (!customer.ok()) return customer.status();
  for (int attempt = 0; attempt < options_.max_cas_attempts; ++attempt) {
    auto stored = backend_->Get(customer->storage_key, Now());
    if (!stored.ok()) return stored.status();
    Status erased = backend_->Erase(customer->storage_key, stored->version, Now());
    if (erased.ok()) {
      Audit(context, "customer.delete", &*customer, {}, 0);
      return Status::Ok();
    }
    if (erased.code() != StatusCode::kConflict) return erased;
    CountCasRetry();
  }
  return Status::Unavailable("the customer record is changing too fast; try again");
}

Status CredentialStore::Impl::ClearAddressThrottle(const RequestContext& context,
                                                   std::string_view client_address) {
  const auto bucket = internal::AddressBucket(client_address);
  if (!bucket) return Status::InvalidArgument("no client address given");
  if (Status status = throttle_.ClearAddress(*bucket, Now()); !status.ok()) return status;
  Audit(context, "throttle.clear_address", nullptr, {}, 0);
  return Status::Ok();
}

Status CredentialStore::Impl::ClearCustomerThrottle(const RequestContext& context,
                                                    std::string_view service,
                                                    std::string_view api_key) {
  auto customer = ResolveCustomer(service, api_key, Caller::kOperator);
  if (!customer.ok()) return customer.status();
  if (Status status = throttle_.ClearCustomer(ThrottleBucket(*customer), Now()); !status.ok()) {
    return status;
  }
  Audit(context, "throttle.clear_customer", &*customer, {}, 0);
  return Status::Ok();
}

}  // namespace credstore
