# Run by `cmake --install` (and by CPack into its staging folder): installs the systemd unit
# and the default configuration, with paths for the prefix being installed to, which is only
# known now: the build folder is configured for /usr/local, a .deb installs to /usr.
#
# Given by packaging/CMakeLists.txt: CREDSTORE_PACKAGING_DIR (this folder), CREDSTORE_UNIT_OUT
# (where the configured unit is written), CREDSTORE_BINDIR and CREDSTORE_DOCDIR (relative to
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

configure_file("${CREDSTORE_PACKAGING_DIR}/credstored.service.in" "${CREDSTORE_UNIT_OUT}" @ONLY)
# lib/systemd/system under the prefix: /usr/lib/systemd/system is where Debian 12 (merged /usr)
# packages put their units.
file(INSTALL "${CREDSTORE_UNIT_OUT}" DESTINATION "${CMAKE_INSTALL_PREFIX}/lib/systemd/system")

# An operator's edited configuration is never replaced by a later `cmake --install` (dpkg has
# its own conffile handling for the package).
set(_config "$ENV{DESTDIR}${SYSCONFDIR}/credstore/credstored.json")
if(EXISTS "${_config}")
  message(STATUS "Kept: ${_config}")
else()
  file(INSTALL "${CREDSTORE_PACKAGING_DIR}/credstored.example.json"
       DESTINATION "${SYSCONFDIR}/credstore" RENAME credstored.json)
endif()
