// Boost.Test's main for every credstore test executable.
#define BOOST_TEST_MODULE credstore
#include <boost/test/unit_test.hpp>
