#include "measure.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <numeric>
#include <sstream>
#include <thread>

namespace credstore::bench {

namespace {

using Clock = std::chrono::steady_clock;

// Every call's latency and the time spent inside calls, per thread, over one or more slices.
struct Samples {
  explicit Samples(int threads) : latencies_ns(threads), busy(threads), next(threads, 0) {}
  std::vector<std::vector<std::uint32_t>> latencies_ns;
  std::vector<Clock::duration> busy;
  std::vector<std::uint64_t> next;  // each thread's next iteration number
};

// Runs one slice: every thread calls `operation` until `duration` has passed and it made at
// least `min_operations` calls in this slice (at most `max_operations` in all).
void RunSlice(const std::string& name, std::chrono::milliseconds duration,
              const Operation& operation, std::uint64_t min_operations, const Preparation& prepare,
              std::uint64_t max_operations, Samples& samples) {
  const int threads = static_cast<int>(samples.latencies_ns.size());
  std::vector<std::thread> workers;
  const auto deadline = Clock::now() + duration;
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      auto& mine = samples.latencies_ns[t];
      if (mine.capacity() == 0) mine.reserve(1 << 16);
      std::uint64_t& i = samples.next[t];
      const std::uint64_t first = i;
      Clock::duration busy{};
      while (i < max_operations && (i - first < min_operations || Clock::now() < deadline)) {
        if (prepare) prepare(t, i);
        const auto start = Clock::now();
        const bool ok = operation(t, i);
        const auto elapsed = Clock::now() - start;
        if (!ok) {
          std::cerr << "benchmark " << name << ": operation failed at iteration " << i << "\n";
          std::exit(1);
        }
        busy += elapsed;
        mine.push_back(static_cast<std::uint32_t>(
            std::min<std::int64_t>(std::chrono::nanoseconds(elapsed).count(), UINT32_MAX)));
        ++i;
      }
      samples.busy[t] += busy;
    });
  }
  for (auto& worker : workers) worker.join();
}

Measurement Summarize(const std::string& name, const Samples& samples) {
  const int threads = static_cast<int>(samples.latencies_ns.size());
  std::vector<std::uint32_t> all;
  for (const auto& v : samples.latencies_ns) all.insert(all.end(), v.begin(), v.end());
  Measurement m;
  m.name = name;
  m.threads = threads;
  m.operations = all.size();
  if (all.empty()) return m;
  std::sort(all.begin(), all.end());
  auto percentile = [&](double p) {
    return all[std::min(all.size() - 1, static_cast<std::size_t>(p * (all.size() - 1)))] / 1000.0;
  };
  m.p50_us = percentile(0.50);
  m.p99_us = percentile(0.99);
  m.mean_us = std::accumulate(all.begin(), all.end(), 0.0) / all.size() / 1000.0;
  // Throughput counts time inside the calls only, so untimed preparation does not dilute it.
  for (int t = 0; t < threads; ++t) {
    const double seconds = std::chrono::duration<double>(samples.busy[t]).count();
    if (seconds > 0) m.ops_per_second += samples.latencies_ns[t].size() / seconds;
  }
  return m;
}

}  // namespace

Measurement Measure(const std::string& name, int threads, std::chrono::milliseconds duration,
                    const Operation& operation, std::uint64_t min_operations,
                    const Preparation& prepare, std::uint64_t max_operations) {
  Samples samples(threads);
  RunSlice(name, duration, operation, min_operations, prepare, max_operations, samples);
  return Summarize(name, samples);
}

std::pair<Measurement, Measurement> MeasurePair(const Contender& a, const Contender& b, int threads,
                                                std::chrono::milliseconds duration, int rounds,
                                                std::uint64_t min_operations) {
  Samples a_samples(threads), b_samples(threads);
  const auto slice = std::max(std::chrono::milliseconds(1), duration / std::max(rounds, 1));
  const std::uint64_t min_per_slice = (min_operations + rounds - 1) / std::max(rounds, 1);
  for (int round = 0; round < rounds; ++round) {
    RunSlice(a.name, slice, a.operation, min_per_slice, a.prepare, UINT64_MAX, a_samples);
    RunSlice(b.name, slice, b.operation, min_per_slice, b.prepare, UINT64_MAX, b_samples);
  }
  return {Summarize(a.name, a_samples), Summarize(b.name, b_samples)};
}

void Print(const Measurement& m) {
  std::printf("  %-44s %2d thr %12.0f ops/s   p50 %9.2f us   p99 %9.2f us\n", m.name.c_str(),
              m.threads, m.ops_per_second, m.p50_us, m.p99_us);
  std::fflush(stdout);
}

std::string ToJson(const Measurement& m) {
  std::ostringstream out;
  out << "{\"name\":\"" << m.name << "\",\"threads\":" << m.threads
      << ",\"operations\":" << m.operations << ",\"ops_per_second\":" << m.ops_per_second
      << ",\"p50_us\":" << m.p50_us << ",\"p99_us\":" << m.p99_us << ",\"mean_us\":" << m.mean_us
      << "}";
  return out.str();
}

}  // namespace credstore::bench
