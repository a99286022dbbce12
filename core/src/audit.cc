#include "credstore/audit.h"

#include <cstdio>
#include <ctime>
#include <ostream>

namespace credstore {
namespace {

// Audit fields are ids, service names and addresses, but a label or request id could hold
// anything: escape as JSON strings so one event is always one line.
void AppendJsonString(std::string& out, std::string_view text) {
  static constexpr char kHex[] = "0123456789abcdef";
  out += '"';
  for (unsigned char c : text) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (c < 0x20) {
          out += "\\u00";
          out += kHex[c >> 4];
          out += kHex[c & 0xF];
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  out += '"';
}

void AppendField(std::string& out, std::string_view name, std::string_view value) {
  if (value.empty()) return;
  out += ',';
  AppendJsonString(out, name);
  out += ':';
  AppendJsonString(out, value);
}

}  // namespace

std::string FormatIsoUtcMillis(Timestamp time) {
  const std::int64_t millis_since_epoch = time.time_since_epoch().count();
  // Floor division, so an instant before 1970 still names its own second.
  std::int64_t seconds = millis_since_epoch / 1000;
  std::int64_t millis = millis_since_epoch % 1000;
  if (millis < 0) {
    millis += 1000;
    seconds -= 1;
  }
  const std::time_t as_time_t = static_cast<std::time_t>(seconds);
  std::tm utc{};
  gmtime_r(&as_time_t, &utc);
  char buffer[64];
  std::snprintf(buffer, sizeof(buffer), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", utc.tm_year + 1900,
                utc.tm_mon + 1, utc.tm_mday, utc.tm_hour, utc.tm_min, utc.tm_sec,
                static_cast<int>(millis));
  return buffer;
}

std::string FormatAuditLine(const AuditEvent& event) {
  std::string line;
  line.reserve(256);
  line += "{\"ts\":\"";
  line += FormatIsoUtcMillis(event.at);
  // Every audit event is "info": a state change that worked (failed ones change nothing and
  // are not audited). The action tells them apart.
  line += "\",\"level\":\"info\",\"event\":\"audit\"";
  AppendField(line, "action", event.action);
  AppendField(line, "service", event.service);
  AppendField(line, "customer", event.customer_id);
  AppendField(line, "integrator", event.integrator_id);
  if (event.generation != 0) {
    line += ",\"generation\":";
    line += std::to_string(event.generation);
  }
  AppendField(line, "request_id", event.request_id);
  AppendField(line, "client", event.client_address);
  line += '}';
  return line;
}

JsonLinesAuditSink::JsonLinesAuditSink(std::ostream& out) : out_(out) {}

void JsonLinesAuditSink::Record(const AuditEvent& event) {
  std::string line = FormatAuditLine(event);
  line += '\n';
  std::lock_guard lock(mutex_);
  out_ << line << std::flush;
}

}  // namespace credstore
