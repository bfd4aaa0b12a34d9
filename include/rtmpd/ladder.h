/*
 * rtmpd — transcode ladders: one ffmpeg child per ladder step, pulling a
 * source stream from this server and publishing NAME_SUFFIX back into it.
 *
 * Children are started when the source is published, restarted with
 * exponential backoff when they die, stopped (SIGTERM, then SIGKILL) when
 * the source's publisher leaves; their stderr goes to rtmpd's log.
 */
#ifndef RTMPD_LADDER_H
#define RTMPD_LADDER_H

#include <stddef.h>

struct rtmpd_server;
struct rtmpd_app_conf;
struct rtmpd_ladder;

/*
 * Starts the app's ladder for source `name`. Returns NULL when the app has
 * no ladder, on allocation failure, or when no RTMP listener can be
 * reached from this host (logged).
 */
struct rtmpd_ladder *rtmpd_ladder_start(struct rtmpd_server *srv, const struct rtmpd_app_conf *app,
                                        const char *name, size_t name_len);

/* Stops a ladder: children get SIGTERM and are reaped later; the ladder
 * frees itself when the last one is gone. Accepts NULL. */
void rtmpd_ladder_stop(struct rtmpd_ladder *l);

/* Kills every child still running (SIGKILL) and frees all ladders: at exit. */
void rtmpd_ladder_shutdown(struct rtmpd_server *srv);

#endif
