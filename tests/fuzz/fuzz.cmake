# libFuzzer harnesses, one per protocol parser (tests/fuzz/fuzz_*.c).
# Included by the top-level CMakeLists.txt when RTMPD_FUZZ is ON; needs clang
# (Debian: clang + libclang-rt-14-dev). Use a build tree of its own:
#
#   CC=clang cmake -S . -B build-fuzz -DRTMPD_FUZZ=ON -DRTMPD_TESTS=OFF
#   cmake --build build-fuzz --target fuzz
#   ctest --test-dir build-fuzz -L fuzz      # replay corpora, then fuzz each
#
# scripts/fuzz.sh does all of that and reports runs and coverage.
if(NOT CMAKE_C_COMPILER_ID MATCHES "Clang")
  message(FATAL_ERROR "RTMPD_FUZZ needs clang: configure with CC=clang")
endif()

set(RTMPD_FUZZ_SECONDS 30 CACHE STRING "Seconds each fuzz.<harness> ctest test fuzzes")
set(RTMPD_FUZZ_HARNESSES handshake chunk amf flv session http)
# Largest input each harness is given (-max_len).
set(rtmpd_fuzz_max_len_handshake 4096)
set(rtmpd_fuzz_max_len_chunk 16384)
set(rtmpd_fuzz_max_len_amf 8192)
set(rtmpd_fuzz_max_len_flv 16384)
set(rtmpd_fuzz_max_len_session 65536)
set(rtmpd_fuzz_max_len_http 16384)
set(rtmpd_fuzz_san -fsanitize=address,undefined -fno-sanitize-recover=all
                   -fno-omit-frame-pointer -g)

# The protocol core again, instrumented for coverage and the sanitizers.
get_target_property(rtmpd_proto_sources rtmpd_proto SOURCES)
add_library(rtmpd_proto_fuzz STATIC ${rtmpd_proto_sources})
target_include_directories(rtmpd_proto_fuzz PUBLIC ${CMAKE_SOURCE_DIR}/include)
target_compile_options(rtmpd_proto_fuzz PRIVATE -fsanitize=fuzzer-no-link ${rtmpd_fuzz_san})
target_link_libraries(rtmpd_proto_fuzz PUBLIC PkgConfig::OPENSSL)

# The server layer too, for the whole-session and HTTP harnesses.
get_target_property(rtmpd_core_sources rtmpd_core SOURCES)
add_library(rtmpd_core_fuzz STATIC ${rtmpd_core_sources})
target_include_directories(rtmpd_core_fuzz PRIVATE ${HTTP_PARSER_INCLUDE_DIR})
target_compile_options(rtmpd_core_fuzz PRIVATE -fsanitize=fuzzer-no-link ${rtmpd_fuzz_san})
target_link_libraries(rtmpd_core_fuzz PUBLIC rtmpd_proto_fuzz PkgConfig::LIBEV
                      PkgConfig::LIBCONFIG PkgConfig::JANSSON PkgConfig::ZLIB
                      ${HTTP_PARSER_LIBRARY} m)
set(rtmpd_fuzz_lib_session rtmpd_core_fuzz)
set(rtmpd_fuzz_lib_http rtmpd_core_fuzz)

add_custom_target(fuzz)
enable_testing()
set(rtmpd_fuzz_dir ${CMAKE_SOURCE_DIR}/tests/fuzz)
foreach(h ${RTMPD_FUZZ_HARNESSES})
  add_executable(fuzz_${h} ${rtmpd_fuzz_dir}/fuzz_${h}.c)
  target_compile_options(fuzz_${h} PRIVATE -fsanitize=fuzzer ${rtmpd_fuzz_san})
  target_link_options(fuzz_${h} PRIVATE -fsanitize=fuzzer ${rtmpd_fuzz_san})
  if(DEFINED rtmpd_fuzz_lib_${h})
    target_link_libraries(fuzz_${h} PRIVATE ${rtmpd_fuzz_lib_${h}})
  else()
    target_link_libraries(fuzz_${h} PRIVATE rtmpd_proto_fuzz)
  endif()
  add_dependencies(fuzz fuzz_${h})

  # Committed inputs are only read; new finds and crashes go to the build tree.
  set(corpus ${rtmpd_fuzz_dir}/corpus/${h})
  set(regress ${rtmpd_fuzz_dir}/regressions/${h})
  set(scratch ${CMAKE_BINARY_DIR}/fuzz-scratch/${h})
  set(artifacts ${CMAKE_BINARY_DIR}/fuzz-artifacts/${h}/)
  file(MAKE_DIRECTORY ${corpus} ${regress} ${scratch} ${artifacts})
  set(env "ASAN_OPTIONS=abort_on_error=1:detect_leaks=1"
          "UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1")

  # Replay: every corpus and regression input once (a few seconds).
  add_test(NAME fuzz_replay.${h}
           COMMAND fuzz_${h} -runs=0 -rss_limit_mb=2048 -timeout=10
                   -artifact_prefix=${artifacts} ${corpus} ${regress})
  set_tests_properties(fuzz_replay.${h} PROPERTIES LABELS "fuzz;fuzz_replay" TIMEOUT 300
                       ENVIRONMENT "${env}")

  # Bounded fuzzing from the corpora.
  add_test(NAME fuzz.${h}
           COMMAND fuzz_${h} -max_total_time=${RTMPD_FUZZ_SECONDS} -rss_limit_mb=2048
                   -timeout=10 -max_len=${rtmpd_fuzz_max_len_${h}} -print_final_stats=1
                   -artifact_prefix=${artifacts} ${scratch} ${corpus} ${regress})
  math(EXPR t "${RTMPD_FUZZ_SECONDS} + 300")
  set_tests_properties(fuzz.${h} PROPERTIES LABELS fuzz TIMEOUT ${t} ENVIRONMENT "${env}"
                       DEPENDS fuzz_replay.${h})
endforeach()
