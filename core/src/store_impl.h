// Internal: the state behind a CredentialStore, shared by customer_operations.cc and
// integrator_operations.cc.
#ifndef CREDSTORE_CORE_SRC_STORE_IMPL_H_
#define CREDSTORE_CORE_SRC_STORE_IMPL_H_

#include <atomic>
#include <memory>
#include <optional>
#include <string>

#include "argon2_budget.h"
#include "credstore/credential_store.h"
#include "crypto.h"
#include "records.h"
#include "sharded_counter.h"
#include "throttle.h"

namespace credstore {

// A customer named by a request, once its service and API key passed every check.
struct CustomerRef {
  // The configured name (in Options::services, which the store keeps for its whole life): no
  // copy of it per call.
  std::string_view service;
  internal::Digest api_key_digest{};
  internal::CustomerStorageKey storage_key;
  // Set when the ApiKeyValidator refused the key of a Caller::kSecretHolder call (its
  // kUnauthorized): the call still does the work it would do for an allowed key, then refuses.
  std::optional<Status> refused;

  // For audit events, never the API key itself: the digest's first 8 bytes in hex. Computed on
  // demand, since the hot path (VerifyAdminKey) audits nothing.
  std::string ShortId() const {
    return internal::ToHex(
        std::string_view(reinterpret_cast<const char*>(api_key_digest.data()), 8));
  }
};

// A customer record as read, with the version to compare-and-swap against.
struct LoadedCustomer {
  internal::CustomerRecord record;
  Version version = 0;
};

struct LoadedIntegrator {
  internal::IntegratorRecord record;
  Version version = 0;
};

// What a granted SecretAttempt holds: which call it was reserved for, and what the throttle
// counted for it.
struct SecretAttempt::State {
  const void* store = nullptr;  // the CredentialStore::Impl that granted it
  SecretOperation operation = SecretOperation::kRegister;
  CustomerRef customer;
  std::string client_address;
  internal::Throttle::Reservation reservation;
};

class CredentialStore::Impl {
 public:
  // How a call reads the backend and asks the ApiKeyValidator: Get and IsValid (may block), or
  // TryGet and TryIsValid, where "would block" (nullopt) makes the call answer nullopt too. A
  // blocking call and its Try form are one code path that takes this, so they cannot disagree.
  enum class Read { kMayBlock, kWithoutBlocking };

  Impl(std::shared_ptr<StorageBackend> backend, Keyring keyring, Options options,
       std::string dummy_hash);

  // ---- shared plumbing (credential_store.cc) ----
  Timestamp Now() const { return options_.clock->Now(); }
  void Audit(const RequestContext& context, std::string action, const CustomerRef* customer,
             std::string_view integrator_id, std::uint64_t generation);
  // An Argon2id permit, or kUnavailable when the budget is spent.
  Result<internal::Argon2Budget::Permit> AcquireHashPermit();
  Result<std::string> HashSecret(std::string_view secret);
  bool VerifySecret(const std::string& hash, std::string_view secret);
  void CountCasRetry() { stats_cas_retries_.fetch_add(1, std::memory_order_relaxed); }
  // Whether a mint's write applied with its replication pending (credential_store.h,
  // Replication); counted in StoreStats::replication_pending when it did.
  bool PendingMint(Replication replication) {
    if (replication != Replication::kPending) return false;
    stats_replication_pending_.fetch_add(1, std::memory_order_relaxed);
    return true;
  }
  // Keyed BLAKE2b of `data` under the pepper, counted in StoreStats::keyed_digests. Every digest
  // an operation computes goes through here, so the count is the hashing work a call did.
  internal::Digest KeyedDigest(internal::DigestKind kind, std::string_view data) const;
  StoreStats Stats() const;
  Status CheckReady();
  Status CheckWrites() { return backend_->CheckWrites(); }
  Result<std::string> Checkpoint(const RequestContext& context, std::string_view name);

  // ---- customers (customer_operations.cc) ----
  // The calls that run Argon2id, in two steps (credstore/secret_attempt.h). The one-step calls
  // are ReserveAttempt and then the step that takes the attempt.
  using Attempt = std::unique_ptr<SecretAttempt::State>;
  Result<Attempt> ReserveAttempt(const RequestContext& context, SecretOperation operation,
                                 std::string_view service, std::string_view api_key,
                                 std::string_view secret, std::string_view new_secret,
                                 std::chrono::milliseconds grace);
  void RefundAttempt(Attempt attempt);
  // nullptr, or the attempt when it was granted by this store for exactly this call.
  Attempt AttemptFor(Attempt attempt, SecretOperation operation, const RequestContext& context,
                     std::string_view service, std::string_view api_key) const;
  Result<AdminKeyGrant> Register(Attempt attempt, const RequestContext& context,
                                 std::string_view secret);
  Result<AdminKeyGrant> RegenerateAdminKey(Attempt attempt, const RequestContext& context,
                                           std::string_view secret,
                                           std::chrono::milliseconds grace);
  Result<SecretUpdate> UpdateSecret(Attempt attempt, const RequestContext& context,
                                    std::string_view secret, std::string_view new_secret);
  // Always engaged for Read::kMayBlock. Both are MatchAdminKeyOf, answered two ways.
  std::optional<Status> VerifyAdminKey(std::string_view service, std::string_view api_key,
                                       std::string_view admin_key, Read read);
  std::optional<Result<AdminKeyCheck>> CheckAdminKey(std::string_view service,
                                                     std::string_view api_key,
                                                     std::string_view admin_key, Read read);
  std::optional<Result<std::string>> GetSettings(std::string_view service, std::string_view api_key,
                                                 std::string_view admin_key, Read read);
  Result<std::string> PutSettings(const RequestContext& context, std::string_view service,
                                  std::string_view api_key, std::string_view admin_key,
                                  std::string_view settings_json);
  Result<AdminKeyGrant> ResetCustomer(const RequestContext& context, std::string_view service,
                                      std::string_view api_key, std::string_view new_secret);
  Status DeleteCustomer(const RequestContext& context, std::string_view service,
                        std::string_view api_key);
  Status ClearAddressThrottle(const RequestContext& context, std::string_view client_address);
  Status ClearCustomerThrottle(const RequestContext& context, std::string_view service,
                               std::string_view api_key);

  // ---- integrators (integrator_operations.cc) ----
  Result<IntegratorSecret> CreateIntegrator(const RequestContext& context, std::string_view label);
  Result<IntegratorPage> ListIntegrators(std::string_view cursor, std::size_t limit);
  Result<IntegratorInfo> GetIntegrator(std::string_view integrator_id);
  Status SetIntegratorEnabled(const RequestContext& context, std::string_view integrator_id,
                              bool enabled);
  Status DeleteIntegrator(const RequestContext& context, std::string_view integrator_id);
  Result<IntegratorSecret> ResetIntegratorSecret(const RequestContext& context,
                                                 std::string_view integrator_id);
  Result<VerifiedRequest> VerifySignedRequest(const SignedRequest& request);
  Result<IntegratorSecret> RotateIntegratorSecret(const RequestContext& context,
                                                  const SignedRequest& request,
                                                  std::chrono::milliseconds grace);

  // ---- keys of the server (reseal_operations.cc) ----
  Result<ResealReport> ResealUnderNewestMasterKey(const RequestContext& context,
                                                  std::string_view cursor, std::size_t limit);

  bool HasService(std::string_view service) const { return FindService(service) != nullptr; }
  // The configured service named `service`, or nullptr.
  const std::string* FindService(std::string_view service) const;
  bool NeverBlocks() const;
  const Options& options() const { return options_; }

 private:
  // Customers.
  // Checks the service and the API key's form, then asks the ApiKeyValidator — except for the
  // operator's calls, which must reach customers whose key the host has since revoked.
  // With Read::kWithoutBlocking the validator is asked with TryIsValid.
  // For every customer call, a key the validator refuses resolves all the same, marked
  // `refused`, and the call refuses only once its work is done: on the calls that present a
  // secret (kSecretHolder: Register, RegenerateAdminKey, UpdateSecret) after the throttle
  // reservation and the Argon2id work of an allowed key; on the admin-key calls (kCustomer) with
  // the answer of a wrong admin key after its hashes and read. A cheap "not provisioned" would
  // tell anyone which keys are.
  enum class Caller { kCustomer, kSecretHolder, kOperator };
  std::optional<Result<CustomerRef>> ResolveCustomer(std::string_view service,
                                                     std::string_view api_key, Caller caller,
                                                     Read read);
  Result<CustomerRef> ResolveCustomer(std::string_view service, std::string_view api_key,
                                      Caller caller = Caller::kCustomer) {
    return *ResolveCustomer(service, api_key, caller, Read::kMayBlock);
  }
  // The customer's record as stored: Get's answer, or TryGet's (nullopt: would block).
  std::optional<Result<VersionedValue>> ReadCustomer(const CustomerRef& customer, Read read);
  // `stored` decoded, with its version; a failed read's status as it is.
  static Result<LoadedCustomer> DecodeLoaded(const Result<VersionedValue>& stored);
  static Result<LoadedCustomer> DecodeLoaded(const RecordView& stored);
  Result<LoadedCustomer> LoadCustomer(const CustomerRef& customer) {
    return DecodeLoaded(*ReadCustomer(customer, Read::kMayBlock));
  }
  struct CheckedSecret {
    LoadedCustomer customer;
    internal::Argon2Budget::Permit permit;  // held so follow-up hashing stays in budget
  };
  // The customer's bucket of the throttle: its service and API-key digest.
  static std::string ThrottleBucket(const CustomerRef& customer) {
    return std::string(customer.service) + "/" + internal::ToHex(customer.api_key_digest);
  }
  // The device token `context` presents, as its bucket (the digest in hex), iff the customer's
  // record holds it unexpired. nullopt otherwise — no token, a malformed, unknown, expired or
  // another customer's token, no such customer, a key the validator refused — so every stranger
  // gets the same buckets and the same answers. Reads the record: the bucket is chosen before
  // the secret is known.
  std::optional<std::string> DeviceBucketOf(const RequestContext& context,
                                            const CustomerRef& customer);
  // A new device token and the digest the record keeps of it.
  struct MintedDeviceToken {
    SecretString token;
    internal::Digest digest{};
  };
  MintedDeviceToken MintDeviceToken() const;
  // Checks `secret` for the customer `attempt` was reserved for, spending the attempt.
  Result<CheckedSecret> CheckSecret(const SecretAttempt::State& attempt, std::string_view secret);
  // The checks of a secret call's arguments that come before the throttle (kInvalidArgument).
  Status ValidateSecretCall(SecretOperation operation, std::string_view secret,
                            std::string_view new_secret, std::chrono::milliseconds grace) const;
  // An admin key as a caller presented it, hashed once; every check of it compares digests.
  struct PresentedAdminKey {
    internal::Digest digest{};
    bool empty = true;
  };
  // Hashes `admin_key` whatever it is, the empty key included, so that every answer of the calls
  // that check admin keys costs the same keyed hashing.
  PresentedAdminKey PresentAdminKey(std::string_view admin_key) const;
  // Which of the customer's keys `key` is, or kUnauthorized (AdminKeyInvalid) when it is none.
  struct AdminKeyMatch {
    bool graced = false;
    std::optional<Timestamp> expires_at;  // set iff graced
  };
  Result<AdminKeyMatch> MatchAdminKey(const internal::CustomerAdminKeys& keys,
                                      const PresentedAdminKey& key) const;
  Status MatchAdminKey(const internal::CustomerRecord& record, const PresentedAdminKey& key) const;
  // The read of every admin-key check: `inspect` on the record `key` is checked against, in
  // place (StorageBackend::Inspect), read as `read` says. An unknown customer answers as a wrong
  // key, and so does the empty key, without a read (it was hashed all the same). nullopt: would
  // block.
  std::optional<Status> InspectForAdminKey(const CustomerRef& customer,
                                           const PresentedAdminKey& key, Read read,
                                           const StorageBackend::Inspector& inspect);
  // The same read for a call that needs only the admin-key digests, the hot path of every
  // verification: decodes just them, in place, with no copy of the record.
  std::optional<Result<internal::CustomerAdminKeys>> ReadAdminKeys(const CustomerRef& customer,
                                                                   const PresentedAdminKey& key,
                                                                   Read read);
  // The one path of VerifyAdminKey and CheckAdminKey, once the customer is resolved: which of
  // its keys `admin_key` is. nullopt: would block.
  std::optional<Result<AdminKeyMatch>> MatchAdminKeyOf(const CustomerRef& customer,
                                                       std::string_view admin_key, Read read);
  // The whole customer, once `key` is one of its admin keys (Get/PutSettings). nullopt: would
  // block.
  std::optional<Result<LoadedCustomer>> LoadWithAdminKey(const CustomerRef& customer,
                                                         const PresentedAdminKey& key, Read read);
  // `replication`: set by a call that mints (see credential_store.h, Replication), so that a
  // write applied with its replication pending succeeds and says so there.
  template <typename Mutate>
  Result<LoadedCustomer> UpdateCustomer(const CustomerRef& customer, LoadedCustomer loaded,
                                        Mutate&& mutate, Replication* replication = nullptr);

  // Integrators.
  Result<LoadedIntegrator> LoadIntegrator(std::string_view integrator_id);
  struct Verified {
    VerifiedRequest request;
    LoadedIntegrator integrator;
  };
  Result<Verified> Verify(const SignedRequest& request);
  internal::SealedSecret SealSecret(std::string_view integrator_id, std::string_view secret,
                                    internal::SecretSlot slot, std::uint64_t generation,
                                    std::optional<Timestamp> expires_at) const;
  std::optional<SecretString> OpenSecret(std::string_view integrator_id,
                                         const internal::SealedSecret& sealed,
                                         internal::SecretSlot slot) const;
  template <typename Mutate>
  Result<LoadedIntegrator> UpdateIntegrator(LoadedIntegrator loaded, Mutate&& mutate,
                                            Replication* replication = nullptr);
  IntegratorInfo Describe(const internal::IntegratorRecord& record) const;

  // Re-sealing (reseal_operations.cc).
  enum class ResealOutcome { kResealed, kAlready, kFailed, kGone };
  // One integrator record, by compare-and-swap retried against the fresh record.
  Result<ResealOutcome> ResealIntegrator(const RequestContext& context,
                                         std::string_view integrator_id);
  // True iff some integrator record still holds a live secret under an older master key.
  Result<bool> AnyIntegratorNeedsAnOlderKey();

  std::shared_ptr<StorageBackend> backend_;
  const Keyring keyring_;
  const internal::KeyedHasher hasher_;  // under keyring_'s pepper, which never changes
  const Options options_;
  const std::string dummy_hash_;  // verified when the customer is unknown: same work, same answer
  internal::Argon2Budget budget_;
  internal::Throttle throttle_;

  std::atomic<std::uint64_t> stats_hashes_{0};
  std::atomic<std::uint64_t> stats_verifications_{0};
  std::atomic<std::uint64_t> stats_budget_rejections_{0};
  std::atomic<std::uint64_t> stats_throttled_{0};
  std::atomic<std::uint64_t> stats_cas_retries_{0};
  std::atomic<std::uint64_t> stats_replication_pending_{0};
  mutable internal::ShardedCounter stats_keyed_digests_;  // counted by const methods too

  friend class CredentialStore;
};

}  // namespace credstore

#endif  // CREDSTORE_CORE_SRC_STORE_IMPL_H_
