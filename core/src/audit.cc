#include "credstore/audit.h"

#include <ostream>
#include <sstream>

namespace credstore {
namespace {

// Audit fields are ids, service names and addresses, but a label or request id could hold
// anything: escape as JSON strings so one event is always one line.
void AppendJsonString(std::ostringstream& out, std::string_view text) {
  static constexpr char kHex[] = "0123456789abcdef";
  out << '"';
  for (unsigned char c : text) {
    switch (c) {
      case '"':
        out << "\\\"";
        break;
      case '\\':
        out << "\\\\";
        break;
      case '\n':
        out << "\\n";
        break;
      case '\r':
        out << "\\r";
        break;
      case '\t':
        out << "\\t";
        break;
      default:
        if (c < 0x20) {
          out << "\\u00" << kHex[c >> 4] << kHex[c & 0xF];
        } else {
          out << static_cast<char>(c);
        }
    }
  }
  out << '"';
}

void AppendField(std::ostringstream& out, std::string_view name, std::string_view value) {
  if (value.empty()) return;
  out << ',';
  AppendJsonString(out, name);
  out << ':';
  AppendJsonString(out, value);
}

}  // namespace

JsonLinesAuditSink::JsonLinesAuditSink(std::ostream& out) : out_(out) {}

void JsonLinesAuditSink::Record(const AuditEvent& event) {
  std::ostringstream line;
  line << "{\"audit\":true,\"at_ms\":" << event.at.time_since_epoch().count();
  AppendField(line, "action", event.action);
  AppendField(line, "service", event.service);
  AppendField(line, "customer", event.customer_id);
  AppendField(line, "integrator", event.integrator_id);
  if (event.generation != 0) line << ",\"generation\":" << event.generation;
  AppendField(line, "request_id", event.request_id);
  AppendField(line, "client", event.client_address);
  line << "}\n";
  std::lock_guard lock(mutex_);
  out_ << line.str() << std::flush;
}

}  // namespace credstore
