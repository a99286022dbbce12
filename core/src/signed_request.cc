#include <charconv>

#include "signature.h"

namespace credstore {
namespace internal {
namespace {

constexpr std::string_view kSignaturePrefix = "sha256=";
// 13 digits covers every millisecond timestamp until the year 2286; more is not a timestamp.
constexpr std::size_t kMaxTimestampDigits = 16;

bool IsAlnum(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

}  // namespace

std::string SigningMessage(const SignedRequest& request) {
  std::string message;
  message.reserve(request.timestamp.size() + request.method.size() + request.target.size() + 3 +
                  64);
  message.append(request.timestamp).append(".").append(request.method).append(".");
  message.append(request.target).append(".");
  if (!request.body_sha256.empty()) {
    message.append(request.body_sha256);
  } else {
    message.append(ToHex(Sha256(request.body)));
  }
  return message;
}

Result<ParsedSignature> ParseSignedRequest(const SignedRequest& request, Timestamp now,
                                           std::chrono::milliseconds tolerance) {
  if (!request.body_sha256.empty()) {
    if (!request.body.empty()) {
      return Status::InvalidArgument("a signed request carries its body or its hash, not both");
    }
    if (!ParseLowerHexDigest(request.body_sha256)) {
      return Status::InvalidArgument("the body hash must be 64 lowercase hex digits");
    }
  }
  if (request.integrator_key.empty() || request.timestamp.empty() || request.signature.empty()) {
    return Status::Unauthorized(
        "X-Integrator-Key, X-Timestamp and X-Signature headers are required");
  }
  if (!credstore::IsWellFormedIntegratorId(request.integrator_key)) {
    return Status::Unauthorized("X-Integrator-Key is not an integrator id");
  }
  ParsedSignature parsed;
  parsed.integrator_id = request.integrator_key;

  const std::string_view ts = request.timestamp;
  std::int64_t millis = 0;
  auto [end, ec] = std::from_chars(ts.data(), ts.data() + ts.size(), millis);
  if (ts.size() > kMaxTimestampDigits || ts.front() == '-' || ts.front() == '+' ||
      ec != std::errc() || end != ts.data() + ts.size()) {
    return Status::Unauthorized("X-Timestamp must be Unix time in milliseconds");
  }
  parsed.timestamp = Timestamp(std::chrono::milliseconds(millis));
  const auto skew = parsed.timestamp > now ? parsed.timestamp - now : now - parsed.timestamp;
  if (skew > tolerance) {
    return Status::Unauthorized("X-Timestamp is outside the accepted window");
  }

  if (!request.signature.starts_with(kSignaturePrefix)) {
    return Status::Unauthorized("X-Signature must be sha256=<64 lowercase hex digits>");
  }
  auto mac = ParseLowerHexDigest(request.signature.substr(kSignaturePrefix.size()));
  if (!mac) return Status::Unauthorized("X-Signature must be sha256=<64 lowercase hex digits>");
  parsed.mac = *mac;

  if (!request.target.starts_with('/')) {
    return Status::Unauthorized("the signed request target must be in origin-form");
  }
  if (request.method.empty()) return Status::Unauthorized("the signed request has no method");
  return parsed;
}

}  // namespace internal

bool IsWellFormedIntegratorId(std::string_view id) {
  if (!id.starts_with("int_")) return false;
  const std::string_view rest = id.substr(4);
  if (rest.size() < 8 || rest.size() > 64) return false;
  for (char c : rest) {
    if (!internal::IsAlnum(c)) return false;
  }
  return true;
}

std::string SignRequest(std::string_view secret, std::string_view timestamp,
                        std::string_view method, std::string_view target, std::string_view body) {
  SignedRequest request;
  request.timestamp = timestamp;
  request.method = method;
  request.target = target;
  request.body = body;
  const auto mac = internal::HmacSha256(secret, internal::SigningMessage(request));
  return "sha256=" + internal::ToHex(mac);
}

}  // namespace credstore
