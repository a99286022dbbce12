// A small benchmark harness: run an operation on N threads for a fixed time, time every call,
// and report throughput and latency percentiles. Ratios between two measurements taken in the
// same process are what credstore's benchmarks judge; absolute numbers drift with the machine.
// A call and its floor are measured interleaved (MeasurePair), so a change in the machine's load
// during the run hits both alike instead of skewing their ratio.
#ifndef CREDSTORE_BENCH_MEASURE_H_
#define CREDSTORE_BENCH_MEASURE_H_

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

namespace credstore::bench {

struct Measurement {
  std::string name;
  int threads = 1;
  std::uint64_t operations = 0;
  double ops_per_second = 0;  // threads × calls / time spent inside the calls
  double p50_us = 0;
  double p99_us = 0;
  double mean_us = 0;
};

using Operation = std::function<bool(int thread, std::uint64_t iteration)>;
using Preparation = std::function<void(int thread, std::uint64_t iteration)>;

// Calls `operation(thread_index, iteration)` on `threads` threads until `duration` has passed
// (and at least `min_operations` calls per thread were made, at most `max_operations`). Only the
// operation is timed: `prepare`, when given, runs untimed before each call (e.g. a client
// signing the request the operation verifies). An operation that returns false is an error: the
// benchmark aborts with a message.
Measurement Measure(const std::string& name, int threads, std::chrono::milliseconds duration,
                    const Operation& operation, std::uint64_t min_operations = 10,
                    const Preparation& prepare = nullptr,
                    std::uint64_t max_operations = 50'000'000);

// One side of MeasurePair.
struct Contender {
  std::string name;
  Operation operation;
  Preparation prepare = nullptr;
};

// Measures `a` and `b` on `threads` threads in `rounds` alternating slices (a, b, a, b, ...) of
// duration / rounds each, and at least `min_operations` calls per thread and side. Iteration
// numbers keep counting across slices, so operations that need unique inputs still get them.
std::pair<Measurement, Measurement> MeasurePair(const Contender& a, const Contender& b, int threads,
                                                std::chrono::milliseconds duration, int rounds = 8,
                                                std::uint64_t min_operations = 10);

// "name  threads  ops/s  p50  p99" on stdout.
void Print(const Measurement& m);

// Appends a JSON object for `m` (no trailing comma handling: callers join).
std::string ToJson(const Measurement& m);

}  // namespace credstore::bench

#endif  // CREDSTORE_BENCH_MEASURE_H_
