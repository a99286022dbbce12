// worker_pool.h — a fixed set of threads behind a bounded queue.
//
// The HTTP server runs blocking work (Argon2id, storage calls) on two of these, never on an I/O
// thread. The queue is bounded and TryPost never waits: a full queue is the caller's cue to
// answer 503 at once, because a queued request that waits longer than its client does is wasted
// work and memory. For the same reason a task may carry a deadline: one still waiting when it
// passes is taken out of the queue unrun, and its `expired` callback answers instead.
//
// Thread safety: every method may be called from many threads at once.
#ifndef CREDSTORE_HTTP_SRC_WORKER_POOL_H_
#define CREDSTORE_HTTP_SRC_WORKER_POOL_H_

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace credstore::http {

// How a pool's threads are scheduled (Linux keeps both per thread; lowering either needs no
// privilege, and a pool that cannot lower them only loses its yielding).
struct PoolScheduling {
  // SCHED_IDLE: the threads run only on CPU time no other thread of the machine wants.
  bool idle = false;
  // > 0: the nice value of the threads (ignored when idle), so they yield the CPU to the rest of
  // the process, but still get a small, steady share of a busy machine.
  int nice = 0;
};

class WorkerPool {
 public:
  using Scheduling = PoolScheduling;
  using Clock = std::chrono::steady_clock;

  // Starts `workers` (>= 1) threads, scheduled as `scheduling` says. At most `queue_capacity`
  // tasks wait for a thread; tasks already running do not count against it.
  WorkerPool(std::string name, std::size_t workers, std::size_t queue_capacity,
             Scheduling scheduling = {});
  // Drops waiting tasks and joins the threads (see Shutdown).
  ~WorkerPool();

  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

  // Queues `task` and returns true, or returns false at once (the task is not kept) when the
  // queue is full or the pool is shut down. A task must not throw; it runs on a pool thread.
  [[nodiscard]] bool TryPost(std::function<void()> task);

  // As TryPost(task), but the task may wait for a thread only until `deadline`. Once it has
  // passed, the task is never run: it leaves the queue and `expired` runs in its place, on the
  // thread that finds it overdue — a pool thread about to start it, or a caller of
  // ExpireOverdue. Neither callback may throw; `expired` must not block, since that thread may
  // be one that serves I/O.
  [[nodiscard]] bool TryPost(std::function<void()> task, Clock::time_point deadline,
                             std::function<void()> expired);

  // True when a task posted now would find a place; false, counted as a rejection, when the
  // queue is full or the pool shut down. For a caller with work to do before it posts (work
  // that a refusal would waste); the place is not kept for it, so TryPost may still refuse.
  [[nodiscard]] bool HasRoom();

  // Takes every waiting task whose deadline is before `now` out of the queue and runs their
  // `expired` callbacks on the calling thread, outside the pool's lock. Returns how many. Pool
  // threads check a task's deadline before they start it; this bounds the wait even while they
  // get no CPU at all (a SCHED_IDLE pool on a saturated machine).
  std::size_t ExpireOverdue(Clock::time_point now);

  // Destroys the tasks still waiting (they never run); running tasks are not interrupted.
  void DropQueued();

  // Refuses new tasks, drops waiting ones, waits for running ones, joins the threads.
  // Idempotent.
  void Shutdown();

  const std::string& name() const { return name_; }
  std::size_t workers() const { return workers_; }
  std::size_t queue_capacity() const { return queue_capacity_; }
  // Tasks waiting for a thread.
  std::size_t queue_depth() const;
  // Threads running a task.
  std::size_t busy() const { return busy_.load(std::memory_order_relaxed); }
  // Tasks refused because the queue was full, since the pool started.
  std::uint64_t rejected() const { return rejected_.load(std::memory_order_relaxed); }
  // Tasks that waited past their deadline and were answered by `expired`, since the pool
  // started.
  std::uint64_t expired() const { return expired_.load(std::memory_order_relaxed); }

 private:
  // A waiting task; `deadline` is Clock::time_point::max() for one posted without.
  struct Queued {
    std::function<void()> task;
    std::function<void()> expired;
    Clock::time_point deadline;
  };

  bool Enqueue(Queued queued);
  void WorkerLoop();

  const std::string name_;
  const std::size_t workers_;
  const std::size_t queue_capacity_;

  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<Queued> queue_;  // guarded by mutex_
  bool shut_down_ = false;    // guarded by mutex_

  std::atomic<std::size_t> busy_{0};
  std::atomic<std::uint64_t> rejected_{0};
  std::atomic<std::uint64_t> expired_{0};
  std::vector<std::thread> threads_;
  std::once_flag join_once_;
};

}  // namespace credstore::http

#endif  // CREDSTORE_HTTP_SRC_WORKER_POOL_H_
