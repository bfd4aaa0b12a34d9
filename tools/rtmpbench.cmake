# rtmpbench: load, latency and correctness tool (tools/rtmpbench/), built on
# the protocol modules. Included by the top-level CMakeLists.txt.
add_executable(rtmpbench
  ${CMAKE_SOURCE_DIR}/tools/rtmpbench/main.c
  ${CMAKE_SOURCE_DIR}/tools/rtmpbench/conn.c
  ${CMAKE_SOURCE_DIR}/tools/rtmpbench/floor.c
  ${CMAKE_SOURCE_DIR}/tools/rtmpbench/media.c
  ${CMAKE_SOURCE_DIR}/tools/rtmpbench/publisher.c
  ${CMAKE_SOURCE_DIR}/tools/rtmpbench/player.c
  ${CMAKE_SOURCE_DIR}/tools/rtmpbench/report.c
  ${CMAKE_SOURCE_DIR}/tools/rtmpbench/stats.c
)
target_link_libraries(rtmpbench PRIVATE rtmpd_proto PkgConfig::LIBEV PkgConfig::ZLIB m)
