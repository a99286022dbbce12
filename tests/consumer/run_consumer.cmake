# Drives one consumer test in script mode (cmake -P), each in its own work directory:
#
#   -DACTION=install           cmake --install the already built tree into PREFIX
#   -DACTION=find_package      configure, build and run find_package/ against PREFIX
#   -DACTION=add_subdirectory  configure, build and run add_subdirectory/ over SOURCE_DIR
#
# Other inputs: SOURCE_DIR, BUILD_DIR (credstore's build tree), WORK_DIR, PREFIX, LIBDIR
# (CMAKE_INSTALL_LIBDIR), CONFIG, GENERATOR, CXX_COMPILER, SANITIZE (CREDSTORE_SANITIZE of the
# parent build; may be empty), SKIP_REASON (when set, the test only reports itself skipped),
# WITH_HTTP (ON when the parent built credstore::http: the consumer then also builds
# host_server against it) and HOST_SERVER_CHECK (the program that drives host_server).
#
# Nothing here builds in BUILD_DIR: ctest runs tests in parallel, and a second build of the
# parent tree would race the first. `cmake --install` only copies what is already built.
cmake_minimum_required(VERSION 3.25)

foreach(input ACTION SOURCE_DIR WORK_DIR CONFIG)
  if(NOT DEFINED ${input} OR "${${input}}" STREQUAL "")
    message(FATAL_ERROR "run_consumer.cmake: -D${input}=... is required")
  endif()
endforeach()

set(with_http OFF)
if(WITH_HTTP)
  set(with_http ON)
  if(NOT DEFINED HOST_SERVER_CHECK OR NOT EXISTS "${HOST_SERVER_CHECK}")
    message(FATAL_ERROR "run_consumer.cmake: WITH_HTTP needs -DHOST_SERVER_CHECK=<program>")
  endif()
endif()

# The test registers itself as skipped by printing this line (SKIP_REGULAR_EXPRESSION).
if(DEFINED SKIP_REASON)
  message("consumer: skipped: ${SKIP_REASON}")
  return()
endif()

# run(<what> <command>...): runs a command and stops the test with its output when it fails.
function(run what)
  string(JOIN " " printable ${ARGN})
  message(STATUS "consumer: ${what}: ${printable}")
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE result)
  if(NOT result EQUAL 0)
    message(FATAL_ERROR "consumer: ${what} failed (${result})")
  endif()
endfunction()

# A sanitized credstore is a static library full of sanitizer calls; its consumers must be
# compiled and linked with the same sanitizers, as a real consumer of such a build would be.
set(flags_args "")
if(NOT "${SANITIZE}" STREQUAL "")
  set(sanitize_flags "-fsanitize=${SANITIZE} -fno-omit-frame-pointer")
  list(APPEND flags_args "-DCMAKE_CXX_FLAGS=${sanitize_flags}"
       "-DCMAKE_EXE_LINKER_FLAGS=-fsanitize=${SANITIZE}")
endif()

set(common_args -G "${GENERATOR}" "-DCMAKE_BUILD_TYPE=${CONFIG}"
    "-DCMAKE_CXX_COMPILER=${CXX_COMPILER}" ${flags_args})

if(ACTION STREQUAL "install")
  file(REMOVE_RECURSE "${PREFIX}")
  # Installing copies every installable target, so all of them must have been built: a build
  # of selected targets only (`--target unit_tests`) fails here with "cannot find" a library.
  run("install (needs a full build of ${BUILD_DIR})"
      "${CMAKE_COMMAND}" --install "${BUILD_DIR}" --prefix "${PREFIX}" --config "${CONFIG}")
  if(NOT EXISTS "${PREFIX}/${LIBDIR}/cmake/credstore/credstoreConfig.cmake")
    message(FATAL_ERROR "consumer: no credstoreConfig.cmake under ${PREFIX}/${LIBDIR}/cmake/credstore")
  endif()
  return()
endif()

if(ACTION STREQUAL "find_package")
  set(project_dir "${SOURCE_DIR}/tests/consumer/find_package")
  # Only the fresh install may satisfy find_package: no user or system package registry.
  set(project_args "-DCMAKE_PREFIX_PATH=${PREFIX}" -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF
      -DCMAKE_FIND_USE_SYSTEM_PACKAGE_REGISTRY=OFF)
elseif(ACTION STREQUAL "add_subdirectory")
  set(project_dir "${SOURCE_DIR}/tests/consumer/add_subdirectory")
  set(project_args "-DCREDSTORE_SOURCE_DIR=${SOURCE_DIR}" "-DCONSUMER_WITH_HTTP=${with_http}")
else()
  message(FATAL_ERROR "run_consumer.cmake: unknown ACTION '${ACTION}'")
endif()

# A fresh tree every run: a stale cache would hide a broken package config.
file(REMOVE_RECURSE "${WORK_DIR}")
file(MAKE_DIRECTORY "${WORK_DIR}")
run("configure" "${CMAKE_COMMAND}" -S "${project_dir}" -B "${WORK_DIR}" ${common_args} ${project_args})

if(ACTION STREQUAL "find_package")
  # find_package must have used the install, not something that happened to be on the machine.
  file(STRINGS "${WORK_DIR}/CMakeCache.txt" found REGEX "^credstore_DIR:")
  string(REGEX REPLACE "^credstore_DIR:[A-Z]+=" "" found "${found}")
  file(REAL_PATH "${PREFIX}" real_prefix)
  file(REAL_PATH "${found}" real_found)
  cmake_path(IS_PREFIX real_prefix "${real_found}" NORMALIZE from_install)
  if(NOT from_install)
    message(FATAL_ERROR "consumer: found credstore in '${found}', not under '${PREFIX}'")
  endif()
endif()

# Only the programs and what they link: that is what a consumer builds. Two jobs, matching the
# PROCESSORS the test declares to ctest.
set(programs quickstart)
if(with_http)
  list(APPEND programs host_server)
endif()
run("build" "${CMAKE_COMMAND}" --build "${WORK_DIR}" --config "${CONFIG}" --target ${programs}
    --parallel 2)

# Single-config generators put a program at the top, multi-config ones in a per-config folder.
function(program_path name out)
  set(path "${WORK_DIR}/${name}")
  if(NOT EXISTS "${path}")
    set(path "${WORK_DIR}/${CONFIG}/${name}")
  endif()
  set(${out} "${path}" PARENT_SCOPE)
endfunction()

program_path(quickstart quickstart_program)
run("run" "${quickstart_program}")
if(with_http)
  program_path(host_server host_server_program)
  run("run host_server" "${HOST_SERVER_CHECK}" "${host_server_program}")
endif()
