#include "invalidation_subscriber.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <string_view>
#include <utility>

namespace credstore::redis_internal {
namespace {

using std::chrono::milliseconds;
using std::chrono::steady_clock;

constexpr std::string_view kPing = "*1\r\n$4\r\nPING\r\n";

bool IsString(const redisReply& reply) {
  return reply.type == REDIS_REPLY_STRING || reply.type == REDIS_REPLY_STATUS;
}

}  // namespace

InvalidationSubscriber::InvalidationSubscriber(Endpoint endpoint, NearCache& cache, Timing timing)
    : endpoint_(std::move(endpoint)), cache_(cache), timing_(timing) {
  wake_fd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  thread_ = std::thread([this] { Run(); });
}

InvalidationSubscriber::~InvalidationSubscriber() {
  stop_.store(true);
  const std::uint64_t one = 1;
  if (wake_fd_ >= 0) (void)!write(wake_fd_, &one, sizeof one);
  if (thread_.joinable()) thread_.join();
  if (wake_fd_ >= 0) close(wake_fd_);
}

bool InvalidationSubscriber::WaitForStop(milliseconds timeout) {
  if (stop_.load()) return true;
  pollfd wake{};
  wake.fd = wake_fd_;
  wake.events = POLLIN;
  (void)poll(&wake, 1, static_cast<int>(timeout.count()));
  return stop_.load();
}

void InvalidationSubscriber::Lost() {
  // Not live first, then the flush: see live_id().
  live_id_.store(0);
  cache_.Flush();
  cache_.CountSubscriberLoss();
  losses_.fetch_add(1, std::memory_order_relaxed);
}

void InvalidationSubscriber::Run() {
  while (!stop_.load()) {
    Result<std::unique_ptr<Connection>> opened = Connection::Open(endpoint_);
    if (opened.ok()) {
      Serve(**opened);
      if (live_id_.load() != 0) Lost();
    }
    if (WaitForStop(timing_.ping_interval)) break;
  }
  live_id_.store(0);
}

void InvalidationSubscriber::Serve(Connection& connection) {
  ReplyPtr id_reply = connection.Call({"CLIENT", "ID"});
  if (id_reply == nullptr || id_reply->type != REDIS_REPLY_INTEGER || id_reply->integer <= 0) {
    return;
  }
  ReplyPtr subscribed = connection.Call({"SUBSCRIBE", kInvalidationChannel});
  if (subscribed == nullptr || subscribed->type != REDIS_REPLY_ARRAY) return;
  // Live from here on: every invalidation for a read issued from now on reaches this socket.
  live_id_.store(static_cast<std::uint64_t>(id_reply->integer));

  redisContext* context = connection.context();
  auto last_pong = steady_clock::now();
  auto next_ping = last_pong + timing_.ping_interval;
  // Handles every message hiredis has buffered; false when the stream is corrupt.
  const auto drain = [&]() -> bool {
    for (;;) {
      void* raw = nullptr;
      if (redisGetReplyFromReader(context, &raw) != REDIS_OK) return false;
      if (raw == nullptr) return true;
      ReplyPtr message(static_cast<redisReply*>(raw));
      if (message->type != REDIS_REPLY_ARRAY || message->elements < 1 ||
          !IsString(*message->element[0])) {
        continue;
      }
      const std::string_view kind = ReplyText(*message->element[0]);
      if (kind == "pong") {
        last_pong = steady_clock::now();
        continue;
      }
      if (kind != "message" || message->elements != 3) continue;
      const redisReply& keys = *message->element[2];
      if (keys.type == REDIS_REPLY_NIL) {
        cache_.Flush();  // FLUSHALL / FLUSHDB: every key changed
      } else if (IsString(keys)) {
        cache_.Invalidate(ReplyText(keys));
      } else if (keys.type == REDIS_REPLY_ARRAY) {
        for (std::size_t i = 0; i < keys.elements; ++i) {
          if (IsString(*keys.element[i])) cache_.Invalidate(ReplyText(*keys.element[i]));
        }
      } else {
        cache_.Flush();  // a message we cannot read: forget everything rather than guess
      }
    }
  };
  if (!drain()) return;  // the read of SUBSCRIBE's reply may have buffered more
  for (;;) {
    const auto now = steady_clock::now();
    if (now - last_pong >= timing_.pong_timeout) return;
    if (now >= next_ping) {
      if (::send(context->fd, kPing.data(), kPing.size(), MSG_NOSIGNAL | MSG_DONTWAIT) !=
          static_cast<ssize_t>(kPing.size())) {
        return;
      }
      next_ping = now + timing_.ping_interval;
    }
    const auto wait = std::min(next_ping, last_pong + timing_.pong_timeout) - now;
    pollfd fds[2] = {};
    fds[0].fd = context->fd;
    fds[0].events = POLLIN;
    fds[1].fd = wake_fd_;
    fds[1].events = POLLIN;
    const int ready = poll(fds, 2, static_cast<int>(std::chrono::ceil<milliseconds>(wait).count()));
    if (stop_.load()) return;
    if (ready <= 0 || (fds[0].revents & (POLLIN | POLLHUP | POLLERR)) == 0) continue;
    if (redisBufferRead(context) != REDIS_OK) return;  // closed, reset, or killed
    if (!drain()) return;
  }
}

}  // namespace credstore::redis_internal
