// CredentialStore::CheckReady: a store is ready while its backend reports itself healthy and the
// keycheck record Open checked is still there under the same keys. A store that lost its data
// (the keycheck record is gone) or whose data was rewritten under other keys is not ready, and
// neither is one over a backend that says it cannot keep its contract. A backend that refuses
// writes but serves reads (CheckWrites) leaves the store ready, with CheckWrites saying so: reads
// answer, and every call that must write — signed requests and wrong secrets included — answers
// kUnavailable instead of being decided without its record.
//
// Every backend runs these tests unchanged, through Harness() only.
#include <boost/test/unit_test.hpp>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "credstore/credential_store.h"
#include "credstore/keyring.h"
#include "credstore/status.h"
#include "credstore/storage_backend.h"
#include "store_fixture.h"
#include "support/backend_harness.h"
#include "support/test_helpers.h"

namespace credstore::testing {
namespace {

constexpr std::string_view kKeycheckKey = "keycheck";  // core/src/records.h

// Forwards every call to `inner`, but answers CheckHealth with whatever the test sets.
class HealthSwitchBackend final : public StorageBackend {
 public:
  explicit HealthSwitchBackend(std::shared_ptr<StorageBackend> inner) : inner_(std::move(inner)) {}
  void set_health(Status health) { health_ = std::move(health); }

  std::string_view Name() const override { return inner_->Name(); }
  Result<VersionedValue> Get(std::string_view key, Timestamp now) override {
    return inner_->Get(key, now);
  }
  Status CheckHealth() override { return health_; }
  Result<Version> Create(std::string_view key, std::string_view value, const WriteOptions& options,
                         Timestamp now) override {
    return inner_->Create(key, value, options, now);
  }
  Result<Version> CompareAndSwap(std::string_view key, Version expected, std::string_view value,
                                 const WriteOptions& options, Timestamp now) override {
    return inner_->CompareAndSwap(key, expected, value, options, now);
  }
  Status Erase(std::string_view key, Version expected, Timestamp now) override {
    return inner_->Erase(key, expected, now);
  }
  Result<ScanPage> Scan(std::string_view prefix, std::string_view cursor, std::size_t limit,
                        Timestamp now) override {
    return inner_->Scan(prefix, cursor, limit, now);
  }

 private:
  std::shared_ptr<StorageBackend> inner_;
  Status health_;  // set by the test's thread only, before the calls that read it
};

// Forwards every call to `inner`, but while `refusing`, answers every write and CheckWrites with
// kUnavailable before reaching `inner`, as RocksDB does below its free-space reserve.
class WriteSwitchBackend final : public StorageBackend {
 public:
  explicit WriteSwitchBackend(std::shared_ptr<StorageBackend> inner) : inner_(std::move(inner)) {}
  void set_refusing(bool refusing) { refusing_ = refusing; }

  std::string_view Name() const override { return inner_->Name(); }
  Result<VersionedValue> Get(std::string_view key, Timestamp now) override {
    return inner_->Get(key, now);
  }
  Status CheckHealth() override { return inner_->CheckHealth(); }
  Status CheckWrites() override { return refusing_ ? Refusal() : inner_->CheckWrites(); }
  Result<Version> Create(std::string_view key, std::string_view value, const WriteOptions& options,
                         Timestamp now) override {
    if (refusing_) return Refusal();
    return inner_->Create(key, value, options, now);
  }
  Result<Version> CompareAndSwap(std::string_view key, Version expected, std::string_view value,
                                 const WriteOptions& options, Timestamp now) override {
    if (refusing_) return Refusal();
    return inner_->CompareAndSwap(key, expected, value, options, now);
  }
  Status Erase(std::string_view key, Version expected, Timestamp now) override {
    if (refusing_) return Refusal();
    return inner_->Erase(key, expected, now);
  }
  Result<ScanPage> Scan(std::string_view prefix, std::string_view cursor, std::size_t limit,
                        Timestamp now) override {
    return inner_->Scan(prefix, cursor, limit, now);
  }

 private:
  static Status Refusal() { return Status::Unavailable("test: the disk is below the reserve"); }

  std::shared_ptr<StorageBackend> inner_;
  bool refusing_ = false;  // set by the test's thread only, before the calls that read it
};

}  // namespace

BOOST_AUTO_TEST_SUITE(credential_ready)

BOOST_FIXTURE_TEST_CASE(AnOpenStoreIsReadyAndCheckingChangesNothing, StoreFixture) {
  const auto before = Snapshot();
  BOOST_TEST(Describe(store().CheckReady()) == "ok");
  BOOST_TEST(Describe(store().CheckReady()) == "ok");
  BOOST_TEST(SameRecords(before, Snapshot()), "CheckReady wrote to the store");
}

BOOST_FIXTURE_TEST_CASE(AStoreThatLostItsKeycheckRecordIsNotReady, StoreFixture) {
  MustRegister("ready-customer-key-1", "a secret for readiness");
  const Timestamp now = clock->Now();
  auto keycheck = backend->Get(kKeycheckKey, now);
  BOOST_TEST_REQUIRE(keycheck.ok(), Describe(keycheck.status()));
  BOOST_TEST_REQUIRE(Describe(backend->Erase(kKeycheckKey, keycheck->version, now)) == "ok");

  const Status ready = store().CheckReady();
  BOOST_TEST(ready.code() == StatusCode::kUnavailable, Describe(ready));
  BOOST_TEST(ready.message().find("keycheck") != std::string::npos, Describe(ready));
  // A readiness check never writes the record back: only Open may decide the store is new.
  BOOST_TEST(backend->Get(kKeycheckKey, clock->Now()).status().code() == StatusCode::kNotFound);
}

BOOST_FIXTURE_TEST_CASE(AKeycheckRewrittenUnderOtherKeysIsNotReady, StoreFixture) {
  const Timestamp now = clock->Now();
  auto keycheck = backend->Get(kKeycheckKey, now);
  BOOST_TEST_REQUIRE(keycheck.ok(), Describe(keycheck.status()));
  BOOST_TEST_REQUIRE(Describe(backend->Erase(kKeycheckKey, keycheck->version, now)) == "ok");
  // A server with another key file opens the emptied store and writes its own keycheck.
  auto other = OpenSecondStore(Keyring::Generate());
  BOOST_TEST_REQUIRE(other.ok(), Describe(other.status()));

  const Status ready = store().CheckReady();
  BOOST_TEST(ready.code() == StatusCode::kUnauthorized, Describe(ready));
  BOOST_TEST(Describe((*other)->CheckReady()) == "ok");
}

BOOST_FIXTURE_TEST_CASE(AnUnhealthyBackendMakesTheStoreNotReady, StoreFixture) {
  auto switched = std::make_shared<HealthSwitchBackend>(Harness().OpenFresh());
  auto opened = CredentialStore::Open(switched, keyring, TestOptions());
  BOOST_TEST_REQUIRE(opened.ok(), Describe(opened.status()));
  CredentialStore& over = **opened;
  BOOST_TEST(Describe(over.CheckReady()) == "ok");

  switched->set_health(Status::Unavailable("test: the backend may evict records"));
  const Status ready = over.CheckReady();
  BOOST_TEST(ready.code() == StatusCode::kUnavailable);
  BOOST_TEST(ready.message() == "test: the backend may evict records");

  switched->set_health(Status::Ok());
  BOOST_TEST(Describe(over.CheckReady()) == "ok");
}

BOOST_FIXTURE_TEST_CASE(ABackendRefusingWritesLeavesTheStoreReadyForReadsOnly, StoreFixture) {
  auto switched = std::make_shared<WriteSwitchBackend>(Harness().OpenFresh());
  auto opened = CredentialStore::Open(switched, keyring, TestOptions());
  BOOST_TEST_REQUIRE(opened.ok(), Describe(opened.status()));
  CredentialStore& over = **opened;
  BOOST_TEST(Describe(over.CheckWrites()) == "ok");
  const RequestContext context = Context();
  auto grant = over.Register(context, kService, "refusing-customer-key-1", "a secret for writes");
  BOOST_TEST_REQUIRE(grant.ok(), Describe(grant.status()));
  const std::string admin_key(grant->admin_key.view());
  auto integrator = over.CreateIntegrator(context, "Refusing Fleet");
  BOOST_TEST_REQUIRE(integrator.ok(), Describe(integrator.status()));
  const std::string secret(integrator->secret.view());

  switched->set_refusing(true);
  BOOST_TEST(Describe(over.CheckReady()) == "ok");
  const Status writes = over.CheckWrites();
  BOOST_TEST(writes.code() == StatusCode::kUnavailable, Describe(writes));
  BOOST_TEST(writes.message() == "test: the disk is below the reserve");
  // Reads answer.
  BOOST_TEST(Describe(over.VerifyAdminKey(kService, "refusing-customer-key-1", admin_key)) == "ok");
  BOOST_TEST(over.VerifyAdminKey(kService, "refusing-customer-key-1", "wrong").code() ==
             StatusCode::kUnauthorized);
  auto settings = over.GetSettings(kService, "refusing-customer-key-1", admin_key);
  BOOST_TEST(settings.ok(), Describe(settings.status()));
  // Writes, and the calls that cannot be answered without one, answer kUnavailable.
  auto put = over.PutSettings(context, kService, "refusing-customer-key-1", admin_key, "{}");
  BOOST_TEST(put.status().code() == StatusCode::kUnavailable, Describe(put.status()));
  auto verified = VerifyFresh(integrator->integrator_id, secret, &over);
  BOOST_TEST(verified.status().code() == StatusCode::kUnavailable, Describe(verified.status()));
  auto wrong = over.RegenerateAdminKey(context, kService, "refusing-customer-key-1", "wrong");
  BOOST_TEST(wrong.status().code() == StatusCode::kUnavailable, Describe(wrong.status()));

  switched->set_refusing(false);
  BOOST_TEST(Describe(over.CheckWrites()) == "ok");
  BOOST_TEST(VerifyFresh(integrator->integrator_id, secret, &over).ok());
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace credstore::testing
