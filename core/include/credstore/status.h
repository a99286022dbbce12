// credstore/status.h — errors as values.
//
// Every fallible credstore call returns a `Status` or a `Result<T>`; no exception crosses a public
// boundary. A Status is a code, a message that is safe to log and to show to a client (it never
// carries a secret, an admin key or an API key), and — for `kThrottled` and `kUnavailable` — how
// long the caller should wait before trying again.
//
// Thread safety: Status and Result<T> are plain values; distinct objects may be used from
// distinct threads without synchronisation, as with any standard value type.
#ifndef CREDSTORE_STATUS_H_
#define CREDSTORE_STATUS_H_

#include <cassert>
#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace credstore {

// One code per failure a caller (or an HTTP route) must tell apart.
enum class StatusCode {
  kOk = 0,
  kInvalidArgument,    // malformed input; nothing was changed (HTTP 400)
  kAlreadyRegistered,  // the customer already has a configuration (HTTP 403)
  kUnauthorized,       // a credential is missing, wrong, expired or replayed (HTTP 401)
  kNotFound,           // the named thing does not exist (HTTP 404)
  kThrottled,          // too many failed attempts; see retry_after() (HTTP 429)
  kConflict,           // a compare-and-swap lost, or a record already exists (backend level)
  kUnavailable,        // temporarily unable: budget exhausted, storage down (HTTP 503)
  kInternal,           // a broken invariant or corrupt data (HTTP 500)
};

// The message of the kUnavailable the core returns when its Argon2id budget is exhausted. It says
// nothing about storage, so an adapter may show it to anyone; other kUnavailable messages may
// name the backend and how it failed.
inline constexpr std::string_view kHashBudgetExhausted =
    "too many secret checks in progress; try again shortly";

// The stable lowercase name of a code, e.g. "invalid_argument"; used in logs and metrics.
std::string_view StatusCodeName(StatusCode code);

class [[nodiscard]] Status {
 public:
  // An OK status.
  Status() = default;

  static Status Ok() { return Status(); }
  static Status InvalidArgument(std::string message) {
    return Status(StatusCode::kInvalidArgument, std::move(message));
  }
  static Status AlreadyRegistered(std::string message) {
    return Status(StatusCode::kAlreadyRegistered, std::move(message));
  }
  static Status Unauthorized(std::string message) {
    return Status(StatusCode::kUnauthorized, std::move(message));
  }
  static Status NotFound(std::string message) {
    return Status(StatusCode::kNotFound, std::move(message));
  }
  static Status Throttled(std::string message, std::chrono::milliseconds retry_after) {
    return Status(StatusCode::kThrottled, std::move(message), retry_after);
  }
  static Status Conflict(std::string message) {
    return Status(StatusCode::kConflict, std::move(message));
  }
  static Status Unavailable(std::string message,
                            std::chrono::milliseconds retry_after = std::chrono::seconds(1)) {
    return Status(StatusCode::kUnavailable, std::move(message), retry_after);
  }
  static Status Internal(std::string message) {
    return Status(StatusCode::kInternal, std::move(message));
  }

  bool ok() const { return code_ == StatusCode::kOk; }
  StatusCode code() const { return code_; }
  // Safe to log and to return to a client.
  const std::string& message() const { return message_; }
  // For kThrottled and kUnavailable: how long to wait before retrying; zero otherwise.
  std::chrono::milliseconds retry_after() const { return retry_after_; }

  // "unauthorized: secret invalid" — for logs and test failure messages.
  std::string ToString() const;

 private:
  Status(StatusCode code, std::string message,
         std::chrono::milliseconds retry_after = std::chrono::milliseconds(0))
      : code_(code), message_(std::move(message)), retry_after_(retry_after) {}

  StatusCode code_ = StatusCode::kOk;
  std::string message_;
  std::chrono::milliseconds retry_after_{0};
};

// Either a T or a non-OK Status. Constructing a Result from an OK Status is a programming error.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : state_(std::move(value)) {}        // NOLINT: implicit by design
  Result(Status status) : state_(std::move(status)) {  // NOLINT: implicit by design
    assert(!std::get<Status>(state_).ok() && "a Result cannot hold an OK Status");
  }

  bool ok() const { return std::holds_alternative<T>(state_); }
  // The error; an OK Status when the Result holds a value.
  Status status() const { return ok() ? Status::Ok() : std::get<Status>(state_); }

  // Precondition: ok().
  T& value() & { return std::get<T>(state_); }
  const T& value() const& { return std::get<T>(state_); }
  T&& value() && { return std::get<T>(std::move(state_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

 private:
  std::variant<T, Status> state_;
};

}  // namespace credstore

#endif  // CREDSTORE_STATUS_H_
