# libtessera.so: the C API (include/tessera/tessera.h) as a shared library, for FFI users (Python
# ctypes, Rust) and for engines that load it at run time. It is c_api.cpp over the static library
# (built position-independent for this), exporting only the tessera_* functions
# (cmake/tessera.map). C++ engines link libtessera.a through the CMake package as before.
set_target_properties(tessera PROPERTIES POSITION_INDEPENDENT_CODE ON)
add_library(tessera_shared SHARED ${PROJECT_SOURCE_DIR}/host/src/c_api.cpp)
target_include_directories(tessera_shared PRIVATE ${PROJECT_SOURCE_DIR} ${PROJECT_SOURCE_DIR}/host/src)
target_link_libraries(tessera_shared PRIVATE tessera fmt::fmt)
# The version script alone decides what is exported (a hidden visibility preset would hide the C
# functions from it too).
set_target_properties(tessera_shared PROPERTIES OUTPUT_NAME tessera
  VERSION ${PROJECT_VERSION} SOVERSION ${PROJECT_VERSION_MAJOR}.${PROJECT_VERSION_MINOR})
target_link_options(tessera_shared PRIVATE -Wl,--version-script=${PROJECT_SOURCE_DIR}/cmake/tessera.map
  -Wl,--no-undefined)
set_property(TARGET tessera_shared APPEND PROPERTY LINK_DEPENDS ${PROJECT_SOURCE_DIR}/cmake/tessera.map)
