// Many credstored over one shared store, for the scale tests: a SharedStore (the store, started
// for the test) and a Fleet (N credstored processes on it, started with the same key file, so
// any of them can answer for any credential).
//
// The test binary takes, after Boost.Test's `--`, tests/http's arguments (`--credstored PATH`)
// and `--store NAME`: the kind of shared store the suite runs on. "redis" (the default) is one
// redis-server (tests/redis/redis_server_fixture.h). Another kind — a Redis Cluster with its
// `redis+cluster://` URI — is one more case in StartSharedStore() and one more ctest entry: the
// tests only ever see SharedStore::storage_uri().
//
// Every wait is bounded in time. Thread safety: drive a Fleet from the test's thread; the ports
// may be read from others while it runs.
#ifndef CREDSTORE_TESTS_SCALE_FLEET_H_
#define CREDSTORE_TESTS_SCALE_FLEET_H_

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "http/http_test_env.h"

namespace credstore::scale_tests {

using http_tests::Customer;
using http_tests::HttpResponse;
using http_tests::Server;
using http_tests::ServerOptions;

// A store the fleet shares, running for as long as this object lives.
class SharedStore {
 public:
  virtual ~SharedStore() = default;
  // What every credstored of the fleet gets as --storage.
  virtual std::string storage_uri() const = 0;
  // A short name for messages ("redis").
  virtual std::string name() const = 0;
  // Makes the store lose every record under the running fleet, as a server restarted without
  // its persisted files does; returns once the store answers again (empty).
  virtual void RestartEmpty() = 0;
};

// The `--store` of this run ("redis" unless given).
const std::string& StoreKind();
// Starts the shared store `--store` names; throws for an unknown name.
std::unique_ptr<SharedStore> StartSharedStore();

// What one instance answered for a credential, and when, for propagation measurements: `after`
// runs from the moment the caller passes (e.g. when the change was acknowledged elsewhere) to
// the answer that ended the wait.
struct Observation {
  unsigned status = 0;  // the last answer's status (0: nothing answered)
  int attempts = 0;     // requests sent, >= 1
  std::chrono::steady_clock::duration after{};
};

class Fleet {
 public:
  // Starts the shared store of this run and `size` credstored on it, each with `options` (its
  // storage_uri is the store's, followed by `uri_query`, e.g. "?cache=on"). Fails the test case
  // if one does not start.
  explicit Fleet(std::size_t size, ServerOptions options = {}, std::string_view uri_query = {});
  // Stops every credstored (each checks its exit code and that its log leaks nothing), then the
  // store.
  ~Fleet();
  Fleet(const Fleet&) = delete;
  Fleet& operator=(const Fleet&) = delete;

  std::size_t size() const { return servers_.size(); }
  Server& operator[](std::size_t i) { return *servers_.at(i); }
  SharedStore& store() { return *store_; }

  // A string no response and no log line of any instance may carry (a secret, an admin key).
  void AddSensitive(std::string_view text);
  // Registers a new customer through instance `via`; its strings are sensitive everywhere.
  Customer NewCustomer(std::size_t via = 0);

  // GET settings with `admin_key` on instance `on`, once and then again every `poll` until it
  // answers `status` or `limit` has passed since `since`. A limit of zero asks exactly once:
  // "at once" means the first answer.
  Observation WaitForSettingsStatus(std::size_t on, const Customer& customer,
                                    std::string_view admin_key, unsigned status,
                                    std::chrono::steady_clock::time_point since,
                                    std::chrono::milliseconds limit = std::chrono::milliseconds(0),
                                    std::chrono::milliseconds poll = std::chrono::milliseconds(1));

 private:
  std::unique_ptr<SharedStore> store_;
  std::vector<std::unique_ptr<Server>> servers_;
};

}  // namespace credstore::scale_tests

#endif  // CREDSTORE_TESTS_SCALE_FLEET_H_
