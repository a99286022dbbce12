#include "store_fixture.h"

#include <boost/test/unit_test.hpp>
#include <latch>
#include <sstream>
#include <thread>
#include <utility>

#include "support/backend_harness.h"
#include "support/test_helpers.h"

namespace credstore::testing {

void CapturingAuditSink::Record(const AuditEvent& event) {
  std::lock_guard lock(mutex_);
  events_.push_back(event);
}

std::vector<AuditEvent> CapturingAuditSink::Events() const {
  std::lock_guard lock(mutex_);
  return events_;
}

std::size_t CapturingAuditSink::Count() const {
  std::lock_guard lock(mutex_);
  return events_.size();
}

void RaceGate::Arm(std::string prefix, int parties) {
  std::lock_guard lock(mutex_);
  prefix_ = std::move(prefix);
  parties_ = parties;
  arrived_ = 0;
  armed_ = true;
  released_together_ = false;
}

void RaceGate::ArmInterleave(std::string prefix, std::function<void()> interleave) {
  std::lock_guard lock(mutex_);
  interleave_prefix_ = std::move(prefix);
  interleave_ = std::move(interleave);
  interleaved_ = false;
}

bool RaceGate::Interleaved() const {
  std::lock_guard lock(mutex_);
  return interleaved_;
}

void RaceGate::Arrive(std::string_view key) {
  std::unique_lock lock(mutex_);
  if (interleave_ && key.starts_with(interleave_prefix_)) {
    // Disarmed before it runs: the interleaved calls read the same keys.
    std::function<void()> interleave = std::move(interleave_);
    interleave_ = nullptr;
    interleaved_ = true;
    lock.unlock();
    interleave();
    return;
  }
  if (!armed_ || !key.starts_with(prefix_)) return;
  if (++arrived_ >= parties_) {
    armed_ = false;
    released_together_ = true;
    opened_.notify_all();
    return;
  }
  // A core that reads the record fewer times than expected would otherwise hang the suite.
  if (!opened_.wait_for(lock, std::chrono::seconds(20), [this] { return !armed_; })) {
    armed_ = false;
    opened_.notify_all();
  }
}

bool RaceGate::ReleasedTogether() const {
  std::lock_guard lock(mutex_);
  return released_together_;
}

Result<VersionedValue> GatedBackend::Get(std::string_view key, Timestamp now) {
  // Read first, then wait: every racer then holds the same version, however the threads are
  // scheduled once the gate opens.
  Result<VersionedValue> result = inner_->Get(key, now);
  gate_->Arrive(key);
  return result;
}

Result<Version> GatedBackend::Create(std::string_view key, std::string_view value,
                                     const WriteOptions& options, Timestamp now) {
  return inner_->Create(key, value, options, now);
}

Result<Version> GatedBackend::CompareAndSwap(std::string_view key, Version expected,
                                             std::string_view value, const WriteOptions& options,
                                             Timestamp now) {
  return inner_->CompareAndSwap(key, expected, value, options, now);
}

Status GatedBackend::Erase(std::string_view key, Version expected, Timestamp now) {
  return inner_->Erase(key, expected, now);
}

Result<ScanPage> GatedBackend::Scan(std::string_view prefix, std::string_view cursor,
                                    std::size_t limit, Timestamp now) {
  return inner_->Scan(prefix, cursor, limit, now);
}

std::string MillisText(Timestamp t) { return std::to_string(t.time_since_epoch().count()); }

bool SameRecords(const std::vector<ScanEntry>& a, const std::vector<ScanEntry>& b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (a[i].key != b[i].key || a[i].record.value != b[i].record.value ||
        a[i].record.version != b[i].record.version ||
        a[i].record.expires_at != b[i].record.expires_at) {
      return false;
    }
  }
  return true;
}

void RunConcurrently(int count, const std::function<void(int)>& body) {
  std::latch start(count);
  std::vector<std::thread> threads;
  threads.reserve(static_cast<std::size_t>(count));
  for (int i = 0; i < count; ++i) {
    threads.emplace_back([&start, &body, i] {
      start.arrive_and_wait();
      body(i);
    });
  }
  for (std::thread& thread : threads) thread.join();
}

std::string Describe(const Status& status) { return status.ok() ? "ok" : status.ToString(); }

StoreFixture::StoreFixture() { Reopen(TestOptions()); }

StoreFixture::~StoreFixture() = default;

Options StoreFixture::TestOptions() const {
  Options result;
  result.argon2 = Argon2Cost::MinimumForTests();
  result.max_concurrent_hashes = 64;
  result.clock = clock;
  result.audit = audit;
  return result;
}

void StoreFixture::Reopen(Options new_options) {
  store_.reset();
  gate.reset();
  counting.reset();
  options = std::move(new_options);
  OpenStoreOver(Harness().OpenFresh());
}

void StoreFixture::ReopenGated(Options new_options) {
  store_.reset();
  counting.reset();
  options = std::move(new_options);
  gate = std::make_shared<RaceGate>();
  std::shared_ptr<StorageBackend> fresh = Harness().OpenFresh();
  BOOST_TEST_REQUIRE(fresh != nullptr, "the harness returned no backend");
  OpenStoreOver(std::make_shared<GatedBackend>(std::move(fresh), gate));
}

void StoreFixture::ReopenCounting(Options new_options, CountingBackend::TryGetMode mode) {
  store_.reset();
  gate.reset();
  options = std::move(new_options);
  std::shared_ptr<StorageBackend> fresh = Harness().OpenFresh();
  BOOST_TEST_REQUIRE(fresh != nullptr, "the harness returned no backend");
  counting = std::make_shared<CountingBackend>(std::move(fresh), mode);
  OpenStoreOver(counting);
}

void StoreFixture::OpenStoreOver(std::shared_ptr<StorageBackend> over) {
  backend = std::move(over);
  BOOST_TEST_REQUIRE(backend != nullptr, "the harness returned no backend");
  Result<std::unique_ptr<CredentialStore>> opened =
      CredentialStore::Open(backend, keyring, options);
  BOOST_TEST_REQUIRE(opened.ok(), "CredentialStore::Open failed: " << Describe(opened.status()));
  store_ = std::move(opened).value();
}

Result<std::unique_ptr<CredentialStore>> StoreFixture::OpenSecondStore(
    const Keyring& with_keyring) {
  std::shared_ptr<StorageBackend> handle = Harness().OpenAnotherHandle();
  BOOST_TEST_REQUIRE(handle != nullptr, "the harness returned no second handle");
  if (gate) handle = std::make_shared<GatedBackend>(std::move(handle), gate);
  return CredentialStore::Open(std::move(handle), with_keyring, options);
}

std::unique_ptr<CredentialStore> StoreFixture::MustOpenSecondStore() {
  Result<std::unique_ptr<CredentialStore>> opened = OpenSecondStore(keyring);
  BOOST_TEST_REQUIRE(opened.ok(), "opening a second store failed: " << Describe(opened.status()));
  return std::move(opened).value();
}

RequestContext StoreFixture::Context(std::string_view address) const {
  RequestContext context;
  context.client_address = std::string(address);
  context.request_id = "req-test";
  return context;
}

AdminKeyGrant StoreFixture::MustRegister(std::string_view api_key, std::string_view secret,
                                         std::string_view service) {
  Result<AdminKeyGrant> grant = store().Register(Context(), service, api_key, secret);
  BOOST_TEST_REQUIRE(grant.ok(),
                     "Register(" << service << ") failed: " << Describe(grant.status()));
  return std::move(grant).value();
}

IntegratorSecret StoreFixture::MustCreateIntegrator(std::string_view label) {
  Result<IntegratorSecret> created = store().CreateIntegrator(Context(), label);
  BOOST_TEST_REQUIRE(created.ok(), "CreateIntegrator failed: " << Describe(created.status()));
  return std::move(created).value();
}

std::string StoreFixture::UniqueBody() {
  return "{\"n\":" + std::to_string(next_body_.fetch_add(1, std::memory_order_relaxed)) + "}";
}

OwnedSignedRequest StoreFixture::Sign(std::string_view integrator_id, std::string_view secret,
                                      std::string_view method, std::string_view target,
                                      std::string_view body, std::string_view timestamp) const {
  OwnedSignedRequest request;
  request.integrator_key = std::string(integrator_id);
  request.timestamp = timestamp.empty() ? MillisText(clock->Now()) : std::string(timestamp);
  request.method = std::string(method);
  request.target = std::string(target);
  request.body = std::string(body);
  request.signature =
      SignRequest(secret, request.timestamp, request.method, request.target, request.body);
  return request;
}

OwnedSignedRequest StoreFixture::SignFresh(std::string_view integrator_id,
                                           std::string_view secret) {
  return Sign(integrator_id, secret, "POST", kRotateTarget, UniqueBody());
}

Result<VerifiedRequest> StoreFixture::VerifyFresh(std::string_view integrator_id,
                                                  std::string_view secret, CredentialStore* on) {
  const OwnedSignedRequest request = SignFresh(integrator_id, secret);
  return (on != nullptr ? *on : store()).VerifySignedRequest(request.View());
}

Result<IntegratorSecret> StoreFixture::RotateWith(std::string_view integrator_id,
                                                  std::string_view secret,
                                                  std::chrono::milliseconds grace,
                                                  CredentialStore* on) {
  const OwnedSignedRequest request = SignFresh(integrator_id, secret);
  return (on != nullptr ? *on : store()).RotateIntegratorSecret(Context(), request.View(), grace);
}

std::vector<ScanEntry> StoreFixture::Snapshot() { return ScanAll(*backend, "", 100, clock->Now()); }

}  // namespace credstore::testing
