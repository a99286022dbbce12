#include "slot_map.h"

#include "connection.h"
#include "crc16.h"

namespace credstore::redis_internal {
namespace {

// One node entry of a CLUSTER SLOTS range: [host, port, id, ...] as "host:port".
std::optional<std::string> NodeAddress(const redisReply& entry, std::string_view asked_host) {
  if (entry.type != REDIS_REPLY_ARRAY || entry.elements < 2 ||
      entry.element[0]->type != REDIS_REPLY_STRING ||
      entry.element[1]->type != REDIS_REPLY_INTEGER || entry.element[1]->integer < 1 ||
      entry.element[1]->integer > 65535) {
    return std::nullopt;
  }
  std::string_view host = ReplyText(*entry.element[0]);
  if (host.empty() || host == "?") host = asked_host;
  return std::string(host) + ":" + std::to_string(entry.element[1]->integer);
}

}  // namespace

Result<std::vector<SlotRange>> ParseClusterSlots(const redisReply& reply,
                                                 std::string_view asked_host) {
  const Status malformed = Status::Internal("redis: unexpected CLUSTER SLOTS reply");
  if (reply.type != REDIS_REPLY_ARRAY) return malformed;
  std::vector<SlotRange> ranges;
  ranges.reserve(reply.elements);
  for (std::size_t i = 0; i < reply.elements; ++i) {
    const redisReply& item = *reply.element[i];
    if (item.type != REDIS_REPLY_ARRAY || item.elements < 3 ||
        item.element[0]->type != REDIS_REPLY_INTEGER ||
        item.element[1]->type != REDIS_REPLY_INTEGER) {
      return malformed;
    }
    SlotRange range;
    const long long first = item.element[0]->integer;
    const long long last = item.element[1]->integer;
    if (first < 0 || last < first || last >= kClusterSlots) return malformed;
    range.first = static_cast<int>(first);
    range.last = static_cast<int>(last);
    for (std::size_t n = 2; n < item.elements; ++n) {
      std::optional<std::string> address = NodeAddress(*item.element[n], asked_host);
      if (!address) return malformed;
      if (n == 2) {
        range.master = std::move(*address);
      } else {
        range.replicas.push_back(std::move(*address));
      }
    }
    ranges.push_back(std::move(range));
  }
  return ranges;
}

std::vector<std::string> ParseClusterNodesReplicas(std::string_view text,
                                                   std::string_view asked_host) {
  std::vector<std::string> replicas;
  while (!text.empty()) {
    const std::size_t end = text.find('\n');
    std::string_view line = text.substr(0, end);
    text = end == std::string_view::npos ? std::string_view() : text.substr(end + 1);
    // <id> <ip:port@cport[,hostname]> <flags> ...
    const std::size_t first_space = line.find(' ');
    if (first_space == std::string_view::npos) continue;
    line = line.substr(first_space + 1);
    const std::size_t second_space = line.find(' ');
    if (second_space == std::string_view::npos) continue;
    std::string_view address = line.substr(0, second_space);
    line = line.substr(second_space + 1);
    const std::string_view flags = line.substr(0, line.find(' '));
    address = address.substr(0, address.find('@'));
    bool replica = false;
    bool unusable = false;
    for (std::string_view rest = flags; !rest.empty();) {
      const std::size_t comma = rest.find(',');
      const std::string_view flag = rest.substr(0, comma);
      rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
      replica = replica || flag == "slave";
      unusable =
          unusable || flag == "fail" || flag == "fail?" || flag == "noaddr" || flag == "handshake";
    }
    std::optional<HostPort> split = SplitAddress(address);
    if (!replica || unusable || !split) continue;
    const std::string host = split->host.empty() ? std::string(asked_host) : split->host;
    replicas.push_back(host + ":" + std::to_string(split->port));
  }
  return replicas;
}

std::optional<HostPort> SplitAddress(std::string_view address) {
  const std::size_t colon = address.rfind(':');
  if (colon == std::string_view::npos) return std::nullopt;
  std::string_view host = address.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  HostPort split;
  if (!ParseInteger(address.substr(colon + 1), split.port) || split.port < 1 ||
      split.port > 65535) {
    return std::nullopt;
  }
  split.host = std::string(host);
  return split;
}

Redirect ParseRedirect(const redisReply& reply) {
  Redirect redirect;
  const std::string_view code = ErrorCode(reply);
  if (code != "MOVED" && code != "ASK") return redirect;
  const std::string_view text = ReplyText(reply);
  const std::size_t slot_at = code.size() + 1;
  const std::size_t space = text.find(' ', slot_at);
  if (space == std::string_view::npos) return redirect;
  int slot = 0;
  if (!ParseInteger(text.substr(slot_at, space - slot_at), slot) || slot < 0 ||
      slot >= kClusterSlots) {
    return redirect;
  }
  const std::string_view address = text.substr(space + 1);
  if (!SplitAddress(address)) return redirect;
  redirect.kind = code == "MOVED" ? Redirect::Kind::kMoved : Redirect::Kind::kAsk;
  redirect.slot = slot;
  redirect.address = std::string(address);
  return redirect;
}

}  // namespace credstore::redis_internal
