// daemon_log.h — the JSON lines credstored writes about itself (startup, errors, stop), and its
// audit trail, through the one LogWriter that also carries the access log.
//
// Thread safety: a LogLine belongs to one thread; LogAuditSink::Record may be called from many
// (LogWriter writes whole lines under its lock).
#ifndef CREDSTORE_HTTP_SRC_DAEMON_LOG_H_
#define CREDSTORE_HTTP_SRC_DAEMON_LOG_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "access_log.h"
#include "credstore/audit.h"

namespace credstore::http::daemon {

// One JSON log line: {"ts":…,"level":…,"event":…, then the fields given}.
class LogLine {
 public:
  LogLine(std::string_view level, std::string_view event);
  LogLine& Add(std::string_view name, std::string_view value);
  LogLine& AddNumber(std::string_view name, std::uint64_t value);
  LogLine& AddBool(std::string_view name, bool value);
  LogLine& AddList(std::string_view name, const std::vector<std::string>& values);
  void WriteTo(LogWriter& log) const;

 private:
  std::string text_;
};

// Audit events as JSON lines through the same writer as every other log line, so lines from
// the audit trail and the access log never interleave mid-line.
class LogAuditSink final : public AuditSink {
 public:
  explicit LogAuditSink(LogWriter& log) : log_(log) {}
  void Record(const AuditEvent& event) override;

 private:
  LogWriter& log_;
};

}  // namespace credstore::http::daemon

#endif  // CREDSTORE_HTTP_SRC_DAEMON_LOG_H_
