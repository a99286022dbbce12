#include "access_log.h"

#include <cstdint>
#include <cstdio>
#include <ctime>

namespace credstore::http {

void LogWriter::WriteLine(std::string_view line) {
  // One write per line: std::cerr is unbuffered, and two writes could be split by another
  // process sharing the same stderr.
  std::string text;
  text.reserve(line.size() + 1);
  text.append(line);
  text.push_back('\n');
  std::lock_guard<std::mutex> lock(mutex_);
  out_->write(text.data(), static_cast<std::streamsize>(text.size()));
  out_->flush();
}

void AppendJsonEscaped(std::string& out, std::string_view text) {
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
        if (c < 0x20 || c == 0x7f) {
          char escaped[8];
          std::snprintf(escaped, sizeof(escaped), "\\u%04x", c);
          out += escaped;
        } else {
          out += static_cast<char>(c);
        }
    }
  }
}

std::string JsonEscape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  AppendJsonEscaped(out, text);
  return out;
}

std::string FormatUtcTimestamp(std::chrono::system_clock::time_point time) {
  const auto since_epoch =
      std::chrono::duration_cast<std::chrono::milliseconds>(time.time_since_epoch());
  const std::time_t seconds = static_cast<std::time_t>(since_epoch.count() / 1000);
  const int millis = static_cast<int>(since_epoch.count() % 1000);
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  char buffer[64];
  std::snprintf(buffer, sizeof(buffer), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", utc.tm_year + 1900,
                utc.tm_mon + 1, utc.tm_mday, utc.tm_hour, utc.tm_min, utc.tm_sec, millis);
  return buffer;
}

namespace {

// FormatUtcTimestamp, remembered for the millisecond it names: a busy thread logs many lines per
// millisecond, and formatting a date costs more than the rest of the line.
const std::string& CachedUtcTimestamp(std::chrono::system_clock::time_point time) {
  thread_local std::int64_t cached_millis = -1;
  thread_local std::string cached_text;
  const std::int64_t millis =
      std::chrono::duration_cast<std::chrono::milliseconds>(time.time_since_epoch()).count();
  if (millis != cached_millis) {
    cached_text = FormatUtcTimestamp(time);
    cached_millis = millis;
  }
  return cached_text;
}

}  // namespace

std::string FormatAccessLogLine(const AccessLogEntry& entry) {
  char latency[32];
  std::snprintf(latency, sizeof(latency), "%.3f",
                static_cast<double>(entry.latency.count()) / 1000.0);
  std::string line;
  line.reserve(256);
  line += "{\"ts\":\"";
  line += CachedUtcTimestamp(entry.time);
  line += "\",\"request_id\":\"";
  AppendJsonEscaped(line, entry.request_id);
  line += "\",\"listener\":\"";
  AppendJsonEscaped(line, entry.listener);
  line += "\",\"method\":\"";
  AppendJsonEscaped(line, entry.method);
  line += "\",\"route\":\"";
  AppendJsonEscaped(line, entry.route_template);
  line += "\",\"status\":";
  line += std::to_string(entry.status);
  line += ",\"latency_ms\":";
  line += latency;
  line += ",\"client\":\"";
  AppendJsonEscaped(line, entry.client_address);
  line += "\"}";
  return line;
}

}  // namespace credstore::http
