// CredentialStore's non-blocking forms (credential_store.h, "Non-blocking forms"):
// TryVerifyAdminKey and TryGetSettings answer what VerifyAdminKey and GetSettings answer, after
// the same work, or nullopt ("would block"); over a backend that can never answer without
// blocking they answer nullopt whenever the answer needs a read, and change nothing.
//
// Every backend runs these tests unchanged, through Harness() only: a backend may answer any
// TryGet with nullopt, so the tests require an answer only where the store says it never
// blocks, or where no read is needed.
#include <boost/test/unit_test.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "credstore/api_key_validator.h"
#include "credstore/credential_store.h"
#include "credstore/status.h"
#include "store_fixture.h"
#include "support/test_helpers.h"

namespace credstore::testing {
namespace {

using namespace std::chrono_literals;

constexpr std::string_view kApiKey = "nonblocking-key-0001";
constexpr std::string_view kOtherApiKey = "nonblocking-key-0002";
constexpr std::string_view kUnknownApiKey = "nonblocking-key-none";
constexpr std::string_view kSecret = "correct horse battery staple";
constexpr std::string_view kSettings = R"({"zone":"a"})";

// One question to ask both forms.
struct Question {
  std::string label;
  std::string service;
  std::string api_key;
  std::string admin_key;
  bool needs_read = true;  // false: answered before the backend is read
};

// Every kind of admin key a caller can present: registers two customers, regenerates one with a
// grace and the other at once, and stores settings.
std::vector<Question> Questions(StoreFixture& f) {
  const AdminKeyGrant first = f.MustRegister(kApiKey, kSecret);
  Result<AdminKeyGrant> second =
      f.store().RegenerateAdminKey(f.Context(), kService, kApiKey, kSecret, 60s);
  BOOST_TEST_REQUIRE(second.ok(), Describe(second.status()));
  BOOST_TEST_REQUIRE(
      f.store()
          .PutSettings(f.Context(), kService, kApiKey, second->admin_key.view(), kSettings)
          .ok());
  const AdminKeyGrant other_first = f.MustRegister(kOtherApiKey, kSecret);
  Result<AdminKeyGrant> other_second =
      f.store().RegenerateAdminKey(f.Context(), kService, kOtherApiKey, kSecret);
  BOOST_TEST_REQUIRE(other_second.ok(), Describe(other_second.status()));

  const std::string current(second->admin_key.view());
  return {
      {"current", std::string(kService), std::string(kApiKey), current},
      {"graced", std::string(kService), std::string(kApiKey), std::string(first.admin_key.view())},
      {"revoked", std::string(kService), std::string(kOtherApiKey),
       std::string(other_first.admin_key.view())},
      {"wrong", std::string(kService), std::string(kApiKey), std::string(48, 'Z')},
      {"unknown customer", std::string(kService), std::string(kUnknownApiKey), current},
      {"empty admin key", std::string(kService), std::string(kApiKey), "", false},
      {"malformed API key", std::string(kService), "bad key!", current, false},
      {"unknown service", "noSuchService", std::string(kApiKey), current, false},
  };
}

// Asks `q` of both forms of both calls; checks the Try forms answer alike after the same
// hashing, and answer at all when `must_answer`. Returns how many Try calls answered.
int ExpectSameAnswers(StoreFixture& f, const Question& q, bool must_answer) {
  int answered = 0;
  BOOST_TEST_CONTEXT(q.label) {
    CredentialStore& store = f.store();
    std::uint64_t before = store.Stats().keyed_digests;
    const Status blocking = store.VerifyAdminKey(q.service, q.api_key, q.admin_key);
    const std::uint64_t blocking_digests = store.Stats().keyed_digests - before;
    before = store.Stats().keyed_digests;
    const std::optional<Status> tried = store.TryVerifyAdminKey(q.service, q.api_key, q.admin_key);
    const std::uint64_t tried_digests = store.Stats().keyed_digests - before;
    if (must_answer) BOOST_TEST(tried.has_value(), "TryVerifyAdminKey would block");
    if (tried) {
      ++answered;
      BOOST_TEST(tried->code() == blocking.code());
      BOOST_TEST(tried->message() == blocking.message());
      BOOST_TEST(tried_digests == blocking_digests, "TryVerifyAdminKey did other hashing work");
    }

    const Result<std::string> read = store.GetSettings(q.service, q.api_key, q.admin_key);
    const std::optional<Result<std::string>> tried_read =
        store.TryGetSettings(q.service, q.api_key, q.admin_key);
    if (must_answer) BOOST_TEST(tried_read.has_value(), "TryGetSettings would block");
    if (tried_read) {
      ++answered;
      BOOST_TEST(tried_read->status().code() == read.status().code());
      BOOST_TEST(tried_read->status().message() == read.status().message());
      if (tried_read->ok() && read.ok()) BOOST_TEST(**tried_read == *read);
    }
  }
  return answered;
}

// Accepts every well-formed key but, like any validator that does not override TryIsValid, can
// only be asked from a thread that may block.
class BlockingValidator final : public ApiKeyValidator {
 public:
  Status IsValid(std::string_view, std::string_view) override { return Status::Ok(); }
};

// Refuses every key, from memory.
class RefusingValidator final : public ApiKeyValidator {
 public:
  Status IsValid(std::string_view, std::string_view) override {
    return Status::Unauthorized("API key not provisioned");
  }
  std::optional<Status> TryIsValid(std::string_view service, std::string_view key) override {
    return IsValid(service, key);
  }
  bool NeverBlocks() const override { return true; }
};

BOOST_AUTO_TEST_SUITE(credential_nonblocking)

BOOST_FIXTURE_TEST_CASE(TryFormsAnswerWhatTheBlockingFormsAnswer, StoreFixture) {
  // The default validator never blocks, so the store never blocks iff its backend does not.
  BOOST_TEST(store().NeverBlocks() == backend->AnswersFromMemory());
  const std::vector<Question> questions = Questions(*this);
  for (const Question& q : questions) {
    ExpectSameAnswers(*this, q, store().NeverBlocks() || !q.needs_read);
  }
  // The graced key's grace ends: both forms now refuse it.
  clock->Advance(60s);
  ExpectSameAnswers(*this, questions[1], store().NeverBlocks());
  BOOST_TEST(store().VerifyAdminKey(kService, kApiKey, questions[1].admin_key).code() ==
             StatusCode::kUnauthorized);
}

BOOST_FIXTURE_TEST_CASE(OverABackendThatWouldBlockTheyAnswerNulloptAndChangeNothing, StoreFixture) {
  ReopenCounting(TestOptions(), CountingBackend::TryGetMode::kWouldBlock);
  BOOST_TEST(!store().NeverBlocks());
  const std::vector<Question> questions = Questions(*this);

  const std::vector<ScanEntry> records = Snapshot();
  const std::size_t audited = audit->Count();
  const StoreStats stats = store().Stats();
  const CountingBackend::Counts counts = counting->counts();
  for (const Question& q : questions) {
    BOOST_TEST_CONTEXT(q.label) {
      const std::optional<Status> verified =
          store().TryVerifyAdminKey(q.service, q.api_key, q.admin_key);
      const std::optional<Result<std::string>> read =
          store().TryGetSettings(q.service, q.api_key, q.admin_key);
      BOOST_TEST(verified.has_value() == !q.needs_read);
      BOOST_TEST(read.has_value() == !q.needs_read);
    }
  }
  const CountingBackend::Counts after = counting->counts();
  BOOST_TEST(after.gets == counts.gets, "a Try form fell back to a blocking Get");
  BOOST_TEST(after.writes == counts.writes);
  BOOST_TEST(after.try_gets > counts.try_gets);
  BOOST_TEST(SameRecords(Snapshot(), records));
  BOOST_TEST(audit->Count() == audited);
  const StoreStats now = store().Stats();
  BOOST_TEST(now.argon2_hashes + now.argon2_verifications + now.throttled + now.cas_retries ==
             stats.argon2_hashes + stats.argon2_verifications + stats.throttled +
                 stats.cas_retries);

  // What needs no read is answered, and as the blocking form answers.
  for (const Question& q : questions) {
    if (!q.needs_read) ExpectSameAnswers(*this, q, true);
  }
}

BOOST_FIXTURE_TEST_CASE(AValidatorThatMayBlockMakesTheStoreBlock, StoreFixture) {
  Options o = TestOptions();
  o.api_key_validator = std::make_shared<BlockingValidator>();
  Reopen(o);
  BOOST_TEST(!store().NeverBlocks());
  const AdminKeyGrant grant = MustRegister(kApiKey, kSecret);
  BOOST_TEST(!store().TryVerifyAdminKey(kService, kApiKey, grant.admin_key.view()).has_value());
  BOOST_TEST(!store().TryGetSettings(kService, kApiKey, grant.admin_key.view()).has_value());
  BOOST_TEST(store().VerifyAdminKey(kService, kApiKey, grant.admin_key.view()).ok());
  // Checked before the validator is asked: answered all the same.
  BOOST_TEST(store().TryVerifyAdminKey("noSuchService", kApiKey, "")->code() ==
             StatusCode::kNotFound);
  BOOST_TEST(store().TryVerifyAdminKey(kService, "bad key!", "")->code() ==
             StatusCode::kInvalidArgument);
}

// A key the validator refuses is answered as a wrong admin key, after the same read: the Try
// forms answer it whenever they can read without blocking, and then exactly as the blocking ones.
BOOST_FIXTURE_TEST_CASE(AValidatorsRefusalIsAnsweredAsAWrongKey, StoreFixture) {
  Options o = TestOptions();
  o.api_key_validator = std::make_shared<RefusingValidator>();
  Reopen(o);
  BOOST_TEST(store().NeverBlocks() == backend->AnswersFromMemory());
  const Status blocking = store().VerifyAdminKey(kService, kApiKey, std::string(48, 'Z'));
  BOOST_TEST(blocking.code() == StatusCode::kUnauthorized);
  BOOST_TEST(blocking.message() == "admin key missing or invalid", Describe(blocking));
  const std::optional<Status> tried =
      store().TryVerifyAdminKey(kService, kApiKey, std::string(48, 'Z'));
  if (store().NeverBlocks()) BOOST_TEST_REQUIRE(tried.has_value());
  if (tried) {
    BOOST_TEST(tried->code() == blocking.code());
    BOOST_TEST(tried->message() == blocking.message());
  }
  if (auto settings = store().TryGetSettings(kService, kApiKey, "x")) {
    BOOST_TEST(settings->status().message() == blocking.message());
  }
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace
}  // namespace credstore::testing
