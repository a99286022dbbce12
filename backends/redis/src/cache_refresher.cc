#include "cache_refresher.h"

#include <algorithm>
#include <utility>

namespace credstore::redis_internal {

CacheRefresher::CacheRefresher(std::size_t capacity, Refresh refresh)
    : capacity_(std::max<std::size_t>(capacity, 1)),
      refresh_(std::move(refresh)),
      thread_([this] { Run(); }) {}

CacheRefresher::~CacheRefresher() {
  {
    std::lock_guard lock(mutex_);
    stop_ = true;
    keys_.clear();
  }
  wake_.notify_one();
  thread_.join();
}

bool CacheRefresher::TryQueue(std::string_view redis_key) {
  {
    std::unique_lock lock(mutex_, std::try_to_lock);
    if (!lock.owns_lock() || stop_ || keys_.size() >= capacity_) return false;
    keys_.emplace_back(redis_key);
  }
  wake_.notify_one();
  return true;
}

void CacheRefresher::Run() {
  for (;;) {
    std::string key;
    {
      std::unique_lock lock(mutex_);
      wake_.wait(lock, [this] { return stop_ || !keys_.empty(); });
      if (stop_) return;
      key = std::move(keys_.front());
      keys_.pop_front();
    }
    try {
      refresh_(key);
    } catch (...) {
      // Out of memory, most likely: the entry expires and its next read misses, as without us.
    }
  }
}

}  // namespace credstore::redis_internal
