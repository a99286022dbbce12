// access_log.h — credstored's JSON log lines: one per request, plus startup and shutdown notes.
//
// An access-log line names the route by its template ("/{service}/1/settings"), never by the
// raw target, because targets carry `?key=` and `adminKey=`; it never holds a header or a body.
//
// Thread safety: LogWriter::WriteLine may be called from many threads at once (whole lines are
// written under a lock, so lines never interleave). The free functions are pure.
#ifndef CREDSTORE_HTTP_SRC_ACCESS_LOG_H_
#define CREDSTORE_HTTP_SRC_ACCESS_LOG_H_

#include <chrono>
#include <memory>
#include <mutex>
#include <ostream>
#include <string>
#include <string_view>

namespace credstore::http {

// Writes complete lines to a stream, each flushed at once.
class LogWriter {
 public:
  // `out` must outlive the writer (e.g. std::cerr).
  explicit LogWriter(std::ostream& out) : out_(&out) {}
  // Takes ownership of `owned` (e.g. an opened std::ofstream) and writes to it.
  explicit LogWriter(std::unique_ptr<std::ostream> owned)
      : owned_(std::move(owned)), out_(owned_.get()) {}

  // Writes `line` and a newline. `line` must not contain a newline itself.
  void WriteLine(std::string_view line);

 private:
  std::mutex mutex_;
  std::unique_ptr<std::ostream> owned_;
  std::ostream* out_;
};

struct AccessLogEntry {
  std::chrono::system_clock::time_point time;  // when the response was finished
  std::string_view request_id;
  std::string_view listener;        // "public", "operator"
  std::string_view method;          // a known verb, or "unknown"
  std::string_view route_template;  // never the raw target
  unsigned status = 0;
  std::chrono::microseconds latency{0};
  std::string_view client_address;  // after trusted-proxy resolution; may be empty
};

// {"ts":"…Z","request_id":"…","listener":"…","method":"…","route":"…","status":200,
//  "latency_ms":1.234,"client":"…"} — one line, no trailing newline.
std::string FormatAccessLogLine(const AccessLogEntry& entry);

// `text` as the inside of a JSON string (quotes, backslashes and control characters escaped).
std::string JsonEscape(std::string_view text);
// The same, appended to `out` (no temporary string: the access log's hot path).
void AppendJsonEscaped(std::string& out, std::string_view text);

// RFC 3339 UTC with milliseconds: "2026-11-23T08:00:00.000Z".
std::string FormatUtcTimestamp(std::chrono::system_clock::time_point time);

}  // namespace credstore::http

#endif  // CREDSTORE_HTTP_SRC_ACCESS_LOG_H_
