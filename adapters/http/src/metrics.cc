#include "credstore/http/metrics.h"

#include <array>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <iterator>
#include <sstream>
#include <tuple>
#include <utility>

namespace credstore::http {
namespace {

// Latency buckets, in seconds: from a cache-speed settings read (~1 ms) to an Argon2id call
// queued behind others (~1 s), with room above for a slow backend.
constexpr std::array<double, 14> kLatencyBuckets = {
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0};

// A label value in the exposition format: backslash, double quote and newline escaped.
std::string EscapeLabel(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (char c : value) {
    switch (c) {
      case '\\':
        out += "\\\\";
        break;
      case '"':
        out += "\\\"";
        break;
      case '\n':
        out += "\\n";
        break;
      default:
        out += c;
    }
  }
  return out;
}

// HELP text: backslash and newline escaped.
std::string EscapeHelp(std::string_view text) {
  std::string out;
  for (char c : text) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

// Numbers as Prometheus reads them: integers without a fraction, the rest with enough digits.
std::string FormatNumber(double value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
  char buffer[64];
  if (value == std::floor(value) && std::fabs(value) < 1e15) {
    std::snprintf(buffer, sizeof(buffer), "%.0f", value);
  } else {
    std::snprintf(buffer, sizeof(buffer), "%.9g", value);
  }
  return buffer;
}

struct Histogram {
  std::array<std::uint64_t, kLatencyBuckets.size()> buckets{};  // non-cumulative counts
  std::uint64_t count = 0;
  double sum_seconds = 0;
};

struct Gauge {
  std::string labels;
  std::function<double()> read;
};

struct GaugeFamily {
  std::string help;
  std::vector<Gauge> gauges;
};

}  // namespace

// Orders the shards' keys — (listener, route template[, status]) — whether held as strings or
// given as views, so that counting a request looks its key up without allocating.
struct ViewLess {
  using is_transparent = void;

  static std::tuple<std::string_view, std::string_view, unsigned> View(
      const std::tuple<std::string, std::string, unsigned>& key) {
    return {std::get<0>(key), std::get<1>(key), std::get<2>(key)};
  }
  static std::tuple<std::string_view, std::string_view> View(
      const std::tuple<std::string, std::string>& key) {
    return {std::get<0>(key), std::get<1>(key)};
  }
  template <class... Views>
  static const std::tuple<Views...>& View(const std::tuple<Views...>& key) {
    return key;
  }

  template <class A, class B>
  bool operator()(const A& a, const B& b) const {
    return View(a) < View(b);
  }
};

// One I/O thread's counts. Only its own thread writes them; /metrics merges every shard. The
// shard's mutex is therefore uncontended except during a scrape.
struct Metrics::Shard {
  std::mutex mutex;
  // (listener, route template, status) -> requests; ViewLess finds a key by string_view, so
  // counting a request allocates nothing once its key exists.
  std::map<std::tuple<std::string, std::string, unsigned>, std::uint64_t, ViewLess> requests;
  // (listener, route template) -> latency histogram
  std::map<std::tuple<std::string, std::string>, Histogram, ViewLess> latency;
};

struct Metrics::State {
  mutable std::mutex mutex;
  std::vector<std::unique_ptr<Shard>> shards;  // guarded by mutex; never shrinks
  // metric name -> gauges of that name, in the order they were added
  std::map<std::string, GaugeFamily> gauges;  // guarded by mutex
  std::uint64_t id = 0;                       // tells Metrics objects apart in ThisThreadShard
};

namespace {

std::atomic<std::uint64_t> next_metrics_id{1};

}  // namespace

Metrics::Metrics() : state_(std::make_unique<State>()) {
  state_->id = next_metrics_id.fetch_add(1, std::memory_order_relaxed);
}
Metrics::~Metrics() = default;

Metrics::Shard& Metrics::ThisThreadShard() {
  State& state = *state_;
  // Keyed by a never-reused id rather than the address: a new Metrics at a dead one's address
  // must not inherit its shard.
  thread_local std::uint64_t cached_id = 0;
  thread_local Shard* cached = nullptr;
  if (cached_id == state.id) return *cached;
  std::lock_guard<std::mutex> lock(state.mutex);
  state.shards.push_back(std::make_unique<Shard>());
  cached_id = state.id;
  cached = state.shards.back().get();
  return *cached;
}

void Metrics::RecordRequest(std::string_view listener, std::string_view route_template,
                            unsigned status, std::chrono::microseconds latency) {
  const double seconds = static_cast<double>(latency.count()) / 1e6;
  std::size_t bucket = 0;
  while (bucket < kLatencyBuckets.size() && seconds > kLatencyBuckets[bucket]) ++bucket;

  Shard& shard = ThisThreadShard();
  std::lock_guard<std::mutex> lock(shard.mutex);
  const auto request_key = std::make_tuple(listener, route_template, status);
  auto counted = shard.requests.find(request_key);
  if (counted == shard.requests.end()) {
    counted = shard.requests
                  .emplace(std::make_tuple(std::string(listener), std::string(route_template),
                                           status),
                           0)
                  .first;
  }
  ++counted->second;
  const auto latency_key = std::make_tuple(listener, route_template);
  auto histogram = shard.latency.find(latency_key);
  if (histogram == shard.latency.end()) {
    histogram =
        shard.latency
            .emplace(std::make_tuple(std::string(listener), std::string(route_template)),
                     Histogram{})
            .first;
  }
  if (bucket < kLatencyBuckets.size()) ++histogram->second.buckets[bucket];
  ++histogram->second.count;
  histogram->second.sum_seconds += seconds;
}

void Metrics::AddGauge(std::string name, std::string labels, std::string help,
                       std::function<double()> read) {
  std::lock_guard<std::mutex> lock(state_->mutex);
  GaugeFamily& family = state_->gauges[std::move(name)];
  if (family.help.empty()) family.help = std::move(help);
  family.gauges.push_back(Gauge{std::move(labels), std::move(read)});
}

std::string Metrics::RenderPrometheus() const {
  // Copy under the lock, render outside it: gauge readers take their own locks (pool queues)
  // and must not run while a request thread waits here to record its latency.
  std::map<std::tuple<std::string, std::string, unsigned>, std::uint64_t> requests;
  std::map<std::pair<std::string, std::string>, Histogram> latency;
  std::vector<std::pair<std::string, GaugeFamily>> gauges;
  {
    std::lock_guard<std::mutex> lock(state_->mutex);
    for (const auto& shard : state_->shards) {
      std::lock_guard<std::mutex> shard_lock(shard->mutex);
      for (const auto& [key, count] : shard->requests) requests[key] += count;
      for (const auto& [key, histogram] : shard->latency) {
        Histogram& merged = latency[{std::get<0>(key), std::get<1>(key)}];
        for (std::size_t i = 0; i < merged.buckets.size(); ++i) {
          merged.buckets[i] += histogram.buckets[i];
        }
        merged.count += histogram.count;
        merged.sum_seconds += histogram.sum_seconds;
      }
    }
    gauges.assign(state_->gauges.begin(), state_->gauges.end());
  }

  std::ostringstream out;
  out << "# HELP credstore_http_requests_total HTTP requests answered, by listener, route "
         "template and status.\n"
         "# TYPE credstore_http_requests_total counter\n";
  for (const auto& [key, count] : requests) {
    const auto& [listener, route, status] = key;
    out << "credstore_http_requests_total{listener=\"" << EscapeLabel(listener) << "\",route=\""
        << EscapeLabel(route) << "\",status=\"" << status << "\"} " << count << '\n';
  }

  out << "# HELP credstore_http_request_duration_seconds Time from a request's first byte to "
         "the end of its response, by listener and route template.\n"
         "# TYPE credstore_http_request_duration_seconds histogram\n";
  for (const auto& [key, histogram] : latency) {
    const std::string labels =
        "listener=\"" + EscapeLabel(key.first) + "\",route=\"" + EscapeLabel(key.second) + "\"";
    std::uint64_t cumulative = 0;
    for (std::size_t i = 0; i < kLatencyBuckets.size(); ++i) {
      cumulative += histogram.buckets[i];
      out << "credstore_http_request_duration_seconds_bucket{" << labels << ",le=\""
          << FormatNumber(kLatencyBuckets[i]) << "\"} " << cumulative << '\n';
    }
    out << "credstore_http_request_duration_seconds_bucket{" << labels << ",le=\"+Inf\"} "
        << histogram.count << '\n';
    out << "credstore_http_request_duration_seconds_sum{" << labels << "} "
        << FormatNumber(histogram.sum_seconds) << '\n';
    out << "credstore_http_request_duration_seconds_count{" << labels << "} " << histogram.count
        << '\n';
  }

  for (const auto& [name, family] : gauges) {
    // A name ending in _total reads a monotonic count (e.g. the store's Argon2id hashes): it is
    // exposed as a counter so rate() applies; everything else is a gauge.
    const bool is_counter = name.size() > 6 && name.compare(name.size() - 6, 6, "_total") == 0;
    out << "# HELP " << name << ' ' << EscapeHelp(family.help) << '\n';
    out << "# TYPE " << name << (is_counter ? " counter\n" : " gauge\n");
    for (const Gauge& gauge : family.gauges) {
      out << name;
      if (!gauge.labels.empty()) out << '{' << gauge.labels << '}';
      out << ' ' << FormatNumber(gauge.read ? gauge.read() : 0.0) << '\n';
    }
  }
  return out.str();
}

}  // namespace credstore::http
