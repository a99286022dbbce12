// The worker pools (adapters/http/src/worker_pool.h). Scheduling: the hashing pool's threads run
// SCHED_IDLE or niced as asked, and a pool asked for nothing runs like the thread that made it,
// read back from inside a task, on the pool's own thread, with the calls the pool uses.
// Deadlines: a task that waited past its deadline never runs and its `expired` answers instead,
// whether a pool thread reaches it or ExpireOverdue finds it first.
#include "worker_pool.h"

#include <sched.h>
#include <sys/resource.h>
#include <unistd.h>

#include <atomic>
#include <boost/test/unit_test.hpp>
#include <chrono>
#include <future>
#include <thread>

namespace credstore::http {
namespace {

struct Observed {
  int policy = -1;
  int nice = -100;
};

// What a task on one of `pool`'s threads sees of its own scheduling.
Observed ObserveOnPool(WorkerPool& pool) {
  std::promise<Observed> seen;
  BOOST_TEST_REQUIRE(pool.TryPost([&seen] {
    seen.set_value(Observed{::sched_getscheduler(0),
                            ::getpriority(PRIO_PROCESS, static_cast<id_t>(::gettid()))});
  }));
  return seen.get_future().get();
}

}  // namespace

BOOST_AUTO_TEST_SUITE(worker_pool)

BOOST_AUTO_TEST_CASE(threads_run_idle_niced_or_as_their_creator_as_asked) {
  const int own_policy = ::sched_getscheduler(0);
  const int own_nice = ::getpriority(PRIO_PROCESS, static_cast<id_t>(::gettid()));

  WorkerPool idle("idle", 1, 1, WorkerPool::Scheduling{.idle = true, .nice = 10});
  BOOST_TEST(ObserveOnPool(idle).policy == SCHED_IDLE);

  WorkerPool niced("niced", 1, 1, WorkerPool::Scheduling{.idle = false, .nice = 7});
  const Observed at_seven = ObserveOnPool(niced);
  BOOST_TEST(at_seven.policy == own_policy);
  // Only root may lower a thread's nice value; the tests run as root, where 7 is always set.
  BOOST_TEST(at_seven.nice == (::geteuid() == 0 || own_nice <= 7 ? 7 : own_nice));

  WorkerPool plain("plain", 1, 1);
  const Observed as_creator = ObserveOnPool(plain);
  BOOST_TEST(as_creator.policy == own_policy);
  BOOST_TEST(as_creator.nice == own_nice);
}

// Holds a pool's only thread busy until Release(), so that what is posted after waits.
class Blocker {
 public:
  explicit Blocker(WorkerPool& pool) {
    BOOST_TEST_REQUIRE(pool.TryPost([this] {
      started_.set_value();
      release_.get_future().wait();
    }));
    started_.get_future().wait();
  }
  void Release() { release_.set_value(); }

 private:
  std::promise<void> started_;
  std::promise<void> release_;
};

using Clock = WorkerPool::Clock;
using namespace std::chrono_literals;

BOOST_AUTO_TEST_CASE(a_task_past_its_deadline_is_answered_by_expired_when_a_thread_reaches_it) {
  WorkerPool pool("deadlines", 1, 4);
  Blocker blocker(pool);
  std::atomic<bool> ran{false};
  std::promise<std::thread::id> expired_on;
  BOOST_TEST_REQUIRE(
      pool.TryPost([&ran] { ran = true; }, Clock::now() + 1ms,
                   [&expired_on] { expired_on.set_value(std::this_thread::get_id()); }));
  std::promise<void> on_time;
  BOOST_TEST_REQUIRE(pool.TryPost([&on_time] { on_time.set_value(); }, Clock::now() + 1h,
                                  [] { BOOST_ERROR("a task within its deadline expired"); }));
  std::this_thread::sleep_for(20ms);  // past the first deadline, while the thread is held
  blocker.Release();

  const std::thread::id expirer = expired_on.get_future().get();
  on_time.get_future().get();
  BOOST_TEST(!ran.load(), "the overdue task ran");
  BOOST_TEST((expirer != std::this_thread::get_id()), "expired ran on the pool's thread");
  BOOST_TEST(pool.expired() == 1u);
  BOOST_TEST(pool.rejected() == 0u);
}

BOOST_AUTO_TEST_CASE(expire_overdue_answers_while_every_thread_is_busy) {
  WorkerPool pool("sweep", 1, 4);
  Blocker blocker(pool);
  const Clock::time_point posted = Clock::now();
  int expired = 0;
  std::thread::id expired_on;
  std::atomic<int> ran{0};
  for (int i = 0; i < 2; ++i) {
    BOOST_TEST_REQUIRE(pool.TryPost([&ran] { ++ran; }, posted + 10ms,
                                    [&] {
                                      ++expired;
                                      expired_on = std::this_thread::get_id();
                                    }));
  }
  BOOST_TEST_REQUIRE(pool.TryPost([&ran] { ++ran; }, posted + 1h, [] {}));
  BOOST_TEST_REQUIRE(pool.TryPost([&ran] { ++ran; }));  // no deadline at all
  BOOST_TEST(pool.queue_depth() == 4u);

  BOOST_TEST(pool.ExpireOverdue(posted + 5ms) == 0u, "nothing is overdue yet");
  BOOST_TEST(pool.ExpireOverdue(posted + 11ms) == 2u);
  BOOST_TEST(expired == 2);
  BOOST_TEST((expired_on == std::this_thread::get_id()), "expired runs on the caller's thread");
  BOOST_TEST(pool.queue_depth() == 2u, "the other tasks keep their places");
  BOOST_TEST(pool.expired() == 2u);
  // The places the expired tasks held are free again, and then the queue is full.
  std::promise<void> drained;  // one thread, first in first out: the others ran before it
  BOOST_TEST_REQUIRE(pool.TryPost([&ran] { ++ran; }));
  BOOST_TEST_REQUIRE(pool.TryPost([&ran, &drained] {
    ++ran;
    drained.set_value();
  }));
  BOOST_TEST(!pool.TryPost([] {}));

  blocker.Release();
  drained.get_future().get();
  BOOST_TEST(ran.load() == 4, "every task but the expired ones ran");
  BOOST_TEST(expired == 2, "the tasks within their deadlines never expired");
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace credstore::http
