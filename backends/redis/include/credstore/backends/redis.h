// credstore/backends/redis.h — a StorageBackend over a Redis server or a Redis Cluster.
//
// Many credstore processes can share one Redis primary, or one Redis Cluster: the backend keeps
// no state of its own besides its connections (on a cluster, the slot map; and, when asked, a
// near-cache that Redis keeps fresh), so any number of `credstored` instances (or embedders) may
// run over the same data at once. Requires Redis 5.0 or later (6.0 for the near-cache).
//
// Layout. Each credstore key K is ONE Redis hash named `<namespace>:{K}` — the braces are a
// cluster hash tag, so every record sits in one hash slot — holding the value (`v`), its
// version (`ver`), its expiry in milliseconds of the caller's clock (`exp`, absent = never) and
// the id of the write that made it (`w`). Create, CompareAndSwap and Erase are Lua scripts that
// each touch exactly that one key (EVALSHA; loaded again after a restart flushed the script
// cache), so every call is atomic and the key space is cluster-ready.
//
// Versions are never reused: a new version is the larger of (stored version + 1) and the Redis
// server's clock in microseconds. Erase keeps a tombstone (the version alone) so an immediate
// re-create continues above it; tombstones and expired records are removed by Redis's own TTL
// `gc_margin` after they stopped being visible, and a key recreated after that starts from the
// server clock, which by then is far above every version the key had (as long as the Redis
// host's clock is not stepped back by more than `gc_margin`).
//
// Time. Visibility is decided only by the `now` the caller passes against the stored `exp`,
// never by Redis's clock. The native TTL is relative (`expires_at - now + gc_margin`), so the
// caller's clock and the Redis host's clock need not agree, only run at the same rate.
//
// Durability. `durable = true` is met by the server's configuration, not per call: with
// `appendonly yes` and `appendfsync always` — the configuration credstore documents and expects
// (docs/operations.md) — Redis fsyncs every write to its AOF before it acknowledges it; with
// `everysec` about the last second of acknowledged writes can be lost in a crash, and with
// `appendonly no` everything since the last snapshot. Such a loss is not detected (see "Lost
// data" below): the server comes back with an older state, and an older state brings back
// credentials revoked since (a regenerated admin key, an integrator secret reset since) — so
// does a Redis restored from an older snapshot. The backend cannot make one
// write more durable than the server's setting, so `WriteOptions::durable` is accepted and does
// not change what is sent.
//
// Replication. Redis replicates asynchronously: by default a write is acknowledged once the
// primary applied it, and a failover to a replica that had not received it loses it. With
// `wait_replicas = N`, every write with `WriteOptions::replicated` (and every Erase) is sent
// with `WAIT N wait_timeout` pipelined after it on the same connection, over a lane of
// `wait_pool_size` connections of its own, and counts as acknowledged only when WAIT reports N
// replicas holding it (then `*WriteOptions::replication` reads kAcknowledged). When WAIT reports
// fewer within `wait_timeout`, or its reply is lost, the write has applied on the primary and
// is at risk: it succeeds with kPending for a caller that set `WriteOptions::replication`, and
// fails with kUnavailable ("applied, ... a failover may lose it") otherwise. This narrows the
// loss window to writes still pending; it is not consensus: WAIT does not make a replica fsync,
// and a failover to a replica that missed a pending write still loses it. Redis's
// `min-replicas-to-write`/`min-replicas-max-lag` is the first line: with it the primary refuses
// a write before applying it (`NOREPLICAS`, which answers kUnavailable, nothing changed) while
// too few replicas are connected and current. `wait_replicas` is checked by Open against nothing
// on the server: a primary without replicas makes every waiting write pending.
// `server_durability()` reports the server's settings as read at Open so a host can log them,
// and `require_fsync_always` makes Open refuse a server that does not fsync every write.
// Open refuses a server whose `maxmemory-policy` may evict keys (anything but `noeviction`):
// an evicted record would silently lose an acknowledged write or bring back a revoked key.
// The policy can be changed while the backend runs (CONFIG SET, a restart with another
// configuration), so a thread of the backend reads it again every `policy_check_interval`;
// from the first read that finds an evicting policy until one finds a safe policy again,
// CheckHealth() answers kUnavailable (so a readiness probe takes the server out of service),
// and each change of that verdict is reported once (`on_health_change`). Writes are not refused
// meanwhile: the policy alone does not say that keys are being evicted, only that they may be.
//
// Lost data. A Redis that lost everything (restarted without its AOF, FLUSHALL/FLUSHDB, another
// database behind the same address) would answer "no record" for every key, and valid
// credentials would read as unknown. So the store holds a canary record (`<namespace>:canary`,
// a random generation id, outside the records' key pattern): Open reads it, and writes a new one
// only when it is absent (a new store, or one written before canaries existed). From then on it
// is read on every new connection (a restart closes them all, so the first call after it
// notices), every `canary_check_interval` (a flush keeps connections open), and before every call
// while it is missing. From the first read that finds it missing or another one, until one finds
// it again: every call answers kUnavailable, never kNotFound, and CheckHealth and CheckWrites
// fail (the message says the data was lost). It recovers by itself only when the same canary is
// back, i.e. the data is: the restarted server finished loading its AOF, or an operator restored
// a copy of this store. A store deliberately started over empty needs an explicit step: restart
// every process on it, since only Open decides that an empty store is a new one. On a cluster
// the store holds 16 canaries, `<namespace>:canary{canary-N}`, whose hash tags spread them one
// per 1024 slots; each master is checked for those of its slots (per the current map), and only
// the calls to a master that lost its canaries answer kUnavailable (CheckHealth fails either way).
//
// Failures. A call that cannot reach Redis (refused, reset, timed out, server loading or
// read-only) returns kUnavailable and never hangs: within `connect_timeout + command_timeout`
// for a read, twice that for a write whose reply was lost (see below), plus at most
// `command_timeout` spent waiting for a free pooled connection; a write that waits for replicas
// adds at most `wait_timeout` (WAIT answers by then) and never more than `command_timeout`. The
// connection involved is closed, never reused, and a new one is made on the next call; idle pooled
// connections the server closed are noticed (without a round trip) and replaced before use. So the
// backend recovers by itself when Redis comes back. When a write's reply is lost, its outcome is
// decided by re-reading the key on a fresh connection: if the record carries this write's id
// the call succeeds with the stored version, otherwise it answers kUnavailable (the write may
// or may not have happened, or may still happen) — it never guesses. A write that waits for
// replicas and is resolved that way has its replication pending: WAIT's answer went with the
// lost reply.
//
// Redis Cluster (`cluster_seeds`, `redis+cluster://`). Open asks the first seed that answers
// for the slot map (CLUSTER SLOTS, and CLUSTER NODES for the replicas) and checks every node of
// it, masters and replicas, as it checks one server (version, maxmemory-policy, durability);
// `server_durability()` then reports the weakest node. Each node gets its own pool of
// `pool_size` connections, made lazily. Every call goes to the master that owns its key's slot
// (CRC16 of the hash tag, Redis's rule): a `MOVED` reply updates the map and the call goes to
// the named node; an `ASK` reply (a slot half-way through a migration) sends the call to the
// named node preceded by ASKING, the map unchanged; `TRYAGAIN` and `CLUSTERDOWN` are retried
// after a short backoff (5 ms doubling up to 100 ms); a connection failure that sent nothing
// re-reads the map (at most every 100 ms) and tries the new owner. All of it stays within one
// `command_timeout` per call (and 16 redirections), after which the call answers kUnavailable
// as above; so on a cluster a call may take up to `command_timeout` more than on one server.
// A redirection or TRYAGAIN means the script did not run, so a write is sent again safely; a
// write whose reply is lost is resolved on the key's owner as below. Scan walks every master of
// the map. The policy watch re-reads the map and checks every node of it, so a replica promoted
// with an evicting policy makes CheckHealth fail. Replication is asynchronous: a write a master
// acknowledged just before it failed may be missing on the replica that replaces it. Not
// supported: Redis Sentinel (no discovery of a primary), TLS (hiredis 0.14 has none: all
// traffic, the password included, is plaintext on the wire), a db other than 0.
//
// Near-cache (opt-in, `cache`; needs Redis 6 or later). The records verification reads — keys
// starting with one of `cache_key_prefixes`, by default the core's kVerificationKeyPrefixes
// (credstore/storage_keys.h): customers, integrators, provisioned API keys — are kept in memory,
// absences included, and dropped when Redis says they changed. Redis client tracking does the
// telling: each data connection runs `CLIENT TRACKING on REDIRECT <id> OPTIN`, a cacheable read
// is sent right after `CLIENT CACHING yes` (so only those reads are tracked; replay nonces and
// throttle counters never are), and one subscriber connection per Redis server (per node of a
// cluster, made on the node's first cacheable read), subscribed to
// `__redis__:invalidate`, receives the keys to forget (the RESP2 way: hiredis 0.14 speaks no
// RESP3). The rules that keep the cache right:
// - a fill is inserted only if no invalidation of its key and no flush arrived since its read
//   was issued (the reply and the invalidation come on different sockets);
// - a read is cacheable only on a connection whose tracking redirects to the live subscriber's
//   CLIENT ID; a new subscriber (after a reconnect) makes every connection redirect anew first;
// - the subscriber PINGs every 100 ms; no pong for 300 ms, or its connection drops, flushes the
//   whole cache, and reads go to Redis until a subscriber is live again;
// - a flush of the database (FLUSHALL, FLUSHDB: a nil invalidation) flushes the whole cache;
// - a write through this backend drops its key at once, whatever its outcome, so this backend
//   reads its own writes; every entry is answered at most `cache_max_age` after its read was
//   issued (the backstop, should an invalidation be lost), and a cached record past its
//   `expires_at` reads as absent as always; a hit on an entry three quarters of that old
//   queues its key (once per entry) for a thread of the backend to read again, by the fill
//   rule above, so a key in steady use is replaced while it is still answered and never
//   misses for its age;
// - while the canary is missing (see "Lost data") nothing is answered from the cache: it may
//   hold absences read from the emptied server before the loss was noticed;
// - bounded by `cache_size` entries and about `cache_bytes` bytes, evicted oldest first with a
//   second chance for entries hit since (CLOCK: a hit relinks nothing), and sharded (no global
//   lock on a lookup); a hit copies the VersionedValue it returns out under its shard's lock,
//   the only copy, and writes nothing else but that shard's lock and counter.
// So a change made through another backend (another credstored) is seen here once Redis's
// invalidation arrives — within the propagation delay, never later than `cache_max_age` — and
// a change made through this one at once. Counters() reports hits, misses, fills, dropped fills,
// evictions, invalidations, refreshes, flushes and lost subscribers. Open fails (kInvalidArgument)
// when the user may not run what the cache needs on every node: CLIENT ID, CLIENT TRACKING, CLIENT
// CACHING and SUBSCRIBE to `__redis__:invalidate` (Redis 7 grants no channel unless told to).
// Without them the cache could never fill, and every read would go to Redis unnoticed.
//
// Not blocking: TryGet answers from the near-cache when the key's entry is there (and its shard
// lock is free), and "would block" (nullopt) otherwise — always, without the cache.
// AnswersFromMemory() is false: every miss is a network round trip.
//
// Thread safety: every method is safe to call from many threads at once. A call holds one pooled
// connection for its duration; callers beyond `pool_size` wait (at most `command_timeout`) for
// one to be returned. Writes that wait for replicas use the `wait_pool_size` connections of
// their own lane instead, and wait for those alike.
#ifndef CREDSTORE_BACKENDS_REDIS_H_
#define CREDSTORE_BACKENDS_REDIS_H_

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "credstore/storage_backend.h"
#include "credstore/storage_keys.h"

namespace credstore {

// One TCP address of a Redis server.
struct RedisAddress {
  std::string host;  // a name or an address; an IPv6 address without brackets
  int port = 6379;
};

struct RedisOptions {
  // Path of the server's unix socket. Default "": connect over TCP to `host`:`port` instead.
  std::string unix_socket;
  // TCP address of the server, used when `unix_socket` is empty. Default "127.0.0.1":6379.
  // Resolving a host name is not bounded by `connect_timeout`; use an address where that matters.
  std::string host = "127.0.0.1";
  int port = 6379;

  // Seed nodes of a Redis Cluster. Default empty: one server, as above. When set, the backend
  // talks to a cluster (see "Redis Cluster" at the top of this file): it asks the first seed that
  // answers for the slot map, and `unix_socket`, `host` and `port` are not used. `db` must then be
  // 0 (a cluster has only database 0); the credentials are sent to every node.
  std::vector<RedisAddress> cluster_seeds;

  // Credentials sent with AUTH on every new connection. Default: no AUTH. A `username` (Redis 6
  // ACL user) is only sent together with a password. Neither ever appears in a Status message.
  std::string username;
  std::string password;

  // The logical database selected on every new connection (SELECT). Default 0.
  int db = 0;

  // Most connections open at once (>= 1). Default 8.
  std::size_t pool_size = 8;

  // Bound on establishing a connection, including AUTH and SELECT (> 0). Default 1 s.
  std::chrono::milliseconds connect_timeout{1000};
  // Bound on sending one command and on each wait for its reply, and on waiting for a free pooled
  // connection (> 0). Default 2 s.
  std::chrono::milliseconds command_timeout{2000};

  // Every Redis key is `<key_namespace>:{<credstore key>}`; distinct namespaces let unrelated
  // stores share one database. Non-empty, printable ASCII without spaces, braces or glob
  // characters. Default "credstore".
  std::string key_namespace = "credstore";

  // How long after a record stopped being visible (expired, or erased) Redis keeps it before its
  // native TTL removes it (1 s to 10 years). It must exceed any step back of the Redis host's clock
  // and any difference in rate between the callers' clocks and it. Default 1 hour.
  std::chrono::milliseconds gc_margin{std::chrono::hours(1)};

  // Open reads `maxmemory-policy` with CONFIG GET and refuses any policy but `noeviction`. When
  // the server refuses CONFIG (renamed, or denied by ACL), Open fails too, unless this is true:
  // then the operator vouches for the policy. Default false.
  bool allow_unverified_eviction_policy = false;

  // How often the backend's own thread reads `maxmemory-policy` again after Open (see the top of
  // this file); it sleeps in between and uses one pooled connection for a moment. A read that
  // cannot reach the server keeps the last verdict (every other call reports the outage itself).
  // 0: no re-check, CheckHealth judges the policy as Open found it. Default 5 s.
  std::chrono::milliseconds policy_check_interval{5000};

  // How often the backend's thread reads the canary again (see "Lost data" at the top of this
  // file); 0: only on new connections and while it is missing, so a flush that leaves the
  // connections open goes unnoticed. Default 1 s.
  std::chrono::milliseconds canary_check_interval{1000};

  // Told each time a re-check (of the policy or the canary) changes CheckHealth's verdict: the
  // kUnavailable it now answers, or OK when healthy again — once per change, not once per check.
  // Called on the backend's thread; must not throw or block for long. Default: not set, and each
  // change is written as one line to std::clog.
  std::function<void(const Status&)> on_health_change;

  // When true, Open refuses a server unless it reports `appendonly yes` and
  // `appendfsync always`, i.e. unless every acknowledged write is fsynced. Default false.
  bool require_fsync_always = false;

  // ---- Near-cache (see the top of this file) ----
  // Keep the records verification reads in memory, kept fresh by Redis client tracking; Open
  // then refuses a server older than 6.0. Default false. URI: `cache=on` (or `off`).
  bool cache = false;
  // Most entries (records or absences) cached, >= 1. Default 10000. URI: `cache_size=N`.
  std::size_t cache_size = 10000;
  // Most bytes cached (keys and values, plus about 100 bytes per entry), >= 1024; a record
  // larger than 1/16 of it is not cached. Default 64 MiB. URI: `cache_bytes=N`.
  std::size_t cache_bytes = std::size_t{64} << 20;
  // The longest an entry is answered after its read was issued, 1 ms to 60 s: the bound on
  // staleness should an invalidation ever be lost. Default 1000 ms. URI: `cache_max_age_ms=N`.
  // Ages are measured on the kernel's coarse clock and rounded up by one of its ticks (1 to
  // 10 ms): an entry leaves up to a tick early, never late, and an age of one tick or less
  // answers nothing from the cache.
  std::chrono::milliseconds cache_max_age{1000};
  // Reads of credstore keys starting with one of these are cached; no other key is tracked.
  // Default: the core's kVerificationKeyPrefixes (credstore/storage_keys.h). "" caches every key.
  std::vector<std::string> cache_key_prefixes{kVerificationKeyPrefixes.begin(),
                                              kVerificationKeyPrefixes.end()};
  // Test hook: called with the Redis key after a cacheable read's reply arrived and before its
  // fill is offered to the cache (a delay here opens the race the fill rule closes). Must not
  // throw. Default: not set.
  std::function<void(std::string_view redis_key)> cache_before_fill;

  // Replicas that must acknowledge each replicated write (WriteOptions::replicated: every write
  // of the core but throttle counters, replay records included) before it counts as
  // acknowledged (see Replication at the top of this file). >= 0; 0 waits for none. Default 0.
  int wait_replicas = 0;
  // How long each write waits for them (WAIT's timeout), when wait_replicas > 0: 1 ms up to
  // `command_timeout` (0 is refused: `WAIT N 0` blocks until enough replicas answer, maybe
  // forever). Default 500 ms.
  std::chrono::milliseconds wait_timeout{500};
  // Connections (>= 1) of the lane that writes which wait use, on top of `pool_size`: at most
  // this many such writes are in flight at once, and they never hold a connection that reads
  // or other writes need. Only opened when wait_replicas > 0. Default 4.
  std::size_t wait_pool_size = 4;
};

// The server's persistence settings as read by Open (CONFIG GET); for the host's logs.
struct RedisServerDurability {
  bool known = false;            // false when the server refused CONFIG GET
  std::string maxmemory_policy;  // e.g. "noeviction"; empty when unknown
  bool appendonly = false;       // `appendonly yes`
  std::string appendfsync;       // "always", "everysec" or "no"; empty when unknown

  // True when every acknowledged write has been fsynced: appendonly with appendfsync always.
  bool fsync_every_write() const { return known && appendonly && appendfsync == "always"; }
};

class RedisBackend final : public StorageBackend {
 public:
  // Connects to the server described by `options` and checks it: reachable, AUTH and SELECT
  // accepted, version >= 5.0, an eviction policy that keeps every key, the scripts loaded; then
  // reads the canaries, or writes them when the store has none (see "Lost data"). The first
  // connection is kept in the pool. With `cluster_seeds`: reads the slot map from the first seed
  // that answers and checks every node of it likewise.
  // kInvalidArgument for bad options, a refused password or db, or an unsafe server
  // configuration (the message says which and never carries the password), and for a seed that
  // is not in cluster mode or a db other than 0 on a cluster; kUnavailable when the server (no
  // seed, or a node of the map) cannot be reached within `connect_timeout`.
  static Result<std::shared_ptr<RedisBackend>> Open(const RedisOptions& options);

  // Parses a backend URI into options (every option not in the URI keeps its default):
  //   redis://[[username]:password@]host[:port][/db]   (port default 6379, db default 0;
  //                                                     an IPv6 host goes in brackets)
  //   redis+unix://[[username]:password@]/path/redis.sock[?db=N]
  //   redis+cluster://[[username]:password@]host[:port][,host[:port]...]
  //                                                    (seed nodes of a Redis Cluster, port
  //                                                     default 6379; no /db: refused)
  // Each may end in a query of options, name=value pairs joined by '&', each at most once:
  //   cache=on|off, cache_size=N, cache_bytes=N, cache_max_age_ms=N   (the near-cache)
  //   wait_replicas=N (N >= 1), wait_timeout_ms=T (1 ms up to the command timeout),
  //   wait_pool_size=N (the last two only with wait_replicas)
  //   db=N   (redis+unix:// only; redis:// has /db)
  // The username and password are percent-decoded. kInvalidArgument names what is wrong and never
  // echoes the URI or the password.
  static Result<RedisOptions> ParseUri(std::string_view uri);

  // Closes every pooled connection. Calls still running on other threads must have returned.
  ~RedisBackend() override;
  RedisBackend(const RedisBackend&) = delete;
  RedisBackend& operator=(const RedisBackend&) = delete;

  // The persistence settings the server reported at Open.
  const RedisServerDurability& server_durability() const;

  // StorageBackend; see credstore/storage_backend.h. Every method answers kUnavailable when the
  // server cannot be reached or answers "try later" (loading, read-only replica, out of memory
  // under noeviction) and while the store's canary is missing, and kInternal when a stored
  // record is malformed.
  std::string_view Name() const override { return "redis"; }
  // kUnavailable while the canary is missing (the store lost its data), or while the last
  // re-check of `maxmemory-policy` found a policy that may evict records (the message names
  // it); OK otherwise. Answers from those checks, without I/O.
  Status CheckHealth() override;
  // CheckHealth's verdict: the backend refuses no write by itself while healthy (a server out
  // of memory under noeviction refuses each write, which then answers kUnavailable), and an
  // evicting policy makes every write one that may be lost.
  Status CheckWrites() override;
  Result<VersionedValue> Get(std::string_view key, Timestamp now) override;
  // From the near-cache only (see the top of this file); nullopt without it or on a miss.
  std::optional<Result<VersionedValue>> TryGet(std::string_view key, Timestamp now) override;
  // Get and TryGet in place: a near-cache hit hands over the cached record under its shard's
  // lock; every other read hands over the copy it received.
  Status Inspect(std::string_view key, Timestamp now, const Inspector& inspect) override;
  std::optional<Status> TryInspect(std::string_view key, Timestamp now,
                                   const Inspector& inspect) override;
  // The near-cache's counters (`redis_cache_*`); none without the cache.
  std::vector<BackendCounter> Counters() const override;
  Result<Version> Create(std::string_view key, std::string_view value, const WriteOptions& options,
                         Timestamp now) override;
  Result<Version> CompareAndSwap(std::string_view key, Version expected, std::string_view value,
                                 const WriteOptions& options, Timestamp now) override;
  Status Erase(std::string_view key, Version expected, Timestamp now) override;
  // Walks the whole namespace with SCAN for every page (O(records) per page; on a cluster, on
  // every master, merged), keeping the `limit` smallest live keys after `cursor`: meant for
  // operator listings, not hot paths.
  Result<ScanPage> Scan(std::string_view prefix, std::string_view cursor, std::size_t limit,
                        Timestamp now) override;
  // SCAN on every master in its own order, the records fetched in pipelined batches: O(records)
  // for the whole walk, so migrations use it. A key may be visited twice if its slot moves
  // between masters during the walk (or a SCAN crosses a rehash).
  Status Export(std::string_view prefix, Timestamp now, const ExportVisitor& visit) override;
  // Always kConflict (kInvalidArgument for a malformed name): the data is the Redis server's, and
  // so is its backup — its RDB snapshots (BGSAVE) and AOF files (docs/operations.md, Backups).
  Result<std::string> Checkpoint(std::string_view name) override;

 private:
  class Impl;
  explicit RedisBackend(std::unique_ptr<Impl> impl);

  std::unique_ptr<Impl> impl_;
};

}  // namespace credstore

#endif  // CREDSTORE_BACKENDS_REDIS_H_
