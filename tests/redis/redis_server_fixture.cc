#include "redis/redis_server_fixture.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <hiredis/hiredis.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace credstore::testing {
namespace {

using namespace std::chrono_literals;

struct ContextDeleter {
  void operator()(redisContext* context) const { redisFree(context); }
};
using ContextPtr = std::unique_ptr<redisContext, ContextDeleter>;
struct ReplyDeleter {
  void operator()(redisReply* reply) const { freeReplyObject(reply); }
};
using ReplyPtr = std::unique_ptr<redisReply, ReplyDeleter>;

timeval Timeval(std::chrono::milliseconds ms) {
  timeval tv{};
  tv.tv_sec = static_cast<decltype(tv.tv_sec)>(ms.count() / 1000);
  tv.tv_usec = static_cast<decltype(tv.tv_usec)>((ms.count() % 1000) * 1000);
  return tv;
}

ContextPtr ConnectUnix(const std::string& path, std::chrono::milliseconds timeout) {
  ContextPtr context(redisConnectUnixWithTimeout(path.c_str(), Timeval(timeout)));
  if (context == nullptr || context->err != 0) return nullptr;
  const int flags = fcntl(context->fd, F_GETFD);
  if (flags >= 0) fcntl(context->fd, F_SETFD, flags | FD_CLOEXEC);
  redisSetTimeout(context.get(), Timeval(timeout));
  return context;
}

ReplyPtr Run(redisContext& context, std::initializer_list<std::string_view> command) {
  std::vector<const char*> argv;
  std::vector<std::size_t> lengths;
  for (std::string_view argument : command) {
    argv.push_back(argument.empty() ? "" : argument.data());
    lengths.push_back(argument.size());
  }
  return ReplyPtr(static_cast<redisReply*>(
      redisCommandArgv(&context, static_cast<int>(argv.size()), argv.data(), lengths.data())));
}

std::string ReplyToText(const redisReply& reply) {
  switch (reply.type) {
    case REDIS_REPLY_INTEGER:
      return std::to_string(reply.integer);
    case REDIS_REPLY_NIL:
      return "(nil)";
    case REDIS_REPLY_ERROR: {
      // Built by append: GCC 12 at -O3 misreads `"-" + std::string(...)` as a huge memcpy
      // (-Wstringop-overflow) when it inlines it into this recursive function.
      std::string error = "-";
      error.append(reply.str, reply.len);
      return error;
    }
    case REDIS_REPLY_ARRAY: {
      std::string joined;
      for (std::size_t i = 0; i < reply.elements; ++i) {
        if (i > 0) joined.push_back('\n');
        joined += ReplyToText(*reply.element[i]);
      }
      return joined;
    }
    default:
      return std::string(reply.str, reply.len);
  }
}

std::string FindRedisServer() {
  if (const char* path = std::getenv("PATH")) {
    std::stringstream folders(path);
    std::string folder;
    while (std::getline(folders, folder, ':')) {
      if (folder.empty()) continue;
      const std::string candidate = folder + "/redis-server";
      if (access(candidate.c_str(), X_OK) == 0) return candidate;
    }
  }
  if (access("/usr/bin/redis-server", X_OK) == 0) return "/usr/bin/redis-server";
  throw std::runtime_error("redis-server not found on PATH nor at /usr/bin/redis-server");
}

// A port of 127.0.0.1 that was free a moment ago (the kernel's pick for port 0).
int PickFreeLoopbackPort() {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw std::runtime_error("socket() failed");
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = 0;
  socklen_t length = sizeof address;
  const bool ok = bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0 &&
                  getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) == 0;
  close(fd);
  if (!ok) throw std::runtime_error("cannot pick a free loopback port");
  return ntohs(address.sin_port);
}

std::string ReadFile(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

std::string Tail(const std::filesystem::path& path) {
  const std::string text = ReadFile(path);
  return text.size() > 2000 ? text.substr(text.size() - 2000) : text;
}

}  // namespace

RedisServerFixture::RedisServerFixture(Settings settings)
    : settings_(settings), folder_("credstore-redis"), binary_(FindRedisServer()) {
  constexpr int kPortAttempts = 5;
  if (settings_.cluster_node) settings_.listen_on_tcp = true;
  for (int attempt = 1;; ++attempt) {
    if (settings_.listen_on_tcp) tcp_port_ = PickFreeLoopbackPort();
    if (settings_.cluster_node) {
      do {
        bus_port_ = PickFreeLoopbackPort();
      } while (bus_port_ == tcp_port_);
    }
    try {
      Start();
      return;
    } catch (const std::runtime_error&) {
      // Another process may have taken the port between our probe and the server's bind.
      if (!settings_.listen_on_tcp || attempt == kPortAttempts) throw;
    }
  }
}

RedisServerFixture::~RedisServerFixture() {
  try {
    Stop();
  } catch (...) {
    // A destructor must not throw; Stop() has already used SIGKILL as a last resort.
  }
}

void RedisServerFixture::Start() {
  if (running()) return;
  Launch();
  if (!WaitUntilServing()) {
    const std::string log = Tail(folder() / "redis.log") + Tail(folder() / "stderr.log");
    if (running()) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
      pid_ = -1;
    }
    throw std::runtime_error("redis-server did not start; its log ends with:\n" + log);
  }
}

void RedisServerFixture::Launch() {
  const std::filesystem::path config_path = folder() / "redis.conf";
  {
    std::ofstream config(config_path, std::ios::trunc);
    config << "daemonize no\n"
           << "port " << tcp_port_ << "\n";
    if (tcp_port_ != 0) config << "bind 127.0.0.1\n";
    config << "unixsocket " << socket_path() << "\n"
           << "unixsocketperm 700\n"
           << "dir " << folder().string() << "\n"
           << "logfile " << (folder() / "redis.log").string() << "\n"
           << "appendonly yes\n"
           << "appendfsync always\n"
           << "maxmemory-policy noeviction\n"
           << "save \"\"\n"
           << "rdbcompression no\n";
    if (settings_.cluster_node) {
      config << "cluster-enabled yes\n"
             << "cluster-config-file nodes.conf\n"
             << "cluster-node-timeout " << settings_.cluster_node_timeout.count()
             << "\n"
             // A replica's first full sync starts at once, not after Redis's default 5 s
             // (which would leave WAIT answering 0 for the first seconds of every cluster).
             << "repl-diskless-sync-delay 0\n"
             << "cluster-port " << bus_port_ << "\n";
    }
    if (!config) throw std::runtime_error("cannot write redis.conf");
  }

  // Everything the child needs is prepared before fork: after it, only async-signal-safe calls.
  const std::string binary = binary_;
  const std::string config_text = config_path.string();
  const std::string stderr_path = (folder() / "stderr.log").string();
  const pid_t parent = getpid();
  std::vector<char*> argv = {const_cast<char*>("redis-server"),
                             const_cast<char*>(config_text.c_str()), nullptr};

  const pid_t child = fork();
  if (child < 0) throw std::runtime_error("fork failed");
  if (child == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(126);  // the test already died
    const int null_fd = open("/dev/null", O_RDWR);
    const int err_fd = open(stderr_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (null_fd >= 0) {
      dup2(null_fd, STDIN_FILENO);
      dup2(null_fd, STDOUT_FILENO);
    }
    if (err_fd >= 0) dup2(err_fd, STDERR_FILENO);
    execv(binary.c_str(), argv.data());
    _exit(127);
  }
  pid_ = child;
}

bool RedisServerFixture::WaitUntilServing() {
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (std::chrono::steady_clock::now() < deadline) {
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;  // exited during start-up (bad config, port taken, ...)
      return false;
    }
    if (ContextPtr context = ConnectUnix(socket_path(), 500ms)) {
      ReplyPtr pong = Run(*context, {"PING"});
      if (pong != nullptr && ReplyToText(*pong) == "PONG") {
        ReplyPtr info = Run(*context, {"INFO", "persistence"});
        if (info != nullptr && ReplyToText(*info).find("loading:0") != std::string::npos) {
          return true;
        }
      }
    }
    std::this_thread::sleep_for(20ms);
  }
  return false;
}

bool RedisServerFixture::WaitForExit(int timeout_ms) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  for (;;) {
    const pid_t done = waitpid(pid_, nullptr, WNOHANG);
    if (done == pid_ || (done < 0 && errno == ECHILD)) {
      pid_ = -1;
      return true;
    }
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(10ms);
  }
}

void RedisServerFixture::Stop() {
  if (!running()) return;
  kill(pid_, SIGCONT);  // a frozen server cannot shut down
  if (ContextPtr context = ConnectUnix(socket_path(), 2000ms)) {
    // Success closes the connection without a reply; any reply is a refusal (e.g. NOAUTH).
    if (Run(*context, {"SHUTDOWN", "NOSAVE"}) == nullptr && WaitForExit(10000)) return;
  }
  kill(pid_, SIGTERM);
  if (WaitForExit(5000)) return;
  Kill();
}

void RedisServerFixture::Kill() {
  if (!running()) return;
  kill(pid_, SIGKILL);
  while (waitpid(pid_, nullptr, 0) < 0 && errno == EINTR) {
  }
  pid_ = -1;
}

namespace {

// What redis-server keeps in its folder: the AOF folder (Redis 7), a single-file AOF (older
// servers) and the RDB file.
bool IsPersistedFile(const std::filesystem::path& path) {
  const std::string name = path.filename().string();
  return name == "appendonlydir" || name.ends_with(".aof") || name.ends_with(".rdb");
}

}  // namespace

void RedisServerFixture::WipeData() {
  if (running()) throw std::logic_error("WipeData while redis-server runs");
  for (const auto& entry : std::filesystem::directory_iterator(folder())) {
    if (IsPersistedFile(entry.path())) std::filesystem::remove_all(entry.path());
  }
}

void RedisServerFixture::MoveDataFrom(const std::filesystem::path& from) {
  WipeData();
  for (const auto& entry : std::filesystem::directory_iterator(from)) {
    std::filesystem::rename(entry.path(), folder() / entry.path().filename());
  }
}

void RedisServerFixture::Freeze() {
  if (running()) kill(pid_, SIGSTOP);
}

void RedisServerFixture::Thaw() {
  if (running()) kill(pid_, SIGCONT);
}

std::string RedisServerFixture::ReplicationField(std::string_view field) const {
  const std::string info = Command({"INFO", "replication"});
  const std::string head = std::string(field) + ":";
  std::size_t at = info.find(head);
  while (at != std::string::npos && at != 0 && info[at - 1] != '\n') at = info.find(head, at + 1);
  if (at == std::string::npos) return "";
  const std::size_t begin = at + head.size();
  const std::size_t end = info.find_first_of("\r\n", begin);
  return info.substr(begin, end == std::string::npos ? std::string::npos : end - begin);
}

void RedisServerFixture::ReplicateFrom(const RedisServerFixture& primary) {
  if (primary.tcp_port() == 0) throw std::logic_error("the primary must listen on TCP");
  const std::string port = std::to_string(primary.tcp_port());
  // Redis 7 delays a diskless full sync by 5 s by default, to batch replicas; one needs no batch.
  const std::string delay = primary.Command({"CONFIG", "SET", "repl-diskless-sync-delay", "0"});
  if (delay != "OK") throw std::runtime_error("CONFIG SET repl-diskless-sync-delay: " + delay);
  const std::string answer = Command({"REPLICAOF", "127.0.0.1", port});
  if (answer != "OK") throw std::runtime_error("REPLICAOF failed: " + answer);
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (std::chrono::steady_clock::now() < deadline) {
    if (ReplicationField("master_link_status") == "up" &&
        ReplicationField("master_sync_in_progress") == "0") {
      return;
    }
    std::this_thread::sleep_for(20ms);
  }
  throw std::runtime_error("the replica's link to its primary did not come up within 10 s");
}

void RedisServerFixture::PromoteToPrimary() {
  const std::string answer = Command({"REPLICAOF", "NO", "ONE"});
  if (answer != "OK") throw std::runtime_error("REPLICAOF NO ONE failed: " + answer);
}

void RedisServerFixture::WaitForReplicas(int count) const {
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (std::chrono::steady_clock::now() < deadline) {
    // `connected_slaves` counts replicas still in their first sync too; WAIT counts only those
    // that are online, so these are what a test waits for.
    const std::string info = Command({"INFO", "replication"});
    int online = 0;
    for (std::size_t at = info.find("state=online"); at != std::string::npos;
         at = info.find("state=online", at + 1)) {
      ++online;
    }
    if (ReplicationField("connected_slaves") == std::to_string(count) && online == count) return;
    std::this_thread::sleep_for(20ms);
  }
  throw std::runtime_error("the primary did not report " + std::to_string(count) +
                           " connected replicas within 10 s");
}

RedisOptions RedisServerFixture::BackendOptions() const {
  RedisOptions options;
  options.unix_socket = socket_path();
  options.pool_size = 4;
  return options;
}

std::string RedisServerFixture::Command(std::initializer_list<std::string_view> command) const {
  ContextPtr context = ConnectUnix(socket_path(), 5000ms);
  if (context == nullptr) throw std::runtime_error("cannot connect to the test redis-server");
  ReplyPtr reply = Run(*context, command);
  if (reply == nullptr) throw std::runtime_error("the test redis-server did not answer");
  return ReplyToText(*reply);
}

bool RedisServerFixture::PersistedFilesContain(std::string_view needle) const {
  const std::string saved = Command({"SAVE"});
  if (saved != "OK") throw std::runtime_error("SAVE failed: " + saved);
  for (const auto& entry : std::filesystem::recursive_directory_iterator(folder())) {
    if (!entry.is_regular_file()) continue;
    const std::string name = entry.path().filename().string();
    const bool persisted = name.ends_with(".rdb") || name.find(".aof") != std::string::npos;
    if (persisted && ReadFile(entry.path()).find(needle) != std::string::npos) return true;
  }
  return false;
}

}  // namespace credstore::testing
