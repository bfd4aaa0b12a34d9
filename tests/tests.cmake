# Tests beyond the protocol core: server-layer unit tests and the
# integration suite (real daemon, real clients).
if(TARGET rtmpd_core)
  rtmpd_unit_test(test_config rtmpd_core)
  target_compile_definitions(test_config PRIVATE RTMPD_SOURCE_DIR="${CMAKE_SOURCE_DIR}")
endif()
