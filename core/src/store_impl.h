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
#include "throttle.h"

namespace credstore {

// A customer named by a request, once its service and API key passed every check.
struct CustomerRef {
  std::string service;
  internal::Digest api_key_digest{};
  std::string storage_key;

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

class CredentialStore::Impl {
 public:
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
  StoreStats Stats() const;

  // ---- customers (customer_operations.cc) ----
  Result<AdminKeyGrant> Register(const RequestContext& context, std::string_view service,
                                 std::string_view api_key, std::string_view secret);
  Result<AdminKeyGrant> RegenerateAdminKey(const RequestContext& context, std::string_view service,
                                           std::string_view api_key, std::string_view secret,
                                           std::chrono::milliseconds grace);
  Status UpdateSecret(const RequestContext& context, std::string_view service,
                      std::string_view api_key, std::string_view secret,
                      std::string_view new_secret);
  Status VerifyAdminKey(std::string_view service, std::string_view api_key,
                        std::string_view admin_key);
  Result<std::string> GetSettings(std::string_view service, std::string_view api_key,
                                  std::string_view admin_key);
  Result<std::string> PutSettings(const RequestContext& context, std::string_view service,
                                  std::string_view api_key, std::string_view admin_key,
                                  std::string_view settings_json);
  Result<AdminKeyGrant> ResetCustomer(const RequestContext& context, std::string_view service,
                                      std::string_view api_key, std::string_view new_secret);
  Status DeleteCustomer(const RequestContext& context, std::string_view service,
                        std::string_view api_key);

  // ---- integrators (integrator_operations.cc) ----
  Result<IntegratorSecret> CreateIntegrator(const RequestContext& context, std::string_view label);
  Result<IntegratorPage> ListIntegrators(std::string_view cursor, std::size_t limit);
  Result<IntegratorInfo> GetIntegrator(std::string_view integrator_id);
  Status DisableIntegrator(const RequestContext& context, std::string_view integrator_id);
  Result<IntegratorSecret> ResetIntegratorSecret(const RequestContext& context,
                                                 std::string_view integrator_id);
  Result<VerifiedRequest> VerifySignedRequest(const SignedRequest& request);
  Result<IntegratorSecret> RotateIntegratorSecret(const RequestContext& context,
                                                  const SignedRequest& request,
                                                  std::chrono::milliseconds grace);

  bool HasService(std::string_view service) const;
  const Options& options() const { return options_; }

 private:
  // Customers.
  // Checks the service and the API key's form, then asks the ApiKeyValidator — except for the
  // operator's calls, which must reach customers whose key the host has since revoked.
  enum class Caller { kCustomer, kOperator };
  Result<CustomerRef> ResolveCustomer(std::string_view service, std::string_view api_key,
                                      Caller caller = Caller::kCustomer);
  Result<LoadedCustomer> LoadCustomer(const CustomerRef& customer);
  struct CheckedSecret {
    LoadedCustomer customer;
    internal::Argon2Budget::Permit permit;  // held so follow-up hashing stays in budget
  };
  Result<CheckedSecret> CheckSecret(const RequestContext& context, const CustomerRef& customer,
                                    std::string_view secret);
  Status CheckAdminKey(const internal::CustomerAdminKeys& keys, std::string_view admin_key) const;
  Status CheckAdminKey(const internal::CustomerRecord& record, std::string_view admin_key) const;
  Result<LoadedCustomer> LoadWithAdminKey(const CustomerRef& customer, std::string_view admin_key);
  template <typename Mutate>
  Result<LoadedCustomer> UpdateCustomer(const CustomerRef& customer, LoadedCustomer loaded,
                                        Mutate&& mutate);

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
  Result<LoadedIntegrator> UpdateIntegrator(LoadedIntegrator loaded, Mutate&& mutate);
  IntegratorInfo Describe(const internal::IntegratorRecord& record) const;

  std::shared_ptr<StorageBackend> backend_;
  const Keyring keyring_;
  const Options options_;
  const std::string dummy_hash_;  // verified when the customer is unknown: same work, same answer
  internal::Argon2Budget budget_;
  internal::Throttle throttle_;

  std::atomic<std::uint64_t> stats_hashes_{0};
  std::atomic<std::uint64_t> stats_verifications_{0};
  std::atomic<std::uint64_t> stats_budget_rejections_{0};
  std::atomic<std::uint64_t> stats_throttled_{0};
  std::atomic<std::uint64_t> stats_cas_retries_{0};

  friend class CredentialStore;
};

}  // namespace credstore

#endif  // CREDSTORE_CORE_SRC_STORE_IMPL_H_
