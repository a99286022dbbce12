// credstore/http/metrics.h — counters the server keeps and /metrics renders.
//
// Requests by route template and status, a latency histogram per route template, worker pool
// queue depths, and the store's own counters (Argon2id work, throttling). Routes are named by
// template, never by raw target, so no key ever reaches a metric label.
//
// Counting is per thread: each thread that records requests gets a shard of its own (its lock is
// uncontended but for a scrape), and RenderPrometheus merges the shards.
//
// Thread safety: every method may be called from many threads at once.
#ifndef CREDSTORE_HTTP_METRICS_H_
#define CREDSTORE_HTTP_METRICS_H_

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

namespace credstore::http {

class Metrics {
 public:
  Metrics();
  ~Metrics();

  // One finished request: `listener` is "public" or "operator".
  void RecordRequest(std::string_view listener, std::string_view route_template, unsigned status,
                     std::chrono::microseconds latency);

  // A gauge read when /metrics is rendered (pool queue depths, busy workers, open sessions).
  // `name` is a full Prometheus metric name; `labels` like `pool="hashing"` (may be empty).
  void AddGauge(std::string name, std::string labels, std::string help,
                std::function<double()> read);

  // The Prometheus text exposition format (version 0.0.4).
  std::string RenderPrometheus() const;

 private:
  struct State;
  struct Shard;
  // The calling thread's shard, created on its first request.
  Shard& ThisThreadShard();

  std::unique_ptr<State> state_;
};

}  // namespace credstore::http

#endif  // CREDSTORE_HTTP_METRICS_H_
