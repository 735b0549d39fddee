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

# Shaders: NAME|SOURCE|DEFINES (;-free, comma separated). NAME.spv is what the runtime loads.
# Shaders doing fp32 arithmetic also come as NAME.rte: RoundingModeRTE declared and the hardware
# add/multiply used on the normal range (kernels/common/fp32_rn.glsl), for devices that have it.
set(TESSERA_VK_SHADERS
  "quant/convert|quant/convert.comp|"
  "quant/absmax|quant/absmax.comp|"
  "quant/nvfp4_quantize|quant/nvfp4_quantize.comp|"
  "quant/nvfp4_quantize.rte|quant/nvfp4_quantize.comp|FP32_RN_HW_RTE"
  "quant/nvfp4_dequantize|quant/nvfp4_dequantize.comp|"
  "quant/nvfp4_dequantize.rte|quant/nvfp4_dequantize.comp|FP32_RN_HW_RTE"
  "quant/fp8_quantize.group|quant/fp8_quantize.comp|FP8_PASS_GROUP"
  "quant/fp8_quantize.token|quant/fp8_quantize.comp|FP8_PASS_TOKEN"
  "quant/fp8_quantize.apply|quant/fp8_quantize.comp|"
  "quant/fp8_dequantize|quant/fp8_dequantize.comp|"
  "quant/fp8_dequantize.rte|quant/fp8_dequantize.comp|FP32_RN_HW_RTE"
  "quant/fp32_rn_test|quant/fp32_rn_test.comp|"
  "quant/fp32_rn_test.rte|quant/fp32_rn_test.comp|FP32_RN_HW_RTE"
  "quant/fp32_rn_test.inexact_div|quant/fp32_rn_test.comp|FP32_RN_DIV_ESTIMATE_ERROR=12"
  # Exact GEMMs (kernels/gemm/*.comp): fp8 shaders built once per scale form.
  "gemm/nvfp4_tiled|gemm/nvfp4_tiled.comp|"
  "gemm/nvfp4_tiled.rte|gemm/nvfp4_tiled.comp|FP32_RN_HW_RTE"
  "gemm/nvfp4_gemv_splitk|gemm/nvfp4_gemv_splitk.comp|"
  "gemm/nvfp4_gemv_splitk.rte|gemm/nvfp4_gemv_splitk.comp|FP32_RN_HW_RTE"
  "gemm/fp8_tiled.tensor|gemm/fp8_tiled.comp|"
  "gemm/fp8_tiled.tensor.rte|gemm/fp8_tiled.comp|FP32_RN_HW_RTE"
  "gemm/fp8_tiled.block|gemm/fp8_tiled.comp|FP8_BLOCK"
  "gemm/fp8_tiled.block.rte|gemm/fp8_tiled.comp|FP8_BLOCK,FP32_RN_HW_RTE"
  "gemm/fp8_gemv_splitk.tensor|gemm/fp8_gemv_splitk.comp|"
  "gemm/fp8_gemv_splitk.tensor.rte|gemm/fp8_gemv_splitk.comp|FP32_RN_HW_RTE"
  "gemm/fp8_gemv_splitk.block|gemm/fp8_gemv_splitk.comp|FP8_BLOCK"
  "gemm/fp8_gemv_splitk.block.rte|gemm/fp8_gemv_splitk.comp|FP8_BLOCK,FP32_RN_HW_RTE"
  "deltanet/chunked.normalize|deltanet/chunked.comp|DN_PASS_NORMALIZE"
  "deltanet/chunked.wy|deltanet/chunked.comp|DN_PASS_WY"
  "deltanet/chunked.scan|deltanet/chunked.comp|DN_PASS_SCAN"
  "deltanet/recurrent|deltanet/recurrent.comp|"
  "conv/conv1d|conv/conv1d.comp|"
  # nv_coopmat_f16's tile logic with the cooperative matrices emulated (tests on lavapipe).
  "attention/flash_coopmat.emulated|attention/flash_coopmat.comp|FC_EMULATE,ATT_DMAX=64"
  "attention/flash_prefill|attention/flash_prefill.comp|"
  "attention/splitkv_decode.partial|attention/splitkv_decode.comp|"
  "attention/splitkv_decode.combine|attention/splitkv_decode.comp|SPLITKV_COMBINE"
  )
# NVIDIA tensor-core GEMM (kernels/gemm/nv_coopmat.comp): only where glslang has the extension,
# so the registry's requirement (host/src/requirements.h, via host/src/vulkan/variants.cpp) sees the same probe.
if(TESSERA_GLSL_NV_COOPMAT)
  list(APPEND TESSERA_VK_SHADERS
    "gemm/nv_coopmat.nvfp4|gemm/nv_coopmat.comp|NV_COOPMAT_NVFP4"
    "gemm/nv_coopmat.fp8_tensor|gemm/nv_coopmat.comp|"
    "gemm/nv_coopmat.fp8_block|gemm/nv_coopmat.comp|FP8_BLOCK"
    "attention/flash_coopmat|attention/flash_coopmat.comp|")
endif()

# Any change to a shared include rebuilds every shader: there are few, and it is always right.
file(GLOB TESSERA_GLSL_INCLUDES CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/kernels/common/*.glsl)
set(spirv_dir ${CMAKE_BINARY_DIR}/spirv)
set(spirv_files)
foreach(entry ${TESSERA_VK_SHADERS})
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
tessera_embed(tessera vulkan_spirv ${spirv_dir} ${spirv_files})

target_sources(tessera PRIVATE
  host/src/vulkan/common.cpp
  host/src/vulkan/instance.cpp
  host/src/vulkan/probe.cpp
  host/src/vulkan/device.cpp
  host/src/vulkan/memory.cpp
  host/src/vulkan/pipelines.cpp
  host/src/vulkan/batch.cpp
  host/src/vulkan/ops.cpp
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
