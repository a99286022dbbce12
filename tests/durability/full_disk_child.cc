// The process of full_disk_test that runs on a full disk. full_disk_test starts it under
// `unshare -m` (a mount namespace of its own, as root), so the tmpfs it mounts is seen by no
// other process and disappears with it.
//   usage: full_disk_child <empty folder> [reserve|no-reserve]
//
// Mounts a small tmpfs on the folder and runs CredentialStore over RocksDB on it. In the
// "reserve" mode (the default), with a free-space reserve:
// 1. fills the disk with a ballast file up to just above the store's free-space reserve, then
//    sends non-durable traffic (signed requests, each leaving a replay record; wrong secrets,
//    each leaving throttle counters) mixed with durable settings writes until writes are
//    refused — the process must not abort, and reads must keep answering;
// 2. fills what is left of the disk completely, checks that writes answer kUnavailable and
//    reads answer, then restarts the store on the full disk (RocksDB must not be opened
//    read-write there: that aborts inside RocksDB 7.8) and checks the same;
// 3. frees the disk and waits (a bounded number of tries) until writes are accepted again,
//    without a restart;
// 4. restarts once more.
// After 2, 3 and 4 every acknowledged write must be there: each customer's settings at least at
// their last acknowledged value, and every acknowledged signed request refused as a replay.
// The "no-reserve" mode turns the reserve off to reach RocksDB's own error path (see
// RunWithoutReserve).
//
// Prints progress on stdout and "full-disk: ok" at the end; exit 0. Any failure prints
// "error: ..." on stderr and exits 2; exit 77 when the tmpfs cannot be mounted.
#include <fcntl.h>
#include <sys/mount.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "credstore/backends/rocksdb.h"
#include "credstore/credential_store.h"

namespace {

using namespace credstore;

constexpr std::uint64_t kMiB = std::uint64_t{1} << 20;
constexpr std::uint64_t kTmpfsBytes = 24 * kMiB;
// The store's reserve for this test: small, so that a small tmpfs holds it, yet several times
// what this test writes in the 100 ms a free-space figure is cached (about 1 MiB here, a
// flushed 256 KiB write buffer included).
constexpr std::uint64_t kReserveBytes = 6 * kMiB;
constexpr std::size_t kWriteBufferBytes = 256 * 1024;
// Free space the first ballast leaves above the reserve: a few thousand records' worth.
constexpr std::uint64_t kHeadroomBytes = 1 * kMiB;
constexpr int kCustomers = 4;

[[noreturn]] void Fail(const std::string& what) {
  std::fprintf(stderr, "error: %s\n", what.c_str());
  std::exit(2);
}

[[noreturn]] void Fail(const std::string& what, const Status& status) {
  Fail(what + ": " + status.ToString());
}

void Say(const std::string& line) {
  std::printf("%s\n", line.c_str());
  std::fflush(stdout);
}

std::uint64_t FreeBytes(const std::string& path) {
  struct statvfs fs {};
  if (::statvfs(path.c_str(), &fs) != 0) Fail("statvfs " + path + ": " + std::strerror(errno));
  return static_cast<std::uint64_t>(fs.f_bavail) * fs.f_frsize;
}

// Appends 64 KiB blocks to `file` while the disk has more than `keep_free` bytes free (0: until
// the disk is full). Bounded: a tmpfs of kTmpfsBytes holds at most that many blocks.
void FillDisk(const std::string& mount, const std::string& file, std::uint64_t keep_free) {
  const int fd = ::open(file.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
  if (fd < 0) Fail("open " + file + ": " + std::strerror(errno));
  std::vector<char> block(64 * 1024, 'x');
  for (std::uint64_t i = 0; i < kTmpfsBytes / block.size() + 1; ++i) {
    const std::uint64_t free = FreeBytes(mount);
    if (keep_free > 0 && free <= keep_free + block.size()) break;
    std::size_t size = block.size();
    if (keep_free == 0 && free < size) size = free == 0 ? 4096 : free;
    if (::write(fd, block.data(), size) < 0) {
      if (errno == ENOSPC) break;
      Fail("write " + file + ": " + std::strerror(errno));
    }
  }
  ::close(fd);
}

struct SignedCall {
  std::string timestamp;
  std::string target;
  std::string signature;
};

// What the store has acknowledged, and what it was asked that may have landed anyway.
struct Acknowledged {
  std::map<std::string, std::string> admin_keys;  // api key -> its admin key
  std::map<std::string, long> settings;           // api key -> last acknowledged n
  std::map<std::string, long> attempted;          // api key -> last n asked for (ack or not)
  std::vector<SignedCall> verified;               // signed requests answered OK
};

class Harness {
 public:
  Harness(std::string folder, std::uint64_t reserve_bytes)
      : folder_(std::move(folder)), reserve_bytes_(reserve_bytes) {}

  void Open() {
    RocksDbOptions rocks;
    rocks.path = folder_;
    rocks.write_buffer_bytes = kWriteBufferBytes;
    rocks.block_cache_bytes = 8 * kMiB;
    rocks.min_free_disk_bytes = reserve_bytes_;
    rocks.write_recovery_interval = std::chrono::milliseconds(50);
    auto backend = RocksDbBackend::Open(rocks);
    if (!backend.ok()) Fail("open the backend", backend.status());
    backend_ = *backend;
    Options options;
    options.argon2 = Argon2Cost::MinimumForTests();
    options.audit = std::make_shared<NullAuditSink>();
    auto store = CredentialStore::Open(backend_, keyring_, options);
    if (!store.ok()) Fail("open the store", store.status());
    store_ = std::move(store).value();
  }

  // A clean stop: the store and the backend close, as at a restart.
  void Close() {
    store_.reset();
    backend_.reset();
  }

  CredentialStore& store() { return *store_; }
  RocksDbBackend& backend() { return *backend_; }

  std::string integrator_id;
  std::string integrator_secret;

 private:
  std::string folder_;
  std::uint64_t reserve_bytes_;
  Keyring keyring_ = Keyring::Generate();
  std::shared_ptr<RocksDbBackend> backend_;
  std::unique_ptr<CredentialStore> store_;
};

std::string NowText() { return std::to_string(SystemClock().Now().time_since_epoch().count()); }

SignedCall Sign(const Harness& harness, long n) {
  SignedCall call;
  call.timestamp = NowText();
  call.target = "/v1/check?n=" + std::to_string(n);
  call.signature = SignRequest(harness.integrator_secret, call.timestamp, "GET", call.target, "");
  return call;
}

Status Send(Harness& harness, const SignedCall& call) {
  const SignedRequest request{
      harness.integrator_id, call.timestamp, call.signature, "GET", call.target, ""};
  return harness.store().VerifySignedRequest(request).status();
}

std::string ApiKey(int i) { return "disk_customer_" + std::to_string(i); }

Status PutSettings(Harness& harness, Acknowledged& acks, int customer, long n) {
  const std::string api_key = ApiKey(customer);
  acks.attempted[api_key] = n;
  const std::string json = "{\"n\":" + std::to_string(n) + "}";
  auto put = harness.store().PutSettings(RequestContext{}, "geofencing", api_key,
                                         acks.admin_keys.at(api_key), json);
  if (put.ok()) acks.settings[api_key] = n;
  return put.status();
}

// Every acknowledged write is there: settings at or past the last acknowledged value (a write
// that was refused may still have reached the log, so up to the last one asked for), admin keys
// verify, and acknowledged signed requests are refused as replays. While writes are refused
// (`writes_refused`), a replay may answer kUnavailable like every signed request — the store
// never verifies one it cannot record — and is never accepted. Writes nothing that would not be
// a replay.
void CheckAcknowledged(Harness& harness, const Acknowledged& acks, const std::string& when,
                       bool writes_refused) {
  for (const auto& [api_key, admin_key] : acks.admin_keys) {
    const Status verified = harness.store().VerifyAdminKey("geofencing", api_key, admin_key);
    if (!verified.ok()) Fail(when + ": the admin key of " + api_key + " does not verify", verified);
    auto settings = harness.store().GetSettings("geofencing", api_key, admin_key);
    if (!settings.ok()) Fail(when + ": settings of " + api_key, settings.status());
    const auto acked = acks.settings.find(api_key);
    if (acked == acks.settings.end()) continue;
    long n = -1;
    if (std::sscanf(settings->c_str(), "{\"n\":%ld}", &n) != 1) {
      Fail(when + ": settings of " + api_key + " are " + *settings);
    }
    if (n < acked->second || n > acks.attempted.at(api_key)) {
      Fail(when + ": settings of " + api_key + " are n=" + std::to_string(n) +
           ", acknowledged n=" + std::to_string(acked->second));
    }
  }
  // Every 50th and the last 20: enough to cover the whole run without thousands of calls.
  for (std::size_t i = 0; i < acks.verified.size(); ++i) {
    if (i % 50 != 0 && i + 20 < acks.verified.size()) continue;
    const Status again = Send(harness, acks.verified[i]);
    // Refused writes may come back meanwhile (RocksDB deletes files it compacted away, and
    // the free space rises over the reserve again): then the replay is refused as one.
    const bool refused = again.code() == StatusCode::kUnauthorized ||
                         (writes_refused && again.code() == StatusCode::kUnavailable);
    if (!refused) {
      Fail(when + ": acknowledged signed request " + acks.verified[i].target +
               " was not refused as a replay",
           again);
    }
  }
}

void ExpectWritesRefused(Harness& harness, Acknowledged& acks, const std::string& when) {
  const Status put = PutSettings(harness, acks, 0, acks.attempted[ApiKey(0)] + 1);
  if (put.code() != StatusCode::kUnavailable) Fail(when + ": a settings write", put);
  const Status signed_call = Send(harness, Sign(harness, -1));
  if (signed_call.code() != StatusCode::kUnavailable)
    Fail(when + ": a signed request", signed_call);
  const Status ready = harness.store().CheckReady();
  if (!ready.ok()) Fail(when + ": CheckReady (reads are served)", ready);
  const Status writes = harness.backend().CheckWrites();
  if (writes.code() != StatusCode::kUnavailable) Fail(when + ": CheckWrites", writes);
}

// The "no-reserve" mode: the reserve is off, so RocksDB itself meets the full disk on a synced
// write and answers it with an error. RocksDB 7.8 would abort on the next write through that
// instance, even after DB::Resume() (this mode showed it), so the backend refuses writes, swaps
// the instance for a read-only one, and reopens read-write once space is back. Only durable
// writes (settings) run while the disk is full: RocksDB answers only those with an error rather
// than an abort, and keeping unsynced ones off a full disk is what the reserve is for.
int RunWithoutReserve(Harness& harness, Acknowledged& acks, const std::string& mount,
                      const std::string& ballast) {
  FillDisk(mount, ballast, 0);
  Say("full: " + std::to_string(FreeBytes(mount)) + " bytes free");
  long n = 0;
  Status failed;
  constexpr long kMaxWrites = 20000;  // far more than a full tmpfs holds
  while (n < kMaxWrites && failed.ok()) {
    ++n;
    failed = PutSettings(harness, acks, static_cast<int>(n % kCustomers), n);
  }
  if (failed.code() != StatusCode::kUnavailable) Fail("a settings write on the full disk", failed);
  Say("refused after " + std::to_string(n) + " writes: " + failed.ToString());
  for (int i = 0; i < 20; ++i) {
    const Status again = PutSettings(harness, acks, i % kCustomers, ++n);
    if (again.code() != StatusCode::kUnavailable) Fail("a write after the first refusal", again);
  }
  CheckAcknowledged(harness, acks, "stopped on the full disk", true);

  if (::unlink(ballast.c_str()) != 0) Fail(std::string("unlink: ") + std::strerror(errno));
  Status resumed = Status::Unavailable("not tried");
  constexpr int kMaxTries = 600;  // 100 ms apart: a minute, far beyond a recovery's few seconds
  int tries = 0;
  for (; tries < kMaxTries; ++tries) {
    resumed = PutSettings(harness, acks, 0, ++n);
    if (resumed.code() != StatusCode::kUnavailable) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  if (!resumed.ok()) Fail("writes did not resume once space was back", resumed);
  Say("writes resumed after " + std::to_string(tries) + " refusals");
  const Status signed_call = Send(harness, Sign(harness, ++n));
  if (!signed_call.ok()) Fail("a signed request once space was back", signed_call);
  CheckAcknowledged(harness, acks, "writes back", false);
  harness.Close();
  harness.Open();
  CheckAcknowledged(harness, acks, "restarted after resuming", false);
  harness.Close();
  Say("full-disk: ok");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string mode = argc == 3 ? argv[2] : "reserve";
  if (argc < 2 || argc > 3 || (mode != "reserve" && mode != "no-reserve")) {
    std::fprintf(stderr, "usage: full_disk_child <empty folder> [reserve|no-reserve]\n");
    return 2;
  }
  const std::string mount = argv[1];
  const std::string size = "size=" + std::to_string(kTmpfsBytes);
  // Private first: the namespace's copy of the mount tree must not pass the tmpfs back to the
  // rest of the machine (systemd makes / shared).
  if (::mount("none", "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0 ||
      ::mount("tmpfs", mount.c_str(), "tmpfs", 0, size.c_str()) != 0) {
    std::fprintf(stderr, "cannot mount a tmpfs on %s: %s\n", mount.c_str(), std::strerror(errno));
    return 77;
  }
  const std::string folder = mount + "/store";
  const std::string ballast = mount + "/ballast";
  const std::string last_ballast = mount + "/ballast-rest";

  Harness harness(folder, mode == "no-reserve" ? 0 : kReserveBytes);
  Acknowledged acks;
  harness.Open();
  auto integrator = harness.store().CreateIntegrator(RequestContext{}, "disk");
  if (!integrator.ok()) Fail("create an integrator", integrator.status());
  harness.integrator_id = integrator->integrator_id;
  harness.integrator_secret = std::string(integrator->secret.view());
  for (int i = 0; i < kCustomers; ++i) {
    auto grant = harness.store().Register(RequestContext{}, "geofencing", ApiKey(i), "right");
    if (!grant.ok()) Fail("register", grant.status());
    acks.admin_keys[ApiKey(i)] = std::string(grant->admin_key.view());
  }

  if (mode == "no-reserve") return RunWithoutReserve(harness, acks, mount, ballast);

  // 1. Just above the reserve, then traffic until writes are refused.
  FillDisk(mount, ballast, kReserveBytes + kHeadroomBytes);
  Say("ballast: " + std::to_string(FreeBytes(mount) / 1024) + " KiB left free");
  int refused_in_a_row = 0;
  long unavailable = 0;
  long n = 0;
  constexpr long kMaxCalls = 400000;  // far more than the headroom holds
  for (; n < kMaxCalls && refused_in_a_row < 50; ++n) {
    Status status;
    if (n % 7 == 0) {
      status = PutSettings(harness, acks, static_cast<int>(n % kCustomers), n);
    } else if (n % 11 == 0) {
      // Wrong secrets from many addresses: each failure writes throttle counters.
      RequestContext from;
      from.client_address = "198.51.100." + std::to_string(n % 250);
      status = harness.store()
                   .RegenerateAdminKey(from, "geofencing", ApiKey(static_cast<int>(n % kCustomers)),
                                       "wrong")
                   .status();
      if (status.code() == StatusCode::kUnauthorized || status.code() == StatusCode::kThrottled) {
        status = Status::Ok();
      }
    } else {
      SignedCall call = Sign(harness, n);
      status = Send(harness, call);
      if (status.ok()) acks.verified.push_back(std::move(call));
    }
    if (status.ok()) {
      refused_in_a_row = 0;
    } else if (status.code() == StatusCode::kUnavailable) {
      ++unavailable;
      ++refused_in_a_row;
    } else {
      Fail("call " + std::to_string(n), status);
    }
  }
  if (refused_in_a_row < 50) Fail("writes were never refused: the disk did not fill");
  Say("filled: " + std::to_string(n) + " calls, " + std::to_string(acks.verified.size()) +
      " signed requests acknowledged, " + std::to_string(unavailable) + " refused, " +
      std::to_string(FreeBytes(mount) / 1024) + " KiB free");
  CheckAcknowledged(harness, acks, "at the reserve", true);

  // 2. A disk with no space at all, before and after a restart.
  FillDisk(mount, last_ballast, 0);
  Say("full: " + std::to_string(FreeBytes(mount)) + " bytes free");
  ExpectWritesRefused(harness, acks, "full disk");
  CheckAcknowledged(harness, acks, "full disk", true);
  harness.Close();
  harness.Open();
  Say("restarted on the full disk: " + harness.backend().CheckWrites().ToString());
  ExpectWritesRefused(harness, acks, "restarted on the full disk");
  CheckAcknowledged(harness, acks, "restarted on the full disk", true);

  // 3. Space back: writes resume without a restart.
  if (::unlink(ballast.c_str()) != 0 || ::unlink(last_ballast.c_str()) != 0) {
    Fail(std::string("unlink the ballast: ") + std::strerror(errno));
  }
  Status resumed = Status::Unavailable("not tried");
  constexpr int kMaxTries = 600;  // 100 ms apart: a minute, far beyond a recovery's few seconds
  int tries = 0;
  for (; tries < kMaxTries; ++tries) {
    resumed = PutSettings(harness, acks, 0, ++n);
    if (resumed.code() != StatusCode::kUnavailable) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  if (!resumed.ok()) Fail("writes did not resume once space was back", resumed);
  Say("writes resumed after " + std::to_string(tries) + " refusals");
  const Status signed_again = Send(harness, Sign(harness, ++n));
  if (!signed_again.ok()) Fail("a signed request once space was back", signed_again);
  const Status writes = harness.backend().CheckWrites();
  if (!writes.ok()) Fail("CheckWrites once space was back", writes);
  CheckAcknowledged(harness, acks, "space back", false);

  // 4. And after one more restart.
  harness.Close();
  harness.Open();
  CheckAcknowledged(harness, acks, "restarted with space", false);
  const Status last = PutSettings(harness, acks, 1, ++n);
  if (!last.ok()) Fail("a settings write after the last restart", last);
  harness.Close();
  Say("full-disk: ok");
  return 0;
}
