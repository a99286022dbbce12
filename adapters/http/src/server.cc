#include "credstore/http/server.h"

#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/ssl.hpp>
#include <cerrno>
#include <cstring>
#include <iostream>
#include <random>
#include <sstream>
#include <thread>
#include <utility>

#include "credstore/request_context.h"
#include "server_core.h"
#include "server_session.h"

namespace credstore::http {
namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
using tcp = net::ip::tcp;
using local = net::local::stream_protocol;
// Sockets bound to an io_context's own executor type rather than the type-erased
// any_io_executor: every handler of a connection is dispatched without the erasure's cost.
using IoExecutor = net::io_context::executor_type;
using TcpSocket = tcp::socket::rebind_executor<IoExecutor>::other;
using UnixSocket = local::socket::rebind_executor<IoExecutor>::other;
using TlsStream = beast::ssl_stream<TcpSocket>;

// How long an acceptor waits before accepting again after a failure such as EMFILE (too many
// open files), so a full descriptor table does not turn into a busy loop.
constexpr std::chrono::milliseconds kAcceptRetryDelay{100};
// How often each I/O thread checks its connections' deadlines: the resolution of every timeout.
constexpr std::chrono::milliseconds kSweepInterval{100};
// At most one log line per listener per this long about failed accepts.
constexpr std::chrono::seconds kAcceptFailureLogInterval{1};

// A server context with the certificate chain and key of `files`. kInvalidArgument names the
// file that does not load; a key that does not fit the certificate does not load either.
Result<std::shared_ptr<net::ssl::context>> LoadTlsContext(const TlsConfig& files) {
  auto ssl = std::make_shared<net::ssl::context>(net::ssl::context::tls_server);
  boost::system::error_code error;
  ssl->set_options(net::ssl::context::default_workarounds | net::ssl::context::no_sslv2 |
                       net::ssl::context::no_sslv3 | net::ssl::context::no_tlsv1 |
                       net::ssl::context::no_tlsv1_1 | net::ssl::context::single_dh_use,
                   error);
  if (!error) ssl->use_certificate_chain_file(files.cert_file, error);
  if (error) {
    return Status::InvalidArgument("cannot load the TLS certificate chain from " + files.cert_file +
                                   ": " + error.message());
  }
  ssl->use_private_key_file(files.key_file, net::ssl::context::pem, error);
  if (error) {
    return Status::InvalidArgument("cannot load the TLS private key from " + files.key_file + ": " +
                                   error.message());
  }
  return ssl;
}

// Accepts connections on one acceptor (TCP or unix) and starts a session for each.
template <class Protocol>
class Listener final : public ListenerBase,
                       public std::enable_shared_from_this<Listener<Protocol>> {
 public:
  using Acceptor = typename Protocol::acceptor;
  using Socket = typename Protocol::socket::template rebind_executor<IoExecutor>::other;

  Listener(ServerCore& core, std::shared_ptr<ListenerContext> context, Acceptor acceptor,
           std::string unix_path)
      : core_(core),
        context_(std::move(context)),
        acceptor_(std::move(acceptor)),
        retry_timer_(acceptor_.get_executor()),
        unix_path_(std::move(unix_path)),
        failures_(std::make_shared<AcceptFailures>(kAcceptFailureLogInterval)) {}

  // For the accept-failure counter of /metrics.
  std::shared_ptr<const AcceptFailures> failures() const { return failures_; }

  ~Listener() override {
    if (!unix_path_.empty()) ::unlink(unix_path_.c_str());
  }

  void Start() {
    net::dispatch(acceptor_.get_executor(), [self = this->shared_from_this()] { self->Accept(); });
  }

  void Close() override {
    net::post(acceptor_.get_executor(), [self = this->shared_from_this()] {
      boost::system::error_code ignored;
      self->acceptor_.close(ignored);
      self->retry_timer_.cancel();
      if (!self->unix_path_.empty()) {
        ::unlink(self->unix_path_.c_str());
        self->unix_path_.clear();
      }
    });
  }

 private:
  void Accept() {
    // The socket belongs to the I/O thread it will live on; this handler runs on the
    // listener's (the control thread).
    IoThread& thread = core_.NextIoThread();
    acceptor_.async_accept(
        thread.io_context(),
        [self = this->shared_from_this(), &thread](boost::system::error_code error, Socket socket) {
          self->OnAccept(error, std::move(socket), thread);
        });
  }

  void OnAccept(boost::system::error_code error, Socket socket, IoThread& thread) {
    if (error == net::error::operation_aborted || !acceptor_.is_open()) return;
    if (error) {
      // Typically EMFILE: the connection stays in the kernel's backlog until a descriptor is
      // free. Logged (rate-limited), then accepting resumes after a pause instead of spinning.
      if (auto suppressed = failures_->Count(std::chrono::steady_clock::now())) {
        core_.LogLine(FormatAcceptFailureLine(context_->name, error.message(), *suppressed));
      }
      retry_timer_.expires_after(kAcceptRetryDelay);
      retry_timer_.async_wait([self = this->shared_from_this()](boost::system::error_code e) {
        if (!e) self->Accept();
      });
      return;
    }
    if (auto unlogged = failures_->Recovered()) {
      core_.LogLine(FormatAcceptFailureLine(context_->name, "", *unlogged));
    }
    StartSession(std::move(socket), thread);
    Accept();
  }

  // Starts a session for the connection, or closes it at once when a connection limit refuses
  // it (the socket is dropped here: closing it is all the answer it gets).
  void StartSession(Socket socket, IoThread& thread) {
    if constexpr (std::is_same_v<Protocol, tcp>) {
      boost::system::error_code error;
      const tcp::endpoint peer = socket.remote_endpoint(error);
      if (error) return;  // already gone
      ConnectionSlot slot = core_.Admit(*context_, peer.address());
      if (!slot.held()) return;
      socket.set_option(tcp::no_delay(true), error);
      if (const auto tls = context_->CurrentTls()) {
        auto session = std::make_shared<Session<TlsStream>>(
            core_, thread, context_, peer.address(), std::move(slot), std::move(socket), *tls);
        if (core_.Register(session)) session->Start();
      } else {
        auto session = std::make_shared<Session<TcpSocket>>(core_, thread, context_, peer.address(),
                                                            std::move(slot), std::move(socket));
        if (core_.Register(session)) session->Start();
      }
    } else {
      ConnectionSlot slot = core_.Admit(*context_, std::nullopt);
      if (!slot.held()) return;
      auto session = std::make_shared<Session<UnixSocket>>(core_, thread, context_, std::nullopt,
                                                           std::move(slot), std::move(socket));
      if (core_.Register(session)) session->Start();
    }
  }

  ServerCore& core_;
  std::shared_ptr<ListenerContext> context_;
  Acceptor acceptor_;
  net::steady_timer retry_timer_;
  std::string unix_path_;  // removed on Close
  std::shared_ptr<AcceptFailures> failures_;
};

// Adds the listener's accept-failure counter to /metrics.
void AddAcceptFailureGauge(Metrics* metrics, const std::string& name,
                           std::shared_ptr<const AcceptFailures> failures) {
  if (metrics == nullptr) return;
  metrics->AddGauge("credstore_http_accept_failures_total", "listener=\"" + name + "\"",
                    "Accepts that failed (EMFILE: out of descriptors, and the like), by listener.",
                    [failures] { return static_cast<double>(failures->total()); });
}

ConnectionLimits::Settings LimitSettings(const ServerOptions& options) {
  ConnectionLimits::Settings settings;
  settings.max_connections = options.max_connections;
  settings.reserved_connections =
      std::min(options.reserved_connections, options.max_connections / 4);
  settings.max_per_address = options.max_connections_per_address;
  return settings;
}

std::string Describe(const tcp::endpoint& endpoint) {
  std::ostringstream out;
  out << endpoint;
  return out.str();
}

}  // namespace

// ---- IoThread ------------------------------------------------------------------------------

IoThread::IoThread(std::chrono::milliseconds sweep_interval)
    : sweep_timer_(io_context_), sweep_interval_(sweep_interval) {}

void IoThread::Watch(const std::shared_ptr<SessionBase>& session) { watched_.push_back(session); }

void IoThread::StartSweeping() {
  sweep_timer_.expires_after(sweep_interval_);
  sweep_timer_.async_wait([this](boost::system::error_code error) {
    if (!error) Sweep();
  });
}

void IoThread::AlsoOnSweep(std::function<void(std::chrono::steady_clock::time_point)> chore) {
  chore_ = std::move(chore);
}

void IoThread::StopSweeping() {
  net::post(io_context_, [this] {
    stopped_sweeping_ = true;
    sweep_timer_.cancel();
  });
}

void IoThread::ListIdle(const std::shared_ptr<SessionBase>& session,
                        std::chrono::steady_clock::time_point now) {
  std::lock_guard lock(idle_mutex_);
  if (session->idle_listed_) return;
  // Appended in the order they become idle (one thread, one clock): the front is the oldest.
  session->idle_position_ = idle_.insert(idle_.end(), IdleEntry{now, session.get(), session});
  session->idle_listed_ = true;
}

void IoThread::UnlistIdle(SessionBase& session) {
  std::lock_guard lock(idle_mutex_);
  if (!session.idle_listed_) return;
  idle_.erase(session.idle_position_);
  session.idle_listed_ = false;
}

std::optional<std::chrono::steady_clock::time_point> IoThread::OldestIdleSince() {
  std::lock_guard lock(idle_mutex_);
  if (idle_.empty()) return std::nullopt;
  return idle_.front().since;
}

std::shared_ptr<SessionBase> IoThread::TakeOldestIdle() {
  std::weak_ptr<SessionBase> owner;
  {
    std::lock_guard lock(idle_mutex_);
    if (idle_.empty()) return nullptr;
    IdleEntry& entry = idle_.front();
    entry.session->idle_listed_ = false;  // alive: it would have to unlist itself to die
    owner = std::move(entry.owner);
    idle_.pop_front();
  }
  // Locked outside the mutex: if this turns out to be the last owner, the session's destructor
  // runs here, and it takes the mutex.
  return owner.lock();
}

void IoThread::Sweep() {
  const auto now = std::chrono::steady_clock::now();
  // Closed sessions leave an expired weak_ptr behind: drop them as the list is walked.
  std::erase_if(watched_, [now](const std::weak_ptr<SessionBase>& weak) {
    auto session = weak.lock();
    if (!session) return true;
    session->CheckDeadline(now);
    return false;
  });
  if (chore_) chore_(now);
  if (!stopped_sweeping_) StartSweeping();
}

// ---- ServerCore ---------------------------------------------------------------------------

ServerCore::ServerCore(ServerOptions options, TrustedProxies trusted)
    : options_(std::move(options)),
      trusted_(std::move(trusted)),
      hashing_pool_(std::make_shared<WorkerPool>(
          "hashing", options_.hashing_workers, options_.hashing_queue,
          WorkerPool::Scheduling{options_.hashing_priority == ServerOptions::HashingPriority::kIdle,
                                 options_.hashing_nice})),
      storage_pool_(std::make_shared<WorkerPool>("storage", options_.storage_workers,
                                                 options_.storage_queue)),
      hashing_shares_(std::make_shared<QueueShares>(options_.hashing_queue)),
      open_sessions_(std::make_shared<std::atomic<std::size_t>>(0)),
      limits_(std::make_shared<ConnectionLimits>(LimitSettings(options_))) {
  if (!options_.access_log) default_log_ = std::make_unique<LogWriter>(std::cerr);
  access_log_ = std::make_unique<AccessLogQueue>([this](std::string_view lines) {
    if (options_.access_log_lines) {
      options_.access_log_lines(lines);
    } else if (options_.access_log) {
      // One call per line, without its newline (every line of a block ends in one).
      for (std::size_t end; (end = lines.find('\n')) != std::string_view::npos;) {
        options_.access_log(lines.substr(0, end));
        lines.remove_prefix(end + 1);
      }
    } else {
      default_log_->WriteLines(lines);
    }
  });
  const std::size_t count = std::max<std::size_t>(options_.io_threads, 1);
  for (std::size_t i = 0; i < count; ++i) {
    io_threads_.push_back(std::make_unique<IoThread>(kSweepInterval));
    keep_running_.push_back(net::make_work_guard(io_threads_.back()->io_context()));
  }
  // Requests that waited too long for a hashing thread are answered from here, a few times a
  // second, even while the hashing threads get no CPU.
  io_threads_.front()->AlsoOnSweep(
      [pool = hashing_pool_](std::chrono::steady_clock::time_point now) {
        pool->ExpireOverdue(now);
      });
  grace_timer_.emplace(control_context());
  if (Metrics* metrics = options_.metrics) {
    for (const auto& pool : {hashing_pool_, storage_pool_}) {
      const std::string labels = "pool=\"" + pool->name() + "\"";
      metrics->AddGauge("credstore_http_pool_queue_depth", labels,
                        "Requests waiting for a worker thread, by pool.",
                        [pool] { return static_cast<double>(pool->queue_depth()); });
      metrics->AddGauge("credstore_http_pool_queue_capacity", labels,
                        "Most requests that may wait for a worker thread, by pool.",
                        [pool] { return static_cast<double>(pool->queue_capacity()); });
      metrics->AddGauge("credstore_http_pool_busy_workers", labels,
                        "Worker threads running a request, by pool.",
                        [pool] { return static_cast<double>(pool->busy()); });
      metrics->AddGauge("credstore_http_pool_workers", labels, "Worker threads, by pool.",
                        [pool] { return static_cast<double>(pool->workers()); });
      metrics->AddGauge("credstore_http_pool_rejected_total", labels,
                        "Requests answered 503 because the pool's queue was full.",
                        [pool] { return static_cast<double>(pool->rejected()); });
      metrics->AddGauge("credstore_http_pool_expired_total", labels,
                        "Requests answered 503 because they waited longer than the pool's "
                        "queue wait for a worker thread.",
                        [pool] { return static_cast<double>(pool->expired()); });
    }
    metrics->AddGauge(
        "credstore_http_pool_share_refusals_total", "pool=\"hashing\"",
        "Requests answered 503 because their client held its share (a quarter) of "
        "the pool's queue.",
        [shares = hashing_shares_] { return static_cast<double>(shares->refused()); });
    metrics->AddGauge("credstore_http_open_connections", "", "Open client connections.",
                      [count = open_sessions_] { return static_cast<double>(count->load()); });
    metrics->AddGauge(
        "credstore_http_max_connections", "",
        "Most client connections open at once (--max-connections).",
        [limits = limits_] { return static_cast<double>(limits->settings().max_connections); });
    metrics->AddGauge(
        "credstore_http_connections_refused_total", "reason=\"max_connections\"",
        "New connections closed at once by a connection limit, by limit.", [limits = limits_] {
          return static_cast<double>(limits->refused(ConnectionLimits::Refusal::kMaxConnections));
        });
    metrics->AddGauge(
        "credstore_http_connections_refused_total", "reason=\"per_address\"",
        "New connections closed at once by a connection limit, by limit.", [limits = limits_] {
          return static_cast<double>(limits->refused(ConnectionLimits::Refusal::kPerAddress));
        });
    metrics->AddGauge("credstore_http_connections_evicted_total", "",
                      "Idle keep-alive connections closed to make room for a new connection.",
                      [limits = limits_] { return static_cast<double>(limits->evicted()); });
    metrics->AddGauge(
        "credstore_log_lines_dropped_total", "",
        "Access-log lines dropped because the log writer fell behind.",
        [queue = access_log_.get()] { return static_cast<double>(queue->dropped()); });
  }
}

ServerCore::~ServerCore() {
  // Tasks still queued hold sessions and work guards on the io_contexts: drop them (and wait
  // for running ones) while the io_contexts are alive. Then let the listeners go; the I/O
  // threads die next (declared last), destroying whatever handlers are left.
  hashing_pool_->Shutdown();
  storage_pool_->Shutdown();
  listeners_.clear();
  keep_running_.clear();
  access_log_->Flush();
  std::lock_guard<std::mutex> lock(mutex_);
  destroying_ = true;  // sessions dying with the io_contexts must not post to them
}

IoThread& ServerCore::NextIoThread() {
  const std::size_t next = next_io_thread_.fetch_add(1, std::memory_order_relaxed);
  return *io_threads_[next % io_threads_.size()];
}

std::string ServerCore::NewRequestId() {
  // splitmix64 over a per-thread counter from a random start: distinct inputs give distinct
  // outputs (it is a bijection), so one thread never repeats an id, and threads start at
  // unrelated random points of the sequence.
  thread_local std::uint64_t state = [] {
    std::random_device device;
    return (static_cast<std::uint64_t>(device()) << 32) ^ device();
  }();
  std::uint64_t value = (state += 0x9e3779b97f4a7c15ULL);
  value = (value ^ (value >> 30)) * 0xbf58476d1ce4e5b9ULL;
  value = (value ^ (value >> 27)) * 0x94d049bb133111ebULL;
  value ^= value >> 31;
  static constexpr char kHex[] = "0123456789abcdef";
  std::string id(16, '0');
  for (int i = 15; i >= 0; --i) {
    id[static_cast<std::size_t>(i)] = kHex[value & 0xf];
    value >>= 4;
  }
  return id;
}

void ServerCore::RecordFinished(const ListenerContext& listener, const FinishedRequest& request) {
  const auto latency = std::chrono::duration_cast<std::chrono::microseconds>(
      std::chrono::steady_clock::now() - request.started);
  if (options_.metrics) {
    options_.metrics->RecordRequest(listener.name, request.route_template, request.status, latency);
  }
  AccessLogEntry entry;
  entry.time = std::chrono::system_clock::now();
  entry.request_id = request.request_id;
  entry.listener = listener.name;
  entry.method = request.method;
  entry.route_template = request.route_template;
  entry.status = request.status;
  entry.latency = latency;
  entry.client_address = request.client_address.empty() ? "local" : request.client_address;
  // The thread's own line buffer, kept between requests: formatting allocates nothing once it
  // has grown to the longest line (Append copies the line into the thread's queue buffer).
  thread_local std::string line;
  line.clear();
  AppendAccessLogLine(line, entry);
  access_log_->Append(line);
}

ConnectionSlot ServerCore::Admit(const ListenerContext& listener,
                                 const std::optional<boost::asio::ip::address>& peer) {
  const bool reserved = listener.role == ListenerRole::kOperator;
  std::string bucket;
  // Per address: public TCP connections whose peer is not a trusted proxy. The bucket is the
  // store's throttling bucket, so "one address" means the same thing everywhere.
  if (!reserved && peer && limits_->settings().max_per_address > 0 && !trusted_.Contains(*peer)) {
    bucket = ThrottleBucketOf(AddressText(*peer)).value_or("");
  }
  ConnectionLimits::Admission admission = limits_->TryAdmit(reserved, bucket);
  // Full: an idle keep-alive connection can reconnect when it needs to; the new one has
  // nowhere else to go. A few tries, since a session found may be closing by itself already.
  for (int attempt = 0;
       attempt < 4 && admission.refused == ConnectionLimits::Refusal::kMaxConnections &&
       EvictOldestIdle();
       ++attempt) {
    admission = limits_->TryAdmit(reserved, bucket);
  }
  if (admission.refused != ConnectionLimits::Refusal::kNone) {
    limits_->CountRefusal(admission.refused);
  }
  return std::move(admission.slot);
}

bool ServerCore::EvictOldestIdle() {
  for (int attempt = 0; attempt < 8; ++attempt) {
    IoThread* oldest = nullptr;
    std::chrono::steady_clock::time_point oldest_since =
        std::chrono::steady_clock::time_point::max();
    for (const auto& thread : io_threads_) {
      const auto since = thread->OldestIdleSince();
      if (since && *since < oldest_since) {
        oldest_since = *since;
        oldest = thread.get();
      }
    }
    if (oldest == nullptr) return false;
    // Another session may have become the front meanwhile: it is nearly as old, good enough.
    if (std::shared_ptr<SessionBase> session = oldest->TakeOldestIdle()) {
      session->Evict();
      limits_->CountEviction();
      return true;
    }
  }
  return false;
}

bool ServerCore::Register(const std::shared_ptr<SessionBase>& session) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (stopping_) return false;
  sessions_.emplace(session.get(), session);
  open_sessions_->store(sessions_.size());
  return true;
}

void ServerCore::Unregister(SessionBase* session) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (sessions_.erase(session) == 0) return;
  open_sessions_->store(sessions_.size());
  if (stopping_ && sessions_.empty() && !destroying_) {
    // The last connection is gone: the grace period need not run out, and nothing is left to
    // sweep, so every I/O thread may run out of work and return.
    net::post(control_context(), [this] { grace_timer_->cancel(); });
    for (const auto& thread : io_threads_) thread->StopSweeping();
  }
}

void ServerCore::AddListener(std::shared_ptr<ListenerBase> listener) {
  listeners_.push_back(std::move(listener));
}

void ServerCore::Run() {
  auto run = [](IoThread& thread) {
    thread.StartSweeping();
    for (;;) {
      try {
        thread.io_context().run();
        return;
      } catch (const std::exception&) {
        // A handler threw (out of memory, most likely): keep serving the other connections.
      }
    }
  };
  std::vector<std::thread> threads;
  threads.reserve(io_threads_.size() - 1);
  for (std::size_t i = 1; i < io_threads_.size(); ++i) {
    threads.emplace_back(run, std::ref(*io_threads_[i]));
  }
  run(*io_threads_.front());
  for (std::thread& thread : threads) thread.join();
  // Every connection is gone, so no task is waiting for a pool: stop the workers.
  hashing_pool_->Shutdown();
  storage_pool_->Shutdown();
  access_log_->Flush();
}

void ServerCore::RequestStop() {
  net::post(control_context(), [this] { DoStop(); });
}

void ServerCore::DoStop() {
  std::vector<std::shared_ptr<SessionBase>> sessions;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (stopping_) return;
    stopping_ = true;
    for (auto& [raw, weak] : sessions_) {
      if (auto session = weak.lock()) sessions.push_back(std::move(session));
    }
    if (sessions_.empty()) {
      for (const auto& thread : io_threads_) thread->StopSweeping();
    }
  }
  for (const auto& listener : listeners_) listener->Close();
  listeners_.clear();
  keep_running_.clear();  // from now on, Run() returns when the last connection is gone
  for (const auto& session : sessions) session->BeginShutdown();
  if (sessions.empty()) return;
  grace_timer_->expires_after(options_.shutdown_grace);
  grace_timer_->async_wait([this](boost::system::error_code error) {
    if (!error) OnGraceExpired();
  });
}

void ServerCore::OnGraceExpired() {
  std::vector<std::shared_ptr<SessionBase>> sessions;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    for (auto& [raw, weak] : sessions_) {
      if (auto session = weak.lock()) sessions.push_back(std::move(session));
    }
  }
  // Requests still waiting for a worker will not be answered in time: drop them.
  hashing_pool_->DropQueued();
  storage_pool_->DropQueued();
  for (const auto& session : sessions) session->ForceClose();
}

// ---- Server -------------------------------------------------------------------------------

class Server::Impl final : public ServerCore {
 public:
  using ServerCore::ServerCore;

  void AddTlsListener(std::shared_ptr<ListenerContext> context) {
    std::lock_guard<std::mutex> lock(tls_mutex_);
    tls_listeners_.push_back(std::move(context));
  }

  // All or nothing: every file is loaded before any listener's context is replaced, so a bad
  // file leaves each listener as it was.
  Status ReloadTls() {
    std::lock_guard<std::mutex> lock(tls_mutex_);
    std::vector<std::shared_ptr<net::ssl::context>> loaded;
    for (const auto& listener : tls_listeners_) {
      auto tls = LoadTlsContext(*listener->tls_files);
      if (!tls.ok()) return tls.status();
      loaded.push_back(std::move(tls).value());
    }
    for (std::size_t i = 0; i < loaded.size(); ++i) tls_listeners_[i]->ReplaceTls(loaded[i]);
    return Status::Ok();
  }

 private:
  std::mutex tls_mutex_;                                         // one reload at a time
  std::vector<std::shared_ptr<ListenerContext>> tls_listeners_;  // guarded by tls_mutex_
};

Server::Server(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Server::~Server() = default;

std::size_t DefaultMaxConnections() {
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) != 0 || limit.rlim_cur == RLIM_INFINITY) {
    return 1024 - 256;  // as for the usual soft limit of 1024
  }
  const auto descriptors = static_cast<std::size_t>(limit.rlim_cur);
  const std::size_t headroom =
      std::max(descriptors / 8, std::min<std::size_t>(256, descriptors / 2));
  return std::max<std::size_t>(descriptors - std::min(headroom, descriptors), 1);
}

Result<std::unique_ptr<Server>> Server::Create(ServerOptions options) {
  if (options.io_threads == 0) return Status::InvalidArgument("io_threads must be at least 1");
  if (options.hashing_workers == 0 || options.storage_workers == 0) {
    return Status::InvalidArgument("each worker pool needs at least 1 thread");
  }
  if (options.hashing_nice < 0 || options.hashing_nice > 19) {
    return Status::InvalidArgument("hashing_nice must be between 0 and 19");
  }
  if (options.max_pipelined == 0) {
    return Status::InvalidArgument("max_pipelined must be at least 1");
  }
  if (options.header_limit == 0 || options.header_limit > 0xffffffffu) {
    return Status::InvalidArgument("header_limit is out of range");
  }
  using std::chrono::milliseconds;
  for (const milliseconds timeout :
       {options.read_timeout, options.idle_timeout, options.write_timeout,
        options.first_byte_timeout, options.hashing_queue_wait}) {
    if (timeout <= milliseconds::zero()) {
      return Status::InvalidArgument("every timeout must be positive");
    }
  }
  if (options.max_connections == 0) options.max_connections = DefaultMaxConnections();
  auto trusted = TrustedProxies::Parse(options.trusted_proxies);
  if (!trusted.ok()) return trusted.status();
  return std::unique_ptr<Server>(
      new Server(std::make_unique<Impl>(std::move(options), std::move(trusted).value())));
}

Result<std::uint16_t> Server::AddTcpListener(const tcp::endpoint& endpoint, HttpApi& api,
                                             std::optional<TlsConfig> tls, std::string name,
                                             ListenerRole role) {
  auto context = std::make_shared<ListenerContext>();
  context->name = std::move(name);
  context->api = &api;
  context->role = role;
  if (tls) {
    auto ssl = LoadTlsContext(*tls);
    if (!ssl.ok()) return ssl.status();
    context->ReplaceTls(std::move(ssl).value());
    context->tls_files = std::move(tls);
  }

  tcp::acceptor acceptor(impl_->control_context());
  boost::system::error_code error;
  const std::string where = Describe(endpoint);
  acceptor.open(endpoint.protocol(), error);
  if (!error) acceptor.set_option(net::socket_base::reuse_address(true), error);
  if (!error) acceptor.bind(endpoint, error);
  if (!error) acceptor.listen(net::socket_base::max_listen_connections, error);
  if (error) return Status::Unavailable("cannot listen on " + where + ": " + error.message());
  const std::uint16_t port = acceptor.local_endpoint(error).port();
  if (error) return Status::Unavailable("cannot listen on " + where + ": " + error.message());

  const std::string listener_name = context->name;
  if (context->tls_files) impl_->AddTlsListener(context);
  auto listener =
      std::make_shared<Listener<tcp>>(*impl_, std::move(context), std::move(acceptor), "");
  AddAcceptFailureGauge(impl_->options().metrics, listener_name, listener->failures());
  listener->Start();
  impl_->AddListener(std::move(listener));
  return port;
}

Status Server::AddUnixListener(const std::string& path, HttpApi& api, std::string name,
                               ListenerRole role) {
  if (path.empty() || path.size() >= sizeof(sockaddr_un::sun_path)) {
    return Status::InvalidArgument("unix socket path is empty or too long");
  }
  struct stat existing {};
  if (::lstat(path.c_str(), &existing) == 0) {
    if (!S_ISSOCK(existing.st_mode)) {
      return Status::Unavailable("cannot listen on " + path +
                                 ": a file that is not a socket "
                                 "is in the way");
    }
    // Somebody listening there is another server; nobody listening is a stale socket file.
    local::socket probe(impl_->control_context());
    boost::system::error_code probe_error;
    probe.connect(local::endpoint(path), probe_error);
    if (!probe_error) {
      return Status::Unavailable("cannot listen on " + path + ": another server is using it");
    }
    ::unlink(path.c_str());
  }

  local::acceptor acceptor(impl_->control_context());
  boost::system::error_code error;
  acceptor.open(local(), error);
  if (!error) {
    // Owner only, from the first moment the socket exists: the operator token is not the only
    // lock on the operator door.
    const mode_t previous = ::umask(0177);
    acceptor.bind(local::endpoint(path), error);
    ::umask(previous);
  }
  if (!error && ::chmod(path.c_str(), 0600) != 0) {
    error = boost::system::error_code(errno, boost::system::system_category());
  }
  if (!error) acceptor.listen(net::socket_base::max_listen_connections, error);
  if (error) return Status::Unavailable("cannot listen on " + path + ": " + error.message());

  auto context = std::make_shared<ListenerContext>();
  context->name = std::move(name);
  context->api = &api;
  context->role = role;
  const std::string listener_name = context->name;
  auto listener =
      std::make_shared<Listener<local>>(*impl_, std::move(context), std::move(acceptor), path);
  AddAcceptFailureGauge(impl_->options().metrics, listener_name, listener->failures());
  listener->Start();
  impl_->AddListener(std::move(listener));
  return Status::Ok();
}

void Server::Run() { impl_->Run(); }

Status Server::ReloadTls() { return impl_->ReloadTls(); }

void Server::Stop() { impl_->RequestStop(); }

}  // namespace credstore::http
