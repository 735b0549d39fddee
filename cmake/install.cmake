# The API an engine links, and how it gets it: the Context and C API sources, install rules and
# the CMake package, so that an outside project writes
#   find_package(Tessera 0.1 REQUIRED)
#   target_link_libraries(engine PRIVATE Tessera::tessera)
# `cmake --install build --prefix P` lays out
#   P/include/tessera/*.h                      C++ API (context.h, ops.h, ...) and the C API (tessera.h)
#   P/lib/libtessera.a, libtessera_reference.a
#   P/lib/cmake/Tessera/TesseraConfig.cmake, TesseraConfigVersion.cmake, TesseraTargets*.cmake
#   P/bin/krun, kinfo        (kbench, a development tool with optional plugins beside it, is run
#                             from the build tree)
# Included from CMakeLists.txt after every target is defined: the package's dependencies are read
# from tessera's link interface below, so they must all be in it by now.
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

target_sources(tessera PRIVATE ${PROJECT_SOURCE_DIR}/host/src/context.cpp ${PROJECT_SOURCE_DIR}/host/src/c_api.cpp)
set_property(SOURCE ${PROJECT_SOURCE_DIR}/host/src/c_api.cpp APPEND PROPERTY
  COMPILE_DEFINITIONS "TESSERA_VERSION_STRING=\"${PROJECT_VERSION}\"")

# Installed consumers find the headers under P/include and need C++20 for them (std::span).
target_include_directories(tessera PUBLIC $<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}>)
target_compile_features(tessera PUBLIC cxx_std_20)

# tessera_reference publishes the source tree as its include directory, which an installed
# package cannot point at (install(EXPORT) refuses it). Its headers are not public API, so the
# directory stays a build-tree-only interface: in-tree users (tests, tools) see no change.
get_target_property(_tessera_ref_includes tessera_reference INTERFACE_INCLUDE_DIRECTORIES)
if(_tessera_ref_includes)
  list(TRANSFORM _tessera_ref_includes REPLACE "^([^$].*)$" "$<BUILD_INTERFACE:\\1>")
  set_target_properties(tessera_reference PROPERTIES INTERFACE_INCLUDE_DIRECTORIES "${_tessera_ref_includes}")
endif()

# The tools beside the library; the rpath only matters when tessera is built shared.
set_target_properties(krun kinfo PROPERTIES INSTALL_RPATH "$ORIGIN/../${CMAKE_INSTALL_LIBDIR}")

# libtessera is static by default, so libtessera_reference (which it links) is installed and
# exported with it: a static library carries its dependencies to the final link.
install(TARGETS tessera tessera_reference EXPORT TesseraTargets
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
  RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(TARGETS krun kinfo RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
# libtessera.so, the C API for FFI users (cmake/shared.cmake); not part of the CMake package.
install(TARGETS tessera_shared LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR})
install(DIRECTORY ${PROJECT_SOURCE_DIR}/include/tessera DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}
  FILES_MATCHING PATTERN "*.h")

# The packages the consumer's link needs: every X:: target in the exported link interfaces
# (fmt, nlohmann_json, and OpenCL / Vulkan when their backends were built in). For a static
# tessera these include its private dependencies ($<LINK_ONLY:...>); a shared one would list
# only its public ones. Each imported target's namespace names the package that defines it.
set(_tessera_packages)
foreach(_t tessera tessera_reference)
  get_target_property(_libs ${_t} INTERFACE_LINK_LIBRARIES)
  if(NOT _libs)
    continue()
  endif()
  string(REGEX MATCHALL "[A-Za-z0-9_]+::[A-Za-z0-9_]+" _imported "${_libs}")
  foreach(_lib ${_imported})
    string(REGEX REPLACE "::.*" "" _pkg "${_lib}")
    list(APPEND _tessera_packages ${_pkg})
  endforeach()
endforeach()
list(REMOVE_DUPLICATES _tessera_packages)
set(TESSERA_FIND_DEPENDENCIES "")
foreach(_pkg ${_tessera_packages})
  string(APPEND TESSERA_FIND_DEPENDENCIES "find_dependency(${_pkg})\n")
endforeach()
set(TESSERA_PACKAGE_DEPENDENCIES ${_tessera_packages}) # for tests/install.cmake
message(STATUS "Tessera: the installed package finds: ${_tessera_packages}")

set(_tessera_cmake_dir ${CMAKE_INSTALL_LIBDIR}/cmake/Tessera)
install(EXPORT TesseraTargets NAMESPACE Tessera:: DESTINATION ${_tessera_cmake_dir})
configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/TesseraConfig.cmake.in
  ${CMAKE_CURRENT_BINARY_DIR}/TesseraConfig.cmake INSTALL_DESTINATION ${_tessera_cmake_dir})
# 0.x: a new minor version may change the API, so only the same minor version is compatible.
write_basic_package_version_file(${CMAKE_CURRENT_BINARY_DIR}/TesseraConfigVersion.cmake
  VERSION ${PROJECT_VERSION} COMPATIBILITY SameMinorVersion)
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/TesseraConfig.cmake ${CMAKE_CURRENT_BINARY_DIR}/TesseraConfigVersion.cmake
  DESTINATION ${_tessera_cmake_dir})

if(TESSERA_BUILD_TESTS)
  include(${PROJECT_SOURCE_DIR}/tests/install.cmake)
endif()
