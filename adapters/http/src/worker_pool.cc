#include "worker_pool.h"

#include <sched.h>
#include <sys/resource.h>
#include <unistd.h>

#include <utility>

namespace credstore::http {

namespace {

// Applies `scheduling` to the calling thread. Failing is harmless (the pool only loses its
// yielding), so the results are not checked.
void ScheduleThisThread(const WorkerPool::Scheduling& scheduling) {
  if (scheduling.idle) {
    const sched_param param{};                          // SCHED_IDLE takes priority 0
    (void)::sched_setscheduler(0, SCHED_IDLE, &param);  // 0: the calling thread
  } else if (scheduling.nice > 0) {
    (void)::setpriority(PRIO_PROCESS, static_cast<id_t>(::gettid()), scheduling.nice);
  }
}

}  // namespace

WorkerPool::WorkerPool(std::string name, std::size_t workers, std::size_t queue_capacity,
                       Scheduling scheduling)
    : name_(std::move(name)),
      workers_(workers == 0 ? 1 : workers),
      queue_capacity_(queue_capacity) {
  threads_.reserve(workers_);
  for (std::size_t i = 0; i < workers_; ++i) {
    threads_.emplace_back([this, scheduling] {
      ScheduleThisThread(scheduling);
      WorkerLoop();
    });
  }
}

WorkerPool::~WorkerPool() { Shutdown(); }

bool WorkerPool::TryPost(std::function<void()> task) {
  return Enqueue(Queued{std::move(task), nullptr, Clock::time_point::max()});
}

bool WorkerPool::TryPost(std::function<void()> task, Clock::time_point deadline,
                         std::function<void()> expired) {
  return Enqueue(Queued{std::move(task), std::move(expired), deadline});
}

bool WorkerPool::Enqueue(Queued queued) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (shut_down_ || queue_.size() >= queue_capacity_) {
      rejected_.fetch_add(1, std::memory_order_relaxed);
      return false;
    }
    queue_.push_back(std::move(queued));
  }
  wake_.notify_one();
  return true;
}

bool WorkerPool::HasRoom() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!shut_down_ && queue_.size() < queue_capacity_) return true;
  }
  rejected_.fetch_add(1, std::memory_order_relaxed);
  return false;
}

std::size_t WorkerPool::ExpireOverdue(Clock::time_point now) {
  std::vector<Queued> overdue;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    std::erase_if(queue_, [&](Queued& queued) {
      if (queued.deadline >= now) return false;
      overdue.push_back(std::move(queued));  // the moved-from husk is what erase_if drops
      return true;
    });
  }
  expired_.fetch_add(overdue.size(), std::memory_order_relaxed);
  // Outside the lock, as in DropQueued: captures may run arbitrary destructors, and the
  // callbacks may post to this pool.
  for (Queued& queued : overdue) {
    queued.task = nullptr;  // dies unrun; its callback answers in its place
    queued.expired();
  }
  return overdue.size();
}

void WorkerPool::DropQueued() {
  std::deque<Queued> dropped;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    dropped.swap(queue_);
  }
  // The tasks die here, outside the lock: their captures may run arbitrary destructors.
}

void WorkerPool::Shutdown() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    shut_down_ = true;
  }
  DropQueued();
  wake_.notify_all();
  std::call_once(join_once_, [this] {
    for (std::thread& thread : threads_) {
      if (thread.joinable()) thread.join();
    }
  });
}

std::size_t WorkerPool::queue_depth() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return queue_.size();
}

void WorkerPool::WorkerLoop() {
  for (;;) {
    Queued queued;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      wake_.wait(lock, [this] { return shut_down_ || !queue_.empty(); });
      if (queue_.empty()) return;  // shut down and nothing left to run
      queued = std::move(queue_.front());
      queue_.pop_front();
      busy_.fetch_add(1, std::memory_order_relaxed);
    }
    if (queued.deadline != Clock::time_point::max() && queued.deadline < Clock::now()) {
      queued.task = nullptr;  // as ExpireOverdue: the task dies unrun, its callback answers
      expired_.fetch_add(1, std::memory_order_relaxed);
      queued.expired();
    } else {
      queued.task();
    }
    queued = Queued{};  // release captures before the thread counts as idle again
    busy_.fetch_sub(1, std::memory_order_relaxed);
  }
}

}  // namespace credstore::http
