// queue_shares.h — a bounded queue's fair shares: no client holds more than a quarter of it.
//
// The hashing queue has few places (16 by default) and each costs ~0.1 s of Argon2id. Without a
// share per client, one address sending wrong guesses on many connections fills it, and every
// other customer's call — the owner rotating a leaked key among them — is refused 503. With one,
// a client holds at most ⌈capacity / 4⌉ places at a time; its next call is refused at once, as a
// full queue would refuse it, while the other places stay open to everyone else.
//
// Clients are the store's throttle buckets (credstore::ThrottleBucketOf: an IPv4 address, the
// /64 of an IPv6 address), so a client cannot spread over addresses the throttle counts as one.
//
// Thread safety: every method may be called from many threads at once.
#ifndef CREDSTORE_HTTP_SRC_QUEUE_SHARES_H_
#define CREDSTORE_HTTP_SRC_QUEUE_SHARES_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

namespace credstore::http {

class QueueShares {
 public:
  // One held place; gives it back when destroyed (or reset). Move-only.
  class Place {
   public:
    Place() = default;
    Place(Place&& other) noexcept;
    Place& operator=(Place&& other) noexcept;
    ~Place() { Release(); }
    Place(const Place&) = delete;
    Place& operator=(const Place&) = delete;

    void Release();

   private:
    friend class QueueShares;
    Place(QueueShares* shares, std::string bucket) : shares_(shares), bucket_(std::move(bucket)) {}

    QueueShares* shares_ = nullptr;  // null: holds nothing
    std::string bucket_;
  };

  // Shares of a queue of `capacity` places: ⌈capacity / 4⌉ each (at least 1).
  explicit QueueShares(std::size_t capacity);

  QueueShares(const QueueShares&) = delete;
  QueueShares& operator=(const QueueShares&) = delete;

  // A place for the client at `client_address`, or nullopt when it holds its whole share (and
  // the refusal is counted). A client of no known address (empty) is not limited: it holds a
  // Place that gives back nothing.
  std::optional<Place> TryTake(std::string_view client_address);

  std::size_t share() const { return share_; }
  // Places refused because the client held its share, since start.
  std::uint64_t refused() const { return refused_.load(std::memory_order_relaxed); }

 private:
  void Give(const std::string& bucket);

  const std::size_t share_;
  std::mutex mutex_;
  std::unordered_map<std::string, std::size_t> held_;  // guarded by mutex_; no zero entries
  std::atomic<std::uint64_t> refused_{0};
};

}  // namespace credstore::http

#endif  // CREDSTORE_HTTP_SRC_QUEUE_SHARES_H_
