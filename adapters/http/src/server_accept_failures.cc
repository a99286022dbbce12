#include "server_accept_failures.h"

#include "access_log.h"

namespace credstore::http {

std::string FormatAcceptFailureLine(std::string_view listener, std::string_view error,
                                    std::uint64_t suppressed) {
  std::string line = "{\"ts\":\"";
  line += FormatUtcTimestamp(std::chrono::system_clock::now());
  line += error.empty() ? "\",\"level\":\"info\",\"event\":\"http.accept_recovered\""
                        : "\",\"level\":\"warning\",\"event\":\"http.accept_failed\"";
  line += ",\"listener\":\"";
  AppendJsonEscaped(line, listener);
  if (!error.empty()) {
    line += "\",\"error\":\"";
    AppendJsonEscaped(line, error);
  }
  line += "\",\"suppressed\":";
  line += std::to_string(suppressed);
  line += '}';
  return line;
}

}  // namespace credstore::http
