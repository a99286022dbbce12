#include "access_log_queue.h"

#include <utility>

namespace credstore::http {
namespace {

// How long a line may wait in a buffer: short enough that `tail -f` looks live.
constexpr std::chrono::milliseconds kWriteInterval{20};

std::atomic<std::uint64_t> next_queue_id{1};

}  // namespace

AccessLogQueue::AccessLogQueue(std::function<void(std::string_view lines)> sink,
                               std::size_t per_thread_bytes)
    : sink_(std::move(sink)),
      per_thread_bytes_(per_thread_bytes),
      id_(next_queue_id.fetch_add(1, std::memory_order_relaxed)),
      writer_([this] { WriterLoop(); }) {}

AccessLogQueue::~AccessLogQueue() {
  {
    std::lock_guard<std::mutex> lock(wake_mutex_);
    stopping_ = true;
  }
  wake_.notify_one();
  writer_.join();
  WriteBuffered();
}

AccessLogQueue::Buffer& AccessLogQueue::ThisThreadBuffer() {
  // Keyed by a never-reused id, not the address: a new queue at a dead one's address must not
  // inherit its buffer.
  thread_local std::uint64_t cached_id = 0;
  thread_local Buffer* cached = nullptr;
  if (cached_id == id_) return *cached;
  std::lock_guard<std::mutex> lock(buffers_mutex_);
  buffers_.push_back(std::make_unique<Buffer>());
  cached_id = id_;
  cached = buffers_.back().get();
  return *cached;
}

void AccessLogQueue::Append(std::string_view line) {
  Buffer& buffer = ThisThreadBuffer();
  std::lock_guard<std::mutex> lock(buffer.mutex);  // the writer holds it only to swap
  if (buffer.lines.size() + line.size() + 1 > per_thread_bytes_) {
    dropped_.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  buffer.lines.append(line);
  buffer.lines.push_back('\n');
}

void AccessLogQueue::Flush() { WriteBuffered(); }

void AccessLogQueue::WriterLoop() {
  std::unique_lock<std::mutex> lock(wake_mutex_);
  while (!stopping_) {
    wake_.wait_for(lock, kWriteInterval, [this] { return stopping_; });
    lock.unlock();
    WriteBuffered();
    lock.lock();
  }
}

void AccessLogQueue::WriteBuffered() {
  std::lock_guard<std::mutex> write_lock(write_mutex_);
  std::vector<Buffer*> buffers;
  {
    std::lock_guard<std::mutex> lock(buffers_mutex_);
    for (const auto& buffer : buffers_) buffers.push_back(buffer.get());
  }
  std::string taken;
  for (Buffer* buffer : buffers) {
    {
      std::lock_guard<std::mutex> lock(buffer->mutex);
      taken.swap(buffer->lines);
    }
    std::string_view rest = taken;
    while (!rest.empty()) {
      // The longest run of whole lines that fits a block, or the first line when it alone does
      // not (every line ends in a newline: Append puts one after each).
      std::size_t end =
          rest.size() <= kMaxBlockBytes ? rest.size() : rest.rfind('\n', kMaxBlockBytes - 1) + 1;
      if (end == 0) end = rest.find('\n') + 1;
      try {
        sink_(rest.substr(0, end));
      } catch (...) {
        // A sink that fails must not stop the log: the block is lost, the next one is tried.
      }
      rest.remove_prefix(end);
    }
    taken.clear();  // keeps its capacity for the next swap
  }
}

}  // namespace credstore::http
