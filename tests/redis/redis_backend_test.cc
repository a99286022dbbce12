// Tests specific to credstore::redis: URI parsing, TCP, the server checks of Open, outages and
// recovery, crash durability, lost replies, versions across erase and garbage collection, and
// the plaintext scan of the files Redis keeps on disk. The StorageBackend contract itself is
// checked by the conformance suite (conformance_redis).
//
// Each test that disturbs its server (stops, kills, freezes or reconfigures it) starts its own
// RedisServerFixture. Every wait is bounded, and timing bounds are generous: a test checks that a
// call returns kUnavailable in seconds instead of hanging, not how fast it is.
#include <algorithm>
#include <atomic>
#include <boost/test/unit_test.hpp>
#include <chrono>
#include <cstddef>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "credstore/backends/redis.h"
#include "credstore/storage_backend.h"
#include "redis/redis_server_fixture.h"
#include "support/test_helpers.h"

namespace credstore::testing {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

constexpr Timestamp kNow = kBackendTestEpoch;
constexpr std::string_view kPassword = "Sup3rSecretPw";

std::shared_ptr<RedisBackend> MustOpen(const RedisOptions& options) {
  Result<std::shared_ptr<RedisBackend>> opened = RedisBackend::Open(options);
  BOOST_TEST_REQUIRE(opened.ok(), "Open failed: " << opened.status().message());
  return std::move(opened).value();
}

std::string RedisKeyOf(std::string_view key) { return "credstore:{" + std::string(key) + "}"; }

double Seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

// Options for outage tests: short timeouts, so a failure shows up quickly.
RedisOptions QuickOptions(const RedisServerFixture& server) {
  RedisOptions options = server.BackendOptions();
  options.connect_timeout = 500ms;
  options.command_timeout = 1000ms;
  return options;
}

// Every StorageBackend call once against a server that is down or frozen; each must answer
// kUnavailable. Returns the longest time one call took.
Clock::duration ExpectEveryCallUnavailable(StorageBackend& backend, std::string_view key,
                                           Version version) {
  Clock::duration longest{0};
  const auto timed = [&longest](const char* what, auto&& call) {
    const auto start = Clock::now();
    const Status status = call();
    const auto took = Clock::now() - start;
    longest = std::max(longest, took);
    BOOST_TEST(status.code() == StatusCode::kUnavailable, what << ": " << status.ToString());
    BOOST_TEST(Seconds(took) < 5.0, what << " took " << Seconds(took) << " s");
  };
  timed("Get", [&] { return backend.Get(key, kNow).status(); });
  timed("Create", [&] { return backend.Create("outage/new", "v", NoExpiry(), kNow).status(); });
  timed("CompareAndSwap",
        [&] { return backend.CompareAndSwap(key, version, "v2", NoExpiry(), kNow).status(); });
  timed("Erase", [&] { return backend.Erase(key, version, kNow); });
  timed("Scan", [&] { return backend.Scan("outage/", "", 10, kNow).status(); });
  return longest;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(redis_uri)

BOOST_AUTO_TEST_CASE(parses_tcp_uris) {
  Result<RedisOptions> plain = RedisBackend::ParseUri("redis://localhost:6379");
  BOOST_TEST_REQUIRE(plain.ok());
  BOOST_TEST(plain->unix_socket.empty());
  BOOST_TEST(plain->host == "localhost");
  BOOST_TEST(plain->port == 6379);
  BOOST_TEST(plain->db == 0);
  BOOST_TEST(plain->password.empty());

  Result<RedisOptions> full = RedisBackend::ParseUri("redis://:s3cret@10.0.0.5:6380/2");
  BOOST_TEST_REQUIRE(full.ok());
  BOOST_TEST(full->host == "10.0.0.5");
  BOOST_TEST(full->port == 6380);
  BOOST_TEST(full->db == 2);
  BOOST_TEST(full->username.empty());
  BOOST_TEST(full->password == "s3cret");

  Result<RedisOptions> encoded = RedisBackend::ParseUri("redis://app:p%40ss%2Fw%3Ard@cache_1:1/0");
  BOOST_TEST_REQUIRE(encoded.ok());
  BOOST_TEST(encoded->username == "app");
  BOOST_TEST(encoded->password == "p@ss/w:rd");
  BOOST_TEST(encoded->host == "cache_1");
  BOOST_TEST(encoded->port == 1);

  Result<RedisOptions> raw_at = RedisBackend::ParseUri("redis://:p@ss@host:7");
  BOOST_TEST_REQUIRE(raw_at.ok());
  BOOST_TEST(raw_at->password == "p@ss");
  BOOST_TEST(raw_at->host == "host");

  Result<RedisOptions> ipv6 = RedisBackend::ParseUri("redis://[::1]:7000/3");
  BOOST_TEST_REQUIRE(ipv6.ok());
  BOOST_TEST(ipv6->host == "::1");
  BOOST_TEST(ipv6->port == 7000);
  BOOST_TEST(ipv6->db == 3);

  Result<RedisOptions> defaults = RedisBackend::ParseUri("REDIS://cache.internal/");
  BOOST_TEST_REQUIRE(defaults.ok());
  BOOST_TEST(defaults->host == "cache.internal");
  BOOST_TEST(defaults->port == 6379);
  BOOST_TEST(defaults->db == 0);
  // Options the URI does not carry keep their defaults.
  BOOST_TEST(defaults->pool_size == RedisOptions().pool_size);
  BOOST_TEST(defaults->command_timeout.count() == RedisOptions().command_timeout.count());
}

BOOST_AUTO_TEST_CASE(parses_unix_uris) {
  Result<RedisOptions> plain = RedisBackend::ParseUri("redis+unix:///var/run/redis/redis.sock");
  BOOST_TEST_REQUIRE(plain.ok());
  BOOST_TEST(plain->unix_socket == "/var/run/redis/redis.sock");
  BOOST_TEST(plain->db == 0);
  BOOST_TEST(plain->password.empty());

  Result<RedisOptions> full = RedisBackend::ParseUri("redis+unix://:pw%23x@/tmp/r.sock?db=4");
  BOOST_TEST_REQUIRE(full.ok());
  BOOST_TEST(full->unix_socket == "/tmp/r.sock");
  BOOST_TEST(full->password == "pw#x");
  BOOST_TEST(full->db == 4);
}

BOOST_AUTO_TEST_CASE(rejects_bad_uris_without_echoing_them) {
  const std::vector<std::string> bad = {
      "",
      "http://:Sup3rSecretPw@host:1",
      "redis:/host:1",
      "redis://",
      "redis://:Sup3rSecretPw@",
      "redis://:Sup3rSecretPw@:6379",
      "redis://host:Sup3rSecretPw",  // forgot the '@': the password sits where the port goes
      "redis://Sup3rSecretPw@host:1",
      "redis://:Sup3rSecretPw@host:0",
      "redis://:Sup3rSecretPw@host:65536",
      "redis://:Sup3rSecretPw@host:",
      "redis://:Sup3rSecretPw@host:1/x",
      "redis://:Sup3rSecretPw@host:1/-1",
      "redis://:Sup3rSecretPw@host:1?db=2",
      "redis://:Sup3rSecretPw%zz@host:1",
      "redis://:Sup3rSecretPw%2@host:1",
      "redis://name:@host:1",
      "redis://:Sup3rSecretPw@ho st:1",
      "redis://:Sup3rSecretPw@[::1",
      "redis://:Sup3rSecretPw@[::1]x",
      "redis+unix://",
      "redis+unix:///",
      "redis+unix://host/tmp/r.sock",
      "redis+unix://Sup3rSecretPw/tmp/r.sock",
      "redis+unix://:Sup3rSecretPw@/tmp/r.sock?db=x",
      "redis+unix://:Sup3rSecretPw@/tmp/r.sock?password=Sup3rSecretPw",
      "redis+unix:///" + std::string(200, 'a'),
  };
  for (const std::string& uri : bad) {
    Result<RedisOptions> parsed = RedisBackend::ParseUri(uri);
    BOOST_TEST_CONTEXT("uri #" << (&uri - bad.data())) {
      BOOST_TEST_REQUIRE(!parsed.ok());
      BOOST_TEST(parsed.status().code() == StatusCode::kInvalidArgument);
      BOOST_TEST(parsed.status().message().find(kPassword) == std::string::npos);
      BOOST_TEST(parsed.status().message().find("invalid redis URI") == 0u);
      if (!uri.empty()) BOOST_TEST(parsed.status().message().find(uri) == std::string::npos);
    }
  }
}

BOOST_AUTO_TEST_CASE(open_rejects_bad_options) {
  RedisOptions options;
  options.unix_socket = "/nonexistent/redis.sock";
  RedisOptions zero_timeout = options;
  zero_timeout.command_timeout = 0ms;
  BOOST_TEST(RedisBackend::Open(zero_timeout).status().code() == StatusCode::kInvalidArgument);
  RedisOptions no_pool = options;
  no_pool.pool_size = 0;
  BOOST_TEST(RedisBackend::Open(no_pool).status().code() == StatusCode::kInvalidArgument);
  RedisOptions bad_namespace = options;
  bad_namespace.key_namespace = "cred{store}";
  BOOST_TEST(RedisBackend::Open(bad_namespace).status().code() == StatusCode::kInvalidArgument);
  // Well-formed options but nothing listening: unavailable, at once.
  const auto start = Clock::now();
  BOOST_TEST(RedisBackend::Open(options).status().code() == StatusCode::kUnavailable);
  BOOST_TEST(Seconds(Clock::now() - start) < 5.0);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(redis_server)

BOOST_AUTO_TEST_CASE(tcp_on_a_loopback_port) {
  RedisServerFixture::Settings settings;
  settings.listen_on_tcp = true;
  RedisServerFixture server(settings);
  BOOST_TEST_MESSAGE("redis-server listens on 127.0.0.1:" << server.tcp_port());

  Result<RedisOptions> db0 =
      RedisBackend::ParseUri("redis://127.0.0.1:" + std::to_string(server.tcp_port()));
  Result<RedisOptions> db1 =
      RedisBackend::ParseUri("redis://127.0.0.1:" + std::to_string(server.tcp_port()) + "/1");
  BOOST_TEST_REQUIRE(db0.ok());
  BOOST_TEST_REQUIRE(db1.ok());
  auto first = MustOpen(*db0);
  auto second = MustOpen(*db1);
  const Version version = MustCreate(*first, "tcp/key", "over tcp", NoExpiry(), kNow);
  const VersionedValue got = MustGet(*first, "tcp/key", kNow);
  BOOST_TEST(got.value == "over tcp");
  BOOST_TEST(got.version == version);
  // db 1 is another keyspace.
  BOOST_TEST(second->Get("tcp/key", kNow).status().code() == StatusCode::kNotFound);
  // db 0 holds the record and the store's canary, db 1 its own canary only.
  BOOST_TEST(server.Command({"DBSIZE"}) == "2");
  BOOST_TEST(server.Command({"EXISTS", "credstore:canary"}) == "1");
}

BOOST_AUTO_TEST_CASE(password_is_checked_and_never_echoed) {
  RedisServerFixture server;
  BOOST_TEST_REQUIRE(server.Command({"CONFIG", "SET", "requirepass", kPassword}) == "OK");
  RedisOptions options = server.BackendOptions();

  Result<std::shared_ptr<RedisBackend>> none = RedisBackend::Open(options);
  BOOST_TEST(none.status().code() == StatusCode::kInvalidArgument);
  BOOST_TEST_MESSAGE("without a password: " << none.status().message());

  options.password = "Wr0ngPassw0rd";
  Result<std::shared_ptr<RedisBackend>> wrong = RedisBackend::Open(options);
  BOOST_TEST(wrong.status().code() == StatusCode::kInvalidArgument);
  BOOST_TEST(wrong.status().message().find("Wr0ngPassw0rd") == std::string::npos);
  BOOST_TEST_MESSAGE("wrong password: " << wrong.status().message());

  options.password = kPassword;
  auto backend = MustOpen(options);
  MustCreate(*backend, "auth/key", "x", NoExpiry(), kNow);
  BOOST_TEST(MustGet(*backend, "auth/key", kNow).value == "x");
}

BOOST_AUTO_TEST_CASE(refuses_an_evicting_maxmemory_policy) {
  RedisServerFixture server;
  BOOST_TEST_REQUIRE(server.Command({"CONFIG", "SET", "maxmemory-policy", "allkeys-lru"}) == "OK");
  Result<std::shared_ptr<RedisBackend>> refused = RedisBackend::Open(server.BackendOptions());
  BOOST_TEST(refused.status().code() == StatusCode::kInvalidArgument);
  BOOST_TEST(refused.status().message().find("maxmemory-policy") != std::string::npos);
  BOOST_TEST_MESSAGE("allkeys-lru: " << refused.status().message());

  BOOST_TEST_REQUIRE(server.Command({"CONFIG", "SET", "maxmemory-policy", "volatile-ttl"}) == "OK");
  BOOST_TEST(RedisBackend::Open(server.BackendOptions()).status().code() ==
             StatusCode::kInvalidArgument);

  BOOST_TEST_REQUIRE(server.Command({"CONFIG", "SET", "maxmemory-policy", "noeviction"}) == "OK");
  auto backend = MustOpen(server.BackendOptions());
  const RedisServerDurability& durability = backend->server_durability();
  BOOST_TEST(durability.known);
  BOOST_TEST(durability.maxmemory_policy == "noeviction");
  BOOST_TEST(durability.appendonly);
  BOOST_TEST(durability.appendfsync == "always");
  BOOST_TEST(durability.fsync_every_write());
}

// A policy changed under a running backend is noticed within the check interval: CheckHealth
// answers kUnavailable from then on, until the policy is safe again; each change is reported
// once, however many checks see it.
BOOST_AUTO_TEST_CASE(an_evicting_policy_set_while_running_makes_it_unhealthy_until_undone) {
  RedisServerFixture server;
  RedisOptions options = server.BackendOptions();
  options.policy_check_interval = 100ms;
  std::mutex mutex;
  std::vector<Status> reported;
  options.on_health_change = [&](const Status& health) {
    std::lock_guard lock(mutex);
    reported.push_back(health);
  };
  const auto reports = [&] {
    std::lock_guard lock(mutex);
    return reported;
  };
  // Polls CheckHealth until `healthy` (bounded: many intervals), and says whether it got there.
  const auto wait_for = [](RedisBackend& backend, bool healthy) {
    const auto deadline = Clock::now() + 10s;
    while (backend.CheckHealth().ok() != healthy) {
      if (Clock::now() > deadline) return false;
      std::this_thread::sleep_for(20ms);
    }
    return true;
  };
  auto backend = MustOpen(options);
  BOOST_TEST(backend->CheckHealth().ok(), backend->CheckHealth().ToString());

  BOOST_TEST_REQUIRE(server.Command({"CONFIG", "SET", "maxmemory-policy", "allkeys-lru"}) == "OK");
  BOOST_TEST_REQUIRE(wait_for(*backend, false), "an evicting policy went unnoticed");
  const Status unhealthy = backend->CheckHealth();
  BOOST_TEST(unhealthy.code() == StatusCode::kUnavailable);
  BOOST_TEST(unhealthy.message().find("allkeys-lru") != std::string::npos, unhealthy.ToString());
  // Several more checks see the same policy: still one report.
  std::this_thread::sleep_for(500ms);
  BOOST_TEST(!backend->CheckHealth().ok());
  BOOST_TEST_REQUIRE(reports().size() == 1u);
  BOOST_TEST(reports()[0].code() == StatusCode::kUnavailable);
  // The store still works meanwhile: the policy says keys may be evicted, not that they were.
  MustCreate(*backend, "policy/key", "x", NoExpiry(), kNow);

  BOOST_TEST_REQUIRE(server.Command({"CONFIG", "SET", "maxmemory-policy", "noeviction"}) == "OK");
  BOOST_TEST_REQUIRE(wait_for(*backend, true), "a safe policy again went unnoticed");
  std::this_thread::sleep_for(500ms);
  BOOST_TEST_REQUIRE(reports().size() == 2u);
  BOOST_TEST(reports()[1].ok());

  // An outage is not a policy change: the verdict stands, and nothing is reported.
  server.Stop();
  std::this_thread::sleep_for(500ms);
  BOOST_TEST(backend->CheckHealth().ok());
  BOOST_TEST(reports().size() == 2u);
  server.Start();
}

BOOST_AUTO_TEST_CASE(the_policy_re_check_can_be_turned_off_and_rejects_a_negative_interval) {
  RedisServerFixture server;
  RedisOptions options = server.BackendOptions();
  options.policy_check_interval = -1ms;
  BOOST_TEST(RedisBackend::Open(options).status().code() == StatusCode::kInvalidArgument);
  options.policy_check_interval = 0ms;
  auto backend = MustOpen(options);
  BOOST_TEST_REQUIRE(server.Command({"CONFIG", "SET", "maxmemory-policy", "allkeys-lru"}) == "OK");
  std::this_thread::sleep_for(300ms);
  BOOST_TEST(backend->CheckHealth().ok());
}

BOOST_AUTO_TEST_CASE(require_fsync_always_refuses_everysec) {
  RedisServerFixture server;
  RedisOptions options = server.BackendOptions();
  options.require_fsync_always = true;
  MustOpen(options);
  BOOST_TEST_REQUIRE(server.Command({"CONFIG", "SET", "appendfsync", "everysec"}) == "OK");
  Result<std::shared_ptr<RedisBackend>> refused = RedisBackend::Open(options);
  BOOST_TEST(refused.status().code() == StatusCode::kInvalidArgument);
  options.require_fsync_always = false;
  auto backend = MustOpen(options);
  BOOST_TEST(backend->server_durability().appendfsync == "everysec");
  BOOST_TEST(!backend->server_durability().fsync_every_write());
}

BOOST_AUTO_TEST_CASE(config_denied_refuses_unless_allowed) {
  RedisServerFixture server;
  // An ACL user that may do everything but CONFIG, as on hosted Redis services.
  BOOST_TEST_REQUIRE(server.Command({"ACL", "SETUSER", "app", "on", ">app-password", "~*", "&*",
                                     "+@all", "-config"}) == "OK");
  RedisOptions options = server.BackendOptions();
  options.username = "app";
  options.password = "app-password";
  Result<std::shared_ptr<RedisBackend>> refused = RedisBackend::Open(options);
  BOOST_TEST(refused.status().code() == StatusCode::kInvalidArgument);
  BOOST_TEST(refused.status().message().find("CONFIG") != std::string::npos);
  BOOST_TEST(refused.status().message().find("app-password") == std::string::npos);
  BOOST_TEST_MESSAGE("CONFIG denied: " << refused.status().message());

  options.allow_unverified_eviction_policy = true;
  auto backend = MustOpen(options);
  BOOST_TEST(!backend->server_durability().known);
  MustCreate(*backend, "acl/key", "x", NoExpiry(), kNow);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(redis_records)

BOOST_AUTO_TEST_CASE(layout_ttl_and_visibility_use_the_callers_clock) {
  RedisServerFixture server;
  auto backend = MustOpen(server.BackendOptions());

  // kNow is in 2100, far from Redis's clock: visibility must follow `now` alone, and the native
  // TTL must be relative (expiry - now + gc_margin), so Redis does not collect the record early.
  const Timestamp expiry = kNow + 10min;
  MustCreate(*backend, "ttl/expiring", "e", ExpiresAt(expiry), kNow);
  MustCreate(*backend, "ttl/forever", "f", NoExpiry(), kNow);
  BOOST_TEST(server.Command({"TYPE", RedisKeyOf("ttl/expiring")}) == "hash");
  const long long expiring_ttl = std::stoll(server.Command({"PTTL", RedisKeyOf("ttl/expiring")}));
  const long long wanted = std::chrono::milliseconds(10min + RedisOptions().gc_margin).count();
  BOOST_TEST(expiring_ttl > wanted - 60'000);
  BOOST_TEST(expiring_ttl <= wanted);
  BOOST_TEST(server.Command({"PTTL", RedisKeyOf("ttl/forever")}) == "-1");

  BOOST_TEST(MustGet(*backend, "ttl/expiring", expiry - 1ms).value == "e");
  BOOST_TEST(backend->Get("ttl/expiring", expiry).status().code() == StatusCode::kNotFound);
  // And a caller whose clock is far behind Redis's (year 2001) still sees its records.
  const Timestamp past{std::chrono::milliseconds(1'000'000'000'000)};
  MustCreate(*backend, "ttl/past", "p", ExpiresAt(past + 1s), past);
  BOOST_TEST(MustGet(*backend, "ttl/past", past).value == "p");
}

BOOST_AUTO_TEST_CASE(versions_grow_across_erase_and_collection) {
  RedisServerFixture server;
  auto backend = MustOpen(server.BackendOptions());
  const std::string redis_key = RedisKeyOf("ver/key");

  const Version v1 = MustCreate(*backend, "ver/key", "a", NoExpiry(), kNow);
  BOOST_TEST_REQUIRE(backend->Erase("ver/key", v1, kNow).ok());
  // The tombstone keeps the version and is collected gc_margin later.
  BOOST_TEST(server.Command({"HEXISTS", redis_key, "v"}) == "0");
  BOOST_TEST(server.Command({"HEXISTS", redis_key, "ver"}) == "1");
  BOOST_TEST(std::stoll(server.Command({"PTTL", redis_key})) > 0);
  const Version v2 = MustCreate(*backend, "ver/key", "b", NoExpiry(), kNow);
  BOOST_TEST(v2 > v1);
  BOOST_TEST(server.Command({"PTTL", redis_key}) == "-1");

  // What Redis's TTL does to a tombstone or an expired record: the whole key goes. A re-create
  // still lands above every earlier version.
  BOOST_TEST_REQUIRE(server.Command({"DEL", redis_key}) == "1");
  const Version v3 = MustCreate(*backend, "ver/key", "c", NoExpiry(), kNow);
  BOOST_TEST(v3 > v2);
  // A stale version cannot touch the new record.
  BOOST_TEST(backend->CompareAndSwap("ver/key", v2, "x", NoExpiry(), kNow).status().code() ==
             StatusCode::kConflict);
  BOOST_TEST_MESSAGE("versions: " << v1 << " < " << v2 << " < " << v3);
}

BOOST_AUTO_TEST_CASE(scripts_reload_after_script_flush) {
  RedisServerFixture server;
  auto backend = MustOpen(server.BackendOptions());
  const Version v1 = MustCreate(*backend, "flush/key", "a", NoExpiry(), kNow);
  BOOST_TEST_REQUIRE(server.Command({"SCRIPT", "FLUSH"}) == "OK");
  const Version v2 = MustCas(*backend, "flush/key", v1, "b", NoExpiry(), kNow);
  BOOST_TEST_REQUIRE(server.Command({"SCRIPT", "FLUSH"}) == "OK");
  BOOST_TEST(backend->Erase("flush/key", v2, kNow).ok());
  BOOST_TEST_REQUIRE(server.Command({"SCRIPT", "FLUSH"}) == "OK");
  MustCreate(*backend, "flush/other", "c", NoExpiry(), kNow);
}

BOOST_AUTO_TEST_CASE(namespaces_and_glob_characters_in_scan_prefixes) {
  RedisServerFixture server;
  RedisOptions other_options = server.BackendOptions();
  other_options.key_namespace = "tenant2";
  auto backend = MustOpen(server.BackendOptions());
  auto other = MustOpen(other_options);

  for (std::string_view key : {"g/x*1", "g/x?2", "g/x[3]", "g/x\\4", "g/xa", "g/y"}) {
    MustCreate(*backend, key, "v", NoExpiry(), kNow);
  }
  MustCreate(*other, "g/x*1", "other", NoExpiry(), kNow);

  BOOST_TEST(KeysOf(ScanAll(*backend, "g/x*", 10, kNow)) == std::vector<std::string>{"g/x*1"});
  BOOST_TEST(KeysOf(ScanAll(*backend, "g/x[", 10, kNow)) == std::vector<std::string>{"g/x[3]"});
  BOOST_TEST(KeysOf(ScanAll(*backend, "g/x\\", 10, kNow)) == std::vector<std::string>{"g/x\\4"});
  BOOST_TEST(KeysOf(ScanAll(*backend, "g/x", 2, kNow)).size() == 5u);
  BOOST_TEST(KeysOf(ScanAll(*other, "g/", 10, kNow)) == std::vector<std::string>{"g/x*1"});
  BOOST_TEST(MustGet(*other, "g/x*1", kNow).value == "other");
  BOOST_TEST(MustGet(*backend, "g/x*1", kNow).value == "v");
}

BOOST_AUTO_TEST_CASE(a_small_pool_serves_many_threads) {
  RedisServerFixture server;
  RedisOptions options = server.BackendOptions();
  options.pool_size = 2;
  auto backend = MustOpen(options);
  MustCreate(*backend, "pool/counter", "0", NoExpiry(), kNow);

  constexpr int kThreads = 8;
  constexpr int kIncrementsPerThread = 50;
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (int done = 0, attempts = 0; done < kIncrementsPerThread && attempts < 100'000;
           ++attempts) {
        Result<VersionedValue> got = backend->Get("pool/counter", kNow);
        if (!got.ok()) {
          ++failures;
          return;
        }
        const std::string next = std::to_string(std::stoi(got->value) + 1);
        Result<Version> swapped =
            backend->CompareAndSwap("pool/counter", got->version, next, NoExpiry(), kNow);
        if (swapped.ok()) {
          ++done;
        } else if (swapped.status().code() != StatusCode::kConflict) {
          ++failures;
          return;
        }
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  BOOST_TEST(failures.load() == 0);
  BOOST_TEST(MustGet(*backend, "pool/counter", kNow).value ==
             std::to_string(kThreads * kIncrementsPerThread));
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(redis_failures)

BOOST_AUTO_TEST_CASE(outage_answers_unavailable_then_recovers_on_the_same_backend) {
  RedisServerFixture server;
  auto backend = MustOpen(QuickOptions(server));
  const Version version = MustCreate(*backend, "outage/key", "before", NoExpiry(), kNow);

  server.Stop();
  const Clock::duration longest = ExpectEveryCallUnavailable(*backend, "outage/key", version);
  BOOST_TEST_MESSAGE("redis-server stopped: slowest call answered kUnavailable after "
                     << Seconds(longest) << " s");

  server.Start();  // same folder and socket: the AOF brings the record back
  const VersionedValue got = MustGet(*backend, "outage/key", kNow);
  BOOST_TEST(got.value == "before");
  BOOST_TEST(got.version == version);
  // Writes work again too (the restarted server lost its script cache: NOSCRIPT is handled).
  const Version next = MustCas(*backend, "outage/key", version, "after", NoExpiry(), kNow);
  BOOST_TEST(next > version);
  MustCreate(*backend, "outage/new", "v", NoExpiry(), kNow);
  BOOST_TEST(ScanAll(*backend, "outage/", 10, kNow).size() == 2u);
}

BOOST_AUTO_TEST_CASE(frozen_server_answers_unavailable_within_the_timeout) {
  RedisServerFixture server;
  auto backend = MustOpen(QuickOptions(server));
  const Version version = MustCreate(*backend, "frozen/key", "before", NoExpiry(), kNow);

  server.Freeze();  // accepts connections (the kernel does), never answers
  const Clock::duration longest = ExpectEveryCallUnavailable(*backend, "frozen/key", version);
  BOOST_TEST_MESSAGE("redis-server frozen: slowest call answered kUnavailable after "
                     << Seconds(longest) << " s (command_timeout 1 s)");
  server.Thaw();

  // The writes sent while frozen may have run once the server woke up: their outcome was
  // unknown, which is why they answered kUnavailable. The backend works again either way.
  Result<VersionedValue> got = Result<VersionedValue>(Status::Unavailable("not yet"));
  for (int attempt = 0; attempt < 50 && !got.ok(); ++attempt) {
    got = backend->Get("frozen/key", kNow);
    if (!got.ok()) std::this_thread::sleep_for(100ms);
  }
  BOOST_TEST_REQUIRE(got.ok(), got.status().ToString());
  BOOST_TEST_MESSAGE("after thaw the record holds '" << got->value << "'");
  MustCreate(*backend, "frozen/after", "v", NoExpiry(), kNow);
}

BOOST_AUTO_TEST_CASE(lost_reply_of_a_write_that_did_not_run_is_unavailable) {
  RedisServerFixture server;
  RedisOptions options = QuickOptions(server);
  options.command_timeout = 500ms;
  auto backend = MustOpen(options);

  // Writes (scripts included) wait while reads go on: the Create's reply cannot come within its
  // timeout, and the re-read that decides its outcome is answered at once.
  BOOST_TEST_REQUIRE(server.Command({"CLIENT", "PAUSE", "4000", "WRITE"}) == "OK");
  const auto start = Clock::now();
  Result<Version> created = backend->Create("lost/key", "v", NoExpiry(), kNow);
  const double took = Seconds(Clock::now() - start);
  BOOST_TEST(server.Command({"CLIENT", "UNPAUSE"}) == "OK");
  BOOST_TEST(created.status().code() == StatusCode::kUnavailable);
  BOOST_TEST(created.status().message().find("unknown") != std::string::npos);
  BOOST_TEST(took < 3.5);
  BOOST_TEST_MESSAGE("paused write answered " << created.status().ToString() << " after " << took
                                              << " s");
  // The paused command went with its connection; either way the store is consistent.
  Result<VersionedValue> got = backend->Get("lost/key", kNow);
  BOOST_TEST((got.ok() ? got->value == "v" : got.status().code() == StatusCode::kNotFound));
}

BOOST_AUTO_TEST_CASE(lost_reply_of_a_write_that_ran_is_resolved_by_re_reading) {
  RedisServerFixture server;
  RedisOptions options = QuickOptions(server);
  options.command_timeout = 1000ms;
  auto backend = MustOpen(options);

  // A script keeps the server busy for 1.5 s. Our Create waits behind it, times out after 1 s and
  // closes its connection; when the server is free it still runs the Create (the command was
  // already in its socket), then answers the re-read sent on a fresh connection, which finds the
  // write's id in the record.
  std::thread busy([&server] {
    server.Command({"EVAL",
                    "local s = redis.call('TIME') local t repeat t = redis.call('TIME') until "
                    "(t[1] - s[1]) * 1000000 + (t[2] - s[2]) > 1500000 return 1",
                    "0"});
  });
  std::this_thread::sleep_for(200ms);  // let the script start
  const auto start = Clock::now();
  Result<Version> created = backend->Create("lost/ran", "landed", NoExpiry(), kNow);
  const double took = Seconds(Clock::now() - start);
  busy.join();

  BOOST_TEST_MESSAGE("write behind a busy script answered "
                     << (created.ok() ? "OK (resolved by re-reading)" : created.status().ToString())
                     << " after " << took << " s");
  BOOST_TEST((created.ok() || created.status().code() == StatusCode::kUnavailable));
  BOOST_TEST(took < 5.0);
  const VersionedValue got = MustGet(*backend, "lost/ran", kNow);
  BOOST_TEST(got.value == "landed");
  if (created.ok()) BOOST_TEST(got.version == *created);
}

BOOST_AUTO_TEST_CASE(acknowledged_durable_creates_survive_kill_9) {
  RedisServerFixture server;
  auto backend = MustOpen(QuickOptions(server));

  // A writer creates records as fast as it can; the server is killed while it runs.
  constexpr int kKillAfter = 1000;
  constexpr int kMaxWrites = 100'000;
  std::mutex mutex;
  std::vector<std::pair<std::string, Version>> acknowledged;
  std::atomic<int> acked_count{0};
  std::atomic<bool> stop{false};
  std::thread writer([&] {
    for (int i = 0; i < kMaxWrites && !stop.load(); ++i) {
      const std::string key = "kill9/" + std::to_string(100000 + i);
      Result<Version> created = backend->Create(key, "value-" + key, NoExpiry(), kNow);
      if (!created.ok()) return;  // the server is gone
      std::lock_guard lock(mutex);
      acknowledged.emplace_back(key, *created);
      ++acked_count;
    }
  });
  const auto deadline = Clock::now() + 60s;
  while (acked_count.load() < kKillAfter && Clock::now() < deadline) {
    std::this_thread::sleep_for(1ms);
  }
  server.Kill();
  stop = true;
  writer.join();
  BOOST_TEST_REQUIRE(acked_count.load() >= kKillAfter);

  server.Start();
  std::size_t survived = 0;
  for (const auto& [key, version] : acknowledged) {
    Result<VersionedValue> got = backend->Get(key, kNow);
    if (got.ok() && got->value == "value-" + key && got->version == version) ++survived;
  }
  BOOST_TEST_MESSAGE("kill -9 after " << acknowledged.size() << " acknowledged durable Creates: "
                                      << survived << " survived the restart");
  BOOST_TEST(survived == acknowledged.size());
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(redis_persisted_files)

BOOST_AUTO_TEST_CASE(plaintext_scan_finds_a_stored_marker) {
  RedisServerFixture server;
  auto backend = MustOpen(server.BackendOptions());
  std::mt19937_64 random(std::random_device{}());
  const std::string marker = "credstore-plaintext-marker-" + std::to_string(random());
  const std::string absent = "credstore-never-written-" + std::to_string(random());

  MustCreate(*backend, "plain/key", "prefix " + marker + " suffix", NoExpiry(), kNow);
  BOOST_TEST(server.PersistedFilesContain(marker));
  BOOST_TEST(!server.PersistedFilesContain(absent));
}

BOOST_AUTO_TEST_SUITE_END()

// A Redis that lost its data must never make valid keys read as unknown (docs/operations.md,
// "A Redis that lost its data"): the backend's canary record tells an empty server from a new one.
BOOST_AUTO_TEST_SUITE(redis_lost_data)

// Every call kUnavailable (never kNotFound), and CheckHealth and CheckWrites say why.
void ExpectLost(RedisBackend& backend, std::string_view key, Version version) {
  ExpectEveryCallUnavailable(backend, key, version);
  for (const Status& health : {backend.CheckHealth(), backend.CheckWrites()}) {
    BOOST_TEST(health.code() == StatusCode::kUnavailable, health.ToString());
    BOOST_TEST(health.message().find("lost its data") != std::string::npos, health.ToString());
  }
}

// A restart closes every connection, so the first call after it checks the canary on a new one:
// no periodic check is needed (and none runs here).
BOOST_AUTO_TEST_CASE(a_server_restarted_empty_answers_unavailable_not_not_found) {
  RedisServerFixture server;
  RedisOptions options = QuickOptions(server);
  options.canary_check_interval = 0ms;
  options.policy_check_interval = 0ms;
  auto backend = MustOpen(options);
  const Version version = MustCreate(*backend, "lost/key", "v", NoExpiry(), kNow);
  BOOST_TEST_REQUIRE(backend->CheckHealth().ok());

  server.Stop();
  server.WipeData();
  server.Start();
  BOOST_TEST_REQUIRE(server.Command({"EXISTS", RedisKeyOf("lost/key")}) == "0");
  ExpectLost(*backend, "lost/key", version);
  // Writes did not land on the empty server either, and it stays so call after call.
  BOOST_TEST(server.Command({"DBSIZE"}) == "0");
  ExpectLost(*backend, "lost/key", version);

  // Only a backend opened afterwards takes the empty store for a new one (the operator's restart)
  // and writes a new canary, which the running backend does not take for its own.
  auto reopened = MustOpen(options);
  BOOST_TEST(reopened->Get("lost/key", kNow).status().code() == StatusCode::kNotFound);
  BOOST_TEST(reopened->CheckHealth().ok());
  MustCreate(*reopened, "lost/key", "new", NoExpiry(), kNow);
  ExpectLost(*backend, "lost/key", version);
}

// A flush leaves the connections open: the periodic check notices it, and the change is
// reported once. When the data comes back (here: the AOF of before, put back under a restart)
// the same backend serves again by itself, and says so once.
BOOST_AUTO_TEST_CASE(a_flush_is_noticed_periodically_and_the_data_coming_back_recovers_it) {
  RedisServerFixture server;
  TempDir saved("credstore-redis-aof");
  RedisOptions options = QuickOptions(server);
  options.canary_check_interval = 100ms;
  std::mutex mutex;
  std::vector<Status> reported;
  options.on_health_change = [&](const Status& health) {
    std::lock_guard lock(mutex);
    reported.push_back(health);
  };
  const auto reports = [&] {
    std::lock_guard lock(mutex);
    return reported;
  };
  auto backend = MustOpen(options);
  const Version version = MustCreate(*backend, "lost/key", "v", NoExpiry(), kNow);

  // The data as it is now, for later: a copy of the AOF, as an operator's backup would be.
  server.Stop();
  std::filesystem::copy(server.folder() / "appendonlydir", saved.path() / "appendonlydir");
  server.Start();
  BOOST_TEST_REQUIRE(MustGet(*backend, "lost/key", kNow).value == "v");

  BOOST_TEST_REQUIRE(server.Command({"FLUSHALL", "SYNC"}) == "OK");
  const auto deadline = Clock::now() + 10s;
  while (backend->CheckHealth().ok() && Clock::now() < deadline) std::this_thread::sleep_for(20ms);
  ExpectLost(*backend, "lost/key", version);
  std::this_thread::sleep_for(500ms);  // several more checks see it: still one report
  BOOST_TEST_REQUIRE(reports().size() == 1u);
  BOOST_TEST(reports()[0].code() == StatusCode::kUnavailable);

  server.Stop();
  server.MoveDataFrom(saved.path());
  server.Start();
  const VersionedValue back = MustGet(*backend, "lost/key", kNow);
  BOOST_TEST(back.value == "v");
  BOOST_TEST(back.version == version);
  BOOST_TEST(backend->CheckHealth().ok(), backend->CheckHealth().ToString());
  const auto reported_back = Clock::now() + 10s;
  while (reports().size() < 2 && Clock::now() < reported_back) std::this_thread::sleep_for(20ms);
  BOOST_TEST_REQUIRE(reports().size() == 2u);
  BOOST_TEST(reports()[1].ok());
}

// With the near-cache, an absence read from the flushed server before the canary check noticed
// the loss is never answered afterwards, by Get or by the non-blocking TryGet.
BOOST_AUTO_TEST_CASE(a_lost_store_is_not_answered_from_the_near_cache) {
  RedisServerFixture server;
  RedisOptions options = QuickOptions(server);
  options.cache = true;
  options.cache_key_prefixes = {"lost/"};
  options.canary_check_interval = 200ms;
  auto backend = MustOpen(options);
  const Version version = MustCreate(*backend, "lost/key", "v", NoExpiry(), kNow);
  BOOST_TEST_REQUIRE(MustGet(*backend, "lost/key", kNow).value == "v");

  BOOST_TEST_REQUIRE(server.Command({"FLUSHALL", "SYNC"}) == "OK");
  // Most likely before the next check: the flushed server's answer, cached as an absence.
  (void)backend->Get("lost/key", kNow);
  const auto deadline = Clock::now() + 10s;
  while (backend->CheckHealth().ok() && Clock::now() < deadline) std::this_thread::sleep_for(20ms);
  ExpectLost(*backend, "lost/key", version);
  BOOST_TEST(!backend->TryGet("lost/key", kNow).has_value());
}

// A store written before canaries existed (records, no canary) gets one at Open and is served.
BOOST_AUTO_TEST_CASE(a_store_without_a_canary_gets_one_at_open) {
  RedisServerFixture server;
  {
    auto first = MustOpen(server.BackendOptions());
    MustCreate(*first, "old/key", "v", NoExpiry(), kNow);
  }
  BOOST_TEST_REQUIRE(server.Command({"DEL", "credstore:canary"}) == "1");
  auto backend = MustOpen(server.BackendOptions());
  BOOST_TEST(MustGet(*backend, "old/key", kNow).value == "v");
  BOOST_TEST(server.Command({"EXISTS", "credstore:canary"}) == "1");
  // The canary is no record: a scan of everything does not list it.
  BOOST_TEST(KeysOf(ScanAll(*backend, "", 10, kNow)) == std::vector<std::string>{"old/key"},
             boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(open_rejects_a_negative_canary_interval) {
  RedisServerFixture server;
  RedisOptions options = server.BackendOptions();
  options.canary_check_interval = -1ms;
  BOOST_TEST(RedisBackend::Open(options).status().code() == StatusCode::kInvalidArgument);
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace credstore::testing
