// credstored's JSON config file, as the parser reads it (adapters/http/src/config.h): arrays for
// the repeatable settings, and an unknown name or a value of the wrong type refused with a
// message that names the setting and the file. credstored itself is checked in
// tests/http/logs_config_test.cc; here only the parser, with a catalog of each kind.
#include <boost/test/unit_test.hpp>
#include <string>
#include <vector>

#include "config.h"

namespace credstore::http {
namespace {

const std::vector<ConfigSetting>& Settings() {
  static const std::vector<ConfigSetting> settings = {
      {"listen", SettingKind::kText},
      {"services", SettingKind::kList},
      {"trusted-proxy", SettingKind::kList},
      {"hashing-workers", SettingKind::kCount},
      {"read-timeout", SettingKind::kNumber},
      {"min-free-disk", SettingKind::kNumber},
      {"allow-plain-http-on-public-address", SettingKind::kSwitch},
  };
  return settings;
}

std::vector<std::string> Arguments(std::string_view json) {
  auto arguments = JsonConfigToArguments(json, "config.json", Settings());
  BOOST_TEST_REQUIRE(arguments.ok(), json << ": " << arguments.status().message());
  return *arguments;
}

std::string Refusal(std::string_view json, std::string_view file = "config.json") {
  auto arguments = JsonConfigToArguments(json, file, Settings());
  BOOST_TEST_REQUIRE(!arguments.ok(), json << " was accepted");
  BOOST_TEST((arguments.status().code() == StatusCode::kInvalidArgument));
  return arguments.status().message();
}

BOOST_AUTO_TEST_SUITE(config_file)

BOOST_AUTO_TEST_CASE(an_array_sets_a_repeatable_flag_once_per_element) {
  const std::vector<std::string> expected = {
      "--services=a", "--services=b", "--trusted-proxy=10.0.0.1", "--trusted-proxy=192.0.2.0/24"};
  BOOST_TEST(Arguments(R"({"services":["a","b"],"trusted-proxy":["10.0.0.1","192.0.2.0/24"]})") ==
                 expected,
             boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(one_string_for_a_repeatable_flag_is_an_array_of_one) {
  // The comma list of earlier config files keeps working: --services splits it.
  const std::vector<std::string> expected = {"--services=geofencing,locationHistory"};
  BOOST_TEST(Arguments(R"({"services":"geofencing,locationHistory"})") == expected,
             boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(strings_numbers_and_switches_become_their_flags) {
  const std::vector<std::string> expected = {"--listen=0.0.0.0:8443", "--hashing-workers=4",
                                             "--read-timeout=2.5", "--min-free-disk=-1",
                                             "--allow-plain-http-on-public-address"};
  BOOST_TEST(
      Arguments(R"({"listen":"0.0.0.0:8443","hashing-workers":4,"read-timeout":2.5,)"
                R"("min-free-disk":-1,"allow-plain-http-on-public-address":true})") == expected,
      boost::test_tools::per_element());
  BOOST_TEST(Arguments(R"({"allow-plain-http-on-public-address":false})").empty());
}

BOOST_AUTO_TEST_CASE(an_unknown_name_is_refused_naming_it_and_the_file) {
  BOOST_TEST(Refusal(R"({"lisen":"127.0.0.1:8080"})") == "unknown setting 'lisen' in config.json");
  BOOST_TEST(Refusal(R"({"--listen":"127.0.0.1:8080"})", "/etc/credstore/credstored.json") ==
             "unknown setting '--listen' in /etc/credstore/credstored.json");
  BOOST_TEST(Refusal(R"({"":1})") == "unknown setting '' in config.json");
  BOOST_TEST(Refusal(R"({"config":"other.json"})") == "config.json cannot set 'config'");
  BOOST_TEST(Refusal(R"({"help":true})") == "config.json cannot set 'help'");
}

BOOST_AUTO_TEST_CASE(a_value_of_the_wrong_type_is_refused_saying_what_it_must_be) {
  const std::string count = "'hashing-workers' in config.json must be a whole number, 0 or more";
  BOOST_TEST(Refusal(R"({"hashing-workers":"two"})") == count);
  BOOST_TEST(Refusal(R"({"hashing-workers":-1})") == count);
  BOOST_TEST(Refusal(R"({"hashing-workers":2.5})") == count);
  BOOST_TEST(Refusal(R"({"hashing-workers":[2]})") == count);
  BOOST_TEST(Refusal(R"({"read-timeout":"10"})") ==
             "'read-timeout' in config.json must be a number");
  BOOST_TEST(Refusal(R"({"listen":8080})") == "'listen' in config.json must be a string");
  BOOST_TEST(Refusal(R"({"listen":null})") == "'listen' in config.json must be a string");
  BOOST_TEST(Refusal(R"({"allow-plain-http-on-public-address":"yes"})") ==
             "'allow-plain-http-on-public-address' in config.json must be true or false");
  const std::string list = "'services' in config.json must be an array of strings (or one string)";
  BOOST_TEST(Refusal(R"({"services":["a",1]})") == list);
  BOOST_TEST(Refusal(R"({"services":{"a":"b"}})") == list);
  BOOST_TEST(Refusal(R"({"services":[["a"]]})") == list);
}

BOOST_AUTO_TEST_CASE(a_file_that_is_not_one_json_object_is_refused) {
  BOOST_TEST(Refusal("{\"listen\":").starts_with("config.json is not JSON: "));
  BOOST_TEST(Refusal(R"(["listen"])") == "config.json must hold one JSON object");
}

BOOST_AUTO_TEST_CASE(service_lists_split_every_element_in_order) {
  auto services = SplitServiceLists({"a,b", " c ", "d"});
  BOOST_TEST_REQUIRE(services.ok());
  const std::vector<std::string> expected = {"a", "b", "c", "d"};
  BOOST_TEST(*services == expected, boost::test_tools::per_element());
  BOOST_TEST(!SplitServiceLists({"a", "b,,c"}).ok());
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace
}  // namespace credstore::http
