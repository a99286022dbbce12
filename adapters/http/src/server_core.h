// server_core.h — what every listener and session of one Server shares.
//
// The ServerCore owns the io_context, the worker pools, the session registry (so Stop() can
// reach every open connection) and the per-request bookkeeping (request ids, metrics, access
// log). Listeners and sessions hold a reference to it; it outlives them because the io_context,
// which owns their pending handlers, is the last member destroyed.
//
// Thread safety: the registry and the bookkeeping methods may be called from any thread;
// the control members (listeners_, grace_timer_) are touched only on control_.
#ifndef CREDSTORE_HTTP_SRC_SERVER_CORE_H_
#define CREDSTORE_HTTP_SRC_SERVER_CORE_H_

#include <atomic>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "access_log.h"
#include "credstore/http/http_api.h"
#include "credstore/http/server.h"
#include "server_client_address.h"
#include "worker_pool.h"

namespace credstore::http {

// One listener's fixed facts, shared by its sessions.
struct ListenerContext {
  std::string name;                                // "public", "operator"
  HttpApi* api = nullptr;                          // outlives the Server
  std::unique_ptr<boost::asio::ssl::context> tls;  // set for TLS listeners
};

// What Stop() needs from a connection. Both methods may be called from any thread: they post
// to the session's strand.
class SessionBase {
 public:
  virtual ~SessionBase() = default;
  // Stop reading new requests; close now if idle, else after the responses in flight.
  virtual void BeginShutdown() = 0;
  // Close the connection now, whatever is in flight.
  virtual void ForceClose() = 0;
};

// What Stop() needs from a listener: close the acceptor (from any thread).
class ListenerBase {
 public:
  virtual ~ListenerBase() = default;
  virtual void Close() = 0;
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
  boost::asio::io_context& io_context() { return io_context_; }
  WorkerPool& hashing_pool() { return *hashing_pool_; }
  WorkerPool& storage_pool() { return *storage_pool_; }

  // 16 random lowercase hex digits.
  std::string NewRequestId();

  // Counts the request in Metrics and writes its access-log line.
  void RecordFinished(const ListenerContext& listener, const FinishedRequest& request);

  // Adds a session to the registry; false (and nothing is added) once Stop() has begun, in
  // which case the caller drops the connection.
  bool Register(const std::shared_ptr<SessionBase>& session);
  // Called by a session's destructor.
  void Unregister(SessionBase* session);

  // Called once per listener before Run().
  void AddListener(std::shared_ptr<ListenerBase> listener);

  // Serves until the stop has finished (see Server::Run).
  void Run();
  // Begins the graceful stop (see Server::Stop). Any thread.
  void RequestStop();

 private:
  void DoStop();          // on control_
  void OnGraceExpired();  // on control_
  void WriteAccessLine(std::string_view line);

  const ServerOptions options_;
  const TrustedProxies trusted_;
  std::shared_ptr<WorkerPool> hashing_pool_;
  std::shared_ptr<WorkerPool> storage_pool_;
  std::shared_ptr<std::atomic<std::size_t>> open_sessions_;
  std::unique_ptr<LogWriter> default_log_;  // when options_.access_log is empty

  std::mutex mutex_;
  std::unordered_map<SessionBase*, std::weak_ptr<SessionBase>> sessions_;  // guarded by mutex_
  bool stopping_ = false;                                                  // guarded by mutex_
  bool destroying_ = false;                                                // guarded by mutex_

  std::vector<std::shared_ptr<ListenerBase>> listeners_;

  // Declared last so it is destroyed first: its pending handlers own sessions and listeners,
  // which call back into the members above while they die.
  boost::asio::io_context io_context_;
  boost::asio::strand<boost::asio::io_context::executor_type> control_;
  boost::asio::steady_timer grace_timer_;
  std::optional<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>>
      keep_running_;
};

}  // namespace credstore::http

#endif  // CREDSTORE_HTTP_SRC_SERVER_CORE_H_
