// Internal to credstore::redis: reads near-cache keys again before they reach the cache's
// maximum age, on a thread of its own (NearCache::Limits::refresh_after).
//
// Without it a key in steady use misses once every `cache_max_age`, and the read that misses
// waits for a Redis round trip (tens of microseconds, against a hit's one) on the thread that
// serves the request. The hit that finds its entry late in its age queues the key here instead
// and is answered from the entry; this thread reads the key (a tracked read, filling the cache
// by the usual rule) and the entry is replaced while it is still answered.
//
// Thread safety: TryQueue may be called from many threads at once; it never waits.
#ifndef CREDSTORE_BACKENDS_REDIS_SRC_CACHE_REFRESHER_H_
#define CREDSTORE_BACKENDS_REDIS_SRC_CACHE_REFRESHER_H_

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>

namespace credstore::redis_internal {

class CacheRefresher {
 public:
  // Reads one key again; called on the refresher's thread, one key at a time.
  using Refresh = std::function<void(const std::string& redis_key)>;

  // Starts the thread. At most `capacity` (>= 1) keys wait for it.
  CacheRefresher(std::size_t capacity, Refresh refresh);
  // Drops the keys still waiting, waits for the refresh under way, joins the thread.
  ~CacheRefresher();

  CacheRefresher(const CacheRefresher&) = delete;
  CacheRefresher& operator=(const CacheRefresher&) = delete;

  // Queues `redis_key` and returns true; false at once, queuing nothing, when the queue is full
  // or another thread holds its lock (the caller may serve I/O, and an unrefreshed entry only
  // expires as it would have). Then the entry is read again when it misses.
  bool TryQueue(std::string_view redis_key);

 private:
  void Run();

  const std::size_t capacity_;
  const Refresh refresh_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<std::string> keys_;  // guarded by mutex_
  bool stop_ = false;             // guarded by mutex_
  std::thread thread_;            // last: started once everything above is ready
};

}  // namespace credstore::redis_internal

#endif  // CREDSTORE_BACKENDS_REDIS_SRC_CACHE_REFRESHER_H_
