// credstore's library benchmarks: every backend against the floor of what each call must cost,
// measured in the same process, one right after the other (docs/benchmarks.md).
//
//   VerifyAdminKey   vs two keyed BLAKE2b hashes + the bare storage read of that backend
//                    (memory: a hash-map probe; RocksDB: DB::Get; Redis: hiredis GET)
//   Argon2id calls   vs a bare crypto_pwhash_str / _verify at the same cost: share of time
//   VerifySignedRequest, RotateIntegratorSecret: throughput and latency
//   scale            verify p50/p99 with 10^3, 10^5, 10^6 customers after a block-cache warm-up
//                    (WarmUp), bytes per customer, p99 @10^6 / p99 @10^3
//   same answer      VerifyAdminKey for an unknown customer vs a known one with a wrong admin key
//                    (memory, interleaved): median / median, which should be about 1
//   digest           one keyed BLAKE2b digest, one-shot from the pepper vs from the keyed state
//                    the store sets up once (KeyedHasher): median / median
//
// Output: a human table on stdout ending in the targets ("name: ratio (target ...)", judged,
// never asserted) and, with --json FILE, the numbers and targets for bench/run's report.
#include <sodium.h>
#include <unistd.h>

#include <algorithm>
#include <boost/program_options.hpp>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <numeric>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "argon2_meter.h"
#include "backend_floors.h"
#include "credstore/backends/memory.h"
#include "credstore/credential_store.h"
#include "crypto.h"
#if CREDSTORE_BENCH_HAVE_REDIS
#include "credstore/backends/redis.h"
#include "redis/redis_server_fixture.h"
#endif
#include "measure.h"
#include "seed.h"

namespace credstore::bench {
namespace {

namespace po = boost::program_options;
using std::chrono::milliseconds;

struct Settings {
  std::vector<std::string> backends;
  std::vector<std::size_t> scale_counts;
  std::size_t customers = 1000;
  milliseconds duration{1000};
  milliseconds argon2_duration{3000};
  std::string json_path;
  bool smoke = false;
};

struct Report {
  std::vector<std::string> entries;  // JSON objects
  void Add(const std::string& backend, const std::string& kind, const Measurement& m,
           double ratio = -1) {
    std::ostringstream out;
    out << "{\"backend\":\"" << backend << "\",\"kind\":\"" << kind
        << "\",\"measurement\":" << ToJson(m);
    if (ratio >= 0) out << ",\"ratio_to_floor\":" << ratio;
    out << "}";
    entries.push_back(out.str());
  }
  // The speed targets, each a ratio measured in this run and judged against its bounds (a bound
  // of 0 is "none"): printed at the end as "name: ratio (target ...)", and in the JSON. Nothing
  // is asserted: a missed target is reported, never a failure.
  struct TargetLine {
    std::string name, text;
    double value, low, high;
  };
  std::vector<TargetLine> targets;
  void Target(const std::string& name, double value, double low, double high) {
    char text[64];
    if (low > 0 && high > 0) {
      std::snprintf(text, sizeof text, "%g..%g", low, high);
    } else if (low > 0) {
      std::snprintf(text, sizeof text, ">= %g", low);
    } else {
      std::snprintf(text, sizeof text, "<= %g", high);
    }
    targets.push_back({name, text, value, low, high});
  }
  bool Met(const TargetLine& t) const {
    return (t.low <= 0 || t.value >= t.low) && (t.high <= 0 || t.value <= t.high);
  }
  std::string TargetsJson() const {
    std::ostringstream out;
    out << "[";
    for (std::size_t i = 0; i < targets.size(); ++i) {
      const TargetLine& t = targets[i];
      out << (i ? ",\n" : "\n") << "{\"name\":\"" << t.name << "\",\"value\":" << t.value
          << ",\"target\":\"" << t.text << "\",\"met\":" << (Met(t) ? "true" : "false");
      if (t.low > 0) out << ",\"at_least\":" << t.low;
      if (t.high > 0) out << ",\"at_most\":" << t.high;
      out << "}";
    }
    out << "\n]";
    return out.str();
  }
  void AddValue(const std::string& backend, const std::string& kind, const std::string& name,
                double value) {
    std::ostringstream out;
    out << "{\"backend\":\"" << backend << "\",\"kind\":\"" << kind << "\",\"name\":\"" << name
        << "\",\"value\":" << value << "}";
    entries.push_back(out.str());
  }
};

std::unique_ptr<CredentialStore> OpenStore(std::shared_ptr<StorageBackend> backend,
                                           const Keyring& keyring, Argon2Cost cost,
                                           std::size_t hashes) {
  Options options;
  options.argon2 = cost;
  options.max_concurrent_hashes = hashes;
  options.audit = std::make_shared<NullAuditSink>();
  // Benchmarks hammer one address and a few customers: the throttle is not what is measured.
  options.throttle.failures_per_address = 1'000'000'000;
  options.throttle.customer_burst = 1'000'000'000;
  options.throttle.registrations_per_address = 1'000'000'000;
  auto store = CredentialStore::Open(std::move(backend), keyring, options);
  if (!store.ok()) {
    std::cerr << "cannot open the store: " << store.status().ToString() << "\n";
    std::exit(1);
  }
  return std::move(store).value();
}

// VerifyAdminKey against its floor at 1 and 2 threads.
void BenchVerify(const std::string& backend_name, BackendFloor& floor, CredentialStore& store,
                 const SeededCustomers& customers, const Settings& settings, Report& report) {
  for (int threads : {1, 2}) {
    auto pick = [&](int thread, std::uint64_t i) {
      return (i * 2654435761u + static_cast<std::uint64_t>(thread) * 97) % customers.size();
    };
    const Contender bare{backend_name + " floor: 2 hashes + " + floor.Describe(),
                         [&](int t, std::uint64_t i) {
                           const std::size_t c = pick(t, i);
                           return floor.Verify(t, customers.api_keys[c], customers.admin_keys[c]);
                         }};
    const Contender call{backend_name + " VerifyAdminKey", [&](int t, std::uint64_t i) {
                           const std::size_t c = pick(t, i);
                           return store
                               .VerifyAdminKey(customers.service, customers.api_keys[c],
                                               customers.admin_keys[c])
                               .ok();
                         }};
    const auto [floor_m, verify_m] = MeasurePair(bare, call, threads, 2 * settings.duration);
    const double ratio = verify_m.ops_per_second / floor_m.ops_per_second;
    Print(floor_m);
    Print(verify_m);
    std::printf("  => %s VerifyAdminKey / floor at %d thread(s): %.2fx (target >= 0.80)\n",
                backend_name.c_str(), threads, ratio);
    report.Add(backend_name, "verify_floor", floor_m);
    report.Add(backend_name, "verify", verify_m, ratio);
    report.Target(backend_name + "_verify_vs_floor_" + std::to_string(threads) + "t", ratio, 0.80,
                  0);
  }
}

// "Same answer, same work": VerifyAdminKey for a customer that does not exist and for a known
// customer with a wrong admin key must answer the same and cost the same, or timing tells an
// attacker which API keys are registered. Measured interleaved (MeasurePair) on one thread with
// every record already read once; the ratio is unknown-customer median / wrong-key median.
void BenchSameAnswer(const std::string& backend_name, CredentialStore& store,
                     const SeededCustomers& customers, const Settings& settings, Report& report) {
  const std::size_t n = customers.size();
  // Unknown API keys of the same shape as the seeded ones ("bench_<i>_customer").
  std::vector<std::string> unknown_keys;
  unknown_keys.reserve(n);
  for (std::size_t c = 0; c < n; ++c) {
    unknown_keys.push_back("bench_" + std::to_string(n + c) + "_customer");
  }
  // A wrong admin key of the right form: another customer's (each is 48 random characters).
  auto wrong_key = [&](std::size_t c) -> const std::string& {
    return customers.admin_keys[(c + 1) % n];
  };
  for (std::size_t c = 0; c < n; ++c) {  // every record read once: cached, as on a busy server
    (void)store.VerifyAdminKey(customers.service, customers.api_keys[c], customers.admin_keys[c]);
  }
  const Status unknown_answer =
      store.VerifyAdminKey(customers.service, unknown_keys[0], customers.admin_keys[0]);
  const Status wrong_answer =
      store.VerifyAdminKey(customers.service, customers.api_keys[0], wrong_key(0));
  const bool same_answer = unknown_answer.code() == wrong_answer.code() && !unknown_answer.ok();
  std::printf("  answers: unknown customer %s, wrong admin key %s%s\n",
              unknown_answer.ToString().c_str(), wrong_answer.ToString().c_str(),
              same_answer ? "" : " (NOT the same answer)");
  const StatusCode expected = wrong_answer.code();
  auto pick = [n](std::uint64_t i) { return (i * 2654435761u) % n; };
  const Contender unknown{
      backend_name + " VerifyAdminKey unknown customer", [&](int, std::uint64_t i) {
        const std::size_t c = pick(i);
        return store.VerifyAdminKey(customers.service, unknown_keys[c], customers.admin_keys[c])
                   .code() == expected;
      }};
  const Contender wrong{
      backend_name + " VerifyAdminKey wrong admin key", [&](int, std::uint64_t i) {
        const std::size_t c = pick(i);
        return store.VerifyAdminKey(customers.service, customers.api_keys[c], wrong_key(c))
                   .code() == expected;
      }};
  const auto [unknown_m, wrong_m] = MeasurePair(unknown, wrong, 1, 2 * settings.duration, 16);
  Print(unknown_m);
  Print(wrong_m);
  const double ratio = wrong_m.p50_us > 0 ? unknown_m.p50_us / wrong_m.p50_us : 0.0;
  std::printf(
      "  => %s VerifyAdminKey median unknown customer / wrong admin key: %.2fx (target "
      "0.90..1.10)\n",
      backend_name.c_str(), ratio);
  report.Add(backend_name, "verify_unknown_customer", unknown_m);
  report.Add(backend_name, "verify_wrong_admin_key", wrong_m);
  report.AddValue(backend_name, "unknown_vs_wrong_key_median", "p50 unknown / p50 wrong key",
                  ratio);
  report.AddValue(backend_name, "unknown_vs_wrong_key_same_answer", "same status code",
                  same_answer ? 1 : 0);
  report.Target(backend_name + "_verify_unknown_vs_wrong_key_median", ratio, 0.90, 1.10);
}

// One keyed digest of an admin key (48 characters), as KeyedDigest computes it from the pepper
// and as the store does (KeyedHasher, from the kind's keyed state), interleaved on one thread.
// Not a target: it shows what setting up the state once saves on each of the two digests of a
// verification, which the floors above share (they hash as the store does).
void BenchDigest(const Keyring& keyring, const Settings& settings, Report& report) {
  const internal::KeyedHasher hasher(keyring.pepper().bytes);
  const std::string admin_key(48, 'k');
  volatile unsigned char sink = 0;
  const Contender one_shot{"KeyedDigest (from the pepper)", [&](int, std::uint64_t) {
                             sink = internal::KeyedDigest(keyring.pepper().bytes,
                                                          internal::DigestKind::kAdminKey,
                                                          admin_key)[0];
                             return true;
                           }};
  const Contender from_state{"KeyedHasher (from the keyed state)", [&](int, std::uint64_t) {
                               sink = hasher.Hash(internal::DigestKind::kAdminKey, admin_key)[0];
                               return true;
                             }};
  const auto [one_shot_m, state_m] = MeasurePair(one_shot, from_state, 1, 2 * settings.duration);
  Print(one_shot_m);
  Print(state_m);
  const double ratio = one_shot_m.p50_us > 0 ? state_m.p50_us / one_shot_m.p50_us : 0.0;
  std::printf("  => keyed digest median, from the keyed state / from the pepper: %.2fx\n", ratio);
  report.Add("memory", "digest_one_shot", one_shot_m);
  report.Add("memory", "digest_keyed_state", state_m, ratio);
}

// VerifySignedRequest and RotateIntegratorSecret: unique requests are signed outside the timed
// call, since each MAC verifies once (replay protection).
void BenchIntegrators(const std::string& backend_name, CredentialStore& store,
                      const Settings& settings, Report& report) {
  auto integrator = store.CreateIntegrator({}, "bench");
  if (!integrator.ok()) {
    std::cerr << "CreateIntegrator: " << integrator.status().ToString() << "\n";
    std::exit(1);
  }
  const std::string id = integrator->integrator_id;
  const std::string secret(integrator->secret.view());
  SystemClock clock;
  struct Prepared {
    std::string ts, target, signature;
  };
  std::vector<Prepared> prepared(1);
  const Measurement verify_m = Measure(
      backend_name + " VerifySignedRequest", 1, settings.duration,
      [&](int, std::uint64_t) {
        const Prepared& p = prepared[0];
        return store.VerifySignedRequest({id, p.ts, p.signature, "GET", p.target, ""}).ok();
      },
      10,
      [&](int,
          std::uint64_t i) {  // the client's work: a fresh request, since each MAC verifies once
        Prepared& p = prepared[0];
        p.ts = std::to_string(clock.Now().time_since_epoch().count());
        p.target = "/v1/orders?n=" + std::to_string(i);
        p.signature = SignRequest(secret, p.ts, "GET", p.target, "");
      });
  Print(verify_m);
  report.Add(backend_name, "verify_signed", verify_m);

  std::string current = secret;
  Prepared next;
  std::string body;
  const Measurement rotate_m = Measure(
      backend_name + " RotateIntegratorSecret", 1, settings.duration,
      [&](int, std::uint64_t) {
        auto rotated = store.RotateIntegratorSecret(
            {}, {id, next.ts, next.signature, "POST", next.target, body}, std::chrono::seconds(60));
        if (!rotated.ok()) return false;
        current = std::string(rotated->secret.view());
        return true;
      },
      10,
      [&](int, std::uint64_t i) {  // each rotation is signed with the secret the last one returned
        next.ts = std::to_string(clock.Now().time_since_epoch().count());
        next.target = "/v1/integrator/regenerate-secret";
        body = "{\"n\":" + std::to_string(i) + "}";
        next.signature = SignRequest(current, next.ts, "POST", next.target, body);
      });
  Print(rotate_m);
  report.Add(backend_name, "rotate", rotate_m);
}

// The Argon2id-bound calls at production cost, next to the bare libsodium calls they wrap.
void BenchArgon2Share(const Keyring& keyring, const Settings& settings, Report& report) {
  const Argon2Cost cost = settings.smoke ? Argon2Cost::MinimumForTests() : Argon2Cost::Production();
  auto store = OpenStore(std::make_shared<MemoryBackend>(), keyring, cost, 2);
  const std::string secret = "correct horse battery staple";
  char hash[crypto_pwhash_STRBYTES];
  if (crypto_pwhash_str_alg(hash, secret.data(), secret.size(), cost.ops_limit,
                            cost.mem_limit_bytes, crypto_pwhash_ALG_ARGON2ID13) != 0) {
    std::exit(1);
  }
  const milliseconds d = settings.argon2_duration;
  auto bare_hash_op = [&](int, std::uint64_t) {
    char out[crypto_pwhash_STRBYTES];
    return crypto_pwhash_str_alg(out, secret.data(), secret.size(), cost.ops_limit,
                                 cost.mem_limit_bytes, crypto_pwhash_ALG_ARGON2ID13) == 0;
  };
  auto bare_verify_op = [&](int, std::uint64_t) {
    return crypto_pwhash_str_verify(hash, secret.data(), secret.size()) == 0;
  };
  // Each call runs interleaved with the bare libsodium work it must do, for comparison; its
  // share is read inside the call itself (argon2_meter.h): time in Argon2id / time in the call.
  struct InCall {
    std::chrono::nanoseconds argon2{0};
    std::uint64_t argon2_calls = 0;
  };
  InCall reg_in, regen_in, update_in;
  auto metered = [](InCall& in, auto&& call) {
    const auto time_before = Argon2TimeOnThisThread();
    const auto calls_before = Argon2CallsOnThisThread();
    const bool ok = call();
    in.argon2 += Argon2TimeOnThisThread() - time_before;
    in.argon2_calls += Argon2CallsOnThisThread() - calls_before;
    return ok;
  };
  const auto [bare_hash, reg] = MeasurePair(
      {"bare crypto_pwhash_str", bare_hash_op},
      {"Register",
       [&](int, std::uint64_t i) {
         return metered(reg_in, [&] {
           return store->Register({}, "geofencing", "bench_register_" + std::to_string(i), secret)
               .ok();
         });
       }},
      1, 2 * d, 8, 8);
  (void)store->Register({}, "geofencing", "bench_owner_0001", secret);
  const auto [bare_verify, regen] = MeasurePair(
      {"bare crypto_pwhash_str_verify", bare_verify_op},
      {"RegenerateAdminKey",
       [&](int, std::uint64_t) {
         return metered(regen_in, [&] {
           return store->RegenerateAdminKey({}, "geofencing", "bench_owner_0001", secret).ok();
         });
       }},
      1, 2 * d, 8, 8);
  const std::string other = "another secret entirely";
  const auto [bare_both, update] = MeasurePair(
      {"bare crypto_pwhash_str_verify + _str",
       [&](int t, std::uint64_t i) { return bare_verify_op(t, i) && bare_hash_op(t, i); }},
      {"UpdateSecret",
       [&](int, std::uint64_t i) {
         const bool even = i % 2 == 0;
         return metered(update_in, [&] {
           return store
               ->UpdateSecret({}, "geofencing", "bench_owner_0001", even ? secret : other,
                              even ? other : secret)
               .ok();
         });
       }},
      1, 2 * d, 8, 8);
  for (const Measurement* m : {&bare_hash, &reg, &bare_verify, &regen, &bare_both, &update}) {
    Print(*m);
  }
  // Time in Argon2id over time in the calls, both summed over the same calls.
  auto share = [](const InCall& in, const Measurement& m) {
    const double call_ns = m.mean_us * 1000.0 * static_cast<double>(m.operations);
    return call_ns > 0 ? static_cast<double>(in.argon2.count()) / call_ns : 0.0;
  };
  const double reg_share = share(reg_in, reg);
  const double regen_share = share(regen_in, regen);
  const double update_share = share(update_in, update);
  if (reg_in.argon2_calls == 0) {
    std::printf("  => Argon2id share not measured: the meter saw no call (is the core shared?)\n");
  }
  std::printf(
      "  => Argon2id calls per call: Register %.1f, RegenerateAdminKey %.1f, UpdateSecret %.1f\n",
      static_cast<double>(reg_in.argon2_calls) / std::max<std::uint64_t>(reg.operations, 1),
      static_cast<double>(regen_in.argon2_calls) / std::max<std::uint64_t>(regen.operations, 1),
      static_cast<double>(update_in.argon2_calls) / std::max<std::uint64_t>(update.operations, 1));
  std::printf(
      "  => Argon2id share: Register %.1f%%, RegenerateAdminKey %.1f%%, UpdateSecret "
      "%.1f%% (target >= 95%%)\n",
      100 * reg_share, 100 * regen_share, 100 * update_share);
  report.Target("argon2_share_register", reg_share, 0.95, 0);
  report.Target("argon2_share_regenerate", regen_share, 0.95, 0);
  report.Target("argon2_share_update_secret", update_share, 0.95, 0);
  report.Add("memory", "argon2_bare_hash", bare_hash);
  report.Add("memory", "argon2_bare_verify", bare_verify);
  report.Add("memory", "argon2_bare_verify_and_hash", bare_both);
  report.Add("memory", "argon2_register", reg, reg_share);
  report.Add("memory", "argon2_regenerate", regen, regen_share);
  report.Add("memory", "argon2_update_secret", update, update_share);
}

// The warm-up before each scale measurement: one VerifyAdminKey of every seeded customer, in
// seeding order, after the store has been flushed and compacted (StorageBytes). It reads every
// record the measurement can read, so each of their blocks has been through the block cache
// once: what is measured is a server that has been serving these customers, not a cold start.
// Whatever does not fit the cache (block_cache_bytes) is evicted again, as on such a server.
void WarmUp(const std::string& backend_name, CredentialStore& store,
            const SeededCustomers& customers, Report& report) {
  const auto start = std::chrono::steady_clock::now();
  for (std::size_t c = 0; c < customers.size(); ++c) {
    if (!store.VerifyAdminKey(customers.service, customers.api_keys[c], customers.admin_keys[c])
             .ok()) {
      std::cerr << "warm-up: VerifyAdminKey failed for customer " << c << "\n";
      std::exit(1);
    }
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("  warm-up: every one of %zu customers verified once, in %.1f s\n", customers.size(),
              seconds);
  report.AddValue(backend_name, "warmup_seconds", std::to_string(customers.size()), seconds);
}

// Verify latency as the customer count grows, and storage bytes per customer; then how much the
// p99 grew from 10^3 to 10^6 customers (when both were measured).
void BenchScale(const std::string& backend_name, const Keyring& keyring, const Settings& settings,
                Report& report) {
  std::map<std::size_t, double> p99_at;
  for (std::size_t count : settings.scale_counts) {
    auto opened = OpenBenchBackend(backend_name);
    auto store = OpenStore(opened.backend, keyring, Argon2Cost::MinimumForTests(), 2);
    const std::size_t before = opened.StorageBytes();
    const SeededCustomers customers = SeedCustomers(*opened.backend, keyring, count);
    const std::size_t after = opened.StorageBytes();  // flushes and compacts: warm up after it
    WarmUp(backend_name, *store, customers, report);
    const Measurement m = Measure(
        backend_name + " VerifyAdminKey @" + std::to_string(count) + " customers", 1,
        settings.duration, [&](int, std::uint64_t i) {
          const std::size_t c = (i * 2654435761u) % customers.size();
          return store
              ->VerifyAdminKey(customers.service, customers.api_keys[c], customers.admin_keys[c])
              .ok();
        });
    Print(m);
    p99_at[count] = m.p99_us;
    const double bytes_per_customer =
        after > before ? static_cast<double>(after - before) / count : 0.0;
    std::printf("  => %s: %.0f bytes of storage per customer at %zu customers\n",
                backend_name.c_str(), bytes_per_customer, count);
    report.Add(backend_name, "scale_" + std::to_string(count), m);
    report.AddValue(backend_name, "bytes_per_customer", std::to_string(count), bytes_per_customer);
  }
  constexpr std::size_t kSmall = 1'000, kLarge = 1'000'000;
  if (p99_at.count(kSmall) == 1 && p99_at.count(kLarge) == 1 && p99_at[kSmall] > 0) {
    const double growth = p99_at[kLarge] / p99_at[kSmall];
    std::printf("  => %s VerifyAdminKey p99 @10^6 / p99 @10^3 customers: %.2fx (target <= 3)\n",
                backend_name.c_str(), growth);
    report.AddValue(backend_name, "p99_growth", "1000000/1000", growth);
    report.Target(backend_name + "_verify_p99_1e6_vs_1e3", growth, 0, 3.0);
  }
}

std::vector<std::string> SplitList(const std::string& text) {
  std::vector<std::string> out;
  std::stringstream in(text);
  std::string item;
  while (std::getline(in, item, ',')) {
    if (!item.empty()) out.push_back(item);
  }
  return out;
}

Settings ParseArgs(int argc, char** argv) {
  Settings settings;
  std::string backends = "memory,rocksdb,redis,redis_cached,redis_cluster";
  std::string scale = "1000,100000,1000000";
  int seconds_ms = 1000;
  po::options_description description("credstore_bench options");
  description.add_options()("help", "show this help")(
      "backends", po::value(&backends)->default_value(backends),
      "comma-separated: memory, rocksdb, redis, redis_cached (the near-cache on; with it, the "
      "propagation of a revocation to another instance), redis_cluster (three masters, a "
      "replica each); those not built are skipped")(
      "customers", po::value(&settings.customers)->default_value(1000),
      "customers seeded for the verify-vs-floor comparison")(
      "scale", po::value(&scale)->default_value(scale),
      "customer counts for the scale run on rocksdb and redis; add 10000000 for 10^7")(
      "millis", po::value(&seconds_ms)->default_value(1000), "time per measurement, ms")(
      "json", po::value(&settings.json_path), "write the results to this JSON file")(
      "smoke", po::bool_switch(&settings.smoke),
      "a moment per benchmark, minimum Argon2id cost, 1000 customers: proves they run");
  po::variables_map vars;
  po::store(po::parse_command_line(argc, argv, description), vars);
  po::notify(vars);
  if (vars.count("help")) {
    std::cout << description << "\n";
    std::exit(0);
  }
  settings.backends = SplitList(backends);
  for (const auto& count : SplitList(scale)) settings.scale_counts.push_back(std::stoul(count));
  settings.duration = milliseconds(seconds_ms);
  if (settings.smoke) {
    settings.duration = milliseconds(50);
    settings.argon2_duration = milliseconds(50);
    settings.customers = std::min<std::size_t>(settings.customers, 1000);
    settings.scale_counts = {1000};
  }
  return settings;
}

#if CREDSTORE_BENCH_HAVE_REDIS
// How long a revocation takes to reach another instance: two backends over one Redis, each
// with the near-cache, stand for two credstored processes. A regenerates a customer's admin key;
// B, whose cache holds the record (B verified the old key just before), is polled until it
// refuses the old key. The delay runs from A's return to B's first refusal — Redis's
// invalidation crossing to B's subscriber — over `rounds` regenerations.
void BenchPropagation(const Keyring& keyring, const Settings& settings, Report& report) {
  testing::RedisServerFixture server;
  RedisOptions options = server.BackendOptions();
  options.cache = true;
  const auto open = [&] {
    auto backend = RedisBackend::Open(options);
    if (!backend.ok()) {
      std::fprintf(stderr, "propagation: %s\n", backend.status().ToString().c_str());
      std::exit(1);
    }
    return OpenStore(std::move(backend).value(), keyring, Argon2Cost::MinimumForTests(), 2);
  };
  auto a = open();
  auto b = open();
  const std::string service = "geofencing", api_key = "bench_propagation_customer";
  const std::string secret = "correct horse battery staple";
  auto grant = a->Register({}, service, api_key, secret);
  if (!grant.ok()) std::exit(1);
  std::string old_key(grant->admin_key.view());
  const std::size_t rounds = settings.smoke ? 20 : 1000;
  const auto poll_bound = std::chrono::seconds(2);  // far above the 1 s maximum age
  std::vector<double> delays_us;
  delays_us.reserve(rounds);
  std::size_t beyond_bound = 0;
  for (std::size_t i = 0; i < rounds; ++i) {
    // B caches the record that still holds the old key, with tracking on (a live subscriber).
    while (!b->VerifyAdminKey(service, api_key, old_key).ok()) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    auto next = a->RegenerateAdminKey({}, service, api_key, secret);
    if (!next.ok()) std::exit(1);
    const auto revoked = std::chrono::steady_clock::now();
    while (b->VerifyAdminKey(service, api_key, old_key).ok()) {
      if (std::chrono::steady_clock::now() - revoked > poll_bound) break;
    }
    const auto seen = std::chrono::steady_clock::now();
    if (seen - revoked > poll_bound) ++beyond_bound;
    delays_us.push_back(std::chrono::duration<double, std::micro>(seen - revoked).count());
    old_key = std::string(next->admin_key.view());
  }
  std::sort(delays_us.begin(), delays_us.end());
  const auto at = [&](double p) {
    return delays_us[std::min(delays_us.size() - 1,
                              static_cast<std::size_t>(p * (delays_us.size() - 1)))];
  };
  Measurement m;
  m.name = "redis_cached revocation A -> B (near-cache invalidation)";
  m.operations = delays_us.size();
  m.p50_us = at(0.50);
  m.p99_us = at(0.99);
  m.mean_us = std::accumulate(delays_us.begin(), delays_us.end(), 0.0) / delays_us.size();
  std::printf(
      "  revocation on A seen by B: p50 %.0f us, p99 %.0f us, max %.0f us over %zu "
      "regenerations (%zu beyond 2 s)\n",
      m.p50_us, m.p99_us, delays_us.back(), delays_us.size(), beyond_bound);
  report.Add("redis_cached", "propagation", m);
  report.Target("redis_cached_propagation_p99_ms", m.p99_us / 1000.0, 0, 10);
}
#endif

}  // namespace
}  // namespace credstore::bench

int main(int argc, char** argv) {
  using namespace credstore;
  using namespace credstore::bench;
  if (sodium_init() < 0) return 1;
  const Settings settings = ParseArgs(argc, argv);
  const Keyring keyring = Keyring::Generate();
  Report report;
  std::printf("credstore library benchmarks (%u hardware threads)\n",
              std::thread::hardware_concurrency());

  for (const std::string& backend_name : settings.backends) {
    if (!IsBenchBackendBuilt(backend_name)) {
      std::printf("\n[%s] not built: skipped\n", backend_name.c_str());
      continue;
    }
    std::printf("\n[%s] VerifyAdminKey vs floor, %zu customers\n", backend_name.c_str(),
                settings.customers);
    auto opened = OpenBenchBackend(backend_name);
    auto store = OpenStore(opened.backend, keyring, Argon2Cost::MinimumForTests(), 2);
    const SeededCustomers customers = SeedCustomers(*opened.backend, keyring, settings.customers);
    auto floor = MakeFloor(backend_name, opened, keyring, customers);
    BenchVerify(backend_name, *floor, *store, customers, settings, report);
    if (backend_name == "memory") {
      std::printf("[%s] same answer, same work: unknown customer vs wrong admin key\n",
                  backend_name.c_str());
      BenchSameAnswer(backend_name, *store, customers, settings, report);
    }
#if CREDSTORE_BENCH_HAVE_REDIS
    if (backend_name == "redis_cached") {
      std::printf("[%s] a revocation's propagation to another instance\n", backend_name.c_str());
      BenchPropagation(keyring, settings, report);
    }
#endif
    // The scale-out variants measure their verify path only; the rest is the plain backend's.
    if (backend_name == "redis_cached" || backend_name == "redis_cluster") continue;
    std::printf("[%s] integrators\n", backend_name.c_str());
    BenchIntegrators(backend_name, *store, settings, report);
    if (backend_name != "memory") {
      std::printf("[%s] scale\n", backend_name.c_str());
      BenchScale(backend_name, keyring, settings, report);
    }
  }
  std::printf("\n[digest] one keyed BLAKE2b digest, one-shot vs from the keyed state\n");
  BenchDigest(keyring, settings, report);
  std::printf("\n[argon2] share of Argon2id in the calls that use it (%s cost)\n",
              settings.smoke ? "minimum" : "production");
  BenchArgon2Share(keyring, settings, report);

  if (!settings.json_path.empty()) {
    std::ofstream out(settings.json_path);
    out << "{\"results\":[";
    for (std::size_t i = 0; i < report.entries.size(); ++i) {
      out << (i ? ",\n" : "\n") << report.entries[i];
    }
    out << "\n],\"targets\":" << report.TargetsJson() << "}\n";
  }
  std::printf("\ntargets (ratios measured in this run; nothing is asserted)%s:\n",
              settings.smoke ? ", a smoke run: too short to judge" : "");
  for (const auto& t : report.targets) {
    std::printf("  %s: %.2f (target %s)\n", t.name.c_str(), t.value, t.text.c_str());
  }
  std::printf("\nbenchmarks finished: %zu results\n", report.entries.size());
  return 0;
}
