// trim.h — optional whitespace (spaces and tabs) around list items in header values and flags.
#ifndef CREDSTORE_HTTP_SRC_TRIM_H_
#define CREDSTORE_HTTP_SRC_TRIM_H_

#include <string_view>

namespace credstore::http {

// `text` without leading and trailing spaces and tabs (RFC 9110's OWS).
inline std::string_view Trim(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
  return text;
}

}  // namespace credstore::http

#endif  // CREDSTORE_HTTP_SRC_TRIM_H_
