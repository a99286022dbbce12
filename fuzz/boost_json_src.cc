// Boost.JSON's sources, compiled into the fuzzers with their instrumentation (CMakeLists.txt
// says why); the one translation unit that includes them.
#include <boost/json/src.hpp>
