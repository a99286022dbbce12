// Integrators: HMAC-signed requests and secret rotation with a grace period.
//
// An integrator record holds at most two sealed secrets: the current one and, during a grace,
// the old one with its expiry. Each is sealed with XChaCha20-Poly1305 under a master key, with
// associated data naming the master key, the integrator, the slot and the generation, so a
// sealed value copied to another slot, integrator or generation no longer opens.
#include <sodium.h>

#include "signature.h"
#include "store_impl.h"
#include "validation.h"

namespace credstore {
namespace {

using internal::IntegratorRecord;
using internal::SealedSecret;
using internal::SecretSlot;

constexpr std::size_t kIntegratorIdRandomChars = 24;  // ~143 bits: ids are public, not secret
constexpr std::size_t kSecretRandomChars = 43;        // ~256 bits
constexpr std::size_t kMaxLabelBytes = 200;
constexpr std::size_t kMaxListLimit = 1000;

Status IntegratorNotFound() { return Status::NotFound("integrator not found"); }
Status SignatureInvalid() { return Status::Unauthorized("signature invalid"); }

SecretString NewIntegratorSecret() {
  SecretString random = internal::RandomAlphanumeric(kSecretRandomChars);
  std::string text = "sk_" + std::string(random.view());
  SecretString secret(text);
  sodium_memzero(text.data(), text.size());
  return secret;
}

}  // namespace

SealedSecret CredentialStore::Impl::SealSecret(std::string_view integrator_id,
                                               std::string_view secret, SecretSlot slot,
                                               std::uint64_t generation,
                                               std::optional<Timestamp> expires_at) const {
  const KeyWithId& master = keyring_.current_master();
  const auto integrator_digest = KeyedDigest(internal::DigestKind::kIntegratorId, integrator_id);
  SealedSecret sealed;
  sealed.generation = generation;
  sealed.master_key_id = master.id;
  sealed.expires_at = expires_at;
  sealed.sealed =
      internal::Seal(master.bytes, secret,
                     internal::SealingContext(master.id, integrator_digest, slot, generation));
  return sealed;
}

std::optional<SecretString> CredentialStore::Impl::OpenSecret(std::string_view integrator_id,
                                                              const SealedSecret& sealed,
                                                              SecretSlot slot) const {
  const KeyWithId* master = keyring_.FindMaster(sealed.master_key_id);
  if (master == nullptr) return std::nullopt;
  const auto integrator_digest = KeyedDigest(internal::DigestKind::kIntegratorId, integrator_id);
  return internal::Open(
      master->bytes, sealed.sealed,
      internal::SealingContext(sealed.master_key_id, integrator_digest, slot, sealed.generation));
}

Result<LoadedIntegrator> CredentialStore::Impl::LoadIntegrator(std::string_view integrator_id) {
  if (!IsWellFormedIntegratorId(integrator_id)) return IntegratorNotFound();
  auto stored = backend_->Get(internal::IntegratorKey(integrator_id), Now());
  if (!stored.ok()) {
    return stored.status().code() == StatusCode::kNotFound ? IntegratorNotFound() : stored.status();
  }
  auto record = internal::DecodeIntegrator(stored->value);
  if (!record.ok()) return record.status();
  // The key names the record; a record under a foreign key was moved there by someone.
  if (record->integrator_id != integrator_id) return Status::Internal("corrupt integrator record");
  return LoadedIntegrator{std::move(record).value(), stored->version};
}

template <typename Mutate>
Result<LoadedIntegrator> CredentialStore::Impl::UpdateIntegrator(LoadedIntegrator loaded,
                                                                 Mutate&& mutate,
                                                                 Replication* replication) {
  const std::string key = internal::IntegratorKey(loaded.record.integrator_id);
  WriteOptions options;
  options.replication = replication;
  for (int attempt = 0; attempt < options_.max_cas_attempts; ++attempt) {
    if (attempt > 0) {
      CountCasRetry();
      auto fresh = LoadIntegrator(loaded.record.integrator_id);
      if (!fresh.ok()) return fresh.status();
      loaded = std::move(fresh).value();
    }
    IntegratorRecord updated = loaded.record;
    if (Status status = mutate(updated); !status.ok()) return status;
    auto version =
        backend_->CompareAndSwap(key, loaded.version, internal::Encode(updated), options, Now());
    if (version.ok()) return LoadedIntegrator{std::move(updated), *version};
    // Only a conflict is retried: after kUnavailable the write may have applied (a mint would
    // mint twice).
    if (version.status().code() != StatusCode::kConflict) return version.status();
  }
  return Status::Unavailable("the integrator record is changing too fast; try again");
}

IntegratorInfo CredentialStore::Impl::Describe(const IntegratorRecord& record) const {
  IntegratorInfo info;
  info.integrator_id = record.integrator_id;
  info.label = record.label;
  info.enabled = record.enabled;
  info.created_at = record.created_at;
  info.generation = record.current.generation;
  if (record.old && record.old->expires_at && Now() < *record.old->expires_at) {
    info.old_secret_expires_at = record.old->expires_at;
  }
  return info;
}

Result<IntegratorSecret> CredentialStore::Impl::CreateIntegrator(const RequestContext& context,
                                                                 std::string_view label) {
  if (label.size() > kMaxLabelBytes || !internal::IsValidUtf8(label)) {
    return Status::InvalidArgument("label must be at most 200 bytes of UTF-8");
  }
  // A collision of 143 random bits will not happen; the loop only makes Create's contract
  // (never overwrite) visible.
  for (int attempt = 0; attempt < 3; ++attempt) {
    IntegratorSecret created;
    created.integrator_id =
        "int_" + std::string(internal::RandomAlphanumeric(kIntegratorIdRandomChars).view());
    created.secret = NewIntegratorSecret();
    created.generation = 1;
    IntegratorRecord record;
    record.integrator_id = created.integrator_id;
    record.label = std::string(label);
    record.created_at = Now();
    record.last_generation = 1;
    record.current =
        SealSecret(record.integrator_id, created.secret.view(), SecretSlot::kCurrent, 1, {});
    Replication replication = Replication::kNotAsked;
    WriteOptions options;
    options.replication = &replication;
    auto version = backend_->Create(internal::IntegratorKey(record.integrator_id),
                                    internal::Encode(record), options, Now());
    if (version.ok()) {
      Audit(context, "integrator.create", nullptr, created.integrator_id, created.generation);
      created.replication_pending = PendingMint(replication);
      return created;
    }
    // Only a conflict (an id taken) tries another id: after kUnavailable this one may exist.
    if (version.status().code() != StatusCode::kConflict) return version.status();
  }
  return Status::Internal("could not allocate an integrator id");
}

Result<IntegratorPage> CredentialStore::Impl::ListIntegrators(std::string_view cursor,
                                                              std::size_t limit) {
  if (limit == 0 || limit > kMaxListLimit) {
    return Status::InvalidArgument("limit must be between 1 and 1000");
  }
  const std::string start = cursor.empty() ? std::string() : internal::IntegratorKey(cursor);
  auto page = backend_->Scan(internal::kIntegratorKeyPrefix, start, limit, Now());
  if (!page.ok()) return page.status();
  IntegratorPage result;
  for (const auto& entry : page->entries) {
    auto record = internal::DecodeIntegrator(entry.record.value);
    if (!record.ok()) return record.status();
    result.integrators.push_back(Describe(*record));
  }
  if (!page->next_cursor.empty()) {
    result.next_cursor = page->next_cursor.substr(internal::kIntegratorKeyPrefix.size());
  }
  return result;
}

Result<IntegratorInfo> CredentialStore::Impl::GetIntegrator(std::string_view integrator_id) {
  auto loaded = LoadIntegrator(integrator_id);
  if (!loaded.ok()) return loaded.status();
  return Describe(loaded->record);
}

Status CredentialStore::Impl::SetIntegratorEnabled(const RequestContext& context,
                                                   std::string_view integrator_id, bool enabled) {
  auto loaded = LoadIntegrator(integrator_id);
  if (!loaded.ok()) return loaded.status();
  auto updated = UpdateIntegrator(std::move(loaded).value(), [enabled](IntegratorRecord& record) {
    record.enabled = enabled;
    return Status::Ok();
  });
  if (!updated.ok()) return updated.status();
  Audit(context, enabled ? "integrator.enable" : "integrator.disable", nullptr, integrator_id, 0);
  return Status::Ok();
}

// One erase of the one record, against the version read: a concurrent change (a rotation)
// makes it read again, so the record erased is always the latest.
Status CredentialStore::Impl::DeleteIntegrator(const RequestContext& context,
                                               std::string_view integrator_id) {
  for (int attempt = 0; attempt < options_.max_cas_attempts; ++attempt) {
    if (attempt > 0) CountCasRetry();
    auto loaded = LoadIntegrator(integrator_id);
    if (!loaded.ok()) return loaded.status();
    Status erased = backend_->Erase(internal::IntegratorKey(integrator_id), loaded->version, Now());
    if (erased.code() == StatusCode::kConflict) continue;
    if (erased.code() == StatusCode::kNotFound) return IntegratorNotFound();
    if (!erased.ok()) return erased;
    Audit(context, "integrator.delete", nullptr, integrator_id, 0);
    return Status::Ok();
  }
  return Status::Unavailable("the integrator record is changing too fast; try again");
}

Result<IntegratorSecret> CredentialStore::Impl::ResetIntegratorSecret(
    const RequestContext& context, std::string_view integrator_id) {
  auto loaded = LoadIntegrator(integrator_id);
  if (!loaded.ok()) return loaded.status();
  IntegratorSecret result;
  result.integrator_id = std::string(integrator_id);
  result.secret = NewIntegratorSecret();
  Replication replication = Replication::kNotAsked;
  auto updated = UpdateIntegrator(
      std::move(loaded).value(),
      [&](IntegratorRecord& record) {
        const std::uint64_t generation = record.last_generation + 1;
        record.current = SealSecret(record.integrator_id, result.secret.view(),
                                    SecretSlot::kCurrent, generation, {});
        record.old.reset();
        record.last_generation = generation;
        return Status::Ok();
      },
      &replication);
  if (!updated.ok()) return updated.status();
  result.generation = updated->record.current.generation;
  result.replication_pending = PendingMint(replication);
  Audit(context, "integrator.reset_secret", nullptr, integrator_id, result.generation);
  return result;
}

// Header form and timestamp window first (no I/O), then the record, then the MAC against the
// current secret and a still-graced old one, and last the replay record, which is written only
// for a MAC that verified (so garbage cannot fill the store).
Result<CredentialStore::Impl::Verified> CredentialStore::Impl::Verify(
    const SignedRequest& request) {
  const Timestamp now = Now();
  auto parsed = internal::ParseSignedRequest(request, now, options_.signature_tolerance);
  if (!parsed.ok()) return parsed.status();
  auto loaded = LoadIntegrator(parsed->integrator_id);
  if (!loaded.ok()) return loaded.status();
  const IntegratorRecord& record = loaded->record;
  if (!record.enabled) return Status::Unauthorized("integrator disabled");

  const std::string message = internal::SigningMessage(request);
  auto signed_by = [&](const SealedSecret& sealed, SecretSlot slot) {
    auto secret = OpenSecret(record.integrator_id, sealed, slot);
    if (!secret) return false;
    return internal::DigestsEqual(internal::HmacSha256(secret->view(), message), parsed->mac);
  };
  VerifiedRequest verified;
  verified.integrator_id = record.integrator_id;
  if (signed_by(record.current, SecretSlot::kCurrent)) {
    verified.generation = record.current.generation;
    verified.signed_with_current = true;
  } else if (record.old && record.old->expires_at && now < *record.old->expires_at &&
             signed_by(*record.old, SecretSlot::kOld)) {
    verified.generation = record.old->generation;
    verified.signed_with_current = false;
  } else {
    return SignatureInvalid();
  }

  // A timestamp exactly `tolerance` away is still accepted, so the MAC must still be remembered
  // at that millisecond: records read as absent from their expires_at on.
  WriteOptions replay_window;
  replay_window.expires_at =
      parsed->timestamp + options_.signature_tolerance + std::chrono::milliseconds(1);
  replay_window.durable = false;
  // But replicated: a failover that lost it would accept this signature once more. A replay
  // record applied with its replication pending answers kUnavailable (no replication out-field).
  replay_window.replicated = true;
  auto remembered = backend_->Create(internal::ReplayKey(record.integrator_id, parsed->mac), "",
                                     replay_window, now);
  if (!remembered.ok()) {
    if (remembered.status().code() == StatusCode::kConflict) {
      return Status::Unauthorized("request already seen (replay)");
    }
    return remembered.status();
  }
  return Verified{std::move(verified), std::move(loaded).value()};
}

Result<VerifiedRequest> CredentialStore::Impl::VerifySignedRequest(const SignedRequest& request) {
  auto verified = Verify(request);
  if (!verified.ok()) return verified.status();
  return std::move(verified->request);
}

Result<IntegratorSecret> CredentialStore::Impl::RotateIntegratorSecret(
    const RequestContext& context, const SignedRequest& request, std::chrono::milliseconds grace) {
  if (Status status = internal::ValidateGrace(grace, options_); !status.ok()) return status;
  auto verified = Verify(request);
  if (!verified.ok()) return verified.status();
  // A graced old secret may still sign ordinary requests, but never a rotation: a leaked old
  // secret must not be able to take the account over.
  if (!verified->request.signed_with_current) {
    return Status::Unauthorized("only the current secret may rotate the secret");
  }
  const std::uint64_t signing_generation = verified->request.generation;

  IntegratorSecret result;
  result.integrator_id = verified->request.integrator_id;
  result.secret = NewIntegratorSecret();
  Replication replication = Replication::kNotAsked;
  auto updated = UpdateIntegrator(
      std::move(verified->integrator),
      [&](IntegratorRecord& record) -> Status {
        // Another rotation won meanwhile: the signing secret is no longer current.
        if (record.current.generation != signing_generation) {
          return Status::Unauthorized("only the current secret may rotate the secret");
        }
        if (!record.enabled) return Status::Unauthorized("integrator disabled");
        const Timestamp now = Now();
        if (grace > std::chrono::milliseconds(0)) {
          auto current = OpenSecret(record.integrator_id, record.current, SecretSlot::kCurrent);
          if (!current) return Status::Internal("the current secret does not open");
          record.old = SealSecret(record.integrator_id, current->view(), SecretSlot::kOld,
                                  record.current.generation, now + grace);
        } else {
          record.old.reset();
        }
        const std::uint64_t generation = record.last_generation + 1;
        record.current = SealSecret(record.integrator_id, result.secret.view(),
                                    SecretSlot::kCurrent, generation, {});
        record.last_generation = generation;
        return Status::Ok();
      },
      &replication);
  if (!updated.ok()) return updated.status();
  result.generation = updated->record.current.generation;
  result.replication_pending = PendingMint(replication);
  if (updated->record.old) result.old_secret_expires_at = updated->record.old->expires_at;
  Audit(context, "integrator.rotate_secret", nullptr, result.integrator_id, result.generation);
  return result;
}

}  // namespace credstore
