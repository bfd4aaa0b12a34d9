/*
 * rtmpd — logging: level-filtered lines on stderr, and the access log.
 * stderr is never reopened: rotate it where it goes (journald), or with
 * copytruncate when it is redirected to a file opened for appending.
 *
 * A line is "2026-11-25T16:22:05.123Z LEVEL [#id] message". Connection ids
 * tie every line of a session together; 0 means "not about a connection".
 */
#ifndef RTMPD_LOG_H
#define RTMPD_LOG_H

#include <stdint.h>

#include "rtmpd/config.h"

/* Sets the level below which lines are dropped (default info). */
void rtmpd_log_set_level(enum rtmpd_log_level level);

/*
 * Opens the access log: "stderr", "off" or a file path (appended). Returns 0,
 * or -1 with errno set when the file cannot be opened.
 */
int rtmpd_log_open_access(const char *where);

/* Closes the access log file, if any. */
void rtmpd_log_close(void);

/*
 * Reopens the access log file at its path (after log rotation renamed it).
 * Returns 1 when reopened, 0 when the access log is not a file ("stderr",
 * "off": nothing to reopen), or -1 with errno set when the path cannot be
 * opened: the old file is kept and written on.
 */
int rtmpd_log_reopen(void);

/* The access log's path when it is a file, else NULL. */
const char *rtmpd_log_access_path(void);

/* Non-zero when lines at `level` are written. */
int rtmpd_log_enabled(enum rtmpd_log_level level);

/* Writes one line at `level` about connection `id` (0: none). */
void rtmpd_log(enum rtmpd_log_level level, uint64_t id, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Writes one access-log line (no level filtering). */
void rtmpd_log_access(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/*
 * A limit on lines of one kind that a peer can cause at will (e.g. one per
 * refused connection): at most `burst` lines per period, the rest counted.
 * Zero-initialised it is ready; it keeps no clock of its own.
 */
struct rtmpd_log_limit {
    uint64_t start_us;    /* start of the current period */
    uint32_t lines;       /* lines allowed in it */
    uint32_t suppressed;  /* lines not written in it */
};

/*
 * Returns, and forgets, how many lines were suppressed in a period that has
 * ended by `now_us` (0 while the period runs). Call it before
 * rtmpd_log_limit_take and periodically, and log the count when non-zero.
 */
uint32_t rtmpd_log_limit_flush(struct rtmpd_log_limit *l, uint64_t now_us, uint64_t period_us);

/* Non-zero when one more line may be written now; otherwise counts it. */
int rtmpd_log_limit_take(struct rtmpd_log_limit *l, uint64_t now_us, uint64_t period_us,
                         uint32_t burst);

#define log_error(id, ...) rtmpd_log(RTMPD_LOG_ERROR, (id), __VA_ARGS__)
#define log_warn(id, ...) rtmpd_log(RTMPD_LOG_WARN, (id), __VA_ARGS__)
#define log_info(id, ...)                                   \
    do {                                                    \
        if (rtmpd_log_enabled(RTMPD_LOG_INFO))              \
            rtmpd_log(RTMPD_LOG_INFO, (id), __VA_ARGS__);   \
    } while (0)
#define log_debug(id, ...)                                  \
    do {                                                    \
        if (rtmpd_log_enabled(RTMPD_LOG_DEBUG))             \
            rtmpd_log(RTMPD_LOG_DEBUG, (id), __VA_ARGS__);  \
    } while (0)

#endif
