#include "connection.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <algorithm>
#include <cstring>
#include <utility>

namespace credstore::redis_internal {
namespace {

using std::chrono::milliseconds;
using std::chrono::steady_clock;

timeval ToTimeval(milliseconds timeout) {
  const auto ms = std::max<milliseconds::rep>(timeout.count(), 1);
  timeval tv{};
  tv.tv_sec = static_cast<decltype(tv.tv_sec)>(ms / 1000);
  tv.tv_usec = static_cast<decltype(tv.tv_usec)>((ms % 1000) * 1000);
  return tv;
}

// What a failed hiredis read means, in words that are safe to log.
// SO_RCVTIMEO expired: hiredis reports EAGAIN's text.
bool ReadTimedOut(const redisContext& context) {
  return context.err == REDIS_ERR_IO && std::strstr(context.errstr, "temporarily") != nullptr;
}

std::string DescribeReadFailure(const redisContext& context) {
  if (context.err == REDIS_ERR_EOF) return "connection closed by the server";
  if (ReadTimedOut(context)) return "timed out waiting for the reply";
  if (context.err == REDIS_ERR_PROTOCOL) return "protocol error";
  return std::string("connection error: ") + context.errstr;
}

}  // namespace

std::string_view ErrorCode(const redisReply& reply) {
  if (reply.type != REDIS_REPLY_ERROR) return {};
  const std::string_view text = ReplyText(reply);
  return text.substr(0, text.find(' '));
}

Result<std::unique_ptr<Connection>> Connection::Open(const Endpoint& endpoint) {
  const auto deadline = steady_clock::now() + endpoint.connect_timeout;
  const timeval connect_timeout = ToTimeval(endpoint.connect_timeout);
  redisContext* raw =
      endpoint.unix_socket.empty()
          ? redisConnectWithTimeout(endpoint.host.c_str(), endpoint.port, connect_timeout)
          : redisConnectUnixWithTimeout(endpoint.unix_socket.c_str(), connect_timeout);
  if (raw == nullptr) return Status::Unavailable("redis: out of memory while connecting");
  ContextPtr context(raw);
  if (context->err != 0) {
    return Status::Unavailable(std::string("redis: cannot connect: ") + context->errstr);
  }
  // Children the host forks (or a test's redis-server) must not inherit the socket: a copy held
  // open elsewhere would hide our close from the server.
  const int flags = fcntl(context->fd, F_GETFD);
  if (flags >= 0) fcntl(context->fd, F_SETFD, flags | FD_CLOEXEC);
  if (endpoint.unix_socket.empty()) redisEnableKeepAlive(context.get());

  std::unique_ptr<Connection> connection(new Connection(std::move(context)));
  const auto remaining = [&deadline] {
    return std::chrono::duration_cast<milliseconds>(deadline - steady_clock::now());
  };
  const auto handshake = [&](std::initializer_list<std::string_view> command,
                             const char* rejected) -> Status {
    if (remaining() <= milliseconds(0)) return Status::Unavailable("redis: connect timed out");
    if (!connection->SetTimeout(remaining())) {
      return Status::Unavailable("redis: cannot set a socket timeout");
    }
    ReplyPtr reply = connection->Call(command);
    if (reply == nullptr) {
      return Status::Unavailable("redis: while connecting: " + connection->failure());
    }
    if (reply->type == REDIS_REPLY_ERROR) {
      const std::string_view code = ErrorCode(*reply);
      if (code == "LOADING" || code == "BUSY") {
        return Status::Unavailable("redis: server not ready (" + std::string(code) + ")");
      }
      return Status::InvalidArgument(rejected);
    }
    return Status::Ok();
  };

  if (!endpoint.password.empty()) {
    const Status auth =
        endpoint.username.empty()
            ? handshake({"AUTH", endpoint.password}, "redis rejected the password (AUTH failed)")
            : handshake({"AUTH", endpoint.username, endpoint.password},
                        "redis rejected the username or password (AUTH failed)");
    if (!auth.ok()) return auth;
  }
  if (endpoint.db != 0) {
    const std::string db = std::to_string(endpoint.db);
    const Status select =
        handshake({"SELECT", db}, "redis rejected the database index (SELECT failed)");
    if (!select.ok()) return select;
  }
  if (!connection->SetTimeout(endpoint.command_timeout)) {
    return Status::Unavailable("redis: cannot set a socket timeout");
  }
  return connection;
}

bool Connection::SetTimeout(milliseconds timeout) {
  return redisSetTimeout(context_.get(), ToTimeval(timeout)) == REDIS_OK;
}

void Connection::MarkBroken(std::string failure, bool maybe_sent, bool timed_out) {
  broken_ = true;
  maybe_sent_ = maybe_sent;
  timed_out_ = timed_out;
  failure_ = std::move(failure);
}

bool Connection::LooksIdleAndOpen() const {
  if (broken_) return false;
  pollfd descriptor{};
  descriptor.fd = context_->fd;
  descriptor.events = POLLIN;
  // Nothing is owed to an idle connection: anything readable is an EOF, a reset or garbage.
  return poll(&descriptor, 1, 0) == 0;
}

ReplyPtr Connection::Call(std::initializer_list<std::string_view> command) {
  return Call(Command(command));
}

ReplyPtr Connection::Call(const Command& command) {
  std::vector<ReplyPtr> replies;
  if (!Exchange({command}, replies)) return nullptr;
  return std::move(replies.front());
}

bool Connection::Exchange(const std::vector<Command>& commands, std::vector<ReplyPtr>& replies) {
  replies.clear();
  if (broken_) return false;

  std::string wire;
  std::vector<const char*> argv;
  std::vector<std::size_t> lengths;
  for (const Command& command : commands) {
    argv.clear();
    lengths.clear();
    for (std::string_view argument : command) {
      argv.push_back(argument.empty() ? "" : argument.data());
      lengths.push_back(argument.size());
    }
    char* formatted = nullptr;
    const int length = redisFormatCommandArgv(&formatted, static_cast<int>(argv.size()),
                                              argv.data(), lengths.data());
    if (length < 0 || formatted == nullptr) {
      MarkBroken("cannot format a command", false);
      return false;
    }
    wire.append(formatted, static_cast<std::size_t>(length));
    redisFreeCommand(formatted);
  }

  std::size_t sent = 0;
  while (sent < wire.size()) {
    const ssize_t written =
        ::send(context_->fd, wire.data() + sent, wire.size() - sent, MSG_NOSIGNAL);
    if (written > 0) {
      sent += static_cast<std::size_t>(written);
      continue;
    }
    if (written < 0 && errno == EINTR) continue;
    const bool timed_out = written < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
    MarkBroken(timed_out ? "timed out sending the command" : "connection lost while sending",
               sent > 0, timed_out);
    return false;
  }

  replies.reserve(commands.size());
  for (std::size_t i = 0; i < commands.size(); ++i) {
    void* reply = nullptr;
    if (redisGetReply(context_.get(), &reply) != REDIS_OK || reply == nullptr) {
      MarkBroken(DescribeReadFailure(*context_), true, ReadTimedOut(*context_));
      return false;
    }
    replies.emplace_back(static_cast<redisReply*>(reply));
  }
  return true;
}

ConnectionPool::ConnectionPool(Endpoint endpoint, std::size_t size, SetUp set_up)
    : endpoint_(std::move(endpoint)),
      size_(std::max<std::size_t>(size, 1)),
      set_up_(std::move(set_up)) {}

ConnectionPool::~ConnectionPool() = default;

ConnectionPool::Lease::~Lease() {
  if (pool_ != nullptr && connection_ != nullptr) pool_->Return(std::move(connection_));
}

Result<ConnectionPool::Lease> ConnectionPool::Acquire(Pick pick) {
  const bool fresh = pick == Pick::kFresh;
  const auto deadline = steady_clock::now() + endpoint_.command_timeout;
  std::vector<std::unique_ptr<Connection>> closing;  // closed after the lock is released
  std::unique_lock lock(mutex_);
  for (;;) {
    if (!fresh) {
      while (!idle_.empty()) {
        std::unique_ptr<Connection> candidate = std::move(idle_.back());
        idle_.pop_back();
        if (pick == Pick::kUnchecked || candidate->LooksIdleAndOpen()) {
          return Lease(this, std::move(candidate));
        }
        closing.push_back(std::move(candidate));
        --open_;
      }
    } else if (open_ >= size_ && !idle_.empty()) {
      closing.push_back(std::move(idle_.front()));  // the least recently used
      idle_.erase(idle_.begin());
      --open_;
    }
    if (open_ < size_) break;
    if (slot_freed_.wait_until(lock, deadline) == std::cv_status::timeout && open_ >= size_ &&
        idle_.empty()) {
      return Status::Unavailable("redis: every pooled connection stayed busy");
    }
  }
  ++open_;
  lock.unlock();
  closing.clear();

  Result<std::unique_ptr<Connection>> opened = Connection::Open(endpoint_);
  Status ready = opened.ok() ? Status::Ok() : opened.status();
  if (ready.ok() && set_up_) ready = set_up_(**opened);
  if (!ready.ok()) {
    {
      std::lock_guard relock(mutex_);
      --open_;
    }
    slot_freed_.notify_one();
    return ready;  // a connection that failed its set-up is closed here
  }
  return Lease(this, std::move(opened).value());
}

void ConnectionPool::Return(std::unique_ptr<Connection> connection) {
  std::unique_ptr<Connection> closing;
  {
    std::lock_guard lock(mutex_);
    if (connection->broken()) {
      closing = std::move(connection);
      --open_;
    } else {
      idle_.push_back(std::move(connection));
    }
  }
  slot_freed_.notify_one();
}

}  // namespace credstore::redis_internal
