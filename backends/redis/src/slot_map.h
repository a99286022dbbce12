// Internal to credstore::redis: reading a Redis Cluster's slot map and its redirections.
//
// Pure parsing, no I/O: the replies of `CLUSTER SLOTS` and `CLUSTER NODES`, and the `MOVED` / `ASK`
// error replies with which a node says that another one serves a slot. Addresses are "host:port"
// strings, the form both replies use; a node that does not know its own address is reported by the
// empty host, which the caller replaces with the host it asked.
#ifndef CREDSTORE_BACKENDS_REDIS_SRC_SLOT_MAP_H_
#define CREDSTORE_BACKENDS_REDIS_SRC_SLOT_MAP_H_

#include <hiredis/hiredis.h>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "credstore/status.h"

namespace credstore::redis_internal {

// Slots first..last (inclusive) and the nodes that serve them.
struct SlotRange {
  int first = 0;
  int last = 0;
  std::string master;                 // "host:port"
  std::vector<std::string> replicas;  // "host:port" each
};

// The reply to CLUSTER SLOTS as ranges (in the reply's order). A node whose host is empty (it
// does not know its address) is named with `asked_host`, the host the reply came from.
// kInternal when the reply has another shape or a slot outside 0..16383.
Result<std::vector<SlotRange>> ParseClusterSlots(const redisReply& reply,
                                                 std::string_view asked_host);

// The replicas listed by CLUSTER NODES (its text reply), as "host:port": every node flagged
// `slave` and not `fail`, `fail?`, `noaddr` or `handshake`. CLUSTER SLOTS leaves out a replica
// that has not replicated anything yet, so the replicas are read from here. A node whose host is
// empty is named with `asked_host`. Lines it cannot read are skipped.
std::vector<std::string> ParseClusterNodesReplicas(std::string_view text,
                                                   std::string_view asked_host);

// "host:port" split; nullopt when it is no such thing. An IPv6 host keeps its colons (the port
// is after the last one) and loses any brackets.
struct HostPort {
  std::string host;
  int port = 0;
};
std::optional<HostPort> SplitAddress(std::string_view address);

// A redirection read from an error reply: `MOVED <slot> <address>` or `ASK <slot> <address>`.
struct Redirect {
  enum class Kind { kNone, kMoved, kAsk };
  Kind kind = Kind::kNone;
  int slot = 0;
  std::string address;  // "host:port"; the host is empty if the node did not name it
};
// kNone for every reply that is not a well-formed MOVED or ASK.
Redirect ParseRedirect(const redisReply& reply);

}  // namespace credstore::redis_internal

#endif  // CREDSTORE_BACKENDS_REDIS_SRC_SLOT_MAP_H_
