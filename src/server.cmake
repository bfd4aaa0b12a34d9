# The server: everything above the protocol core, in a library so that
# tests and tools can link the same code as the daemon.
pkg_check_modules(LIBCONFIG REQUIRED IMPORTED_TARGET libconfig)
pkg_check_modules(JANSSON REQUIRED IMPORTED_TARGET jansson)
# Debian's libhttp-parser-dev ships no pkg-config file.
find_path(HTTP_PARSER_INCLUDE_DIR http_parser.h REQUIRED)
find_library(HTTP_PARSER_LIBRARY http_parser REQUIRED)

add_library(rtmpd_core STATIC
  src/log.c
  src/config.c
  src/bwprobe.c
  src/frame.c
  src/gop_cache.c
  src/ladder.c
  src/stream.c
  src/conn.c
  src/text.c
  src/session.c
  src/http.c
  src/stats.c
  src/server.c
)
target_include_directories(rtmpd_core PRIVATE ${HTTP_PARSER_INCLUDE_DIR})
target_link_libraries(rtmpd_core PUBLIC rtmpd_proto PkgConfig::LIBEV PkgConfig::LIBCONFIG
                      PkgConfig::JANSSON PkgConfig::ZLIB ${HTTP_PARSER_LIBRARY} m)

add_executable(rtmpd src/main.c)
target_link_libraries(rtmpd PRIVATE rtmpd_core)
# Readiness and stop notification for systemd (Type=notify), when available.
pkg_check_modules(LIBSYSTEMD IMPORTED_TARGET libsystemd)
if(LIBSYSTEMD_FOUND)
  target_compile_definitions(rtmpd PRIVATE RTMPD_HAVE_SYSTEMD=1)
  target_link_libraries(rtmpd PRIVATE PkgConfig::LIBSYSTEMD)
else()
  message(WARNING "libsystemd not found: rtmpd will not notify systemd when it is ready, so "
                  "conf/rtmpd.service (Type=notify) would time out at start; install "
                  "libsystemd-dev, or use Type=exec in the unit")
endif()

include(GNUInstallDirs)
install(TARGETS rtmpd RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(FILES conf/rtmpd.conf DESTINATION ${CMAKE_INSTALL_SYSCONFDIR}/rtmpd)
set(BINDIR ${CMAKE_INSTALL_FULL_BINDIR})
set(SYSCONFDIR ${CMAKE_INSTALL_FULL_SYSCONFDIR})
configure_file(conf/rtmpd.service ${CMAKE_BINARY_DIR}/rtmpd.service @ONLY)
install(FILES ${CMAKE_BINARY_DIR}/rtmpd.service DESTINATION lib/systemd/system)
