#include "measure.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <numeric>
#include <sstream>
#include <thread>

namespace credstore::bench {

Measurement Measure(const std::string& name, int threads, std::chrono::milliseconds duration,
                    const Operation& operation, std::uint64_t min_operations,
                    const Preparation& prepare, std::uint64_t max_operations) {
  using Clock = std::chrono::steady_clock;
  std::vector<std::vector<std::uint32_t>> latencies_ns(threads);
  std::vector<double> busy_seconds(threads, 0);
  std::vector<std::thread> workers;
  const auto deadline = Clock::now() + duration;
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      auto& mine = latencies_ns[t];
      mine.reserve(1 << 16);
      std::uint64_t i = 0;
      Clock::duration busy{};
      while (i < max_operations && (i < min_operations || Clock::now() < deadline)) {
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
      busy_seconds[t] = std::chrono::duration<double>(busy).count();
    });
  }
  for (auto& worker : workers) worker.join();

  std::vector<std::uint32_t> all;
  for (const auto& v : latencies_ns) all.insert(all.end(), v.begin(), v.end());
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
  double rate = 0;
  for (int t = 0; t < threads; ++t) {
    if (busy_seconds[t] > 0) rate += latencies_ns[t].size() / busy_seconds[t];
  }
  m.ops_per_second = rate;
  return m;
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
