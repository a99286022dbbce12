// server_client_address.h — who the client is, as far as the server can tell.
//
// The client address drives per-address throttling, so it must not be whatever a client writes
// in a header. The peer's address is used unless the peer is a trusted proxy; then
// X-Forwarded-For is read from the right (the entry the nearest proxy appended) and the first
// entry that is not itself a trusted proxy is the client. Entries left of it were written by
// the client or by proxies nobody vouches for, so they are never believed.
//
// Thread safety: a TrustedProxies is immutable after Parse; share it freely.
#ifndef CREDSTORE_HTTP_SRC_SERVER_CLIENT_ADDRESS_H_
#define CREDSTORE_HTTP_SRC_SERVER_CLIENT_ADDRESS_H_

#include <boost/asio/ip/address.hpp>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "credstore/http/http_api.h"
#include "credstore/status.h"

namespace credstore::http {

class TrustedProxies {
 public:
  TrustedProxies() = default;

  // Each entry is an address ("10.0.0.7", "2001:db8::7") or a network in CIDR form
  // ("10.0.0.0/8"). kInvalidArgument names the entry that does not parse.
  static Result<TrustedProxies> Parse(const std::vector<std::string>& entries);

  bool Contains(const boost::asio::ip::address& address) const;
  bool empty() const { return networks_.empty(); }

  // The entries wider than one client network — a prefix shorter than /24 (IPv4) or /64 (IPv6),
  // the most one proxy tier needs — in CIDR form ("10.0.0.0/8"), in the order given. Every
  // address in them may write X-Forwarded-For, so a client among them who is no proxy picks its
  // own address and, with each new one, a fresh per-address throttle allowance.
  std::vector<std::string> WiderThanOneNetwork() const;

 private:
  struct Network {
    boost::asio::ip::address address;
    unsigned prefix_length = 0;
  };
  std::vector<Network> networks_;
};

// The address as text; an IPv4-mapped IPv6 address is written as the IPv4 address it maps.
std::string AddressText(const boost::asio::ip::address& address);

// IPv4-mapped IPv6 addresses become IPv4; everything else is returned unchanged.
boost::asio::ip::address Unmapped(const boost::asio::ip::address& address);

// A connection's peer, unmapped, with its text (AddressText): written once per connection, not
// once per request (formatting an address was 2% of a request's time under load).
struct PeerAddress {
  explicit PeerAddress(const boost::asio::ip::address& peer)
      : address(Unmapped(peer)), text(address.to_string()) {}

  boost::asio::ip::address address;
  std::string text;
};

// The request's client address (see the top of this file): `peer` unless it is a trusted proxy.
std::string ResolveClientAddress(const PeerAddress& peer, const Request& request,
                                 const TrustedProxies& trusted);

}  // namespace credstore::http

#endif  // CREDSTORE_HTTP_SRC_SERVER_CLIENT_ADDRESS_H_
