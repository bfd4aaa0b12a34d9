# Tests beyond the protocol core: server-layer unit tests and the
# integration suite (real daemon, real clients).
if(TARGET rtmpd_core)
  rtmpd_unit_test(test_config rtmpd_core)
  target_compile_definitions(test_config PRIVATE RTMPD_SOURCE_DIR="${CMAKE_SOURCE_DIR}")
  rtmpd_unit_test(test_bwprobe rtmpd_core)
  rtmpd_unit_test(test_log rtmpd_core)
  rtmpd_unit_test(test_merge rtmpd_core)
endif()

# Source checks: json_pack arguments against their format (va_arg widths
# the compiler cannot check).
find_package(Python3 REQUIRED COMPONENTS Interpreter)
add_test(NAME lint.json_pack
         COMMAND ${Python3_EXECUTABLE} ${CMAKE_SOURCE_DIR}/tests/lint/check_json_pack.py
                 ${CMAKE_SOURCE_DIR}/src)
set_tests_properties(lint.json_pack PROPERTIES LABELS "unit;lint" TIMEOUT 60)

# Integration tests: one ctest test per tests/integration/test_*.py, and per
# tests/hostile/test_*.py (hostile clients), named after their directory
# (integration.NAME, hostile.NAME). A file that says "ctest: serial" in its
# docstring runs alone (it measures timing or loads both cores).
file(GLOB rtmpd_integration_tests CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/tests/integration/test_*.py
     ${CMAKE_SOURCE_DIR}/tests/hostile/test_*.py)
foreach(script ${rtmpd_integration_tests})
  get_filename_component(name ${script} NAME_WE)
  get_filename_component(dir ${script} DIRECTORY)
  get_filename_component(suite ${dir} NAME)
  add_test(NAME ${suite}.${name} COMMAND ${Python3_EXECUTABLE} ${script}
           WORKING_DIRECTORY ${dir})
  set_tests_properties(${suite}.${name} PROPERTIES
    LABELS integration TIMEOUT 600
    ENVIRONMENT "RTMPD_BUILD_DIR=${CMAKE_BINARY_DIR};PYTHONDONTWRITEBYTECODE=1")
  file(READ ${script} body LIMIT 2000)
  if(body MATCHES "ctest: serial")
    set_tests_properties(${suite}.${name} PROPERTIES RUN_SERIAL TRUE)
  endif()
endforeach()
