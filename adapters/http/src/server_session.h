// server_session.h — one HTTP/1.1 connection: keep-alive, pipelining, timeouts, graceful close.
//
// Follows Beast's advanced server: every handler runs on the connection's strand; a fresh parser
// per message; `expires_after` before every read and write. Reading has two phases so the two
// timeouts mean what they say: waiting for the first byte of the next request uses the idle
// timeout, reading a request once it has begun uses the read timeout.
//
// Pipelining: requests already received are read ahead into `slots_` (at most
// `max_pipelined`), each dispatched at once (to Match, then inline or to a worker pool);
// responses complete in any order but are written strictly in request order from the front of
// `slots_`. The socket is read for more only when bytes of a request are already buffered or
// every answer has been written, so the idle timeout never runs while a response is pending.
//
// Closing: a connection that must close after a response (the client asked, a parse error, a
// stop) shuts down its send side and drains what the client is still sending for a moment
// before closing, so the client reads the response instead of a reset.
//
// Stream is beast::tcp_stream, beast::ssl_stream<beast::tcp_stream> or
// beast::basic_stream<asio::local::stream_protocol>.
#ifndef CREDSTORE_HTTP_SRC_SERVER_SESSION_H_
#define CREDSTORE_HTTP_SRC_SERVER_SESSION_H_

#include <openssl/crypto.h>

#include <array>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <chrono>
#include <cstdint>
#include <deque>
#include <exception>
#include <memory>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>

#include "credstore/http/problem.h"
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

// Best-effort wipe of a message body that may hold a secret or a key (DESIGN.md §2).
inline void WipeBody(std::string& body) {
  if (!body.empty()) OPENSSL_cleanse(body.data(), body.size());
  body.clear();
}

}  // namespace session_detail

template <class Stream>
class Session final : public SessionBase, public std::enable_shared_from_this<Session<Stream>> {
 public:
  static constexpr bool kTls =
      std::is_same_v<Stream, boost::beast::ssl_stream<boost::beast::tcp_stream>>;

  // `peer` is the TCP peer's address; nullopt on a unix socket. `stream_args` build the Stream.
  template <class... StreamArgs>
  Session(ServerCore& core, std::shared_ptr<ListenerContext> listener,
          std::optional<boost::asio::ip::address> peer, StreamArgs&&... stream_args)
      : core_(core),
        listener_(std::move(listener)),
        peer_(std::move(peer)),
        stream_(std::forward<StreamArgs>(stream_args)...) {}

  ~Session() override { core_.Unregister(this); }

  // Starts the TLS handshake (TLS listeners) and the first read.
  void Start() {
    boost::asio::dispatch(stream_.get_executor(),
                          [self = this->shared_from_this()] { self->OnStart(); });
  }

  void BeginShutdown() override {
    boost::asio::post(stream_.get_executor(),
                      [self = this->shared_from_this()] { self->OnBeginShutdown(); });
  }

  void ForceClose() override {
    boost::asio::post(stream_.get_executor(),
                      [self = this->shared_from_this()] { self->CloseNow(); });
  }

 private:
  using Parser = boost::beast::http::request_parser<boost::beast::http::string_body>;

  // One request read from this connection, until its response has been written.
  struct Slot {
    std::uint64_t id = 0;
    std::string request_id;
    std::string client_address;
    std::string route_template;
    std::string_view method;
    unsigned http_version = 11;
    bool client_keep_alive = true;  // the client did not ask to close after this one
    std::chrono::steady_clock::time_point started;
    std::optional<Response> response;  // set once the answer is known
  };

  auto& Lowest() { return boost::beast::get_lowest_layer(stream_); }

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
    if constexpr (kTls) {
      handshaking_ = true;
      Lowest().expires_after(core_.options().write_timeout);
      stream_.async_handshake(boost::asio::ssl::stream_base::server, Bind(&Session::OnHandshake));
    } else {
      MaybeRead();
    }
  }

  void OnHandshake(boost::beast::error_code error) {
    handshaking_ = false;
    if (error) return CloseNow();  // a failed handshake has nobody to answer
    MaybeRead();
  }

  // Reads the next request if one may be read now.
  void MaybeRead() {
    if (reading_ || read_closed_ || closing_) return;
    if (stopping_) {
      read_closed_ = true;
      return MaybeFinish();
    }
    if (slots_.size() >= core_.options().max_pipelined) return;  // resumed by OnWrite
    if (buffer_.size() > 0) {
      reading_ = true;
      return StartMessage();  // a pipelined request is already here
    }
    // Nothing buffered: wait for the next request only once every answer is out. The idle
    // timeout closes the socket when it runs out, which must never cut off a response that is
    // still being computed (an Argon2id call queued behind others can take seconds). Requests
    // pipelined in the same segments as earlier ones are buffered and still read ahead.
    if (!slots_.empty()) return;  // resumed by OnWrite
    reading_ = true;
    idle_wait_ = true;
    Lowest().expires_after(core_.options().idle_timeout);
    stream_.async_read_some(buffer_.prepare(session_detail::kReadChunk),
                            Bind(&Session::OnIdleRead));
  }

  void OnIdleRead(boost::beast::error_code error, std::size_t bytes) {
    idle_wait_ = false;
    if (!error && bytes > 0) {
      // A request has begun. It is served even when the server began stopping meanwhile (the
      // cancel in OnBeginShutdown raced with its arrival): its client is waiting for an answer,
      // and MaybeRead reads nothing after it, so the answer carries Connection: close.
      buffer_.commit(bytes);
      return StartMessage();
    }
    // The client closed, went quiet past the idle timeout, or the server is stopping between
    // requests: no request is lost by closing now.
    reading_ = false;
    read_closed_ = true;
    MaybeFinish();
  }

  void StartMessage() {
    parser_.emplace();
    parser_->header_limit(static_cast<std::uint32_t>(core_.options().header_limit));
    parser_->body_limit(listener_->api->max_body_bytes());
    message_started_ = std::chrono::steady_clock::now();
    Lowest().expires_after(core_.options().read_timeout);
    boost::beast::http::async_read_header(stream_, buffer_, *parser_, Bind(&Session::OnHeader));
  }

  void OnHeader(boost::beast::error_code error, std::size_t) {
    if (error) return OnReadError(error);
    if (parser_->is_done()) return OnMessage({}, 0);
    const auto& header = parser_->get();
    const auto expect = header[boost::beast::http::field::expect];
    // "Expect: 100-continue" (curl sends it for large bodies): say go ahead, unless a response
    // is being written right now — then the client's own expect timeout sends the body anyway.
    if (header.version() == 11 && boost::beast::iequals(expect, "100-continue") && !writing_ &&
        slots_.empty()) {
      writing_ = true;
      Lowest().expires_after(core_.options().write_timeout);
      static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
      return boost::asio::async_write(stream_,
                                      boost::asio::buffer(kContinue.data(), kContinue.size()),
                                      Bind(&Session::OnContinueWritten));
    }
    ReadBody();
  }

  void OnContinueWritten(boost::beast::error_code error, std::size_t) {
    writing_ = false;
    if (error) {
      reading_ = false;
      read_closed_ = true;
      return CloseNow();
    }
    Lowest().expires_after(core_.options().read_timeout);
    ReadBody();
  }

  void ReadBody() {
    boost::beast::http::async_read(stream_, buffer_, *parser_, Bind(&Session::OnMessage));
  }

  void OnMessage(boost::beast::error_code error, std::size_t) {
    if (error) return OnReadError(error);
    reading_ = false;
    Request request = parser_->release();
    parser_.reset();
    Dispatch(std::move(request));
    MaybeRead();
  }

  void OnReadError(boost::beast::error_code error) {
    namespace http = boost::beast::http;
    reading_ = false;
    read_closed_ = true;
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
      // The client left mid-request, the read timeout ran out (the stream closed the socket),
      // or the server is closing: nobody is left to answer.
      parser_.reset();
    }
    MaybeFinish();
  }

  // ---- Dispatching a request ------------------------------------------------------------

  RequestMeta NewMeta(const Request& request) {
    RequestMeta meta;
    meta.request_id = core_.NewRequestId();
    if (peer_) meta.client_address = ResolveClientAddress(*peer_, request, core_.trusted_proxies());
    meta.http_version = request.version() == 10 ? 10 : 11;
    meta.keep_alive = request.keep_alive();
    return meta;
  }

  Slot& PushSlot(const Request& request, const RequestMeta& meta) {
    Slot slot;
    slot.id = next_slot_id_++;
    slot.request_id = meta.request_id;
    slot.client_address = meta.client_address;
    slot.route_template = "unmatched";
    slot.method = session_detail::MethodName(request.method());
    slot.http_version = meta.http_version;
    slot.client_keep_alive = meta.keep_alive;
    slot.started = message_started_;
    slots_.push_back(std::move(slot));
    return slots_.back();
  }

  void Dispatch(Request request) {
    namespace http = boost::beast::http;
    RequestMeta meta = NewMeta(request);
    if (!meta.keep_alive) read_closed_ = true;  // the client will read nothing after this one
    Slot& slot = PushSlot(request, meta);
    const std::uint64_t id = slot.id;
    HttpApi& api = *listener_->api;

    RouteMatch match;
    try {
      match = api.Match(request, meta);
    } catch (...) {
      session_detail::WipeBody(request.body());
      return Complete(id, MakeProblem(http::status::internal_server_error, "internal error", meta));
    }
    slot.route_template = std::move(match.route_template);
    if (match.early_response) {
      session_detail::WipeBody(request.body());
      return Complete(id, std::move(*match.early_response));
    }
    if (match.pool == WorkPool::kInline) {
      Response response = SafeHandle(api, request, meta);
      session_detail::WipeBody(request.body());
      return Complete(id, std::move(response));
    }

    WorkerPool& pool =
        match.pool == WorkPool::kHashing ? core_.hashing_pool() : core_.storage_pool();
    auto shared_request = std::make_shared<Request>(std::move(request));
    // The work guard keeps the io_context running until the answer is back on the strand.
    auto work = boost::asio::make_work_guard(core_.io_context());
    const bool queued =
        pool.TryPost([self = this->shared_from_this(), shared_request, meta, id, work]() mutable {
          Response response = SafeHandle(*self->listener_->api, *shared_request, meta);
          session_detail::WipeBody(shared_request->body());
          boost::asio::post(self->stream_.get_executor(),
                            [self, id, response = std::move(response)]() mutable {
                              self->Complete(id, std::move(response));
                            });
          work.reset();
        });
    if (!queued) {
      session_detail::WipeBody(shared_request->body());
      ProblemExtras extras;
      extras.retry_after = std::chrono::seconds(1);
      Complete(id, MakeProblem(http::status::service_unavailable,
                               "the server is busy; try again shortly", meta, extras));
    }
  }

  static Response SafeHandle(const HttpApi& api, const Request& request, const RequestMeta& meta) {
    try {
      return api.Handle(request, meta);
    } catch (...) {
      // Never the exception's text: it could quote the request.
      return MakeProblem(boost::beast::http::status::internal_server_error, "internal error", meta);
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
    try {
      RouteMatch match = listener_->api->Match(header, meta);
      slot.route_template = std::move(match.route_template);
      if (match.early_response &&
          (match.early_response->result() == http::status::not_found ||
           match.early_response->result() == http::status::method_not_allowed)) {
        answer = std::move(*match.early_response);
      }
    } catch (...) {
      // Fall through to the 413: the size is known to be wrong either way.
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
    meta.request_id = core_.NewRequestId();
    if (peer_) meta.client_address = AddressText(*peer_);
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
      response.prepare_payload();
      slot.response = std::move(response);
      return MaybeWrite();
    }
    // The connection was closed while the work ran; the answer has nowhere to go.
    session_detail::WipeBody(response.body());
  }

  void MaybeWrite() {
    if (writing_ || closing_ || slots_.empty() || !slots_.front().response) return;
    Slot& slot = slots_.front();
    // Connection: close only on the last response this connection will ever send.
    const bool last = slots_.size() == 1 && read_closed_ && !reading_;
    const bool keep_alive = slot.client_keep_alive && !last;
    slot.response->keep_alive(keep_alive);
    close_after_write_ = !keep_alive;
    writing_ = true;
    Lowest().expires_after(core_.options().write_timeout);
    boost::beast::http::async_write(stream_, *slot.response, Bind(&Session::OnWrite));
  }

  void OnWrite(boost::beast::error_code error, std::size_t) {
    writing_ = false;
    Slot slot = std::move(slots_.front());
    slots_.pop_front();
    const unsigned status = slot.response->result_int();
    session_detail::WipeBody(slot.response->body());
    core_.RecordFinished(*listener_,
                         FinishedRequest{slot.request_id, slot.method, slot.route_template, status,
                                         slot.started, slot.client_address});
    if (error) {
      read_closed_ = true;
      return CloseNow();
    }
    if (close_after_write_) {
      read_closed_ = true;
      return MaybeFinish();
    }
    MaybeWrite();
    MaybeRead();
    MaybeFinish();
  }

  // ---- Stopping and closing -------------------------------------------------------------

  void OnBeginShutdown() {
    stopping_ = true;
    if (idle_wait_) {
      // Waiting between requests: nothing is in flight on the wire, so stop waiting.
      boost::beast::error_code ignored;
      Lowest().socket().cancel(ignored);
      return;
    }
    if (!reading_) {
      read_closed_ = true;
      MaybeFinish();
    }
    // Otherwise a request is arriving: it is served (and answered with Connection: close).
  }

  // Closes gracefully once nothing more will be read or written.
  void MaybeFinish() {
    if (!read_closed_ || reading_ || writing_ || handshaking_ || closing_) return;
    if (!slots_.empty()) return MaybeWrite();  // answers still to come or to send
    GracefulClose();
  }

  void GracefulClose() {
    closing_ = true;
    if constexpr (kTls) {
      Lowest().expires_after(session_detail::kTlsShutdownTimeout);
      stream_.async_shutdown(Bind(&Session::OnTlsShutdown));
    } else {
      ShutdownSendAndDrain();
    }
  }

  void OnTlsShutdown(boost::beast::error_code) { ShutdownSendAndDrain(); }

  void ShutdownSendAndDrain() {
    boost::beast::error_code error;
    Lowest().socket().shutdown(Lowest().socket().shutdown_send, error);
    if (error) return CloseNow();
    Lowest().expires_after(session_detail::kDrainTimeout);
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
    closing_ = true;
    Lowest().close();
  }

  ServerCore& core_;
  std::shared_ptr<ListenerContext> listener_;
  std::optional<boost::asio::ip::address> peer_;
  Stream stream_;
  boost::beast::flat_buffer buffer_;
  std::optional<Parser> parser_;
  std::chrono::steady_clock::time_point message_started_;
  std::deque<Slot> slots_;
  std::uint64_t next_slot_id_ = 0;

  bool handshaking_ = false;  // the TLS handshake is in progress
  bool reading_ = false;      // a read (idle wait or request) is in progress
  bool idle_wait_ = false;    // ... and it is the wait for the next request's first byte
  bool read_closed_ = false;  // no further request will be read
  bool writing_ = false;      // a response (or 100 Continue) is being written
  bool close_after_write_ = false;
  bool stopping_ = false;  // the server is stopping
  bool closing_ = false;   // closing: nothing more is written

  std::array<char, 4096> drain_buffer_{};
  std::size_t drained_ = 0;
};

}  // namespace credstore::http

#endif  // CREDSTORE_HTTP_SRC_SERVER_SESSION_H_
