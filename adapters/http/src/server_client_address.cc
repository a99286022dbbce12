#include "server_client_address.h"

#include <algorithm>
#include <array>
#include <charconv>
#include <optional>

#include "trim.h"

namespace credstore::http {
namespace {

namespace ip = boost::asio::ip;

std::optional<ip::address> ParseAddress(std::string_view text) {
  boost::system::error_code error;
  const ip::address address = ip::make_address(std::string(text), error);
  if (error) return std::nullopt;
  return Unmapped(address);
}

// An X-Forwarded-For entry: "203.0.113.7", "2001:db8::1", and the forms some proxies write
// with a port, "203.0.113.7:4711" and "[2001:db8::1]:4711".
std::optional<ip::address> ParseForwardedEntry(std::string_view entry) {
  entry = Trim(entry);
  if (!entry.empty() && entry.front() == '[') {
    const std::size_t close = entry.find(']');
    if (close == std::string_view::npos) return std::nullopt;
    return ParseAddress(entry.substr(1, close - 1));
  }
  const std::size_t colon = entry.find(':');
  if (colon != std::string_view::npos && entry.find(':', colon + 1) == std::string_view::npos) {
    entry = entry.substr(0, colon);  // IPv4 with a port
  }
  return ParseAddress(entry);
}

// The address's bytes, IPv4 as 4 and IPv6 as 16.
std::array<unsigned char, 16> Bytes(const ip::address& address, std::size_t& length) {
  std::array<unsigned char, 16> bytes{};
  if (address.is_v4()) {
    const auto v4 = address.to_v4().to_bytes();
    std::copy(v4.begin(), v4.end(), bytes.begin());
    length = v4.size();
  } else {
    bytes = address.to_v6().to_bytes();
    length = 16;
  }
  return bytes;
}

}  // namespace

ip::address Unmapped(const ip::address& address) {
  if (address.is_v6() && address.to_v6().is_v4_mapped()) {
    return ip::make_address_v4(ip::v4_mapped, address.to_v6());
  }
  return address;
}

std::string AddressText(const ip::address& address) { return Unmapped(address).to_string(); }

Result<TrustedProxies> TrustedProxies::Parse(const std::vector<std::string>& entries) {
  TrustedProxies proxies;
  for (const std::string& entry : entries) {
    std::string_view text = Trim(entry);
    std::string_view address_text = text;
    std::optional<unsigned> prefix;
    if (const std::size_t slash = text.find('/'); slash != std::string_view::npos) {
      address_text = text.substr(0, slash);
      const std::string_view digits = text.substr(slash + 1);
      unsigned value = 0;
      const auto [end, error] =
          std::from_chars(digits.data(), digits.data() + digits.size(), value);
      if (digits.empty() || error != std::errc() || end != digits.data() + digits.size()) {
        return Status::InvalidArgument("trusted proxy '" + entry + "' is not an address or CIDR");
      }
      prefix = value;
    }
    const std::optional<ip::address> address = ParseAddress(address_text);
    if (!address) {
      return Status::InvalidArgument("trusted proxy '" + entry + "' is not an address or CIDR");
    }
    const unsigned max_prefix = address->is_v4() ? 32 : 128;
    if (prefix && *prefix > max_prefix) {
      return Status::InvalidArgument("trusted proxy '" + entry + "' has a prefix that is too long");
    }
    proxies.networks_.push_back(Network{*address, prefix.value_or(max_prefix)});
  }
  return proxies;
}

bool TrustedProxies::Contains(const ip::address& candidate) const {
  const ip::address address = Unmapped(candidate);
  std::size_t length = 0;
  const auto bytes = Bytes(address, length);
  for (const Network& network : networks_) {
    if (network.address.is_v4() != address.is_v4()) continue;
    std::size_t network_length = 0;
    const auto network_bytes = Bytes(network.address, network_length);
    unsigned remaining = network.prefix_length;
    bool match = true;
    for (std::size_t i = 0; i < length && remaining > 0 && match; ++i) {
      const unsigned bits = std::min(remaining, 8u);
      const auto mask = static_cast<unsigned char>(0xff << (8 - bits));
      match = (bytes[i] & mask) == (network_bytes[i] & mask);
      remaining -= bits;
    }
    if (match) return true;
  }
  return false;
}

std::vector<std::string> TrustedProxies::WiderThanOneNetwork() const {
  std::vector<std::string> wide;
  for (const Network& network : networks_) {
    const unsigned narrowest_allowed = network.address.is_v4() ? 24 : 64;
    if (network.prefix_length < narrowest_allowed) {
      wide.push_back(network.address.to_string() + "/" + std::to_string(network.prefix_length));
    }
  }
  return wide;
}

std::string ResolveClientAddress(const PeerAddress& peer, const Request& request,
                                 const TrustedProxies& trusted) {
  if (trusted.empty() || !trusted.Contains(peer.address)) return peer.text;
  ip::address hop = peer.address;
  // The answer's text: the peer's is already written.
  const auto text_of = [&peer](const ip::address& client) {
    return client == peer.address ? peer.text : client.to_string();
  };

  // Every X-Forwarded-For field, in order, as one list.
  std::vector<std::string_view> entries;
  const auto fields = request.equal_range("X-Forwarded-For");
  for (auto field = fields.first; field != fields.second; ++field) {
    std::string_view value(field->value().data(), field->value().size());
    while (!value.empty()) {
      const std::size_t comma = value.find(',');
      entries.push_back(value.substr(0, comma));
      if (comma == std::string_view::npos) break;
      value.remove_prefix(comma + 1);
    }
  }
  for (auto it = entries.rbegin(); it != entries.rend(); ++it) {
    if (Trim(*it).empty()) continue;
    const std::optional<ip::address> forwarded = ParseForwardedEntry(*it);
    // A trusted proxy wrote something that is not an address: believe the proxy, not the text.
    if (!forwarded) return text_of(hop);
    hop = *forwarded;
    if (!trusted.Contains(hop)) return text_of(hop);
  }
  // Every hop is a trusted proxy: the left-most is as close to the client as we can see.
  return text_of(hop);
}

}  // namespace credstore::http
