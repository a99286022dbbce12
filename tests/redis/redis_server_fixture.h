// A private redis-server for tests.
//
// Each RedisServerFixture runs its own `redis-server` child (found on PATH, else
// /usr/bin/redis-server) in a fresh temp folder, listening on a unix socket inside that folder —
// and, only when asked, on one TCP port of 127.0.0.1. It never talks to a Redis the machine may
// already run. The server is configured like a production credstore Redis: `appendonly yes`,
// `appendfsync always`, `maxmemory-policy noeviction`, no RDB snapshots (`save ""`), and
// `rdbcompression no` so that PersistedFilesContain() sees stored bytes as they are.
//
// Every wait is bounded: start-up waits until PING answers (at most ~10 s), stopping waits for
// the child (SHUTDOWN NOSAVE, then SIGTERM, then SIGKILL). The child gets SIGKILL if the thread
// that started it dies first (PR_SET_PDEATHSIG), so no server outlives a crashed test: start and
// restart fixtures from the test's own thread, not from a short-lived worker thread.
//
// Thread safety: none; drive one fixture from one thread. Errors throw std::runtime_error.
#ifndef CREDSTORE_TESTS_REDIS_REDIS_SERVER_FIXTURE_H_
#define CREDSTORE_TESTS_REDIS_REDIS_SERVER_FIXTURE_H_

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <initializer_list>
#include <memory>
#include <string>
#include <string_view>

#include "credstore/backends/redis.h"
#include "support/test_helpers.h"

namespace credstore::testing {

class RedisServerFixture {
 public:
  struct Settings {
    // Also listen on 127.0.0.1:<a free port> (picked at start; retried on a clash). Default off.
    bool listen_on_tcp = false;
    // Run as a Redis Cluster node (`cluster-enabled yes`), its cluster bus on a second free
    // loopback port. Implies listen_on_tcp. Default off.
    bool cluster_node = false;
    // The node's `cluster-node-timeout`. It also bounds a CLUSTER MEET handshake: a peer not
    // answered within it is forgotten, and the node never joins.
    std::chrono::milliseconds cluster_node_timeout{1000};
  };

  // Starts the server; throws if it does not answer PING within ~10 s.
  RedisServerFixture() : RedisServerFixture(Settings()) {}
  explicit RedisServerFixture(Settings settings);
  // Stops the server (see Stop) and removes its folder.
  ~RedisServerFixture();
  RedisServerFixture(const RedisServerFixture&) = delete;
  RedisServerFixture& operator=(const RedisServerFixture&) = delete;

  // Starts the server again on the same folder, socket and port (after Stop or Kill); the AOF
  // brings the data back. Throws if it does not come up.
  void Start();
  // SHUTDOWN NOSAVE (the AOF is still flushed), then waits for the process; SIGTERM and finally
  // SIGKILL if it lingers. No-op when not running.
  void Stop();
  // SIGKILL: a crash, with no chance to flush anything.
  void Kill();
  // Removes what the server keeps on disk (its AOF folder and RDB file) while it is stopped, so
  // that the next Start comes up empty: a server that lost its data. Throws while running.
  void WipeData();
  // Replaces what the server keeps on disk with the files in `from` (moved, not copied) while it
  // is stopped: lost data restored from a copy. Throws while running.
  void MoveDataFrom(const std::filesystem::path& from);
  // SIGSTOP / SIGCONT: a server that accepts connections but never answers.
  void Freeze();
  void Thaw();
  bool running() const { return pid_ > 0; }

  // Replication over loopback TCP (`primary` must listen on TCP). ReplicateFrom makes this server
  // a replica of `primary` (REPLICAOF 127.0.0.1 <port>; not kept across Start) and waits, at
  // most ~10 s, until its link is up and the first sync is done. PromoteToPrimary is
  // `REPLICAOF NO ONE`: the failover step. WaitForReplicas waits, at most ~10 s, until this
  // server reports `count` connected replicas, all online (past their first sync). Each throws when
  // its bound passes.
  void ReplicateFrom(const RedisServerFixture& primary);
  void PromoteToPrimary();
  void WaitForReplicas(int count) const;
  // A value of `INFO replication` ("" when the server does not report the field).
  std::string ReplicationField(std::string_view field) const;

  const std::filesystem::path& folder() const { return folder_.path(); }
  std::string socket_path() const { return (folder() / "redis.sock").string(); }
  int tcp_port() const { return tcp_port_; }  // 0 unless Settings::listen_on_tcp
  std::string tcp_address() const { return "127.0.0.1:" + std::to_string(tcp_port_); }
  std::string unix_uri() const { return "redis+unix://" + socket_path(); }

  // Backend options for this server over its unix socket; short timeouts fit a local server.
  RedisOptions BackendOptions() const;

  // Runs one command on a fresh connection and returns the reply as text: a status or string as
  // is, an integer in decimal, "(nil)", an error as "-<message>", an array as its elements
  // joined with '\n'. Throws if the server cannot be reached.
  std::string Command(std::initializer_list<std::string_view> command) const;

  // Runs SAVE, then reports whether `needle` occurs in the RDB file or in any AOF file, i.e. in
  // what the server keeps on disk.
  bool PersistedFilesContain(std::string_view needle) const;

 private:
  void Launch();
  bool WaitUntilServing();
  bool WaitForExit(int timeout_ms);

  Settings settings_;
  TempDir folder_;
  std::string binary_;
  int tcp_port_ = 0;
  int bus_port_ = 0;  // the cluster bus, when Settings::cluster_node
  pid_t pid_ = -1;
};

}  // namespace credstore::testing

#endif  // CREDSTORE_TESTS_REDIS_REDIS_SERVER_FIXTURE_H_
