#include "daemon_log.h"

#include <chrono>

namespace credstore::http::daemon {

LogLine::LogLine(std::string_view level, std::string_view event) {
  text_ = "{\"ts\":\"" + FormatUtcTimestamp(std::chrono::system_clock::now()) + "\",\"level\":\"" +
          JsonEscape(level) + "\",\"event\":\"" + JsonEscape(event) + "\"";
}

LogLine& LogLine::Add(std::string_view name, std::string_view value) {
  text_ += ",\"" + JsonEscape(name) + "\":\"" + JsonEscape(value) + "\"";
  return *this;
}

LogLine& LogLine::AddNumber(std::string_view name, std::uint64_t value) {
  text_ += ",\"" + JsonEscape(name) + "\":" + std::to_string(value);
  return *this;
}

LogLine& LogLine::AddBool(std::string_view name, bool value) {
  text_ += ",\"" + JsonEscape(name) + "\":" + (value ? "true" : "false");
  return *this;
}

LogLine& LogLine::AddList(std::string_view name, const std::vector<std::string>& values) {
  text_ += ",\"" + JsonEscape(name) + "\":[";
  for (std::size_t i = 0; i < values.size(); ++i) {
    text_ += (i ? ",\"" : "\"") + JsonEscape(values[i]) + "\"";
  }
  text_ += "]";
  return *this;
}

void LogLine::WriteTo(LogWriter& log) const { log.WriteLine(text_ + "}"); }

// The core's rendering, which already has the shape of every other line (ts, level, event).
void LogAuditSink::Record(const AuditEvent& event) { log_.WriteLine(FormatAuditLine(event)); }

}  // namespace credstore::http::daemon
