# credstore_tristate(VAR DEFAULT DOC): a cache option taking ON, OFF or AUTO.
function(credstore_tristate var default doc)
  set(${var} ${default} CACHE STRING "${doc} (ON, OFF or AUTO)")
  set_property(CACHE ${var} PROPERTY STRINGS ON OFF AUTO)
  string(TOUPPER "${${var}}" value)
  if(NOT value MATCHES "^(ON|OFF|AUTO)$")
    message(FATAL_ERROR "${var} must be ON, OFF or AUTO, not '${${var}}'")
  endif()
endfunction()

# credstore_dependency_missing(VAR WHAT): an error when VAR is ON, a notice when AUTO.
# Sets VAR_ENABLED in the caller's scope to FALSE.
macro(credstore_dependency_missing var what)
  string(TOUPPER "${${var}}" _credstore_value)
  if(_credstore_value STREQUAL "ON")
    message(FATAL_ERROR "${var}=ON but ${what} was not found")
  endif()
  message(STATUS "credstore: ${var}=AUTO and ${what} not found: skipped")
  set(${var}_ENABLED FALSE)
endmacro()
