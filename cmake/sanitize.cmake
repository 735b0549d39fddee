# Sanitized builds (docs/architecture.md, Tests). Included before any target is defined, so the
# flags reach every one of them.
#
# TESSERA_SANITIZE=address,undefined   (`make sanitize`, build-asan/): everything compiled and
#   linked with those sanitizers; a UBSan report aborts the test instead of printing and going on.
# TESSERA_FUZZ=ON                       (`make fuzz`, build-fuzz/; clang only): the same with
#   address,undefined by default, plus libFuzzer's coverage instrumentation on every source
#   (fuzzer-no-link) so the fuzzers see inside the library; tests/fuzz/ adds the fuzz targets,
#   which link libFuzzer's main.
option(TESSERA_FUZZ "Build the libFuzzer targets of tests/fuzz/ (clang; instruments the whole build)" OFF)
set(TESSERA_SANITIZE "" CACHE STRING "Sanitizers for the whole build, e.g. address,undefined")

if(TESSERA_FUZZ)
  if(NOT CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
    message(FATAL_ERROR "TESSERA_FUZZ needs clang's libFuzzer: configure with -DCMAKE_CXX_COMPILER=clang++-15 "
                        "(tools/fuzz.sh does)")
  endif()
  if(NOT TESSERA_SANITIZE)
    set(TESSERA_SANITIZE address,undefined)
  endif()
  add_compile_options(-fsanitize=fuzzer-no-link)
endif()

if(TESSERA_SANITIZE)
  add_compile_options(-fsanitize=${TESSERA_SANITIZE} -fno-sanitize-recover=undefined -fno-omit-frame-pointer)
  add_link_options(-fsanitize=${TESSERA_SANITIZE})
  # libstdc++'s bounds checks on operator[], front(), back() and friends: out-of-range accesses
  # that stay inside an allocation, which ASan cannot see. No ABI change.
  add_compile_definitions(_GLIBCXX_ASSERTIONS)
  message(STATUS "Tessera: built with -fsanitize=${TESSERA_SANITIZE}")
endif()
