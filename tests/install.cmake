# install_consumer: installs this build into a fresh prefix under the build directory, then
# configures, builds and runs tests/consumer against it as an outside project would
# (tests/consumer/install_and_run.cmake does the steps). Included from cmake/install.cmake.
set(_consumer_dir ${CMAKE_BINARY_DIR}/install-test)
# Lists cross add_test's command line joined with '|': a ';' would split the argument.
set(_prefix_path ${CMAKE_PREFIX_PATH})
string(REPLACE ";" "|" _prefix_path "${_prefix_path}")
# Where the build found its config-mode dependencies, so the consumer finds the same ones.
set(_dep_dirs)
foreach(_pkg ${TESSERA_PACKAGE_DEPENDENCIES})
  if(${_pkg}_DIR)
    list(APPEND _dep_dirs "${_pkg}_DIR=${${_pkg}_DIR}")
  endif()
endforeach()
string(REPLACE ";" "|" _dep_dirs "${_dep_dirs}")

add_test(NAME install_consumer
  COMMAND ${CMAKE_COMMAND}
    -DBUILD_DIR=${CMAKE_BINARY_DIR}
    -DCONFIG=$<CONFIG>
    -DPREFIX=${_consumer_dir}/prefix
    -DCONSUMER_SOURCE=${PROJECT_SOURCE_DIR}/tests/consumer
    -DCONSUMER_BUILD=${_consumer_dir}/build
    -DGENERATOR=${CMAKE_GENERATOR}
    -DCXX_COMPILER=${CMAKE_CXX_COMPILER}
    -DPREFIX_PATH=${_prefix_path}
    -DDEPENDENCY_DIRS=${_dep_dirs}
    -P ${PROJECT_SOURCE_DIR}/tests/consumer/install_and_run.cmake)
# Configuring a project twice over (C and C++ compiler checks) takes a while on two cores.
set_tests_properties(install_consumer PROPERTIES TIMEOUT 600 LABELS install)
