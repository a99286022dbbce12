// server_connection_limits.h — how many connections the server holds at once: in total, and per
// client address.
//
// Every descriptor a connection holds is one the process cannot use for anything else; a client
// that opens sockets and sends nothing must not be able to take them all (issue 13: 1100 idle
// sockets against 1024 descriptors left probes unanswered for 75 s). So a connection is admitted
// only with a ConnectionSlot:
//  - at most `max_connections` slots exist at once, on every listener together;
//  - the last `reserved_connections` of them only reserved listeners (the operator listener)
//    may take, so a flood of the public listener never leaves /healthz, /readyz and /metrics
//    without a slot;
//  - a client address bucket (credstore::ThrottleBucketOf: IPv4 /32, IPv6 /64, the buckets the
//    store throttles by) holds at most `max_per_address`; the caller exempts who it must
//    (trusted proxies, which carry many clients; listeners without addresses) by passing no
//    bucket.
// Making room (closing an idle keep-alive connection) is the caller's business: see
// ServerCore::Admit. This class only counts.
//
// Memory: one map entry per address bucket that holds a connection, so it is bounded by the
// connections themselves.
//
// Thread safety: every method may be called from any thread; a ConnectionSlot may be released
// from any thread, exactly once whatever the race (an eviction on the accepting thread against
// the connection's own close).
#ifndef CREDSTORE_HTTP_SRC_SERVER_CONNECTION_LIMITS_H_
#define CREDSTORE_HTTP_SRC_SERVER_CONNECTION_LIMITS_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <string>
#include <unordered_map>
#include <utility>

namespace credstore::http {

class ConnectionLimits;

// One admitted connection's place; given back by Release() or the destructor, once.
class ConnectionSlot {
 public:
  ConnectionSlot() = default;  // holds nothing
  ConnectionSlot(ConnectionSlot&& other) noexcept;
  ConnectionSlot& operator=(ConnectionSlot&& other) noexcept;
  ConnectionSlot(const ConnectionSlot&) = delete;
  ConnectionSlot& operator=(const ConnectionSlot&) = delete;
  ~ConnectionSlot() { Release(); }

  // False once released (or for a slot that never held anything).
  bool held() const { return held_.load(std::memory_order_acquire); }
  // Gives the place back; any later call does nothing. Any thread.
  void Release();

 private:
  friend class ConnectionLimits;
  ConnectionSlot(ConnectionLimits* limits, std::string bucket)
      : limits_(limits), bucket_(std::move(bucket)), held_(true) {}

  ConnectionLimits* limits_ = nullptr;  // outlives every slot
  std::string bucket_;                  // "" when not counted per address
  std::atomic<bool> held_{false};
};

class ConnectionLimits {
 public:
  struct Settings {
    std::size_t max_connections = 0;       // every listener together; at least 1
    std::size_t reserved_connections = 0;  // of those, for reserved listeners only
    std::size_t max_per_address = 0;       // per address bucket; 0: no per-address limit
  };
  enum class Refusal { kNone, kMaxConnections, kPerAddress };
  struct Admission {
    ConnectionSlot slot;  // held when admitted
    Refusal refused = Refusal::kNone;
  };

  explicit ConnectionLimits(Settings settings);

  // A slot for a new connection, or why there is none. `reserved`: the listener may use the
  // reserve. `bucket`: the client's address bucket; "" is not limited per address. Counts
  // nothing as refused: the caller may make room and ask again (CountRefusal when it gives up).
  Admission TryAdmit(bool reserved, std::string bucket);

  void CountRefusal(Refusal reason);
  void CountEviction() { evicted_.fetch_add(1, std::memory_order_relaxed); }

  const Settings& settings() const { return settings_; }
  std::size_t open() const { return open_.load(std::memory_order_relaxed); }
  std::uint64_t refused(Refusal reason) const;
  std::uint64_t evicted() const { return evicted_.load(std::memory_order_relaxed); }

 private:
  friend class ConnectionSlot;
  void Give(const std::string& bucket);

  const Settings settings_;
  std::atomic<std::size_t> open_{0};
  std::atomic<std::uint64_t> refused_total_{0};
  std::atomic<std::uint64_t> refused_per_address_{0};
  std::atomic<std::uint64_t> evicted_{0};
  std::mutex mutex_;
  std::unordered_map<std::string, std::size_t> per_address_;  // guarded by mutex_; no zeros
};

}  // namespace credstore::http

#endif  // CREDSTORE_HTTP_SRC_SERVER_CONNECTION_LIMITS_H_
