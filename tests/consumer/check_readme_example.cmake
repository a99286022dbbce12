# Fails when the README's embedding example differs from examples/quickstart.cc, which is the
# copy that gets compiled and run (example.quickstart). Run as:
#   cmake -DREADME=README.md -DEXAMPLE=examples/quickstart.cc -DWORK_DIR=<dir> -P <this file>
#
# The README block sits between these two marker lines, fence included:
#   <!-- begin: examples/quickstart.cc -->
#   <!-- end: examples/quickstart.cc -->
cmake_minimum_required(VERSION 3.25)

foreach(input README EXAMPLE WORK_DIR)
  if(NOT DEFINED ${input})
    message(FATAL_ERROR "check_readme_example.cmake: -D${input}=... is required")
  endif()
endforeach()

file(READ "${README}" readme)
file(READ "${EXAMPLE}" example)

set(opening "<!-- begin: examples/quickstart.cc -->\n```cpp\n")
set(closing "```\n<!-- end: examples/quickstart.cc -->")

string(FIND "${readme}" "${opening}" start)
if(start EQUAL -1)
  message(FATAL_ERROR "${README} has no line '<!-- begin: examples/quickstart.cc -->' "
                      "followed by a ```cpp fence")
endif()
string(LENGTH "${opening}" opening_length)
math(EXPR start "${start} + ${opening_length}")
string(SUBSTRING "${readme}" ${start} -1 rest)
string(FIND "${rest}" "${closing}" length)
if(length EQUAL -1)
  message(FATAL_ERROR "${README}: the quickstart block has no closing fence followed by "
                      "'<!-- end: examples/quickstart.cc -->'")
endif()
string(SUBSTRING "${rest}" 0 ${length} block)

if("${block}" STREQUAL "${example}")
  message(STATUS "README.md shows examples/quickstart.cc verbatim")
  return()
endif()

# Show what differs: the block is written out so diff can compare two files.
file(MAKE_DIRECTORY "${WORK_DIR}")
set(extracted "${WORK_DIR}/README-quickstart.cc")
file(WRITE "${extracted}" "${block}")
find_program(DIFF diff)
if(DIFF)
  execute_process(COMMAND "${DIFF}" -u "${EXAMPLE}" "${extracted}")
endif()
message(FATAL_ERROR "README.md's quickstart block differs from ${EXAMPLE} (README copy: "
                    "${extracted}). Edit both, or paste the file into the README.")
