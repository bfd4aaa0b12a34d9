/*
 * rtmpd — configuration: the libconfig file turned into typed structs.
 *
 * Every key has a default (conf/rtmpd.conf lists them all) and a documented
 * range (docs/configuration.md). Unknown keys, wrong types and values out of
 * range are errors that name the file, the line and the key.
 */
#ifndef RTMPD_CONFIG_H
#define RTMPD_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#define RTMPD_CONFIG_MAX_LIST 16
#define RTMPD_CONFIG_MAX_LISTEN RTMPD_CONFIG_MAX_LIST
#define RTMPD_CONFIG_MAX_APPS 64
#define RTMPD_CONFIG_NAME_MAX 64
#define RTMPD_CONFIG_ADDR_MAX 80
#define RTMPD_CONFIG_PATH_MAX 256

enum rtmpd_log_level {
    RTMPD_LOG_ERROR = 0,
    RTMPD_LOG_WARN = 1,
    RTMPD_LOG_INFO = 2,
    RTMPD_LOG_DEBUG = 3,
};

struct rtmpd_gop_conf {
    int enabled;               /* gop_cache.enabled, default true */
    uint32_t max_frames;       /* gop_cache.max_frames, default 2500 */
    uint64_t max_bytes;        /* gop_cache.max_bytes, default 32 MiB */
};

struct rtmpd_queue_conf {
    uint64_t max_bytes;        /* queue.max_bytes: hard limit, default 8 MiB */
    uint32_t max_ms;           /* queue.max_ms: hard limit, default 5000 */
    uint32_t drop_ms;          /* queue.drop_ms: start dropping, default 1000 */
    uint32_t merge_ms;         /* queue.merge_ms: write merge window, default 0 */
};

/* A list of normalised addresses: "addr:port" / "[v6]:port", or CIDRs. */
struct rtmpd_addr_list {
    char v[RTMPD_CONFIG_MAX_LIST][RTMPD_CONFIG_ADDR_MAX];
    uint32_t n;
};

#define RTMPD_CONFIG_MAX_ABR 8
#define RTMPD_CONFIG_MAX_LADDER 6
#define RTMPD_CONFIG_ARGS_MAX 512
/* Most words a ladder step's args may have (ffmpeg's own arguments come on top). */
#define RTMPD_LADDER_MAX_ARGS 85

/* A rendition group: players of `name` get the best of `renditions`. */
struct rtmpd_abr_conf {
    char name[RTMPD_CONFIG_NAME_MAX];
    struct rtmpd_addr_list renditions;   /* stream names, highest quality first */
};

/* A transcode ladder step: publishing NAME starts ffmpeg making NAME_suffix. */
struct rtmpd_ladder_step {
    char suffix[RTMPD_CONFIG_NAME_MAX];
    char args[RTMPD_CONFIG_ARGS_MAX];    /* ffmpeg output options */
};

/* How players are moved between renditions. */
struct rtmpd_adapt_conf {
    uint32_t headroom_pct;     /* a rendition fits when estimate >= rate * (1 + pct/100) */
    uint32_t down_ms;          /* shortfall lasting this long switches down */
    uint32_t up_ms;            /* headroom lasting this long switches up */
    uint32_t hold_ms;          /* at most one switch up per this long */
};

struct rtmpd_app_conf {
    char name[RTMPD_CONFIG_NAME_MAX];
    int publish_notify;        /* publish_notify: Play.PublishNotify/UnpublishNotify, default false */
    struct rtmpd_gop_conf gop;
    struct rtmpd_queue_conf queue;
    struct rtmpd_abr_conf abr[RTMPD_CONFIG_MAX_ABR];
    uint32_t nabr;
    struct rtmpd_ladder_step ladder[RTMPD_CONFIG_MAX_LADDER];
    uint32_t nladder;
    struct rtmpd_adapt_conf adapt;
};

struct rtmpd_config {
    char path[RTMPD_CONFIG_PATH_MAX];  /* file it was read from ("" for defaults) */

    struct rtmpd_addr_list listen;     /* RTMP listeners */

    struct {
        enum rtmpd_log_level level;        /* log.level: error|warn|info|debug, default info */
        char access_log[RTMPD_CONFIG_PATH_MAX]; /* log.access_log: "stderr", "off" or a path */
    } log;

    struct {
        uint32_t max_connections;       /* default 10000 */
        uint32_t max_message_bytes;     /* default 8 MiB */
        uint32_t max_chunk_streams;     /* default 64 */
        uint64_t max_pending_bytes;     /* default 16 MiB: incomplete messages per connection */
        uint64_t max_gop_cache_bytes;   /* default 1 GiB: all streams' GOP caches together */
        uint32_t max_streams_per_connection; /* createStream ids per connection, default 16 */
        uint32_t max_name_bytes;        /* app/stream name length, default 256 */
        uint32_t handshake_timeout_ms;  /* default 10000 */
        uint32_t idle_timeout_ms;       /* default 30000 */
        uint32_t write_slice_us;        /* default 2000: writes per loop pass; 0: no limit */
    } limits;

    struct {
        uint32_t chunk_size;            /* rtmp.chunk_size: outgoing chunk size, default 4096 */
        uint32_t window_ack_size;       /* rtmp.window_ack_size, default 2500000 */
        uint32_t peer_bandwidth;        /* rtmp.peer_bandwidth, default 2500000 */
    } rtmp;

    struct rtmpd_app_conf apps[RTMPD_CONFIG_MAX_APPS];
    uint32_t napps;

    struct {
        struct rtmpd_addr_list listen;  /* http.listen, default [ "127.0.0.1:8080" ]; [] = off */
        struct rtmpd_addr_list allow;   /* http.allow: CIDRs that may use /api and /metrics */
        char token[128];                /* http.token: bearer token for /api ("" = none) */
        char cors_origin[256];          /* http.cors_origin: Access-Control-Allow-Origin ("" = none) */
        uint32_t max_header_bytes;      /* http.max_header_bytes, default 8K */
        uint32_t request_timeout_ms;    /* http.request_timeout_ms, default 10000 */
    } http;
};

/* Fills `c` with the defaults (one app "live", listen 0.0.0.0:1935). */
void rtmpd_config_defaults(struct rtmpd_config *c);

/*
 * Reads `path` into `c` (defaults first, then the file's values). On error
 * returns -1 and writes a one-line message "FILE:LINE: key: what is wrong"
 * into err (errlen bytes); returns 0 on success.
 */
int rtmpd_config_load(struct rtmpd_config *c, const char *path, char *err, size_t errlen);

/* The app named `name`, or NULL. */
const struct rtmpd_app_conf *rtmpd_config_app(const struct rtmpd_config *c, const char *name,
                                              size_t len);

/*
 * Parses and normalises a listen address given on the command line:
 * "A.B.C.D:PORT", "[IPV6]:PORT" or "*:PORT", port 0..65535 (0: any free
 * port). Returns 0, or -1 with a one-line reason in `why`.
 */
int rtmpd_config_parse_listen(const char *s, char *out, size_t outlen, char *why, size_t whylen);

/*
 * Checks that no two listen / http.listen addresses would take the same
 * port on overlapping addresses (the same one, or a wildcard of the same
 * family): the second bind would fail at start. Returns 0, or -1 with a
 * one-line reason in `err`.
 */
int rtmpd_config_check_listeners(const struct rtmpd_config *c, char *err, size_t errlen);

/* Parses "error" | "warn" | "info" | "debug"; returns -1 for anything else. */
int rtmpd_log_level_parse(const char *s);

#endif
