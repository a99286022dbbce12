#include <sys/un.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <charconv>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <functional>
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

#include "cache_refresher.h"
#include "canary.h"
#include "cluster_topology.h"
#include "connection.h"
#include "credstore/backends/redis.h"
#include "near_cache.h"
#include "node.h"
#include "replica_wait.h"
#include "slot_map.h"
#include "topology.h"
#include "tracked_reads.h"

namespace credstore {

using redis_internal::CacheRefresher;
using redis_internal::CanaryGeneration;
using redis_internal::Command;
using redis_internal::Connection;
using redis_internal::ConnectionPool;
using redis_internal::Endpoint;
using redis_internal::ErrorCode;
using redis_internal::FromErrorReply;
using redis_internal::Lane;
using redis_internal::NearCache;
using redis_internal::Node;
using redis_internal::ParseInteger;
using redis_internal::ReplicaWait;
using redis_internal::ReplyPtr;
using redis_internal::ReplyText;
using redis_internal::Script;
using redis_internal::Topology;
using redis_internal::TrackedReads;

namespace {

// Records whose expiry is further away than this get no native TTL at all.
constexpr std::chrono::milliseconds kLongestNativeTtl = std::chrono::hours(24 * 365 * 10);
// Bounds of Route's retries on a cluster: redirections followed, and the wait before retrying
// TRYAGAIN or CLUSTERDOWN, doubled each time (all within one command timeout).
constexpr int kMaxHops = 16;
constexpr std::chrono::milliseconds kFirstBackoff{5};
constexpr std::chrono::milliseconds kLongestBackoff{100};
// Keys asked for per SCAN round trip.
constexpr std::string_view kScanBatch = "512";

std::string ToDecimal(std::int64_t number) { return std::to_string(number); }

std::int64_t Millis(Timestamp t) { return t.time_since_epoch().count(); }

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

// A failure while connecting is, once the backend is open, just "the store is unreachable".
Status AsUnavailable(const Status& status) {
  if (status.code() == StatusCode::kUnavailable) return status;
  return Status::Unavailable(status.message());
}

// What Get answers at `now` from a record read without regard to time (the near-cache keeps
// records as stored, so each call applies its own `now`).
bool IsVisibleAt(const std::optional<VersionedValue>& record, Timestamp now) {
  return record && !(record->expires_at && *record->expires_at <= now);
}
Result<VersionedValue> VisibleAt(const std::optional<VersionedValue>& record, Timestamp now) {
  if (!IsVisibleAt(record, now)) return Status::NotFound("no record");
  return *record;
}
Result<VersionedValue> VisibleAt(std::optional<VersionedValue>&& record, Timestamp now) {
  if (!IsVisibleAt(record, now)) return Status::NotFound("no record");
  return std::move(*record);
}

// Decodes a record as stored, expired or not: a cached entry outlives the `now` of the read
// that filled it.
constexpr Timestamp kBeforeEverything{std::chrono::milliseconds::min()};
// Near-cache keys waiting to be read again before their maximum age (cache_refresher.h); a hit
// that finds the queue full leaves its entry to expire.
constexpr std::size_t kRefreshQueue = 4096;

}  // namespace

class RedisBackend::Impl {
 public:
  // `cache` (null without the near-cache) is the one every node of `topology` fills.
  // `canaries` is the generation every node's canary expects (set by Load).
  Impl(const RedisOptions& options, std::shared_ptr<CanaryGeneration> canaries,
       std::unique_ptr<NearCache> cache, std::unique_ptr<Topology> topology)
      : options_(options),
        replica_wait_(options),
        canaries_(std::move(canaries)),
        cache_(std::move(cache)),
        topology_(std::move(topology)) {
    std::random_device entropy;
    write_id_base_ = (std::uint64_t{entropy()} << 32) ^ entropy();
    if (cache_ != nullptr) {
      // The refresh is the read a miss would make, one key at a time, off the request's thread.
      refresher_ = std::make_unique<CacheRefresher>(
          kRefreshQueue,
          [this](const std::string& redis_key) { (void)CachedRead(redis_key, kBeforeEverything); });
    }
  }

  // Stops the policy watch before the nodes it uses go.
  ~Impl();

  // The server checks and SCRIPT LOADs of Open, on every node; then the canaries (canary.h).
  Status Load();

  // The watch of the policy and the canaries (redis.h): started by Open once Load passed,
  // stopped by ~Impl.
  void StartWatch();
  // With the near-cache: subscribes on every master now, so that the first reads can already be
  // tracked (a node found later subscribes on its first cacheable read; replicas never do).
  void StartSubscribers() {
    if (cache_ == nullptr) return;
    for (const std::shared_ptr<Node>& node : topology_->Masters()) (void)node->tracked();
  }
  Status Health() const;

  Result<VersionedValue> Get(std::string_view key, Timestamp now);
  std::optional<Result<VersionedValue>> TryGet(std::string_view key, Timestamp now);
  Status Inspect(std::string_view key, Timestamp now, const Inspector& inspect);
  std::optional<Status> TryInspect(std::string_view key, Timestamp now, const Inspector& inspect);
  std::vector<BackendCounter> Counters() const;
  Result<Version> Write(Script script, std::string_view key, std::vector<std::string> arguments,
                        const std::string& write_id, const WriteOptions& options);
  Result<ScanPage> Scan(std::string_view prefix, std::string_view cursor, std::size_t limit,
                        Timestamp now);
  Status Export(std::string_view prefix, Timestamp now, const ExportVisitor& visit);

  std::string RedisKey(std::string_view key) const {
    std::string redis_key;
    AppendRedisKey(redis_key, key);
    return redis_key;
  }
  void AppendRedisKey(std::string& out, std::string_view key) const {
    out.reserve(out.size() + options_.key_namespace.size() + key.size() + 3);
    out.append(options_.key_namespace).append(":{").append(key).push_back('}');
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
  // What became of one command sent to the owner of a key.
  struct Outcome {
    Status status;        // not OK: no connection could be had (nothing was sent)
    ReplyPtr reply;       // the reply; nullptr on a transport failure (or when !status.ok())
    std::string failure;  // after a transport failure: what happened, safe to log
    bool maybe_sent = false;
    bool timed_out = false;
  };
  // Sends a one-key command to the node that owns `redis_key`, on a connection picked as
  // `pick` says: `send(node, connection, asking)` sends it, preceded by ASKING when `asking`.
  // `lane` picks the node's pool (node.h).
  template <typename Send>
  Outcome Route(std::string_view redis_key, ConnectionPool::Pick pick, const Send& send,
                Lane lane = Lane::kMain);
  // A read of `redis_key` sent with `send` (as Route): on an unchecked pooled connection first
  // (a read is idempotent, so it skips the pool's liveness poll: Get is the hot path) and, if
  // that connection turns out closed, once more on a new one; a timeout is not retried (it
  // would only wait as long again). The reply, error replies included; kUnavailable otherwise.
  template <typename Send>
  Result<ReplyPtr> RouteRead(std::string_view redis_key, const Send& send);
  // Route of a plain command (no script).
  Outcome RouteCall(std::string_view redis_key, const Command& command, ConnectionPool::Pick pick) {
    return Route(redis_key, pick, [&command](Node&, Connection& connection, bool asking) {
      return Node::Call(connection, command, asking);
    });
  }

  // A connection of `node`'s `lane` to serve one call, refused (kUnavailable) while the node's
  // canary is lost (canary.h); otherwise as ConnectionPool::Acquire.
  static Result<ConnectionPool::Lease> AcquireServing(Node& node, Lane lane,
                                                      ConnectionPool::Pick pick);
  // A cacheable Get: the near-cache, else a read (tracked where it can be) that fills it.
  // The near-cache's lookup of `key` (a Cacheable one), with NearCache::Lookup's answers; every
  // lookup misses while a canary is lost (the blocking read answers then, and checks again).
  // The key is spelled in a buffer of the calling thread's own: a hit allocates only the copy
  // it returns.
  NearCache::Found CacheLookup(std::string_view key, bool may_block,
                               FunctionRef<void(const NearCache::Record& record)> on_hit) const {
    // While a canary is lost nothing is answered from the cache: it may hold absences read from
    // an emptied server before the loss was noticed.
    if (canaries_->any_lost()) return NearCache::Found::kMiss;
    thread_local std::string redis_key;
    redis_key.clear();
    AppendRedisKey(redis_key, key);
    bool refresh_due = false;
    const NearCache::Found found = cache_->Lookup(redis_key, may_block, on_hit, &refresh_due);
    if (refresh_due) (void)refresher_->TryQueue(redis_key);
    return found;
  }
  // The near-cache's answer to Get (a copy of the record) and to Inspect (the record in place):
  // on kHit `answer` is set; otherwise the lookup's answer, `answer` untouched.
  NearCache::Found CachedGet(std::string_view key, bool may_block, Timestamp now,
                             Result<VersionedValue>& answer) const {
    return CacheLookup(key, may_block,
                       [&](const NearCache::Record& record) { answer = VisibleAt(record, now); });
  }
  NearCache::Found CachedInspect(std::string_view key, bool may_block, Timestamp now,
                                 const Inspector& inspect, Status& answer) const {
    return CacheLookup(key, may_block, [&](const NearCache::Record& record) {
      if (!IsVisibleAt(record, now)) {
        answer = Status::NotFound("no record");
        return;
      }
      inspect(RecordView{record->value, record->version, record->expires_at});
      answer = Status::Ok();
    });
  }
  // A cacheable Get the near-cache could not answer: a read (tracked where it can be) that
  // fills it.
  Result<VersionedValue> CachedRead(const std::string& redis_key, Timestamp now);
  bool Cacheable(std::string_view key) const {
    return cache_ != nullptr && redis_internal::CacheableKey(options_.cache_key_prefixes, key);
  }

  Result<Version> ResolveLostWrite(Script script, const std::string& redis_key,
                                   const std::string& write_id, const std::string& failure);
  // Walks `node`'s keys under `prefix` with SCAN; fetches the records of the keys `wanted`
  // accepts (pipelined, a batch per SCAN reply) and hands each live one to `take`, with no
  // connection held. Scan and Export, one node at a time.
  Status WalkNode(Node& node, std::string_view prefix, Timestamp now,
                  const std::function<bool(std::string_view key)>& wanted,
                  const std::function<Status(ScanEntry entry)>& take);
  void Watch();
  // The periodic canary check of every master.
  void CheckCanaries();
  // What one read of maxmemory-policy on every node says; nullopt when no verdict could be had.
  std::optional<Status> ReadPolicyVerdict();
  // Reports Health() when it differs from what was reported last (on the watch thread only).
  void ReportHealthChange();

  const RedisOptions options_;
  const ReplicaWait replica_wait_;
  const std::shared_ptr<CanaryGeneration> canaries_;
  // Before topology_: the nodes' subscribers feed the cache, so it must outlive them.
  const std::unique_ptr<NearCache> cache_;
  const std::unique_ptr<Topology> topology_;
  std::uint64_t write_id_base_ = 0;
  std::atomic<std::uint64_t> write_counter_{0};

  std::mutex watch_mutex_;
  std::condition_variable watch_wake_;
  bool watch_stop_ = false;  // guarded by watch_mutex_
  mutable std::mutex verdict_mutex_;
  Status policy_verdict_;  // guarded by verdict_mutex_; OK at first, since Open checked the policy
  Status reported_;        // the watch thread's own: the verdict it reported last
  std::thread watcher_;
  // With the near-cache. Last, so that it stops (and its read under way ends) before the cache
  // and the nodes it reads through go.
  std::unique_ptr<CacheRefresher> refresher_;
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
  if (canaries_->any_lost()) {
    for (const std::shared_ptr<Node>& node : topology_->Nodes()) {
      if (Status canary = node->canary().Verdict(); !canary.ok()) return canary;
    }
  }
  std::lock_guard lock(verdict_mutex_);
  return policy_verdict_;
}

// Sleeps until the next check is due, so the watch costs one canary read per master and canary
// interval, one CONFIG GET per node and policy interval, and nothing else.
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
      CheckCanaries();
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

void RedisBackend::Impl::CheckCanaries() {
  // A new connection checks the canary in its set-up already; checking again costs one round trip.
  for (const std::shared_ptr<Node>& node : topology_->Masters()) {
    Result<ConnectionPool::Lease> acquired = node->pool().Acquire();
    if (acquired.ok()) node->canary().Check(**acquired);
  }
}

// The first unsafe node decides; a node that cannot be asked keeps the last verdict, unless
// another node gives an unsafe one.
std::optional<Status> RedisBackend::Impl::ReadPolicyVerdict() {
  (void)topology_->Refresh();  // a promoted replica or a new master is checked too
  bool all_answered = true;
  for (const std::shared_ptr<Node>& node : topology_->Nodes()) {
    std::optional<Status> verdict =
        node->ReadPolicyVerdict(options_.allow_unverified_eviction_policy);
    if (!verdict) {
      all_answered = false;
    } else if (!verdict->ok()) {
      return verdict;
    }
  }
  if (!all_answered) return std::nullopt;
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

// Every node must pass; the durability reported is the weakest found (the first node that does
// not fsync every write, else the first node).
Status RedisBackend::Impl::Load() {
  bool first = true;
  for (const std::shared_ptr<Node>& node : topology_->Nodes()) {
    RedisServerDurability found;
    const Status loaded = node->Load(options_, found);
    if (!loaded.ok()) return loaded;
    if (first || (durability.fsync_every_write() && !found.fsync_every_write())) {
      durability = found;
    }
    first = false;
  }
  // Last, once every server passed every check: a server refused above gets no canary. The
  // masters in address order, the same in every opener (EstablishCanaries plants in order).
  std::vector<std::shared_ptr<Node>> masters = topology_->Masters();
  std::sort(masters.begin(), masters.end(),
            [](const std::shared_ptr<Node>& a, const std::shared_ptr<Node>& b) {
              return a->name() < b->name();
            });
  std::vector<ConnectionPool::Lease> leases;
  std::vector<redis_internal::Canary*> canaries;
  std::vector<Connection*> connections;
  for (const std::shared_ptr<Node>& node : masters) {
    Result<ConnectionPool::Lease> acquired = node->pool().Acquire();
    if (!acquired.ok()) return AsUnavailable(acquired.status());
    leases.push_back(std::move(acquired).value());
    canaries.push_back(&node->canary());
    connections.push_back(&*leases.back());
  }
  return redis_internal::EstablishCanaries(canaries, connections, *canaries_);
}

Result<ConnectionPool::Lease> RedisBackend::Impl::AcquireServing(Node& node, Lane lane,
                                                                 ConnectionPool::Pick pick) {
  {
    Result<ConnectionPool::Lease> acquired = node.pool(lane).Acquire(pick);
    if (!acquired.ok()) return acquired;
    const Status gate = node.canary().Gate(**acquired);
    if (gate.ok()) return acquired;
    if (!(*acquired)->broken() || pick == ConnectionPool::Pick::kFresh) return gate;
  }  // an idle connection the server closed (it restarted) cannot tell: a new one reads it
  Result<ConnectionPool::Lease> fresh = node.pool(lane).Acquire(ConnectionPool::Pick::kFresh);
  if (!fresh.ok()) return fresh;
  if (Status gate = node.canary().Gate(**fresh); !gate.ok()) return gate;
  return fresh;
}

// On a single server this is one attempt: its topology takes no redirection and never changes.
// On a cluster it follows MOVED (the map learns the new owner) and ASK (ASKING on the named node,
// the map unchanged), retries TRYAGAIN and CLUSTERDOWN with a short backoff, and after a
// connection failure that sent nothing re-reads the map and tries the new owner, all within one
// `command_timeout` and kMaxHops. A redirection or TRYAGAIN means the command did not run, so
// sending a write again is safe; a failure after which it may have run is returned as it is.
template <typename Send>
RedisBackend::Impl::Outcome RedisBackend::Impl::Route(std::string_view redis_key,
                                                      ConnectionPool::Pick pick, const Send& send,
                                                      Lane lane) {
  const auto deadline = std::chrono::steady_clock::now() + options_.command_timeout;
  const auto time_left = [&deadline](std::chrono::milliseconds wait) {
    return std::chrono::steady_clock::now() + wait < deadline;
  };
  std::shared_ptr<Node> node = topology_->Owner(redis_key);
  bool asking = false;
  std::chrono::milliseconds backoff = kFirstBackoff;
  for (int hop = 1;; ++hop) {
    const bool may_retry = hop < kMaxHops;
    Outcome outcome;
    Result<ConnectionPool::Lease> acquired = AcquireServing(*node, lane, pick);
    if (!acquired.ok()) {
      // A node that cannot be reached may have left the map (a master failed over).
      if (acquired.status().code() == StatusCode::kUnavailable && may_retry &&
          time_left(std::chrono::milliseconds(0)) && topology_->Refresh()) {
        node = topology_->Owner(redis_key);
        asking = false;
        continue;
      }
      outcome.status = acquired.status();
      return outcome;
    }
    std::string error_code;
    {
      ConnectionPool::Lease lease = std::move(acquired).value();
      outcome.reply = send(*node, *lease, asking);
      if (outcome.reply == nullptr) {
        outcome.failure = lease->failure();
        outcome.maybe_sent = lease->maybe_sent();
        outcome.timed_out = lease->timed_out();
      }
    }  // a broken connection is closed here, with the lease
    if (outcome.reply == nullptr) {
      if (!outcome.maybe_sent && may_retry && time_left(std::chrono::milliseconds(0)) &&
          topology_->Refresh()) {
        node = topology_->Owner(redis_key);
        asking = false;
        continue;
      }
      return outcome;
    }
    if (outcome.reply->type != REDIS_REPLY_ERROR || !may_retry) return outcome;

    const redis_internal::Redirect redirect = redis_internal::ParseRedirect(*outcome.reply);
    if (redirect.kind != redis_internal::Redirect::Kind::kNone) {
      // "MOVED 3999 :6381": a node that does not know its address is on the host we asked.
      const std::string address = redirect.address.front() == ':'
                                      ? node->endpoint().host + redirect.address
                                      : redirect.address;
      std::shared_ptr<Node> next = redirect.kind == redis_internal::Redirect::Kind::kMoved
                                       ? topology_->Moved(redirect.slot, address)
                                       : topology_->NodeAt(address);
      if (next == nullptr) return outcome;
      node = std::move(next);
      asking = redirect.kind == redis_internal::Redirect::Kind::kAsk;
      continue;
    }
    error_code = ErrorCode(*outcome.reply);
    if (error_code != "TRYAGAIN" && error_code != "CLUSTERDOWN") return outcome;
    if (!time_left(backoff)) return outcome;
    std::this_thread::sleep_for(backoff);
    backoff = std::min(backoff * 2, kLongestBackoff);
    if (error_code == "CLUSTERDOWN") (void)topology_->Refresh();
    node = topology_->Owner(redis_key);
    asking = false;
  }
}

template <typename Send>
Result<ReplyPtr> RedisBackend::Impl::RouteRead(std::string_view redis_key, const Send& send) {
  for (const auto pick : {ConnectionPool::Pick::kUnchecked, ConnectionPool::Pick::kFresh}) {
    Outcome outcome = Route(redis_key, pick, send);
    if (!outcome.status.ok()) return AsUnavailable(outcome.status);
    if (outcome.reply != nullptr) return std::move(outcome.reply);
    if (pick == ConnectionPool::Pick::kFresh || outcome.timed_out) {
      return Status::Unavailable("redis: get: " + outcome.failure);
    }
  }
  return Status::Unavailable("redis: get: no connection");
}

Result<VersionedValue> RedisBackend::Impl::Get(std::string_view key, Timestamp now) {
  if (Cacheable(key)) {
    Result<VersionedValue> answer = Status::NotFound("no record");
    if (CachedGet(key, /*may_block=*/true, now, answer) == NearCache::Found::kHit) return answer;
    return CachedRead(RedisKey(key), now);
  }
  const std::string redis_key = RedisKey(key);
  const Command read = {"HMGET", redis_key, "v", "ver", "exp"};
  Result<ReplyPtr> reply =
      RouteRead(redis_key, [&read](Node&, Connection& connection, bool asking) {
        return Node::Call(connection, read, asking);
      });
  if (!reply.ok()) return reply.status();
  if ((*reply)->type == REDIS_REPLY_ERROR) return FromErrorReply("get", **reply);
  Result<std::optional<VersionedValue>> record = DecodeRecord(**reply, now);
  if (!record.ok()) return record.status();
  if (!record->has_value()) return Status::NotFound("no record");
  return std::move(**record);
}

Result<VersionedValue> RedisBackend::Impl::CachedRead(const std::string& redis_key, Timestamp now) {
  const Command read = {"HMGET", redis_key, "v", "ver", "exp"};
  // Sends the read on the owner, tracked when that node's subscriber is live, and fills the
  // cache from the reply. ASKING and CLIENT CACHING each cover only the next command, so a read
  // sent with ASKING (a slot half-way through a migration) goes untracked and fills nothing.
  const auto send = [&redis_key, &read](Node& node, Connection& connection,
                                        bool asking) -> ReplyPtr {
    TrackedReads* tracked = node.tracked();
    if (asking || tracked == nullptr) return Node::Call(connection, read, asking);
    TrackedReads::Read tracking;
    std::vector<Command> commands;
    tracked->Begin(connection, redis_key, tracking, commands);
    commands.push_back(read);
    std::vector<ReplyPtr> replies;
    if (!connection.Exchange(commands, replies)) {
      tracked->Finish(connection, redis_key, tracking, replies, nullptr);
      return nullptr;
    }
    const redisReply& reply = *replies.back();
    if (reply.type == REDIS_REPLY_ERROR) {
      // A redirection, or a refusal: nothing to fill.
      tracked->Finish(connection, redis_key, tracking, replies, nullptr);
    } else {
      Result<std::optional<VersionedValue>> record = DecodeRecord(reply, kBeforeEverything);
      tracked->Finish(connection, redis_key, tracking, replies, record.ok() ? &*record : nullptr);
    }
    return std::move(replies.back());
  };
  Result<ReplyPtr> reply = RouteRead(redis_key, send);
  if (!reply.ok()) return reply.status();
  if ((*reply)->type == REDIS_REPLY_ERROR) return FromErrorReply("get", **reply);
  Result<std::optional<VersionedValue>> record = DecodeRecord(**reply, kBeforeEverything);
  if (!record.ok()) return record.status();
  return VisibleAt(std::move(*record), now);
}

std::optional<Result<VersionedValue>> RedisBackend::Impl::TryGet(std::string_view key,
                                                                 Timestamp now) {
  if (!Cacheable(key)) return std::nullopt;
  Result<VersionedValue> answer = Status::NotFound("no record");
  if (CachedGet(key, /*may_block=*/false, now, answer) != NearCache::Found::kHit) {
    return std::nullopt;
  }
  return answer;
}

Status RedisBackend::Impl::Inspect(std::string_view key, Timestamp now, const Inspector& inspect) {
  if (Cacheable(key)) {
    Status answer;
    if (CachedInspect(key, /*may_block=*/true, now, inspect, answer) == NearCache::Found::kHit) {
      return answer;
    }
    return StorageBackend::InspectCopy(CachedRead(RedisKey(key), now), inspect);  // as Get
  }
  return StorageBackend::InspectCopy(Get(key, now), inspect);
}

std::optional<Status> RedisBackend::Impl::TryInspect(std::string_view key, Timestamp now,
                                                     const Inspector& inspect) {
  if (!Cacheable(key)) return std::nullopt;
  Status answer;
  if (CachedInspect(key, /*may_block=*/false, now, inspect, answer) != NearCache::Found::kHit) {
    return std::nullopt;
  }
  return answer;
}

std::vector<BackendCounter> RedisBackend::Impl::Counters() const {
  if (cache_ == nullptr) return {};
  const NearCache::Stats stats = cache_->stats();
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
      {"redis_cache_refreshes_total",
       "Hits late in an entry's maximum age that queued its key to be read again.",
       stats.refreshes},
      {"redis_cache_flushes_total",
       "Whole near-cache flushes (a lost invalidation subscriber, FLUSHALL, FLUSHDB).",
       stats.flushes},
      {"redis_cache_subscriber_losses_total",
       "Times an invalidation subscriber was lost (no pong in 300 ms, or a drop).",
       stats.subscriber_losses},
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
    NearCache* cache;
    const std::string& key;
    ~Forget() {
      if (cache != nullptr) cache->Invalidate(key);
    }
  } forget{cache_.get(), redis_key};
  std::vector<std::string_view> views = {redis_key};
  views.insert(views.end(), arguments.begin(), arguments.end());
  const std::string_view operation = script == Script::kCreate  ? "create"
                                     : script == Script::kErase ? "erase"
                                                                : "cas";

  // A write that waits for replicas takes a connection of the node's lane, never one reads need.
  const bool waits = replica_wait_.Applies(options);
  const ReplicaWait* wait = waits ? &replica_wait_ : nullptr;
  ReplyPtr acknowledged;
  Outcome outcome = Route(
      redis_key, ConnectionPool::Pick::kChecked,
      [script, &views, wait, &acknowledged](Node& node, Connection& connection, bool asking) {
        return node.RunScript(connection, script, views, asking, wait, &acknowledged);
      },
      waits ? Lane::kWait : Lane::kMain);
  if (!outcome.status.ok()) return AsUnavailable(outcome.status);
  if (outcome.reply != nullptr) {
    const ReplyPtr& reply = outcome.reply;
    if (reply->type == REDIS_REPLY_ERROR) return FromErrorReply(operation, *reply);
    const auto element = [&reply](std::size_t i) {
      return reply->type == REDIS_REPLY_ARRAY && reply->elements > i &&
                     reply->element[i]->type == REDIS_REPLY_STRING
                 ? ReplyText(*reply->element[i])
                 : std::string_view();
    };
    const std::string_view outcome_word = element(0);
    if (outcome_word == "conflict") {
      return Status::Conflict(script == Script::kCreate ? "record exists" : "version changed");
    }
    if (outcome_word == "missing") return Status::NotFound("no record");
    if (outcome_word != "ok") return Status::Internal("redis: unexpected script reply");
    Version version = 0;
    if (script != Script::kErase && !ParseInteger(element(1), version)) {
      return Status::Internal("redis: bad version");
    }
    if (!waits) return version;
    return replica_wait_.Settle(version, acknowledged.get(), options, operation);
  }
  if (!outcome.maybe_sent) {
    return Status::Unavailable("redis: " + std::string(operation) + ": " + outcome.failure);
  }
  // The broken connection was closed by Route, before the re-read.
  Result<Version> resolved = ResolveLostWrite(script, redis_key, write_id, outcome.failure);
  // Landed, but WAIT's answer went with the lost reply: its replication is unknown, so pending.
  if (!resolved.ok() || !waits) return resolved;
  return replica_wait_.Settle(*resolved, nullptr, options, operation);
}

// The write may or may not have run. Only the record itself can tell: if it carries our write id,
// our write is the last one that landed. Anything else — including "not yet" — is kUnavailable.
// The record is read from its owner, as the map says now, on a fresh connection.
Result<Version> RedisBackend::Impl::ResolveLostWrite(Script script, const std::string& redis_key,
                                                     const std::string& write_id,
                                                     const std::string& failure) {
  const std::string unknown =
      "redis: the reply to a write was lost (" + failure + ") and its outcome is unknown";
  const Command read = {"HMGET", redis_key, "v", "ver", "w"};
  Outcome outcome = RouteCall(redis_key, read, ConnectionPool::Pick::kFresh);
  const ReplyPtr& reply = outcome.reply;
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
// effectively random order is about limit * (1 + ln(records / limit)) keys. On a cluster every
// master is walked in turn and the pages merge in `best`.
Result<ScanPage> RedisBackend::Impl::Scan(std::string_view prefix, std::string_view cursor,
                                          std::size_t limit, Timestamp now) {
  if (limit == 0) return Status::InvalidArgument("scan limit must be at least 1");
  std::map<std::string, VersionedValue> best;  // at most `limit` smallest live keys so far
  for (const std::shared_ptr<Node>& node : topology_->Masters()) {
    const Status scanned = WalkNode(
        *node, prefix, now,
        [&](std::string_view key) {
          return (cursor.empty() || key > cursor) &&
                 (best.size() < limit || key < best.rbegin()->first);
        },
        [&](ScanEntry entry) {
          best.insert_or_assign(std::move(entry.key), std::move(entry.record));
          if (best.size() > limit) best.erase(std::prev(best.end()));
          return Status::Ok();
        });
    if (!scanned.ok()) return scanned;
  }
  ScanPage result;
  result.entries.reserve(best.size());
  for (auto& [key, record] : best) {
    result.entries.push_back(ScanEntry{key, std::move(record)});
  }
  // A full page may have more after it; the next page answers empty if not.
  if (result.entries.size() == limit) result.next_cursor = result.entries.back().key;
  return result;
}

Status RedisBackend::Impl::WalkNode(Node& node, std::string_view prefix, Timestamp now,
                                    const std::function<bool(std::string_view key)>& wanted,
                                    const std::function<Status(ScanEntry entry)>& take) {
  const std::string head = options_.key_namespace + ":{";
  const std::string pattern = GlobEscape(head) + GlobEscape(prefix) + "*";
  std::string scan_cursor = "0";
  std::vector<Command> fetches;
  std::vector<std::string> keys;
  std::vector<ReplyPtr> replies;
  const auto key_of = [&head](std::string_view redis_key) {
    return redis_key.substr(head.size(), redis_key.size() - head.size() - 1);
  };
  do {
    keys.clear();
    replies.clear();
    {
      // One connection per round trip, returned before `take` runs: it may call this backend.
      Result<ConnectionPool::Lease> acquired =
          AcquireServing(node, Lane::kMain, ConnectionPool::Pick::kChecked);
      if (!acquired.ok()) return AsUnavailable(acquired.status());
      ConnectionPool::Lease lease = std::move(acquired).value();
      ReplyPtr page = lease->Call({"SCAN", scan_cursor, "MATCH", pattern, "COUNT", kScanBatch});
      if (page == nullptr) return Status::Unavailable("redis: scan: " + lease->failure());
      if (page->type == REDIS_REPLY_ERROR) return FromErrorReply("scan", *page);
      if (page->type != REDIS_REPLY_ARRAY || page->elements != 2 ||
          page->element[0]->type != REDIS_REPLY_STRING ||
          page->element[1]->type != REDIS_REPLY_ARRAY) {
        return Status::Internal("redis: unexpected SCAN reply");
      }
      scan_cursor = ReplyText(*page->element[0]);

      const redisReply& found = *page->element[1];
      for (std::size_t i = 0; i < found.elements; ++i) {
        const std::string_view redis_key = ReplyText(*found.element[i]);
        if (!StartsWith(redis_key, head) || redis_key.size() < head.size() + 1 ||
            redis_key.back() != '}') {
          continue;
        }
        const std::string_view key = key_of(redis_key);
        if (!StartsWith(key, prefix) || !wanted(key)) continue;
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
    }
    for (std::size_t i = 0; i < keys.size(); ++i) {
      if (replies[i]->type == REDIS_REPLY_ERROR &&
          redis_internal::ParseRedirect(*replies[i]).kind !=
              redis_internal::Redirect::Kind::kNone) {
        // The key's slot moved away (or is moving) since SCAN saw it: read it from its owner.
        const Command read = {"HMGET", keys[i], "v", "ver", "exp"};
        Outcome routed = RouteCall(keys[i], read, ConnectionPool::Pick::kUnchecked);
        if (!routed.status.ok()) return AsUnavailable(routed.status);
        if (routed.reply == nullptr) return Status::Unavailable("redis: scan: " + routed.failure);
        replies[i] = std::move(routed.reply);
      }
      if (replies[i]->type == REDIS_REPLY_ERROR) return FromErrorReply("scan", *replies[i]);
      Result<std::optional<VersionedValue>> record = DecodeRecord(*replies[i], now);
      if (!record.ok()) return record.status();
      if (!record->has_value()) continue;
      Status taken = take(ScanEntry{std::string(key_of(keys[i])), std::move(**record)});
      if (!taken.ok()) return taken;
    }
  } while (scan_cursor != "0");
  return Status::Ok();
}

// Each master's own SCAN order: O(records) for the whole walk, against O(records) per page for
// the ordered Scan.
Status RedisBackend::Impl::Export(std::string_view prefix, Timestamp now,
                                  const ExportVisitor& visit) {
  for (const std::shared_ptr<Node>& node : topology_->Masters()) {
    const Status walked = WalkNode(
        *node, prefix, now, [](std::string_view) { return true; },
        [&visit](ScanEntry entry) { return visit(entry); });
    if (!walked.ok()) return walked;
  }
  return Status::Ok();
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
  const bool cluster = !options.cluster_seeds.empty();
  if (cluster) {
    for (const RedisAddress& seed : options.cluster_seeds) {
      if (seed.host.empty()) return Status::InvalidArgument("redis: a cluster seed has no host");
      if (seed.port < 1 || seed.port > 65535) {
        return Status::InvalidArgument("redis: a cluster seed's port must be in 1..65535");
      }
    }
    if (options.db != 0) {
      return Status::InvalidArgument("redis: a Redis Cluster has only database 0 (db must be 0)");
    }
  } else if (options.unix_socket.empty()) {
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

  std::unique_ptr<NearCache> cache;
  if (options.cache) {
    NearCache::Limits limits;
    limits.max_entries = options.cache_size;
    limits.max_bytes = options.cache_bytes;
    limits.max_age = options.cache_max_age;
    // A quarter of the age is left for the refresh's round trip: at the default 1 s, 250 ms.
    limits.refresh_after = options.cache_max_age * 3 / 4;
    cache = std::make_unique<NearCache>(limits);
  }
  redis_internal::NodeSettings settings;
  settings.pool_size = options.pool_size;
  settings.wait_pool_size = options.wait_replicas > 0 ? options.wait_pool_size : 0;
  settings.cache = cache.get();
  settings.tracking.before_fill = options.cache_before_fill;
  auto canaries = std::make_shared<CanaryGeneration>();
  settings.canary_generation = canaries;
  // Which canary keys a node must hold: one server holds the store's one; a cluster node those
  // of the store's canary keys whose slots it serves in the current map.
  auto topology_of_nodes = std::make_shared<std::atomic<Topology*>>(nullptr);
  if (cluster) {
    settings.canary_keys = [topology_of_nodes, keys = redis_internal::ClusterCanaryKeys(
                                                   options.key_namespace)](const Node& node) {
      std::vector<std::string> held;
      if (Topology* topology = topology_of_nodes->load()) {
        for (const std::string& key : keys) {
          if (topology->Owner(key).get() == &node) held.push_back(key);
        }
      }
      return held;
    };
  } else {
    settings.canary_keys = [key = redis_internal::CanaryKey(options.key_namespace)](const Node&) {
      return std::vector<std::string>{key};
    };
  }

  std::unique_ptr<Topology> topology;
  if (cluster) {
    Result<std::unique_ptr<redis_internal::ClusterTopology>> opened =
        redis_internal::ClusterTopology::Open(options.cluster_seeds, endpoint, settings);
    if (!opened.ok()) return opened.status();
    topology = std::move(opened).value();
  } else {
    topology = std::make_unique<redis_internal::SingleServerTopology>(
        std::make_shared<Node>(std::move(endpoint), settings));
  }
  topology_of_nodes->store(topology.get());
  auto impl =
      std::make_unique<Impl>(options, std::move(canaries), std::move(cache), std::move(topology));
  const Status loaded = impl->Load();
  if (!loaded.ok()) return loaded;
  impl->StartWatch();
  impl->StartSubscribers();
  return std::shared_ptr<RedisBackend>(new RedisBackend(std::move(impl)));
}

Result<VersionedValue> RedisBackend::Get(std::string_view key, Timestamp now) {
  return impl_->Get(key, now);
}

std::optional<Result<VersionedValue>> RedisBackend::TryGet(std::string_view key, Timestamp now) {
  return impl_->TryGet(key, now);
}

Status RedisBackend::Inspect(std::string_view key, Timestamp now, const Inspector& inspect) {
  return impl_->Inspect(key, now, inspect);
}

std::optional<Status> RedisBackend::TryInspect(std::string_view key, Timestamp now,
                                               const Inspector& inspect) {
  return impl_->TryInspect(key, now, inspect);
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

Status RedisBackend::Export(std::string_view prefix, Timestamp now, const ExportVisitor& visit) {
  return impl_->Export(prefix, now, visit);
}

}  // namespace credstore
