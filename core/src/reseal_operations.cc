// Re-sealing under the newest master key: what lets an older master key leave the key file.
//
// Two kinds of record hold values sealed under a master key: integrator records (the current
// secret and a graced old one) and the keycheck record. Integrators are re-sealed one record at
// a time, each by a compare-and-swap against the record as read, so the store keeps serving and
// a concurrent rotation is re-sealed as it stands, never overwritten. The keycheck record moves
// last, and only once no integrator record still needs an older key: a store whose keycheck is
// under the newest key is one that opens without the older keys, so moving it early would let an
// operator retire a key that some secret still needs.
#include "keycheck.h"
#include "store_impl.h"

namespace credstore {
namespace {

using internal::IntegratorRecord;
using internal::SealedSecret;
using internal::SecretSlot;

constexpr std::size_t kMaxResealPage = 1000;

// An old secret verifies only before its expiry (see Verify); after it, it never will again, so
// it needs no key.
bool IsLive(const SealedSecret& old, Timestamp now) {
  return old.expires_at && now < *old.expires_at;
}

// True iff a secret of `record` that can still verify is sealed under another key than `newest`.
bool NeedsReseal(const IntegratorRecord& record, std::uint32_t newest, Timestamp now) {
  if (record.current.master_key_id != newest) return true;
  return record.old && IsLive(*record.old, now) && record.old->master_key_id != newest;
}

}  // namespace

Result<CredentialStore::Impl::ResealOutcome> CredentialStore::Impl::ResealIntegrator(
    const RequestContext& context, std::string_view integrator_id) {
  const std::uint32_t newest = keyring_.current_master().id;
  const std::string key = internal::IntegratorKey(integrator_id);
  for (int attempt = 0; attempt < options_.max_cas_attempts; ++attempt) {
    if (attempt > 0) CountCasRetry();
    auto loaded = LoadIntegrator(integrator_id);
    if (!loaded.ok()) {
      if (loaded.status().code() == StatusCode::kNotFound) return ResealOutcome::kGone;
      if (loaded.status().code() == StatusCode::kInternal) return ResealOutcome::kFailed;
      return loaded.status();
    }
    const Timestamp now = Now();
    IntegratorRecord updated = loaded->record;
    if (!NeedsReseal(updated, newest, now)) return ResealOutcome::kAlready;
    // The same slot and generation: the associated data changes only in the master key id, so
    // the re-sealed value opens exactly where the old one did.
    auto reseal = [&](SealedSecret& sealed, SecretSlot slot) {
      if (sealed.master_key_id == newest) return true;
      std::optional<SecretString> secret = OpenSecret(integrator_id, sealed, slot);
      if (!secret) return false;
      sealed =
          SealSecret(integrator_id, secret->view(), slot, sealed.generation, sealed.expires_at);
      return true;
    };
    if (!reseal(updated.current, SecretSlot::kCurrent)) return ResealOutcome::kFailed;
    if (updated.old && !IsLive(*updated.old, now)) {
      updated.old.reset();
    } else if (updated.old && !reseal(*updated.old, SecretSlot::kOld)) {
      return ResealOutcome::kFailed;
    }
    auto version = backend_->CompareAndSwap(key, loaded->version, internal::Encode(updated),
                                            WriteOptions{}, now);
    if (version.ok()) {
      Audit(context, "integrator.reseal", nullptr, integrator_id, updated.current.generation);
      return ResealOutcome::kResealed;
    }
    if (version.status().code() == StatusCode::kNotFound) return ResealOutcome::kGone;
    // A rotation, reset or another re-seal won: read the record again and start over from it.
    if (version.status().code() != StatusCode::kConflict) return version.status();
  }
  return ResealOutcome::kFailed;  // it kept changing; the next run tries again
}

Result<bool> CredentialStore::Impl::AnyIntegratorNeedsAnOlderKey() {
  const std::uint32_t newest = keyring_.current_master().id;
  std::string cursor;
  do {
    const Timestamp now = Now();
    auto page = backend_->Scan(internal::kIntegratorKeyPrefix, cursor, kMaxResealPage, now);
    if (!page.ok()) return page.status();
    for (const ScanEntry& entry : page->entries) {
      auto record = internal::DecodeIntegrator(entry.record.value);
      // A record that does not decode opens under no key: keeping an older key cannot help it.
      if (record.ok() && NeedsReseal(*record, newest, now)) return true;
    }
    cursor = std::move(page->next_cursor);
  } while (!cursor.empty());
  return false;
}

Result<ResealReport> CredentialStore::Impl::ResealUnderNewestMasterKey(
    const RequestContext& context, std::string_view cursor, std::size_t limit) {
  if (limit > kMaxResealPage) {
    return Status::InvalidArgument("limit must be between 1 and 1000 (or 0: every integrator)");
  }
  constexpr std::string_view kPrefix = internal::kIntegratorKeyPrefix;
  ResealReport report;
  std::string next = cursor.empty() ? std::string() : internal::IntegratorKey(cursor);
  std::size_t taken = 0;
  do {
    const std::size_t wanted = limit == 0 ? kMaxResealPage : limit - taken;
    auto page = backend_->Scan(kPrefix, next, wanted, Now());
    if (!page.ok()) return page.status();
    for (const ScanEntry& entry : page->entries) {
      auto outcome = ResealIntegrator(context, std::string_view(entry.key).substr(kPrefix.size()));
      if (!outcome.ok()) return outcome.status();
      switch (*outcome) {
        case ResealOutcome::kResealed:
          ++report.integrators_resealed;
          break;
        case ResealOutcome::kAlready:
          ++report.integrators_already;
          break;
        case ResealOutcome::kFailed:
          ++report.integrators_failed;
          break;
        case ResealOutcome::kGone:  // deleted meanwhile: nothing left to seal
          break;
      }
      ++taken;
    }
    next = std::move(page->next_cursor);
  } while (!next.empty() && (limit == 0 || taken < limit));
  if (!next.empty()) {
    report.next_cursor = next.starts_with(kPrefix) ? next.substr(kPrefix.size()) : next;
    return report;
  }

  // The scan is complete. Pages of earlier calls may have failed, and servers may have written
  // since: only the records as they stand now say whether an older key is still needed.
  auto needs_older_key = AnyIntegratorNeedsAnOlderKey();
  if (!needs_older_key.ok()) return needs_older_key.status();
  if (*needs_older_key) return report;
  auto keycheck = internal::ResealKeycheck(*backend_, keyring_, Now(), options_.max_cas_attempts);
  if (!keycheck.ok()) return keycheck.status();
  if (*keycheck == internal::KeycheckReseal::kResealed) {
    report.keycheck = ResealReport::Keycheck::kResealed;
    Audit(context, "keycheck.reseal", nullptr, {}, 0);
  } else {
    report.keycheck = ResealReport::Keycheck::kAlready;
  }
  return report;
}

}  // namespace credstore
