// FunctionRef (credstore/function_ref.h): calls the callable it refers to, with its arguments
// and its result, and sees the callable's state, since it refers to it rather than copying it.
#include "credstore/function_ref.h"

#include <boost/test/unit_test.hpp>
#include <functional>
#include <string>

namespace credstore {
namespace {

int Twice(FunctionRef<int(int)> f, int x) { return f(f(x)); }

int AddOne(int x) { return x + 1; }

BOOST_AUTO_TEST_SUITE(function_ref)

BOOST_AUTO_TEST_CASE(calls_a_lambda_written_in_the_argument_list) {
  BOOST_TEST(Twice([](int x) { return x * 3; }, 2) == 18);
}

BOOST_AUTO_TEST_CASE(refers_to_the_callable_instead_of_copying_it) {
  int calls = 0;
  auto counting = [&calls](int x) {
    ++calls;
    return x;
  };
  BOOST_TEST(Twice(counting, 5) == 5);
  BOOST_TEST(calls == 2);

  struct Stateful {
    int seen = 0;
    void operator()(const std::string& text) { seen += static_cast<int>(text.size()); }
  } stateful;
  const FunctionRef<void(const std::string&)> ref(stateful);
  ref("abc");
  ref("de");
  BOOST_TEST(stateful.seen == 5);  // the object itself was called, not a copy
}

BOOST_AUTO_TEST_CASE(calls_a_function_pointer_and_a_std_function) {
  int (*pointer)(int) = &AddOne;
  BOOST_TEST(Twice(pointer, 1) == 3);
  const std::function<int(int)> function = [](int x) { return x - 1; };
  BOOST_TEST(Twice(function, 1) == -1);
}

BOOST_AUTO_TEST_CASE(ignores_the_result_of_a_callable_for_a_void_signature) {
  int calls = 0;
  const auto returns_a_value = [&calls] { return ++calls; };
  const FunctionRef<void()> ref(returns_a_value);
  ref();
  BOOST_TEST(calls == 1);
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace
}  // namespace credstore
