// server_session.h — one HTTP/1.1 connection: keep-alive, pipelining, timeouts, graceful close.
//
// Follows Beast's advanced server, on one I/O thread: the connection lives on one io_context
// run by one thread, so its handlers never run concurrently and need no strand. A fresh parser
// per message. Timeouts are deadlines checked by the thread's sweep (CheckDeadline), not a
// timer per operation. Reading has two phases so the timeouts mean what they say: waiting for
// the first byte of the next request uses the idle timeout (the first-byte timeout for a new
// connection's first request), reading a request once it has begun uses the read timeout.
//
// Limits: a session holds a ConnectionSlot from its accept to its end. While a public session
// waits between requests it is listed as idle on its thread, and a new connection at the limit
// may evict it (Evict: the slot is given back at once, the socket closed on this thread).
//
// Each request is routed once (HttpApi::Route) on this thread. An early answer is sent as it
// is; a prepared call runs here (kInline, or kStorage when its non-blocking attempt answers) or
// on the storage or hashing pool, whose answer is posted back here.
//
// Pipelining: requests already received are read ahead into `slots_` (at most
// `max_pipelined`), each dispatched at once; responses complete in any order but are written
// strictly in request order from the front of `slots_`. The socket is read for more only when
// bytes of a request are already buffered or every answer has been written, so the idle timeout
// never runs while a response is pending.
//
// State: the read side and the write side each have one state (ReadState, WriteState) instead
// of a handful of booleans; MaybeRead, MaybeWrite and MaybeFinish are the only places that move
// a connection on.
//
// Closing: a connection that must close after a response (the client asked, a parse error, a
// stop) shuts down its send side and drains what the client is still sending for a moment
// before closing, so the client reads the response instead of a reset.
//
// Stream is a TCP socket, a beast::ssl_stream over one, or a unix stream socket, each bound to
// its I/O thread's io_context executor.
#ifndef CREDSTORE_HTTP_SRC_SERVER_SESSION_H_
#define CREDSTORE_HTTP_SRC_SERVER_SESSION_H_

#include <openssl/crypto.h>
#include <sys/socket.h>

#include <array>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <chrono>
#include <cstdint>
#include <deque>
#include <exception>
#include <iterator>
#include <memory>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>

#include "credstore/http/problem.h"
#include "response_wire.h"
#include "server_core.h"

namespace credstore::http {

namespace session_detail {

// How long a closing connection waits for a TLS close_notify, and then drains the client's
// remaining bytes, before it closes the socket.
inline constexpr std::chrono::seconds kTlsShutdownTimeout{1};
inline constexpr std::chrono::seconds kDrainTimeout{2};
// At most this much is drained; a client still sending after it is reset.
inline constexpr std::size_t kDrainBudget = 1024 * 1024;
inline constexpr std::size_t kReadChunk = 4096;

// The method for logs: a standard verb, or "unknown" (a client-chosen token is never logged).
inline std::string_view MethodName(boost::beast::http::verb verb) {
  if (verb == boost::beast::http::verb::unknown) return "unknown";
  const auto name = boost::beast::http::to_string(verb);
  return {name.data(), name.size()};
}

// True for a TLS stream (beast::ssl_stream over any socket).
template <class Stream>
struct IsTlsStream : std::false_type {};
template <class NextLayer>
struct IsTlsStream<boost::beast::ssl_stream<NextLayer>> : std::true_type {};

// True for a unix stream socket, whatever its executor.
template <class Stream>
struct IsUnixStream : std::false_type {};
template <class Executor>
struct IsUnixStream<boost::asio::basic_stream_socket<boost::asio::local::stream_protocol, Executor>>
    : std::true_type {};

// Best-effort wipe of a message body that may hold a secret or a key.
inline void WipeBody(std::string& body) {
  if (!body.empty()) OPENSSL_cleanse(body.data(), body.size());
  body.clear();
}

}  // namespace session_detail

template <class Stream>
class Session final : public SessionBase, public std::enable_shared_from_this<Session<Stream>> {
 public:
  static constexpr bool kTls = session_detail::IsTlsStream<Stream>::value;
  static constexpr bool kUnix = session_detail::IsUnixStream<Stream>::value;

  // `peer` is the TCP peer's address; nullopt on a unix socket. `slot` is the connection's
  // place under the connection limits, held until the session ends. `stream_args` build the
  // Stream, whose socket belongs to `thread`'s io_context.
  template <class... StreamArgs>
  Session(ServerCore& core, IoThread& thread, std::shared_ptr<ListenerContext> listener,
          std::optional<boost::asio::ip::address> peer, ConnectionSlot slot,
          StreamArgs&&... stream_args)
      : core_(core),
        thread_(thread),
        listener_(std::move(listener)),
        peer_(peer ? std::optional<PeerAddress>(std::in_place, *peer) : std::nullopt),
        slot_(std::move(slot)),
        stream_(std::forward<StreamArgs>(stream_args)...) {}

  ~Session() override {
    session_detail::WipeBody(wire_);  // a write the io_context dropped unfinished
    thread_.UnlistIdle(*this);
    core_.Unregister(this);
  }

  // Joins the thread's deadline sweep, then starts the TLS handshake (TLS listeners) or the
  // first read.
  void Start() {
    boost::asio::dispatch(stream_.get_executor(), [self = this->shared_from_this()] {
      self->thread_.Watch(self);
      self->OnStart();
    });
  }

  void BeginShutdown() override {
    boost::asio::post(stream_.get_executor(),
                      [self = this->shared_from_this()] { self->OnBeginShutdown(); });
  }

  void Evict() override {
    slot_.Release();  // now: the connection that evicts this one takes the place at once
    boost::asio::post(stream_.get_executor(),
                      [self = this->shared_from_this()] { self->CloseNow(); });
  }

  void ForceClose() override {
    boost::asio::post(stream_.get_executor(),
                      [self = this->shared_from_this()] { self->CloseNow(); });
  }

  void CheckDeadline(std::chrono::steady_clock::time_point now) override {
    if (now >= read_deadline_ || now >= write_deadline_) {
      // As a timer would: closing the socket ends the pending operations with an error.
      read_deadline_ = write_deadline_ = kNever;
      boost::beast::error_code ignored;
      Lowest().close(ignored);
    }
  }

 private:
  using Parser = boost::beast::http::request_parser<boost::beast::http::string_body>;

  // What the read side is doing.
  enum class ReadState {
    kHandshaking,      // the TLS handshake is in progress
    kReady,            // nothing in progress; MaybeRead may start the next read
    kAwaitingRequest,  // waiting (idle or first-byte timeout) for the next request to begin
    kReadingRequest,   // reading a request that has begun (read timeout)
    kClosed,           // no further request will be read, and no read is in progress
  };
  // What the write side is doing.
  enum class WriteState {
    kIdle,         // nothing being written
    kWriting,      // a response (or 100 Continue) is being written; more may follow
    kWritingLast,  // the last response is being written; the connection closes after it
    kClosing,      // closing or closed: nothing more is written
  };

  // One request read from this connection, until its response has been written.
  struct Slot {
    std::uint64_t id = 0;
    std::string request_id;
    std::string client_address;
    std::string_view route_template = "unmatched";  // static storage (http_api.h)
    std::string_view method;
    unsigned http_version = 11;
    bool client_keep_alive = true;  // the client did not ask to close after this one
    std::chrono::steady_clock::time_point started;
    std::optional<Response> response;  // set once the answer is known
  };

  auto& Lowest() { return boost::beast::get_lowest_layer(stream_); }

  // Deadlines of the read side and of the write side (a pipelined read may run beside a write).
  void ReadDeadline(std::chrono::steady_clock::duration timeout) {
    read_deadline_ = std::chrono::steady_clock::now() + timeout;
  }
  void WriteDeadline(std::chrono::steady_clock::duration timeout) {
    write_deadline_ = std::chrono::steady_clock::now() + timeout;
  }
  static constexpr auto kNever = std::chrono::steady_clock::time_point::max();

  auto Bind(void (Session::*handler)(boost::beast::error_code)) {
    return [self = this->shared_from_this(), handler](boost::beast::error_code error) {
      ((*self).*handler)(error);
    };
  }
  auto Bind(void (Session::*handler)(boost::beast::error_code, std::size_t)) {
    return [self = this->shared_from_this(), handler](boost::beast::error_code error,
                                                      std::size_t bytes) {
      ((*self).*handler)(error, bytes);
    };
  }

  // ---- Start and reading ----------------------------------------------------------------

  void OnStart() {
    if constexpr (kUnix) {
      // Who is on the other end of a unix socket: the kernel's word, not the request's.
      ucred peer{};
      socklen_t size = sizeof peer;
      if (::getsockopt(Lowest().native_handle(), SOL_SOCKET, SO_PEERCRED, &peer, &size) == 0) {
        peer_uid_ = peer.uid;
      }
    }
    if constexpr (kTls) {
      read_ = ReadState::kHandshaking;
      // A client that never sends its ClientHello is one that never sends a byte.
      ReadDeadline(core_.options().first_byte_timeout);
      stream_.async_handshake(boost::asio::ssl::stream_base::server, Bind(&Session::OnHandshake));
    } else {
      MaybeRead();
    }
  }

  void OnHandshake(boost::beast::error_code error) {
    read_deadline_ = kNever;
    read_ = ReadState::kReady;
    if (error) return CloseNow();  // a failed handshake has nobody to answer
    MaybeRead();
  }

  // Reads the next request if one may be read now.
  void MaybeRead() {
    if (read_ != ReadState::kReady || write_ == WriteState::kClosing) return;
    if (server_stopping_) {
      read_ = ReadState::kClosed;
      return MaybeFinish();
    }
    if (slots_.size() >= core_.options().max_pipelined) return;  // resumed by OnWrite
    if (buffer_.size() > 0) return StartMessage();  // a pipelined request is already here
    // Nothing buffered: wait for the next request only once every answer is out. The idle
    // timeout closes the socket when it runs out, which must never cut off a response that is
    // still being computed (an Argon2id call queued behind others can take seconds). Requests
    // pipelined in the same segments as earlier ones are buffered and still read ahead.
    if (!slots_.empty()) return;  // resumed by OnWrite
    read_ = ReadState::kAwaitingRequest;
    // A connection that has not sent a request yet gets the short first-byte timeout: it holds
    // a descriptor and has shown no sign of wanting anything. Between requests, a keep-alive
    // connection gets the idle timeout, and may be evicted for a new one at the limit.
    const bool first_request = next_slot_id_ == 0;
    const auto now = std::chrono::steady_clock::now();
    read_deadline_ =
        now + (first_request ? core_.options().first_byte_timeout : core_.options().idle_timeout);
    if (!first_request && listener_->role == ListenerRole::kPublic) {
      thread_.ListIdle(this->shared_from_this(), now);
    }
    stream_.async_read_some(buffer_.prepare(session_detail::kReadChunk),
                            Bind(&Session::OnIdleRead));
  }

  void OnIdleRead(boost::beast::error_code error, std::size_t bytes) {
    thread_.UnlistIdle(*this);
    if (!error && bytes > 0 && !slot_.held()) {
      // Evicted just as the next request began: the close Evict() posted is on its way, and
      // the slot is someone else's now. The client sees the race every keep-alive client must
      // handle (a server closing an idle connection), and may retry.
      read_deadline_ = kNever;
      read_ = ReadState::kClosed;
      return CloseNow();
    }
    if (!error && bytes > 0) {
      // A request has begun. It is served even when the server began stopping meanwhile (the
      // cancel in OnBeginShutdown raced with its arrival): its client is waiting for an answer,
      // and MaybeRead reads nothing after it, so the answer carries Connection: close.
      buffer_.commit(bytes);
      return StartMessage();
    }
    // The client closed, went quiet past the idle timeout, or the server is stopping between
    // requests: no request is lost by closing now.
    read_deadline_ = kNever;
    read_ = ReadState::kClosed;
    MaybeFinish();
  }

  void StartMessage() {
    read_ = ReadState::kReadingRequest;
    parser_.emplace();
    parser_->header_limit(static_cast<std::uint32_t>(core_.options().header_limit));
    parser_->body_limit(listener_->api->max_body_bytes());
    message_started_ = std::chrono::steady_clock::now();
    ReadDeadline(core_.options().read_timeout);
    header_bytes_ = 0;
    ReadHeader();
  }

  // Reads the header: Beast's async_read_header, but counting. Beast applies its header limit to
  // each parse step's window, not to the whole header, so small fields arriving in parts added
  // up far past it (12 KB and more against 8 KiB). The bytes the parser uses for the request
  // line and the fields (with their CRLFs and the empty line) are counted after every step,
  // and one byte over the limit is 431, exactly and before more is read.
  void ReadHeader() {
    namespace http = boost::beast::http;
    if (buffer_.size() > 0) {
      boost::beast::error_code error;
      const std::size_t used = parser_->put(buffer_.data(), error);  // stops at the header's end
      buffer_.consume(used);
      header_bytes_ += used;
      if (header_bytes_ > core_.options().header_limit) error = http::error::header_limit;
      if (error != http::error::need_more) return OnHeader(error);
    }
    stream_.async_read_some(buffer_.prepare(session_detail::kReadChunk),
                            Bind(&Session::OnHeaderBytes));
  }

  void OnHeaderBytes(boost::beast::error_code error, std::size_t bytes) {
    if (error) return OnReadError(error);  // the client left, or the read timeout ran out
    buffer_.commit(bytes);
    ReadHeader();
  }

  void OnHeader(boost::beast::error_code error) {
    if (error) return OnReadError(error);
    if (AmbiguousFraming(parser_->get())) {
      return RejectFraming("the request's Transfer-Encoding is not exactly \"chunked\"");
    }
    if (parser_->is_done()) return OnMessage({}, 0);
    const auto& header = parser_->get();
    const auto expect = header[boost::beast::http::field::expect];
    // "Expect: 100-continue" (curl sends it for large bodies): say go ahead, unless a response
    // is being written right now — then the client's own expect timeout sends the body anyway.
    if (header.version() == 11 && boost::beast::iequals(expect, "100-continue") &&
        write_ == WriteState::kIdle && slots_.empty()) {
      write_ = WriteState::kWriting;
      WriteDeadline(core_.options().write_timeout);
      static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
      return boost::asio::async_write(stream_,
                                      boost::asio::buffer(kContinue.data(), kContinue.size()),
                                      Bind(&Session::OnContinueWritten));
    }
    ReadBody();
  }

  void OnContinueWritten(boost::beast::error_code error, std::size_t) {
    write_deadline_ = kNever;
    if (write_ == WriteState::kWriting) write_ = WriteState::kIdle;
    if (error) {
      read_ = ReadState::kClosed;
      return CloseNow();
    }
    ReadBody();  // still under the read deadline StartMessage set
  }

  void ReadBody() {
    if (parser_->chunked()) return ReadChunkedBody();
    boost::beast::http::async_read(stream_, buffer_, *parser_, Bind(&Session::OnMessage));
  }

  // RFC 9112 §6.1 and §6.3: a body that a proxy in front could frame differently from Beast is
  // request smuggling. Beast frames "identity" or "xchunked" beside Content-Length by the
  // Content-Length, and "gzip, chunked" by its chunks while leaving the body gzipped; no
  // transfer coding but chunked is implemented. So the one accepted Transfer-Encoding is one
  // field of exactly "chunked" (any case), and never beside Content-Length (which §6.3 lets a
  // server treat as an error, and which is the safe answer).
  static bool AmbiguousFraming(const Request& header) {
    namespace http = boost::beast::http;
    const auto [first, last] = header.equal_range(http::field::transfer_encoding);
    if (first == last) return false;
    return std::next(first) != last || header.count(http::field::content_length) > 0 ||
           !boost::beast::iequals(first->value(), "chunked");
  }

  // 400 before the body is read; the connection closes, since where the body ends is unknown.
  void RejectFraming(const std::string& detail) {
    read_deadline_ = kNever;
    read_ = ReadState::kClosed;
    parser_.reset();
    AnswerUnparsed(boost::beast::http::status::bad_request, detail);
    MaybeFinish();
  }

  // A chunked body, read in parts. Beast 1.81 ends a chunk-size or trailer line only at CRLF and
  // skips a bare LF, so a body framed with bare LFs (RFC 9112 §7.1 allows only CRLF) would wait
  // for the read timeout. With eager parsing Beast consumes every byte it can, including chunk
  // data as it arrives, so whatever stays buffered is framing it could not finish; a LF there
  // without its CR can never become valid (not in a chunk size, an extension or a trailer
  // field), and is answered 400 at once. Checking the unparsed rest is all that is needed.
  void ReadChunkedBody() {
    namespace http = boost::beast::http;
    parser_->eager(true);
    // What arrived with the header first: async_read_some would wait for more bytes before
    // looking at what is buffered and unfinished.
    if (buffer_.size() > 0 && !parser_->is_done()) {  // done: the rest is the next request
      boost::beast::error_code error;
      buffer_.consume(parser_->put(buffer_.data(), error));
      if (error && error != http::error::need_more) return OnReadError(error);
    }
    if (parser_->is_done()) return OnMessage({}, 0);
    const auto* rest = static_cast<const char*>(buffer_.data().data());
    for (std::size_t i = 0; i < buffer_.size(); ++i) {
      if (rest[i] == '\n' && (i == 0 || rest[i - 1] != '\r')) {
        return RejectFraming("a chunk's framing line ends in a bare LF, not CRLF");
      }
    }
    http::async_read_some(stream_, buffer_, *parser_, Bind(&Session::OnChunkedPart));
  }

  void OnChunkedPart(boost::beast::error_code error, std::size_t) {
    if (error) return OnReadError(error);
    ReadChunkedBody();
  }

  void OnMessage(boost::beast::error_code error, std::size_t) {
    if (error) return OnReadError(error);
    read_deadline_ = kNever;
    read_ = ReadState::kReady;
    Request request = parser_->release();
    parser_.reset();
    Dispatch(std::move(request));
    MaybeRead();
  }

  void OnReadError(boost::beast::error_code error) {
    namespace http = boost::beast::http;
    read_deadline_ = kNever;
    read_ = ReadState::kClosed;
    const auto& options = core_.options();
    if (error == http::error::body_limit) {
      // The header is complete: answer in the documented order (404/405 before 413).
      Request header = parser_->release();
      session_detail::WipeBody(header.body());
      parser_.reset();
      AnswerTooLarge(std::move(header));
    } else if (error == http::error::header_limit) {
      parser_.reset();
      AnswerUnparsed(
          http::status::request_header_fields_too_large,
          "the request header is larger than " + std::to_string(options.header_limit) + " bytes");
    } else if (error.category() == http::make_error_code(http::error::end_of_stream).category() &&
               error != http::error::end_of_stream && error != http::error::partial_message) {
      parser_.reset();
      AnswerUnparsed(http::status::bad_request, "the request is not valid HTTP/1.1");
    } else {
      // The client left mid-request, the read timeout ran out (the sweep closed the socket),
      // or the server is closing: nobody is left to answer.
      parser_.reset();
    }
    MaybeFinish();
  }

  // ---- Dispatching a request ------------------------------------------------------------

  RequestMeta NewMeta(const Request& request) {
    RequestMeta meta;
    meta.request_id = ServerCore::NewRequestId();
    if (peer_) meta.client_address = ResolveClientAddress(*peer_, request, core_.trusted_proxies());
    meta.peer_uid = peer_uid_;
    meta.http_version = request.version() == 10 ? 10 : 11;
    meta.keep_alive = request.keep_alive();
    return meta;
  }

  Slot& PushSlot(const Request& request, const RequestMeta& meta) {
    Slot slot;
    slot.id = next_slot_id_++;
    slot.request_id = meta.request_id;
    slot.client_address = meta.client_address;
    slot.method = session_detail::MethodName(request.method());
    slot.http_version = meta.http_version;
    slot.client_keep_alive = meta.keep_alive;
    slot.started = message_started_;
    slots_.push_back(std::move(slot));
    return slots_.back();
  }

  // Route() for the server: never lets an exception out (it would take the thread down).
  std::optional<Routed> SafeRoute(Request& request, const RequestMeta& meta) {
    try {
      return listener_->api->Route(request, meta);
    } catch (...) {
      return std::nullopt;
    }
  }

  void Dispatch(Request request) {
    RequestMeta meta = NewMeta(request);
    if (!meta.keep_alive) read_ = ReadState::kClosed;  // the client reads nothing after this
    Slot& slot = PushSlot(request, meta);
    const std::uint64_t id = slot.id;
    std::optional<Routed> routed = SafeRoute(request, meta);
    session_detail::WipeBody(request.body());  // the prepared call took what it needs
    if (!routed) return Complete(id, InternalError(meta));
    slot.route_template = routed->route_template;
    if (!routed->call) return Complete(id, std::move(*routed->answer));

    PreparedCall& call = *routed->call;
    switch (routed->work) {
      case WorkClass::kInline:
        return Complete(id, SafeRun(call, meta));
      case WorkClass::kStorage:
        if (auto answer = SafeTryInline(call)) return Complete(id, std::move(*answer));
        return RunOnPool(core_.storage_pool(), std::move(routed->call), meta, id);
      case WorkClass::kHashing:
        return AdmitHashing(std::move(routed->call), routed->reserve_work, meta, id);
    }
    Complete(id, InternalError(meta));
  }

  // Runs the call on `pool`; answers 503 at once when the pool's queue refuses it.
  void RunOnPool(WorkerPool& pool, std::shared_ptr<PreparedCall> call, const RequestMeta& meta,
                 std::uint64_t id) {
    // The work guard keeps this thread's io_context running until the answer is back here.
    auto work = boost::asio::make_work_guard(stream_.get_executor());
    const bool queued =
        pool.TryPost([self = this->shared_from_this(), call, meta, id, work]() mutable {
          Response response = SafeRun(*call, meta);
          call.reset();  // wipes what the call held (secrets) on this thread, now
          self->CompleteHere(id, std::move(response));
          work.reset();
        });
    if (!queued) Complete(id, Busy(meta));
  }

  // A hashing call is answered 503 at once, on this thread and before its attempt is reserved,
  // when the hashing queue is full or the client holds its share of it: under a register flood
  // the refusal costs no storage write (on RocksDB and Redis the reservation and its refund are
  // two). Otherwise the client's place is held from here, the attempt reserved where
  // `reserve_work` says, and the call queued (QueueHashing): a throttled attempt holds the
  // client's own share while it is refused, never a place in the queue.
  void AdmitHashing(std::unique_ptr<PreparedCall> prepared, WorkClass reserve_work,
                    const RequestMeta& meta, std::uint64_t id) {
    if (!core_.hashing_pool().HasRoom()) return Complete(id, Busy(meta));
    std::optional<QueueShares::Place> place = core_.hashing_shares().TryTake(meta.client_address);
    if (!place) return Complete(id, Busy(meta));
    auto held = std::make_shared<QueueShares::Place>(std::move(*place));
    std::shared_ptr<PreparedCall> call = std::move(prepared);
    if (reserve_work == WorkClass::kInline) {
      if (auto answer = SafeReserve(*call, meta)) return Complete(id, std::move(*answer));
      return QueueHashing(std::move(call), std::move(held), WorkClass::kInline, meta, id);
    }
    auto work = boost::asio::make_work_guard(stream_.get_executor());
    const bool queued = core_.storage_pool().TryPost(
        [self = this->shared_from_this(), call, held, meta, id, work]() mutable {
          if (auto answer = SafeReserve(*call, meta)) {
            held->Release();
            call.reset();
            self->CompleteHere(id, std::move(*answer));
          } else {
            self->QueueHashing(std::move(call), std::move(held), WorkClass::kStorage, meta, id);
          }
          work.reset();
        });
    if (!queued) Complete(id, Busy(meta));  // nothing was reserved; the place dies with `held`
  }

  // A reserved call into the hashing queue, holding the client's place, for at most the queue
  // wait; refused (the queue filled meanwhile), the reservation is given back and the answer is
  // 503. Called where the reservation was made (`reserve_work`): on this session's thread (a
  // reservation that never blocks) or on a storage thread.
  void QueueHashing(std::shared_ptr<PreparedCall> call, std::shared_ptr<QueueShares::Place> held,
                    WorkClass reserve_work, const RequestMeta& meta, std::uint64_t id) {
    auto work = boost::asio::make_work_guard(stream_.get_executor());
    const auto deadline = WorkerPool::Clock::now() + core_.options().hashing_queue_wait;
    const bool queued = core_.hashing_pool().TryPost(
        [self = this->shared_from_this(), call, meta, id, work, held]() mutable {
          held->Release();
          Response response = SafeRun(*call, meta);
          call.reset();  // wipes what the call held (secrets) on this thread, now
          self->CompleteHere(id, std::move(response));
          work.reset();
        },
        deadline,
        [self = this->shared_from_this(), call, reserve_work, meta, id, work, held]() mutable {
          held->Release();
          self->RefuseReserved(std::move(call), reserve_work, meta, id);
          work.reset();
        });
    if (!queued) {
      held->Release();
      SafeUnreserve(*call);
      CompleteHere(id, Busy(meta));
    }
  }

  // 503 for a reserved call that waited too long for a hashing thread, from whichever thread
  // found it overdue (one that may serve I/O): its reservation is given back where Reserve()
  // ran, on the storage pool when that may block.
  void RefuseReserved(std::shared_ptr<PreparedCall> call, WorkClass reserve_work,
                      const RequestMeta& meta, std::uint64_t id) {
    if (reserve_work == WorkClass::kInline) {
      SafeUnreserve(*call);
      call.reset();
      return CompleteHere(id, Busy(meta));
    }
    auto work = boost::asio::make_work_guard(stream_.get_executor());
    const bool queued = core_.storage_pool().TryPost(
        [self = this->shared_from_this(), call, meta, id, work]() mutable {
          SafeUnreserve(*call);
          call.reset();
          self->CompleteHere(id, Busy(meta));
          work.reset();
        });
    // Storage queue full too: the attempt stays counted, as when a refund itself fails.
    if (!queued) CompleteHere(id, Busy(meta));
  }

  // Complete() on this session's thread: at once when already there, else posted to it.
  void CompleteHere(std::uint64_t id, Response response) {
    boost::asio::dispatch(stream_.get_executor(), [self = this->shared_from_this(), id,
                                                   response = std::move(response)]() mutable {
      self->Complete(id, std::move(response));
    });
  }

  static Response Busy(const RequestMeta& meta) {
    ProblemExtras extras;
    extras.retry_after = std::chrono::seconds(1);
    return MakeProblem(boost::beast::http::status::service_unavailable,
                       "the server is busy; try again shortly", meta, extras);
  }

  static Response InternalError(const RequestMeta& meta) {
    // Never the exception's text: it could quote the request.
    return MakeProblem(boost::beast::http::status::internal_server_error, "internal error", meta);
  }

  static Response SafeRun(PreparedCall& call, const RequestMeta& meta) {
    try {
      return call.Run();
    } catch (...) {
      return InternalError(meta);
    }
  }

  static std::optional<Response> SafeReserve(PreparedCall& call, const RequestMeta& meta) {
    try {
      return call.Reserve();
    } catch (...) {
      return InternalError(meta);
    }
  }

  static void SafeUnreserve(PreparedCall& call) {
    try {
      call.Unreserve();
    } catch (...) {
      // Best effort, as the store's own refund: the attempt stays counted.
    }
  }

  static std::optional<Response> SafeTryInline(PreparedCall& call) {
    try {
      return call.TryRunInline();
    } catch (...) {
      return std::nullopt;  // Run() on the pool answers, or reports the failure itself
    }
  }

  // 413, unless the route itself does not exist (404/405 come first in the check order).
  void AnswerTooLarge(Request header) {
    namespace http = boost::beast::http;
    RequestMeta meta = NewMeta(header);
    meta.keep_alive = false;
    Slot& slot = PushSlot(header, meta);
    slot.client_keep_alive = false;
    const std::uint64_t id = slot.id;
    std::optional<Response> answer;
    // Routing a body-less copy only names the route: a call it prepares is never run.
    if (std::optional<Routed> routed = SafeRoute(header, meta)) {
      slot.route_template = routed->route_template;
      if (routed->answer && (routed->answer->result() == http::status::not_found ||
                             routed->answer->result() == http::status::method_not_allowed)) {
        answer = std::move(*routed->answer);
      }
    }
    if (!answer) {
      answer = MakeProblem(http::status::payload_too_large,
                           "the request body is larger than " +
                               std::to_string(listener_->api->max_body_bytes()) + " bytes",
                           meta);
    }
    Complete(id, std::move(*answer));
  }

  // A request that could not be parsed: answered, then the connection closes.
  void AnswerUnparsed(boost::beast::http::status status, const std::string& detail) {
    Request nothing;
    RequestMeta meta;
    meta.request_id = ServerCore::NewRequestId();
    if (peer_) meta.client_address = peer_->text;
    meta.keep_alive = false;
    Slot& slot = PushSlot(nothing, meta);
    slot.route_template = "unparsed";
    slot.method = "unknown";
    slot.client_keep_alive = false;
    Complete(slot.id, MakeProblem(status, detail, meta));
  }

  // ---- Writing responses in order -------------------------------------------------------

  void Complete(std::uint64_t id, Response response) {
    for (Slot& slot : slots_) {
      if (slot.id != id) continue;
      response.version(slot.http_version);
      // The framing is set here, once, from the body — but never on a 204: prepare_payload()
      // would add "Content-Length: 0", which a 204 must not carry (RFC 9110 §8.6).
      if (response.result() != boost::beast::http::status::no_content) response.prepare_payload();
      slot.response = std::move(response);
      return MaybeWrite();
    }
    // The connection was closed while the work ran; the answer has nowhere to go.
    session_detail::WipeBody(response.body());
  }

  void MaybeWrite() {
    if (write_ != WriteState::kIdle || slots_.empty() || !slots_.front().response) return;
    Slot& slot = slots_.front();
    // Connection: close only on the last response this connection will ever send.
    const bool last = slots_.size() == 1 && read_ == ReadState::kClosed;
    const bool keep_alive = slot.client_keep_alive && !last;
    slot.response->keep_alive(keep_alive);
    write_ = keep_alive ? WriteState::kWriting : WriteState::kWritingLast;
    WriteDeadline(core_.options().write_timeout);
    // One flat buffer, the serializer's bytes (response_wire.h); kept until OnWrite wipes it.
    AppendResponseWire(wire_, *slot.response);
    boost::asio::async_write(stream_, boost::asio::buffer(wire_), Bind(&Session::OnWrite));
  }

  void OnWrite(boost::beast::error_code error, std::size_t) {
    const bool was_last = write_ == WriteState::kWritingLast;
    write_deadline_ = kNever;
    if (write_ != WriteState::kClosing) write_ = WriteState::kIdle;
    Slot slot = std::move(slots_.front());
    slots_.pop_front();
    const unsigned status = slot.response->result_int();
    session_detail::WipeBody(slot.response->body());
    session_detail::WipeBody(wire_);  // the body's copy; the capacity stays for the next answer
    core_.RecordFinished(*listener_,
                         FinishedRequest{slot.request_id, slot.method, slot.route_template, status,
                                         slot.started, slot.client_address});
    if (error) return CloseNow();
    if (was_last) {
      if (read_ == ReadState::kReady) read_ = ReadState::kClosed;
      return MaybeFinish();
    }
    MaybeWrite();
    MaybeRead();
    MaybeFinish();
  }

  // ---- Stopping and closing -------------------------------------------------------------

  void OnBeginShutdown() {
    server_stopping_ = true;
    if (read_ == ReadState::kAwaitingRequest) {
      // Waiting between requests: nothing is in flight on the wire, so stop waiting.
      boost::beast::error_code ignored;
      Lowest().cancel(ignored);
      return;
    }
    if (read_ == ReadState::kReady) {
      read_ = ReadState::kClosed;
      MaybeFinish();
    }
    // Otherwise a request is arriving (it is served and answered with Connection: close), or
    // a handshake is in progress, or reading is already over.
  }

  // Closes gracefully once nothing more will be read or written.
  void MaybeFinish() {
    if (read_ != ReadState::kClosed || write_ != WriteState::kIdle) return;
    if (!slots_.empty()) return MaybeWrite();  // answers still to come or to send
    GracefulClose();
  }

  void GracefulClose() {
    write_ = WriteState::kClosing;
    if constexpr (kTls) {
      WriteDeadline(session_detail::kTlsShutdownTimeout);
      stream_.async_shutdown(Bind(&Session::OnTlsShutdown));
    } else {
      ShutdownSendAndDrain();
    }
  }

  void OnTlsShutdown(boost::beast::error_code) { ShutdownSendAndDrain(); }

  void ShutdownSendAndDrain() {
    boost::beast::error_code error;
    Lowest().shutdown(boost::asio::socket_base::shutdown_send, error);
    if (error) return CloseNow();
    WriteDeadline(session_detail::kDrainTimeout);
    Drain();
  }

  void Drain() {
    Lowest().async_read_some(boost::asio::buffer(drain_buffer_), Bind(&Session::OnDrained));
  }

  void OnDrained(boost::beast::error_code error, std::size_t bytes) {
    drained_ += bytes;
    if (error || drained_ > session_detail::kDrainBudget) return CloseNow();
    Drain();
  }

  void CloseNow() {
    write_ = WriteState::kClosing;
    read_deadline_ = write_deadline_ = kNever;
    boost::beast::error_code ignored;
    Lowest().close(ignored);
  }

  ServerCore& core_;
  IoThread& thread_;
  std::shared_ptr<ListenerContext> listener_;
  std::optional<PeerAddress> peer_;
  std::optional<unsigned> peer_uid_;  // unix sockets: the peer's uid (SO_PEERCRED)
  ConnectionSlot slot_;               // given back by Evict() or when the session dies
  Stream stream_;
  boost::beast::flat_buffer buffer_;
  std::optional<Parser> parser_;
  std::size_t header_bytes_ = 0;  // of the request being read, so far
  std::chrono::steady_clock::time_point message_started_;
  std::deque<Slot> slots_;
  // The response being written, as its wire bytes (MaybeWrite to OnWrite); empty otherwise.
  std::string wire_;
  std::uint64_t next_slot_id_ = 0;
  // When the read or write in progress must have finished; checked by the thread's sweep.
  std::chrono::steady_clock::time_point read_deadline_ = kNever;
  std::chrono::steady_clock::time_point write_deadline_ = kNever;

  ReadState read_ = ReadState::kReady;
  WriteState write_ = WriteState::kIdle;
  bool server_stopping_ = false;  // the server is stopping: read no further request

  std::array<char, 4096> drain_buffer_{};
  std::size_t drained_ = 0;
};

}  // namespace credstore::http

#endif  // CREDSTORE_HTTP_SRC_SERVER_SESSION_H_
