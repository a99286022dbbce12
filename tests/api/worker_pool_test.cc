// The worker pools' scheduling (adapters/http/src/worker_pool.h): the hashing pool's threads run
// SCHED_IDLE or niced as asked, and a pool asked for nothing runs like the thread that made it.
// Read back from inside a task, on the pool's own thread, with the calls the pool uses.
#include <sched.h>
#include <sys/resource.h>
#include <unistd.h>

#include <boost/test/unit_test.hpp>
#include <future>

#include "worker_pool.h"

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

BOOST_AUTO_TEST_SUITE_END()

}  // namespace credstore::http
