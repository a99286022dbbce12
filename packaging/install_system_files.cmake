# Run by `cmake --install` (and by CPack into its staging folder): installs the systemd unit
# and the default configuration, with paths for the prefix being installed to, which is only
# known now: the build folder is configured for /usr/local, a .deb installs to /usr.
#
# Given by packaging/CMakeLists.txt: CREDSTORE_PACKAGING_DIR (this folder), CREDSTORE_UNIT_OUT
# (a folder for the configured units), CREDSTORE_BINDIR and CREDSTORE_DOCDIR (relative to
# the prefix).

# Where the unit looks for its configuration and credentials: /etc for the /usr prefix (the
# FHS, as GNUInstallDirs decides), PREFIX/etc for any other.
if(CMAKE_INSTALL_PREFIX STREQUAL "/usr")
  set(SYSCONFDIR "/etc")
else()
  set(SYSCONFDIR "${CMAKE_INSTALL_PREFIX}/etc")
endif()
set(BINDIR "${CMAKE_INSTALL_PREFIX}/${CREDSTORE_BINDIR}")
set(DOCDIR "${CMAKE_INSTALL_PREFIX}/${CREDSTORE_DOCDIR}")

# One configured copy per destination: installs to several prefixes may run at once (the tests
# install into their own while CPack stages its own), and must not install each other's unit.
string(MD5 _destination "$ENV{DESTDIR}${CMAKE_INSTALL_PREFIX}")
set(_unit "${CREDSTORE_UNIT_OUT}/${_destination}/credstored.service")
configure_file("${CREDSTORE_PACKAGING_DIR}/credstored.service.in" "${_unit}" @ONLY)
# lib/systemd/system under the prefix: /usr/lib/systemd/system is where Debian 12 (merged /usr)
# packages put their units.
file(INSTALL "${_unit}" DESTINATION "${CMAKE_INSTALL_PREFIX}/lib/systemd/system")

# An operator's edited configuration is never replaced by a later `cmake --install` (dpkg has
# its own conffile handling for the package).
set(_config "$ENV{DESTDIR}${SYSCONFDIR}/credstore/credstored.json")
if(EXISTS "${_config}")
  message(STATUS "Kept: ${_config}")
else()
  file(INSTALL "${CREDSTORE_PACKAGING_DIR}/credstored.example.json"
       DESTINATION "${SYSCONFDIR}/credstore" RENAME credstored.json)
endif()
