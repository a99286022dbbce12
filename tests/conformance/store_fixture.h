// The fixture of the CredentialStore conformance tests (tests/conformance/credential_*_test.cc).
//
// It opens a CredentialStore over Harness().OpenFresh() with options that make tests fast and
// deterministic: the cheapest Argon2id cost, a ManualClock (time moves only when a test says so;
// nothing sleeps), a capturing audit sink and a generated keyring. The suite never asks which
// backend it runs on.
//
// Thread safety: Sign*, Verify*, Rotate*, UniqueBody, Context and store() may be called from many
// threads at once. The Must* helpers, Reopen*, OpenSecondStore and Snapshot assert with
// BOOST_TEST, which only the test's own thread may use.
#ifndef CREDSTORE_TESTS_CONFORMANCE_STORE_FIXTURE_H_
#define CREDSTORE_TESTS_CONFORMANCE_STORE_FIXTURE_H_

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "credstore/audit.h"
#include "credstore/clock.h"
#include "credstore/credential_store.h"
#include "credstore/keyring.h"
#include "credstore/options.h"
#include "credstore/request_context.h"
#include "credstore/signed_request.h"
#include "credstore/status.h"
#include "credstore/storage_backend.h"
#include "support/test_helpers.h"

namespace credstore::testing {

inline constexpr std::string_view kService = "geofencing";
inline constexpr std::string_view kOtherService = "locationHistory";
inline constexpr std::string_view kRotateTarget = "/v1/integrator/regenerate-secret";
// Documentation addresses (RFC 5737), so no test ever names a real client.
inline constexpr std::string_view kDefaultAddress = "198.51.100.7";

// Records every event, for tests to inspect. Thread-safe.
class CapturingAuditSink final : public AuditSink {
 public:
  void Record(const AuditEvent& event) override;
  std::vector<AuditEvent> Events() const;
  std::size_t Count() const;

 private:
  mutable std::mutex mutex_;
  std::vector<AuditEvent> events_;
};

// Makes racers meet: once armed, every Get of a key starting with `prefix` (after it read the
// record) waits until `parties` such Gets have arrived (or a generous deadline passed), then all
// return together. So every racer holds the same version of a record before any of them
// writes, and the compare-and-swap
// conflict path — where a core must re-check its rules against the fresh record — is taken on
// every run instead of by luck of scheduling. The deadline only bounds a broken run; it never
// moves the store's clock.
class RaceGate {
 public:
  void Arm(std::string prefix, int parties);
  // Another way to interleave, on one thread: the next Get of a key starting with `prefix` runs
  // `interleave` after it read the record and before it returns, so the caller goes on with a
  // record that `interleave` has just made stale. Runs once.
  void ArmInterleave(std::string prefix, std::function<void()> interleave);
  // Called by GatedBackend::Get.
  void Arrive(std::string_view key);
  // True iff the last armed gate opened because all parties arrived (not by the deadline).
  bool ReleasedTogether() const;
  // True iff the last armed interleave ran.
  bool Interleaved() const;

 private:
  mutable std::mutex mutex_;
  std::condition_variable opened_;
  std::string interleave_prefix_;
  std::function<void()> interleave_;
  bool interleaved_ = false;
  std::string prefix_;
  bool armed_ = false;
  bool released_together_ = false;
  int parties_ = 0;
  int arrived_ = 0;
};

// A StorageBackend that forwards every call to `inner`, holding Gets at `gate`.
class GatedBackend final : public StorageBackend {
 public:
  GatedBackend(std::shared_ptr<StorageBackend> inner, std::shared_ptr<RaceGate> gate)
      : inner_(std::move(inner)), gate_(std::move(gate)) {}
  std::string_view Name() const override { return inner_->Name(); }
  Result<VersionedValue> Get(std::string_view key, Timestamp now) override;
  Status CheckHealth() override { return inner_->CheckHealth(); }
  Status CheckWrites() override { return inner_->CheckWrites(); }
  Result<Version> Create(std::string_view key, std::string_view value, const WriteOptions& options,
                         Timestamp now) override;
  Result<Version> CompareAndSwap(std::string_view key, Version expected, std::string_view value,
                                 const WriteOptions& options, Timestamp now) override;
  Status Erase(std::string_view key, Version expected, Timestamp now) override;
  Result<ScanPage> Scan(std::string_view prefix, std::string_view cursor, std::size_t limit,
                        Timestamp now) override;

 private:
  std::shared_ptr<StorageBackend> inner_;
  std::shared_ptr<RaceGate> gate_;
};

// A SignedRequest together with the bytes it views.
struct OwnedSignedRequest {
  std::string integrator_key;
  std::string timestamp;
  std::string signature;
  std::string method;
  std::string target;
  std::string body;

  SignedRequest View() const {
    return SignedRequest{integrator_key, timestamp, signature, method, target, body};
  }
};

// Unix milliseconds as decimal text, the X-Timestamp form.
std::string MillisText(Timestamp t);

// True iff `a` and `b` hold the same keys with the same values, versions and expiries.
bool SameRecords(const std::vector<ScanEntry>& a, const std::vector<ScanEntry>& b);

// Runs body(0) … body(count - 1) on `count` threads that all start together (a latch releases
// them once every thread exists), and joins them. `body` must not use BOOST_TEST.
void RunConcurrently(int count, const std::function<void(int)>& body);

// A printable form of a Status for BOOST_TEST messages.
std::string Describe(const Status& status);

struct StoreFixture {
  StoreFixture();
  ~StoreFixture();
  StoreFixture(const StoreFixture&) = delete;
  StoreFixture& operator=(const StoreFixture&) = delete;

  // The options every test starts from: minimum Argon2id cost, the fixture's clock and audit
  // sink, 64 concurrent hashes, default throttle policy.
  Options TestOptions() const;

  // Replaces the store by a new one over a fresh backend (Harness().OpenFresh()), opened with
  // `new_options`. Fails the test case if Open fails.
  void Reopen(Options new_options);
  // As Reopen, with the backend (and any second store's backend) wrapped in a GatedBackend at
  // `gate`.
  void ReopenGated(Options new_options);
  // As Reopen, with the backend wrapped in a CountingBackend (set in `counting`) in `mode`: to
  // count what a call read and wrote, or to make every TryGet answer "would block".
  void ReopenCounting(Options new_options, CountingBackend::TryGetMode mode);

  // A second CredentialStore over Harness().OpenAnotherHandle() — the store most recently
  // opened — with `with_keyring` and the fixture's options: as a second server would open it.
  Result<std::unique_ptr<CredentialStore>> OpenSecondStore(const Keyring& with_keyring);
  // As above with the fixture's keyring; fails the test case if Open fails.
  std::unique_ptr<CredentialStore> MustOpenSecondStore();

  CredentialStore& store() { return *store_; }

  RequestContext Context(std::string_view address = kDefaultAddress) const;

  // Registers `api_key` (on kService unless told) from kDefaultAddress; fails the test case
  // if that does not work.
  AdminKeyGrant MustRegister(std::string_view api_key, std::string_view secret,
                             std::string_view service = kService);
  // Creates an integrator; fails the test case if that does not work.
  IntegratorSecret MustCreateIntegrator(std::string_view label = "Acme Fleet");

  // A body never used before by this fixture, so requests signed with it are never replays.
  std::string UniqueBody();

  // A request signed with `secret` at `timestamp` (the clock's now if empty).
  OwnedSignedRequest Sign(std::string_view integrator_id, std::string_view secret,
                          std::string_view method, std::string_view target, std::string_view body,
                          std::string_view timestamp = {}) const;
  // A POST to kRotateTarget with a unique body, signed with `secret` at the clock's now.
  OwnedSignedRequest SignFresh(std::string_view integrator_id, std::string_view secret);

  // VerifySignedRequest of a fresh request signed with `secret` (on `on`, default store()).
  Result<VerifiedRequest> VerifyFresh(std::string_view integrator_id, std::string_view secret,
                                      CredentialStore* on = nullptr);
  // RotateIntegratorSecret signed (freshly) with `secret`.
  Result<IntegratorSecret> RotateWith(std::string_view integrator_id, std::string_view secret,
                                      std::chrono::milliseconds grace,
                                      CredentialStore* on = nullptr);

  // Every live record of the backend, at the clock's now.
  std::vector<ScanEntry> Snapshot();

  // Starts far ahead of the wall clock (kBackendTestEpoch, 2100-01-01), so a backend's native
  // TTL, which runs on real time, never collects a record the store still treats as live.
  std::shared_ptr<ManualClock> clock = std::make_shared<ManualClock>(kBackendTestEpoch);
  std::shared_ptr<CapturingAuditSink> audit = std::make_shared<CapturingAuditSink>();
  Keyring keyring = Keyring::Generate();
  Options options;
  std::shared_ptr<StorageBackend> backend;
  std::unique_ptr<CredentialStore> store_;
  // Set by ReopenGated.
  std::shared_ptr<RaceGate> gate;
  // Set by ReopenCounting.
  std::shared_ptr<CountingBackend> counting;

 private:
  // Sets `backend` to `over` and opens store_ on it; fails the test case if Open fails.
  void OpenStoreOver(std::shared_ptr<StorageBackend> over);

  std::atomic<std::uint64_t> next_body_{0};
};

}  // namespace credstore::testing

#endif  // CREDSTORE_TESTS_CONFORMANCE_STORE_FIXTURE_H_
