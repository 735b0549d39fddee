# The vulkan backend: the runtime in host/src/vulkan/ and GLSL compute shaders from kernels/,
# compiled to SPIR-V at build time and embedded in the library (nobody edits generated files).
# Without the Vulkan headers/loader or glslangValidator the stub keeps the library linking and
# the registry sees built() == false.
find_package(Vulkan)
find_program(TESSERA_GLSLANG glslangValidator)

if(NOT Vulkan_FOUND OR NOT TESSERA_GLSLANG)
  message(STATUS "Tessera: vulkan backend not built "
                 "(it needs the Vulkan headers and loader, and glslangValidator)")
  target_sources(tessera PRIVATE host/src/vulkan/stub.cpp)
  if(TESSERA_BUILD_TESTS)
    add_library(tessera_testing STATIC host/src/vulkan/testing_stub.cpp)
    target_include_directories(tessera_testing PRIVATE ${PROJECT_SOURCE_DIR})
    target_link_libraries(tessera_testing PUBLIC tessera)
  endif()
  return()
endif()

# Feature probes (ggml's feature-tests): what this glslangValidator accepts decides which
# variants exist. A variant the compiler cannot build is simply not in the table.
function(tessera_glsl_probe var name source)
  set(dir ${CMAKE_BINARY_DIR}/vulkan-probes)
  file(WRITE ${dir}/${name}.comp "${source}")
  execute_process(
    COMMAND ${TESSERA_GLSLANG} -V --target-env vulkan1.1 ${dir}/${name}.comp -o ${dir}/${name}.spv
    RESULT_VARIABLE rc OUTPUT_QUIET ERROR_QUIET)
  if(rc EQUAL 0)
    set(${var} 1 PARENT_SCOPE)
  else()
    set(${var} 0 PARENT_SCOPE)
  endif()
endfunction()

tessera_glsl_probe(TESSERA_GLSL_NV_COOPMAT nv_coopmat [=[
#version 450
#extension GL_NV_cooperative_matrix : require
#extension GL_KHR_memory_scope_semantics : require
#extension GL_EXT_shader_explicit_arithmetic_types_float16 : require
layout(local_size_x = 32) in;
layout(std430, binding = 0) buffer B { float16_t d[]; };
void main() {
  fcoopmatNV<16, gl_ScopeSubgroup, 16, 16> m = fcoopmatNV<16, gl_ScopeSubgroup, 16, 16>(0.0);
  coopMatStoreNV(m, d, 0, 16, false);
}
]=])
message(STATUS "Tessera: vulkan backend built; "
               "GL_NV_cooperative_matrix in glslang: ${TESSERA_GLSL_NV_COOPMAT}")

# Shaders: every kernels/**/*.comp declares its SPIR-V builds in its header, one line each,
#   // spirv: NAME [DEFINE[=VALUE] ...]
#   // spirv if nv_coopmat: NAME [DEFINE ...]   (only where glslang has GL_NV_cooperative_matrix)
#   // spirv if testing: NAME [DEFINE ...]      (a test-only shader: into tessera_testing, which
#                                                only the tests link, not into libtessera)
# and NAME.spv is what the runtime loads (a variant's manifest names it). So a new shader or build
# touches its kernel file only. Shaders doing fp32 arithmetic also come as NAME.rte, built with
# FP32_RN_HW_RTE: RoundingModeRTE declared and the hardware add/multiply used on the normal range
# (kernels/common/fp32_rn.glsl), for devices that have it.
file(GLOB_RECURSE TESSERA_VK_SOURCES CONFIGURE_DEPENDS RELATIVE ${PROJECT_SOURCE_DIR}/kernels
     ${PROJECT_SOURCE_DIR}/kernels/*.comp)
set(TESSERA_VK_SHADERS) # NAME|SOURCE|DEFINES (comma separated), as the loop below reads them
set(TESSERA_VK_TEST_SHADERS)
foreach(src ${TESSERA_VK_SOURCES})
  # Editing a shader's declarations re-runs this configure step.
  set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/kernels/${src})
  file(STRINGS ${PROJECT_SOURCE_DIR}/kernels/${src} decls REGEX "^// spirv( if [a-z_]+)?: ")
  if(NOT decls)
    message(FATAL_ERROR "kernels/${src} declares no SPIR-V build (a '// spirv: NAME [DEFINES]' line)")
  endif()
  foreach(decl ${decls})
    if(NOT decl MATCHES "^// spirv( if ([a-z_]+))?: ([^ ]+)(.*)$")
      message(FATAL_ERROR "kernels/${src}: malformed '${decl}'")
    endif()
    set(condition "${CMAKE_MATCH_2}")
    set(name "${CMAKE_MATCH_3}")
    string(STRIP "${CMAKE_MATCH_4}" defs)
    string(REGEX REPLACE " +" "," defs "${defs}")
    if(condition STREQUAL "nv_coopmat")
      if(NOT TESSERA_GLSL_NV_COOPMAT)
        continue()
      endif()
    elseif(condition STREQUAL "testing")
      list(APPEND TESSERA_VK_TEST_SHADERS "${name}|${src}|${defs}")
      continue()
    elseif(condition)
      message(FATAL_ERROR "kernels/${src}: unknown condition '${condition}' (known: nv_coopmat, testing)")
    endif()
    list(APPEND TESSERA_VK_SHADERS "${name}|${src}|${defs}")
  endforeach()
endforeach()

# Any change to a shared include rebuilds every shader: there are few, and it is always right.
file(GLOB_RECURSE TESSERA_GLSL_INCLUDES CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/kernels/*.glsl
     ${PROJECT_SOURCE_DIR}/kernels/*.h)
set(spirv_dir ${CMAKE_BINARY_DIR}/spirv)
# Compiles each NAME|SOURCE|DEFINES entry of ${list} to ${spirv_dir}/NAME.spv; the file names go
# into ${out_var}.
function(tessera_compile_shaders list out_var)
  set(spirv_files)
  foreach(entry ${${list}})
    string(REPLACE "|" ";" parts "${entry}")
    list(GET parts 0 name)
    list(GET parts 1 src)
    list(LENGTH parts nparts)
    set(defines)
    if(nparts GREATER 2)
      list(GET parts 2 defs)
      string(REPLACE "," ";" defs "${defs}")
      foreach(d ${defs})
        list(APPEND defines -D${d})
      endforeach()
    endif()
    if(TESSERA_GLSL_NV_COOPMAT)
      list(APPEND defines -DTESSERA_GLSL_NV_COOPMAT=1)
    endif()
    set(out ${spirv_dir}/${name}.spv)
    get_filename_component(out_dir ${out} DIRECTORY)
    add_custom_command(OUTPUT ${out}
      COMMAND ${CMAKE_COMMAND} -E make_directory ${out_dir}
      COMMAND ${TESSERA_GLSLANG} -V --quiet --target-env vulkan1.1
              -I${PROJECT_SOURCE_DIR}/kernels ${defines}
              -o ${out} ${PROJECT_SOURCE_DIR}/kernels/${src}
      DEPENDS ${PROJECT_SOURCE_DIR}/kernels/${src} ${TESSERA_GLSL_INCLUDES}
      COMMENT "GLSL -> SPIR-V ${name}"
      VERBATIM)
    list(APPEND spirv_files ${name}.spv)
  endforeach()
  set(${out_var} ${spirv_files} PARENT_SCOPE)
endfunction()
tessera_compile_shaders(TESSERA_VK_SHADERS spirv_files)
tessera_embed(tessera vulkan_spirv ${spirv_dir} ${spirv_files})
if(TESSERA_BUILD_TESTS)
  tessera_compile_shaders(TESSERA_VK_TEST_SHADERS test_spirv_files)
  add_library(tessera_testing STATIC host/src/vulkan/testing.cpp)
  target_include_directories(tessera_testing PRIVATE ${PROJECT_SOURCE_DIR})
  target_link_libraries(tessera_testing PUBLIC tessera PRIVATE fmt::fmt Vulkan::Vulkan)
  tessera_embed(tessera_testing vulkan_test_spirv ${spirv_dir} ${test_spirv_files})
endif()

target_sources(tessera PRIVATE
  host/src/vulkan/common.cpp
  host/src/vulkan/instance.cpp
  host/src/vulkan/probe.cpp
  host/src/vulkan/device.cpp
  host/src/vulkan/memory.cpp
  host/src/vulkan/pipelines.cpp
  host/src/vulkan/batch.cpp
  host/src/vulkan/ops.cpp
  host/src/vulkan/cast.cpp
  host/src/vulkan/copy_rect.cpp
  host/src/vulkan/engine_memory.cpp
  host/src/vulkan/variants.cpp
  host/src/vulkan/gemm.cpp
  host/src/vulkan/deltanet.cpp
  host/src/vulkan/deltanet_recurrent.cpp
  host/src/vulkan/deltanet_chunked.cpp
  host/src/vulkan/conv1d.cpp
  host/src/vulkan/attention.cpp
  host/src/vulkan/gemm_tensor_core.cpp
  )
target_link_libraries(tessera PRIVATE Vulkan::Vulkan)
if(TESSERA_GLSL_NV_COOPMAT)
  target_compile_definitions(tessera PRIVATE TESSERA_GLSL_NV_COOPMAT=1)
endif()
