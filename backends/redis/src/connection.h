// Internal to credstore::redis: hiredis connections and the pool that lends them out.
//
// hiredis is used in blocking mode with socket timeouts. Commands are formatted with hiredis but
// written with send(MSG_NOSIGNAL), so a server that went away yields an error instead of a
// SIGPIPE that would kill the host process; replies are then read back with hiredis.
#ifndef CREDSTORE_BACKENDS_REDIS_SRC_CONNECTION_H_
#define CREDSTORE_BACKENDS_REDIS_SRC_CONNECTION_H_

#include <hiredis/hiredis.h>

#include <charconv>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "credstore/status.h"

namespace credstore::redis_internal {

struct ReplyDeleter {
  void operator()(redisReply* reply) const { freeReplyObject(reply); }
};
using ReplyPtr = std::unique_ptr<redisReply, ReplyDeleter>;

struct ContextDeleter {
  void operator()(redisContext* context) const { redisFree(context); }
};
using ContextPtr = std::unique_ptr<redisContext, ContextDeleter>;

// One command: its name and arguments, as binary-safe strings.
using Command = std::vector<std::string_view>;

// Where and how to connect; the password never leaves this struct in a message.
struct Endpoint {
  std::string unix_socket;  // empty: TCP to host:port
  std::string host;
  int port = 0;
  std::string username;
  std::string password;
  int db = 0;
  std::chrono::milliseconds connect_timeout{0};
  std::chrono::milliseconds command_timeout{0};
};

// One connection to the server. Once a transport error happened it is `broken()` for good: a
// reply may still be in flight, so the connection is never used again.
class Connection {
 public:
  // Connects, sends AUTH and SELECT when configured, all within endpoint.connect_timeout, and sets
  // the command timeout. kUnavailable when the server cannot be reached or does not answer in
  // time; kInvalidArgument when it rejects the credentials or the db index.
  static Result<std::unique_ptr<Connection>> Open(const Endpoint& endpoint);

  // Sends `commands` in one write, then reads one reply per command into `replies` (error replies
  // included). False on a transport failure: the connection is then broken and failure() says
  // why; `replies` holds the replies read before the failure.
  bool Exchange(const std::vector<Command>& commands, std::vector<ReplyPtr>& replies);

  // One command; nullptr on a transport failure (see Exchange).
  ReplyPtr Call(std::initializer_list<std::string_view> command);
  ReplyPtr Call(const Command& command);

  bool broken() const { return broken_; }
  // After a failure: whether any byte of the failed exchange may have reached the server, i.e.
  // whether a write in it may have been executed.
  bool maybe_sent() const { return maybe_sent_; }
  // After a failure: what happened, safe to log ("timed out", "connection closed by server").
  const std::string& failure() const { return failure_; }
  // After a failure: whether the server was too slow (a command timeout), as opposed to the
  // connection being closed or reset. Retrying a timed-out call would only wait again.
  bool timed_out() const { return timed_out_; }

  // False when the server closed this (idle) connection or sent something unasked: checked
  // without blocking before a pooled connection is reused.
  bool LooksIdleAndOpen() const;

  // Client tracking (near_cache.h): the CLIENT ID of the subscriber this connection's
  // `CLIENT TRACKING on REDIRECT` points at; 0 while tracking is off.
  std::uint64_t tracking_redirect() const { return tracking_redirect_; }
  void set_tracking_redirect(std::uint64_t id) { tracking_redirect_ = id; }

  // The hiredis context, for the invalidation subscriber, which reads pushed messages itself.
  redisContext* context() { return context_.get(); }

 private:
  explicit Connection(ContextPtr context) : context_(std::move(context)) {}
  void MarkBroken(std::string failure, bool maybe_sent, bool timed_out = false);
  bool SetTimeout(std::chrono::milliseconds timeout);

  ContextPtr context_;
  bool broken_ = false;
  bool maybe_sent_ = false;
  bool timed_out_ = false;
  std::string failure_;
  std::uint64_t tracking_redirect_ = 0;
};

// A bounded pool of connections, safe to use from many threads. Connections are made lazily;
// a broken connection is closed when returned and a fresh one is made on a later Acquire.
class ConnectionPool {
 public:
  // Run on every new connection before it is lent out (the backend checks its canary there:
  // canary.h), on the thread that acquires it; must be safe to call from many threads at once.
  // A failure closes the connection and is what Acquire answers.
  using SetUp = std::function<Status(Connection&)>;

  // `size` >= 1 connections at most; `set_up` may be empty.
  ConnectionPool(Endpoint endpoint, std::size_t size, SetUp set_up = {});
  ~ConnectionPool();
  ConnectionPool(const ConnectionPool&) = delete;
  ConnectionPool& operator=(const ConnectionPool&) = delete;

  // A connection on loan; returned to the pool (or closed, when broken) on destruction.
  class Lease {
   public:
    Lease(Lease&& other) noexcept : pool_(other.pool_), connection_(std::move(other.connection_)) {
      other.pool_ = nullptr;
    }
    Lease& operator=(Lease&&) = delete;
    Lease(const Lease&) = delete;
    Lease& operator=(const Lease&) = delete;
    ~Lease();

    Connection& operator*() const { return *connection_; }
    Connection* operator->() const { return connection_.get(); }

   private:
    friend class ConnectionPool;
    Lease(ConnectionPool* pool, std::unique_ptr<Connection> connection)
        : pool_(pool), connection_(std::move(connection)) {}

    ConnectionPool* pool_;
    std::unique_ptr<Connection> connection_;
  };

  // Which connection Acquire hands out.
  enum class Pick {
    // An idle connection that a zero-timeout poll finds open (the server may have closed it
    // while it sat idle), or a new one. For writes: a write sent on a dead connection would
    // leave its outcome to be resolved.
    kChecked,
    // The most recently used idle connection without that poll, or a new one: one system call
    // less, for idempotent reads that retry once on kFresh when the call fails.
    kUnchecked,
    // Always a new connection (an idle one is closed to make room if the pool is full).
    kFresh,
  };

  // A connection as `pick` says. Waits at most the command timeout for a free slot.
  // kUnavailable if none frees up or the server cannot be reached; kInvalidArgument if the server
  // rejects the credentials or the db index; the set-up hook's failure for a new connection.
  Result<Lease> Acquire(Pick pick = Pick::kChecked);

  const Endpoint& endpoint() const { return endpoint_; }

 private:
  void Return(std::unique_ptr<Connection> connection);

  const Endpoint endpoint_;
  const std::size_t size_;
  const SetUp set_up_;
  std::mutex mutex_;
  std::condition_variable slot_freed_;
  std::vector<std::unique_ptr<Connection>> idle_;  // guarded by mutex_; most recently used last
  std::size_t open_ = 0;                           // guarded by mutex_; idle + on loan + opening
};

// The first word of an error reply ("NOSCRIPT", "LOADING", ...); empty if `reply` is no error.
std::string_view ErrorCode(const redisReply& reply);

// `text` as a whole decimal integer; false (and `out` unspecified) if it is not one.
template <typename Integer>
bool ParseInteger(std::string_view text, Integer& out) {
  if (text.empty()) return false;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), out);
  return error == std::errc() && end == text.data() + text.size();
}

// A reply's string payload (string, status or error reply).
inline std::string_view ReplyText(const redisReply& reply) {
  return reply.str == nullptr ? std::string_view() : std::string_view(reply.str, reply.len);
}

}  // namespace credstore::redis_internal

#endif  // CREDSTORE_BACKENDS_REDIS_SRC_CONNECTION_H_
