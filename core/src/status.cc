#include "credstore/status.h"

namespace credstore {

std::string_view StatusCodeName(StatusCode code) {
  switch (code) {
    case StatusCode::kOk:
      return "ok";
    case StatusCode::kInvalidArgument:
      return "invalid_argument";
    case StatusCode::kAlreadyRegistered:
      return "already_registered";
    case StatusCode::kUnauthorized:
      return "unauthorized";
    case StatusCode::kNotFound:
      return "not_found";
    case StatusCode::kThrottled:
      return "throttled";
    case StatusCode::kConflict:
      return "conflict";
    case StatusCode::kUnavailable:
      return "unavailable";
    case StatusCode::kInternal:
      return "internal";
  }
  return "unknown";
}

std::string Status::ToString() const {
  std::string text(StatusCodeName(code_));
  if (!message_.empty()) text += ": " + message_;
  return text;
}

}  // namespace credstore
