// access_log.h — credstored's JSON log lines: one per request, plus startup and shutdown notes.
//
// Every line has one shape: {"ts":"2026-12-01T12:34:56.789Z","level":…,"event":…, then the
// event's own fields} (docs/operations.md "Logs" lists them all). An access-log line is the
// event "http.access"; it names the route by its template ("/{service}/1/settings"), never by
// the raw target, because targets carry `?key=` and `adminKey=`; it never holds a header or a
// body.
//
// Thread safety: LogWriter::WriteLine and Reopen may be called from many threads at once (whole
// lines are written under a lock, so lines never interleave). The free functions are pure.
#ifndef CREDSTORE_HTTP_SRC_ACCESS_LOG_H_
#define CREDSTORE_HTTP_SRC_ACCESS_LOG_H_

#include <chrono>
#include <memory>
#include <mutex>
#include <ostream>
#include <string>
#include <string_view>

#include "credstore/status.h"

namespace credstore::http {

// Writes complete lines to a stream or a file, each flushed at once.
class LogWriter {
 public:
  // `out` must outlive the writer (e.g. std::cerr).
  explicit LogWriter(std::ostream& out) : out_(&out) {}
  // Appends to the file at `path`, created if absent (with the process's umask: credstored's
  // is 077, so owner only). kUnavailable when it cannot be opened.
  static Result<std::unique_ptr<LogWriter>> OpenFile(const std::string& path);

  // Writes `line` and a newline. `line` must not contain a newline itself.
  void WriteLine(std::string_view line);
  // Writes `lines` as they are, in one write: whole lines, each ending in a newline.
  void WriteLines(std::string_view lines);

  // For a writer made by OpenFile: opens the path again and writes there from now on, so that
  // once logrotate has renamed the file, the next lines go to a new one at the path. When the
  // path cannot be opened, the writer keeps the file it had and says why. A stream writer
  // has nothing to reopen: Ok.
  Status Reopen();

 private:
  LogWriter(std::unique_ptr<std::ostream> owned, std::string path)
      : owned_(std::move(owned)), out_(owned_.get()), path_(std::move(path)) {}

  std::mutex mutex_;
  std::unique_ptr<std::ostream> owned_;  // guarded by mutex_, as is out_
  std::ostream* out_;
  const std::string path_;  // "" for a stream writer
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

// {"ts":"…Z","level":"info","event":"http.access","request_id":"…","listener":"…",
//  "method":"…","route":"…","status":200,"latency_ms":1.234,"client":"…"} — one line, no
// trailing newline, appended to `out`. Per request on the I/O threads: a caller that keeps
// `out` (cleared) between lines allocates nothing once it has grown, and the timestamp's text
// is remembered per thread for the millisecond it names.
void AppendAccessLogLine(std::string& out, const AccessLogEntry& entry);
// The same as a new string (for tests).
std::string FormatAccessLogLine(const AccessLogEntry& entry);

// `text` as the inside of a JSON string (quotes, backslashes and control characters escaped).
std::string JsonEscape(std::string_view text);
// The same, appended to `out` (no temporary string: the access log's hot path).
void AppendJsonEscaped(std::string& out, std::string_view text);

// RFC 3339 UTC with milliseconds: "2026-11-23T08:00:00.000Z".
std::string FormatUtcTimestamp(std::chrono::system_clock::time_point time);

}  // namespace credstore::http

#endif  // CREDSTORE_HTTP_SRC_ACCESS_LOG_H_
