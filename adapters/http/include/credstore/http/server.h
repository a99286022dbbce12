// credstore/http/server.h — an HTTP/1.1 server for HttpApi implementations (Boost.Beast).
//
// A Server owns sockets, parsing, timeouts and worker pools; the HttpApi it serves owns meaning.
// credstored runs one Server with a public listener (PublicApi, TCP, TLS unless on loopback) and
// an operator listener (OperatorApi, loopback TCP or a unix socket); a host may run its own.
//
// How a request is served:
//  - N I/O threads, each with an io_context of its own, run asynchronous accept, read and write;
//    a connection stays on the thread that accepted it. Nothing that may block runs on them.
//    Timeouts are deadlines that each thread sweeps for a few times a second, not a timer per
//    read and write.
//  - Each message gets a fresh parser with `header_limit` and the API's `max_body_bytes()`.
//    A body over the limit is answered 413 and the connection is closed gracefully (the send
//    side is shut down and the rest of the body drained briefly), so the client reads the
//    answer instead of a reset. Other parse errors answer 400 (431 for oversized headers) and
//    close.
//  - Every request gets a request id (16 random hex digits, the problem's `instance` and the
//    log line's id) and a client address (the peer, or X-Forwarded-For when the peer is a
//    trusted proxy). HttpApi::Route runs once, on the I/O thread; an early answer is sent at
//    once; a prepared call runs where its WorkClass says (http_api.h): inline, inline when its
//    non-blocking read answers and otherwise on the storage pool, or on the hashing pool. A
//    full pool queue answers 503 with `Retry-After: 1` at once, never queues.
//  - Keep-alive and pipelining: up to `max_pipelined` requests of one connection are in flight;
//    responses go out in request order.
//  - Connection limits: every connection holds a descriptor, so the server holds at most
//    `max_connections` at once (all listeners together), of which the last
//    `reserved_connections` only operator listeners (ListenerRole::kOperator) may use, and at
//    most `max_connections_per_address` from one client address bucket (IPv4 /32, IPv6 /64;
//    trusted proxies and operator listeners are exempt). A connection over a limit is closed at
//    once, without an answer; at `max_connections`, the public connection that has waited
//    longest between requests is closed first to make room, when there is one. A new connection
//    must send its first byte within `first_byte_timeout`. Accept failures (EMFILE) are
//    retried after a short pause, counted and logged at most once a second.
//  - Each finished request is recorded in Metrics (by route template; counted per thread) and
//    logged as one JSON line: time, request id, listener, method, route template, status,
//    latency, client address. Never the raw target (it carries `?key=` and `adminKey=`),
//    headers or bodies. Lines go through per-thread buffers to one writer thread; when the
//    log falls behind, lines are dropped and counted (credstore_log_lines_dropped_total), and
//    a request never waits for the log.
//
// Stopping: Stop() closes the listeners, closes idle keep-alive connections, lets requests in
// flight finish (their responses carry `Connection: close`) for up to `shutdown_grace`, then
// closes what is left; Run() returns once every connection is gone.
//
// Thread safety: configure (AddTcpListener, AddUnixListener) before Run(), from one thread.
// Stop() may be called from any thread (not from a signal handler: use asio::signal_set), any
// number of times, before or during Run().
#ifndef CREDSTORE_HTTP_SERVER_H_
#define CREDSTORE_HTTP_SERVER_H_

#include <boost/asio/ip/tcp.hpp>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "credstore/http/http_api.h"
#include "credstore/http/metrics.h"
#include "credstore/status.h"

namespace credstore::http {

// What a listener is for, which decides the limits its connections count against.
enum class ListenerRole {
  kPublic,    // counted per client address; may not use the reserved connections
  kOperator,  // health probes and metrics: may use the reserve; not limited per address
};

// The default of ServerOptions::max_connections: RLIMIT_NOFILE's soft limit minus headroom for
// every other descriptor the process needs (storage files, RocksDB's table files, pools, logs,
// the listeners and event loops): the limit less max(limit / 8, min(256, limit / 2)). 1024
// descriptors give 768 connections, 65536 give 57344. At least 1.
std::size_t DefaultMaxConnections();

// A TLS listener's certificate and key (PEM files, read when the listener is added and again by
// Server::ReloadTls).
struct TlsConfig {
  std::string cert_file;  // the certificate chain, leaf first
  std::string key_file;   // the private key of the leaf (unencrypted PEM)
};

struct ServerOptions {
  // Threads running accept, read and write.
  std::size_t io_threads = 2;  // default: 2

  // Threads for WorkClass::kHashing (Argon2id). More than the store's
  // Options::max_concurrent_hashes only turns into 503s from the store instead of from here.
  std::size_t hashing_workers = 2;  // default: 2
  // Hashing requests waiting for a thread; one more answers 503 at once.
  std::size_t hashing_queue = 16;  // default: 16
  // Longest a hashing request waits for a thread. One still waiting then is answered 503 with
  // Retry-After (within 0.1 s) and its attempt refunded, as when the queue is full: on a busy
  // machine the yielding hashing threads (below) drain the queue slowly, and an answer later
  // than the client waits is work wasted. Short of most clients' timeouts, long enough for a
  // full queue to drain on an unloaded machine.
  std::chrono::milliseconds hashing_queue_wait = std::chrono::seconds(5);  // default: 5 s
  // How the hashing threads are scheduled. Argon2id is the only work that can keep every core
  // busy for long, and verification is what the server is for, so the hashing threads yield:
  // kNiced (the default) runs them at `hashing_nice`, which still keeps a small, steady share of
  // a saturated machine for them; kIdle runs them SCHED_IDLE, on CPU time nothing else wants.
  // Measured here under a register flood answered 503: settings GETs kept 0.70 (memory) and
  // 0.61 (RocksDB) of their rate alone with kNiced. With kIdle a started Argon2id runs only when
  // a core is otherwise idle, so an admitted registration may take long on a busy machine.
  enum class HashingPriority { kNiced, kIdle };
  HashingPriority hashing_priority = HashingPriority::kNiced;  // default: kNiced
  // Nice value of the hashing threads with kNiced (0..19; 0 runs them like every other thread).
  int hashing_nice = 10;  // default: 10

  // Threads for WorkClass::kStorage (backend reads and writes that may block). They wait on
  // storage rather than use the CPU, and durable RocksDB writes share one sync among all those
  // waiting in its commit queue: the more writes wait at once, the larger each group. Four
  // threads made every group at most four writes.
  std::size_t storage_workers = 64;  // default: 64
  // Storage requests waiting for a thread; one more answers 503 at once.
  std::size_t storage_queue = 256;  // default: 256

  // Largest request line plus header fields, counted exactly with their CRLFs and the empty
  // line that ends them; one byte more answers 431 and closes.
  std::size_t header_limit = 8 * 1024;  // default: 8 KiB

  // Time for one request to arrive completely once its first byte did. When it runs out the
  // connection is closed without an answer (the deadline sweep has closed the socket, so no
  // 408 can be sent): a slow client cannot hold a connection open forever. Every timeout is
  // checked a few times a second, so it may run up to 0.1 s over.
  std::chrono::milliseconds read_timeout = std::chrono::seconds(10);  // default: 10 s
  // Time a keep-alive connection may wait for its next request.
  std::chrono::milliseconds idle_timeout = std::chrono::seconds(30);  // default: 30 s
  // Time a new connection may wait before the first byte of its first request (on TLS
  // listeners: for the handshake, and then again for the first request). Short, because a
  // connection that says nothing holds a descriptor for nothing; the idle timeout above applies
  // only once a request has been answered.
  std::chrono::milliseconds first_byte_timeout = std::chrono::seconds(5);  // default: 5 s
  // Time for one response (and a TLS handshake) to be written.
  std::chrono::milliseconds write_timeout = std::chrono::seconds(10);  // default: 10 s

  // Requests of one connection read ahead while earlier ones are still being answered.
  std::size_t max_pipelined = 8;  // default: 8

  // Connections open at once, every listener together. 0: DefaultMaxConnections(), read when
  // the server is created. The server does not raise RLIMIT_NOFILE itself (credstored does).
  std::size_t max_connections = 0;  // default: 0 = DefaultMaxConnections()
  // Of max_connections, how many only kOperator listeners may use, so that a flood of the
  // public listener cannot keep /healthz, /readyz and /metrics from being answered. At most a
  // quarter of max_connections is reserved, whatever this says.
  std::size_t reserved_connections = 16;  // default: 16
  // Connections of kPublic listeners from one client address bucket (the peer's IPv4 /32 or
  // IPv6 /64, the buckets the store throttles by); one more is closed at once. Trusted proxies
  // are exempt: with forward auth, every check comes from the gateway. 0: no limit.
  std::size_t max_connections_per_address = 128;  // default: 128

  // How long Stop() lets requests in flight finish before closing their connections.
  std::chrono::milliseconds shutdown_grace = std::chrono::seconds(10);  // default: 10 s

  // Peers whose X-Forwarded-For is believed: addresses or CIDR networks ("10.0.0.0/8"). The
  // client is the right-most X-Forwarded-For entry that is not a trusted proxy.
  std::vector<std::string> trusted_proxies;  // default: none (the peer is the client)

  // Where requests are counted and pool gauges are registered; must outlive the Server.
  Metrics* metrics = nullptr;  // default: nullptr (no metrics)

  // Receives each access-log line (one JSON object, no newline), from the log writer thread.
  std::function<void(std::string_view line)> access_log;  // default: empty = std::cerr
  // Receives the same lines in blocks, from the same thread: whole lines, each ending in a
  // newline, at most 4096 bytes a block unless one line alone is longer (so that one write of a
  // block to a pipe is never split by another writer's). For a destination that takes many
  // lines in one write, a file or a pipe: one write per block instead of one per request.
  // When set, access_log is not called.
  std::function<void(std::string_view lines)> access_log_lines;  // default: empty
};

class Server {
 public:
  // A server with no listeners. kInvalidArgument for a zero thread count or pipelining depth,
  // a zero timeout, or a trusted proxy that is not an address or CIDR network.
  static Result<std::unique_ptr<Server>> Create(ServerOptions options);

  // Precondition: Run() is not running (it has returned, or was never called). Requests still
  // queued on a worker pool are dropped; running ones are waited for.
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Listens on `endpoint` (port 0: any free port) and serves `api` there, over TLS when `tls`
  // is given. `name` labels the listener in logs and metrics ("public", "operator"); `role`
  // picks the connection limits (see ListenerRole). `api` must outlive the Server. Returns the
  // bound port. kInvalidArgument when the certificate or key cannot be loaded; kUnavailable
  // when the address cannot be bound.
  Result<std::uint16_t> AddTcpListener(const boost::asio::ip::tcp::endpoint& endpoint, HttpApi& api,
                                       std::optional<TlsConfig> tls, std::string name,
                                       ListenerRole role = ListenerRole::kPublic);

  // Listens on a unix socket at `path`, created with mode 0600 (owner only), and serves `api`
  // there. A stale socket file at `path` (nobody listening) is replaced; a live one is
  // kUnavailable, as is any other file there. The file is removed when the listener closes.
  // Its connections have no address, so only max_connections applies to them.
  Status AddUnixListener(const std::string& path, HttpApi& api, std::string name,
                         ListenerRole role = ListenerRole::kPublic);

  // Reads every TLS listener's certificate chain and key again (for a renewed certificate):
  // connections accepted from then on use them, open ones keep theirs. When a file does not
  // load, or the key does not fit the certificate, every listener keeps what it had and
  // kInvalidArgument says which file. Ok when there is no TLS listener. Any thread, before or
  // during Run().
  Status ReloadTls();

  // Serves on `io_threads` threads (the calling one included) until Stop() has finished.
  void Run();

  // Begins the graceful stop described at the top of this file. Returns at once.
  void Stop();

 private:
  class Impl;
  explicit Server(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace credstore::http

#endif  // CREDSTORE_HTTP_SERVER_H_
