# sage_dependencies.cmake -- third-party dependencies of SAGE as imported targets.
#
# Used in two places:
#   * by the top-level CMakeLists.txt of SAGE itself;
#   * by the installed (and the build-tree) sage-config.cmake, so that a consumer's
#     find_package(sage) recreates CAF::core / CAF::io before
#     sage-targets.cmake refers to them.
#
# It can be included more than once (every target is created under `if(NOT TARGET ...)`).
#
# Provides:
#   Threads::Threads, fmt::fmt, spdlog::spdlog   (find_package)
#   CAF::core, CAF::io                           (required; CAF 0.17 ships no CMake config)
#   CAF_INCLUDE_DIR, CAF_CORE_LIBRARY, CAF_IO_LIBRARY (cache)
#   (CAF's openssl module is not used: its transport is SAGE's own, actors/src/secure_transport.cpp)
#   CAF_VERSION (e.g. 0.17.6), CAF_FOUND
#
# Hints: CAF_ROOT (CMake or environment variable) = prefix of a CAF installation.
#
# When included from a package config file, set _SAGE_DEPS_FROM_PACKAGE_CONFIG to TRUE first:
# then the find_package() calls are skipped (the config uses find_dependency() for them) and
# a missing CAF sets sage_FOUND to FALSE instead of stopping with a fatal error.

if(NOT _SAGE_DEPS_FROM_PACKAGE_CONFIG)
  set(THREADS_PREFER_PTHREAD_FLAG ON)
  find_package(Threads REQUIRED)
  find_package(fmt REQUIRED)
  find_package(spdlog REQUIRED)
endif()

# --- CAF (C++ Actor Framework) ----------------------------------------------------------------

find_path(CAF_INCLUDE_DIR
  NAMES caf/all.hpp
  HINTS ${CAF_ROOT} $ENV{CAF_ROOT}
  PATH_SUFFIXES include
  DOC "Directory that contains caf/all.hpp")

find_library(CAF_CORE_LIBRARY
  NAMES caf_core
  HINTS ${CAF_ROOT} $ENV{CAF_ROOT}
  PATH_SUFFIXES lib lib64
  DOC "CAF core library (libcaf_core)")

find_library(CAF_IO_LIBRARY
  NAMES caf_io
  HINTS ${CAF_ROOT} $ENV{CAF_ROOT}
  PATH_SUFFIXES lib lib64
  DOC "CAF network library (libcaf_io)")

mark_as_advanced(CAF_INCLUDE_DIR CAF_CORE_LIBRARY CAF_IO_LIBRARY)

set(CAF_VERSION "")
if(CAF_INCLUDE_DIR AND EXISTS "${CAF_INCLUDE_DIR}/caf/config.hpp")
  file(STRINGS "${CAF_INCLUDE_DIR}/caf/config.hpp" _sage_caf_version_line
       REGEX "^#define CAF_VERSION [0-9]+")
  if(_sage_caf_version_line MATCHES "CAF_VERSION ([0-9]+)")
    math(EXPR _sage_caf_major "${CMAKE_MATCH_1} / 10000")
    math(EXPR _sage_caf_minor "(${CMAKE_MATCH_1} / 100) % 100")
    math(EXPR _sage_caf_patch "${CMAKE_MATCH_1} % 100")
    set(CAF_VERSION "${_sage_caf_major}.${_sage_caf_minor}.${_sage_caf_patch}")
  endif()
  unset(_sage_caf_version_line)
endif()

if(CAF_INCLUDE_DIR AND CAF_CORE_LIBRARY AND CAF_IO_LIBRARY)
  set(CAF_FOUND TRUE)
else()
  set(CAF_FOUND FALSE)
  string(CONCAT _sage_caf_msg
    "CAF (C++ Actor Framework 0.17) not found: "
    "caf/all.hpp='${CAF_INCLUDE_DIR}', libcaf_core='${CAF_CORE_LIBRARY}', "
    "libcaf_io='${CAF_IO_LIBRARY}'. On Debian/Ubuntu: apt-get install libcaf-dev; "
    "otherwise set CAF_ROOT to the prefix of a CAF 0.17 installation.")
  if(_SAGE_DEPS_FROM_PACKAGE_CONFIG)
    set(sage_FOUND FALSE)
    set(sage_NOT_FOUND_MESSAGE "${_sage_caf_msg}")
    unset(_sage_caf_msg)
    return()
  endif()
  message(FATAL_ERROR "${_sage_caf_msg}")
endif()

if(CAF_VERSION AND (CAF_VERSION VERSION_LESS 0.17 OR CAF_VERSION VERSION_GREATER_EQUAL 0.18))
  message(WARNING "SAGE is written against CAF 0.17.x; found CAF ${CAF_VERSION} in ${CAF_INCLUDE_DIR}")
endif()

if(NOT TARGET CAF::core)
  add_library(CAF::core UNKNOWN IMPORTED)
  set_target_properties(CAF::core PROPERTIES
    IMPORTED_LOCATION "${CAF_CORE_LIBRARY}"
    INTERFACE_INCLUDE_DIRECTORIES "${CAF_INCLUDE_DIR}"
    INTERFACE_LINK_LIBRARIES "Threads::Threads"
    INTERFACE_COMPILE_FEATURES "cxx_std_17")
endif()

if(NOT TARGET CAF::io)
  add_library(CAF::io UNKNOWN IMPORTED)
  set_target_properties(CAF::io PROPERTIES
    IMPORTED_LOCATION "${CAF_IO_LIBRARY}"
    INTERFACE_INCLUDE_DIRECTORIES "${CAF_INCLUDE_DIR}"
    INTERFACE_LINK_LIBRARIES "CAF::core")
endif()

if(NOT _SAGE_DEPS_FROM_PACKAGE_CONFIG AND NOT _SAGE_CAF_REPORTED)
  set(_SAGE_CAF_REPORTED TRUE)
  message(STATUS "Found CAF ${CAF_VERSION}: ${CAF_CORE_LIBRARY} (headers in ${CAF_INCLUDE_DIR})")
endif()
