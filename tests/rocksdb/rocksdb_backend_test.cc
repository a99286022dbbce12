// What only the RocksDB backend must prove, beyond the shared conformance suite: data and
// versions survive reopening and SIGKILL, the folder lock is reported clearly, durable writes
// really reach fsync, expired records are collected without deciding visibility, and values
// reach the disk exactly as given (which the plaintext scan helper detects), TryGet answers
// from memory only, and concurrent durable writers sharing a commit group lose nothing.
//
// Second processes are rocksdb_test_child (see its header comment). No test sleeps or depends on
// timing: a child is killed after a fixed number of acknowledged writes, and every loop is
// bounded.
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <boost/test/unit_test.hpp>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <limits>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "credstore/backends/rocksdb.h"
#include "plaintext_scan.h"
#include "support/test_helpers.h"

extern char** environ;

namespace credstore::testing {
namespace {

using std::chrono::milliseconds;

const Timestamp kT0{milliseconds(1'700'000'000'000)};  // Nov 2023: behind any real wall clock

std::shared_ptr<RocksDbBackend> OpenStore(const std::filesystem::path& folder,
                                          RocksDbOptions options = {}) {
  options.path = folder.string();
  auto opened = RocksDbBackend::Open(options);
  BOOST_REQUIRE_MESSAGE(opened.ok(), "open failed: " << opened.status().ToString());
  return *opened;
}

WriteOptions NotDurable() {
  WriteOptions options;
  options.durable = false;
  return options;
}

Version MustCreate(StorageBackend& backend, const std::string& key, const std::string& value,
                   Timestamp now, WriteOptions options = {}) {
  auto created = backend.Create(key, value, options, now);
  BOOST_REQUIRE_MESSAGE(created.ok(), "create " << key << ": " << created.status().ToString());
  return *created;
}

// ---- child processes -------------------------------------------------------------------------

// A running rocksdb_test_child whose stdout is a pipe to us. Killed and reaped on destruction,
// so a failing test never leaves a process behind.
class Child {
 public:
  Child(const std::vector<std::string>& args, const std::vector<std::string>& extra_env) {
    int fds[2];
    BOOST_REQUIRE(::pipe2(fds, O_CLOEXEC) == 0);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, fds[1], STDOUT_FILENO);  // dup2 clears CLOEXEC

    std::vector<std::string> argv_storage{CREDSTORE_ROCKSDB_TEST_CHILD};
    argv_storage.insert(argv_storage.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (auto& arg : argv_storage) argv.push_back(arg.data());
    argv.push_back(nullptr);

    // Our environment, minus any variable the caller sets (getenv takes the first match).
    std::vector<std::string> env_storage = extra_env;
    for (char** entry = environ; *entry != nullptr; ++entry) {
      const std::string_view text(*entry);
      const bool overridden = std::any_of(extra_env.begin(), extra_env.end(), [&](auto& extra) {
        return text.substr(0, text.find('=') + 1) == extra.substr(0, extra.find('=') + 1);
      });
      if (!overridden) env_storage.emplace_back(text);
    }
    std::vector<char*> envp;
    for (auto& entry : env_storage) envp.push_back(entry.data());
    envp.push_back(nullptr);

    const int spawned = posix_spawn(&pid_, argv[0], &actions, nullptr, argv.data(), envp.data());
    posix_spawn_file_actions_destroy(&actions);
    ::close(fds[1]);
    stdout_fd_ = fds[0];
    BOOST_REQUIRE_MESSAGE(spawned == 0, "posix_spawn: " << std::strerror(spawned));
  }

  ~Child() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      Wait();
    }
    if (stdout_fd_ >= 0) ::close(stdout_fd_);
  }

  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;

  // The next full line of the child's stdout, without '\n'; nullopt at end of stream.
  std::optional<std::string> ReadLine() {
    while (true) {
      if (const auto newline = buffer_.find('\n'); newline != std::string::npos) {
        std::string line = buffer_.substr(0, newline);
        buffer_.erase(0, newline + 1);
        return line;
      }
      char chunk[4096];
      const ssize_t got = ::read(stdout_fd_, chunk, sizeof chunk);
      if (got < 0 && errno == EINTR) continue;
      if (got <= 0) return std::nullopt;  // a torn last line is dropped: it was never complete
      buffer_.append(chunk, static_cast<std::size_t>(got));
    }
  }

  std::string ReadAll() {
    std::string all;
    while (auto line = ReadLine()) all += *line + "\n";
    return all;
  }

  void Kill() { ::kill(pid_, SIGKILL); }

  // Reaps the child; its wait status.
  int Wait() {
    int status = 0;
    while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
    pid_ = -1;
    return status;
  }

 private:
  pid_t pid_ = -1;
  int stdout_fd_ = -1;
  std::string buffer_;
};

// ---- (a) reopen --------------------------------------------------------------------------------

BOOST_AUTO_TEST_SUITE(rocksdb_backend)

BOOST_AUTO_TEST_CASE(reopen_keeps_records_and_versions_keep_increasing) {
  TempDir folder("credstore-rocksdb-test");
  Version kept = 0, swapped = 0, erased = 0, volatile_version = 0;
  {
    auto backend = OpenStore(folder.path());
    kept = MustCreate(*backend, "a/kept", "kept-value", kT0,
                      WriteOptions{.expires_at = kT0 + std::chrono::hours(1)});
    const Version first = MustCreate(*backend, "a/swapped", "v1", kT0);
    auto cas = backend->CompareAndSwap("a/swapped", first, "v2", {}, kT0);
    BOOST_REQUIRE(cas.ok());
    swapped = *cas;
    erased = MustCreate(*backend, "a/erased", "gone", kT0);
    BOOST_REQUIRE(backend->Erase("a/erased", erased, kT0).ok());
    volatile_version = MustCreate(*backend, "a/volatile", "fast", kT0, NotDurable());
  }
  auto backend = OpenStore(folder.path());

  auto got = backend->Get("a/kept", kT0);
  BOOST_REQUIRE(got.ok());
  BOOST_TEST(got->value == "kept-value");
  BOOST_TEST(got->version == kept);
  BOOST_REQUIRE(got->expires_at.has_value());
  BOOST_TEST(got->expires_at->time_since_epoch().count() ==
             (kT0 + std::chrono::hours(1)).time_since_epoch().count());
  BOOST_TEST(backend->Get("a/kept", kT0 + std::chrono::hours(1)).status().code() ==
             StatusCode::kNotFound);

  got = backend->Get("a/swapped", kT0);
  BOOST_REQUIRE(got.ok());
  BOOST_TEST(got->value == "v2");
  BOOST_TEST(got->version == swapped);
  // A clean close keeps non-durable writes too: they were in the write-ahead log.
  BOOST_TEST(backend->Get("a/volatile", kT0).ok());
  BOOST_TEST(backend->Get("a/erased", kT0).status().code() == StatusCode::kNotFound);

  // Versions continue above everything given before the restart, erased ones included.
  const Version highest_before = std::max({kept, swapped, erased, volatile_version});
  const Version recreated = MustCreate(*backend, "a/erased", "back", kT0);
  BOOST_TEST(recreated > highest_before);
  auto cas = backend->CompareAndSwap("a/swapped", swapped, "v3", {}, kT0);
  BOOST_REQUIRE(cas.ok());
  BOOST_TEST(*cas > recreated);

  // And again across a second restart.
  backend.reset();
  backend = OpenStore(folder.path());
  BOOST_TEST(MustCreate(*backend, "a/new", "x", kT0) > *cas);
}

BOOST_AUTO_TEST_CASE(open_reports_bad_arguments) {
  auto empty_path = RocksDbBackend::Open(RocksDbOptions{});
  BOOST_TEST(empty_path.status().code() == StatusCode::kInvalidArgument);

  TempDir folder("credstore-rocksdb-test");
  auto missing = RocksDbBackend::Open(
      RocksDbOptions{.path = (folder.path() / "none").string(), .create_if_missing = false});
  BOOST_TEST(missing.status().code() == StatusCode::kNotFound);
  BOOST_TEST(missing.status().message().find("create_if_missing") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(reserved_keys_are_refused_and_never_scanned) {
  TempDir folder("credstore-rocksdb-test");
  auto backend = OpenStore(folder.path());
  const std::string reserved("\0credstore/max_version", 22);
  BOOST_TEST(backend->Get(reserved, kT0).status().code() == StatusCode::kInvalidArgument);
  BOOST_TEST(backend->Create(reserved, "x", {}, kT0).status().code() ==
             StatusCode::kInvalidArgument);
  MustCreate(*backend, "", "empty key", kT0);
  MustCreate(*backend, "b", "b", kT0);
  auto page = backend->Scan("", "", 10, kT0);
  BOOST_REQUIRE(page.ok());
  BOOST_REQUIRE(page->entries.size() == 2u);
  BOOST_TEST(page->entries[0].key == "");
  BOOST_TEST(page->entries[1].key == "b");
  BOOST_TEST(page->next_cursor.empty());
}

// ---- (b) the folder lock
// -------------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(second_open_in_this_process_is_refused) {
  TempDir folder("credstore-rocksdb-test");
  auto first = OpenStore(folder.path());
  auto second = RocksDbBackend::Open(RocksDbOptions{.path = folder.path().string()});
  BOOST_REQUIRE(!second.ok());
  BOOST_TEST(second.status().code() == StatusCode::kUnavailable);
  BOOST_TEST(second.status().message().find(folder.path().string()) != std::string::npos);
  BOOST_TEST_MESSAGE("in-process second open: " << second.status().ToString());
  first.reset();
  BOOST_TEST(RocksDbBackend::Open(RocksDbOptions{.path = folder.path().string()}).ok());
}

BOOST_AUTO_TEST_CASE(second_open_from_another_process_gets_a_clear_error) {
  TempDir folder("credstore-rocksdb-test");
  auto holder = OpenStore(folder.path());
  {
    Child probe({"open-probe", folder.path().string()}, {});
    const std::string code = probe.ReadLine().value_or("");
    const std::string message = probe.ReadLine().value_or("");
    const int status = probe.Wait();
    BOOST_REQUIRE(WIFEXITED(status));
    BOOST_REQUIRE(WEXITSTATUS(status) == 0);
    BOOST_TEST_MESSAGE("other process: " << code << ": " << message);
    BOOST_TEST(code == "unavailable");
    BOOST_TEST(message.find(folder.path().string()) != std::string::npos);
    BOOST_TEST(message.find("another process holds it") != std::string::npos);
  }
  holder.reset();
  Child probe({"open-probe", folder.path().string()}, {});
  BOOST_TEST(probe.ReadLine().value_or("") == "opened");
}

// ---- full disk: the free-space reserve ---------------------------------------------------------
// A reserve larger than any disk stands for a disk below it; full_disk_test (tests/durability)
// fills a real tmpfs and frees it again.

RocksDbOptions BelowTheReserve() {
  RocksDbOptions options;
  options.min_free_disk_bytes = std::numeric_limits<std::uint64_t>::max();
  return options;
}

BOOST_AUTO_TEST_CASE(the_default_reserve_is_two_write_buffers_and_64_mib) {
  BOOST_TEST(RocksDbOptions::DefaultMinFreeDiskBytes(std::size_t{16} << 20) == std::uint64_t{96}
                                                                                   << 20);
  BOOST_TEST(RocksDbOptions::DefaultMinFreeDiskBytes(std::size_t{64} << 20) == std::uint64_t{192}
                                                                                   << 20);
}

BOOST_AUTO_TEST_CASE(below_the_reserve_a_store_opens_read_only_and_refuses_every_write) {
  TempDir folder("credstore-rocksdb-test");
  Version a = 0;
  {
    auto store = OpenStore(folder.path());
    a = MustCreate(*store, "reserve/a", "durable", kT0);
  }
  {
    // Reopened, "reserve/a" is in a table file; "reserve/b" is newer, in the log only.
    auto store = OpenStore(folder.path());
    MustCreate(*store, "reserve/b", "not durable", kT0, NotDurable());
  }
  auto store = OpenStore(folder.path(), BelowTheReserve());
  const Status writes = store->CheckWrites();
  BOOST_TEST(writes.code() == StatusCode::kUnavailable);
  BOOST_TEST(writes.message().find("read-only") != std::string::npos, writes.ToString());
  BOOST_TEST(writes.retry_after() > milliseconds(0));
  BOOST_TEST(store->CheckHealth().ok(), "reads are served: the backend is healthy");

  // Every read answers, the unsynced record too, and a record in a table file every time it is
  // read (RocksDB 7.8's row cache, on a read-only instance, answered the second read "absent").
  for (int read = 0; read < 3; ++read) {
    auto got = store->Get("reserve/a", kT0);
    BOOST_REQUIRE_MESSAGE(got.ok(), "read " << read << ": " << got.status().ToString());
    BOOST_TEST(got->value == "durable");
    BOOST_TEST(got->version == a);
  }
  auto fast = store->Get("reserve/b", kT0);
  BOOST_TEST((fast.ok() && fast->value == "not durable"), fast.status().ToString());
  auto page = store->Scan("reserve/", "", 10, kT0);
  BOOST_REQUIRE_MESSAGE(page.ok(), page.status().ToString());
  BOOST_TEST(page->entries.size() == 2u);
  const auto tried = store->TryGet("reserve/a", kT0);
  if (tried) BOOST_TEST(tried->ok());

  // Every write, durable or not, answers kUnavailable before reaching RocksDB.
  BOOST_TEST(store->Create("reserve/c", "x", {}, kT0).status().code() == StatusCode::kUnavailable);
  BOOST_TEST(store->Create("reserve/c", "x", NotDurable(), kT0).status().code() ==
             StatusCode::kUnavailable);
  BOOST_TEST(store->CompareAndSwap("reserve/a", a, "y", {}, kT0).status().code() ==
             StatusCode::kUnavailable);
  BOOST_TEST(store->Erase("reserve/a", a, kT0).code() == StatusCode::kUnavailable);
  BOOST_TEST(store->CollectExpired().code() == StatusCode::kUnavailable);

  // Read-only still holds the folder: no second backend, here or in another process.
  auto second = RocksDbBackend::Open(RocksDbOptions{.path = folder.path().string()});
  BOOST_TEST(second.status().code() == StatusCode::kUnavailable, second.status().ToString());
  {
    Child probe({"open-probe", folder.path().string()}, {});
    BOOST_TEST(probe.ReadLine().value_or("") == "unavailable");
    BOOST_TEST(probe.ReadLine().value_or("").find("another process holds it") != std::string::npos);
  }

  // With room again (a restart here; a running backend reopens by itself), nothing is lost.
  store.reset();
  store = OpenStore(folder.path());
  BOOST_TEST(store->CheckWrites().ok());
  auto swapped = store->CompareAndSwap("reserve/a", a, "after", {}, kT0);
  BOOST_TEST(swapped.ok(), swapped.status().ToString());
  BOOST_TEST(store->Get("reserve/b", kT0).ok());
}

BOOST_AUTO_TEST_CASE(below_the_reserve_no_store_is_created) {
  TempDir folder("credstore-rocksdb-test");
  RocksDbOptions options = BelowTheReserve();
  options.path = (folder.path() / "new").string();
  auto refused = RocksDbBackend::Open(options);
  BOOST_TEST(refused.status().code() == StatusCode::kUnavailable, refused.status().ToString());
  BOOST_TEST(refused.status().message().find("reserve") != std::string::npos);
  options.create_if_missing = false;
  BOOST_TEST(RocksDbBackend::Open(options).status().code() == StatusCode::kNotFound);
  BOOST_TEST(!std::filesystem::exists(options.path));
}

// ---- (c) syncs per durable write
// -----------------------------------------------------------------

BOOST_AUTO_TEST_CASE(durable_writes_sync_and_non_durable_writes_do_not) {
  constexpr int kWrites = 25;
  TempDir folder("credstore-rocksdb-test");
  Child probe({"sync-probe", folder.path().string(), std::to_string(kWrites)},
              {"LD_PRELOAD=" CREDSTORE_SYNC_COUNTER_SHIM,
               // A sanitizer runtime insists on loading first; the shim only wraps two calls.
               "ASAN_OPTIONS=verify_asan_link_order=0"});
  std::map<std::string, std::pair<unsigned long, unsigned long>> syncs;  // fsync, fdatasync
  for (int i = 0; i < 16; ++i) {
    auto line = probe.ReadLine();
    if (!line) break;
    std::istringstream fields(*line);
    std::string phase;
    unsigned long fsyncs = 0, fdatasyncs = 0;
    fields >> phase >> fsyncs >> fdatasyncs;
    syncs[phase] = {fsyncs, fdatasyncs};
  }
  const int status = probe.Wait();
  BOOST_REQUIRE_MESSAGE(WIFEXITED(status) && WEXITSTATUS(status) == 0,
                        "sync-probe failed (exit 3: shim not preloaded)");
  for (const auto& [phase, counts] : syncs) {
    BOOST_TEST_MESSAGE(phase << ": " << counts.first << " fsync + " << counts.second
                             << " fdatasync for " << kWrites << " operations");
  }
  auto total = [&](const std::string& phase) {
    BOOST_REQUIRE_MESSAGE(syncs.count(phase) == 1, "no report for " << phase);
    return syncs[phase].first + syncs[phase].second;
  };
  BOOST_TEST(total("durable_create") >= static_cast<unsigned long>(kWrites));
  BOOST_TEST(total("nondurable_create") == 0u);
  BOOST_TEST(total("durable_cas") >= static_cast<unsigned long>(kWrites));
  BOOST_TEST(total("erase") >= static_cast<unsigned long>(kWrites));
}

// ---- (d) SIGKILL mid-stream --------------------------------------------------------------------

// The state the crash writer acknowledged for one key.
struct AckedState {
  char op = 0;  // 'C', 'U' or 'E'
  Version version = 0;
  long op_index = 0;
};

BOOST_AUTO_TEST_CASE(every_acknowledged_durable_write_survives_sigkill) {
  constexpr int kAcksBeforeKill = 400;
  constexpr long kMaxOperations = 1'000'000;  // the child never gets near it: it is killed first
  constexpr int kKeys = 32;                   // as in rocksdb_test_child's crash-writer
  TempDir folder("credstore-rocksdb-test");

  std::map<std::string, AckedState> acked;
  long acknowledged = 0, last_op_index = -1;
  Version highest_acked = 0;
  {
    Child writer({"crash-writer", folder.path().string(), std::to_string(kMaxOperations)}, {});
    auto take = [&](const std::string& line) {
      std::istringstream fields(line);
      AckedState state;
      std::string key;
      fields >> state.op >> key >> state.version >> state.op_index;
      BOOST_REQUIRE_MESSAGE(fields && state.op_index == last_op_index + 1, "bad line: " << line);
      acked[key] = state;
      last_op_index = state.op_index;
      highest_acked = std::max(highest_acked, state.version);
      ++acknowledged;
    };
    for (int i = 0; i < kAcksBeforeKill; ++i) {
      auto line = writer.ReadLine();
      BOOST_REQUIRE_MESSAGE(line, "the writer stopped early");
      take(*line);
    }
    writer.Kill();
    // Lines already in the pipe were acknowledged before the kill: they count too.
    for (long i = 0; i < kMaxOperations; ++i) {
      auto line = writer.ReadLine();
      if (!line) break;
      take(*line);
    }
    const int status = writer.Wait();
    BOOST_REQUIRE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
  }

  auto backend = OpenStore(folder.path());
  // The writer does one operation at a time and reports it before starting the next, so at most
  // one operation past the last acknowledged one may have reached the store: op last + 1.
  const long maybe_applied = last_op_index + 1;
  const std::string maybe_key = "crash/" + std::to_string(maybe_applied % kKeys);
  long exact = 0, one_ahead = 0;
  for (const auto& [key, state] : acked) {
    auto got = backend->Get(key, kT0);
    const bool unacked_op_may_show = key == maybe_key;
    if (state.op == 'E') {
      if (got.ok()) {
        BOOST_TEST_MESSAGE(key << " erased at v" << state.version << " is back at v"
                               << got->version);
        BOOST_TEST(unacked_op_may_show);
        BOOST_TEST(got->version > state.version);
        ++one_ahead;
      } else {
        BOOST_TEST(got.status().code() == StatusCode::kNotFound);
        ++exact;
      }
      continue;
    }
    if (!got.ok()) {
      BOOST_TEST_MESSAGE(key << " acknowledged at v" << state.version << " reads as "
                             << got.status().ToString());
      // Only an unacknowledged erase right after the last acknowledgement may explain it.
      BOOST_TEST(unacked_op_may_show);
      BOOST_TEST((maybe_applied / kKeys) % 5 == 4);
      ++one_ahead;
      continue;
    }
    if (got->version == state.version) {
      BOOST_TEST(got->value == key + "#" + std::to_string(state.op_index));
      ++exact;
    } else {
      BOOST_TEST(unacked_op_may_show);
      BOOST_TEST(got->version > state.version);
      BOOST_TEST(got->value == key + "#" + std::to_string(maybe_applied));
      ++one_ahead;
    }
  }
  BOOST_TEST_MESSAGE("acknowledged " << acknowledged << " durable operations over " << acked.size()
                                     << " keys before SIGKILL; after reopening " << exact
                                     << " keys hold exactly the acknowledged state, " << one_ahead
                                     << " the one unacknowledged operation after it");
  BOOST_TEST(acknowledged >= kAcksBeforeKill);
  BOOST_TEST(exact + one_ahead == static_cast<long>(acked.size()));
  BOOST_TEST(one_ahead <= 1);

  // After the crash, versions still move past every version handed out before it.
  const Version fresh = MustCreate(*backend, "crash/after", "x", kT0);
  BOOST_TEST(fresh > highest_acked);
}

// ---- (e) plaintext scan
// --------------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(plaintext_scan_finds_values_in_the_log_and_in_table_files) {
  TempDir folder("credstore-rocksdb-test");
  const std::string marker = "credstore-plaintext-marker-7f3a9c";
  const std::string never_written = "credstore-plaintext-marker-never-written";
  {
    auto backend = OpenStore(folder.path());
    for (int i = 0; i < 8; ++i) {
      MustCreate(*backend, "scan/" + std::to_string(i),
                 "prefix " + marker + " suffix " + std::to_string(i), kT0);
    }
    // While open, the values sit in the memtable and the write-ahead log.
    const auto in_log = ScanFolderForBytes(folder.path(), marker);
    BOOST_TEST_MESSAGE("open store: " << in_log.files_scanned << " files, " << in_log.bytes_scanned
                                      << " bytes; marker in " << in_log.files_containing.size()
                                      << " file(s)");
    BOOST_TEST(in_log.found());
    BOOST_TEST(std::any_of(in_log.files_containing.begin(), in_log.files_containing.end(),
                           [](const auto& file) { return file.extension() == ".log"; }));
    BOOST_TEST(!ScanFolderForBytes(folder.path(), never_written).found());
  }
  // Reopening replays the log into a table file; compaction rewrites it.
  auto backend = OpenStore(folder.path());
  BOOST_REQUIRE(backend->Get("scan/0", kT0).ok());
  BOOST_REQUIRE(backend->CollectExpired().ok());
  const auto in_tables = ScanFolderForBytes(folder.path(), marker);
  for (const auto& file : in_tables.files_containing) {
    BOOST_TEST_MESSAGE("after compaction, marker in " << file.filename());
  }
  BOOST_TEST(std::any_of(in_tables.files_containing.begin(), in_tables.files_containing.end(),
                         [](const auto& file) { return file.extension() == ".sst"; }));
  BOOST_TEST(!ScanFolderForBytes(folder.path(), never_written).found());
}

// ---- compaction filter
// ----------------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(compaction_drops_only_records_expired_by_both_clocks) {
  TempDir folder("credstore-rocksdb-test");
  auto backend = OpenStore(folder.path());  // expired_gc_grace: 1 minute
  std::map<std::string, Version> dropped_versions;
  for (int i = 0; i < 5; ++i) {
    const std::string key = "gc/expired-" + std::to_string(i);
    dropped_versions[key] =
        MustCreate(*backend, key, "x", kT0, WriteOptions{.expires_at = kT0 + milliseconds(1000)});
  }
  // Expired by the caller's clock at T0+10min, but within the 1-minute grace: kept on disk.
  MustCreate(*backend, "gc/within-grace", "x", kT0,
             WriteOptions{.expires_at = kT0 + std::chrono::minutes(9) + std::chrono::seconds(30)});
  // Long past by the wall clock, live by the caller's clock: must survive compaction.
  MustCreate(*backend, "gc/live", "live", kT0,
             WriteOptions{.expires_at = kT0 + std::chrono::hours(1)});
  MustCreate(*backend, "gc/forever", "forever", kT0);

  // Visibility follows `now`, before any collection.
  BOOST_TEST(backend->Get("gc/expired-0", kT0).ok());
  BOOST_TEST(backend->Get("gc/expired-0", kT0 + milliseconds(1000)).status().code() ==
             StatusCode::kNotFound);

  const Timestamp later = kT0 + std::chrono::minutes(10);
  BOOST_REQUIRE(backend->Get("gc/forever", later).ok());  // the latest `now` the backend saw
  BOOST_REQUIRE(backend->CollectExpired().ok());
  BOOST_TEST(backend->ExpiredRecordsCollected() == 5u);

  auto live = backend->Get("gc/live", later);
  BOOST_REQUIRE(live.ok());
  BOOST_TEST(live->value == "live");
  BOOST_TEST(backend->Get("gc/forever", later).ok());
  auto page = backend->Scan("gc/", "", 100, later);
  BOOST_REQUIRE(page.ok());
  BOOST_TEST(page->entries.size() == 2u);  // live and forever

  // A collected key is absent; recreating it still gets a fresh version.
  for (const auto& [key, old_version] : dropped_versions) {
    BOOST_TEST(MustCreate(*backend, key, "again", later) > old_version);
  }
}

// ---- compare-and-swap under contention
// --------------------------------------------------------------

BOOST_AUTO_TEST_CASE(concurrent_compare_and_swap_never_loses_an_increment) {
  constexpr int kThreads = 4;
  constexpr int kIncrementsPerThread = 150;
  constexpr int kMaxAttemptsPerThread = 1'000'000;
  TempDir folder("credstore-rocksdb-test");
  auto backend = OpenStore(folder.path());
  MustCreate(*backend, "counter", "0", kT0);

  std::vector<std::vector<Version>> won(kThreads);
  std::vector<int> attempts(kThreads, 0);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      int done = 0;
      while (done < kIncrementsPerThread && attempts[t] < kMaxAttemptsPerThread) {
        ++attempts[t];
        auto current = backend->Get("counter", kT0);
        if (!current.ok()) return;
        const std::string next = std::to_string(std::stoi(current->value) + 1);
        auto swapped =
            backend->CompareAndSwap("counter", current->version, next, NotDurable(), kT0);
        if (swapped.ok()) {
          won[t].push_back(*swapped);
          ++done;
        } else if (swapped.status().code() != StatusCode::kConflict) {
          return;
        }
      }
    });
  }
  for (auto& thread : threads) thread.join();

  std::set<Version> versions;
  std::size_t wins = 0;
  for (const auto& list : won) {
    wins += list.size();
    versions.insert(list.begin(), list.end());
  }
  int total_attempts = 0;
  for (int a : attempts) total_attempts += a;
  BOOST_TEST_MESSAGE(wins << " increments won in " << total_attempts << " attempts");
  BOOST_TEST(wins == static_cast<std::size_t>(kThreads * kIncrementsPerThread));
  BOOST_TEST(versions.size() == wins);  // no version given twice
  auto final_value = backend->Get("counter", kT0);
  BOOST_REQUIRE(final_value.ok());
  BOOST_TEST(final_value->value == std::to_string(kThreads * kIncrementsPerThread));
  BOOST_TEST(final_value->version == *versions.rbegin());
}

// ---- TryGet: answers from memory only
// ---------------------------------------------------------------

// Fixed width, so byte order is number order.
std::string TryGetKey(int i) { return "t/" + std::to_string(10000 + i); }

BOOST_AUTO_TEST_CASE(try_get_answers_from_memory_and_would_block_otherwise) {
  constexpr int kRecords = 200;         // even numbers only: the odd ones are absent keys in range
  const std::string padding(200, 'p');  // a few records per 4 KiB block: many blocks
  TempDir folder("credstore-rocksdb-test");
  {
    auto backend = OpenStore(folder.path());
    for (int i = 0; i < kRecords; ++i) {
      MustCreate(*backend, TryGetKey(2 * i), padding + std::to_string(i), kT0);
    }
    // Everything is in the memtable: every answer comes from memory.
    auto resident = backend->TryGet(TryGetKey(20), kT0);
    BOOST_REQUIRE(resident.has_value());
    BOOST_REQUIRE(resident->ok());
    BOOST_TEST((*resident)->value == padding + "10");
    auto absent = backend->TryGet(TryGetKey(21), kT0);
    BOOST_REQUIRE(absent.has_value());
    BOOST_TEST(absent->status().code() == StatusCode::kNotFound);
  }
  // Reopening replays the log into a table file; the block cache starts empty.
  auto backend = OpenStore(folder.path());

  // Absent keys inside the file's key range: the Bloom filter, kept in the table reader, says
  // so without reading a block.
  int answered_absent = 0;
  for (int i = 1; i < 2 * kRecords; i += 8) {
    auto absent = backend->TryGet(TryGetKey(i), kT0);
    BOOST_TEST_CONTEXT("absent " << TryGetKey(i)) {
      BOOST_REQUIRE(absent.has_value());
      BOOST_TEST(absent->status().code() == StatusCode::kNotFound);
    }
    ++answered_absent;
  }
  BOOST_TEST(answered_absent == kRecords / 4);

  // A present key whose block nobody has read: that needs file I/O, so "would block".
  const std::string cold = TryGetKey(300);
  BOOST_TEST(!backend->TryGet(cold, kT0).has_value());
  auto got = backend->Get(cold, kT0);
  BOOST_REQUIRE(got.ok());
  // Get brought the block into the cache.
  auto warm = backend->TryGet(cold, kT0);
  BOOST_REQUIRE(warm.has_value());
  BOOST_REQUIRE(warm->ok());
  BOOST_TEST((*warm)->value == got->value);
  BOOST_TEST((*warm)->version == got->version);

  // A write after the reopen sits in the memtable; so do an expired record and a CAS.
  const Version fresh = MustCreate(*backend, "t/fresh", "new", kT0,
                                   WriteOptions{.expires_at = kT0 + std::chrono::hours(1)});
  auto fresh_answer = backend->TryGet("t/fresh", kT0);
  BOOST_REQUIRE(fresh_answer.has_value());
  BOOST_REQUIRE(fresh_answer->ok());
  BOOST_TEST((*fresh_answer)->version == fresh);
  auto expired = backend->TryGet("t/fresh", kT0 + std::chrono::hours(1));
  BOOST_REQUIRE(expired.has_value());
  BOOST_TEST(expired->status().code() == StatusCode::kNotFound);
  auto swapped = backend->CompareAndSwap(cold, got->version, "swapped", {}, kT0);
  BOOST_REQUIRE(swapped.ok());
  auto after_swap = backend->TryGet(cold, kT0);
  BOOST_REQUIRE(after_swap.has_value());
  BOOST_REQUIRE(after_swap->ok());
  BOOST_TEST((*after_swap)->value == "swapped");

  const std::string reserved("\0credstore/max_version", 22);
  auto refused = backend->TryGet(reserved, kT0);
  BOOST_REQUIRE(refused.has_value());
  BOOST_TEST(refused->status().code() == StatusCode::kInvalidArgument);
  BOOST_TEST(!backend->AnswersFromMemory());
}

// A block cache too small to keep any block: only the row cache can answer TryGet for a record
// in a table file. Without one (the control), the same TryGet would block.
BOOST_AUTO_TEST_CASE(the_row_cache_answers_a_record_read_once_without_its_block) {
  const std::string padding(200, 'p');
  for (const std::size_t row_cache_bytes : {std::size_t{0}, std::size_t{1} << 20}) {
    BOOST_TEST_CONTEXT("row_cache_bytes " << row_cache_bytes) {
      TempDir folder("credstore-rocksdb-test");
      RocksDbOptions options;
      options.block_cache_bytes = 1;
      options.row_cache_bytes = row_cache_bytes;
      Version first = 0;
      {
        auto backend = OpenStore(folder.path(), options);
        for (int i = 0; i < 50; ++i) MustCreate(*backend, TryGetKey(i), padding, kT0);
        first = MustCreate(*backend, "t/row", "first", kT0);
      }
      // Reopened: the records are in a table file now, and no block is cached.
      auto backend = OpenStore(folder.path(), options);
      BOOST_REQUIRE(backend->Get("t/row", kT0).ok());
      const auto tried = backend->TryGet("t/row", kT0);
      if (row_cache_bytes == 0) {
        BOOST_TEST(!tried.has_value());
        continue;
      }
      BOOST_REQUIRE(tried.has_value());
      BOOST_REQUIRE(tried->ok());
      BOOST_TEST((*tried)->value == "first");
      BOOST_TEST((*tried)->version == first);

      // A swap lands in the write buffer, which every read consults before the table file whose
      // row is cached. After a reopen (a new instance, so a new row cache) the swapped record is
      // in a newer table file, and an Erase is seen at once.
      const auto swapped = backend->CompareAndSwap("t/row", first, "second", {}, kT0);
      BOOST_REQUIRE(swapped.ok());
      const auto after_swap = backend->TryGet("t/row", kT0);
      BOOST_REQUIRE(after_swap.has_value());
      BOOST_REQUIRE(after_swap->ok());
      BOOST_TEST((*after_swap)->value == "second");
      backend.reset();
      backend = OpenStore(folder.path(), options);
      const auto reopened = backend->Get("t/row", kT0);
      BOOST_REQUIRE(reopened.ok());
      BOOST_TEST(reopened->value == "second");
      BOOST_TEST(reopened->version == *swapped);
      const auto erased = backend->Erase("t/row", *swapped, kT0);
      BOOST_REQUIRE(erased.ok());
      const auto after_erase = backend->TryGet("t/row", kT0);
      BOOST_REQUIRE(after_erase.has_value());
      BOOST_TEST(after_erase->status().code() == StatusCode::kNotFound);
    }
  }
}

// ---- the commit queue: many durable writers
// ---------------------------------------------------------

// Many threads CAS durably over many keys and a few hot ones, so groups often hold several
// writes to one key. Every acknowledged swap must chain onto the previous one (no lost update,
// versions strictly increasing per key, none given twice) and the last one must be what a
// reopened store holds.
BOOST_AUTO_TEST_CASE(concurrent_durable_swaps_chain_and_survive_reopen) {
  constexpr int kThreads = 16;
  constexpr int kColdKeys = 64;
  constexpr int kHotKeys = 2;
  constexpr int kAttemptsPerThread = 120;
  TempDir folder("credstore-rocksdb-test");

  struct Ack {
    Version expected;
    Version version;
    std::string value;
  };
  std::vector<std::string> keys;
  for (int i = 0; i < kHotKeys; ++i) keys.push_back("hot/" + std::to_string(i));
  for (int i = 0; i < kColdKeys; ++i) keys.push_back("cold/" + std::to_string(i));
  std::map<std::string, Version> created;
  std::vector<std::map<std::string, std::vector<Ack>>> acks(kThreads);
  std::vector<std::string> failures(kThreads);
  {
    auto backend = OpenStore(folder.path());
    for (const auto& key : keys) created[key] = MustCreate(*backend, key, key + "#created", kT0);

    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, t] {
        for (int n = 0; n < kAttemptsPerThread; ++n) {
          // Every other attempt goes to a hot key; the rest spread over the cold ones.
          const std::string& key =
              n % 2 == 0 ? keys[(t + n) % kHotKeys] : keys[kHotKeys + (t * 7 + n * 13) % kColdKeys];
          auto current = backend->Get(key, kT0);
          if (!current.ok()) {
            failures[t] = "get " + key + ": " + current.status().ToString();
            return;
          }
          const std::string value = key + "#" + std::to_string(t) + "." + std::to_string(n);
          auto swapped = backend->CompareAndSwap(key, current->version, value, {}, kT0);
          if (swapped.ok()) {
            acks[t][key].push_back(Ack{current->version, *swapped, value});
          } else if (swapped.status().code() != StatusCode::kConflict) {
            failures[t] = "cas " + key + ": " + swapped.status().ToString();
            return;
          }
        }
      });
    }
    for (auto& thread : threads) thread.join();
  }
  for (const auto& failure : failures) BOOST_TEST(failure.empty(), failure);

  std::map<std::string, std::vector<Ack>> per_key;
  std::set<Version> versions;
  std::size_t total = 0;
  for (const auto& mine : acks) {
    for (const auto& [key, list] : mine) {
      for (const auto& ack : list) {
        per_key[key].push_back(ack);
        versions.insert(ack.version);
        ++total;
      }
      // One thread's acknowledgements of one key come in increasing version order.
      for (std::size_t i = 1; i < list.size(); ++i) {
        BOOST_TEST(list[i].version > list[i - 1].version);
      }
    }
  }
  BOOST_TEST_MESSAGE(total << " durable swaps acknowledged over " << per_key.size() << " keys");
  BOOST_TEST(versions.size() == total);  // no version given twice
  BOOST_TEST(per_key.count("hot/0") == 1u);

  auto backend = OpenStore(folder.path());
  for (const auto& key : keys) {
    auto& list = per_key[key];
    std::sort(list.begin(), list.end(),
              [](const Ack& a, const Ack& b) { return a.version < b.version; });
    // The acknowledged swaps of a key form one chain from its creation: each expected the
    // version the one before it wrote, so none was lost and none was applied twice.
    Version previous = created[key];
    std::string value = key + "#created";
    for (const auto& ack : list) {
      BOOST_TEST_CONTEXT(key << " v" << ack.version) {
        BOOST_TEST(ack.expected == previous);
        BOOST_TEST(ack.version > previous);
      }
      previous = ack.version;
      value = ack.value;
    }
    auto got = backend->Get(key, kT0);
    BOOST_REQUIRE_MESSAGE(got.ok(), key << ": " << got.status().ToString());
    BOOST_TEST(got->version == previous, key);
    BOOST_TEST(got->value == value, key);
  }
  BOOST_TEST(MustCreate(*backend, "after", "x", kT0) > *versions.rbegin());
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace
}  // namespace credstore::testing
