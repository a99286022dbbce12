#include "strict_json.h"

#include <boost/json/basic_parser_impl.hpp>
#include <boost/json/parse.hpp>
#include <cmath>
#include <set>
#include <vector>

namespace credstore::http::internal {
namespace {

namespace json = boost::json;

// A basic_parser handler that builds nothing: it only tracks member names per open object and
// rejects the document on a repeated name or a number that does not fit a double.
class DuplicateAndRangeCheck {
 public:
  static constexpr std::size_t max_array_size = static_cast<std::size_t>(-1);
  static constexpr std::size_t max_object_size = static_cast<std::size_t>(-1);
  static constexpr std::size_t max_string_size = static_cast<std::size_t>(-1);
  static constexpr std::size_t max_key_size = static_cast<std::size_t>(-1);

  std::string problem;

  bool on_document_begin(json::error_code&) { return true; }
  bool on_document_end(json::error_code&) { return true; }
  bool on_array_begin(json::error_code&) { return true; }
  bool on_array_end(std::size_t, json::error_code&) { return true; }
  bool on_object_begin(json::error_code&) {
    open_objects_.emplace_back();
    return true;
  }
  bool on_object_end(std::size_t, json::error_code&) {
    open_objects_.pop_back();
    return true;
  }
  bool on_string_part(json::string_view, std::size_t, json::error_code&) { return true; }
  bool on_string(json::string_view, std::size_t, json::error_code&) { return true; }
  bool on_key_part(json::string_view s, std::size_t, json::error_code&) {
    key_.append(s.data(), s.size());
    return true;
  }
  bool on_key(json::string_view s, std::size_t, json::error_code& ec) {
    key_.append(s.data(), s.size());
    const bool inserted = open_objects_.back().insert(std::move(key_)).second;
    key_.clear();
    if (!inserted) return Fail("duplicate member in JSON object", ec);
    return true;
  }
  bool on_number_part(json::string_view, json::error_code&) { return true; }
  bool on_int64(std::int64_t, json::string_view, json::error_code&) { return true; }
  bool on_uint64(std::uint64_t, json::string_view, json::error_code&) { return true; }
  bool on_double(double d, json::string_view, json::error_code& ec) {
    if (!std::isfinite(d)) return Fail("number out of range", ec);
    return true;
  }
  bool on_bool(bool, json::error_code&) { return true; }
  bool on_null(json::error_code&) { return true; }
  bool on_comment_part(json::string_view, json::error_code&) { return true; }
  bool on_comment(json::string_view, json::error_code&) { return true; }

 private:
  bool Fail(std::string message, json::error_code& ec) {
    problem = std::move(message);
    ec = json::make_error_code(json::error::syntax);
    return false;
  }

  std::vector<std::set<std::string>> open_objects_;
  std::string key_;
};

}  // namespace

std::variant<json::object, std::string> ParseStrictJsonObject(std::string_view text) {
  json::basic_parser<DuplicateAndRangeCheck> checker(json::parse_options{});
  json::error_code ec;
  const std::size_t used = checker.write_some(false, text.data(), text.size(), ec);
  if (ec || used != text.size()) {
    if (!checker.handler().problem.empty()) return checker.handler().problem;
    return std::string("request body is not valid JSON");
  }
  json::value value = json::parse(json::string_view(text.data(), text.size()), ec);
  if (ec) return std::string("request body is not valid JSON");
  if (!value.is_object()) return std::string("request body must be a JSON object");
  return std::move(value.as_object());
}

std::string CompactJson(std::string_view valid_json) {
  // Valid JSON has whitespace only between tokens or inside strings, so dropping every space,
  // tab, CR and LF outside a string leaves each token, numbers and escapes included, as sent.
  std::string compact;
  compact.reserve(valid_json.size());
  bool in_string = false;
  bool escaped = false;
  for (const char c : valid_json) {
    if (in_string) {
      compact.push_back(c);
      if (escaped) {
        escaped = false;
      } else if (c == '\\') {
        escaped = true;
      } else if (c == '"') {
        in_string = false;
      }
    } else if (c != ' ' && c != '\t' && c != '\r' && c != '\n') {
      compact.push_back(c);
      in_string = c == '"';
    }
  }
  return compact;
}

}  // namespace credstore::http::internal
