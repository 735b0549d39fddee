# The opencl backend. With an OpenCL SDK (headers and ICD loader) its runtime and the OpenCL C
# kernels of kernels/ are compiled into `tessera`; without one, host/src/opencl/stub.cpp reports
# "not built" and the library still links.
find_package(OpenCL)
if(OpenCL_FOUND)
  target_sources(tessera PRIVATE
    ${PROJECT_SOURCE_DIR}/host/src/opencl/errors.cpp
    ${PROJECT_SOURCE_DIR}/host/src/opencl/probe.cpp
    ${PROJECT_SOURCE_DIR}/host/src/opencl/runtime.cpp
    ${PROJECT_SOURCE_DIR}/host/src/opencl/source.cpp
    ${PROJECT_SOURCE_DIR}/host/src/opencl/program_cache.cpp
    ${PROJECT_SOURCE_DIR}/host/src/opencl/ops.cpp
    ${PROJECT_SOURCE_DIR}/host/src/opencl/cast.cpp
    ${PROJECT_SOURCE_DIR}/host/src/opencl/engine_memory.cpp
    ${PROJECT_SOURCE_DIR}/host/src/opencl/variants.cpp
    ${PROJECT_SOURCE_DIR}/host/src/opencl/gemm.cpp
    ${PROJECT_SOURCE_DIR}/host/src/opencl/deltanet_recurrent.cpp
    ${PROJECT_SOURCE_DIR}/host/src/opencl/deltanet_chunked.cpp
    ${PROJECT_SOURCE_DIR}/host/src/opencl/conv1d.cpp
    ${PROJECT_SOURCE_DIR}/host/src/opencl/attention.cpp
    ${PROJECT_SOURCE_DIR}/host/src/opencl/gemm_tensor_core.cpp
    )
  target_link_libraries(tessera PRIVATE OpenCL::OpenCL)
  # The 1.2 API is the one every driver we target implements (PoCL, NVIDIA, AMD, Intel); it
  # also keeps clCreateCommandQueue free of deprecation warnings.
  target_compile_definitions(tessera PRIVATE CL_TARGET_OPENCL_VERSION=120)
  # Every .cl under kernels/ is embedded, and the geometry headers the kernels share with the
  # host (kernels/*/geometry.h), so a new kernel file needs no edit here; the glob is re-checked
  # at build time.
  file(GLOB_RECURSE tessera_opencl_kernel_files RELATIVE ${PROJECT_SOURCE_DIR}/kernels
       CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/kernels/*.cl ${PROJECT_SOURCE_DIR}/kernels/*.h)
  list(SORT tessera_opencl_kernel_files)
  tessera_embed(tessera opencl_kernels ${PROJECT_SOURCE_DIR}/kernels ${tessera_opencl_kernel_files})
  message(STATUS "OpenCL ${OpenCL_VERSION_STRING}: building the opencl backend")
else()
  message(STATUS "OpenCL not found: the opencl backend is not built")
  target_sources(tessera PRIVATE ${PROJECT_SOURCE_DIR}/host/src/opencl/stub.cpp)
endif()
