/*
 * rtmpd — configuration loader (libconfig).
 *
 * Every key is one row of a table: cfg_top_keys for the top level and
 * cfg_app_keys for each group of the "apps" list. A row holds the key's
 * dotted path, its type, the offset and size of its field, its default and
 * its range. Defaults, loading, unknown-key detection and range checks are
 * all driven by the tables, so adding a key is one row (plus its field in
 * config.h, its line in conf/rtmpd.conf and in docs/configuration.md).
 * Rules that tie two keys together (a <= b) are rows of a second table.
 *
 * Loading walks the parsed libconfig tree, not the table: every setting in
 * the file must match a row or a section (a path prefix of some row), so an
 * unknown or misspelled key is an error, never silently ignored.
 *
 * Every error is one line "FILE:LINE: key.path: what is wrong".
 */
#include "rtmpd/config.h"
#include "rtmpd/text.h"

#include <arpa/inet.h>
#include <assert.h>
#include <errno.h>
#include <libconfig.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#if defined(__GNUC__)
#define CFG_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define CFG_PRINTF(f, a)
#endif

#define KiB (UINT64_C(1) << 10)
#define MiB (UINT64_C(1) << 20)
#define GiB (UINT64_C(1) << 30)

enum cfg_type {
    CFG_UINT,     /* uint32_t or uint64_t, chosen by the field's size */
    CFG_BOOL,     /* int, 0 or 1 */
    CFG_STRING,   /* char[size], NUL-terminated */
    CFG_LOGLEVEL, /* enum rtmpd_log_level, from its name */
    CFG_ADDRS,    /* struct rtmpd_addr_list; min/max bound the number of entries */
    CFG_GROUPS,   /* a list of groups ( { ... }, ... ), each read with a sub-table */
};

#define CFG_SIZE 0x01     /* byte count: "8M" is accepted as well as 8388608 */
#define CFG_REQUIRED 0x02 /* must appear in the file (there is no default) */
#define CFG_CIDR 0x04     /* CFG_ADDRS of "addr/prefix" instead of "addr:port" */
#define CFG_NAMES 0x08    /* CFG_ADDRS of stream names instead of "addr:port" */

struct cfg_key {
    const char *name;  /* dotted path relative to the table's root */
    enum cfg_type type;
    unsigned flags;
    size_t offset;     /* of the field in the table's struct */
    size_t size;       /* of the field */
    uint64_t def;      /* default of CFG_UINT, CFG_BOOL, CFG_LOGLEVEL */
    const char *sdef;  /* default of CFG_STRING, CFG_ADDRS; CFG_GROUPS: unique key of one default element */
    uint64_t min;      /* inclusive range of CFG_UINT; counts for lists */
    uint64_t max;
    /* Extra check of a CFG_STRING value: 0, or -1 with `why` filled. */
    int (*check)(const char *s, char *why, size_t whylen);
    /* CFG_GROUPS: how the elements are read. */
    const struct cfg_groups *groups;
};

/* A list of groups: an array field of `elem_size` elements read with
 * `table`, its count in a uint32_t at `count_offset` of the parent. */
struct cfg_groups {
    const struct cfg_table *table;
    size_t elem_size;
    size_t count_offset;
    const char *unique;   /* string key that must differ between elements, or NULL */
    const char *what;     /* "app", "group" ...: for messages */
};

/* A cross-field rule: the value of `lo` must not exceed the value of `hi`. */
struct cfg_rule {
    const char *lo;
    const char *hi;
};

struct cfg_table {
    const struct cfg_key *keys;
    size_t nkeys;
    const struct cfg_rule *rules;
    size_t nrules;
};

/* Where error messages go, and the file they are about. */
struct cfg_ctx {
    const char *path;
    char *err;
    size_t errlen;
};

static int cfg_check_nonempty(const char *s, char *why, size_t whylen);
static int cfg_check_ladder_args(const char *s, char *why, size_t whylen);
static int cfg_check_app_name(const char *s, char *why, size_t whylen);
static int cfg_check_stream_name(const char *s, char *why, size_t whylen);
static int cfg_check_no_controls(const char *s, char *why, size_t whylen);
static int cfg_check_header_value(const char *s, char *why, size_t whylen);

#define CFG_FSIZE(T, f) sizeof(((T *)0)->f)

#define CFG_KEY(T, name, type, flags, field, def, sdef, min, max, check) \
    { name, type, flags, offsetof(T, field), CFG_FSIZE(T, field), def, sdef, min, max, check, NULL }

#define CFG_GROUPS_KEY(T, name, field, sdef, min, max, groups) \
    { name, CFG_GROUPS, 0, offsetof(T, field), CFG_FSIZE(T, field), 0, sdef, min, max, NULL, groups }

#define TOP_UINT(name, field, flags, def, min, max) \
    CFG_KEY(struct rtmpd_config, name, CFG_UINT, flags, field, def, NULL, min, max, NULL)
#define APP_UINT(name, field, flags, def, min, max) \
    CFG_KEY(struct rtmpd_app_conf, name, CFG_UINT, flags, field, def, NULL, min, max, NULL)

static const struct cfg_groups cfg_apps_groups, cfg_abr_groups, cfg_ladder_groups;

/*
 * The top level. Keep the order of conf/rtmpd.conf and
 * docs/configuration.md.
 */
static const struct cfg_key cfg_top_keys[] = {
    CFG_KEY(struct rtmpd_config, "listen", CFG_ADDRS, 0, listen, 0, "0.0.0.0:1935", 1,
            RTMPD_CONFIG_MAX_LIST, NULL),

    CFG_KEY(struct rtmpd_config, "log.level", CFG_LOGLEVEL, 0, log.level, RTMPD_LOG_INFO, NULL,
            0, 0, NULL),
    CFG_KEY(struct rtmpd_config, "log.access_log", CFG_STRING, 0, log.access_log, 0, "stderr",
            0, 0, cfg_check_nonempty),

    TOP_UINT("limits.max_connections", limits.max_connections, 0, 10000, 1, 1000000),
    TOP_UINT("limits.max_message_bytes", limits.max_message_bytes, CFG_SIZE, 8 * MiB, 1 * KiB,
             64 * MiB),
    TOP_UINT("limits.max_chunk_streams", limits.max_chunk_streams, 0, 64, 2, 65598),
    TOP_UINT("limits.max_pending_bytes", limits.max_pending_bytes, CFG_SIZE, 16 * MiB, 1 * KiB,
             1 * GiB),
    TOP_UINT("limits.max_gop_cache_bytes", limits.max_gop_cache_bytes, CFG_SIZE, 1 * GiB,
             1 * MiB, 64 * GiB),
    TOP_UINT("limits.max_streams_per_connection", limits.max_streams_per_connection, 0, 16, 1,
             1024),
    TOP_UINT("limits.max_name_bytes", limits.max_name_bytes, CFG_SIZE, 256, 16, 65535),
    TOP_UINT("limits.handshake_timeout_ms", limits.handshake_timeout_ms, 0, 10000, 100, 300000),
    TOP_UINT("limits.idle_timeout_ms", limits.idle_timeout_ms, 0, 30000, 1000, 86400000),
    TOP_UINT("limits.write_slice_us", limits.write_slice_us, 0, 2000, 0, 1000000),

    TOP_UINT("rtmp.chunk_size", rtmp.chunk_size, CFG_SIZE, 4096, 128, 16777215),
    TOP_UINT("rtmp.window_ack_size", rtmp.window_ack_size, CFG_SIZE, 2500000, 4096, 2147483647),
    TOP_UINT("rtmp.peer_bandwidth", rtmp.peer_bandwidth, CFG_SIZE, 2500000, 4096, 2147483647),

    CFG_GROUPS_KEY(struct rtmpd_config, "apps", apps, "live", 1, RTMPD_CONFIG_MAX_APPS,
                   &cfg_apps_groups),

    CFG_KEY(struct rtmpd_config, "http.listen", CFG_ADDRS, 0, http.listen, 0, "127.0.0.1:8080",
            0, RTMPD_CONFIG_MAX_LIST, NULL),
    CFG_KEY(struct rtmpd_config, "http.allow", CFG_ADDRS, CFG_CIDR, http.allow, 0,
            "127.0.0.1/32,::1/128", 0, RTMPD_CONFIG_MAX_LIST, NULL),
    CFG_KEY(struct rtmpd_config, "http.token", CFG_STRING, 0, http.token, 0, "", 0, 0,
            cfg_check_no_controls),
    CFG_KEY(struct rtmpd_config, "http.cors_origin", CFG_STRING, 0, http.cors_origin, 0, "*", 0,
            0, cfg_check_header_value),
    TOP_UINT("http.max_header_bytes", http.max_header_bytes, CFG_SIZE, 8 * KiB, 1 * KiB, 64 * KiB),
    TOP_UINT("http.request_timeout_ms", http.request_timeout_ms, 0, 10000, 100, 300000),
};

static const struct cfg_rule cfg_top_rules[] = {
    /* A whole message is held in the pending bytes while it is assembled. */
    { "limits.max_message_bytes", "limits.max_pending_bytes" },
};

/* One group of the "apps" list. */
static const struct cfg_key cfg_app_keys[] = {
    CFG_KEY(struct rtmpd_app_conf, "name", CFG_STRING, CFG_REQUIRED, name, 0, "", 0, 0,
            cfg_check_app_name),
    CFG_KEY(struct rtmpd_app_conf, "publish_notify", CFG_BOOL, 0, publish_notify, 0, NULL, 0, 1,
            NULL),

    CFG_KEY(struct rtmpd_app_conf, "gop_cache.enabled", CFG_BOOL, 0, gop.enabled, 1, NULL, 0, 1,
            NULL),
    APP_UINT("gop_cache.max_frames", gop.max_frames, 0, 2500, 1, 100000),
    APP_UINT("gop_cache.max_bytes", gop.max_bytes, CFG_SIZE, 32 * MiB, 1 * KiB, 1 * GiB),

    APP_UINT("queue.max_bytes", queue.max_bytes, CFG_SIZE, 8 * MiB, 1 * KiB, 1 * GiB),
    APP_UINT("queue.max_ms", queue.max_ms, 0, 5000, 100, 60000),
    APP_UINT("queue.drop_ms", queue.drop_ms, 0, 1000, 0, 60000),
    APP_UINT("queue.merge_ms", queue.merge_ms, 0, 0, 0, 1000),

    CFG_GROUPS_KEY(struct rtmpd_app_conf, "abr", abr, NULL, 0, RTMPD_CONFIG_MAX_ABR,
                   &cfg_abr_groups),
    CFG_GROUPS_KEY(struct rtmpd_app_conf, "ladder", ladder, NULL, 0, RTMPD_CONFIG_MAX_LADDER,
                   &cfg_ladder_groups),

    APP_UINT("adapt.headroom_pct", adapt.headroom_pct, 0, 25, 0, 400),
    APP_UINT("adapt.down_ms", adapt.down_ms, 0, 3000, 0, 60000),
    APP_UINT("adapt.up_ms", adapt.up_ms, 0, 8000, 0, 600000),
    APP_UINT("adapt.hold_ms", adapt.hold_ms, 0, 15000, 0, 3600000),
};

/* One group of an app's "abr" list: a player of `name` is served from the
 * best of `renditions` its network can carry. */
static const struct cfg_key cfg_abr_keys[] = {
    CFG_KEY(struct rtmpd_abr_conf, "name", CFG_STRING, CFG_REQUIRED, name, 0, "", 0, 0,
            cfg_check_stream_name),
    CFG_KEY(struct rtmpd_abr_conf, "renditions", CFG_ADDRS, CFG_REQUIRED | CFG_NAMES, renditions,
            0, "", 1, RTMPD_CONFIG_MAX_LIST, NULL),
};

/* One step of an app's transcode ladder: NAME_SUFFIX made by ffmpeg ARGS. */
static const struct cfg_key cfg_ladder_keys[] = {
    CFG_KEY(struct rtmpd_ladder_step, "suffix", CFG_STRING, CFG_REQUIRED, suffix, 0, "", 0, 0,
            cfg_check_stream_name),
    CFG_KEY(struct rtmpd_ladder_step, "args", CFG_STRING, CFG_REQUIRED, args, 0, "", 0, 0,
            cfg_check_ladder_args),
};

static const struct cfg_rule cfg_app_rules[] = {
    /* Dropping must start before the hard limit disconnects. */
    { "queue.drop_ms", "queue.max_ms" },
};

#define CFG_NELEM(a) (sizeof(a) / sizeof((a)[0]))

static const struct cfg_table cfg_top_table = {
    cfg_top_keys, CFG_NELEM(cfg_top_keys), cfg_top_rules, CFG_NELEM(cfg_top_rules),
};

static const struct cfg_table cfg_app_table = {
    cfg_app_keys, CFG_NELEM(cfg_app_keys), cfg_app_rules, CFG_NELEM(cfg_app_rules),
};

static const struct cfg_table cfg_abr_table = {
    cfg_abr_keys, CFG_NELEM(cfg_abr_keys), NULL, 0,
};

static const struct cfg_table cfg_ladder_table = {
    cfg_ladder_keys, CFG_NELEM(cfg_ladder_keys), NULL, 0,
};

static const struct cfg_groups cfg_apps_groups = {
    &cfg_app_table, sizeof(struct rtmpd_app_conf), offsetof(struct rtmpd_config, napps), "name",
    "app",
};

static const struct cfg_groups cfg_abr_groups = {
    &cfg_abr_table, sizeof(struct rtmpd_abr_conf), offsetof(struct rtmpd_app_conf, nabr), "name",
    "group",
};

static const struct cfg_groups cfg_ladder_groups = {
    &cfg_ladder_table, sizeof(struct rtmpd_ladder_step), offsetof(struct rtmpd_app_conf, nladder),
    "suffix", "step",
};

#define CFG_MAX_KEYS 32 /* more than either table has; checked in cfg_walk_table */

/* Paths of keys ("apps[12].gop_cache.max_frames") fit in this. */
#define CFG_KEYPATH_MAX 128

/* Errors ----------------------------------------------------------------- */

static int cfg_verror(struct cfg_ctx *x, const char *file, int line, const char *key,
                      const char *fmt, va_list ap)
{
    char msg[1024];
    size_t used = 0, o = 0;
    int n;

    if (x->err == NULL || x->errlen == 0)
        return -1;
    if (line > 0)
        n = snprintf(msg, sizeof msg, "%s:%d: ", file, line);
    else
        n = snprintf(msg, sizeof msg, "%s: ", file);
    if (n > 0)
        used = (size_t)n < sizeof msg ? (size_t)n : sizeof msg - 1;
    if (key != NULL) {
        n = snprintf(msg + used, sizeof msg - used, "%s: ", key);
        if (n > 0)
            used += (size_t)n < sizeof msg - used ? (size_t)n : sizeof msg - used - 1;
    }
    vsnprintf(msg + used, sizeof msg - used, fmt, ap);

    /* One line, whatever the file held: control bytes in echoed values are escaped. */
    for (const char *p = msg; *p != '\0'; p++) {
        unsigned char ch = (unsigned char)*p;
        char esc[5];
        size_t elen;

        if (ch == '\n' || ch == '\t') {
            esc[0] = '\\';
            esc[1] = ch == '\n' ? 'n' : 't';
            elen = 2;
        } else if (ch < 0x20 || ch == 0x7f) {
            snprintf(esc, sizeof esc, "\\x%02x", (unsigned)ch);
            elen = 4;
        } else {
            esc[0] = (char)ch;
            elen = 1;
        }
        if (o + elen >= x->errlen)
            break;
        memcpy(x->err + o, esc, elen);
        o += elen;
    }
    x->err[o] = '\0';
    return -1;
}

/* Error at an explicit place; line <= 0 leaves the line out. Returns -1. */
static int CFG_PRINTF(5, 6) cfg_error_at(struct cfg_ctx *x, const char *file, int line,
                                         const char *key, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    cfg_verror(x, file, line, key, fmt, ap);
    va_end(ap);
    return -1;
}

/* Error about setting `s` (its file and line). Returns -1. */
static int CFG_PRINTF(4, 5) cfg_error(struct cfg_ctx *x, const config_setting_t *s,
                                      const char *key, const char *fmt, ...)
{
    va_list ap;
    const char *file = config_setting_source_file(s);

    va_start(ap, fmt);
    cfg_verror(x, file != NULL ? file : x->path, (int)config_setting_source_line(s), key, fmt,
               ap);
    va_end(ap);
    return -1;
}

static const char *cfg_type_name(const config_setting_t *s)
{
    switch (config_setting_type(s)) {
    case CONFIG_TYPE_GROUP: return "a group";
    case CONFIG_TYPE_INT: return "an integer";
    case CONFIG_TYPE_INT64: return "an integer";
    case CONFIG_TYPE_FLOAT: return "a float";
    case CONFIG_TYPE_STRING: return "a string";
    case CONFIG_TYPE_BOOL: return "a boolean";
    case CONFIG_TYPE_ARRAY: return "an array";
    case CONFIG_TYPE_LIST: return "a list";
    default: return "nothing";
    }
}

/* Values ------------------------------------------------------------------ */

static void cfg_store_str(char *dst, size_t size, const char *s)
{
    /* Zero the whole field so configs compare equal byte for byte. */
    memset(dst, 0, size);
    memcpy(dst, s, strlen(s));
}

static void cfg_store_uint(const struct cfg_key *k, void *p, uint64_t v)
{
    if (k->size == sizeof(uint64_t)) {
        memcpy(p, &v, sizeof v);
    } else {
        uint32_t u = (uint32_t)v;
        memcpy(p, &u, sizeof u);
    }
}

static uint64_t cfg_load_uint(const struct cfg_key *k, const void *p)
{
    if (k->size == sizeof(uint64_t)) {
        uint64_t v;
        memcpy(&v, p, sizeof v);
        return v;
    }
    uint32_t u;
    memcpy(&u, p, sizeof u);
    return u;
}

/*
 * Parses a byte count: decimal digits, optionally followed by K, M or G
 * (either case; powers of 1024). Returns 0, or -1 on bad syntax or overflow.
 */
static int cfg_parse_size(const char *s, uint64_t *out)
{
    const char *p = s;
    uint64_t v = 0;
    unsigned shift = 0;

    if (*p < '0' || *p > '9')
        return -1;
    for (; *p >= '0' && *p <= '9'; p++) {
        unsigned d = (unsigned)(*p - '0');
        if (v > (UINT64_MAX - d) / 10)
            return -1;
        v = v * 10 + d;
    }
    switch (*p) {
    case 'k': case 'K': shift = 10; p++; break;
    case 'm': case 'M': shift = 20; p++; break;
    case 'g': case 'G': shift = 30; p++; break;
    default: break;
    }
    if (*p != '\0' || v > (UINT64_MAX >> shift))
        return -1;
    *out = v << shift;
    return 0;
}

static int cfg_check_nonempty(const char *s, char *why, size_t whylen)
{
    if (*s != '\0')
        return 0;
    snprintf(why, whylen, "must not be empty");
    return -1;
}

/* ffmpeg's options for a ladder step: words split at spaces and tabs, as
 * ladder.c splits them, at most RTMPD_LADDER_MAX_ARGS. */
static int cfg_check_ladder_args(const char *s, char *why, size_t whylen)
{
    unsigned words = 0;
    for (const char *p = s; *p; p++)
        if (*p != ' ' && *p != '\t' && (p == s || p[-1] == ' ' || p[-1] == '\t'))
            words++;
    if (words == 0) {
        snprintf(why, whylen, "must not be empty");
        return -1;
    }
    if (words > RTMPD_LADDER_MAX_ARGS) {
        snprintf(why, whylen, "too many words (%u, at most %d)", words, RTMPD_LADDER_MAX_ARGS);
        return -1;
    }
    return 0;
}

static int cfg_check_app_name(const char *s, char *why, size_t whylen)
{
    const char *p;

    if (*s == '\0') {
        snprintf(why, whylen, "must not be empty");
        return -1;
    }
    for (p = s; *p != '\0'; p++) {
        char ch = *p;
        if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9')
            || ch == '_' || ch == '.' || ch == '-')
            continue;
        if ((unsigned char)ch >= 0x20 && (unsigned char)ch < 0x7f)
            snprintf(why, whylen, "\"%s\": invalid character '%c' (allowed: A-Z a-z 0-9 _ . -)",
                     s, ch);
        else
            snprintf(why, whylen, "invalid byte 0x%02x (allowed: A-Z a-z 0-9 _ . -)",
                     (unsigned)(unsigned char)ch);
        return -1;
    }
    if (strcmp(s, ".") == 0 || strcmp(s, "..") == 0) {
        snprintf(why, whylen, "\"%s\" is not a valid name", s);
        return -1;
    }
    return 0;
}

/* A string compared with a header value (http.token): no control
 * character (0x00-0x1f, 0x7f), which no header value can carry. */
static int cfg_check_no_controls(const char *s, char *why, size_t whylen)
{
    for (const char *p = s; *p; p++) {
        unsigned char ch = (unsigned char)*p;
        if (ch < 0x20 || ch == 0x7f) {
            snprintf(why, whylen, "control character 0x%02x at byte %zu is not allowed", ch,
                     (size_t)(p - s));
            return -1;
        }
    }
    return 0;
}

/* A string sent as a header value (http.cors_origin): RFC 9110 field
 * content in printable ASCII (0x21-0x7e, spaces only inside), so it can
 * neither end the header nor add another. */
static int cfg_check_header_value(const char *s, char *why, size_t whylen)
{
    if (cfg_check_no_controls(s, why, whylen) < 0)
        return -1;
    size_t n = strlen(s);
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch >= 0x80) {
            snprintf(why, whylen, "byte 0x%02x at byte %zu is not allowed in a header value "
                     "(printable ASCII only)", ch, i);
            return -1;
        }
    }
    if (n && (s[0] == ' ' || s[n - 1] == ' ')) {
        snprintf(why, whylen, "leading or trailing space is not allowed in a header value");
        return -1;
    }
    return 0;
}

/* A stream name in the config (abr names and renditions, ladder suffixes):
 * the rule every protocol applies to the names clients send. */
static int cfg_check_stream_name(const char *s, char *why, size_t whylen)
{
    const char *problem = rtmpd_stream_name_problem(s, strlen(s), RTMPD_CONFIG_NAME_MAX - 1);
    if (problem == NULL)
        return 0;
    snprintf(why, whylen, "\"%s\": %s (1..%d bytes of A-Z a-z 0-9 _ . ~ - in segments joined by /)",
             s, problem, RTMPD_CONFIG_NAME_MAX - 1);
    return -1;
}

/*
 * Parses and normalises one listen address: "A.B.C.D:PORT", "[IPV6]:PORT"
 * or "*:PORT" (stored as "0.0.0.0:PORT"). Host names are not accepted: no
 * resolver runs at load time. Returns 0, or -1 with `why` filled.
 */
static int cfg_parse_listen_port(const char *s, char *out, size_t outlen, char *why,
                                 size_t whylen, unsigned long min_port)
{
    char host[64];
    const char *port, *colon;
    size_t hlen;
    unsigned long pnum = 0;
    int v6 = 0;

    if (s[0] == '[') {
        const char *close = strchr(s, ']');
        if (close == NULL) {
            snprintf(why, whylen, "\"%s\": missing ']' after the IPv6 address", s);
            return -1;
        }
        if (close[1] != ':') {
            snprintf(why, whylen, "\"%s\": missing port (expected \"[addr]:port\")", s);
            return -1;
        }
        hlen = (size_t)(close - (s + 1));
        if (hlen >= sizeof host) {
            snprintf(why, whylen, "\"%s\": not an IPv6 address", s);
            return -1;
        }
        memcpy(host, s + 1, hlen);
        host[hlen] = '\0';
        port = close + 2;
        v6 = 1;
    } else {
        colon = strrchr(s, ':');
        if (colon == NULL) {
            snprintf(why, whylen, "\"%s\": missing port (expected \"addr:port\")", s);
            return -1;
        }
        if (strchr(s, ':') != colon) {
            snprintf(why, whylen,
                     "\"%s\": an IPv6 address must be in brackets, e.g. \"[::]:1935\"", s);
            return -1;
        }
        hlen = (size_t)(colon - s);
        if (hlen == 0 || hlen >= sizeof host) {
            snprintf(why, whylen, "\"%s\": missing or bad address", s);
            return -1;
        }
        memcpy(host, s, hlen);
        host[hlen] = '\0';
        port = colon + 1;
    }

    if (!v6 && strcmp(host, "*") == 0) {
        strcpy(host, "0.0.0.0");
    } else {
        unsigned char bin[16];
        if (inet_pton(v6 ? AF_INET6 : AF_INET, host, bin) != 1) {
            snprintf(why, whylen, "\"%s\": \"%s\" is not an %s address%s", s, host,
                     v6 ? "IPv6" : "IPv4", v6 ? "" : " (host names are not resolved)");
            return -1;
        }
    }

    if (*port == '\0') {
        snprintf(why, whylen, "\"%s\": missing port", s);
        return -1;
    }
    for (const char *p = port; *p != '\0'; p++) {
        if (*p < '0' || *p > '9' || p - port >= 5) {
            snprintf(why, whylen, "\"%s\": bad port \"%s\" (expected 1..65535)", s, port);
            return -1;
        }
        pnum = pnum * 10 + (unsigned long)(*p - '0');
    }
    if (pnum < min_port || pnum > 65535) {
        snprintf(why, whylen, "\"%s\": port %lu is out of range %lu..65535", s, pnum, min_port);
        return -1;
    }

    snprintf(out, outlen, v6 ? "[%s]:%lu" : "%s:%lu", host, pnum);
    return 0;
}

/* Port 0 (any free port, logged at start) is allowed: tests use it. */
static int cfg_parse_listen(const char *s, char *out, size_t outlen, char *why, size_t whylen)
{
    return cfg_parse_listen_port(s, out, outlen, why, whylen, 0);
}

int rtmpd_config_parse_listen(const char *s, char *out, size_t outlen, char *why, size_t whylen)
{
    return cfg_parse_listen_port(s, out, outlen, why, whylen, 0);
}

/* A normalised listen address ("A.B.C.D:P" or "[IPV6]:P") with its family,
 * address bytes and port. */
struct cfg_listener {
    const char *key, *addr; /* key[i] = "addr" */
    uint32_t i;
    int v6;
    unsigned char bin[16];
    unsigned long port;
};

static void cfg_split_listen(struct cfg_listener *l)
{
    char host[64];
    const char *a = l->addr, *colon = strrchr(a, ':');
    size_t hlen = colon ? (size_t)(colon - a) : 0;
    l->v6 = a[0] == '[';
    if (l->v6 && hlen >= 2) {
        a++;
        hlen -= 2;
    }
    if (hlen >= sizeof host)
        hlen = sizeof host - 1;
    memcpy(host, a, hlen);
    host[hlen] = '\0';
    memset(l->bin, 0, sizeof l->bin);
    if (inet_pton(l->v6 ? AF_INET6 : AF_INET, host, l->bin) != 1)
        memset(l->bin, 0xff, sizeof l->bin);
    l->port = colon ? strtoul(colon + 1, NULL, 10) : 0;
}

int rtmpd_config_check_listeners(const struct rtmpd_config *c, char *err, size_t errlen)
{
    static const unsigned char any[16];
    struct cfg_listener all[2 * RTMPD_CONFIG_MAX_LIST];
    uint32_t n = 0;
    for (uint32_t i = 0; i < c->listen.n; i++)
        all[n++] = (struct cfg_listener){ .key = "listen", .addr = c->listen.v[i], .i = i };
    for (uint32_t i = 0; i < c->http.listen.n; i++)
        all[n++] = (struct cfg_listener){ .key = "http.listen", .addr = c->http.listen.v[i],
                                          .i = i };
    for (uint32_t k = 0; k < n; k++)
        cfg_split_listen(&all[k]);
    for (uint32_t a = 0; a < n; a++) {
        for (uint32_t b = a + 1; b < n && all[a].port != 0; b++) {
            const unsigned char *ba = all[a].bin, *bb = all[b].bin;
            if (all[a].port != all[b].port || all[a].v6 != all[b].v6)
                continue;
            if (memcmp(ba, bb, 16) == 0 || memcmp(ba, any, 16) == 0 || memcmp(bb, any, 16) == 0) {
                snprintf(err, errlen, "%s[%u] \"%s\" and %s[%u] \"%s\" cannot both listen "
                         "(same port, overlapping addresses)", all[a].key, all[a].i, all[a].addr,
                         all[b].key, all[b].i, all[b].addr);
                return -1;
            }
        }
    }
    return 0;
}

/*
 * Parses and normalises a CIDR: "A.B.C.D/N" (N <= 32) or "IPV6/N" (N <=
 * 128); a bare address means a single host (/32 or /128). Host bits must be
 * zero, so a typo cannot silently widen the range. Returns 0, or -1 with
 * `why` filled.
 */
static int cfg_parse_cidr(const char *s, char *out, size_t outlen, char *why, size_t whylen)
{
    char host[64];
    unsigned char bin[16];
    const char *slash = strchr(s, '/');
    size_t hlen = slash != NULL ? (size_t)(slash - s) : strlen(s);
    int v6, bits;
    unsigned long prefix;

    if (hlen == 0 || hlen >= sizeof host) {
        snprintf(why, whylen, "\"%s\": missing or bad address (expected \"addr/prefix\")", s);
        return -1;
    }
    memcpy(host, s, hlen);
    host[hlen] = '\0';
    v6 = strchr(host, ':') != NULL;
    if (inet_pton(v6 ? AF_INET6 : AF_INET, host, bin) != 1) {
        snprintf(why, whylen, "\"%s\": \"%s\" is not an %s address", s, host,
                 v6 ? "IPv6" : "IPv4");
        return -1;
    }
    bits = v6 ? 128 : 32;
    prefix = (unsigned long)bits;
    if (slash != NULL) {
        char *end;
        if (slash[1] < '0' || slash[1] > '9') {
            snprintf(why, whylen, "\"%s\": bad prefix length", s);
            return -1;
        }
        prefix = strtoul(slash + 1, &end, 10);
        if (*end != '\0' || prefix > (unsigned long)bits) {
            snprintf(why, whylen, "\"%s\": bad prefix length (0..%d)", s, bits);
            return -1;
        }
    }
    for (int b = (int)prefix; b < bits; b++) {
        if (bin[b / 8] & (0x80 >> (b % 8))) {
            snprintf(why, whylen, "\"%s\": address has bits set beyond /%lu", s, prefix);
            return -1;
        }
    }
    if ((size_t)snprintf(out, outlen, "%s/%lu", host, prefix) >= outlen) {
        snprintf(why, whylen, "\"%s\": too long", s);
        return -1;
    }
    return 0;
}

/* Tables ------------------------------------------------------------------ */

static const struct cfg_key *cfg_find(const struct cfg_table *t, const char *name)
{
    for (size_t i = 0; i < t->nkeys; i++)
        if (strcmp(t->keys[i].name, name) == 0)
            return &t->keys[i];
    return NULL;
}

/* Whether `path` is a section: a proper prefix ("log" of "log.level"). */
static int cfg_is_section(const struct cfg_table *t, const char *path)
{
    size_t len = strlen(path);

    for (size_t i = 0; i < t->nkeys; i++)
        if (strncmp(t->keys[i].name, path, len) == 0 && t->keys[i].name[len] == '.')
            return 1;
    return 0;
}

/* The next path component of `name` below section `sec` (NULL: top). */
static const char *cfg_component(const char *name, const char *sec, size_t *len)
{
    if (sec != NULL) {
        size_t slen = strlen(sec);
        if (strncmp(name, sec, slen) != 0 || name[slen] != '.')
            return NULL;
        name += slen + 1;
    }
    const char *dot = strchr(name, '.');
    *len = dot != NULL ? (size_t)(dot - name) : strlen(name);
    return name;
}

/* Lists the keys valid in section `sec` (NULL: top), for error messages. */
static void cfg_valid_keys(const struct cfg_table *t, const char *sec, char *out, size_t outlen)
{
    size_t used = 0;

    out[0] = '\0';
    for (size_t i = 0; i < t->nkeys; i++) {
        size_t len, plen;
        const char *c = cfg_component(t->keys[i].name, sec, &len);
        int dup = 0;
        if (c == NULL)
            continue;
        for (size_t j = 0; j < i && !dup; j++) {
            const char *p = cfg_component(t->keys[j].name, sec, &plen);
            dup = p != NULL && plen == len && memcmp(p, c, len) == 0;
        }
        if (dup)
            continue;
        int n = snprintf(out + used, outlen - used, "%s%.*s", used ? ", " : "", (int)len, c);
        if (n < 0 || (size_t)n >= outlen - used)
            return;
        used += (size_t)n;
    }
}

static void cfg_apply_defaults(const struct cfg_table *t, void *base)
{
    for (size_t i = 0; i < t->nkeys; i++) {
        const struct cfg_key *k = &t->keys[i];
        char *p = (char *)base + k->offset;

        switch (k->type) {
        case CFG_UINT:
            assert(k->size == sizeof(uint64_t) || (k->size == sizeof(uint32_t)
                                                   && k->max <= UINT32_MAX));
            assert(k->def >= k->min && k->def <= k->max);
            cfg_store_uint(k, p, k->def);
            break;
        case CFG_BOOL:
            *(int *)(void *)p = (int)k->def;
            break;
        case CFG_STRING:
            cfg_store_str(p, k->size, k->sdef);
            break;
        case CFG_LOGLEVEL:
            *(enum rtmpd_log_level *)(void *)p = (enum rtmpd_log_level)k->def;
            break;
        case CFG_ADDRS: {
            /* sdef: comma-separated, already normalised */
            struct rtmpd_addr_list *l = (struct rtmpd_addr_list *)(void *)p;
            const char *d = k->sdef;
            memset(l, 0, sizeof *l);
            while (*d != '\0' && l->n < RTMPD_CONFIG_MAX_LIST) {
                size_t len = strcspn(d, ",");
                assert(len < sizeof l->v[0]);
                memcpy(l->v[l->n++], d, len);
                d += len + (d[len] == ',');
            }
            break;
        }
        case CFG_GROUPS: {
            const struct cfg_groups *g = k->groups;
            uint32_t *count = (uint32_t *)(void *)((char *)base + g->count_offset);
            memset(p, 0, k->size);
            *count = 0;
            if (k->sdef != NULL) {
                /* One default element whose unique key is sdef. */
                const struct cfg_key *u = cfg_find(g->table, g->unique);
                cfg_apply_defaults(g->table, p);
                cfg_store_str(p + u->offset, u->size, k->sdef);
                *count = 1;
            }
            break;
        }
        }
    }
}

/* Loading ----------------------------------------------------------------- */

static int cfg_walk_table(struct cfg_ctx *x, const struct cfg_table *t, void *base,
                          const config_setting_t *group, const char *disp);

static int cfg_get_uint(struct cfg_ctx *x, const struct cfg_key *k, const config_setting_t *s,
                        const char *key, uint64_t *out)
{
    int type = config_setting_type(s);
    const char *str;
    long long v;
    uint64_t u;

    if (type == CONFIG_TYPE_STRING && (k->flags & CFG_SIZE)) {
        str = config_setting_get_string(s);
        if (cfg_parse_size(str, &u) < 0)
            return cfg_error(x, s, key,
                             "bad size \"%s\" (expected digits with an optional K, M or G "
                             "suffix, e.g. \"8M\")", str);
        if (u < k->min || u > k->max)
            return cfg_error(x, s, key, "\"%s\" (%llu) is out of range %llu..%llu", str,
                             (unsigned long long)u, (unsigned long long)k->min,
                             (unsigned long long)k->max);
        *out = u;
        return 0;
    }
    if (type == CONFIG_TYPE_INT)
        v = config_setting_get_int(s);
    else if (type == CONFIG_TYPE_INT64)
        v = config_setting_get_int64(s);
    else
        return cfg_error(x, s, key, "expected %s, got %s",
                         (k->flags & CFG_SIZE) ? "an integer or a size string such as \"8M\""
                                               : "an integer",
                         cfg_type_name(s));
    if (v < 0 || (uint64_t)v < k->min || (uint64_t)v > k->max)
        return cfg_error(x, s, key, "%lld is out of range %llu..%llu", v,
                         (unsigned long long)k->min, (unsigned long long)k->max);
    *out = (uint64_t)v;
    return 0;
}

static int cfg_get_string(struct cfg_ctx *x, const config_setting_t *s, const char *key,
                          const char **out)
{
    if (config_setting_type(s) != CONFIG_TYPE_STRING)
        return cfg_error(x, s, key, "expected a string, got %s", cfg_type_name(s));
    *out = config_setting_get_string(s);
    return 0;
}

static int cfg_set_addrs(struct cfg_ctx *x, const struct cfg_key *k, struct rtmpd_addr_list *l,
                         const config_setting_t *s, const char *key)
{
    char why[192], ekey[CFG_KEYPATH_MAX + 32];
    const char *what = (k->flags & CFG_CIDR)    ? "\"addr/prefix\""
                       : (k->flags & CFG_NAMES) ? "\"name\""
                                                : "\"addr:port\"";
    struct rtmpd_addr_list tmp;
    int n;

    if (config_setting_type(s) != CONFIG_TYPE_ARRAY && config_setting_type(s) != CONFIG_TYPE_LIST)
        return cfg_error(x, s, key, "expected an array of strings [ %s, ... ], got %s", what,
                         cfg_type_name(s));
    n = config_setting_length(s);
    if ((uint64_t)n < k->min)
        return cfg_error(x, s, key, "at least %llu %s is required", (unsigned long long)k->min,
                         (k->flags & CFG_NAMES) ? "name" : "address");
    if ((uint64_t)n > k->max)
        return cfg_error(x, s, key, "too many %s (%d, at most %llu)",
                         (k->flags & CFG_NAMES) ? "names" : "addresses", n,
                         (unsigned long long)k->max);

    memset(&tmp, 0, sizeof tmp);
    for (int i = 0; i < n; i++) {
        const config_setting_t *e = config_setting_get_elem(s, (unsigned)i);
        const char *str = NULL;
        int rc;

        snprintf(ekey, sizeof ekey, "%s[%d]", key, i);
        if (cfg_get_string(x, e, ekey, &str) < 0)
            return -1;
        if (k->flags & CFG_CIDR) {
            rc = cfg_parse_cidr(str, tmp.v[i], sizeof tmp.v[i], why, sizeof why);
        } else if (k->flags & CFG_NAMES) {
            rc = cfg_check_stream_name(str, why, sizeof why);
            if (rc == 0)
                cfg_store_str(tmp.v[i], sizeof tmp.v[i], str);
        } else
            rc = cfg_parse_listen(str, tmp.v[i], sizeof tmp.v[i], why, sizeof why);
        if (rc < 0)
            return cfg_error(x, e, ekey, "%s", why);
        for (int j = 0; j < i; j++)
            if (strcmp(tmp.v[j], tmp.v[i]) == 0)
                return cfg_error(x, e, ekey, "duplicate address \"%s\" (also %s[%d])", str, key,
                                 j);
    }
    tmp.n = (uint32_t)n;
    *l = tmp;
    return 0;
}

static int cfg_set_groups(struct cfg_ctx *x, const struct cfg_key *k, void *base,
                          const config_setting_t *s, const char *key)
{
    const struct cfg_groups *g = k->groups;
    const struct cfg_key *u = g->unique != NULL ? cfg_find(g->table, g->unique) : NULL;
    char *elems = (char *)base + k->offset;
    uint32_t *count = (uint32_t *)(void *)((char *)base + g->count_offset);
    char ekey[2 * CFG_KEYPATH_MAX];
    int first_line[64];
    int n;

    if (config_setting_type(s) != CONFIG_TYPE_LIST)
        return cfg_error(x, s, key, "expected a list of groups ( { ... }, ... ), got %s",
                         cfg_type_name(s));
    n = config_setting_length(s);
    if ((uint64_t)n < k->min)
        return cfg_error(x, s, key, "at least %llu %s is required", (unsigned long long)k->min,
                         g->what);
    if ((uint64_t)n > k->max)
        return cfg_error(x, s, key, "too many %ss (%d, at most %llu)", g->what, n,
                         (unsigned long long)k->max);
    assert(k->max <= sizeof first_line / sizeof first_line[0]);
    assert(k->max * g->elem_size <= k->size);

    memset(elems, 0, k->size);
    for (int i = 0; i < n; i++) {
        const config_setting_t *e = config_setting_get_elem(s, (unsigned)i);
        char *elem = elems + (size_t)i * g->elem_size;

        snprintf(ekey, sizeof ekey, "%s[%d]", key, i);
        if (!config_setting_is_group(e))
            return cfg_error(x, e, ekey, "expected a group { ... }, got %s", cfg_type_name(e));
        cfg_apply_defaults(g->table, elem);
        if (cfg_walk_table(x, g->table, elem, e, ekey) < 0)
            return -1;
        if (u == NULL)
            continue;
        const config_setting_t *us = config_setting_get_member(e, u->name);
        first_line[i] = us != NULL ? (int)config_setting_source_line(us) : 0;
        for (int j = 0; j < i; j++) {
            if (strcmp(elems + (size_t)j * g->elem_size + u->offset, elem + u->offset) != 0)
                continue;
            snprintf(ekey, sizeof ekey, "%s[%d].%s", key, i, u->name);
            return cfg_error(x, us, ekey, "duplicate %s %s \"%s\" (first at line %d)", g->what,
                             u->name, elem + u->offset, first_line[j]);
        }
    }
    *count = (uint32_t)n;
    return 0;
}

/* Reads setting `s` into the field of key `k`; `key` is its display path. */
static int cfg_set(struct cfg_ctx *x, const struct cfg_key *k, void *base,
                   const config_setting_t *s, const char *key)
{
    char *p = (char *)base + k->offset;
    char why[192];
    const char *str = NULL;
    uint64_t u = 0;
    int lvl;

    switch (k->type) {
    case CFG_UINT:
        if (cfg_get_uint(x, k, s, key, &u) < 0)
            return -1;
        cfg_store_uint(k, p, u);
        return 0;
    case CFG_BOOL:
        if (config_setting_type(s) != CONFIG_TYPE_BOOL)
            return cfg_error(x, s, key, "expected a boolean (true or false), got %s",
                             cfg_type_name(s));
        *(int *)(void *)p = config_setting_get_bool(s) ? 1 : 0;
        return 0;
    case CFG_STRING:
        if (cfg_get_string(x, s, key, &str) < 0)
            return -1;
        if (strlen(str) >= k->size)
            return cfg_error(x, s, key, "too long (%zu bytes, at most %zu)", strlen(str),
                             k->size - 1);
        if (k->check != NULL && k->check(str, why, sizeof why) < 0)
            return cfg_error(x, s, key, "%s", why);
        cfg_store_str(p, k->size, str);
        return 0;
    case CFG_LOGLEVEL:
        if (cfg_get_string(x, s, key, &str) < 0)
            return -1;
        lvl = rtmpd_log_level_parse(str);
        if (lvl < 0)
            return cfg_error(x, s, key,
                             "unknown level \"%s\" (expected error, warn, info or debug)", str);
        *(enum rtmpd_log_level *)(void *)p = (enum rtmpd_log_level)lvl;
        return 0;
    case CFG_ADDRS:
        return cfg_set_addrs(x, k, (struct rtmpd_addr_list *)(void *)p, s, key);
    case CFG_GROUPS:
        return cfg_set_groups(x, k, base, s, key);
    }
    return cfg_error(x, s, key, "internal error: unknown key type");
}

static int cfg_join(char *out, size_t outlen, const char *a, const char *b)
{
    int n = a != NULL ? snprintf(out, outlen, "%s.%s", a, b) : snprintf(out, outlen, "%s", b);
    return n < 0 || (size_t)n >= outlen ? -1 : 0;
}

/*
 * Reads the members of `group` (section `rel` of table `t`, NULL for its
 * root) into `base`; every member must be a key or a section of `t`.
 * seen[i] is set to the setting that gave key i its value.
 */
static int cfg_walk(struct cfg_ctx *x, const struct cfg_table *t, void *base,
                    const config_setting_t *group, const char *rel, const char *disp,
                    const config_setting_t **seen)
{
    int n = config_setting_length(group);

    for (int i = 0; i < n; i++) {
        const config_setting_t *s = config_setting_get_elem(group, (unsigned)i);
        const char *name = config_setting_name(s);
        char r[CFG_KEYPATH_MAX], d[CFG_KEYPATH_MAX];
        const struct cfg_key *k;

        if (name == NULL)
            return cfg_error(x, s, disp != NULL ? disp : "(top)", "unnamed setting");
        if (cfg_join(r, sizeof r, rel, name) < 0 || cfg_join(d, sizeof d, disp, name) < 0)
            return cfg_error(x, s, name, "unknown key (name too long)");

        k = cfg_find(t, r);
        if (k != NULL) {
            seen[k - t->keys] = s;
            if (cfg_set(x, k, base, s, d) < 0)
                return -1;
            continue;
        }
        if (cfg_is_section(t, r)) {
            if (!config_setting_is_group(s))
                return cfg_error(x, s, d, "expected a group { ... }, got %s", cfg_type_name(s));
            if (cfg_walk(x, t, base, s, r, d, seen) < 0)
                return -1;
            continue;
        }
        char valid[256];
        cfg_valid_keys(t, rel, valid, sizeof valid);
        return cfg_error(x, s, d, "unknown key (valid here: %s)", valid);
    }
    return 0;
}

/*
 * Reads `group` as the root of table `t` into `base` (defaults already
 * there), then checks required keys and the table's cross-field rules.
 * `disp` prefixes key paths in messages (NULL at the top level).
 */
static int cfg_walk_table(struct cfg_ctx *x, const struct cfg_table *t, void *base,
                          const config_setting_t *group, const char *disp)
{
    const config_setting_t *seen[CFG_MAX_KEYS] = { 0 };
    char key[CFG_KEYPATH_MAX];

    assert(t->nkeys <= CFG_MAX_KEYS);
    if (cfg_walk(x, t, base, group, NULL, disp, seen) < 0)
        return -1;

    for (size_t i = 0; i < t->nkeys; i++) {
        if ((t->keys[i].flags & CFG_REQUIRED) && seen[i] == NULL) {
            cfg_join(key, sizeof key, disp, t->keys[i].name);
            return cfg_error(x, group, key, "required key is missing");
        }
    }

    for (size_t i = 0; i < t->nrules; i++) {
        const struct cfg_key *lo = cfg_find(t, t->rules[i].lo);
        const struct cfg_key *hi = cfg_find(t, t->rules[i].hi);

        assert(lo != NULL && lo->type == CFG_UINT && hi != NULL && hi->type == CFG_UINT);
        uint64_t vlo = cfg_load_uint(lo, (const char *)base + lo->offset);
        uint64_t vhi = cfg_load_uint(hi, (const char *)base + hi->offset);

        if (vlo <= vhi)
            continue;
        /* Blame the key the file set; if both, the one that must be lower. */
        if (seen[lo - t->keys] != NULL || seen[hi - t->keys] == NULL) {
            cfg_join(key, sizeof key, disp, lo->name);
            return cfg_error(x, seen[lo - t->keys] != NULL ? seen[lo - t->keys] : group, key,
                             "%llu must not exceed %s (%llu)", (unsigned long long)vlo,
                             hi->name, (unsigned long long)vhi);
        }
        cfg_join(key, sizeof key, disp, hi->name);
        return cfg_error(x, seen[hi - t->keys], key, "%llu must not be below %s (%llu)",
                         (unsigned long long)vhi, lo->name, (unsigned long long)vlo);
    }
    return 0;
}

/* Plain integer literals ------------------------------------------------- */

static int cfg_is_alpha(int ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z');
}

static int cfg_is_digit(int ch)
{
    return ch >= '0' && ch <= '9';
}

static int cfg_hexval(int ch)
{
    if (cfg_is_digit(ch))
        return ch - '0';
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F')
        return ch - 'A' + 10;
    return -1;
}

static char *cfg_read_all(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL, *nbuf;
    size_t cap = 0, n = 0, r;

    if (f == NULL)
        return NULL;
    for (;;) {
        if (n == cap) {
            if (cap >= 64 * MiB)
                goto fail; /* not a config file; let libconfig's answer stand */
            cap = cap ? cap * 2 : 4096;
            nbuf = realloc(buf, cap);
            if (nbuf == NULL)
                goto fail;
            buf = nbuf;
        }
        r = fread(buf + n, 1, cap - n, f);
        n += r;
        if (r == 0)
            break;
    }
    if (ferror(f))
        goto fail;
    fclose(f);
    *len = n;
    return buf;

fail:
    free(buf);
    fclose(f);
    return NULL;
}

/* Where the literal scan is in the setting tree, to name keys in errors. */
#define CFG_SCAN_DEPTH 16

struct cfg_scan_frame {
    char open;      /* '{' group, '(' list, '[' array */
    int index;      /* current element of a list or array */
    char name[64];  /* setting name; "" for a group that is a list element */
};

struct cfg_scan {
    struct cfg_scan_frame frames[CFG_SCAN_DEPTH];
    int depth;      /* may exceed CFG_SCAN_DEPTH; deeper frames are not kept */
    char name[64];  /* name of the setting whose value comes next */
};

/* Writes the key path of the value at the scan position ("apps[0].queue.max_ms"). */
static void cfg_scan_path(const struct cfg_scan *sc, char *out, size_t outlen)
{
    size_t used = 0;
    int n = sc->depth < CFG_SCAN_DEPTH ? sc->depth : CFG_SCAN_DEPTH;
    int r;

    out[0] = '\0';
    for (int i = 0; i < n; i++) {
        const struct cfg_scan_frame *f = &sc->frames[i];
        if (f->name[0] != '\0')
            r = snprintf(out + used, outlen - used, "%s%s", used ? "." : "", f->name);
        else
            r = 0;
        if (r >= 0 && (size_t)r < outlen - used)
            used += (size_t)r;
        if (f->open != '{') {
            r = snprintf(out + used, outlen - used, "[%d]", f->index);
            if (r >= 0 && (size_t)r < outlen - used)
                used += (size_t)r;
        }
    }
    if (n == 0 || sc->frames[n - 1].open == '{')
        snprintf(out + used, outlen - used, "%s%s", used ? "." : "", sc->name);
}

/*
 * libconfig 1.5 silently wraps an integer literal that does not fit in 32
 * bits unless it carries an L suffix (5000000000 is read as 705032704), so
 * a too-large value could pass the range check as a different number. This
 * scans the text of an already parsed file (and its @include files) and
 * rejects such literals. It knows just enough of the syntax: comments,
 * strings, names, "=" / ":", brackets, "," and numbers.
 */
static int cfg_check_literals(struct cfg_ctx *x, const char *file, int incdepth,
                              struct cfg_scan *sc)
{
    size_t len;
    char *buf = cfg_read_all(file, &len);
    const char *p, *end;
    char pending[64] = "";
    int line = 1, include = 0, rc = 0;

    if (buf == NULL)
        return 0;
    p = buf;
    end = buf + len;
    while (p < end && rc == 0) {
        char ch = *p;

        if (ch == '\n') {
            line++;
            p++;
        } else if (ch == '#' || (ch == '/' && p + 1 < end && p[1] == '/')) {
            while (p < end && *p != '\n')
                p++;
        } else if (ch == '/' && p + 1 < end && p[1] == '*') {
            for (p += 2; p < end && !(*p == '*' && p + 1 < end && p[1] == '/'); p++)
                if (*p == '\n')
                    line++;
            p = p + 2 < end ? p + 2 : end;
        } else if (ch == '"') {
            const char *start = ++p;
            for (; p < end && *p != '"'; p++) {
                if (*p == '\\' && p + 1 < end)
                    p++;
                if (*p == '\n')
                    line++;
            }
            if (include && incdepth < 10) {
                char inc[RTMPD_CONFIG_PATH_MAX];
                size_t ilen = (size_t)(p - start);
                if (ilen < sizeof inc) {
                    memcpy(inc, start, ilen);
                    inc[ilen] = '\0';
                    rc = cfg_check_literals(x, inc, incdepth + 1, sc);
                }
            }
            include = 0;
            if (p < end)
                p++;
        } else if (ch == '@') {
            include = end - p >= 8 && memcmp(p, "@include", 8) == 0;
            p += include ? 8 : 1;
        } else if (cfg_is_alpha(ch) || ch == '*') {
            size_t n = 0;
            for (; p < end && (cfg_is_alpha(*p) || cfg_is_digit(*p) || *p == '*' || *p == '-'
                               || *p == '_'); p++)
                if (n + 1 < sizeof pending)
                    pending[n++] = *p;
            pending[n] = '\0';
        } else if (ch == '=' || ch == ':') {
            memcpy(sc->name, pending, sizeof sc->name);
            pending[0] = '\0';
            p++;
        } else if (ch == '{' || ch == '(' || ch == '[') {
            if (sc->depth < CFG_SCAN_DEPTH) {
                struct cfg_scan_frame *f = &sc->frames[sc->depth];
                int in_list = sc->depth > 0 && sc->frames[sc->depth - 1].open != '{';
                f->open = ch;
                f->index = 0;
                if (in_list)
                    f->name[0] = '\0';
                else
                    memcpy(f->name, sc->name, sizeof f->name);
            }
            sc->depth++;
            sc->name[0] = '\0';
            p++;
        } else if (ch == '}' || ch == ')' || ch == ']') {
            if (sc->depth > 0)
                sc->depth--;
            p++;
        } else if (ch == ',') {
            if (sc->depth > 0 && sc->depth <= CFG_SCAN_DEPTH
                && sc->frames[sc->depth - 1].open != '{')
                sc->frames[sc->depth - 1].index++;
            p++;
        } else if (cfg_is_digit(ch) || ((ch == '-' || ch == '+') && p + 1 < end
                                        && cfg_is_digit(p[1]))) {
            const char *start = p;
            int neg = ch == '-', big = 0, base = 10, dv;
            uint64_t v = 0;

            if (ch == '-' || ch == '+')
                p++;
            if (end - p > 2 && p[0] == '0' && (p[1] == 'x' || p[1] == 'X')
                && cfg_hexval(p[2]) >= 0) {
                base = 16;
                p += 2;
            }
            for (; p < end && (dv = base == 16 ? cfg_hexval(*p) : cfg_is_digit(*p) ? *p - '0'
                                                                                   : -1) >= 0;
                 p++) {
                if (v > (UINT64_MAX - (uint64_t)dv) / (uint64_t)base)
                    big = 1;
                else
                    v = v * (uint64_t)base + (uint64_t)dv;
            }
            if (p < end && (*p == 'L' || *p == '.' || *p == 'e' || *p == 'E')) {
                /* 64-bit integer or float: skip the rest of the token. */
                while (p < end && (cfg_is_digit(*p) || *p == 'L' || *p == '.' || *p == 'e'
                                   || *p == 'E' || *p == '+' || *p == '-'))
                    p++;
                continue;
            }
            if (big || (neg ? v > UINT64_C(2147483648) : v > UINT64_C(2147483647))) {
                char key[CFG_KEYPATH_MAX];
                cfg_scan_path(sc, key, sizeof key);
                rc = cfg_error_at(x, file, line, key,
                                  "integer %.*s does not fit in 32 bits; write it with an L "
                                  "suffix (%.*sL)", (int)(p - start), start, (int)(p - start),
                                  start);
            }
        } else {
            p++;
        }
    }
    free(buf);
    return rc;
}

/* Public ------------------------------------------------------------------ */

void rtmpd_config_defaults(struct rtmpd_config *c)
{
    memset(c, 0, sizeof *c);
    cfg_apply_defaults(&cfg_top_table, c);
}

int rtmpd_config_load(struct rtmpd_config *c, const char *path, char *err, size_t errlen)
{
    struct cfg_ctx x = { path, err, errlen };
    struct cfg_scan scan = { .depth = 0 };
    struct rtmpd_config tmp;
    struct stat st;
    config_t cfg;
    int rc = -1;

    if (err != NULL && errlen > 0)
        err[0] = '\0';
    if (strlen(path) >= sizeof tmp.path)
        return cfg_error_at(&x, path, 0, NULL, "path too long (at most %zu bytes)",
                            sizeof tmp.path - 1);
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
        return cfg_error_at(&x, path, 0, NULL, "is a directory");

    config_init(&cfg);
    config_set_auto_convert(&cfg, 0);
    if (config_read_file(&cfg, path) != CONFIG_TRUE) {
        int e = errno;
        if (config_error_type(&cfg) == CONFIG_ERR_FILE_IO)
            cfg_error_at(&x, path, 0, NULL, "cannot read: %s", strerror(e));
        else
            cfg_error_at(&x, config_error_file(&cfg) != NULL ? config_error_file(&cfg) : path,
                         config_error_line(&cfg), NULL, "%s", config_error_text(&cfg));
        goto done;
    }
    if (cfg_check_literals(&x, path, 0, &scan) < 0)
        goto done;

    rtmpd_config_defaults(&tmp);
    cfg_store_str(tmp.path, sizeof tmp.path, path);
    if (cfg_walk_table(&x, &cfg_top_table, &tmp, config_root_setting(&cfg), NULL) < 0)
        goto done;

    memcpy(c, &tmp, sizeof tmp);
    rc = 0;

done:
    config_destroy(&cfg);
    return rc;
}

const struct rtmpd_app_conf *rtmpd_config_app(const struct rtmpd_config *c, const char *name,
                                              size_t len)
{
    if (len >= RTMPD_CONFIG_NAME_MAX)
        return NULL;
    for (uint32_t i = 0; i < c->napps; i++) {
        const struct rtmpd_app_conf *a = &c->apps[i];
        if (strlen(a->name) == len && memcmp(a->name, name, len) == 0)
            return a;
    }
    return NULL;
}

int rtmpd_log_level_parse(const char *s)
{
    static const char *const names[] = {
        [RTMPD_LOG_ERROR] = "error",
        [RTMPD_LOG_WARN] = "warn",
        [RTMPD_LOG_INFO] = "info",
        [RTMPD_LOG_DEBUG] = "debug",
    };

    for (size_t i = 0; i < CFG_NELEM(names); i++)
        if (strcmp(s, names[i]) == 0)
            return (int)i;
    return -1;
}
