// Internal to credstore::redis: the canary record that tells a node which lost its data from a
// node that still holds it.
//
// Redis answers an empty database exactly as it answers one whose keys were never written: a
// server restarted without its AOF, flushed (FLUSHALL/FLUSHDB) or swapped for another database
// answers "no record" for every credential, which the core turns into 401 for valid keys. So
// every node of the store holds one canary record: a random generation id, written once when the
// store is new and never changed or removed by credstore. A backend remembers the generation it
// found at Open and compares it on every new connection to the node (a restart drops every
// connection, so the first call after it notices), periodically (a FLUSHALL keeps connections
// open) and, while it is missing, on every call. From the first check that finds it missing or
// different until one finds it again, the node is "lost": every call answers kUnavailable (never
// NotFound) and CheckHealth fails.
//
// Recovery. A lost node comes back by itself only when the same generation is there again: the
// data came back (the restarted Redis finished reading its AOF, or an operator restored a copy
// of this store). Deciding that an empty store is a new one is the operator's: restart the
// backends (credstored); Open then writes a new generation on an empty store, and every backend
// still running on the old one keeps answering kUnavailable until it is restarted too.
//
// The canary and the core's keycheck record answer different questions: the keycheck says which
// keyring the store belongs to and lives on one node; the canary says this node still holds what
// it held when the backend opened it, on every node, and guards every call. Open plants the
// canary before the core reads or writes the keycheck, so a store with a keycheck always has
// canaries (except a store written before canaries existed, which gets one at its first Open).
//
// Thread safety: Establish and Expect run before the canary is shared; every other method may be
// called from many threads at once.
#ifndef CREDSTORE_BACKENDS_REDIS_SRC_CANARY_H_
#define CREDSTORE_BACKENDS_REDIS_SRC_CANARY_H_

#include <atomic>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "connection.h"
#include "credstore/status.h"

namespace credstore::redis_internal {

// The canary's Redis key for one namespace on a single server: outside the records' pattern
// `<namespace>:{…}`, so Scan and migration never see it (a namespace has no braces, so no other
// namespace's record or canary can have this name).
std::string CanaryKey(std::string_view key_namespace);

class Canary {
 public:
  explicit Canary(std::string key) : key_(std::move(key)) {}
  Canary(const Canary&) = delete;
  Canary& operator=(const Canary&) = delete;

  const std::string& key() const { return key_; }

  // Reads the node's canary on `connection`: its generation, or nullopt when the node holds
  // none. kUnavailable when the node cannot be asked.
  Result<std::optional<std::string>> Read(Connection& connection) const;

  // Writes `generation` unless the node holds a canary already (SET NX: two backends opening a
  // new store at once agree on one) and returns the node's generation afterwards.
  Result<std::string> Plant(Connection& connection, const std::string& generation) const;

  // From now on the node must hold `generation`; the node counts as holding it.
  void Expect(std::string generation);

  // The pool's set-up hook, on every new connection to the node: reads the canary and records
  // what it found. OK when it could be read (found or not: a missing canary is recorded, and
  // Gate refuses the call); kUnavailable, with the connection not to be used, when the read
  // failed. Does nothing before Expect.
  Status OnNewConnection(Connection& connection);

  // The periodic check: reads the canary and records what it found; a failed read changes
  // nothing (the calls report an outage themselves).
  void Check(Connection& connection);

  // Before every call on `connection`: OK while the node holds the canary (one atomic load);
  // while it is lost, reads it again (so the data coming back is noticed at once) and answers
  // kUnavailable if it is still missing or different.
  Status Gate(Connection& connection);

  // kUnavailable while the node is lost (the message says why and what to do), OK otherwise.
  Status Verdict() const;

 private:
  enum State : int { kNotExpected, kPresent, kLost };
  // Reads the canary and records the verdict; the read's failure otherwise.
  Status Refresh(Connection& connection);

  const std::string key_;
  std::string generation_;  // set by Expect, read-only afterwards
  std::atomic<int> state_{kNotExpected};
};

// A new generation id: 128 random bits in hex.
std::string NewCanaryGeneration();

// The Open rule over every node of the store (one for a single server). Reads each node's
// canary; when no node holds one, the store is new (or predates canaries) and one generation is
// planted on every node; when every node holds the same one, it is kept. Either way each canary
// then expects it. kUnavailable, expecting nothing, when some nodes hold a canary and others none
// or another one: those nodes lost their data, and planting would hide that from every backend
// running on the store. `connections[i]` is a connection to the node of `canaries[i]`.
Status EstablishCanaries(const std::vector<Canary*>& canaries,
                         const std::vector<Connection*>& connections);

}  // namespace credstore::redis_internal

#endif  // CREDSTORE_BACKENDS_REDIS_SRC_CANARY_H_
