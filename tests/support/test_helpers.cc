#include "support/test_helpers.h"

#include <sodium.h>
#include <stdlib.h>

#include <boost/test/unit_test.hpp>
#include <stdexcept>
#include <system_error>
#include <utility>

#include "support/backend_harness.h"

namespace credstore::testing {

BackendHarness& Harness() {
  static std::unique_ptr<BackendHarness> harness = MakeBackendHarness();
  return *harness;
}

TempDir::TempDir(const std::string& tag) {
  std::string pattern = (std::filesystem::temp_directory_path() / (tag + "-XXXXXX")).string();
  if (mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
  path_ = pattern;
}

TempDir::~TempDir() {
  std::error_code ignored;
  std::filesystem::remove_all(path_, ignored);
}

// --- StorageBackend helpers ---

namespace {

// Far more pages than any backend test's data set needs even at limit 1: reaching it means the
// scan does not end (a cursor that never advances, for example).
constexpr std::size_t kMaxScanPages = 1000;

}  // namespace

std::shared_ptr<StorageBackend> OpenEmptyBackend() {
  std::shared_ptr<StorageBackend> backend = Harness().OpenFresh();
  BOOST_TEST_REQUIRE(backend != nullptr, "the harness returned no backend");
  const std::vector<ScanEntry> entries = ScanAll(*backend, "", 1000, kBackendTestEpoch);
  if (!entries.empty()) {
    BOOST_FAIL(
        "OpenFresh() returned a store that is not empty; first key: " << entries.front().key);
  }
  return backend;
}

std::vector<ScanEntry> ScanAll(StorageBackend& backend, std::string_view prefix, std::size_t limit,
                               Timestamp now, const std::function<void()>& between_pages) {
  std::vector<ScanEntry> all;
  std::string cursor;
  for (std::size_t pages = 0;; ++pages) {
    BOOST_TEST_REQUIRE(pages < kMaxScanPages, "Scan(\"" << prefix << "\", limit " << limit
                                                        << ") did not end after " << pages
                                                        << " pages; cursor \"" << cursor << "\"");
    Result<ScanPage> page = backend.Scan(prefix, cursor, limit, now);
    BOOST_TEST_REQUIRE(page.ok(), "Scan(\"" << prefix << "\", limit " << limit
                                            << ") failed: " << page.status().ToString());
    BOOST_TEST(page->entries.size() <= limit, "a page of Scan(\""
                                                  << prefix << "\", limit " << limit << ") holds "
                                                  << page->entries.size() << " entries");
    for (ScanEntry& entry : page->entries) {
      BOOST_TEST(entry.key.starts_with(prefix),
                 "Scan(\"" << prefix << "\") returned key \"" << entry.key << "\"");
      // Strictly ascending also rules out a key returned twice, on one page or on two.
      if (!all.empty()) {
        // Parenthesised: Boost.Test's own `<` on two strings is not plain byte order.
        BOOST_TEST((all.back().key < entry.key),
                   "Scan(\"" << prefix << "\", limit " << limit << ") returned \"" << entry.key
                             << "\" after \"" << all.back().key << "\"");
      }
      all.push_back(std::move(entry));
    }
    if (page->next_cursor.empty()) break;
    if (between_pages) between_pages();
    cursor = std::move(page->next_cursor);
  }
  return all;
}

std::vector<std::string> KeysOf(const std::vector<ScanEntry>& entries) {
  std::vector<std::string> keys;
  keys.reserve(entries.size());
  for (const ScanEntry& entry : entries) keys.push_back(entry.key);
  return keys;
}

WriteOptions NoExpiry() { return WriteOptions{}; }

WriteOptions ExpiresAt(Timestamp t) { return WriteOptions{.expires_at = t, .durable = true}; }

WriteOptions NonDurable(std::optional<Timestamp> expires_at) {
  return WriteOptions{.expires_at = expires_at, .durable = false};
}

Version MustCreate(StorageBackend& backend, std::string_view key, std::string_view value,
                   const WriteOptions& options, Timestamp now) {
  Result<Version> created = backend.Create(key, value, options, now);
  BOOST_TEST_REQUIRE(created.ok(),
                     "Create(\"" << key << "\") failed: " << created.status().ToString());
  BOOST_TEST(*created > 0u, "versions start above zero");
  return *created;
}

Version MustCas(StorageBackend& backend, std::string_view key, Version expected,
                std::string_view value, const WriteOptions& options, Timestamp now) {
  Result<Version> swapped = backend.CompareAndSwap(key, expected, value, options, now);
  BOOST_TEST_REQUIRE(swapped.ok(), "CompareAndSwap(\"" << key << "\", " << expected << ") failed: "
                                                       << swapped.status().ToString());
  return *swapped;
}

VersionedValue MustGet(StorageBackend& backend, std::string_view key, Timestamp now) {
  Result<VersionedValue> got = backend.Get(key, now);
  BOOST_TEST_REQUIRE(got.ok(), "Get(\"" << key << "\") failed: " << got.status().ToString());
  return std::move(got).value();
}

std::string ExpiryText(const std::optional<Timestamp>& expires_at) {
  if (!expires_at) return "never";
  return std::to_string(expires_at->time_since_epoch().count()) + " ms";
}

std::string Sha256Hex(std::string_view data) {
  unsigned char digest[crypto_hash_sha256_BYTES];
  crypto_hash_sha256(digest, reinterpret_cast<const unsigned char*>(data.data()), data.size());
  static constexpr char kHex[] = "0123456789abcdef";
  std::string hex;
  for (unsigned char byte : digest) {
    hex += kHex[byte >> 4];
    hex += kHex[byte & 0xf];
  }
  return hex;
}

CountingBackend::Counts CountingBackend::counts() const {
  return Counts{gets_.load(), try_gets_.load(), writes_.load(), scans_.load()};
}

Result<VersionedValue> CountingBackend::Get(std::string_view key, Timestamp now) {
  gets_.fetch_add(1);
  return inner_->Get(key, now);
}

std::optional<Result<VersionedValue>> CountingBackend::TryGet(std::string_view key, Timestamp now) {
  try_gets_.fetch_add(1);
  if (mode_ == TryGetMode::kWouldBlock) return std::nullopt;
  return inner_->TryGet(key, now);
}

bool CountingBackend::AnswersFromMemory() const {
  return mode_ == TryGetMode::kForward && inner_->AnswersFromMemory();
}

Result<Version> CountingBackend::Create(std::string_view key, std::string_view value,
                                        const WriteOptions& options, Timestamp now) {
  writes_.fetch_add(1);
  return inner_->Create(key, value, options, now);
}

Result<Version> CountingBackend::CompareAndSwap(std::string_view key, Version expected,
                                                std::string_view value, const WriteOptions& options,
                                                Timestamp now) {
  writes_.fetch_add(1);
  return inner_->CompareAndSwap(key, expected, value, options, now);
}

Status CountingBackend::Erase(std::string_view key, Version expected, Timestamp now) {
  writes_.fetch_add(1);
  return inner_->Erase(key, expected, now);
}

Result<ScanPage> CountingBackend::Scan(std::string_view prefix, std::string_view cursor,
                                       std::size_t limit, Timestamp now) {
  scans_.fetch_add(1);
  return inner_->Scan(prefix, cursor, limit, now);
}

}  // namespace credstore::testing

namespace credstore {

std::ostream& boost_test_print_type(std::ostream& out, StatusCode code) {
  return out << StatusCodeName(code);
}

}  // namespace credstore
