// server_core.h — what every listener and session of one Server shares.
//
// Threading: one io_context per I/O thread, each run by exactly that thread. A connection is
// placed on one of them when it is accepted (round robin) and stays there, so its handlers never
// run concurrently and need no strand. Work that may block runs on the worker pools; its answer
// is posted back to the connection's io_context.
//
// Deadlines: a connection does not arm a timer per read and write. It records when its current
// wait must end, and each I/O thread sweeps its own connections a few times a second, closing
// the socket of any that is past its deadline (which ends the pending operation).
//
// Connection limits (server_connection_limits.h): a connection is started only with a slot.
// When the public listener has none left, the public connection idle longest between requests
// gives its slot up (it is closed) for the new one. To find it without a scan, each I/O thread
// lists its idle keep-alive connections in the order they became idle; a connection joins when
// it starts waiting for its next request and leaves when a byte arrives or it closes. The list
// has a mutex of its own, so each keep-alive request costs two uncontended lock operations on
// its thread, and only an eviction (on the accepting thread) ever contends for it.
//
// The ServerCore owns the I/O threads, the worker pools, the session registry (so Stop() can
// reach every open connection) and the per-request bookkeeping (request ids, metrics, access
// log). Listeners and sessions hold a reference to it; it outlives them because the I/O threads'
// io_contexts, which own their pending handlers, are the last members destroyed.
//
// Thread safety: the registry and the bookkeeping methods may be called from any thread; an
// IoThread's sweep list only from its own thread; the control members (listeners_, grace_timer_)
// only on the control thread (I/O thread 0).
#ifndef CREDSTORE_HTTP_SRC_SERVER_CORE_H_
#define CREDSTORE_HTTP_SRC_SERVER_CORE_H_

#include <atomic>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <list>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "access_log.h"
#include "access_log_queue.h"
#include "credstore/http/http_api.h"
#include "credstore/http/server.h"
#include "queue_shares.h"
#include "server_accept_failures.h"
#include "server_client_address.h"
#include "server_connection_limits.h"
#include "worker_pool.h"

namespace credstore::http {

// One listener's facts, shared by its sessions. All fixed but the TLS context, which
// Server::ReloadTls replaces.
struct ListenerContext {
  std::string name;        // "public", "operator"
  HttpApi* api = nullptr;  // outlives the Server
  ListenerRole role = ListenerRole::kPublic;
  std::optional<TlsConfig> tls_files;  // set for TLS listeners: what ReloadTls reads again

  // The TLS context for a new connection; null on a plain listener. A connection keeps the one
  // it started with after a reload: its SSL object holds a reference of its own to the
  // context's SSL_CTX (SSL_new counts one), so dropping ours here frees nothing it uses.
  std::shared_ptr<boost::asio::ssl::context> CurrentTls() const {
    std::lock_guard<std::mutex> lock(tls_mutex_);
    return tls_;
  }
  void ReplaceTls(std::shared_ptr<boost::asio::ssl::context> tls) {
    std::lock_guard<std::mutex> lock(tls_mutex_);
    tls_ = std::move(tls);
  }

 private:
  mutable std::mutex tls_mutex_;  // accepts on the control thread, reloads from any
  std::shared_ptr<boost::asio::ssl::context> tls_;
};

class SessionBase;

// A connection waiting between requests, in an IoThread's idle list.
struct IdleEntry {
  std::chrono::steady_clock::time_point since;
  SessionBase* session = nullptr;  // alive while listed: it leaves the list before it dies
  std::weak_ptr<SessionBase> owner;
};

// What Stop(), the deadline sweep and an eviction need from a connection.
class SessionBase {
 public:
  virtual ~SessionBase() = default;
  // Gives the connection's slot back at once and closes it on its own thread: another
  // connection needs the slot. Any thread.
  virtual void Evict() = 0;
  // Stop reading new requests; close now if idle, else after the responses in flight. Any
  // thread: posts to the session's I/O thread.
  virtual void BeginShutdown() = 0;
  // Close the connection now, whatever is in flight. Any thread: posts to the session's thread.
  virtual void ForceClose() = 0;
  // Closes the socket if `now` is past the session's deadline. On the session's own thread.
  virtual void CheckDeadline(std::chrono::steady_clock::time_point now) = 0;

 private:
  friend class IoThread;
  // Guarded by the idle mutex of the session's IoThread.
  bool idle_listed_ = false;
  std::list<IdleEntry>::iterator idle_position_;
};

// What Stop() needs from a listener: close the acceptor (from any thread).
class ListenerBase {
 public:
  virtual ~ListenerBase() = default;
  virtual void Close() = 0;
};

// One I/O thread: its io_context, the sessions it serves (for the deadline sweep) and the
// sweep's timer.
class IoThread {
 public:
  explicit IoThread(std::chrono::milliseconds sweep_interval);

  boost::asio::io_context& io_context() { return io_context_; }

  // Adds a session to this thread's sweep. On this thread.
  void Watch(const std::shared_ptr<SessionBase>& session);

  // Starts the periodic sweep. StopSweeping ends it, so that run() can return.
  void StartSweeping();
  // Also runs `chore` on every sweep, after the deadlines, with the sweep's time. Before the
  // thread runs; the chore must not block.
  void AlsoOnSweep(std::function<void(std::chrono::steady_clock::time_point)> chore);
  void StopSweeping();  // any thread

  // Lists `session` (of this thread) as idle since `now`; Unlist takes it off, if listed (not
  // listed any more means it was evicted). From the session's thread, or its destructor.
  void ListIdle(const std::shared_ptr<SessionBase>& session,
                std::chrono::steady_clock::time_point now);
  void UnlistIdle(SessionBase& session);
  // When this thread's longest-idle session became idle; nullopt when none is. Any thread.
  std::optional<std::chrono::steady_clock::time_point> OldestIdleSince();
  // Takes the longest-idle session off the list and returns it (null when none is, or it is
  // dying). Any thread.
  std::shared_ptr<SessionBase> TakeOldestIdle();

 private:
  void Sweep();

  // Before io_context_, so the list outlives the sessions that die with the io_context.
  std::mutex idle_mutex_;
  std::list<IdleEntry> idle_;  // guarded by idle_mutex_; oldest first

  boost::asio::io_context io_context_{1};  // run by exactly one thread
  boost::asio::steady_timer sweep_timer_;
  const std::chrono::milliseconds sweep_interval_;
  std::vector<std::weak_ptr<SessionBase>> watched_;                   // this thread only
  std::function<void(std::chrono::steady_clock::time_point)> chore_;  // set before it runs
  bool stopped_sweeping_ = false;                                     // this thread only
};

// A request whose response has been written (or abandoned), for metrics and the access log.
struct FinishedRequest {
  std::string_view request_id;
  std::string_view method;
  std::string_view route_template;
  unsigned status = 0;
  std::chrono::steady_clock::time_point started;
  std::string_view client_address;
};

class ServerCore {
 public:
  ServerCore(ServerOptions options, TrustedProxies trusted);
  ~ServerCore();

  ServerCore(const ServerCore&) = delete;
  ServerCore& operator=(const ServerCore&) = delete;

  const ServerOptions& options() const { return options_; }
  const TrustedProxies& trusted_proxies() const { return trusted_; }
  WorkerPool& hashing_pool() { return *hashing_pool_; }
  WorkerPool& storage_pool() { return *storage_pool_; }
  // Each client's share of the hashing queue (queue_shares.h).
  QueueShares& hashing_shares() { return *hashing_shares_; }

  // The I/O thread for the next accepted connection (round robin).
  IoThread& NextIoThread();
  // The control thread's io_context (I/O thread 0): listeners and the stop run there.
  boost::asio::io_context& control_context() { return io_threads_.front()->io_context(); }

  // 16 lowercase hex digits, unique per server run with overwhelming probability. Costs no
  // system call: a per-thread random seed (read once) mixed with a per-thread counter.
  static std::string NewRequestId();

  // Counts the request in Metrics and queues its access-log line.
  void RecordFinished(const ListenerContext& listener, const FinishedRequest& request);

  // A slot for a new connection of `listener` from `peer` (nullopt on a unix socket), closing
  // the longest-idle public connection when that makes room; an empty slot means refused (and
  // counted). On the accepting (control) thread.
  ConnectionSlot Admit(const ListenerContext& listener,
                       const std::optional<boost::asio::ip::address>& peer);
  const ConnectionLimits& connection_limits() const { return *limits_; }

  // Queues a line for the server's log (the access-log sink). Any thread.
  void LogLine(std::string_view line) { access_log_->Append(line); }

  // Adds a session to the registry; false (and nothing is added) once Stop() has begun, in
  // which case the caller drops the connection.
  bool Register(const std::shared_ptr<SessionBase>& session);
  // Called by a session's destructor (from any thread).
  void Unregister(SessionBase* session);

  // Called once per listener before Run().
  void AddListener(std::shared_ptr<ListenerBase> listener);

  // Serves until the stop has finished (see Server::Run).
  void Run();
  // Begins the graceful stop (see Server::Stop). Any thread.
  void RequestStop();

 private:
  void DoStop();           // on the control thread
  void OnGraceExpired();   // on the control thread
  bool EvictOldestIdle();  // true when a session gave its slot up

  const ServerOptions options_;
  const TrustedProxies trusted_;
  std::shared_ptr<WorkerPool> hashing_pool_;
  std::shared_ptr<WorkerPool> storage_pool_;
  std::shared_ptr<QueueShares> hashing_shares_;
  std::shared_ptr<std::atomic<std::size_t>> open_sessions_;
  std::unique_ptr<LogWriter> default_log_;  // when options_.access_log is empty
  std::unique_ptr<AccessLogQueue> access_log_;
  // Outlives every session (they die with io_threads_, below); shared with the metrics gauges.
  std::shared_ptr<ConnectionLimits> limits_;

  std::mutex mutex_;
  std::unordered_map<SessionBase*, std::weak_ptr<SessionBase>> sessions_;  // guarded by mutex_
  bool stopping_ = false;                                                  // guarded by mutex_
  bool destroying_ = false;                                                // guarded by mutex_

  std::vector<std::shared_ptr<ListenerBase>> listeners_;
  std::atomic<std::size_t> next_io_thread_{0};

  // Declared last so they are destroyed first: their pending handlers own sessions and
  // listeners, which call back into the members above while they die.
  std::vector<std::unique_ptr<IoThread>> io_threads_;
  std::optional<boost::asio::steady_timer> grace_timer_;  // on the control thread
  std::vector<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>>
      keep_running_;
};

}  // namespace credstore::http

#endif  // CREDSTORE_HTTP_SRC_SERVER_CORE_H_
