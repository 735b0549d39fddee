# kbench: sweeps of every operation on every device (docs/kbench.md).
#
# kbench_core holds everything but main(), so tests/test_kbench.cpp checks the same code that
# kbench runs. Optional pieces, each found here and never required:
#   - CLBlast (Debian libclblast-dev) with OpenCL: the `clblast` GEMM baseline;
#   - the CUDA toolkit: libkbench_cublas.so, the cuBLAS baseline plugin that kbench dlopens when
#     it sits next to the binary. TESSERA_CUBLAS_PLUGIN=OFF skips looking for CUDA altogether.
set(kbench_dir ${PROJECT_SOURCE_DIR}/bench)
add_library(kbench_core STATIC
  ${kbench_dir}/axes.cpp
  ${kbench_dir}/cases.cpp
  ${kbench_dir}/presets.cpp
  ${kbench_dir}/plan.cpp
  ${kbench_dir}/timing.cpp
  ${kbench_dir}/resident.cpp
  ${kbench_dir}/report.cpp
  ${kbench_dir}/runner.cpp
  ${kbench_dir}/compare.cpp
  ${kbench_dir}/plots.cpp
  ${kbench_dir}/step.cpp
  ${kbench_dir}/baselines/baselines.cpp
  ${kbench_dir}/baselines/clblast.cpp
  ${kbench_dir}/baselines/plugin.cpp)
target_include_directories(kbench_core PUBLIC ${PROJECT_SOURCE_DIR})
target_link_libraries(kbench_core PUBLIC tessera fmt::fmt nlohmann_json::nlohmann_json PRIVATE CLI11::CLI11 ${CMAKE_DL_LIBS})

if(TARGET OpenCL::OpenCL)
  find_package(CLBlast CONFIG QUIET)
endif()
if(TARGET clblast)
  target_compile_definitions(kbench_core PRIVATE TESSERA_HAVE_CLBLAST CL_TARGET_OPENCL_VERSION=120)
  target_link_libraries(kbench_core PRIVATE clblast OpenCL::OpenCL)
  message(STATUS "kbench: CLBlast found: GEMM rows get the clblast baseline")
else()
  message(STATUS "kbench: CLBlast or OpenCL not found: no clblast baseline")
endif()

add_executable(kbench ${kbench_dir}/kbench.cpp)
target_link_libraries(kbench PRIVATE kbench_core CLI11::CLI11)

# The safetensors reader's time against the tensor count (docs/perf.md).
add_executable(loader_bench ${kbench_dir}/loader_bench.cpp)
target_link_libraries(loader_bench PRIVATE tessera fmt::fmt)

option(TESSERA_CUBLAS_PLUGIN "Build kbench's cuBLAS baseline plugin when the CUDA toolkit is found" ON)
if(TESSERA_CUBLAS_PLUGIN)
  find_package(CUDAToolkit QUIET)
  if(CUDAToolkit_FOUND AND TARGET CUDA::cublasLt)
    # Host code only: a plain C++ compile against the CUDA runtime and cuBLASLt, no nvcc.
    add_library(kbench_cublas MODULE ${kbench_dir}/plugins/cublas_plugin.cpp)
    target_include_directories(kbench_cublas PRIVATE ${PROJECT_SOURCE_DIR})
    target_link_libraries(kbench_cublas PRIVATE CUDA::cudart CUDA::cublasLt)
    # Next to kbench, where it looks for it.
    set_target_properties(kbench_cublas PROPERTIES LIBRARY_OUTPUT_DIRECTORY ${CMAKE_RUNTIME_OUTPUT_DIRECTORY})
    add_dependencies(kbench kbench_cublas)
    message(STATUS "kbench: CUDA ${CUDAToolkit_VERSION} found: building the cuBLAS baseline plugin")
  else()
    message(STATUS "kbench: CUDA toolkit not found: no cuBLAS baseline plugin")
  endif()
endif()

if(TESSERA_BUILD_TESTS)
  find_package(GTest REQUIRED)
  include(GoogleTest)
  add_executable(test_kbench ${PROJECT_SOURCE_DIR}/tests/test_kbench.cpp)
  target_link_libraries(test_kbench PRIVATE kbench_core GTest::gtest_main)
  target_compile_definitions(test_kbench PRIVATE
    TESSERA_KBENCH="$<TARGET_FILE:kbench>"
    TESSERA_TEST_TMP="${CMAKE_BINARY_DIR}/tests/tmp")
  add_dependencies(test_kbench kbench)
  gtest_discover_tests(test_kbench DISCOVERY_TIMEOUT 60 PROPERTIES TIMEOUT 600)
endif()
