# The steps of the install_consumer test (tests/install.cmake), run with cmake -P so that no
# shell is involved: install the build into PREFIX, configure tests/consumer against it in a
# fresh CONSUMER_BUILD, build it, run both consumers. Each step says what failed and shows its
# output. Inputs: BUILD_DIR, CONFIG, PREFIX, CONSUMER_SOURCE, CONSUMER_BUILD, GENERATOR,
# CXX_COMPILER, PREFIX_PATH and DEPENDENCY_DIRS ('|'-separated: "fmt_DIR=/path|...").
cmake_minimum_required(VERSION 3.25)

foreach(v BUILD_DIR PREFIX CONSUMER_SOURCE CONSUMER_BUILD GENERATOR)
  if(NOT DEFINED ${v} OR "${${v}}" STREQUAL "")
    message(FATAL_ERROR "install_consumer: ${v} is not set (run through ctest)")
  endif()
endforeach()

# Runs one step; on failure stops with its exit status and everything it printed.
function(step name)
  message(STATUS "install_consumer: ${name}")
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "install_consumer: ${name} failed (${rc}):\n  ${ARGN}\n${out}")
  endif()
  set(step_output "${out}" PARENT_SCOPE)
endfunction()

# A fresh prefix: files left by an earlier run would hide a missing install rule.
file(REMOVE_RECURSE "${PREFIX}" "${CONSUMER_BUILD}")

set(config_args)
if(CONFIG)
  set(config_args --config ${CONFIG})
endif()
step("install into ${PREFIX}" ${CMAKE_COMMAND} --install ${BUILD_DIR} --prefix ${PREFIX} ${config_args})

foreach(f include/tessera/tessera.h include/tessera/context.h include/tessera/ops.h)
  if(NOT EXISTS "${PREFIX}/${f}")
    message(FATAL_ERROR "install_consumer: ${PREFIX}/${f} was not installed")
  endif()
endforeach()
file(GLOB_RECURSE package_files "${PREFIX}/*/TesseraConfig.cmake" "${PREFIX}/*/TesseraConfigVersion.cmake"
     "${PREFIX}/*/TesseraTargets.cmake")
list(LENGTH package_files n)
if(NOT n EQUAL 3)
  message(FATAL_ERROR "install_consumer: expected the three package files under ${PREFIX}, found: ${package_files}")
endif()

string(REPLACE "|" ";" prefix_path "${PREFIX};${PREFIX_PATH}")
string(REPLACE "|" ";" dependency_dirs "${DEPENDENCY_DIRS}")
set(configure_args -S ${CONSUMER_SOURCE} -B ${CONSUMER_BUILD} -G ${GENERATOR}
    "-DCMAKE_PREFIX_PATH=${prefix_path}"
    # Only the prefix may provide Tessera: no package registry, no build tree.
    -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF)
if(CXX_COMPILER)
  list(APPEND configure_args -DCMAKE_CXX_COMPILER=${CXX_COMPILER})
endif()
if(CONFIG)
  list(APPEND configure_args -DCMAKE_BUILD_TYPE=${CONFIG})
endif()
foreach(d ${dependency_dirs})
  list(APPEND configure_args "-D${d}")
endforeach()
step("configure the consumer" ${CMAKE_COMMAND} ${configure_args})
string(FIND "${step_output}" " found in ${PREFIX}/" at)
if(at EQUAL -1)
  message(FATAL_ERROR "install_consumer: the consumer did not take Tessera from ${PREFIX}:\n${step_output}")
endif()

step("build the consumer" ${CMAKE_COMMAND} --build ${CONSUMER_BUILD} ${config_args})
foreach(exe consumer_c consumer_cpp)
  step("run ${exe}" ${CONSUMER_BUILD}/bin/${exe})
  message("${step_output}")
endforeach()
message(STATUS "install_consumer: passed")
