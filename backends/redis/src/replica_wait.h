// Internal to credstore::redis: waiting for replicas after a write (RedisOptions::wait_replicas).
//
// A write that waits is sent as `EVALSHA ...` and `WAIT <replicas> <timeout>` in one write on
// one connection: WAIT counts the replicas that acknowledged everything this connection wrote,
// so it must follow the write on the write's own connection, and pipelining it costs no extra
// round trip beyond the wait itself. These writes use a connection pool of their own (the
// "lane"), so writes held up by slow replicas never hold the connections reads need.
#ifndef CREDSTORE_BACKENDS_REDIS_SRC_REPLICA_WAIT_H_
#define CREDSTORE_BACKENDS_REDIS_SRC_REPLICA_WAIT_H_

#include <chrono>
#include <string>
#include <string_view>

#include "connection.h"
#include "credstore/backends/redis.h"
#include "credstore/storage_backend.h"

namespace credstore::redis_internal {

// The one check of the wait options, for ParseUri and Open: OK, or kInvalidArgument naming the
// option that is wrong.
Status ValidateReplicaWait(const RedisOptions& options);

// WAIT's arguments for one backend; `replicas` == 0 waits for none.
class ReplicaWait {
 public:
  explicit ReplicaWait(const RedisOptions& options);

  bool enabled() const { return replicas_ > 0; }
  // Whether a write with these options waits.
  bool Applies(const WriteOptions& options) const { return enabled() && options.replicated; }

  // Sends `write` and WAIT after it in one write (ASKING first when `asking`, since ASKING
  // covers only the next command); reads every reply. The write's reply is nullptr on a
  // transport failure before it arrived (see Connection::failure()); `acknowledged` is nullptr
  // when WAIT's reply was lost after the write's arrived (the connection is then broken, and the
  // write applied or not as its reply says).
  ReplyPtr Exchange(Connection& connection, const Command& write, bool asking,
                    ReplyPtr& acknowledged) const;

  // The answer for a write that applied with `version`, given WAIT's reply (nullptr: unknown, as
  // after a lost reply): the version, with `*options.replication` set, or kUnavailable when too
  // few replicas acknowledged it and the caller did not ask to hear that.
  Result<Version> Settle(Version version, const redisReply* acknowledged,
                         const WriteOptions& options, std::string_view operation) const;

 private:
  int replicas_ = 0;
  std::string replicas_text_;
  std::string timeout_text_;
};

}  // namespace credstore::redis_internal

#endif  // CREDSTORE_BACKENDS_REDIS_SRC_REPLICA_WAIT_H_
