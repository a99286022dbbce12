// CredentialStore: opening a store, the plumbing every operation shares, and the public
// methods, which forward to Impl (customer_operations.cc, integrator_operations.cc).
#include "credstore/credential_store.h"

#include <sodium.h>

#include <algorithm>
#include <iostream>

#include "keycheck.h"
#include "store_impl.h"
#include "validation.h"

namespace credstore {
namespace {

Status ValidateOptions(const Options& options) {
  if (options.argon2.ops_limit < crypto_pwhash_OPSLIMIT_MIN ||
      options.argon2.mem_limit_bytes < crypto_pwhash_MEMLIMIT_MIN) {
    return Status::InvalidArgument("argon2 cost is below libsodium's minimum");
  }
  if (options.max_concurrent_hashes == 0) {
    return Status::InvalidArgument("max_concurrent_hashes must be at least 1");
  }
  if (options.services.empty()) return Status::InvalidArgument("no services configured");
  for (const auto& service : options.services) {
    if (!internal::IsValidServiceName(service)) {
      return Status::InvalidArgument("service names are 1-64 characters of [A-Za-z0-9_-]");
    }
  }
  if (options.max_grace < std::chrono::milliseconds(0) ||
      options.signature_tolerance <= std::chrono::milliseconds(0) ||
      options.max_secret_bytes == 0 || options.max_cas_attempts < 1) {
    return Status::InvalidArgument(
        "grace, tolerance, secret size and CAS attempts must be positive");
  }
  return Status::Ok();
}

}  // namespace

Argon2Cost Argon2Cost::Production() {
  return Argon2Cost{crypto_pwhash_OPSLIMIT_INTERACTIVE, crypto_pwhash_MEMLIMIT_INTERACTIVE};
}

Argon2Cost Argon2Cost::MinimumForTests() {
  return Argon2Cost{crypto_pwhash_OPSLIMIT_MIN, crypto_pwhash_MEMLIMIT_MIN};
}

Result<std::unique_ptr<CredentialStore>> CredentialStore::Open(
    std::shared_ptr<StorageBackend> backend, Keyring keyring, Options options) {
  if (sodium_init() < 0) return Status::Internal("libsodium failed to initialise");
  if (!backend) return Status::InvalidArgument("no storage backend");
  if (Status status = ValidateOptions(options); !status.ok()) return status;
  if (!options.clock) options.clock = std::make_shared<SystemClock>();
  if (!options.audit) options.audit = std::make_shared<JsonLinesAuditSink>(std::clog);
  if (!options.api_key_validator)
    options.api_key_validator = std::make_shared<AnyWellFormedApiKey>();

  if (Status status = internal::VerifyOrWriteKeycheck(*backend, keyring, options.clock->Now());
      !status.ok()) {
    return status;
  }
  // The dummy hash has the configured cost, so checking it costs what a real check costs.
  SecretString dummy_secret = internal::RandomAlphanumeric(32);
  auto dummy_hash = internal::HashSecret(dummy_secret.view(), options.argon2);
  if (!dummy_hash.ok()) return dummy_hash.status();

  auto impl = std::make_unique<Impl>(std::move(backend), std::move(keyring), std::move(options),
                                     std::move(dummy_hash).value());
  return std::unique_ptr<CredentialStore>(new CredentialStore(std::move(impl)));
}

CredentialStore::CredentialStore(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
CredentialStore::~CredentialStore() = default;

CredentialStore::Impl::Impl(std::shared_ptr<StorageBackend> backend, Keyring keyring,
                            Options options, std::string dummy_hash)
    : backend_(std::move(backend)),
      keyring_(std::move(keyring)),
      hasher_(keyring_.pepper().bytes),
      options_(std::move(options)),
      dummy_hash_(std::move(dummy_hash)),
      budget_(options_.max_concurrent_hashes),
      throttle_(*backend_, options_.throttle, options_.max_cas_attempts) {}

void CredentialStore::Impl::Audit(const RequestContext& context, std::string action,
                                  const CustomerRef* customer, std::string_view integrator_id,
                                  std::uint64_t generation) {
  AuditEvent event;
  event.at = Now();
  event.action = std::move(action);
  if (customer != nullptr) {
    event.service = std::string(customer->service);
    event.customer_id = customer->ShortId();
  }
  event.integrator_id = std::string(integrator_id);
  event.generation = generation;
  event.request_id = context.request_id;
  event.client_address = context.client_address;
  options_.audit->Record(event);
}

Result<internal::Argon2Budget::Permit> CredentialStore::Impl::AcquireHashPermit() {
  auto permit = budget_.TryAcquire();
  if (!permit) {
    stats_budget_rejections_.fetch_add(1, std::memory_order_relaxed);
    return Status::Unavailable(std::string(kHashBudgetExhausted));
  }
  return std::move(*permit);
}

Result<std::string> CredentialStore::Impl::HashSecret(std::string_view secret) {
  stats_hashes_.fetch_add(1, std::memory_order_relaxed);
  return internal::HashSecret(secret, options_.argon2);
}

bool CredentialStore::Impl::VerifySecret(const std::string& hash, std::string_view secret) {
  stats_verifications_.fetch_add(1, std::memory_order_relaxed);
  return internal::VerifySecret(hash, secret);
}

internal::Digest CredentialStore::Impl::KeyedDigest(internal::DigestKind kind,
                                                    std::string_view data) const {
  stats_keyed_digests_.Add();
  return hasher_.Hash(kind, data);
}

StoreStats CredentialStore::Impl::Stats() const {
  StoreStats stats;
  stats.argon2_hashes = stats_hashes_.load(std::memory_order_relaxed);
  stats.argon2_verifications = stats_verifications_.load(std::memory_order_relaxed);
  stats.argon2_budget_rejections = stats_budget_rejections_.load(std::memory_order_relaxed);
  stats.throttled = stats_throttled_.load(std::memory_order_relaxed);
  stats.cas_retries = stats_cas_retries_.load(std::memory_order_relaxed);
  stats.replication_pending = stats_replication_pending_.load(std::memory_order_relaxed);
  stats.keyed_digests = stats_keyed_digests_.Sum();
  return stats;
}

Status CredentialStore::Impl::CheckReady() {
  if (Status health = backend_->CheckHealth(); !health.ok()) return health;
  return internal::CheckKeycheck(*backend_, keyring_, Now());
}

Result<std::string> CredentialStore::Impl::Checkpoint(const RequestContext& context,
                                                      std::string_view name) {
  // Checked here too, before the backend is asked: a malformed name is the caller's mistake
  // (kInvalidArgument) whichever backend serves.
  if (!IsValidCheckpointName(name)) {
    return Status::InvalidArgument(
        "a checkpoint name is 1-64 characters of [A-Za-z0-9._-], not starting with '.', without "
        "'..' and not ending in '.tmp'");
  }
  auto made = backend_->Checkpoint(name);
  if (!made.ok()) return made.status();
  Audit(context, "store.checkpoint", nullptr, {}, 0);
  return made;
}

const std::string* CredentialStore::Impl::FindService(std::string_view service) const {
  const auto found = std::find(options_.services.begin(), options_.services.end(), service);
  return found == options_.services.end() ? nullptr : &*found;
}

bool CredentialStore::Impl::NeverBlocks() const {
  return backend_->AnswersFromMemory() && options_.api_key_validator->NeverBlocks();
}

// ---- SecretAttempt ------------------------------------------------------------------------

SecretAttempt::SecretAttempt(std::unique_ptr<State> state) : state_(std::move(state)) {}
SecretAttempt::SecretAttempt(SecretAttempt&& other) noexcept = default;
SecretAttempt& SecretAttempt::operator=(SecretAttempt&& other) noexcept = default;
SecretAttempt::~SecretAttempt() = default;

// ---- Public methods: forwarding only ------------------------------------------------------

Result<AdminKeyGrant> CredentialStore::Register(const RequestContext& context,
                                                std::string_view service, std::string_view api_key,
                                                std::string_view secret) {
  auto attempt =
      impl_->ReserveAttempt(context, SecretOperation::kRegister, service, api_key, secret, {}, {});
  if (!attempt.ok()) return attempt.status();
  return impl_->Register(std::move(attempt).value(), context, secret);
}

Result<AdminKeyGrant> CredentialStore::RegenerateAdminKey(const RequestContext& context,
                                                          std::string_view service,
                                                          std::string_view api_key,
                                                          std::string_view secret,
                                                          std::chrono::milliseconds grace) {
  auto attempt = impl_->ReserveAttempt(context, SecretOperation::kRegenerateAdminKey, service,
                                       api_key, secret, {}, grace);
  if (!attempt.ok()) return attempt.status();
  return impl_->RegenerateAdminKey(std::move(attempt).value(), context, secret, grace);
}

Result<SecretUpdate> CredentialStore::UpdateSecret(const RequestContext& context,
                                                   std::string_view service,
                                                   std::string_view api_key,
                                                   std::string_view secret,
                                                   std::string_view new_secret) {
  auto attempt = impl_->ReserveAttempt(context, SecretOperation::kUpdateSecret, service, api_key,
                                       secret, new_secret, {});
  if (!attempt.ok()) return attempt.status();
  return impl_->UpdateSecret(std::move(attempt).value(), context, secret, new_secret);
}

Result<SecretAttempt> CredentialStore::ReserveAttempt(
    const RequestContext& context, SecretOperation operation, std::string_view service,
    std::string_view api_key, std::string_view secret, std::string_view new_secret,
    std::chrono::milliseconds old_key_grace) {
  auto attempt = impl_->ReserveAttempt(context, operation, service, api_key, secret, new_secret,
                                       old_key_grace);
  if (!attempt.ok()) return attempt.status();
  return SecretAttempt(std::move(attempt).value());
}

void CredentialStore::RefundAttempt(SecretAttempt attempt) {
  impl_->RefundAttempt(std::move(attempt.state_));
}

// The second steps: the attempt must be this call's, and the arguments are checked again (the
// attempt vouches for the ones it was reserved with, not for these). A refused argument gives
// the attempt back, so a kInvalidArgument call still changes nothing.
namespace {
Status NotThisCallsAttempt() {
  return Status::InvalidArgument("the attempt was not reserved for this call");
}
}  // namespace

Result<AdminKeyGrant> CredentialStore::Register(SecretAttempt attempt,
                                                const RequestContext& context,
                                                std::string_view service, std::string_view api_key,
                                                std::string_view secret) {
  auto mine = impl_->AttemptFor(std::move(attempt.state_), SecretOperation::kRegister, context,
                                service, api_key);
  if (!mine) return NotThisCallsAttempt();
  if (Status status = impl_->ValidateSecretCall(SecretOperation::kRegister, secret, {}, {});
      !status.ok()) {
    impl_->RefundAttempt(std::move(mine));
    return status;
  }
  return impl_->Register(std::move(mine), context, secret);
}

Result<AdminKeyGrant> CredentialStore::RegenerateAdminKey(
    SecretAttempt attempt, const RequestContext& context, std::string_view service,
    std::string_view api_key, std::string_view secret, std::chrono::milliseconds grace) {
  auto mine = impl_->AttemptFor(std::move(attempt.state_), SecretOperation::kRegenerateAdminKey,
                                context, service, api_key);
  if (!mine) return NotThisCallsAttempt();
  if (Status status =
          impl_->ValidateSecretCall(SecretOperation::kRegenerateAdminKey, secret, {}, grace);
      !status.ok()) {
    impl_->RefundAttempt(std::move(mine));
    return status;
  }
  return impl_->RegenerateAdminKey(std::move(mine), context, secret, grace);
}

Result<SecretUpdate> CredentialStore::UpdateSecret(
    SecretAttempt attempt, const RequestContext& context, std::string_view service,
    std::string_view api_key, std::string_view secret, std::string_view new_secret) {
  auto mine = impl_->AttemptFor(std::move(attempt.state_), SecretOperation::kUpdateSecret, context,
                                service, api_key);
  if (!mine) return NotThisCallsAttempt();
  if (Status status =
          impl_->ValidateSecretCall(SecretOperation::kUpdateSecret, secret, new_secret, {});
      !status.ok()) {
    impl_->RefundAttempt(std::move(mine));
    return status;
  }
  return impl_->UpdateSecret(std::move(mine), context, secret, new_secret);
}

Status CredentialStore::VerifyAdminKey(std::string_view service, std::string_view api_key,
                                       std::string_view admin_key) {
  return *impl_->VerifyAdminKey(service, api_key, admin_key, Impl::Read::kMayBlock);
}

Result<AdminKeyCheck> CredentialStore::CheckAdminKey(std::string_view service,
                                                     std::string_view api_key,
                                                     std::string_view admin_key) {
  return *impl_->CheckAdminKey(service, api_key, admin_key, Impl::Read::kMayBlock);
}

Result<std::string> CredentialStore::GetSettings(std::string_view service, std::string_view api_key,
                                                 std::string_view admin_key) {
  return *impl_->GetSettings(service, api_key, admin_key, Impl::Read::kMayBlock);
}

Result<std::string> CredentialStore::PutSettings(const RequestContext& context,
                                                 std::string_view service, std::string_view api_key,
                                                 std::string_view admin_key,
                                                 std::string_view settings_json) {
  return impl_->PutSettings(context, service, api_key, admin_key, settings_json);
}

Result<AdminKeyGrant> CredentialStore::ResetCustomer(const RequestContext& context,
                                                     std::string_view service,
                                                     std::string_view api_key,
                                                     std::string_view new_secret) {
  return impl_->ResetCustomer(context, service, api_key, new_secret);
}

Status CredentialStore::DeleteCustomer(const RequestContext& context, std::string_view service,
                                       std::string_view api_key) {
  return impl_->DeleteCustomer(context, service, api_key);
}

Status CredentialStore::ClearAddressThrottle(const RequestContext& context,
                                             std::string_view client_address) {
  return impl_->ClearAddressThrottle(context, client_address);
}

Status CredentialStore::ClearCustomerThrottle(const RequestContext& context,
                                              std::string_view service, std::string_view api_key) {
  return impl_->ClearCustomerThrottle(context, service, api_key);
}

Result<std::string> CredentialStore::Checkpoint(const RequestContext& context,
                                                std::string_view name) {
  return impl_->Checkpoint(context, name);
}

Result<IntegratorSecret> CredentialStore::CreateIntegrator(const RequestContext& context,
                                                           std::string_view label) {
  return impl_->CreateIntegrator(context, label);
}

Result<IntegratorPage> CredentialStore::ListIntegrators(std::string_view cursor,
                                                        std::size_t limit) {
  return impl_->ListIntegrators(cursor, limit);
}

Result<IntegratorInfo> CredentialStore::GetIntegrator(std::string_view integrator_id) {
  return impl_->GetIntegrator(integrator_id);
}

Status CredentialStore::DisableIntegrator(const RequestContext& context,
                                          std::string_view integrator_id) {
  return impl_->SetIntegratorEnabled(context, integrator_id, false);
}

Status CredentialStore::EnableIntegrator(const RequestContext& context,
                                         std::string_view integrator_id) {
  return impl_->SetIntegratorEnabled(context, integrator_id, true);
}

Status CredentialStore::DeleteIntegrator(const RequestContext& context,
                                         std::string_view integrator_id) {
  return impl_->DeleteIntegrator(context, integrator_id);
}

Result<IntegratorSecret> CredentialStore::ResetIntegratorSecret(const RequestContext& context,
                                                                std::string_view integrator_id) {
  return impl_->ResetIntegratorSecret(context, integrator_id);
}

Result<VerifiedRequest> CredentialStore::VerifySignedRequest(const SignedRequest& request) {
  return impl_->VerifySignedRequest(request);
}

Result<IntegratorSecret> CredentialStore::RotateIntegratorSecret(
    const RequestContext& context, const SignedRequest& request,
    std::chrono::milliseconds old_secret_grace) {
  return impl_->RotateIntegratorSecret(context, request, old_secret_grace);
}

Result<ResealReport> CredentialStore::ResealUnderNewestMasterKey(const RequestContext& context,
                                                                 std::string_view cursor,
                                                                 std::size_t limit) {
  return impl_->ResealUnderNewestMasterKey(context, cursor, limit);
}

std::optional<Status> CredentialStore::TryVerifyAdminKey(std::string_view service,
                                                         std::string_view api_key,
                                                         std::string_view admin_key) {
  return impl_->VerifyAdminKey(service, api_key, admin_key, Impl::Read::kWithoutBlocking);
}

std::optional<Result<AdminKeyCheck>> CredentialStore::TryCheckAdminKey(std::string_view service,
                                                                       std::string_view api_key,
                                                                       std::string_view admin_key) {
  return impl_->CheckAdminKey(service, api_key, admin_key, Impl::Read::kWithoutBlocking);
}

std::optional<Result<std::string>> CredentialStore::TryGetSettings(std::string_view service,
                                                                   std::string_view api_key,
                                                                   std::string_view admin_key) {
  return impl_->GetSettings(service, api_key, admin_key, Impl::Read::kWithoutBlocking);
}

bool CredentialStore::NeverBlocks() const { return impl_->NeverBlocks(); }

Status CredentialStore::CheckReady() { return impl_->CheckReady(); }

Status CredentialStore::CheckWrites() { return impl_->CheckWrites(); }

bool CredentialStore::HasService(std::string_view service) const {
  return impl_->HasService(service);
}

StoreStats CredentialStore::Stats() const { return impl_->Stats(); }

const Options& CredentialStore::options() const { return impl_->options(); }

}  // namespace credstore
