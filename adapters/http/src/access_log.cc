#include "access_log.h"

#include <algorithm>
#include <charconv>
#include <cstdint>
#include <cstdio>
#include <fstream>

#include "credstore/audit.h"

namespace credstore::http {

Result<std::unique_ptr<LogWriter>> LogWriter::OpenFile(const std::string& path) {
  auto file = std::make_unique<std::ofstream>(path, std::ios::app);
  if (!*file) return Status::Unavailable("cannot open the log file " + path);
  return std::unique_ptr<LogWriter>(new LogWriter(std::move(file), path));
}

void LogWriter::WriteLine(std::string_view line) {
  // One write per line: std::cerr is unbuffered, and two writes could be split by another
  // process sharing the same stderr. The line and its newline are put together in a buffer of
  // the thread's own, which keeps its capacity: no allocation per line.
  thread_local std::string text;
  text.assign(line);
  text.push_back('\n');
  WriteLines(text);
}

void LogWriter::WriteLines(std::string_view lines) {
  std::lock_guard<std::mutex> lock(mutex_);
  out_->write(lines.data(), static_cast<std::streamsize>(lines.size()));
  out_->flush();
}

Status LogWriter::Reopen() {
  if (path_.empty()) return Status::Ok();
  // Opened before the lock: lines keep going to the old file meanwhile, and nothing is lost.
  auto file = std::make_unique<std::ofstream>(path_, std::ios::app);
  if (!*file) {
    return Status::Unavailable("cannot open the log file " + path_ + "; still writing to the " +
                               "file opened before");
  }
  std::lock_guard<std::mutex> lock(mutex_);
  owned_ = std::move(file);
  out_ = owned_.get();
  return Status::Ok();
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
  // The core's formatter, so audit lines and every other line spell time alike.
  return FormatIsoUtcMillis(std::chrono::time_point_cast<std::chrono::milliseconds>(time));
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

void AppendAccessLogLine(std::string& line, const AccessLogEntry& entry) {
  char number[32];
  line += "{\"ts\":\"";
  line += CachedUtcTimestamp(entry.time);
  // Always "info": how the request went is its status, which a reader filters on.
  line += "\",\"level\":\"info\",\"event\":\"http.access\",\"request_id\":\"";
  AppendJsonEscaped(line, entry.request_id);
  line += "\",\"listener\":\"";
  AppendJsonEscaped(line, entry.listener);
  line += "\",\"method\":\"";
  AppendJsonEscaped(line, entry.method);
  line += "\",\"route\":\"";
  AppendJsonEscaped(line, entry.route_template);
  line += "\",\"status\":";
  const auto status = std::to_chars(number, number + sizeof(number), entry.status);
  line.append(number, status.ptr);
  line += ",\"latency_ms\":";
  // Milliseconds with three decimals, from whole microseconds: integer arithmetic, since a
  // floating-point printf here was a measurable share of a request's own work.
  const auto micros = static_cast<std::uint64_t>(std::max<std::int64_t>(entry.latency.count(), 0));
  const auto whole = std::to_chars(number, number + sizeof(number), micros / 1000);
  line.append(number, whole.ptr);
  const auto fraction = static_cast<unsigned>(micros % 1000);
  const char decimals[4] = {'.', static_cast<char>('0' + fraction / 100),
                            static_cast<char>('0' + fraction / 10 % 10),
                            static_cast<char>('0' + fraction % 10)};
  line.append(decimals, sizeof(decimals));
  line += ",\"client\":\"";
  AppendJsonEscaped(line, entry.client_address);
  line += "\"}";
}

std::string FormatAccessLogLine(const AccessLogEntry& entry) {
  std::string line;
  line.reserve(256);
  AppendAccessLogLine(line, entry);
  return line;
}

}  // namespace credstore::http
