// Helpers shared by credstore's tests.
#ifndef CREDSTORE_TESTS_SUPPORT_TEST_HELPERS_H_
#define CREDSTORE_TESTS_SUPPORT_TEST_HELPERS_H_

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "credstore/clock.h"
#include "credstore/status.h"
#include "credstore/storage_backend.h"

namespace credstore::testing {

// A new empty folder under the system temp dir, removed (with its contents) on destruction.
class TempDir {
 public:
  explicit TempDir(const std::string& tag = "credstore");
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

// --- StorageBackend helpers (used by tests/conformance/backend_*_test.cc) ---

// The `now` at which backend tests start: 2100-01-01T00:00:00Z. It lies far ahead of the wall
// clock so that a backend's native TTL or compaction filter, which runs on real time, never
// collects a record that a test still treats as live; visibility must come from `now` alone.
inline constexpr Timestamp kBackendTestEpoch{std::chrono::milliseconds(4'102'444'800'000)};

// Harness().OpenFresh(), after checking (fatally) that the store really holds no record, since
// every backend test counts on starting empty.
std::shared_ptr<StorageBackend> OpenEmptyBackend();

// Every record Scan(prefix, ..., limit, now) yields, following next_cursor until it is empty;
// `between_pages` (if set) runs after each page, to write while a scan is in progress. Checks
// what every scan must satisfy whatever the data: no page holds more than `limit` entries, every
// key starts with `prefix`, keys ascend strictly across all pages, and the scan ends within a
// bounded number of pages. A failed Scan call ends the test case.
std::vector<ScanEntry> ScanAll(StorageBackend& backend, std::string_view prefix, std::size_t limit,
                               Timestamp now, const std::function<void()>& between_pages = {});

// Just the keys of `entries`, in order.
std::vector<std::string> KeysOf(const std::vector<ScanEntry>& entries);

// Write options: no expiry (durable), expiry at `t` (durable), and durable = false.
WriteOptions NoExpiry();
WriteOptions ExpiresAt(Timestamp t);
WriteOptions NonDurable(std::optional<Timestamp> expires_at = std::nullopt);

// Create / CompareAndSwap / Get that end the test case at once when the call fails, for the
// steps a test builds on rather than checks. MustCreate also checks the version is above zero.
Version MustCreate(StorageBackend& backend, std::string_view key, std::string_view value,
                   const WriteOptions& options, Timestamp now);
Version MustCas(StorageBackend& backend, std::string_view key, Version expected,
                std::string_view value, const WriteOptions& options, Timestamp now);
VersionedValue MustGet(StorageBackend& backend, std::string_view key, Timestamp now);

// "never", or milliseconds since the epoch: a printable form of an expiry for BOOST_TEST.
std::string ExpiryText(const std::optional<Timestamp>& expires_at);

// The SHA-256 of `data` as 64 lowercase hex digits: the form of X-Content-SHA256, bodySha256 and
// X-Credstore-Body-SHA256.
std::string Sha256Hex(std::string_view data);

// A StorageBackend decorator: forwards every call to `inner` and counts the calls, so a test can
// say what work a call did (how many reads, whether it wrote). With TryGetMode::kWouldBlock it
// is a backend that can never answer without blocking: TryGet answers nullopt without asking
// `inner`, and AnswersFromMemory() is false. Thread-safe.
class CountingBackend final : public StorageBackend {
 public:
  enum class TryGetMode { kForward, kWouldBlock };
  struct Counts {
    std::uint64_t gets = 0;
    std::uint64_t try_gets = 0;
    std::uint64_t writes = 0;  // Create, CompareAndSwap and Erase
    std::uint64_t scans = 0;
  };

  explicit CountingBackend(std::shared_ptr<StorageBackend> inner,
                           TryGetMode mode = TryGetMode::kForward)
      : inner_(std::move(inner)), mode_(mode) {}

  Counts counts() const;

  std::string_view Name() const override { return inner_->Name(); }
  Result<VersionedValue> Get(std::string_view key, Timestamp now) override;
  std::optional<Result<VersionedValue>> TryGet(std::string_view key, Timestamp now) override;
  bool AnswersFromMemory() const override;
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
  const TryGetMode mode_;
  std::atomic<std::uint64_t> gets_{0};
  std::atomic<std::uint64_t> try_gets_{0};
  std::atomic<std::uint64_t> writes_{0};
  std::atomic<std::uint64_t> scans_{0};
};

}  // namespace credstore::testing

namespace credstore {

// Lets BOOST_TEST print a StatusCode (Boost.Test finds it by argument-dependent lookup).
std::ostream& boost_test_print_type(std::ostream& out, StatusCode code);

}  // namespace credstore

#endif  // CREDSTORE_TESTS_SUPPORT_TEST_HELPERS_H_
