// MigrateStore (credstore/migration.h) out of and into the backend under test, with a plain map
// backend of this file on the other side: every record arrives with its expiry, a copy cut short
// is refused by CredentialStore::Open and finished by a second run, and the targets that must be
// refused are. Also Open's refusal of a store with records but no keycheck record.
#include <boost/test/unit_test.hpp>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>

#include "credstore/clock.h"
#include "credstore/credential_store.h"
#include "credstore/keyring.h"
#include "credstore/migration.h"
#include "credstore/storage_backend.h"
#include "store_fixture.h"
#include "support/backend_harness.h"
#include "support/test_helpers.h"

namespace credstore::testing {
namespace {

constexpr std::string_view kApiKey = "migration-customer-key-1";
constexpr std::string_view kSecret = "a secret that moves";

// The smallest StorageBackend: a map under one mutex, versions from one counter.
class MapBackend final : public StorageBackend {
 public:
  std::string_view Name() const override { return "map"; }
  Result<VersionedValue> Get(std::string_view key, Timestamp now) override {
    std::lock_guard lock(mutex_);
    const auto it = records_.find(std::string(key));
    if (it == records_.end() || !Live(it->second, now)) return Status::NotFound("no record");
    return it->second;
  }
  Result<Version> Create(std::string_view key, std::string_view value, const WriteOptions& options,
                         Timestamp now) override {
    std::lock_guard lock(mutex_);
    auto it = records_.find(std::string(key));
    if (it != records_.end() && Live(it->second, now)) return Status::Conflict("record exists");
    records_[std::string(key)] = VersionedValue{std::string(value), ++version_, options.expires_at};
    return version_;
  }
  Result<Version> CompareAndSwap(std::string_view key, Version expected, std::string_view value,
                                 const WriteOptions& options, Timestamp now) override {
    std::lock_guard lock(mutex_);
    auto it = records_.find(std::string(key));
    if (it == records_.end() || !Live(it->second, now)) return Status::NotFound("no record");
    if (it->second.version != expected) return Status::Conflict("version changed");
    it->second = VersionedValue{std::string(value), ++version_, options.expires_at};
    return version_;
  }
  Status Erase(std::string_view key, Version expected, Timestamp now) override {
    std::lock_guard lock(mutex_);
    auto it = records_.find(std::string(key));
    if (it == records_.end() || !Live(it->second, now)) return Status::NotFound("no record");
    if (it->second.version != expected) return Status::Conflict("version changed");
    records_.erase(it);
    return Status::Ok();
  }
  Result<ScanPage> Scan(std::string_view prefix, std::string_view cursor, std::size_t limit,
                        Timestamp now) override {
    std::lock_guard lock(mutex_);
    ScanPage page;
    for (auto it = records_.upper_bound(std::string(cursor)); it != records_.end(); ++it) {
      if (it->first.compare(0, prefix.size(), prefix) != 0 || !Live(it->second, now)) continue;
      if (page.entries.size() == limit) {
        page.next_cursor = page.entries.back().key;
        break;
      }
      page.entries.push_back(ScanEntry{it->first, it->second});
    }
    return page;
  }

 private:
  static bool Live(const VersionedValue& record, Timestamp now) {
    return !record.expires_at || *record.expires_at > now;
  }
  std::mutex mutex_;
  std::map<std::string, VersionedValue> records_;
  Version version_ = 0;
};

// The backend it wraps, until `creates` Creates have succeeded: then every write fails, as a
// copy does whose process was killed.
class CutShortBackend final : public StorageBackend {
 public:
  CutShortBackend(std::shared_ptr<StorageBackend> inner, int creates)
      : inner_(std::move(inner)), left_(creates) {}
  std::string_view Name() const override { return inner_->Name(); }
  Result<VersionedValue> Get(std::string_view key, Timestamp now) override {
    return inner_->Get(key, now);
  }
  Result<Version> Create(std::string_view key, std::string_view value, const WriteOptions& options,
                         Timestamp now) override {
    if (left_-- <= 0) return Status::Unavailable("test: killed");
    return inner_->Create(key, value, options, now);
  }
  Result<Version> CompareAndSwap(std::string_view, Version, std::string_view, const WriteOptions&,
                                 Timestamp) override {
    return Status::Unavailable("test: killed");
  }
  Status Erase(std::string_view, Version, Timestamp) override {
    return Status::Unavailable("test: killed");
  }
  Result<ScanPage> Scan(std::string_view prefix, std::string_view cursor, std::size_t limit,
                        Timestamp now) override {
    return inner_->Scan(prefix, cursor, limit, now);
  }

 private:
  std::shared_ptr<StorageBackend> inner_;
  int left_;
};

struct MigrationFixture {
  Options MakeOptions() const {
    Options options;
    options.argon2 = Argon2Cost::MinimumForTests();
    options.clock = clock;
    options.audit = std::make_shared<CapturingAuditSink>();
    return options;
  }

  // A store over `backend` with one customer (kApiKey), one integrator, and the short-lived
  // records of a wrong secret (throttle counters); returns the customer's admin key.
  std::string Populate(const std::shared_ptr<StorageBackend>& backend) {
    RequestContext context;
    context.client_address = std::string(kDefaultAddress);
    auto store = CredentialStore::Open(backend, keyring, MakeOptions());
    BOOST_TEST_REQUIRE(store.ok(), Describe(store.status()));
    auto grant = (*store)->Register(context, kService, kApiKey, kSecret);
    BOOST_TEST_REQUIRE(grant.ok(), Describe(grant.status()));
    auto integrator = (*store)->CreateIntegrator(context, "Acme");
    BOOST_TEST_REQUIRE(integrator.ok(), Describe(integrator.status()));
    integrator_id = integrator->integrator_id;
    auto wrong = (*store)->RegenerateAdminKey(context, kService, kApiKey, "wrong secret");
    BOOST_TEST(!wrong.ok());
    return std::string(grant->admin_key.view());
  }

  // Opens a store over a migrated `backend`: the customer's admin key and the integrator work.
  void ExpectServes(const std::shared_ptr<StorageBackend>& backend, std::string_view admin_key) {
    auto store = CredentialStore::Open(backend, keyring, MakeOptions());
    BOOST_TEST_REQUIRE(store.ok(), Describe(store.status()));
    BOOST_TEST(Describe((*store)->VerifyAdminKey(kService, kApiKey, admin_key)) == "ok");
    BOOST_TEST((*store)->GetIntegrator(integrator_id).ok());
  }

  // Every live record of `from` is in `to` with the same bytes and expiry.
  void ExpectSameRecords(StorageBackend& from, StorageBackend& to) {
    std::string cursor;
    std::size_t seen = 0;
    bool expiring = false;
    do {
      auto page = from.Scan("", cursor, 100, clock->Now());
      BOOST_TEST_REQUIRE(page.ok(), Describe(page.status()));
      for (const ScanEntry& entry : page->entries) {
        ++seen;
        expiring = expiring || entry.record.expires_at.has_value();
        auto copy = to.Get(entry.key, clock->Now());
        BOOST_TEST_REQUIRE(copy.ok(), entry.key << ": " << Describe(copy.status()));
        BOOST_TEST((copy->value == entry.record.value), entry.key);
        BOOST_TEST((copy->expires_at == entry.record.expires_at), entry.key);
      }
      cursor = page->next_cursor;
    } while (!cursor.empty());
    BOOST_TEST(seen >= 3u);
    BOOST_TEST(expiring, "no record with an expiry was copied (throttle counters)");
  }

  std::shared_ptr<ManualClock> clock = std::make_shared<ManualClock>(kBackendTestEpoch);
  Keyring keyring = Keyring::Generate();
  std::string integrator_id;
};

}  // namespace

BOOST_FIXTURE_TEST_SUITE(store_migration, MigrationFixture)

BOOST_AUTO_TEST_CASE(ACopyOutOfTheBackendHoldsEveryRecordAndServes) {
  const std::shared_ptr<StorageBackend> source = Harness().OpenFresh();
  const std::string admin_key = Populate(source);
  const auto target = std::make_shared<MapBackend>();
  auto report = MigrateStore(*source, *target, clock->Now());
  BOOST_TEST_REQUIRE(report.ok(), Describe(report.status()));
  BOOST_TEST(!report->resumed);
  BOOST_TEST(report->source_records == report->target_records);
  BOOST_TEST(report->copied == report->source_records);
  ExpectSameRecords(*source, *target);
  ExpectServes(target, admin_key);
}

BOOST_AUTO_TEST_CASE(ACopyIntoTheBackendCutShortIsRefusedThenFinished) {
  const auto source = std::make_shared<MapBackend>();
  const std::string admin_key = Populate(source);
  const std::shared_ptr<StorageBackend> target = Harness().OpenFresh();

  // The marker and one record, then the "process" dies.
  CutShortBackend dying(target, 2);
  BOOST_TEST(!MigrateStore(*source, dying, clock->Now()).ok());
  auto refused = CredentialStore::Open(target, keyring, MakeOptions());
  BOOST_TEST_REQUIRE(!refused.ok());
  BOOST_TEST((refused.status().code() == StatusCode::kInvalidArgument), Describe(refused.status()));
  BOOST_TEST(refused.status().message().find("unfinished") != std::string::npos);

  auto report = MigrateStore(*source, *target, clock->Now());
  BOOST_TEST_REQUIRE(report.ok(), Describe(report.status()));
  BOOST_TEST(report->resumed);
  BOOST_TEST(report->already_there == 1u);
  BOOST_TEST(report->source_records == report->target_records);
  ExpectSameRecords(*source, *target);
  ExpectServes(target, admin_key);
  // Finished: a third run finds a target that is not empty and holds no marker.
  BOOST_TEST((MigrateStore(*source, *target, clock->Now()).status().code() ==
              StatusCode::kInvalidArgument));
}

BOOST_AUTO_TEST_CASE(TargetsAndSourcesThatAreNotFitAreRefusedUntouched) {
  const std::shared_ptr<StorageBackend> backend = Harness().OpenFresh();
  (void)Populate(backend);
  const Timestamp now = clock->Now();

  // A source that no server opened (no keycheck record).
  MapBackend empty_source;
  auto no_keycheck = MigrateStore(empty_source, *backend, now);
  BOOST_TEST((no_keycheck.status().code() == StatusCode::kInvalidArgument),
             Describe(no_keycheck.status()));

  // A target that holds records and no marker: the populated backend.
  MapBackend other;
  (void)Populate(std::shared_ptr<MapBackend>(&other, [](MapBackend*) {}));
  auto full = MigrateStore(other, *backend, now);
  BOOST_TEST((full.status().code() == StatusCode::kInvalidArgument), Describe(full.status()));
  BOOST_TEST(full.status().message().find("not empty") != std::string::npos);

  // A target holding another source's unfinished copy.
  MapBackend half;
  CutShortBackend dying(std::shared_ptr<MapBackend>(&half, [](MapBackend*) {}), 2);
  BOOST_TEST(!MigrateStore(*backend, dying, now).ok());
  auto foreign = MigrateStore(other, half, now);
  BOOST_TEST((foreign.status().code() == StatusCode::kInvalidArgument), Describe(foreign.status()));
  BOOST_TEST(foreign.status().message().find("another source") != std::string::npos);
}

// A store with records but no keycheck is no new store: Open refuses it and writes nothing.
BOOST_AUTO_TEST_CASE(OpenRefusesRecordsWithoutAKeycheckRecord) {
  const std::shared_ptr<StorageBackend> backend = Harness().OpenFresh();
  const Timestamp now = clock->Now();
  BOOST_TEST_REQUIRE(backend->Create("i/int_orphan", "bytes", WriteOptions{}, now).ok());
  auto opened = CredentialStore::Open(backend, keyring, MakeOptions());
  BOOST_TEST_REQUIRE(!opened.ok());
  BOOST_TEST((opened.status().code() == StatusCode::kInvalidArgument), Describe(opened.status()));
  BOOST_TEST((backend->Get("keycheck", now).status().code() == StatusCode::kNotFound));
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace credstore::testing
