// credstored's logs and configuration (docs/operations.md "Logs", "Configuration file", "Files
// and modes"): every line in one shape, SIGHUP reopening --log-file for logrotate, the JSON
// config file's arrays and refusals, and a fresh RocksDB folder made owner-only.
#include <signal.h>
#include <sys/stat.h>

#include <boost/json.hpp>
#include <boost/test/unit_test.hpp>
#include <chrono>
#include <exception>
#include <filesystem>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "http/http_test_env.h"

#ifndef CREDSTORE_SOURCE_DIR
#error "tests/http/CMakeLists.txt defines CREDSTORE_SOURCE_DIR (for the example config file)"
#endif

namespace credstore::http_tests {
namespace {

namespace fs = std::filesystem;
namespace json = boost::json;
using namespace std::chrono_literals;

std::string ReadFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

void WriteFile(const fs::path& path, std::string_view text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
}

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (!line.empty()) lines.push_back(line);
  }
  return lines;
}

std::size_t Count(const std::string& text, std::string_view what) {
  std::size_t count = 0;
  for (std::size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) {
    ++count;
  }
  return count;
}

// Polls `path` until it holds `what` (the access log is written every 20 ms, off the request
// path); false after 10 s.
bool WaitForText(const fs::path& path, std::string_view what) {
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (std::chrono::steady_clock::now() < deadline) {
    if (ReadFile(path).find(what) != std::string::npos) return true;
    std::this_thread::sleep_for(20ms);
  }
  return false;
}

// The mode bits of `path` (without the file type).
unsigned ModeOf(const fs::path& path) {
  struct stat info {};
  if (::stat(path.c_str(), &info) != 0) return 0xffff;
  return static_cast<unsigned>(info.st_mode & 07777);
}

// Checks the three members every line begins with, and returns the line's object.
json::object ExpectShape(const std::string& line) {
  boost::system::error_code error;
  json::value value = json::parse(line, error);
  BOOST_TEST_REQUIRE(!error, "a log line that is not JSON: " << line);
  BOOST_TEST_REQUIRE(value.is_object(), line);
  json::object object = value.as_object();
  static const std::regex kIsoMillis(R"(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z)");
  BOOST_TEST(line.starts_with(R"({"ts":")"), line);
  const json::value* ts = object.if_contains("ts");
  BOOST_TEST_REQUIRE((ts != nullptr && ts->is_string()), line);
  BOOST_TEST(std::regex_match(std::string(ts->as_string()), kIsoMillis), line);
  const json::value* level = object.if_contains("level");
  BOOST_TEST_REQUIRE((level != nullptr && level->is_string()), line);
  static const std::set<std::string> kLevels = {"info", "warning", "error"};
  BOOST_TEST(kLevels.count(std::string(level->as_string())) == 1u, line);
  const json::value* event = object.if_contains("event");
  BOOST_TEST_REQUIRE((event != nullptr && event->is_string()), line);
  BOOST_TEST(!object.contains("at_ms"), line);
  return object;
}

BOOST_AUTO_TEST_SUITE(logs_and_config)

// ---- One log shape ------------------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(every_line_has_ts_level_and_event) {
  Server server;
  server.NewCustomer();                                     // an audit event
  BOOST_TEST(server.Get("/no/such/route").status == 404u);  // an access line
  server.Stop();
  std::set<std::string> events;
  for (const std::string& line : Lines(server.process().Log())) {
    json::object object = ExpectShape(line);
    const std::string event(object["event"].as_string());
    events.insert(event);
    if (event == "audit") {
      BOOST_TEST(object["level"] == "info", line);
      BOOST_TEST(object.contains("action"), line);
    }
    if (event == "http.access") {
      for (const char* field :
           {"request_id", "listener", "method", "route", "status", "latency_ms", "client"}) {
        BOOST_TEST(object.contains(field), field << " missing in " << line);
      }
    }
  }
  for (const char* expected : {"credstored.start", "http.access", "audit", "credstored.stop"}) {
    BOOST_TEST(events.count(expected) == 1u, "no " << expected << " line in the log");
  }
}

// ---- SIGHUP and --log-file --------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(sighup_reopens_the_log_file_at_its_path) {
  credstore::testing::TempDir logs("credstore-log-file");
  const fs::path path = logs.path() / "credstored.log";
  const fs::path rotated = logs.path() / "credstored.log.1";
  ServerOptions options;
  options.extra_args = {"--log-file", path.string()};
  Server server(options);
  BOOST_TEST(ModeOf(path) == 0600u, "the log file is created owner-only");
  BOOST_TEST(server.Get("/before/rotation").status == 404u);
  BOOST_TEST_REQUIRE(WaitForText(path, R"("event":"http.access")"), ReadFile(path));

  fs::rename(path, rotated);  // logrotate's move, then its postrotate: SIGHUP
  BOOST_TEST_REQUIRE(::kill(server.process().pid(), SIGHUP) == 0);
  BOOST_TEST_REQUIRE(WaitForText(path, R"("what":"log file")"),
                     "no reload line in a new " << path << "; the rotated file:\n"
                                                << ReadFile(rotated));
  BOOST_TEST(server.Get("/after/rotation").status == 404u);
  BOOST_TEST_REQUIRE(WaitForText(path, R"("event":"http.access")"), ReadFile(path));
  server.Stop();

  const std::string old_lines = ReadFile(rotated);
  const std::string new_lines = ReadFile(path);
  BOOST_TEST(Count(old_lines, R"("event":"http.access")") == 1u, old_lines);
  BOOST_TEST(Count(old_lines, R"("event":"credstored.start")") == 1u, old_lines);
  BOOST_TEST(Count(new_lines, R"("event":"http.access")") == 1u, new_lines);
  BOOST_TEST(Count(new_lines, R"("event":"credstored.stop")") == 1u, new_lines);
  for (const std::string& line : Lines(new_lines)) ExpectShape(line);
  BOOST_TEST(ModeOf(path) == 0600u, "the new log file is owner-only too");
}

BOOST_AUTO_TEST_CASE(sighup_without_a_log_file_still_reloads_the_rest) {
  Server server;
  BOOST_TEST_REQUIRE(::kill(server.process().pid(), SIGHUP) == 0);
  BOOST_TEST_REQUIRE(WaitForText(server.process().log_path(), R"("what":"verifier tokens")"),
                     server.process().Log());
  BOOST_TEST(server.process().Log().find(R"("what":"log file")") == std::string::npos);
  BOOST_TEST(server.Get("/healthz").status == 200u, "still serving after SIGHUP");
}

// ---- The JSON config file -----------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(arrays_set_the_repeatable_settings) {
  credstore::testing::TempDir dir("credstore-config-file");
  const fs::path config = dir.path() / "credstored.json";
  WriteFile(config, R"({"services":["parking","tolls"],"trusted-proxy":["127.0.0.1","::1"]})");
  ServerOptions options;
  options.extra_args = {"--config", config.string()};
  Server server(options);
  server.NewCustomer("tolls");
  server.NewCustomer("parking");
  BOOST_TEST(server.Register("geofencing", NewApiKey(), NewSecret()).status == 404u,
             "a service the file did not list");
  const std::string log = server.process().Log();
  BOOST_TEST(log.find(R"("services":["parking","tolls"])") != std::string::npos, log);
}

BOOST_AUTO_TEST_CASE(the_packaged_example_config_starts_a_server) {
  // Flags win over the file: the test's listeners, storage and port files replace the
  // example's; everything else is the example's own.
  const fs::path example = fs::path(CREDSTORE_SOURCE_DIR) / "packaging/credstored.example.json";
  BOOST_TEST_REQUIRE(fs::exists(example), example);
  ServerOptions options;
  options.extra_args = {"--config", example.string()};
  Server server(options);
  BOOST_TEST(server.Get("/readyz").status == 200u);
  const std::string log = server.process().Log();
  BOOST_TEST(log.find(R"("services":["geofencing","locationHistory"])") != std::string::npos, log);
}

BOOST_AUTO_TEST_CASE(an_unknown_setting_stops_the_start_naming_it_and_the_file) {
  credstore::testing::TempDir dir("credstore-config-file");
  const fs::path config = dir.path() / "config.json";
  WriteFile(config, R"({"lisen":"127.0.0.1:8080"})");
  const std::string log = ExpectStartupRefusal({"--config", config.string()});
  BOOST_TEST(log.find("unknown setting 'lisen' in " + config.string()) != std::string::npos, log);
  BOOST_TEST(log.find("unrecognised option") == std::string::npos, "a flag-parser error: " << log);
}

BOOST_AUTO_TEST_CASE(a_value_of_the_wrong_type_stops_the_start_saying_what_it_must_be) {
  credstore::testing::TempDir dir("credstore-config-file");
  const fs::path config = dir.path() / "config.json";
  WriteFile(config, R"({"hashing-workers":"two"})");
  std::string log = ExpectStartupRefusal({"--config", config.string()});
  BOOST_TEST(log.find("'hashing-workers' in " + config.string() +
                      " must be a whole number, 0 or more") != std::string::npos,
             log);
  WriteFile(config, R"({"services":["geofencing",7]})");
  log = ExpectStartupRefusal({"--config", config.string()});
  BOOST_TEST(log.find("'services' in " + config.string() +
                      " must be an array of strings (or one string)") != std::string::npos,
             log);
  WriteFile(config, R"({"allow-plain-http-on-public-address":"yes"})");
  log = ExpectStartupRefusal({"--config", config.string()});
  BOOST_TEST(log.find("must be true or false") != std::string::npos, log);
}

// ---- Files and modes --------------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(a_fresh_rocksdb_folder_and_every_file_credstored_makes_are_owner_only) {
  if (Args().backend != Backend::kRocksDb) {
    BOOST_TEST_MESSAGE("skipped: runs with --storage rocksdb");
    return;
  }
  credstore::testing::TempDir dir("credstore-modes");
  const fs::path data = dir.path() / "data";
  CredstoredConfig config;
  config.binary = Args().credstored;
  config.storage_uri = "rocksdb://" + data.string();  // an absolute path: rocksdb:///tmp/...
  config.key_file = dir.path() / "credstore.keys";    // absent: created at start
  config.work_dir = dir.path();
  config.operator_token = "optok-" + RandomAlnum(32);
  CredstoredProcess process(config);
  process.Start();
  BOOST_TEST(ModeOf(data) == 0700u, "the data folder");
  std::size_t files = 0;
  for (const auto& entry : fs::recursive_directory_iterator(data)) {
    if (entry.is_directory()) {
      BOOST_TEST(ModeOf(entry.path()) == 0700u, entry.path());
    } else if (entry.is_regular_file()) {
      ++files;
      BOOST_TEST(ModeOf(entry.path()) == 0600u, entry.path());
    }
  }
  BOOST_TEST(files > 0u, "RocksDB wrote no file in " << data);
  BOOST_TEST(ModeOf(config.key_file) == 0600u, "the key file");
  BOOST_TEST(ModeOf(dir.path() / "public.port") == 0600u, "the port file");
  BOOST_TEST(ModeOf(dir.path() / "operator.port") == 0600u, "the operator port file");
  const ExitInfo exit = process.Stop();
  BOOST_TEST((exit.exited && exit.code == 0), exit.Describe());
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace
}  // namespace credstore::http_tests
