// Fuzzes ParseStrictJsonObject, the parser of every JSON request body.
//
// Checks, beyond "never crashes": an accepted text had no repeated member name in any of its
// objects (its member names, counted while parsing, are exactly the members of the value built),
// and its serialization is accepted again and equal (doubles up to 2 ulps apart: see
// NearlyEqual). A rejection must have one of the documented reasons: Boost.JSON's own parser
// refuses the text, or it is not an object, or it repeats a member, or it holds a number out of
// a double's range.
#include <boost/json/basic_parser_impl.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>
#include <variant>

#include "strict_json.h"

namespace {

namespace json = boost::json;

void Check(bool holds, const char* what) {
  if (holds) return;
  std::fprintf(stderr, "fuzz_strict_json: violated: %s\n", what);
  std::abort();
}

// Counts what the strict parser judges, independently of its set-per-object bookkeeping: every
// member name in the text, and every number that did not fit a double.
class Census {
 public:
  static constexpr std::size_t max_array_size = static_cast<std::size_t>(-1);
  static constexpr std::size_t max_object_size = static_cast<std::size_t>(-1);
  static constexpr std::size_t max_string_size = static_cast<std::size_t>(-1);
  static constexpr std::size_t max_key_size = static_cast<std::size_t>(-1);

  std::size_t keys = 0;
  bool non_finite = false;

  bool on_document_begin(json::error_code&) { return true; }
  bool on_document_end(json::error_code&) { return true; }
  bool on_array_begin(json::error_code&) { return true; }
  bool on_array_end(std::size_t, json::error_code&) { return true; }
  bool on_object_begin(json::error_code&) { return true; }
  bool on_object_end(std::size_t, json::error_code&) { return true; }
  bool on_string_part(json::string_view, std::size_t, json::error_code&) { return true; }
  bool on_string(json::string_view, std::size_t, json::error_code&) { return true; }
  bool on_key_part(json::string_view, std::size_t, json::error_code&) { return true; }
  bool on_key(json::string_view, std::size_t, json::error_code&) {
    ++keys;
    return true;
  }
  bool on_number_part(json::string_view, json::error_code&) { return true; }
  bool on_int64(std::int64_t, json::string_view, json::error_code&) { return true; }
  bool on_uint64(std::uint64_t, json::string_view, json::error_code&) { return true; }
  bool on_double(double d, json::string_view, json::error_code&) {
    non_finite = non_finite || !std::isfinite(d);
    return true;
  }
  bool on_bool(bool, json::error_code&) { return true; }
  bool on_null(json::error_code&) { return true; }
  bool on_comment_part(json::string_view, json::error_code&) { return true; }
  bool on_comment(json::string_view, json::error_code&) { return true; }
};

// True iff `a` and `b` are equal, but for doubles up to two units in the last place apart.
// Boost.JSON 1.81 parses decimal numbers fast rather than correctly rounded (precise parsing came
// with 1.83), so the shortest text of a double can parse back a unit or so away from it:
// fuzz/regressions/fuzz_strict_json/double_drift is one. Settings documents drift the same way
// on each write, since the adapter stores them re-serialized; a tolerance keeps the check on
// everything else.
bool NearlyEqual(const json::value& a, const json::value& b) {
  if (a.is_double() && b.is_double()) {
    double x = a.get_double();
    const double y = b.get_double();
    for (int step = 0; step < 2 && x != y; ++step) x = std::nextafter(x, y);
    return x == y;
  }
  if (a.kind() != b.kind()) return false;
  if (const json::object* object = a.if_object()) {
    const json::object& other = b.get_object();
    if (object->size() != other.size()) return false;
    for (const auto& member : *object) {
      const json::value* match = other.if_contains(member.key());
      if (match == nullptr || !NearlyEqual(member.value(), *match)) return false;
    }
    return true;
  }
  if (const json::array* array = a.if_array()) {
    const json::array& other = b.get_array();
    if (array->size() != other.size()) return false;
    for (std::size_t i = 0; i < array->size(); ++i) {
      if (!NearlyEqual((*array)[i], other[i])) return false;
    }
    return true;
  }
  return a == b;
}

// The members of every object in `value`, nested ones included.
std::size_t MemberCount(const json::value& value) {
  std::size_t count = 0;
  if (const json::object* object = value.if_object()) {
    count += object->size();
    for (const auto& member : *object) count += MemberCount(member.value());
  } else if (const json::array* array = value.if_array()) {
    for (const json::value& element : *array) count += MemberCount(element);
  }
  return count;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto strict = credstore::http::internal::ParseStrictJsonObject(text);

  json::basic_parser<Census> census(json::parse_options{});
  json::error_code census_error;
  const std::size_t used = census.write_some(false, text.data(), text.size(), census_error);
  const bool boost_accepts = !census_error && used == text.size();
  json::error_code parse_error;
  const json::value lax = json::parse(json::string_view(text.data(), text.size()), parse_error);
  Check(boost_accepts == !parse_error, "basic_parser and parse agree on what is JSON");

  if (auto* object = std::get_if<json::object>(&strict)) {
    Check(boost_accepts && lax.is_object(), "accepted text is a JSON object");
    Check(!census.handler().non_finite, "accepted text has only finite numbers");
    const json::value accepted(*object);
    Check(census.handler().keys == MemberCount(accepted),
          "accepted text repeats no member name (names in the text = members of the value)");
    Check(accepted == lax, "strict and lax parses build the same value");
    const std::string serialized = json::serialize(accepted);
    auto again = credstore::http::internal::ParseStrictJsonObject(serialized);
    auto* reparsed = std::get_if<json::object>(&again);
    Check(reparsed != nullptr, "the serialization of an accepted object is accepted");
    Check(NearlyEqual(json::value(*reparsed), accepted),
          "the serialization re-parses to an equal object (doubles within 2 ulps)");
  } else {
    Check(!std::get<std::string>(strict).empty(), "a rejection says why");
    const bool justified = !boost_accepts || !lax.is_object() || census.handler().non_finite ||
                           census.handler().keys != MemberCount(lax);
    Check(justified, "rejected only for a documented reason");
  }
  return 0;
}
