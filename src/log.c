#include "rtmpd/log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

static enum rtmpd_log_level log_level = RTMPD_LOG_INFO;
static FILE *access_file;   /* NULL: off */
static int access_owned;    /* access_file was opened here */
static char access_path[RTMPD_CONFIG_PATH_MAX]; /* its path, to reopen it */

static const char *const level_names[] = { "ERROR", "WARN", "INFO", "DEBUG" };

void rtmpd_log_set_level(enum rtmpd_log_level level)
{
    log_level = level;
}

int rtmpd_log_enabled(enum rtmpd_log_level level)
{
    return level <= log_level;
}

int rtmpd_log_open_access(const char *where)
{
    rtmpd_log_close();
    if (strcmp(where, "off") == 0)
        return 0;
    if (strcmp(where, "stderr") == 0) {
        access_file = stderr;
        return 0;
    }
    if (strlen(where) >= sizeof access_path) {
        errno = ENAMETOOLONG;
        return -1;
    }
    FILE *f = fopen(where, "ae");
    if (!f)
        return -1;
    setvbuf(f, NULL, _IOLBF, 0);
    access_file = f;
    access_owned = 1;
    snprintf(access_path, sizeof access_path, "%s", where);
    return 0;
}

int rtmpd_log_reopen(void)
{
    if (!access_owned || !access_file)
        return 0;
    /* The new file first: if it cannot be opened, lines keep going to the
     * old one (renamed or not) rather than nowhere. */
    FILE *f = fopen(access_path, "ae");
    if (!f)
        return -1;
    setvbuf(f, NULL, _IOLBF, 0);
    fclose(access_file);
    access_file = f;
    return 1;
}

const char *rtmpd_log_access_path(void)
{
    return access_owned ? access_path : NULL;
}

void rtmpd_log_close(void)
{
    if (access_owned && access_file)
        fclose(access_file);
    access_file = NULL;
    access_owned = 0;
    access_path[0] = '\0';
}

static size_t log_stamp(char *buf, size_t len)
{
    struct timeval tv;
    struct tm tm;
    gettimeofday(&tv, NULL);
    gmtime_r(&tv.tv_sec, &tm);
    size_t n = strftime(buf, len, "%Y-%m-%dT%H:%M:%S", &tm);
    int m = snprintf(buf + n, len - n, ".%03dZ", (int)(tv.tv_usec / 1000));
    return n + (m > 0 ? (size_t)m : 0);
}

/* Formats and writes one whole line with a single fputs, so lines from
 * several writers never interleave mid-line. */
static void log_write(FILE *f, const char *prefix, uint64_t id, const char *fmt, va_list ap)
{
    char line[2048];
    size_t n = log_stamp(line, sizeof line);
    int m;
    if (id)
        m = snprintf(line + n, sizeof line - n, " %s[#%llu] ", prefix, (unsigned long long)id);
    else
        m = snprintf(line + n, sizeof line - n, " %s", prefix);
    if (m > 0)
        n += (size_t)m;
    if (n < sizeof line - 1) {
        m = vsnprintf(line + n, sizeof line - n, fmt, ap);
        if (m > 0)
            n += (size_t)m;
    }
    if (n > sizeof line - 2)
        n = sizeof line - 2;
    line[n++] = '\n';
    line[n] = '\0';
    fputs(line, f);
}

void rtmpd_log(enum rtmpd_log_level level, uint64_t id, const char *fmt, ...)
{
    if (level > log_level)
        return;
    int saved = errno;
    char prefix[16];
    snprintf(prefix, sizeof prefix, "%s ", level_names[level]);
    va_list ap;
    va_start(ap, fmt);
    log_write(stderr, prefix, id, fmt, ap);
    va_end(ap);
    errno = saved;
}

void rtmpd_log_access(const char *fmt, ...)
{
    if (!access_file)
        return;
    va_list ap;
    va_start(ap, fmt);
    log_write(access_file, "ACCESS ", 0, fmt, ap);
    va_end(ap);
}

uint32_t rtmpd_log_limit_flush(struct rtmpd_log_limit *l, uint64_t now_us, uint64_t period_us)
{
    if (!l->suppressed || now_us - l->start_us < period_us)
        return 0;
    uint32_t n = l->suppressed;
    l->suppressed = 0;
    return n;
}

int rtmpd_log_limit_take(struct rtmpd_log_limit *l, uint64_t now_us, uint64_t period_us,
                         uint32_t burst)
{
    /* A new period starts once the last one's count has been flushed. */
    if (now_us - l->start_us >= period_us && !l->suppressed) {
        l->start_us = now_us;
        l->lines = 0;
    }
    if (l->lines < burst) {
        l->lines++;
        return 1;
    }
    l->suppressed++;
    return 0;
}
