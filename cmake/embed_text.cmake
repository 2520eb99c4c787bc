# keynet_embed_text(TARGET SYMBOL FILE): compiles FILE's text into TARGET as
# `extern const char keynet::embedded::SYMBOL[]`, so that a binary needs no file beside it at run time
# (the mirror permutations: an installed keynet has no source tree to read them from). CMake re-runs
# when FILE changes.
function(keynet_embed_text target symbol file)
  file(READ ${file} KEYNET_EMBEDDED_TEXT)
  string(FIND "${KEYNET_EMBEDDED_TEXT}" ")keynet_text\"" clash)
  if(NOT clash EQUAL -1)
    message(FATAL_ERROR "${file} contains the raw string's end marker )keynet_text\"")
  endif()
  file(RELATIVE_PATH KEYNET_EMBEDDED_FROM ${CMAKE_SOURCE_DIR} ${file})
  set(KEYNET_EMBEDDED_SYMBOL ${symbol})
  set(generated ${CMAKE_BINARY_DIR}/generated/embedded_${symbol}.cpp)
  configure_file(${CMAKE_SOURCE_DIR}/cmake/embedded_text.cpp.in ${generated} @ONLY)
  target_sources(${target} PRIVATE ${generated})
  set_property(DIRECTORY ${CMAKE_SOURCE_DIR} APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS ${file})
endfunction()
