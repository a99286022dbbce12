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

std::string SigningMessage(std::string_view timestamp, std::string_view method,
                           std::string_view target, std::string_view body) {
  const Digest body_hash = Sha256(body);
  std::string message;
  message.reserve(timestamp.size() + method.size() + target.size() + 3 + 64 + 1);
  message.append(timestamp).append(".").append(method).append(".").append(target).append(".");
  message.append(ToHex(body_hash));
  return message;
}

Result<ParsedSignature> ParseSignedRequest(const SignedRequest& request, Timestamp now,
                                           std::chrono::milliseconds tolerance) {
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
  const auto mac =
      internal::HmacSha256(secret, internal::SigningMessage(timestamp, method, target, body));
  return "sha256=" + internal::ToHex(mac);
}

}  // namespace credstore
