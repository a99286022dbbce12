#include <sys/un.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <charconv>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <iostream>
#include <iterator>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "canary.h"
#include "connection.h"
#include "credstore/backends/redis.h"
#include "replica_wait.h"
#include "scripts.h"
#include "tracked_reads.h"

namespace credstore {

using redis_internal::Canary;
using redis_internal::Command;
using redis_internal::ConnectionPool;
using redis_internal::Endpoint;
using redis_internal::ErrorCode;
using redis_internal::ReplicaWait;
using redis_internal::ReplyPtr;
using redis_internal::ReplyText;

namespace {

enum class Script : std::size_t { kCreate = 0, kCompareAndSwap = 1, kErase = 2 };
constexpr std::array<std::string_view, 3> kScriptSources = {redis_internal::kCreateScript,
                                                            redis_internal::kCompareAndSwapScript,
                                                            redis_internal::kEraseScript};

// Records whose expiry is further away than this get no native TTL at all.
constexpr std::chrono::milliseconds kLongestNativeTtl = std::chrono::hours(24 * 365 * 10);
// Keys asked for per SCAN round trip.
constexpr std::string_view kScanBatch = "512";

std::string ToDecimal(std::int64_t number) { return std::to_string(number); }

std::int64_t Millis(Timestamp t) { return t.time_since_epoch().count(); }

template <typename Integer>
bool ParseInteger(std::string_view text, Integer& out) {
  if (text.empty()) return false;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), out);
  return error == std::errc() && end == text.data() + text.size();
}

bool StartsWith(std::string_view text, std::string_view prefix) {
  return text.substr(0, prefix.size()) == prefix;
}

// Escapes the characters Redis's glob matcher treats specially, for SCAN MATCH.
std::string GlobEscape(std::string_view text) {
  std::string escaped;
  escaped.reserve(text.size());
  for (char c : text) {
    if (c == '*' || c == '?' || c == '[' || c == ']' || c == '\\') escaped.push_back('\\');
    escaped.push_back(c);
  }
  return escaped;
}

bool ValidNamespace(std::string_view name) {
  if (name.empty()) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return c > ' ' && c < 0x7f && c != '{' && c != '}' && c != '*' && c != '?' && c != '[' &&
           c != ']' && c != '\\';
  });
}

// The error reply of a command mapped to a Status. Only the reply's error code is kept: the
// rest of a Redis error text is not ours to vouch for as safe to show a client.
Status FromErrorReply(std::string_view operation, const redisReply& reply) {
  const std::string code(ErrorCode(reply));
  static constexpr std::array<std::string_view, 12> kTransient = {
      "LOADING", "BUSY",   "READONLY", "MASTERDOWN", "OOM",        "TRYAGAIN",
      "MISCONF", "NOAUTH", "NOPERM",   "WRONGPASS",  "NOREPLICAS", "CLUSTERDOWN"};
  const std::string where = "redis: " + std::string(operation) + ": ";
  if (std::find(kTransient.begin(), kTransient.end(), code) != kTransient.end()) {
    return Status::Unavailable(where + "server answered " + code);
  }
  if (code == "WRONGTYPE") {
    return Status::Internal(where + "a key in credstore's namespace is not a credstore record");
  }
  return Status::Internal(where + "server answered " + (code.empty() ? "an error" : code));
}

// The reply to `HMGET <key> v ver exp` as a record; nullopt if there is no live record.
Result<std::optional<VersionedValue>> DecodeRecord(const redisReply& reply, Timestamp now) {
  if (reply.type != REDIS_REPLY_ARRAY || reply.elements != 3) {
    return Status::Internal("redis: unexpected reply shape");
  }
  const redisReply& value = *reply.element[0];
  const redisReply& version = *reply.element[1];
  const redisReply& expiry = *reply.element[2];
  if (value.type == REDIS_REPLY_NIL) return std::optional<VersionedValue>();
  VersionedValue record;
  if (value.type != REDIS_REPLY_STRING || version.type != REDIS_REPLY_STRING ||
      !ParseInteger(ReplyText(version), record.version) || record.version == 0) {
    return Status::Internal("redis: malformed record");
  }
  if (expiry.type == REDIS_REPLY_STRING) {
    std::int64_t ms = 0;
    if (!ParseInteger(ReplyText(expiry), ms)) return Status::Internal("redis: malformed expiry");
    record.expires_at = Timestamp(std::chrono::milliseconds(ms));
    if (*record.expires_at <= now) return std::optional<VersionedValue>();
  } else if (expiry.type != REDIS_REPLY_NIL) {
    return Status::Internal("redis: malformed expiry");
  }
  record.value = ReplyText(value);
  return std::optional<VersionedValue>(std::move(record));
}

// `CONFIG GET <name>` on `connection`: the value, nullopt when the server refused the command
// (renamed, or denied by ACL), kUnavailable when it could not be reached.
Result<std::optional<std::string>> ConfigGet(redis_internal::Connection& connection,
                                             std::string_view name, std::string_view during) {
  ReplyPtr reply = connection.Call({"CONFIG", "GET", name});
  if (reply == nullptr) {
    return Status::Unavailable("redis: " + std::string(during) + ": " + connection.failure());
  }
  if (reply->type == REDIS_REPLY_ERROR) return std::optional<std::string>();
  if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 2 ||
      reply->element[1]->type != REDIS_REPLY_STRING) {
    return Status::Internal("redis: unexpected CONFIG GET reply");
  }
  return std::optional<std::string>(std::string(ReplyText(*reply->element[1])));
}

// The one rule about the eviction policy, for Open and for every re-check: why `policy` may lose
// records, or nullopt when it keeps every key.
std::optional<std::string> EvictionProblem(std::string_view policy) {
  if (policy == "noeviction") return std::nullopt;
  return "redis maxmemory-policy is '" + std::string(policy) +
         "', which may evict credstore records; set it to 'noeviction'";
}

constexpr std::string_view kConfigRefused =
    "redis refused CONFIG GET, so its maxmemory-policy cannot be checked";

// A failure while connecting is, once the backend is open, just "the store is unreachable".
Status AsUnavailable(const Status& status) {
  if (status.code() == StatusCode::kUnavailable) return status;
  return Status::Unavailable(status.message());
}

}  // namespace

class RedisBackend::Impl {
 public:
  Impl(const RedisOptions& options, Endpoint endpoint)
      : options_(options),
        canary_(redis_internal::CanaryKey(options.key_namespace)),
        pool_(endpoint, options.pool_size, CanaryCheck()),
        replica_wait_(options) {
    if (replica_wait_.enabled()) {
      wait_pool_ = std::make_unique<ConnectionPool>(std::move(endpoint), options.wait_pool_size,
                                                    CanaryCheck());
    }
    std::random_device entropy;
    write_id_base_ = (std::uint64_t{entropy()} << 32) ^ entropy();
  }

  // Stops the watch before the pool it uses goes.
  ~Impl();

  Status Load();  // the server checks, SCRIPT LOADs and the canary of Open

  // The watch of the policy and the canary (redis.h): started by Open once Load passed, stopped
  // by ~Impl.
  void StartWatch();
  Status Health() const;

  Result<VersionedValue> Get(std::string_view key, Timestamp now);
  std::optional<Result<VersionedValue>> TryGet(std::string_view key, Timestamp now);
  // The near-cache (tracked_reads.h): started by Open once Load passed; null without it.
  void StartCache(const Endpoint& endpoint);
  std::vector<BackendCounter> Counters() const;
  Result<Version> Write(Script script, std::string_view key, std::vector<std::string> arguments,
                        const std::string& write_id, const WriteOptions& options);
  Result<ScanPage> Scan(std::string_view prefix, std::string_view cursor, std::size_t limit,
                        Timestamp now);

  std::string RedisKey(std::string_view key) const {
    std::string redis_key;
    redis_key.reserve(options_.key_namespace.size() + key.size() + 3);
    redis_key.append(options_.key_namespace).append(":{").append(key).push_back('}');
    return redis_key;
  }

  // A process-unique id for one write; random across processes.
  std::string NewWriteId() {
    char text[40];
    const int length = std::snprintf(
        text, sizeof text, "%016llx.%llx", static_cast<unsigned long long>(write_id_base_),
        static_cast<unsigned long long>(write_counter_.fetch_add(1) + 1));
    return std::string(text, static_cast<std::size_t>(length));
  }

  // The relative native TTL for a record expiring at `expires_at`: collected `gc_margin` after it
  // stopped being visible. Empty: no native TTL.
  std::string NativeTtl(std::optional<Timestamp> expires_at, Timestamp now) const {
    if (!expires_at) return {};
    std::int64_t remaining = 0;
    if (*expires_at > now && __builtin_sub_overflow(Millis(*expires_at), Millis(now), &remaining)) {
      return {};
    }
    if (remaining > kLongestNativeTtl.count()) return {};
    return ToDecimal(remaining + options_.gc_margin.count());
  }

  std::string TombstoneTtl() const { return ToDecimal(options_.gc_margin.count()); }

  RedisServerDurability durability;

 private:
  // A cacheable Get: the near-cache, else a tracked read that fills it.
  Result<VersionedValue> CachedGet(const std::string& redis_key, Timestamp now);
  // Runs a script on `connection`; loads it again when the server lost its script cache.
  // nullptr on a transport failure (see Connection::failure()). When `waits`, WAIT follows it
  // and `acknowledged` gets WAIT's reply (replica_wait.h).
  ReplyPtr RunScript(redis_internal::Connection& connection, Script script,
                     const std::vector<std::string_view>& arguments, bool waits,
                     ReplyPtr& acknowledged);
  Result<Version> ResolveLostWrite(Script script, const std::string& redis_key,
                                   const std::string& write_id, const std::string& failure);
  // A connection of `pool` to serve one call, refused while the canary is lost (canary.h).
  Result<ConnectionPool::Lease> AcquireServing(ConnectionPool& pool, ConnectionPool::Pick pick);
  // Every pool's set-up hook: the canary check of a new connection.
  ConnectionPool::SetUp CanaryCheck() {
    return [this](redis_internal::Connection& connection) {
      return canary_.OnNewConnection(connection);
    };
  }
  void Watch();
  void CheckCanary();
  // What one read of maxmemory-policy says; nullopt when the server could not be asked.
  std::optional<Status> ReadPolicyVerdict();
  // Reports Health() when it differs from what was reported last (on the watch thread only).
  void ReportHealthChange();

  const RedisOptions options_;
  Canary canary_;  // before pool_, whose set-up hook uses it
  ConnectionPool pool_;
  // Writes that wait for replicas: WAIT's arguments, and their own lane (null when none wait).
  const ReplicaWait replica_wait_;
  std::unique_ptr<ConnectionPool> wait_pool_;
  std::array<std::string, 3> script_sha_;  // set by Load, read-only afterwards
  std::uint64_t write_id_base_ = 0;
  std::atomic<std::uint64_t> write_counter_{0};

  std::mutex watch_mutex_;
  std::condition_variable watch_wake_;
  bool watch_stop_ = false;  // guarded by watch_mutex_
  mutable std::mutex verdict_mutex_;
  Status policy_verdict_;  // guarded by verdict_mutex_; OK at first, since Open checked the policy
  Status reported_;        // the watch thread's own: the verdict it reported last
  std::thread watcher_;
  std::unique_ptr<redis_internal::TrackedReads> tracked_;
};

RedisBackend::Impl::~Impl() {
  {
    std::lock_guard lock(watch_mutex_);
    watch_stop_ = true;
  }
  watch_wake_.notify_all();
  if (watcher_.joinable()) watcher_.join();
}

void RedisBackend::Impl::StartWatch() {
  if (options_.policy_check_interval <= std::chrono::milliseconds(0) &&
      options_.canary_check_interval <= std::chrono::milliseconds(0)) {
    return;
  }
  watcher_ = std::thread([this] { Watch(); });
}

Status RedisBackend::Impl::Health() const {
  // A store that lost its data is the graver verdict: it answers nothing at all.
  if (Status canary = canary_.Verdict(); !canary.ok()) return canary;
  std::lock_guard lock(verdict_mutex_);
  return policy_verdict_;
}

// Sleeps until the next check is due, so the watch costs one GET per canary interval, one
// CONFIG GET per policy interval, and nothing else.
void RedisBackend::Impl::Watch() {
  using std::chrono::steady_clock;
  const std::chrono::milliseconds policy_every = options_.policy_check_interval;
  const std::chrono::milliseconds canary_every = options_.canary_check_interval;
  const bool policy_on = policy_every > std::chrono::milliseconds(0);
  const bool canary_on = canary_every > std::chrono::milliseconds(0);
  steady_clock::time_point next_policy = steady_clock::now() + policy_every;
  steady_clock::time_point next_canary = steady_clock::now() + canary_every;
  std::unique_lock lock(watch_mutex_);
  for (;;) {
    const steady_clock::time_point due = !policy_on   ? next_canary
                                         : !canary_on ? next_policy
                                                      : std::min(next_policy, next_canary);
    if (watch_wake_.wait_until(lock, due, [this] { return watch_stop_; })) return;
    lock.unlock();
    const steady_clock::time_point now = steady_clock::now();
    if (canary_on && now >= next_canary) {
      CheckCanary();
      next_canary = now + canary_every;
    }
    if (policy_on && now >= next_policy) {
      if (std::optional<Status> verdict = ReadPolicyVerdict()) {
        std::lock_guard verdict_lock(verdict_mutex_);
        policy_verdict_ = std::move(*verdict);
      }
      next_policy = now + policy_every;
    }
    ReportHealthChange();
    lock.lock();
  }
}

void RedisBackend::Impl::CheckCanary() {
  // A new connection checks the canary in its set-up already; checking again costs one GET.
  Result<ConnectionPool::Lease> acquired = pool_.Acquire();
  if (acquired.ok()) canary_.Check(**acquired);
}

std::optional<Status> RedisBackend::Impl::ReadPolicyVerdict() {
  Result<ConnectionPool::Lease> acquired = pool_.Acquire();
  if (!acquired.ok()) return std::nullopt;
  ConnectionPool::Lease lease = std::move(acquired).value();
  Result<std::optional<std::string>> policy = ConfigGet(*lease, "maxmemory-policy", "policy check");
  if (!policy.ok()) {
    if (policy.status().code() == StatusCode::kUnavailable) return std::nullopt;
    return Status::Unavailable(policy.status().message());
  }
  if (!policy->has_value()) {
    // As at Open: an operator who vouched for the policy keeps vouching.
    if (options_.allow_unverified_eviction_policy) return Status::Ok();
    return Status::Unavailable(std::string(kConfigRefused));
  }
  if (std::optional<std::string> problem = EvictionProblem(**policy)) {
    return Status::Unavailable(std::move(*problem));
  }
  return Status::Ok();
}

void RedisBackend::Impl::ReportHealthChange() {
  Status verdict = Health();
  if (verdict.ok() == reported_.ok() && verdict.message() == reported_.message()) return;
  reported_ = verdict;
  if (options_.on_health_change) {
    options_.on_health_change(verdict);
    return;
  }
  std::clog << (verdict.ok() ? std::string("credstore redis: healthy again")
                             : "credstore redis: " + verdict.message())
            << std::endl;
}

Status RedisBackend::Impl::Load() {
  Result<ConnectionPool::Lease> acquired = pool_.Acquire();
  if (!acquired.ok()) return acquired.status();
  ConnectionPool::Lease lease = std::move(acquired).value();
  const auto unreachable = [&lease] {
    return Status::Unavailable("redis: while opening: " + lease->failure());
  };

  ReplyPtr info = lease->Call({"INFO", "server"});
  if (info == nullptr) return unreachable();
  if (ErrorCode(*info) == "NOAUTH") {
    return Status::InvalidArgument("redis requires a password (NOAUTH) and none was given");
  }
  if (info->type == REDIS_REPLY_ERROR) return FromErrorReply("INFO", *info);
  const std::string_view text = ReplyText(*info);
  const std::size_t at = text.find("redis_version:");
  int major = 0;
  if (at != std::string_view::npos) {
    const std::string_view version = text.substr(at + 14, text.find('.', at) - (at + 14));
    (void)ParseInteger(version, major);
  }
  if (major < 5) return Status::InvalidArgument("redis server is older than 5.0");
  if (options_.cache && major < 6) {
    return Status::InvalidArgument("redis server is older than 6.0, which the cache needs");
  }

  const auto config_get = [&lease](std::string_view name) {
    return ConfigGet(*lease, name, "while opening");
  };
  Result<std::optional<std::string>> policy = config_get("maxmemory-policy");
  if (!policy.ok()) return policy.status();
  if (policy->has_value()) {
    Result<std::optional<std::string>> appendonly = config_get("appendonly");
    Result<std::optional<std::string>> appendfsync = config_get("appendfsync");
    if (!appendonly.ok()) return appendonly.status();
    if (!appendfsync.ok()) return appendfsync.status();
    durability.known = appendonly->has_value() && appendfsync->has_value();
    durability.maxmemory_policy = **policy;
    durability.appendonly = appendonly->value_or("") == "yes";
    durability.appendfsync = appendfsync->value_or("");
    if (std::optional<std::string> problem = EvictionProblem(durability.maxmemory_policy)) {
      return Status::InvalidArgument(std::move(*problem));
    }
  } else if (!options_.allow_unverified_eviction_policy) {
    return Status::InvalidArgument(std::string(kConfigRefused) +
                                   "; allow CONFIG for this user, or set "
                                   "allow_unverified_eviction_policy after making sure the "
                                   "policy is 'noeviction'");
  }
  if (options_.require_fsync_always && !durability.fsync_every_write()) {
    return Status::InvalidArgument(
        "redis does not fsync every write (needs appendonly yes and appendfsync always, or "
        "CONFIG GET allowed to check it) and require_fsync_always is set");
  }

  for (std::size_t i = 0; i < kScriptSources.size(); ++i) {
    ReplyPtr reply = lease->Call({"SCRIPT", "LOAD", kScriptSources[i]});
    if (reply == nullptr) return unreachable();
    if (reply->type != REDIS_REPLY_STRING) {
      return reply->type == REDIS_REPLY_ERROR ? FromErrorReply("SCRIPT LOAD", *reply)
                                              : Status::Internal("redis: bad SCRIPT LOAD reply");
    }
    script_sha_[i] = ReplyText(*reply);
  }
  // Last, once the server passed every check: a server refused above gets no canary.
  return redis_internal::EstablishCanaries({&canary_}, {&*lease});
}

Result<ConnectionPool::Lease> RedisBackend::Impl::AcquireServing(ConnectionPool& pool,
                                                                 ConnectionPool::Pick pick) {
  {
    Result<ConnectionPool::Lease> acquired = pool.Acquire(pick);
    if (!acquired.ok()) return AsUnavailable(acquired.status());
    const Status gate = canary_.Gate(**acquired);
    if (gate.ok()) return acquired;
    if (!(*acquired)->broken() || pick == ConnectionPool::Pick::kFresh) return gate;
  }  // an idle connection the server closed (it restarted): only a new one can tell
  Result<ConnectionPool::Lease> fresh = pool.Acquire(ConnectionPool::Pick::kFresh);
  if (!fresh.ok()) return AsUnavailable(fresh.status());
  if (Status gate = canary_.Gate(**fresh); !gate.ok()) return gate;
  return fresh;
}

ReplyPtr RedisBackend::Impl::RunScript(redis_internal::Connection& connection, Script script,
                                       const std::vector<std::string_view>& arguments, bool waits,
                                       ReplyPtr& acknowledged) {
  const std::size_t index = static_cast<std::size_t>(script);
  Command command = {"EVALSHA", script_sha_[index], "1"};
  command.insert(command.end(), arguments.begin(), arguments.end());
  ReplyPtr reply = replica_wait_.Exchange(connection, command, waits, acknowledged);
  if (reply == nullptr || ErrorCode(*reply) != "NOSCRIPT") return reply;
  // The server restarted or flushed its script cache; nothing ran, so running again is safe.
  ReplyPtr loaded = connection.Call({"SCRIPT", "LOAD", kScriptSources[index]});
  if (loaded == nullptr || loaded->type == REDIS_REPLY_ERROR) return loaded;
  return replica_wait_.Exchange(connection, command, waits, acknowledged);
}

Result<VersionedValue> RedisBackend::Impl::Get(std::string_view key, Timestamp now) {
  // A read is idempotent, so it skips the pool's liveness poll (Get is the hot path: every
  // admin-key check) and, if that connection turns out closed, reads once more on a new one.
  const std::string redis_key = RedisKey(key);
  if (tracked_ != nullptr && tracked_->Cacheable(key)) return CachedGet(redis_key, now);
  ReplyPtr reply;
  for (const auto pick : {ConnectionPool::Pick::kUnchecked, ConnectionPool::Pick::kFresh}) {
    Result<ConnectionPool::Lease> acquired = AcquireServing(pool_, pick);
    if (!acquired.ok()) return acquired.status();
    ConnectionPool::Lease lease = std::move(acquired).value();
    reply = lease->Call({"HMGET", redis_key, "v", "ver", "exp"});
    if (reply != nullptr) break;
    // A closed connection is retried; a timeout is not (it would only wait as long again).
    if (pick == ConnectionPool::Pick::kFresh || lease->timed_out()) {
      return Status::Unavailable("redis: get: " + lease->failure());
    }
  }
  if (reply->type == REDIS_REPLY_ERROR) return FromErrorReply("get", *reply);
  Result<std::optional<VersionedValue>> record = DecodeRecord(*reply, now);
  if (!record.ok()) return record.status();
  if (!record->has_value()) return Status::NotFound("no record");
  return std::move(**record);
}

namespace {

// What Get answers at `now` from a record read without regard to time (the near-cache keeps
// records as stored, so each call applies its own `now`).
Result<VersionedValue> VisibleAt(const std::optional<VersionedValue>& record, Timestamp now) {
  if (!record || (record->expires_at && *record->expires_at <= now)) {
    return Status::NotFound("no record");
  }
  return *record;
}

}  // namespace

void RedisBackend::Impl::StartCache(const Endpoint& endpoint) {
  if (!options_.cache) return;
  redis_internal::TrackedReads::Settings settings;
  settings.key_prefixes = options_.cache_key_prefixes;
  settings.limits.max_entries = options_.cache_size;
  settings.limits.max_bytes = options_.cache_bytes;
  settings.limits.max_age = options_.cache_max_age;
  settings.before_fill = options_.cache_before_fill;
  tracked_ = std::make_unique<redis_internal::TrackedReads>(endpoint, std::move(settings));
}

Result<VersionedValue> RedisBackend::Impl::CachedGet(const std::string& redis_key, Timestamp now) {
  // While the canary is lost nothing is answered from the cache: it may hold absences read from
  // the emptied server before the loss was noticed. The read below re-checks the canary.
  if (canary_.Verdict().ok()) {
    if (const redis_internal::NearCache::EntryPtr hit = *tracked_->Lookup(redis_key, true)) {
      return VisibleAt(hit->record, now);
    }
  }
  std::vector<Command> commands;
  std::vector<ReplyPtr> replies;
  for (const auto pick : {ConnectionPool::Pick::kUnchecked, ConnectionPool::Pick::kFresh}) {
    Result<ConnectionPool::Lease> acquired = AcquireServing(pool_, pick);
    if (!acquired.ok()) return acquired.status();
    ConnectionPool::Lease lease = std::move(acquired).value();
    redis_internal::TrackedReads::Read read;
    commands.clear();
    tracked_->Begin(*lease, redis_key, read, commands);
    commands.push_back(Command{"HMGET", redis_key, "v", "ver", "exp"});
    if (lease->Exchange(commands, replies)) {
      const redisReply& reply = *replies.back();
      if (reply.type == REDIS_REPLY_ERROR) {
        tracked_->Finish(*lease, redis_key, read, replies, nullptr);
        return FromErrorReply("get", reply);
      }
      // Decoded as stored, expired or not: the entry outlives this call's `now`.
      Result<std::optional<VersionedValue>> record =
          DecodeRecord(reply, Timestamp(std::chrono::milliseconds::min()));
      tracked_->Finish(*lease, redis_key, read, replies, record.ok() ? &*record : nullptr);
      if (!record.ok()) return record.status();
      return VisibleAt(*record, now);
    }
    tracked_->Finish(*lease, redis_key, read, replies, nullptr);
    if (pick == ConnectionPool::Pick::kFresh || lease->timed_out()) {
      return Status::Unavailable("redis: get: " + lease->failure());
    }
  }
  return Status::Unavailable("redis: get: no connection");
}

std::optional<Result<VersionedValue>> RedisBackend::Impl::TryGet(std::string_view key,
                                                                 Timestamp now) {
  if (tracked_ == nullptr || !tracked_->Cacheable(key)) return std::nullopt;
  // A lost canary: the blocking read answers (and re-checks), never the cache (see CachedGet).
  if (!canary_.Verdict().ok()) return std::nullopt;
  const std::optional<redis_internal::NearCache::EntryPtr> hit =
      tracked_->Lookup(RedisKey(key), /*may_block=*/false);
  if (!hit || *hit == nullptr) return std::nullopt;
  return VisibleAt((*hit)->record, now);
}

std::vector<BackendCounter> RedisBackend::Impl::Counters() const {
  if (tracked_ == nullptr) return {};
  const redis_internal::NearCache::Stats stats = tracked_->stats();
  return {
      {"redis_cache_hits_total", "Reads the near-cache answered.", stats.hits},
      {"redis_cache_misses_total", "Cacheable reads the near-cache could not answer.",
       stats.misses},
      {"redis_cache_fills_total", "Records (or absences) put in the near-cache.", stats.fills},
      {"redis_cache_fills_dropped_total",
       "Fills refused because the key changed or the cache flushed while it was read.",
       stats.fills_dropped},
      {"redis_cache_evictions_total", "Entries pushed out of the near-cache by its bounds.",
       stats.evictions},
      {"redis_cache_invalidations_total", "Entries dropped because their key changed.",
       stats.invalidations},
      {"redis_cache_flushes_total",
       "Whole near-cache flushes (a lost invalidation subscriber, FLUSHALL, FLUSHDB).",
       stats.flushes},
      {"redis_cache_subscriber_losses_total",
       "Times the invalidation subscriber was lost (no pong in 300 ms, or a drop).",
       tracked_->subscriber_losses()},
      {"redis_cache_entries", "Entries in the near-cache.", stats.entries},
      {"redis_cache_bytes", "Bytes the near-cache holds, roughly.", stats.bytes},
  };
}

Result<Version> RedisBackend::Impl::Write(Script script, std::string_view key,
                                          std::vector<std::string> arguments,
                                          const std::string& write_id,
                                          const WriteOptions& options) {
  const std::string redis_key = RedisKey(key);
  // Whatever the outcome (applied, refused, unknown), this backend forgets the key once the
  // call returns: it reads its own writes, and a refused write's reason is re-read, not cached.
  struct Forget {
    redis_internal::TrackedReads* tracked;
    const std::string& key;
    ~Forget() {
      if (tracked != nullptr) tracked->Invalidate(key);
    }
  } forget{tracked_.get(), redis_key};
  std::vector<std::string_view> views = {redis_key};
  views.insert(views.end(), arguments.begin(), arguments.end());
  const std::string_view operation = script == Script::kCreate  ? "create"
                                     : script == Script::kErase ? "erase"
                                                                : "cas";

  // A write that waits for replicas takes a connection of the lane, never one reads need.
  const bool waits = replica_wait_.Applies(options);
  Result<ConnectionPool::Lease> acquired =
      AcquireServing(waits ? *wait_pool_ : pool_, ConnectionPool::Pick::kChecked);
  if (!acquired.ok()) return acquired.status();
  std::string failure;
  {
    ConnectionPool::Lease lease = std::move(acquired).value();
    ReplyPtr acknowledged;
    ReplyPtr reply = RunScript(*lease, script, views, waits, acknowledged);
    if (reply != nullptr) {
      if (reply->type == REDIS_REPLY_ERROR) return FromErrorReply(operation, *reply);
      const auto element = [&reply](std::size_t i) {
        return reply->type == REDIS_REPLY_ARRAY && reply->elements > i &&
                       reply->element[i]->type == REDIS_REPLY_STRING
                   ? ReplyText(*reply->element[i])
                   : std::string_view();
      };
      const std::string_view outcome = element(0);
      if (outcome == "conflict") {
        return Status::Conflict(script == Script::kCreate ? "record exists" : "version changed");
      }
      if (outcome == "missing") return Status::NotFound("no record");
      if (outcome != "ok") return Status::Internal("redis: unexpected script reply");
      Version version = 0;
      if (script != Script::kErase && !ParseInteger(element(1), version)) {
        return Status::Internal("redis: bad version");
      }
      if (!waits) return version;
      return replica_wait_.Settle(version, acknowledged.get(), options, operation);
    }
    if (!lease->maybe_sent()) {
      return Status::Unavailable("redis: " + std::string(operation) + ": " + lease->failure());
    }
    failure = lease->failure();
  }  // the broken connection is closed here, before the re-read
  Result<Version> resolved = ResolveLostWrite(script, redis_key, write_id, failure);
  // Landed, but WAIT's answer went with the lost reply: its replication is unknown, so pending.
  if (!resolved.ok() || !waits) return resolved;
  return replica_wait_.Settle(*resolved, nullptr, options, operation);
}

// The write may or may not have run. Only the record itself can tell: if it carries our write id,
// our write is the last one that landed. Anything else — including "not yet" — is kUnavailable.
Result<Version> RedisBackend::Impl::ResolveLostWrite(Script script, const std::string& redis_key,
                                                     const std::string& write_id,
                                                     const std::string& failure) {
  const std::string unknown =
      "redis: the reply to a write was lost (" + failure + ") and its outcome is unknown";
  Result<ConnectionPool::Lease> acquired = pool_.Acquire(ConnectionPool::Pick::kFresh);
  if (!acquired.ok()) return Status::Unavailable(unknown);
  ConnectionPool::Lease lease = std::move(acquired).value();
  ReplyPtr reply = lease->Call({"HMGET", redis_key, "v", "ver", "w"});
  if (reply == nullptr || reply->type != REDIS_REPLY_ARRAY || reply->elements != 3) {
    return Status::Unavailable(unknown);
  }
  const redisReply& value = *reply->element[0];
  const redisReply& version = *reply->element[1];
  const redisReply& last_write = *reply->element[2];
  if (last_write.type != REDIS_REPLY_STRING || ReplyText(last_write) != write_id) {
    return Status::Unavailable(unknown);
  }
  if (script == Script::kErase) {
    if (value.type == REDIS_REPLY_NIL) return Version{0};
    return Status::Unavailable(unknown);
  }
  Version landed = 0;
  if (value.type != REDIS_REPLY_STRING || version.type != REDIS_REPLY_STRING ||
      !ParseInteger(ReplyText(version), landed)) {
    return Status::Unavailable(unknown);
  }
  return landed;
}

// SCAN walks the whole namespace on every page, so a page costs O(records in the namespace): the
// contract's ascending order cannot be had from SCAN's hash order otherwise. Scan serves operator
// listings only. Values are fetched only for keys that could still make the page, which in SCAN's
// effectively random order is about limit * (1 + ln(records / limit)) keys.
Result<ScanPage> RedisBackend::Impl::Scan(std::string_view prefix, std::string_view cursor,
                                          std::size_t limit, Timestamp now) {
  if (limit == 0) return Status::InvalidArgument("scan limit must be at least 1");
  Result<ConnectionPool::Lease> acquired = AcquireServing(pool_, ConnectionPool::Pick::kChecked);
  if (!acquired.ok()) return acquired.status();
  ConnectionPool::Lease lease = std::move(acquired).value();

  const std::string head = options_.key_namespace + ":{";
  const std::string pattern = GlobEscape(head) + GlobEscape(prefix) + "*";
  std::map<std::string, VersionedValue> best;  // at most `limit` smallest live keys so far
  std::string scan_cursor = "0";
  std::vector<Command> fetches;
  std::vector<std::string> keys;
  std::vector<ReplyPtr> replies;
  do {
    ReplyPtr page = lease->Call({"SCAN", scan_cursor, "MATCH", pattern, "COUNT", kScanBatch});
    if (page == nullptr) return Status::Unavailable("redis: scan: " + lease->failure());
    if (page->type == REDIS_REPLY_ERROR) return FromErrorReply("scan", *page);
    if (page->type != REDIS_REPLY_ARRAY || page->elements != 2 ||
        page->element[0]->type != REDIS_REPLY_STRING ||
        page->element[1]->type != REDIS_REPLY_ARRAY) {
      return Status::Internal("redis: unexpected SCAN reply");
    }
    scan_cursor = ReplyText(*page->element[0]);

    keys.clear();
    const redisReply& found = *page->element[1];
    for (std::size_t i = 0; i < found.elements; ++i) {
      const std::string_view redis_key = ReplyText(*found.element[i]);
      if (!StartsWith(redis_key, head) || redis_key.size() < head.size() + 1 ||
          redis_key.back() != '}') {
        continue;
      }
      const std::string_view key =
          redis_key.substr(head.size(), redis_key.size() - head.size() - 1);
      if (!StartsWith(key, prefix) || (!cursor.empty() && key <= cursor)) continue;
      if (best.size() >= limit && key >= best.rbegin()->first) continue;
      keys.emplace_back(redis_key);
    }
    if (keys.empty()) continue;

    fetches.clear();
    for (const std::string& redis_key : keys) {
      fetches.push_back(Command{"HMGET", redis_key, "v", "ver", "exp"});
    }
    if (!lease->Exchange(fetches, replies)) {
      return Status::Unavailable("redis: scan: " + lease->failure());
    }
    for (std::size_t i = 0; i < keys.size(); ++i) {
      if (replies[i]->type == REDIS_REPLY_ERROR) return FromErrorReply("scan", *replies[i]);
      Result<std::optional<VersionedValue>> record = DecodeRecord(*replies[i], now);
      if (!record.ok()) return record.status();
      if (!record->has_value()) continue;
      std::string key = keys[i].substr(head.size(), keys[i].size() - head.size() - 1);
      best.insert_or_assign(std::move(key), std::move(**record));
      if (best.size() > limit) best.erase(std::prev(best.end()));
    }
  } while (scan_cursor != "0");

  ScanPage result;
  result.entries.reserve(best.size());
  for (auto& [key, record] : best) {
    result.entries.push_back(ScanEntry{key, std::move(record)});
  }
  // A full page may have more after it; the next page answers empty if not.
  if (result.entries.size() == limit) result.next_cursor = result.entries.back().key;
  return result;
}

Result<std::string> RedisBackend::Checkpoint(std::string_view name) {
  if (!IsValidCheckpointName(name)) {
    return Status::InvalidArgument("a checkpoint name is 1-64 characters of [A-Za-z0-9._-]");
  }
  return Status::Conflict(
      "backups are RocksDB's; use Redis's own persistence (BGSAVE, or copies of its RDB and AOF "
      "files)");
}

RedisBackend::RedisBackend(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

RedisBackend::~RedisBackend() = default;

const RedisServerDurability& RedisBackend::server_durability() const { return impl_->durability; }

Status RedisBackend::CheckHealth() { return impl_->Health(); }

Status RedisBackend::CheckWrites() { return impl_->Health(); }

Result<std::shared_ptr<RedisBackend>> RedisBackend::Open(const RedisOptions& options) {
  if (options.unix_socket.empty()) {
    if (options.host.empty()) return Status::InvalidArgument("redis: no host and no unix socket");
    if (options.port < 1 || options.port > 65535) {
      return Status::InvalidArgument("redis: port must be in 1..65535");
    }
  } else if (options.unix_socket.size() >= sizeof(sockaddr_un{}.sun_path)) {
    return Status::InvalidArgument("redis: unix socket path is too long");
  }
  if (!options.username.empty() && options.password.empty()) {
    return Status::InvalidArgument("redis: a username needs a password");
  }
  if (options.db < 0) return Status::InvalidArgument("redis: db must not be negative");
  if (options.pool_size < 1) return Status::InvalidArgument("redis: pool_size must be >= 1");
  if (options.connect_timeout <= std::chrono::milliseconds(0) ||
      options.command_timeout <= std::chrono::milliseconds(0)) {
    return Status::InvalidArgument("redis: timeouts must be positive");
  }
  if (options.gc_margin < std::chrono::seconds(1) || options.gc_margin > kLongestNativeTtl) {
    return Status::InvalidArgument("redis: gc_margin must be between 1 s and 10 years");
  }
  if (options.policy_check_interval < std::chrono::milliseconds(0)) {
    return Status::InvalidArgument("redis: policy_check_interval must not be negative");
  }
  if (options.cache) {
    if (options.cache_size < 1) return Status::InvalidArgument("redis: cache_size must be >= 1");
    if (options.cache_bytes < 1024) {
      return Status::InvalidArgument("redis: cache_bytes must be >= 1024");
    }
    if (options.cache_max_age < std::chrono::milliseconds(1) ||
        options.cache_max_age > std::chrono::milliseconds(60'000)) {
      return Status::InvalidArgument("redis: cache_max_age must be between 1 ms and 60 s");
    }
  }
  if (Status wait = redis_internal::ValidateReplicaWait(options); !wait.ok()) return wait;
  if (options.canary_check_interval < std::chrono::milliseconds(0)) {
    return Status::InvalidArgument("redis: canary_check_interval must not be negative");
  }
  if (!ValidNamespace(options.key_namespace)) {
    return Status::InvalidArgument(
        "redis: key_namespace must be non-empty printable ASCII without spaces, braces or glob "
        "characters");
  }

  Endpoint endpoint;
  endpoint.unix_socket = options.unix_socket;
  endpoint.host = options.host;
  endpoint.port = options.port;
  endpoint.username = options.username;
  endpoint.password = options.password;
  endpoint.db = options.db;
  endpoint.connect_timeout = options.connect_timeout;
  endpoint.command_timeout = options.command_timeout;

  auto impl = std::make_unique<Impl>(options, endpoint);
  const Status loaded = impl->Load();
  if (!loaded.ok()) return loaded;
  impl->StartWatch();
  impl->StartCache(endpoint);
  return std::shared_ptr<RedisBackend>(new RedisBackend(std::move(impl)));
}

Result<VersionedValue> RedisBackend::Get(std::string_view key, Timestamp now) {
  return impl_->Get(key, now);
}

std::optional<Result<VersionedValue>> RedisBackend::TryGet(std::string_view key, Timestamp now) {
  return impl_->TryGet(key, now);
}

std::vector<BackendCounter> RedisBackend::Counters() const { return impl_->Counters(); }

Result<Version> RedisBackend::Create(std::string_view key, std::string_view value,
                                     const WriteOptions& options, Timestamp now) {
  std::string write_id = impl_->NewWriteId();
  std::vector<std::string> arguments = {
      ToDecimal(Millis(now)), std::string(value),
      options.expires_at ? ToDecimal(Millis(*options.expires_at)) : std::string(),
      impl_->NativeTtl(options.expires_at, now), write_id};
  return impl_->Write(Script::kCreate, key, std::move(arguments), write_id, options);
}

Result<Version> RedisBackend::CompareAndSwap(std::string_view key, Version expected,
                                             std::string_view value, const WriteOptions& options,
                                             Timestamp now) {
  std::string write_id = impl_->NewWriteId();
  std::vector<std::string> arguments = {
      ToDecimal(Millis(now)),
      std::to_string(expected),
      std::string(value),
      options.expires_at ? ToDecimal(Millis(*options.expires_at)) : std::string(),
      impl_->NativeTtl(options.expires_at, now),
      write_id};
  return impl_->Write(Script::kCompareAndSwap, key, std::move(arguments), write_id, options);
}

Status RedisBackend::Erase(std::string_view key, Version expected, Timestamp now) {
  std::string write_id = impl_->NewWriteId();
  std::vector<std::string> arguments = {ToDecimal(Millis(now)), std::to_string(expected),
                                        impl_->TombstoneTtl(), write_id};
  // Erasing is durable and replicated (storage_backend.h): it waits like a default write.
  Result<Version> erased =
      impl_->Write(Script::kErase, key, std::move(arguments), write_id, WriteOptions{});
  return erased.ok() ? Status::Ok() : erased.status();
}

Result<ScanPage> RedisBackend::Scan(std::string_view prefix, std::string_view cursor,
                                    std::size_t limit, Timestamp now) {
  return impl_->Scan(prefix, cursor, limit, now);
}

}  // namespace credstore
