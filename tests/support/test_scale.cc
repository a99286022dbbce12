#include "support/test_scale.h"

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <string_view>
#include <system_error>

namespace credstore::testing {
namespace {

// The one place that reads the variable; read once, since tests ask from many threads.
int Divisor() {
  static const int divisor = [] {
    const char* text = std::getenv("CREDSTORE_TEST_DIVISOR");
    if (text == nullptr || *text == '\0') return 1;
    const std::string_view view(text);
    int value = 0;
    const auto [end, error] = std::from_chars(view.data(), view.data() + view.size(), value);
    if (error != std::errc() || end != view.data() + view.size() || value < 1) {
      std::fprintf(stderr, "CREDSTORE_TEST_DIVISOR=%s: expected a whole number of at least 1\n",
                   text);
      std::exit(EXIT_FAILURE);
    }
    return value;
  }();
  return divisor;
}

}  // namespace

int ScaledCount(int full, int minimum) { return std::max(minimum, full / Divisor()); }

}  // namespace credstore::testing
