// Internal: JSON request bodies, parsed strictly.
//
// Boost.JSON accepts a duplicate member (keeping the last one) and turns 1e400 into infinity;
// both are ambiguities an attacker can use against a proxy that reads the first member, so a
// validating pass rejects them before the value is built.
#ifndef CREDSTORE_ADAPTERS_HTTP_SRC_STRICT_JSON_H_
#define CREDSTORE_ADAPTERS_HTTP_SRC_STRICT_JSON_H_

#include <boost/json/object.hpp>
#include <string>
#include <string_view>
#include <variant>

namespace credstore::http::internal {

// The object, or a message for a 400 problem: malformed JSON or UTF-8, trailing data, a
// duplicate member, a non-finite number, or a top level that is not an object.
std::variant<boost::json::object, std::string> ParseStrictJsonObject(std::string_view text);

// `valid_json` (which ParseStrictJsonObject accepted) without the whitespace between its tokens:
// the client's own text otherwise, byte for byte. Re-serializing the parsed value instead would
// rewrite numbers (Boost.JSON 1.81 reads some doubles inexactly: 2.2250738585072011e-308 came
// back as 2.2250738585072014E-308) and escapes.
std::string CompactJson(std::string_view valid_json);

}  // namespace credstore::http::internal

#endif  // CREDSTORE_ADAPTERS_HTTP_SRC_STRICT_JSON_H_
