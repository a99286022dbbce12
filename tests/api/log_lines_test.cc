// The one log shape (docs/operations.md "Logs"): every line credstored writes — server events,
// access lines, audit events — is one JSON object that begins with ts (ISO 8601 UTC with
// milliseconds), level and event. And the log file is reopened at its path for logrotate.
#include <boost/json.hpp>
#include <boost/test/unit_test.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <string>

#include "access_log.h"
#include "access_log_queue.h"
#include "credstore/audit.h"
#include "support/test_helpers.h"

namespace credstore::http {
namespace {

namespace json = boost::json;
using namespace std::chrono;

// 2026-12-01T12:34:56.789Z
system_clock::time_point ExampleTime() {
  return sys_days{year{2026} / 12 / 1} + hours{12} + minutes{34} + seconds{56} + milliseconds{789};
}

// Parses `line` as one JSON object and checks the three members every line begins with.
json::object ExpectShape(const std::string& line, std::string_view level, std::string_view event) {
  boost::system::error_code error;
  json::value value = json::parse(line, error);
  BOOST_TEST_REQUIRE(!error, line << ": " << error.message());
  BOOST_TEST_REQUIRE(value.is_object(), line);
  json::object& object = value.as_object();
  BOOST_TEST(line.starts_with("{\"ts\":\""), line);
  static const std::regex kIsoMillis(R"(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z)");
  const json::value* ts = object.if_contains("ts");
  BOOST_TEST_REQUIRE((ts != nullptr && ts->is_string()), line);
  BOOST_TEST(std::regex_match(std::string(ts->as_string()), kIsoMillis), line);
  BOOST_TEST(object["level"] == json::value(json::string(level)), line);
  BOOST_TEST(object["event"] == json::value(json::string(event)), line);
  BOOST_TEST(line.find('\n') == std::string::npos, line);
  return object;
}

std::string ReadFile(const std::filesystem::path& path) {
  std::ifstream in(path);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

BOOST_AUTO_TEST_SUITE(log_lines)

BOOST_AUTO_TEST_CASE(an_access_line_has_the_shape_and_its_own_fields) {
  AccessLogEntry entry;
  entry.time = ExampleTime();
  entry.request_id = "0123456789abcdef";
  entry.listener = "public";
  entry.method = "GET";
  entry.route_template = "/{service}/1/settings";
  entry.status = 200;
  entry.latency = microseconds(1234);
  entry.client_address = "203.0.113.7";
  const std::string line = FormatAccessLogLine(entry);
  json::object object = ExpectShape(line, "info", "http.access");
  BOOST_TEST(object["ts"] == "2026-12-01T12:34:56.789Z");
  BOOST_TEST(object["request_id"] == "0123456789abcdef");
  BOOST_TEST(object["listener"] == "public");
  BOOST_TEST(object["method"] == "GET");
  BOOST_TEST(object["route"] == "/{service}/1/settings");
  BOOST_TEST(object["status"] == 200);
  BOOST_TEST(object["latency_ms"].as_double() == 1.234);
  BOOST_TEST(object["client"] == "203.0.113.7");
  BOOST_TEST(object.size() == 10u, line);
}

BOOST_AUTO_TEST_CASE(an_access_line_reuses_the_callers_buffer) {
  // The I/O threads format into a buffer of their own, cleared per line: once it is large
  // enough, a line costs no allocation.
  AccessLogEntry entry;
  entry.time = ExampleTime();
  entry.method = "POST";
  entry.route_template = "/{service}/1/register";
  entry.status = 503;
  std::string buffer;
  buffer.reserve(512);
  const std::size_t capacity = buffer.capacity();
  for (int i = 0; i < 3; ++i) {
    buffer.clear();
    entry.time += milliseconds(1);  // a new millisecond: the cached timestamp is remade
    AppendAccessLogLine(buffer, entry);
    ExpectShape(buffer, "info", "http.access");
  }
  BOOST_TEST(buffer.capacity() == capacity);
}

BOOST_AUTO_TEST_CASE(an_access_line_spells_latency_in_milliseconds_with_three_decimals) {
  AccessLogEntry entry;
  entry.time = ExampleTime();
  for (const auto& [micros, text] :
       std::vector<std::pair<long, std::string>>{{0, "0.000"},
                                                 {7, "0.007"},
                                                 {40, "0.040"},
                                                 {999, "0.999"},
                                                 {1000, "1.000"},
                                                 {123456789, "123456.789"},
                                                 {-5, "0.000"}}) {
    entry.latency = microseconds(micros);
    const std::string line = FormatAccessLogLine(entry);
    BOOST_TEST(line.find("\"latency_ms\":" + text + ",") != std::string::npos, line);
  }
}

BOOST_AUTO_TEST_CASE(the_access_log_queue_writes_whole_lines_in_blocks_of_at_most_4_kib) {
  std::vector<std::string> blocks;
  {
    AccessLogQueue queue([&blocks](std::string_view lines) { blocks.emplace_back(lines); });
    for (int i = 0; i < 200; ++i) queue.Append("line " + std::to_string(i) + std::string(90, 'x'));
    queue.Append(std::string(5000, 'L'));  // longer than a block: a block of its own
    queue.Append("last");
  }  // the destructor writes what is left
  std::string all;
  for (const std::string& block : blocks) {
    BOOST_TEST_REQUIRE(!block.empty());
    BOOST_TEST(block.back() == '\n');
    BOOST_TEST(
        (block.size() <= AccessLogQueue::kMaxBlockBytes || block.find('\n') == block.size() - 1),
        "a block over 4 KiB holds one line only");
    all += block;
  }
  std::string expected;
  for (int i = 0; i < 200; ++i)
    expected += "line " + std::to_string(i) + std::string(90, 'x') + "\n";
  expected += std::string(5000, 'L') + "\n" + "last\n";
  BOOST_TEST(all == expected);
  BOOST_TEST(blocks.size() < 20u, "lines are written many to a block, not one each");
}

BOOST_AUTO_TEST_CASE(an_access_line_escapes_what_it_is_given) {
  AccessLogEntry entry;
  entry.time = ExampleTime();
  entry.method = "GET";
  entry.route_template = "unmatched";
  entry.client_address = "a\"b\\c\n";
  json::object object = ExpectShape(FormatAccessLogLine(entry), "info", "http.access");
  BOOST_TEST(object["client"] == "a\"b\\c\n");
}

BOOST_AUTO_TEST_CASE(an_audit_line_has_the_shape_with_ts_from_the_event) {
  AuditEvent event;
  event.at = time_point_cast<milliseconds>(ExampleTime());
  event.action = "customer.register";
  event.service = "geofencing";
  event.customer_id = "0011223344556677";
  event.generation = 3;
  event.request_id = "req\"1";
  event.client_address = "198.51.100.9";
  const std::string line = FormatAuditLine(event);
  json::object object = ExpectShape(line, "info", "audit");
  BOOST_TEST(object["ts"] == "2026-12-01T12:34:56.789Z");
  BOOST_TEST(object["action"] == "customer.register");
  BOOST_TEST(object["service"] == "geofencing");
  BOOST_TEST(object["customer"] == "0011223344556677");
  BOOST_TEST(object["generation"] == 3);
  BOOST_TEST(object["request_id"] == "req\"1");
  BOOST_TEST(object["client"] == "198.51.100.9");
  BOOST_TEST(!object.contains("at_ms"), line);
  BOOST_TEST(!object.contains("integrator"), "an empty field is left out: " << line);
}

BOOST_AUTO_TEST_CASE(the_cores_json_lines_sink_writes_the_same_shape) {
  std::ostringstream out;
  JsonLinesAuditSink sink(out);
  AuditEvent event;
  event.at = time_point_cast<milliseconds>(ExampleTime());
  event.action = "integrator.create";
  event.integrator_id = "int_abc";
  sink.Record(event);
  const std::string text = out.str();
  BOOST_TEST_REQUIRE(text.ends_with("\n"));
  json::object object = ExpectShape(text.substr(0, text.size() - 1), "info", "audit");
  BOOST_TEST(object["integrator"] == "int_abc");
}

BOOST_AUTO_TEST_CASE(timestamps_are_utc_with_milliseconds) {
  BOOST_TEST(FormatUtcTimestamp(ExampleTime()) == "2026-12-01T12:34:56.789Z");
  BOOST_TEST(FormatUtcTimestamp(system_clock::time_point{}) == "1970-01-01T00:00:00.000Z");
  BOOST_TEST(FormatIsoUtcMillis(Timestamp(milliseconds(-1))) == "1969-12-31T23:59:59.999Z");
}

BOOST_AUTO_TEST_CASE(reopen_writes_to_a_new_file_at_the_path_after_a_rename) {
  credstore::testing::TempDir dir("credstore-log-reopen");
  const std::filesystem::path path = dir.path() / "credstored.log";
  auto log = LogWriter::OpenFile(path.string());
  BOOST_TEST_REQUIRE(log.ok(), log.status().message());
  (*log)->WriteLine("first");
  std::filesystem::rename(path, dir.path() / "credstored.log.1");  // as logrotate does
  (*log)->WriteLine("second");  // still the renamed file: nothing told the writer yet
  BOOST_TEST_REQUIRE((*log)->Reopen().ok());
  (*log)->WriteLine("third");
  BOOST_TEST(ReadFile(dir.path() / "credstored.log.1") == "first\nsecond\n");
  BOOST_TEST(ReadFile(path) == "third\n");
}

BOOST_AUTO_TEST_CASE(a_failed_reopen_keeps_the_file_it_had) {
  credstore::testing::TempDir dir("credstore-log-reopen");
  const std::filesystem::path folder = dir.path() / "logs";
  std::filesystem::create_directory(folder);
  auto log = LogWriter::OpenFile((folder / "credstored.log").string());
  BOOST_TEST_REQUIRE(log.ok(), log.status().message());
  std::filesystem::rename(folder, dir.path() / "moved");  // the path now leads nowhere
  const Status reopened = (*log)->Reopen();
  BOOST_TEST(!reopened.ok());
  BOOST_TEST(reopened.message().find("cannot open the log file") != std::string::npos);
  (*log)->WriteLine("kept");
  BOOST_TEST(ReadFile(dir.path() / "moved" / "credstored.log") == "kept\n");
}

BOOST_AUTO_TEST_CASE(a_stream_writer_has_nothing_to_reopen) {
  std::ostringstream out;
  LogWriter log(out);
  BOOST_TEST(log.Reopen().ok());
  log.WriteLine("line");
  BOOST_TEST(out.str() == "line\n");
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace
}  // namespace credstore::http
