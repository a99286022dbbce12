#include "response_wire.h"

namespace credstore::http {

void AppendResponseWire(std::string& out, const Response& response) {
  const unsigned version = response.version();
  const std::string_view reason = response.reason();
  // Reserved in full first, so the string never grows midway: a growth would free a partial
  // copy of the answer unwiped (the session wipes only the string it ends up with).
  std::size_t size = 17 + reason.size() + response.body().size();  // "HTTP/1.1 200 \r\n" + "\r\n"
  for (const auto& field : response) size += field.name_string().size() + field.value().size() + 4;
  out.reserve(out.size() + size);

  out.append("HTTP/");
  out.push_back(static_cast<char>('0' + version / 10));
  out.push_back('.');
  out.push_back(static_cast<char>('0' + version % 10));
  out.push_back(' ');
  const unsigned code = response.result_int();  // always three digits (RFC 9110 §15)
  out.push_back(static_cast<char>('0' + code / 100 % 10));
  out.push_back(static_cast<char>('0' + code / 10 % 10));
  out.push_back(static_cast<char>('0' + code % 10));
  out.push_back(' ');
  out.append(reason);
  out.append("\r\n");
  for (const auto& field : response) {
    out.append(field.name_string());
    out.append(": ");
    out.append(field.value());
    out.append("\r\n");
  }
  out.append("\r\n");
  out.append(response.body());
}

}  // namespace credstore::http
