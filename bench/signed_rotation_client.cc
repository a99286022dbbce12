// credstore_signed_rotation_client: drives signed `POST /v1/integrator/regenerate-secret` for
// bench/http_bench. It creates nothing: the caller provisions integrators through the operator
// API and hands their ids and secrets in on stdin, one chain per line ("int_… secret"), so no
// secret ever shows in the process list.
//
// Each chain is one thread with one keep-alive connection. Rotations in a chain are sequential by
// nature: each one is signed with the secret the previous one returned, which is also what proves
// the server answered with a usable secret. A chain runs until --seconds have passed or it made
// --max-rotations, whichever comes first.
//
// Output: one JSON object on stdout (count, rotations/s, p50/p90/p99 latency, errors). Any answer
// but a 200 carrying a secret stops every chain and makes the exit status 1, so a benchmark can
// never report the speed of failures.
#include <algorithm>
#include <atomic>
#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/json.hpp>
#include <boost/program_options.hpp>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <iostream>
#include <mutex>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "credstore/signed_request.h"

namespace credstore::bench {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace po = boost::program_options;
using Clock = std::chrono::steady_clock;

constexpr std::string_view kTarget = "/v1/integrator/regenerate-secret";

struct Settings {
  std::string host = "127.0.0.1";
  std::string port;
  std::chrono::milliseconds duration{5000};
  std::uint64_t max_rotations = 1'000'000;
};

struct Chain {
  std::string integrator_id;
  std::string secret;
};

// What every chain adds up; the latencies are merged only at the end, so the hot path takes the
// lock once per chain.
struct Totals {
  std::mutex mutex;
  std::vector<double> latencies_ms;
  std::uint64_t errors = 0;
};

std::string UnixMillis() {
  const auto now = std::chrono::system_clock::now().time_since_epoch();
  return std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(now).count());
}

http::request<http::string_body> SignedRotation(const Settings& settings, const Chain& chain) {
  http::request<http::string_body> request{http::verb::post, kTarget, 11};
  const std::string timestamp = UnixMillis();
  request.set(http::field::host, settings.host + ":" + settings.port);
  request.set("X-Integrator-Key", chain.integrator_id);
  request.set("X-Timestamp", timestamp);
  // The body is empty, so it is signed as the hash of the empty string (docs/http.md).
  request.set("X-Signature", SignRequest(chain.secret, timestamp, "POST", kTarget, ""));
  request.keep_alive(true);
  request.prepare_payload();
  return request;
}

// The next secret from a 200's body, or empty when the body does not carry one.
std::string SecretOf(const std::string& body) {
  boost::system::error_code error;
  const boost::json::value parsed = boost::json::parse(body, error);
  if (error || !parsed.is_object()) return {};
  const auto* secret = parsed.as_object().if_contains("secret");
  if (secret == nullptr || !secret->is_string()) return {};
  return std::string(secret->as_string());
}

// Problem bodies carry no secret by design (docs/http.md), so they are safe to show; a 200's
// body would carry one, and is never shown.
void ReportFailure(std::size_t index, unsigned status, const std::string& body) {
  std::ostringstream out;
  out << "signed_rotation_client: chain " << index << ": HTTP " << status;
  if (status != 200) out << ": " << body.substr(0, 400);
  if (status == 200) out << ": the body carries no secret";
  std::cerr << out.str() << '\n';
}

class ChainRunner {
 public:
  ChainRunner(const Settings& settings, std::size_t index, Chain chain, std::atomic<bool>& stop)
      : settings_(settings), index_(index), chain_(std::move(chain)), stop_(stop) {}

  // Rotates until the deadline, the rotation cap, or a failure anywhere; returns the number of
  // errors (0 or 1: the first failure ends every chain).
  std::uint64_t Run(Clock::time_point deadline, std::vector<double>& latencies_ms) {
    asio::io_context io;
    beast::tcp_stream stream(io);
    beast::flat_buffer buffer;
    bool connected = false;
    for (std::uint64_t made = 0; made < settings_.max_rotations; ++made) {
      if (stop_.load(std::memory_order_relaxed) || Clock::now() >= deadline) break;
      // A server may close a keep-alive connection (idle timeout, Connection: close): reconnect
      // instead of counting that as the server's failure.
      if (!connected) {
        stream.connect(asio::ip::tcp::resolver(io).resolve(settings_.host, settings_.port));
        connected = true;
      }
      auto request = SignedRotation(settings_, chain_);
      http::response<http::string_body> response;
      const auto started = Clock::now();
      http::write(stream, request);
      http::read(stream, buffer, response);
      const auto elapsed = Clock::now() - started;
      std::string next = response.result() == http::status::ok ? SecretOf(response.body()) : "";
      if (next.empty()) {
        ReportFailure(index_, response.result_int(), response.body());
        stop_.store(true);
        return 1;
      }
      chain_.secret = std::move(next);
      latencies_ms.push_back(std::chrono::duration<double, std::milli>(elapsed).count());
      if (!response.keep_alive()) {
        beast::error_code ignored;
        stream.socket().shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
        stream.close();
        connected = false;
      }
    }
    return 0;
  }

 private:
  const Settings& settings_;
  std::size_t index_;
  Chain chain_;
  std::atomic<bool>& stop_;
};

double Percentile(const std::vector<double>& sorted, double fraction) {
  if (sorted.empty()) return 0;
  // Nearest rank: the smallest sample with at least `fraction` of the samples at or below it.
  auto rank = static_cast<std::size_t>(fraction * static_cast<double>(sorted.size()) + 0.999999);
  rank = std::clamp<std::size_t>(rank, 1, sorted.size());
  return sorted[rank - 1];
}

std::vector<Chain> ReadChains(std::istream& in) {
  std::vector<Chain> chains;
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    std::istringstream fields(line);
    Chain chain;
    if (!(fields >> chain.integrator_id >> chain.secret)) {
      throw std::runtime_error("stdin: expected \"<integrator id> <secret>\" per line");
    }
    chains.push_back(std::move(chain));
  }
  if (chains.empty()) throw std::runtime_error("stdin: no integrator given");
  return chains;
}

std::optional<Settings> ParseFlags(int argc, char** argv) {
  Settings settings;
  double seconds = 5;
  po::options_description flags(
      "Usage: credstore_signed_rotation_client --port P [flags] < chains\n"
      "stdin: one line per chain, \"<integrator id> <secret>\" (the operator API's answer).\n"
      "Flags");
  flags.add_options()("help", "Print this help and exit.")(
      "host", po::value(&settings.host)->default_value(settings.host), "Server address.")(
      "port", po::value(&settings.port)->required(), "Server port.")(
      "seconds", po::value(&seconds)->default_value(seconds), "How long every chain rotates.")(
      "max-rotations", po::value(&settings.max_rotations)->default_value(settings.max_rotations),
      "Most rotations per chain.");
  po::variables_map values;
  po::store(po::parse_command_line(argc, argv, flags), values);
  if (values.count("help") != 0) {
    std::cout << flags << '\n';
    return std::nullopt;
  }
  po::notify(values);
  if (!(seconds > 0) || seconds > 86400)
    throw std::runtime_error("--seconds must be in (0, 86400]");
  settings.duration = std::chrono::milliseconds(static_cast<std::int64_t>(seconds * 1000));
  return settings;
}

int Main(int argc, char** argv) {
  std::optional<Settings> settings = ParseFlags(argc, argv);
  if (!settings) return EXIT_SUCCESS;
  std::vector<Chain> chains = ReadChains(std::cin);

  Totals totals;
  std::atomic<bool> stop{false};
  const auto started = Clock::now();
  const auto deadline = started + settings->duration;
  std::vector<std::thread> threads;
  threads.reserve(chains.size());
  for (std::size_t i = 0; i < chains.size(); ++i) {
    threads.emplace_back([&, i] {
      std::vector<double> latencies;
      std::uint64_t errors = 0;
      try {
        ChainRunner runner(*settings, i, std::move(chains[i]), stop);
        errors = runner.Run(deadline, latencies);
      } catch (const std::exception& e) {
        std::cerr << "signed_rotation_client: chain " << i << ": " << e.what() << '\n';
        stop.store(true);
        errors = 1;
      }
      std::lock_guard lock(totals.mutex);
      totals.latencies_ms.insert(totals.latencies_ms.end(), latencies.begin(), latencies.end());
      totals.errors += errors;
    });
  }
  for (auto& thread : threads) thread.join();
  const double elapsed_s = std::chrono::duration<double>(Clock::now() - started).count();

  std::sort(totals.latencies_ms.begin(), totals.latencies_ms.end());
  const auto count = totals.latencies_ms.size();
  std::printf(
      "{\"tool\":\"signed_rotation_client\",\"chains\":%zu,\"count\":%zu,\"seconds\":%.3f,"
      "\"rotations_per_s\":%.1f,\"latency_ms\":{\"p50\":%.3f,\"p90\":%.3f,\"p99\":%.3f},"
      "\"errors\":%llu}\n",
      chains.size(), count, elapsed_s, static_cast<double>(count) / elapsed_s,
      Percentile(totals.latencies_ms, 0.50), Percentile(totals.latencies_ms, 0.90),
      Percentile(totals.latencies_ms, 0.99), static_cast<unsigned long long>(totals.errors));
  return totals.errors == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

}  // namespace
}  // namespace credstore::bench

int main(int argc, char** argv) {
  try {
    return credstore::bench::Main(argc, argv);
  } catch (const std::exception& e) {
    std::cerr << "signed_rotation_client: " << e.what() << '\n';
    return EXIT_FAILURE;
  }
}
