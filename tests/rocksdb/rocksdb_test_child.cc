// The other process of rocksdb_tests: each test that needs a second process (to hold a lock,
// to run under the sync-counting shim, to be killed mid-write) execs this program.
//
//   rocksdb_test_child open-probe <folder>
//       Tries to open the store; prints "opened", or the status code name and message on two
//       lines. Exit 0 either way.
//   rocksdb_test_child sync-probe <folder> <n>
//       Needs sync_counter_shim preloaded (exit 3 without it). Runs n durable Creates, n
//       non-durable Creates, n durable CompareAndSwaps and n Erases, and prints one line
//       "<phase> <fsync calls> <fdatasync calls>" per phase (plus "open" for opening).
//   rocksdb_test_child crash-writer <folder> <max operations>
//       Durable Creates, CompareAndSwaps and Erases over a few keys; after each one is
//       acknowledged, writes "<op> <key> <version> <op index>" on stdout (op: C, U or E) with
//       one write(2) per line. Runs until killed or until max operations are done.
//
// Every mode bounds its loops; a failed backend call prints "error: ..." to stderr and exits 2.
#include <dlfcn.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "credstore/backends/rocksdb.h"

namespace {

using credstore::Timestamp;
using credstore::Version;

const Timestamp kNow{std::chrono::milliseconds(1'700'000'000'000)};

credstore::WriteOptions NotDurable() {
  credstore::WriteOptions options;
  options.durable = false;
  return options;
}

[[noreturn]] void Fail(const std::string& what, const credstore::Status& status) {
  std::fprintf(stderr, "error: %s: %s\n", what.c_str(), status.ToString().c_str());
  std::exit(2);
}

std::shared_ptr<credstore::RocksDbBackend> OpenOrDie(const std::string& folder) {
  auto opened = credstore::RocksDbBackend::Open(credstore::RocksDbOptions{.path = folder});
  if (!opened.ok()) Fail("open", opened.status());
  return *opened;
}

// One write(2) per line: a pipe write of at most PIPE_BUF bytes is atomic, so the parent never
// sees half a line from a killed child.
void WriteLine(const std::string& line) {
  std::string_view rest = line;
  while (!rest.empty()) {
    const ssize_t written = ::write(STDOUT_FILENO, rest.data(), rest.size());
    if (written <= 0) std::exit(4);  // the parent went away
    rest.remove_prefix(static_cast<std::size_t>(written));
  }
}

int OpenProbe(const std::string& folder) {
  auto opened = credstore::RocksDbBackend::Open(credstore::RocksDbOptions{.path = folder});
  if (opened.ok()) {
    std::printf("opened\n");
  } else {
    std::printf("%s\n%s\n", std::string(credstore::StatusCodeName(opened.status().code())).c_str(),
                opened.status().message().c_str());
  }
  return 0;
}

int SyncProbe(const std::string& folder, int n) {
  using Counter = unsigned long (*)();
  auto fsyncs = reinterpret_cast<Counter>(dlsym(RTLD_DEFAULT, "credstore_test_fsync_calls"));
  auto fdatasyncs =
      reinterpret_cast<Counter>(dlsym(RTLD_DEFAULT, "credstore_test_fdatasync_calls"));
  if (fsyncs == nullptr || fdatasyncs == nullptr) {
    std::fprintf(stderr, "error: the sync counter shim is not preloaded\n");
    return 3;
  }
  unsigned long last_fsync = fsyncs();
  unsigned long last_fdatasync = fdatasyncs();
  auto report = [&](const char* phase) {
    const unsigned long now_fsync = fsyncs();
    const unsigned long now_fdatasync = fdatasyncs();
    std::printf("%s %lu %lu\n", phase, now_fsync - last_fsync, now_fdatasync - last_fdatasync);
    last_fsync = now_fsync;
    last_fdatasync = now_fdatasync;
  };

  auto backend = OpenOrDie(folder);
  report("open");
  std::vector<Version> versions;
  for (int i = 0; i < n; ++i) {
    auto created = backend->Create("durable/" + std::to_string(i), "v", {}, kNow);
    if (!created.ok()) Fail("durable create", created.status());
    versions.push_back(*created);
  }
  report("durable_create");
  for (int i = 0; i < n; ++i) {
    auto created = backend->Create("volatile/" + std::to_string(i), "v", NotDurable(), kNow);
    if (!created.ok()) Fail("non-durable create", created.status());
  }
  report("nondurable_create");
  for (int i = 0; i < n; ++i) {
    auto swapped =
        backend->CompareAndSwap("durable/" + std::to_string(i), versions[i], "w", {}, kNow);
    if (!swapped.ok()) Fail("durable compare-and-swap", swapped.status());
    versions[i] = *swapped;
  }
  report("durable_cas");
  for (int i = 0; i < n; ++i) {
    if (auto erased = backend->Erase("durable/" + std::to_string(i), versions[i], kNow);
        !erased.ok()) {
      Fail("erase", erased);
    }
  }
  report("erase");
  std::fflush(stdout);
  return 0;
}

int CrashWriter(const std::string& folder, long max_operations) {
  constexpr int kKeys = 32;
  auto backend = OpenOrDie(folder);
  std::map<std::string, std::optional<Version>> current;  // nullopt: absent
  for (long op = 0; op < max_operations; ++op) {
    const std::string key = "crash/" + std::to_string(op % kKeys);
    const std::string value = key + "#" + std::to_string(op);
    std::optional<Version>& version = current[key];
    if (!version) {
      auto created = backend->Create(key, value, {}, kNow);
      if (!created.ok()) Fail("create " + key, created.status());
      version = *created;
      WriteLine("C " + key + " " + std::to_string(*version) + " " + std::to_string(op) + "\n");
    } else if ((op / kKeys) % 5 == 4) {
      if (auto erased = backend->Erase(key, *version, kNow); !erased.ok()) Fail("erase", erased);
      WriteLine("E " + key + " " + std::to_string(*version) + " " + std::to_string(op) + "\n");
      version.reset();
    } else {
      auto swapped = backend->CompareAndSwap(key, *version, value, {}, kNow);
      if (!swapped.ok()) Fail("compare-and-swap " + key, swapped.status());
      version = *swapped;
      WriteLine("U " + key + " " + std::to_string(*version) + " " + std::to_string(op) + "\n");
    }
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const std::vector<std::string> args(argv + 1, argv + argc);
  if (args.size() == 2 && args[0] == "open-probe") return OpenProbe(args[1]);
  if (args.size() == 3 && args[0] == "sync-probe") return SyncProbe(args[1], std::stoi(args[2]));
  if (args.size() == 3 && args[0] == "crash-writer") {
    return CrashWriter(args[1], std::stol(args[2]));
  }
  std::fprintf(stderr, "usage: %s open-probe|sync-probe|crash-writer <folder> [count]\n",
               argc > 0 ? argv[0] : "rocksdb_test_child");
  return 64;
}
