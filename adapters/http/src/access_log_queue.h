// access_log_queue.h — access-log lines off the request path.
//
// An I/O thread appends its finished request's line to a buffer of its own and goes on: it
// never waits for the log's file or pipe. One writer thread collects the buffers every few
// milliseconds and hands them to the sink in blocks of whole lines: one write per block, not
// per line, since a system call per request, even on a thread of its own, takes a share of the
// same cores. A thread whose buffer is full (the sink is slower than the traffic) drops the line
// and counts it: an access log may lose lines under overload, a server must not slow down for
// it. Audit events never take this path (they are written
// synchronously by the audit sink), so they are never dropped.
//
// Thread safety: Append may be called from many threads at once; the sink is called from the
// writer thread only (and from the thread that calls Flush or the destructor).
#ifndef CREDSTORE_HTTP_SRC_ACCESS_LOG_QUEUE_H_
#define CREDSTORE_HTTP_SRC_ACCESS_LOG_QUEUE_H_

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace credstore::http {

class AccessLogQueue {
 public:
  // Blocks are at most this long, unless one line alone is longer: writes to a pipe of up to
  // PIPE_BUF (4096 bytes on Linux) are atomic, so another writer's lines never land inside one.
  static constexpr std::size_t kMaxBlockBytes = 4096;

  // `sink` receives blocks of one or more whole lines, each ending in a newline, in the order
  // they were appended per thread. Each appending thread may hold up to `per_thread_bytes` of
  // lines not yet written; beyond that, lines are dropped.
  explicit AccessLogQueue(std::function<void(std::string_view lines)> sink,
                          std::size_t per_thread_bytes = std::size_t{1} << 20);  // default 1 MiB
  // Writes every buffered line, then stops the writer thread.
  ~AccessLogQueue();

  AccessLogQueue(const AccessLogQueue&) = delete;
  AccessLogQueue& operator=(const AccessLogQueue&) = delete;

  // Buffers `line` (no newline) for the writer; drops and counts it when the calling thread's
  // buffer is full. Never waits for the sink.
  void Append(std::string_view line);

  // Writes every line buffered so far before returning.
  void Flush();

  // Lines dropped because a buffer was full, since the queue was created.
  std::uint64_t dropped() const { return dropped_.load(std::memory_order_relaxed); }

 private:
  struct Buffer {
    std::mutex mutex;
    std::string lines;  // newline-separated, guarded by mutex
  };
  Buffer& ThisThreadBuffer();
  void WriterLoop();
  void WriteBuffered();  // takes every buffer's lines and passes them to the sink

  const std::function<void(std::string_view)> sink_;
  const std::size_t per_thread_bytes_;
  const std::uint64_t id_;  // tells queues apart in ThisThreadBuffer

  std::mutex buffers_mutex_;
  std::vector<std::unique_ptr<Buffer>> buffers_;  // guarded by buffers_mutex_; never shrinks
  std::mutex write_mutex_;                        // one WriteBuffered at a time: lines in order

  std::mutex wake_mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;  // guarded by wake_mutex_
  std::atomic<std::uint64_t> dropped_{0};
  std::thread writer_;
};

}  // namespace credstore::http

#endif  // CREDSTORE_HTTP_SRC_ACCESS_LOG_QUEUE_H_
