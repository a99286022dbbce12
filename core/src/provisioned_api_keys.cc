// Operator-provisioned API keys: one durable record per (service, key digest). The record's
// presence is the whole fact; its value only says when it was provisioned, in a format of its
// own so a foreign value under the prefix reads as corrupt rather than as "provisioned".
#include "credstore/provisioned_api_keys.h"

#include <cstdint>
#include <iostream>
#include <memory>
#include <utility>

#include "crypto.h"
#include "validation.h"

namespace credstore {
namespace {

constexpr std::string_view kKeyPrefix = "p/";
constexpr std::uint8_t kValueFormat = 1;
constexpr char kValueType = 'p';
constexpr std::size_t kValueBytes = 2 + 8;  // format, type, provisioned-at (big-endian ms)
// Revoke is a read then a versioned erase; it loses only to a concurrent revoke (then the key is
// gone, which is what was asked) or to an erase-and-reprovision, so a few attempts suffice.
constexpr int kMaxRevokeAttempts = 8;

Status NotProvisioned() { return Status::Unauthorized("API key not provisioned"); }

Status ValidateArguments(std::string_view service, std::string_view api_key) {
  if (!internal::IsValidServiceName(service)) {
    return Status::InvalidArgument("service must be 1-64 characters of [A-Za-z0-9_-]");
  }
  if (!IsWellFormedApiKey(api_key)) {
    return Status::InvalidArgument("key must be 8-128 characters of [A-Za-z0-9_-]");
  }
  return Status::Ok();
}

std::string EncodeValue(Timestamp provisioned_at) {
  std::string out;
  out.reserve(kValueBytes);
  out.push_back(static_cast<char>(kValueFormat));
  out.push_back(kValueType);
  const auto ms = static_cast<std::uint64_t>(provisioned_at.time_since_epoch().count());
  for (int shift = 56; shift >= 0; shift -= 8) out.push_back(static_cast<char>(ms >> shift));
  return out;
}

bool IsProvisionedValue(std::string_view value) {
  return value.size() == kValueBytes && static_cast<std::uint8_t>(value[0]) == kValueFormat &&
         value[1] == kValueType;
}

}  // namespace

struct ProvisionedApiKeys::Located {
  std::string service;
  std::string storage_key;  // p/{service}/{hex digest}
  std::string short_id;     // first 16 hex digits of the digest, for audit events
};

ProvisionedApiKeys::ProvisionedApiKeys(std::shared_ptr<StorageBackend> backend,
                                       const Keyring& keyring, std::shared_ptr<const Clock> clock,
                                       std::shared_ptr<AuditSink> audit)
    : backend_(std::move(backend)),
      hasher_(std::make_unique<internal::KeyedHasher>(keyring.pepper().bytes)),
      clock_(std::move(clock)),
      audit_(std::move(audit)) {
  if (!clock_) clock_ = std::make_shared<SystemClock>();
  if (!audit_) audit_ = std::make_shared<JsonLinesAuditSink>(std::clog);
}

ProvisionedApiKeys::~ProvisionedApiKeys() = default;  // KeyedHasher wipes its keyed state

ProvisionedApiKeys::Located ProvisionedApiKeys::Locate(std::string_view service,
                                                       std::string_view api_key) const {
  // The customer record's own digest kind: a provisioned key and its configuration share one
  // digest, and the distinct storage prefix keeps the two records apart.
  const internal::Digest digest = hasher_->Hash(internal::DigestKind::kApiKey, api_key);
  std::string hex = internal::ToHex(digest);
  Located located;
  located.service = std::string(service);
  located.storage_key = std::string(kKeyPrefix) + located.service + "/" + hex;
  located.short_id = hex.substr(0, 16);
  return located;
}

void ProvisionedApiKeys::Audit(std::string_view action, const Located& key,
                               const RequestContext& context) {
  AuditEvent event;
  event.at = clock_->Now();
  event.action = std::string(action);
  event.service = key.service;
  event.customer_id = key.short_id;
  event.request_id = context.request_id;
  event.client_address = context.client_address;
  audit_->Record(event);
}

Status ProvisionedApiKeys::Provision(std::string_view service, std::string_view api_key,
                                     const RequestContext& context) {
  if (Status status = ValidateArguments(service, api_key); !status.ok()) return status;
  const Located key = Locate(service, api_key);
  const Timestamp now = clock_->Now();
  auto created = backend_->Create(key.storage_key, EncodeValue(now), WriteOptions{}, now);
  if (!created.ok()) {
    // Already provisioned: nothing to change, and nothing to audit.
    if (created.status().code() == StatusCode::kConflict) return Status::Ok();
    return created.status();
  }
  Audit("api_key.provision", key, context);
  return Status::Ok();
}

Status ProvisionedApiKeys::Revoke(std::string_view service, std::string_view api_key,
                                  const RequestContext& context) {
  if (Status status = ValidateArguments(service, api_key); !status.ok()) return status;
  const Located key = Locate(service, api_key);
  for (int attempt = 0; attempt < kMaxRevokeAttempts; ++attempt) {
    const Timestamp now = clock_->Now();
    auto stored = backend_->Get(key.storage_key, now);
    if (!stored.ok()) {
      if (stored.status().code() == StatusCode::kNotFound) {
        return Status::NotFound("API key not provisioned");
      }
      return stored.status();
    }
    Status erased = backend_->Erase(key.storage_key, stored->version, now);
    if (erased.ok()) {
      Audit("api_key.revoke", key, context);
      return Status::Ok();
    }
    if (erased.code() == StatusCode::kNotFound) {
      return Status::NotFound("API key not provisioned");
    }
    if (erased.code() != StatusCode::kConflict) return erased;
  }
  return Status::Unavailable("API key revoke lost too many races; retry");
}

Status ProvisionedApiKeys::IsValid(std::string_view service, std::string_view api_key) {
  return *Check(service, api_key, /*may_block=*/true);  // engaged: Get always answers
}

std::optional<Status> ProvisionedApiKeys::TryIsValid(std::string_view service,
                                                     std::string_view api_key) {
  return Check(service, api_key, /*may_block=*/false);
}

bool ProvisionedApiKeys::NeverBlocks() const { return backend_->AnswersFromMemory(); }

// IsValid and TryIsValid differ only in how the record is read, so both forms give one answer.
std::optional<Status> ProvisionedApiKeys::Check(std::string_view service, std::string_view api_key,
                                                bool may_block) {
  if (!ValidateArguments(service, api_key).ok()) return NotProvisioned();
  const Located key = Locate(service, api_key);
  const Timestamp now = clock_->Now();
  std::optional<Result<VersionedValue>> stored =
      may_block ? backend_->Get(key.storage_key, now) : backend_->TryGet(key.storage_key, now);
  if (!stored) return std::nullopt;
  if (!stored->ok()) {
    if (stored->status().code() == StatusCode::kNotFound) return NotProvisioned();
    return stored->status();
  }
  if (!IsProvisionedValue((*stored)->value)) {
    return Status::Internal("corrupt record: provisioned API key");
  }
  return Status::Ok();
}

}  // namespace credstore
