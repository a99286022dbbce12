// credstore/request_context.h — who is asking.
//
// Passed by the caller (an HTTP adapter, a host server) to every call that verifies a secret or
// changes state. The client address drives per-address throttling; the device token lets a
// customer's own device skip the per-customer throttle; the request id ties audit events to the
// caller's log lines.
#ifndef CREDSTORE_REQUEST_CONTEXT_H_
#define CREDSTORE_REQUEST_CONTEXT_H_

#include <optional>
#include <string>
#include <string_view>

namespace credstore {

struct RequestContext {
  // The client's IP address as text ("203.0.113.7", "2001:db8::1"). IPv4 addresses are
  // throttled per /32, IPv6 per /64 (IPv4-mapped IPv6 counts as IPv4); text that is not an IP
  // address (with a port, in brackets) is throttled as its own bucket. Empty: unknown, and only
  // the per-customer rate applies. Behind a proxy, the caller resolves X-Forwarded-For itself
  // and passes the result here.
  std::string client_address;
  // An opaque id for correlation (audit events, logs). May be empty.
  std::string request_id;
  // The device token the client presented (HTTP: the Credstore-Device request header), exactly
  // as a successful secret check returned it; empty when none. Read only by the calls that check
  // a customer's secret: a token the customer's record holds (unexpired) skips the per-customer
  // bucket and counts failures in a bucket of its own instead of the address's. Anything else —
  // malformed, unknown, expired, another customer's — counts as no token, with the same answer.
  // Never logged or audited; the caller should not log it either.
  std::string device_token = {};
};

// The per-address throttling bucket of `client_address`, as the store counts it: "4/<hex>" for
// an IPv4 address (/32, IPv4-mapped IPv6 included), "6/<hex>" for the /64 of an IPv6 address,
// "x/<hex>" for text that is not an IP address; nullopt for the empty address. For adapters
// that keep a limit of their own and must bucket addresses exactly as the store does.
std::optional<std::string> ThrottleBucketOf(std::string_view client_address);

}  // namespace credstore

#endif  // CREDSTORE_REQUEST_CONTEXT_H_
