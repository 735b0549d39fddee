# tessera_embed(TARGET SYMBOL BASE_DIR FILE...): compiles the FILEs (paths relative to BASE_DIR)
# into TARGET as byte arrays, reachable as
#   std::span<const tessera::EmbeddedFile> tessera_embedded_SYMBOL();
# (host/src/embedded.h). The generated source is rebuilt whenever a file changes; nobody edits it.
function(tessera_embed target symbol base_dir)
  set(out ${CMAKE_BINARY_DIR}/embedded/${symbol}.cpp)
  set(deps)
  foreach(f ${ARGN})
    list(APPEND deps ${base_dir}/${f})
  endforeach()
  string(REPLACE ";" "|" files_arg "${ARGN}")
  add_custom_command(OUTPUT ${out}
    COMMAND ${CMAKE_COMMAND} -DOUT=${out} -DSYMBOL=${symbol} -DBASE=${base_dir} "-DFILES=${files_arg}"
            -P ${PROJECT_SOURCE_DIR}/cmake/embed_files.cmake
    DEPENDS ${deps} ${PROJECT_SOURCE_DIR}/cmake/embed_files.cmake
    COMMENT "Embedding ${symbol}"
    VERBATIM)
  target_sources(${target} PRIVATE ${out})
endfunction()
