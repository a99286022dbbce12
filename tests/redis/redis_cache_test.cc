// The Redis backend's near-cache (RedisOptions::cache; redis.h, "Near-cache"), against real
// redis-servers: the URI options, which reads are cached and tracked, invalidation by another
// client, a write's own invalidation, the maximum age, expiry from the cached copy, the fill
// rule (with a delay injected between a read and its fill), the subscriber's loss (CLIENT KILL,
// CLIENT PAUSE) and its return, FLUSHALL, the bounds, and the propagation delay between two
// backends over one Redis. NearCache's LRU and byte bound are also checked white-box.
//
// Every wait is bounded in time; each test that disturbs its server starts its own.
#include <algorithm>
#include <atomic>
#include <boost/test/unit_test.hpp>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "credstore/backends/redis.h"
#include "credstore/storage_backend.h"
#include "near_cache.h"
#include "redis/redis_server_fixture.h"
#include "support/test_helpers.h"

namespace credstore::testing {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

constexpr Timestamp kNow = kBackendTestEpoch;

std::shared_ptr<RedisBackend> MustOpen(const RedisOptions& options) {
  Result<std::shared_ptr<RedisBackend>> opened = RedisBackend::Open(options);
  BOOST_TEST_REQUIRE(opened.ok(), "Open failed: " << opened.status().message());
  return std::move(opened).value();
}

RedisOptions Cached(const RedisServerFixture& server) {
  RedisOptions options = server.BackendOptions();
  options.cache = true;
  return options;
}

std::uint64_t CounterOf(const StorageBackend& backend, std::string_view name) {
  for (const BackendCounter& counter : backend.Counters()) {
    if (counter.name == name) return counter.value;
  }
  BOOST_FAIL("no counter " << name);
  return 0;
}

std::uint64_t Hits(const StorageBackend& backend) {
  return CounterOf(backend, "redis_cache_hits_total");
}

// Waits (at most `limit`) until `done` holds; true if it did.
template <typename Predicate>
bool WaitUntil(Predicate done, Clock::duration limit = 3s) {
  const auto deadline = Clock::now() + limit;
  while (!done()) {
    if (Clock::now() > deadline) return false;
    std::this_thread::sleep_for(1ms);
  }
  return true;
}

// Waits until the backend's subscriber is live: a cacheable read fills, and the next one hits.
bool WaitUntilCaching(StorageBackend& backend, std::string_view key) {
  return WaitUntil([&] {
    (void)backend.Get(key, kNow);
    const std::uint64_t before = Hits(backend);
    (void)backend.Get(key, kNow);
    return Hits(backend) > before;
  });
}

// The server's count of keys it tracks for clients (INFO stats).
long TrackedKeys(const RedisServerFixture& server) {
  const std::string info = server.Command({"INFO", "stats"});
  const std::size_t at = info.find("tracking_total_keys:");
  BOOST_TEST_REQUIRE(at != std::string::npos);
  return std::stol(info.substr(at + 20));
}

}  // namespace

BOOST_AUTO_TEST_SUITE(redis_cache_options)

BOOST_AUTO_TEST_CASE(uri_options_parse_and_bad_values_are_refused) {
  Result<RedisOptions> tcp = RedisBackend::ParseUri(
      "redis://:pw@host:1/2?cache=on&cache_size=50&cache_bytes=4096&cache_max_age_ms=250");
  BOOST_TEST_REQUIRE(tcp.ok(), tcp.status().message());
  BOOST_TEST(tcp->cache);
  BOOST_TEST(tcp->db == 2);
  BOOST_TEST(tcp->cache_size == 50u);
  BOOST_TEST(tcp->cache_bytes == 4096u);
  BOOST_TEST(tcp->cache_max_age.count() == 250);
  BOOST_TEST(tcp->password == "pw");

  Result<RedisOptions> unix_uri = RedisBackend::ParseUri("redis+unix:///tmp/r.sock?cache=on&db=3");
  BOOST_TEST_REQUIRE(unix_uri.ok(), unix_uri.status().message());
  BOOST_TEST(unix_uri->cache);
  BOOST_TEST(unix_uri->db == 3);

  const RedisOptions defaults;
  BOOST_TEST(!defaults.cache);
  BOOST_TEST(defaults.cache_size == 10000u);
  BOOST_TEST(defaults.cache_max_age.count() == 1000);
  BOOST_TEST(defaults.cache_key_prefixes.size() == kVerificationKeyPrefixes.size());

  for (const std::string uri : {
           "redis://:Sup3rSecretPw@host:1?cache=yes",
           "redis://:Sup3rSecretPw@host:1?cache_size=0",
           "redis://:Sup3rSecretPw@host:1?cache_size=-1",
           "redis://:Sup3rSecretPw@host:1?cache_size=ten",
           "redis://:Sup3rSecretPw@host:1?cache_bytes=1000",
           "redis://:Sup3rSecretPw@host:1?cache_max_age_ms=0",
           "redis://:Sup3rSecretPw@host:1?cache_max_age_ms=60001",
           "redis://:Sup3rSecretPw@host:1?cache=on&cache=off",
           "redis://:Sup3rSecretPw@host:1?cache",
           "redis://:Sup3rSecretPw@host:1?cache=on&",
           "redis://:Sup3rSecretPw@host:1?chace=on",
           "redis+unix://:Sup3rSecretPw@/tmp/r.sock?db=1&cache_size=x",
       }) {
    BOOST_TEST_CONTEXT(uri) {
      Result<RedisOptions> parsed = RedisBackend::ParseUri(uri);
      BOOST_TEST_REQUIRE(!parsed.ok());
      BOOST_TEST(parsed.status().code() == StatusCode::kInvalidArgument);
      BOOST_TEST(parsed.status().message().find("Sup3rSecretPw") == std::string::npos);
    }
  }
}

BOOST_AUTO_TEST_CASE(open_refuses_bad_cache_options) {
  RedisOptions options;
  options.unix_socket = "/nonexistent/redis.sock";
  options.cache = true;
  RedisOptions no_size = options;
  no_size.cache_size = 0;
  RedisOptions few_bytes = options;
  few_bytes.cache_bytes = 100;
  RedisOptions no_age = options;
  no_age.cache_max_age = 0ms;
  RedisOptions long_age = options;
  long_age.cache_max_age = 61s;
  for (const RedisOptions* bad : {&no_size, &few_bytes, &no_age, &long_age}) {
    BOOST_TEST(RedisBackend::Open(*bad).status().code() == StatusCode::kInvalidArgument);
  }
}

// The near-cache needs two things an ACL user may lack: SUBSCRIBE to the invalidation channel
// (Redis 7 users get no channels unless granted, acl-pubsub-default resetchannels) and CLIENT
// TRACKING. Without either the cache could never fill, and every read would go to Redis while
// the operator believed it cached: Open refuses instead, naming what is missing and the way out.
BOOST_AUTO_TEST_CASE(open_refuses_a_user_the_cache_cannot_work_for) {
  RedisServerFixture server;
  BOOST_TEST_REQUIRE(server.Command({"ACL", "SETUSER", "nochannels", "on", ">user-password", "~*",
                                     "+@all"}) == "OK");
  BOOST_TEST_REQUIRE(server.Command({"ACL", "SETUSER", "notracking", "on", ">user-password", "~*",
                                     "&*", "+@all", "-client|tracking"}) == "OK");
  BOOST_TEST_REQUIRE(server.Command({"ACL", "SETUSER", "granted", "on", ">user-password", "~*",
                                     "&__redis__:invalidate", "+@all"}) == "OK");
  const std::pair<std::string, std::string> refused_users[] = {
      {"nochannels", "__redis__:invalidate"},  // what the refusal must name
      {"notracking", "CLIENT TRACKING"},
  };
  for (const auto& [user, named] : refused_users) {
    BOOST_TEST_CONTEXT("user " << user) {
      RedisOptions options = Cached(server);
      options.username = user;
      options.password = "user-password";
      Result<std::shared_ptr<RedisBackend>> refused = RedisBackend::Open(options);
      BOOST_TEST(refused.status().code() == StatusCode::kInvalidArgument);
      BOOST_TEST(refused.status().message().find(named) != std::string::npos);
      BOOST_TEST(refused.status().message().find("cache=off") != std::string::npos);
      BOOST_TEST(refused.status().message().find("user-password") == std::string::npos);
      BOOST_TEST_MESSAGE("refused: " << refused.status().message());

      // The same user without the cache is fine: nothing it lacks is needed then.
      options.cache = false;
      auto uncached = MustOpen(options);
      BOOST_TEST(uncached->Create("c/svc/" + user, "x", {}, kNow).ok());
      BOOST_TEST(uncached->Get("c/svc/" + user, kNow).ok());
    }
  }
  RedisOptions options = Cached(server);
  options.username = "granted";
  options.password = "user-password";
  auto cached = MustOpen(options);
  BOOST_TEST(WaitUntilCaching(*cached, "c/svc/granted"));
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(redis_cache)

BOOST_AUTO_TEST_CASE(caches_verification_reads_and_absences_and_tracks_nothing_else) {
  RedisServerFixture server;
  auto backend = MustOpen(Cached(server));
  BOOST_TEST_REQUIRE(WaitUntilCaching(*backend, "c/svc/warmup"));
  BOOST_TEST(TrackedKeys(server) == 1);

  // An absence is cached: the second read is a hit, and TryGet answers it.
  const std::uint64_t hits = Hits(*backend);
  BOOST_TEST(backend->Get("c/svc/absent", kNow).status().code() == StatusCode::kNotFound);
  BOOST_TEST(backend->Get("c/svc/absent", kNow).status().code() == StatusCode::kNotFound);
  BOOST_TEST(Hits(*backend) == hits + 1);
  const auto tried = backend->TryGet("c/svc/absent", kNow);
  BOOST_TEST_REQUIRE(tried.has_value());
  BOOST_TEST(tried->status().code() == StatusCode::kNotFound);

  // A record: TryGet answers it from the cache, with its version and expiry.
  const Version v1 = MustCreate(*backend, "i/integrator", "sealed", ExpiresAt(kNow + 1h), kNow);
  BOOST_TEST(MustGet(*backend, "i/integrator", kNow).version == v1);
  const auto record = backend->TryGet("i/integrator", kNow);
  BOOST_TEST_REQUIRE(record.has_value());
  BOOST_TEST_REQUIRE(record->ok());
  BOOST_TEST((*record)->value == "sealed");
  BOOST_TEST((*record)->version == v1);
  BOOST_TEST(ExpiryText((*record)->expires_at) == ExpiryText(kNow + 1h));
  BOOST_TEST(TrackedKeys(server) == 3);

  // Replay nonces and throttle counters: never cached, never tracked by the server.
  const std::uint64_t before = Hits(*backend);
  for (const std::string key : {"n/integrator/mac", "t/a/127.0.0.1", "keycheck"}) {
    MustCreate(*backend, key, "1", NoExpiry(), kNow);
    MustGet(*backend, key, kNow);
    MustGet(*backend, key, kNow);
    BOOST_TEST(!backend->TryGet(key, kNow).has_value());
  }
  BOOST_TEST(Hits(*backend) == before);
  BOOST_TEST(TrackedKeys(server) == 3);
}

BOOST_AUTO_TEST_CASE(without_the_cache_try_get_would_block_and_there_are_no_counters) {
  RedisServerFixture server;
  auto backend = MustOpen(server.BackendOptions());
  MustCreate(*backend, "c/svc/k", "v", NoExpiry(), kNow);
  MustGet(*backend, "c/svc/k", kNow);
  BOOST_TEST(!backend->TryGet("c/svc/k", kNow).has_value());
  BOOST_TEST(backend->Counters().empty());
  BOOST_TEST(TrackedKeys(server) == 0);
}

BOOST_AUTO_TEST_CASE(a_change_by_another_client_is_seen_and_an_own_write_at_once) {
  RedisServerFixture server;
  auto cached = MustOpen(Cached(server));
  auto other = MustOpen(server.BackendOptions());
  const std::string key = "c/svc/k";
  const Version v1 = MustCreate(*other, key, "one", NoExpiry(), kNow);
  BOOST_TEST_REQUIRE(WaitUntilCaching(*cached, key));

  // Through the other backend: Redis's invalidation makes the cached one read it anew.
  const Version v2 = MustCas(*other, key, v1, "two", NoExpiry(), kNow);
  BOOST_TEST(WaitUntil([&] { return MustGet(*cached, key, kNow).version == v2; }, 1s));

  // Through the cached backend itself: seen on the very next read, with no wait at all.
  BOOST_TEST(MustGet(*cached, key, kNow).version == v2);  // cached again
  const Version v3 = MustCas(*cached, key, v2, "three", NoExpiry(), kNow);
  BOOST_TEST(MustGet(*cached, key, kNow).version == v3);
  // Redis's own invalidation of that write may still arrive and drop the refilled entry (which
  // costs a read, never a stale answer), so TryGet may say "would block"; never the old version.
  const auto tried = cached->TryGet(key, kNow);
  if (tried) BOOST_TEST((*tried)->version == v3);
  BOOST_TEST_REQUIRE(cached->Erase(key, v3, kNow).ok());
  BOOST_TEST(cached->Get(key, kNow).status().code() == StatusCode::kNotFound);
  // A refused write forgets the key too: the next read goes to Redis.
  const Version v4 = MustCreate(*other, key, "four", NoExpiry(), kNow);
  BOOST_TEST(cached->Create(key, "mine", NoExpiry(), kNow).status().code() ==
             StatusCode::kConflict);
  BOOST_TEST(MustGet(*cached, key, kNow).version == v4);
}

BOOST_AUTO_TEST_CASE(entries_expire_from_the_cached_copy_and_after_the_maximum_age) {
  RedisServerFixture server;
  RedisOptions options = Cached(server);
  options.cache_max_age = 200ms;
  auto backend = MustOpen(options);
  const std::string key = "c/svc/expiring";
  MustCreate(*backend, key, "v", ExpiresAt(kNow + 10s), kNow);
  BOOST_TEST_REQUIRE(WaitUntilCaching(*backend, key));

  // The cached copy carries expires_at: at that instant it reads absent, from the cache.
  std::uint64_t hits = Hits(*backend);
  BOOST_TEST(backend->Get(key, kNow + 10s).status().code() == StatusCode::kNotFound);
  BOOST_TEST(Hits(*backend) == hits + 1);
  BOOST_TEST(MustGet(*backend, key, kNow + 9s).value == "v");

  // Past the maximum age an entry is a miss, however quiet Redis was.
  std::this_thread::sleep_for(250ms);
  hits = Hits(*backend);
  const std::uint64_t misses = CounterOf(*backend, "redis_cache_misses_total");
  MustGet(*backend, key, kNow);
  BOOST_TEST(Hits(*backend) == hits);
  BOOST_TEST(CounterOf(*backend, "redis_cache_misses_total") == misses + 1);
}

// A key read often is read again in the background once its entry is three quarters of the
// maximum age old, and the entry replaced while it is still answered: it never misses for its
// age. Without the refresh, this loop missed once every 200 ms.
BOOST_AUTO_TEST_CASE(a_key_in_steady_use_is_read_again_before_its_maximum_age) {
  RedisServerFixture server;
  RedisOptions options = Cached(server);
  options.cache_max_age = 200ms;
  auto backend = MustOpen(options);
  const std::string key = "c/svc/steady";
  MustCreate(*backend, key, "v", NoExpiry(), kNow);
  BOOST_TEST_REQUIRE(WaitUntilCaching(*backend, key));

  const std::uint64_t misses = CounterOf(*backend, "redis_cache_misses_total");
  const std::uint64_t hits = Hits(*backend);
  const auto until = Clock::now() + 1s;  // five maximum ages
  while (Clock::now() < until) {
    BOOST_TEST_REQUIRE(MustGet(*backend, key, kNow).value == "v");
    std::this_thread::sleep_for(1ms);
  }
  BOOST_TEST(CounterOf(*backend, "redis_cache_misses_total") == misses);
  BOOST_TEST(Hits(*backend) > hits);
  // One refresh per 150-200 ms of use.
  const std::uint64_t refreshes = CounterOf(*backend, "redis_cache_refreshes_total");
  BOOST_TEST((refreshes >= 4u && refreshes <= 8u), "refreshes: " << refreshes);
}

// The read's reply and Redis's invalidation come on different sockets. A change that lands
// after the read but whose invalidation is handled before the fill must make the fill go.
BOOST_AUTO_TEST_CASE(a_fill_is_dropped_when_the_key_changed_while_it_was_read) {
  RedisServerFixture server;
  auto other = MustOpen(server.BackendOptions());
  const std::string key = "c/svc/raced";
  const Version v1 = MustCreate(*other, key, "one", NoExpiry(), kNow);
  std::atomic<bool> race{false};
  std::atomic<int> raced{0};
  RedisOptions options = Cached(server);
  options.cache_max_age = 60s;  // only the fill rule can keep the stale value out
  options.cache_before_fill = [&](std::string_view redis_key) {
    if (!race.load() || redis_key.find(key) == std::string_view::npos) return;
    race.store(false);
    // The change, and time for its invalidation to be handled first.
    (void)other->CompareAndSwap(key, v1, "two", NoExpiry(), kNow);
    std::this_thread::sleep_for(200ms);
    raced.fetch_add(1);
  };
  auto cached = MustOpen(options);
  BOOST_TEST_REQUIRE(WaitUntilCaching(*cached, "c/svc/warmup"));

  race.store(true);
  BOOST_TEST(MustGet(*cached, key, kNow).value == "one");  // read before the change: fine
  BOOST_TEST(raced.load() == 1);
  BOOST_TEST(CounterOf(*cached, "redis_cache_fills_dropped_total") == 1u);
  BOOST_TEST(MustGet(*cached, key, kNow).value == "two");
}

BOOST_AUTO_TEST_CASE(a_fill_is_dropped_when_the_cache_flushed_while_it_was_read) {
  RedisServerFixture server;
  std::atomic<bool> race{false};
  RedisServerFixture* flusher = &server;
  RedisOptions options = Cached(server);
  options.cache_max_age = 60s;
  options.cache_before_fill = [&](std::string_view) {
    if (!race.exchange(false)) return;
    (void)flusher->Command({"FLUSHALL", "SYNC"});
    std::this_thread::sleep_for(200ms);
  };
  auto cached = MustOpen(options);
  const std::string key = "c/svc/flushed";
  MustCreate(*cached, key, "v", NoExpiry(), kNow);
  BOOST_TEST_REQUIRE(WaitUntilCaching(*cached, "c/svc/warmup"));
  const std::uint64_t flushes = CounterOf(*cached, "redis_cache_flushes_total");
  race.store(true);
  BOOST_TEST(MustGet(*cached, key, kNow).value == "v");
  BOOST_TEST(CounterOf(*cached, "redis_cache_flushes_total") == flushes + 1);
  BOOST_TEST(cached->Get(key, kNow).status().code() == StatusCode::kNotFound);
}

BOOST_AUTO_TEST_CASE(flushall_flushes_the_whole_cache) {
  RedisServerFixture server;
  auto cached = MustOpen(Cached(server));
  for (const std::string key : {"c/svc/a", "c/svc/b", "p/svc/c"}) {
    MustCreate(*cached, key, "v", NoExpiry(), kNow);
    BOOST_TEST_REQUIRE(WaitUntilCaching(*cached, key));
  }
  const std::uint64_t flushes = CounterOf(*cached, "redis_cache_flushes_total");
  BOOST_TEST(server.Command({"FLUSHALL"}) == "OK");
  BOOST_TEST(WaitUntil([&] { return CounterOf(*cached, "redis_cache_flushes_total") > flushes; }));
  BOOST_TEST(CounterOf(*cached, "redis_cache_entries") == 0u);
  for (const std::string key : {"c/svc/a", "c/svc/b", "p/svc/c"}) {
    BOOST_TEST(cached->Get(key, kNow).status().code() == StatusCode::kNotFound);
  }
}

// CLIENT KILL of the subscriber: the cache flushes at once, and once a new subscriber is live
// every connection redirects to it before caching again, so invalidations keep arriving.
BOOST_AUTO_TEST_CASE(a_killed_subscriber_flushes_and_a_new_one_is_redirected_to) {
  RedisServerFixture server;
  RedisOptions options = Cached(server);
  options.cache_max_age = 60s;
  options.pool_size = 1;  // one data connection, which must be redirected anew
  auto cached = MustOpen(options);
  auto other = MustOpen(server.BackendOptions());
  const std::string key = "c/svc/k";
  Version version = MustCreate(*other, key, "0", NoExpiry(), kNow);
  BOOST_TEST_REQUIRE(WaitUntilCaching(*cached, key));

  for (int round = 1; round <= 3; ++round) {
    BOOST_TEST_CONTEXT("round " << round) {
      const std::uint64_t losses = CounterOf(*cached, "redis_cache_subscriber_losses_total");
      BOOST_TEST(server.Command({"CLIENT", "KILL", "TYPE", "pubsub"}) == "1");
      BOOST_TEST_REQUIRE(WaitUntil(
          [&] { return CounterOf(*cached, "redis_cache_subscriber_losses_total") > losses; }));
      BOOST_TEST(CounterOf(*cached, "redis_cache_entries") == 0u);
      BOOST_TEST(!cached->TryGet(key, kNow).has_value());
      BOOST_TEST_REQUIRE(WaitUntilCaching(*cached, key));

      version = MustCas(*other, key, version, std::to_string(round), NoExpiry(), kNow);
      BOOST_TEST(WaitUntil([&] { return MustGet(*cached, key, kNow).version == version; }, 1s));
    }
  }
}

// CLIENT PAUSE: the subscriber's PINGs go unanswered; after 300 ms the cache flushes and reads
// go to Redis (here: wait for the pause like everyone); afterwards caching resumes.
BOOST_AUTO_TEST_CASE(a_silent_subscriber_flushes_after_300_ms) {
  RedisServerFixture server;
  RedisOptions options = Cached(server);
  options.cache_max_age = 60s;
  auto cached = MustOpen(options);
  const std::string key = "c/svc/k";
  MustCreate(*cached, key, "v", NoExpiry(), kNow);
  BOOST_TEST_REQUIRE(WaitUntilCaching(*cached, key));

  const std::uint64_t losses = CounterOf(*cached, "redis_cache_subscriber_losses_total");
  const auto paused_at = Clock::now();
  BOOST_TEST(server.Command({"CLIENT", "PAUSE", "1500", "ALL"}) == "OK");
  BOOST_TEST_REQUIRE(WaitUntil(
      [&] { return CounterOf(*cached, "redis_cache_subscriber_losses_total") > losses; }, 2s));
  const double after = std::chrono::duration<double>(Clock::now() - paused_at).count();
  BOOST_TEST(after >= 0.2);
  BOOST_TEST(after < 1.0);
  BOOST_TEST(CounterOf(*cached, "redis_cache_entries") == 0u);
  BOOST_TEST(!cached->TryGet(key, kNow).has_value());
  BOOST_TEST(WaitUntilCaching(*cached, key));
}

BOOST_AUTO_TEST_CASE(the_cache_is_bounded_in_entries) {
  RedisServerFixture server;
  RedisOptions options = Cached(server);
  options.cache_size = 4;
  auto cached = MustOpen(options);
  BOOST_TEST_REQUIRE(WaitUntilCaching(*cached, "c/svc/warmup"));
  for (int i = 0; i < 20; ++i) (void)cached->Get("c/svc/" + std::to_string(i), kNow);
  BOOST_TEST(CounterOf(*cached, "redis_cache_entries") <= 4u);
  BOOST_TEST(CounterOf(*cached, "redis_cache_evictions_total") >= 16u);
}

// Two backends over one Redis, as two credstored: a CAS through one is seen by the other, the
// cached one, within 100 ms in every round; the delays are printed.
BOOST_AUTO_TEST_CASE(propagation_to_another_instance) {
  RedisServerFixture server;
  auto cached = MustOpen(Cached(server));
  auto writer = MustOpen(server.BackendOptions());
  const std::string key = "c/svc/propagated";
  Version version = MustCreate(*writer, key, "0", NoExpiry(), kNow);
  BOOST_TEST_REQUIRE(WaitUntilCaching(*cached, key));
  constexpr int kRounds = 200;
  std::vector<double> delays;
  for (int round = 1; round <= kRounds; ++round) {
    BOOST_TEST_REQUIRE(MustGet(*cached, key, kNow).version == version);  // cached
    version = MustCas(*writer, key, version, std::to_string(round), NoExpiry(), kNow);
    const auto written = Clock::now();
    // Polled without sleeping (bounded by 100 ms), so the delay measured is the invalidation's.
    bool seen = false;
    while (!seen && Clock::now() - written < 100ms) {
      const auto tried = cached->TryGet(key, kNow);  // the cache alone, until it lets go
      seen = !(tried && tried->ok() && (*tried)->version != version) &&
             MustGet(*cached, key, kNow).version == version;
    }
    BOOST_TEST_REQUIRE(seen, "round " << round << ": not seen within 100 ms");
    delays.push_back(std::chrono::duration<double, std::micro>(Clock::now() - written).count());
  }
  std::sort(delays.begin(), delays.end());
  std::printf("near-cache propagation over %d rounds: p50 %.0f us, p99 %.0f us, max %.0f us\n",
              kRounds, delays[kRounds / 2], delays[kRounds * 99 / 100], delays.back());
  BOOST_TEST(CounterOf(*cached, "redis_cache_invalidations_total") >= std::uint64_t{kRounds});
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(redis_near_cache)

using redis_internal::NearCache;

VersionedValue Value(std::string text) {
  VersionedValue value;
  value.value = std::move(text);
  value.version = 1;
  return value;
}

bool Fill(NearCache& cache, std::string_view key, std::string text) {
  const NearCache::Ticket ticket = cache.BeginRead(key);
  return cache.Fill(ticket, key, Value(std::move(text)));
}

// NearCache::Lookup, copying what a hit hands over into `record` (left alone otherwise).
NearCache::Found Lookup(NearCache& cache, std::string_view key, bool may_block,
                        NearCache::Record& record) {
  return cache.Lookup(key, may_block,
                      [&record](const NearCache::Record& cached) { record = cached; });
}

bool Has(NearCache& cache, std::string_view key) {
  NearCache::Record record;
  return Lookup(cache, key, true, record) == NearCache::Found::kHit;
}

BOOST_AUTO_TEST_CASE(an_entry_hit_since_it_came_survives_eviction_and_bytes_are_bounded) {
  NearCache cache({/*max_entries=*/3, /*max_bytes=*/1 << 20, /*max_age=*/60s, /*shards=*/1});
  BOOST_TEST(Fill(cache, "a", "1"));
  BOOST_TEST(Fill(cache, "b", "2"));
  BOOST_TEST(Fill(cache, "c", "3"));
  BOOST_TEST(Has(cache, "a"));  // a is the oldest, but hit: its second chance
  BOOST_TEST(Fill(cache, "d", "4"));
  BOOST_TEST(!Has(cache, "b"));
  BOOST_TEST(Has(cache, "a"));
  BOOST_TEST(Has(cache, "c"));
  BOOST_TEST(Has(cache, "d"));
  BOOST_TEST(cache.stats().evictions == 1u);

  NearCache small({/*max_entries=*/100, /*max_bytes=*/1000, /*max_age=*/60s, /*shards=*/1});
  BOOST_TEST(!Fill(small, "huge", std::string(2000, 'x')));  // larger than the whole bound
  for (int i = 0; i < 20; ++i)
    BOOST_TEST(Fill(small, "k" + std::to_string(i), std::string(100, 'x')));
  BOOST_TEST(small.stats().bytes <= 1000u);
  BOOST_TEST(small.stats().entries < 20u);
}

BOOST_AUTO_TEST_CASE(a_hit_copies_the_record_out_and_a_miss_leaves_it_alone) {
  NearCache cache({10, 1 << 20, 60s, 1});
  BOOST_TEST(Fill(cache, "k", "value"));
  NearCache::Record first;
  BOOST_TEST((Lookup(cache, "k", true, first) == NearCache::Found::kHit));
  BOOST_TEST_REQUIRE(first.has_value());
  cache.Invalidate("k");
  BOOST_TEST(first->value == "value");  // a copy: the holder keeps what it was handed
  NearCache::Record untouched = Value("untouched");
  BOOST_TEST((Lookup(cache, "k", false, untouched) == NearCache::Found::kMiss));
  BOOST_TEST(untouched->value == "untouched");  // left alone on a miss

  // A cached absence is a hit, with no record.
  NearCache::Ticket ticket = cache.BeginRead("absent");
  BOOST_TEST(cache.Fill(ticket, "absent", std::nullopt));
  NearCache::Record absence = Value("before");
  BOOST_TEST((Lookup(cache, "absent", true, absence) == NearCache::Found::kHit));
  BOOST_TEST(!absence.has_value());

  // With no other caller, a try-lookup takes the free lock and answers as a blocking one.
  BOOST_TEST(Fill(cache, "k", "again"));
  NearCache::Record again;
  BOOST_TEST((Lookup(cache, "k", false, again) == NearCache::Found::kHit));
  BOOST_TEST(again->value == "again");
}

// An entry is never answered once max_age has passed since its read was issued, not even by a
// clock tick: ages are read on the coarse clock, which runs up to a tick behind (without the
// tick added to each age, hits came up to a tick late). And it is answered until then.
BOOST_AUTO_TEST_CASE(no_entry_is_answered_at_or_past_its_maximum_age) {
  using std::chrono::steady_clock;
  for (const auto max_age : {5ms, 20ms, 150ms}) {
    BOOST_TEST_CONTEXT("max_age " << max_age.count() << " ms") {
      NearCache cache({10, 1 << 20, max_age, 1});
      NearCache::Ticket ticket = cache.BeginRead("k");
      const auto issued = steady_clock::now();  // not before the ticket's read_at
      BOOST_TEST_REQUIRE(cache.Fill(ticket, "k", Value("v")));
      bool missed = false;
      int hits = 0;
      const auto give_up = issued + max_age + 2s;
      while (!missed && steady_clock::now() < give_up) {
        const auto asked = steady_clock::now();  // not after the lookup's own clock read
        if (Has(cache, "k")) {
          ++hits;
          BOOST_TEST((asked - issued < max_age), "answered at or past max_age");
        } else {
          missed = true;
          BOOST_TEST((steady_clock::now() - issued) < max_age + 1s);
        }
      }
      BOOST_TEST(missed);
      if (max_age >= 150ms) BOOST_TEST(hits > 0);  // answered while young
    }
  }
}

BOOST_AUTO_TEST_CASE(a_hit_late_in_its_age_asks_once_for_a_refresh) {
  NearCache::Limits limits{/*max_entries=*/10, /*max_bytes=*/1 << 20, /*max_age=*/60s,
                           /*shards=*/1, /*refresh_after=*/20ms};
  NearCache cache(limits);
  auto ask = [&cache] {
    bool refresh_due = false;
    NearCache::Record record;
    BOOST_TEST_REQUIRE((cache.Lookup(
                            "k", true, [&](const NearCache::Record& r) { record = r; },
                            &refresh_due) == NearCache::Found::kHit));
    return refresh_due;
  };
  BOOST_TEST_REQUIRE(Fill(cache, "k", "1"));
  BOOST_TEST(!ask(), "a young entry asks for nothing");
  std::this_thread::sleep_for(30ms);
  BOOST_TEST(ask(), "past refresh_after, the first hit asks");
  BOOST_TEST(!ask(), "and only the first");
  BOOST_TEST(cache.stats().refreshes == 1u);

  BOOST_TEST_REQUIRE(Fill(cache, "k", "2"));  // the refresh: a new entry, young again
  BOOST_TEST(!ask());
  std::this_thread::sleep_for(30ms);
  BOOST_TEST(ask());
  BOOST_TEST(cache.stats().refreshes == 2u);

  limits.refresh_after = 0ms;  // never
  NearCache never(limits);
  BOOST_TEST_REQUIRE(Fill(never, "k", "1"));
  std::this_thread::sleep_for(30ms);
  bool refresh_due = false;
  BOOST_TEST(
      (never.Lookup(
           "k", true, [](const NearCache::Record&) {}, &refresh_due) == NearCache::Found::kHit));
  BOOST_TEST(!refresh_due);
}

BOOST_AUTO_TEST_CASE(invalidations_and_flushes_during_a_read_refuse_its_fill) {
  NearCache cache({10, 1 << 20, 60s, 1});
  NearCache::Ticket ticket = cache.BeginRead("k");
  cache.Invalidate("k");
  BOOST_TEST(!cache.Fill(ticket, "k", Value("stale")));
  BOOST_TEST(!Has(cache, "k"));

  ticket = cache.BeginRead("k");
  cache.Invalidate("other");  // another key's change does not matter
  BOOST_TEST(cache.Fill(ticket, "k", Value("fresh")));

  ticket = cache.BeginRead("k2");
  const NearCache::Ticket concurrent = cache.BeginRead("k2");
  cache.Flush();
  BOOST_TEST(!cache.Fill(ticket, "k2", Value("stale")));
  BOOST_TEST(!cache.Fill(concurrent, "k2", std::nullopt));
  BOOST_TEST(!Has(cache, "k"));  // the flush emptied everything
  BOOST_TEST(cache.stats().fills_dropped == 3u);
  BOOST_TEST(cache.stats().flushes == 1u);
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace credstore::testing
