// credstore/audit.h — where state changes are reported.
//
// Every state change (registration, key regeneration, secret update, settings write, integrator
// creation/rotation/reset/disable, customer reset/delete) emits one AuditEvent to the AuditSink
// given in Options. Events never carry a secret, an admin key or an API key: customers appear
// only as the short id of their API key's keyed digest, integrators by their public id.
//
// Thread safety: Record() is called from many threads at once; implementations synchronise.
// Record() must not throw and should not block for long: it runs inside the calling operation.
#ifndef CREDSTORE_AUDIT_H_
#define CREDSTORE_AUDIT_H_

#include <cstdint>
#include <iosfwd>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include "credstore/clock.h"

namespace credstore {

struct AuditEvent {
  Timestamp at;
  std::string action;       // e.g. "customer.register", "integrator.rotate_secret"
  std::string service;      // customer events only
  std::string customer_id;  // short id: first 16 hex digits of the API key's keyed digest
  std::string integrator_id;
  std::uint64_t generation = 0;  // the generation the change produced, when there is one
  std::string request_id;        // from the RequestContext, when given
  std::string client_address;    // from the RequestContext, when given
};

class AuditSink {
 public:
  virtual ~AuditSink() = default;
  virtual void Record(const AuditEvent& event) = 0;
};

// One event as one JSON object (no newline), in the shape of every credstored log line:
//   {"ts":"2026-12-01T12:34:56.789Z","level":"info","event":"audit","action":"customer.register",
//    "service":"geofencing","customer":"0123456789abcdef","generation":1,"request_id":"…",
//    "client":"203.0.113.7"}
// `ts` is `event.at` (ISO 8601 UTC, milliseconds); empty strings and a zero generation are left
// out. Every string is JSON-escaped, so one event is always one line.
std::string FormatAuditLine(const AuditEvent& event);

// `time` as ISO 8601 UTC with milliseconds, "2026-12-01T12:34:56.789Z" (the `ts` of log lines).
std::string FormatIsoUtcMillis(Timestamp time);

// Writes FormatAuditLine's lines to a stream (default: std::clog), flushing each line.
class JsonLinesAuditSink final : public AuditSink {
 public:
  // `out` must outlive the sink.
  explicit JsonLinesAuditSink(std::ostream& out);
  void Record(const AuditEvent& event) override;

 private:
  std::mutex mutex_;
  std::ostream& out_;
};

// Drops every event. For tests and embedders that audit elsewhere.
class NullAuditSink final : public AuditSink {
 public:
  void Record(const AuditEvent&) override {}
};

}  // namespace credstore

#endif  // CREDSTORE_AUDIT_H_
