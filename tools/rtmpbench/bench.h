/*
 * rtmpbench — load, latency and correctness tool for RTMP servers.
 *
 * One process, one libev loop: in-process publishers send an FLV file at
 * real-time pace, players play it back; every player measures what it
 * receives (bytes, frames, time to first frame, stalls) and, when the
 * publisher runs in the same process, the server-added latency of each frame
 * and whether it received exactly the publisher's sequence of frames.
 *
 * Files: main.c (options, run control, progress), conn.c (one RTMP client
 * connection: TCP, handshake, chunk stream, protocol control, commands),
 * media.c (FLV file loading), publisher.c, player.c, stats.c (histograms,
 * clock), report.c (summary line and JSON).
 */
#ifndef RTMPBENCH_BENCH_H
#define RTMPBENCH_BENCH_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include <ev.h>

#include "rtmpd/bytes.h"
#include "rtmpd/chunk.h"
#include "rtmpd/handshake.h"

/* Copies a string, truncated to fit `size` (NUL-terminated). */
static inline void str_copy(char *dst, size_t size, const char *src)
{
    size_t n = strlen(src);
    if (n >= size)
        n = size - 1;
    memcpy(dst, src, n);
    dst[n] = 0;
}

/* --- clock and histograms (stats.c) ----------------------------------- */

/* CLOCK_MONOTONIC in nanoseconds. */
int64_t bench_now_ns(void);
/* CPU seconds (user + system) this process used so far. */
double bench_cpu_seconds(void);

/*
 * Log-linear histogram of non-negative integer values (microseconds here):
 * exact below 128, then 64 buckets per power of two (relative error under
 * 1.6%). Fixed memory, whatever the number of samples.
 */
#define HIST_SUB_BITS 6
#define HIST_BUCKETS (64 * 44)

struct hist {
    uint64_t count;
    uint64_t max;
    uint64_t sum;
    uint64_t b[HIST_BUCKETS];
};

void hist_add(struct hist *h, uint64_t v);
void hist_merge(struct hist *into, const struct hist *from);
void hist_clear(struct hist *h);
/* Value at quantile q (0..1): the middle of its bucket, capped at max; 0 when empty. */
uint64_t hist_quantile(const struct hist *h, double q);

/* --- URLs --------------------------------------------------------------- */

struct rtmp_url {
    char host[256];
    char port[8];
    char app[256];
    char name[512];     /* stream name (playpath), may hold a query string */
    char tcurl[1024];   /* rtmp://host:port/app */
    struct sockaddr_storage sa; /* resolved once at start */
    socklen_t salen;
};

/* Parses rtmp://host[:port]/app/name. Returns 0 or -1 (message in err). */
int url_parse(struct rtmp_url *u, const char *s, char *err, size_t errlen);
/* Resolves the host (blocking, once). Returns 0 or -1 (message in err). */
int url_resolve(struct rtmp_url *u, char *err, size_t errlen);

/* --- media file (media.c) ---------------------------------------------- */

struct media_tag {
    const uint8_t *data;  /* payload as sent (script data: with @setDataFrame) */
    uint32_t len;
    uint32_t ts;          /* relative to the file's first tag */
    uint32_t crc;         /* crc32 of the payload */
    uint8_t type;         /* 8, 9 or 18 */
    uint8_t once;         /* sequence header or script data: first loop only */
    uint8_t key;          /* video keyframe with coded data */
};

struct media {
    uint8_t *file;        /* whole file */
    uint8_t *extra;       /* rewritten script data payloads */
    struct media_tag *tags;
    size_t ntags;
    uint32_t duration_ms; /* last timestamp - first */
    uint32_t frame_ms;    /* average video (else audio) frame interval */
    uint32_t period_ms;   /* loop period: duration + one frame */
    uint64_t loop_bytes;  /* audio+video payload bytes per loop */
    double bitrate_bps;   /* loop_bytes * 8 / period */
    uint32_t video_tags, audio_tags, data_tags;
};

/* Option values (main.c): 0, or -1 with a message. */
int bench_parse_double(const char *opt, const char *s, double min, double *out);
int bench_parse_u32(const char *opt, const char *s, uint32_t min, uint32_t max, uint32_t *out);
/* Raises the open-files limit to its hard limit. */
void bench_raise_nofile(void);

/* rtmpbench --floor (floor.c): the kernel's cost of a fan-out's writes. */
int floor_main(int argc, char **argv);

/* Loads and indexes an FLV file. Returns 0 or -1 (message printed). */
int media_load(struct media *m, const char *path);
void media_free(struct media *m);

/* --- connection (conn.c) ----------------------------------------------- */

enum conn_role { ROLE_PUBLISHER, ROLE_PLAYER };

enum conn_state {
    CONN_TCP,        /* TCP connect in progress */
    CONN_HANDSHAKE,
    CONN_CONNECT,    /* connect command sent */
    CONN_CREATE,     /* createStream sent */
    CONN_START,      /* publish / play sent */
    CONN_ACTIVE,     /* publishing / playing */
    CONN_CLOSED,
};

/* Chunk stream ids, as ffmpeg uses them. */
#define CSID_CONTROL 2
#define CSID_COMMAND 3
#define CSID_AUDIO 4
#define CSID_VIDEO 6
#define CSID_STREAM 8
#define CSID_SLOTS 9

struct bench;
struct bconn;

/* What a role does with the events of its connection (one table per role). */
struct conn_ops {
    /* TCP connected (socket writable). */
    void (*on_tcp)(struct bconn *c);
    /* connect _result: NetConnection is up. */
    void (*on_connected)(struct bconn *c);
    /* createStream _result: c->stream_id is set. */
    void (*on_stream)(struct bconn *c);
    /* onStatus on our stream. */
    void (*on_status)(struct bconn *c, const char *level, const char *code, const char *desc);
    /* Audio, video or data message (aggregates are split). `now` = read time. */
    void (*on_media)(struct bconn *c, const struct rtmpd_msg *m, int64_t now);
    /* Bytes written to the socket (cumulative total). */
    void (*on_written)(struct bconn *c, uint64_t total, int64_t now);
    /* After each read that delivered bytes (player byte counting). */
    void (*on_read)(struct bconn *c, size_t n);
    /*
     * The connection is closing: `failed` when it is an error (refused,
     * protocol error, timeout), `reason` says what. Called once.
     */
    void (*on_close)(struct bconn *c, int failed, const char *reason);
};

struct bconn {
    struct bench *b;
    const struct conn_ops *ops;
    void *owner;               /* struct publisher / struct player */
    int fd;
    uint8_t role;
    uint8_t state;
    uint8_t dead;              /* closed; freed at the end of the loop iteration */
    ev_io rio, wio;
    ev_timer tmo;              /* setup timeout */
    struct rtmpd_hs *hs;       /* during the handshake only */
    struct rtmpd_chunk_dec dec;
    struct rtmpd_buf out;
    size_t out_off;            /* bytes of `out` already written */
    uint64_t out_queued;       /* bytes ever queued (after the handshake too) */
    uint64_t out_written;      /* bytes ever written */
    uint32_t out_chunk_size;
    struct rtmpd_chunk_prev prev[CSID_SLOTS];
    uint64_t in_bytes;         /* bytes received */
    int64_t rx_ns;             /* when the kernel received the last segment of the
                                * current read (monotonic); the read time if unknown */
    uint64_t ack_last;
    uint32_t ack_window;
    uint32_t stream_id;
    uint32_t txn;              /* last transaction id used */
    uint32_t connect_txn, create_txn;
    const struct rtmp_url *url;
    const char *name;          /* stream name */
    struct bconn *next_dead;
};

/*
 * Starts a connection to `ai` (first address that works). Returns the
 * connection, or NULL (then on_close has not been called; errno-based
 * message in err).
 */
struct bconn *conn_start(struct bench *b, const struct conn_ops *ops, void *owner, int role,
                         const struct rtmp_url *url, const char *name, char *err, size_t errlen);

/* The setup is over (publishing / playing): stops the setup timeout. */
void conn_set_active(struct bconn *c);

/* Closes (idempotent): watchers stopped, fd closed, on_close called, freed later. */
void conn_close(struct bconn *c, int failed, const char *reason);

/* Frees connections closed during this loop iteration. */
void conn_reap(struct bench *b);

/* Queues one message (chunk-encoded) and flushes. Returns 0 or -1 (closed). */
int conn_send(struct bconn *c, uint32_t csid, uint8_t type, uint32_t stream_id,
              uint32_t timestamp, const uint8_t *payload, uint32_t len);
/* Queues without flushing; conn_flush() afterwards. */
int conn_queue(struct bconn *c, uint32_t csid, uint8_t type, uint32_t stream_id,
               uint32_t timestamp, const uint8_t *payload, uint32_t len);
/* Writes what it can now; arms the write watcher for the rest. Returns 0 or -1 (closed). */
int conn_flush(struct bconn *c);
/* Bytes queued but not yet written. */
static inline size_t conn_pending(const struct bconn *c)
{
    return c->out.len - c->out_off;
}

/* Commands (AMF0, command chunk stream). */
int conn_send_set_chunk_size(struct bconn *c, uint32_t size);
int conn_send_user_control(struct bconn *c, uint16_t event, uint32_t a, int has_b, uint32_t b);
/* name(txn, null, args...): the caller builds args after cmd_begin into bench scratch. */
struct rtmpd_buf *conn_cmd_begin(struct bconn *c, const char *name, uint32_t *txn);
int conn_cmd_send(struct bconn *c, uint32_t csid, uint32_t stream_id);

/* --- publisher (publisher.c) ------------------------------------------- */

/* One record per media message sent: the bounded map of recent sends. */
struct sent_rec {
    const uint8_t *data; /* the payload sent (in struct media: lives as long as the run) */
    uint64_t end;       /* conn out_queued after the message was queued */
    int64_t sent_ns;    /* when its last byte was written; 0 while queued */
    uint32_t ts;
    uint32_t len;
    uint32_t crc;
    uint8_t type;
    uint8_t key;
};

#define RING_BITS 14
#define RING_SIZE (1u << RING_BITS)

struct publisher {
    struct bench *b;
    struct bconn *c;
    uint32_t idx;
    char name[600];
    int publishing;
    int failed;          /* never published */
    int closed;          /* published, then closed before the end of the run */
    char reason[160];
    /* pacing */
    ev_timer pace;
    int64_t t0;          /* start of loop 0 */
    size_t next;         /* index of the next tag */
    uint64_t loop;
    int blocked;         /* waiting for the socket to drain */
    /* ring of sent media messages */
    uint64_t head;       /* sequence number of the next record */
    uint64_t unsent;     /* first record not fully written */
    struct sent_rec *ring;
    /* last sequence header sent, audio [0] and video [1] */
    const struct media_tag *seq_header[2];
    /* counters */
    uint64_t frames, bytes, wire_bytes;
};

int publishers_start(struct bench *b);
void publishers_stop(struct bench *b);
/* The record of sequence number `s`, or NULL when it is not (or no longer) in the ring. */
static inline const struct sent_rec *pub_rec(const struct publisher *p, uint64_t s)
{
    if (s >= p->head || p->head - s > RING_SIZE)
        return NULL;
    return &p->ring[s & (RING_SIZE - 1)];
}

/* --- players (player.c) ------------------------------------------------ */

enum player_status {
    PS_NEW,
    PS_CONNECTING,
    PS_PLAYING,   /* Play.Start or media received */
    PS_OK,        /* ended by us (end of run, churn) */
    PS_FAILED,    /* never played */
    PS_CLOSED,    /* was playing, then closed by the server or an error */
    PS_CANCELLED, /* still connecting when the run ended: neither failed nor connected */
};

/* Per player session: kept after the connection is gone, for the report. */
struct player_stats {
    uint32_t id;
    uint32_t slot;
    uint32_t stream;       /* index of the stream name */
    uint8_t status;
    uint8_t got_keyframe;
    char reason[120];
    int64_t start_ns;      /* TCP connect started */
    int64_t end_ns;
    int64_t ttff_ns;       /* -1: no keyframe */
    int64_t first_media_ns;
    int64_t last_media_ns;
    uint64_t bytes;        /* audio/video/data payload bytes */
    uint64_t wire_bytes;   /* bytes read from the socket */
    uint64_t frames, video_frames, audio_frames, data_frames;
    uint32_t stalls;
    int64_t stall_ns;      /* time spent in gaps > 1 s */
    uint64_t checked, seq_errors;
    uint64_t lat_count;
    int64_t lat_max_ns;
};

struct player {
    struct bench *b;
    struct bconn *c;
    struct player_stats *st;
    struct publisher *pub;   /* in-process publisher of this stream, or NULL */
    ev_timer churn;
    /* sequence check */
    int aligned;
    uint64_t cursor;         /* next expected publisher record */
    uint32_t ts_off;         /* publisher ts - received ts */
    FILE *dump;
};

void players_enqueue_all(struct bench *b);
void players_stop(struct bench *b);
/* Rate-limited launcher tick. */
void players_launch_pending(struct bench *b);

/* --- the run (main.c) -------------------------------------------------- */

struct bench_opts {
    const char *publish_url;
    const char *play_url;
    const char *file;
    const char *json_path;
    const char *dump_path;
    uint32_t n;
    uint32_t streams;
    double rate;
    double duration;
    double warmup;
    double churn;
    uint32_t chunk_size;
    uint32_t ts_offset;   /* added to every published timestamp (ms) */
    int quiet;
};

struct bench {
    struct ev_loop *loop;
    struct bench_opts o;
    struct rtmp_url pub_url, play_url;
    struct media media;
    int have_media;
    char (*pub_names)[600];     /* stream names: o.streams entries each */
    char (*play_names)[600];
    int pub_matches;            /* players play what the publishers publish */

    struct publisher *pubs;
    uint32_t npubs;
    uint32_t pubs_publishing, pubs_failed;

    /* player sessions, in start order */
    struct player_stats **sess;
    uint32_t nsess, cap_sess;
    struct player **slot_player; /* active player per slot */
    uint32_t *queue;             /* slots waiting to (re)connect */
    uint32_t q_head, q_len;
    double tokens;
    int64_t tokens_at;

    ev_timer rate_timer, progress_timer, end_timer, pubwait_timer;
    ev_signal sigint, sigterm;
    ev_check reaper;
    struct bconn *dead;

    int64_t t_start;     /* program start */
    int64_t t_phase;     /* measurement start (players start / publishing) */
    int64_t t_end;
    int phase_started;
    int stopping;
    int64_t warmup_ns;

    /* live counters */
    uint64_t bytes, wire_bytes, frames, video_frames, audio_frames, data_frames;
    uint64_t checked, seq_errors, stalls;
    uint32_t active, playing, connected, failed, closed, cancelled;
    struct hist ttff, lat, lat_iv;
    struct hist lat_read;           /* latency to the read instead of the kernel's receive */
    uint64_t rx_stamped, rx_unstamped; /* player reads with / without a kernel timestamp */
    uint64_t iv_bytes, iv_frames;   /* counters at the last progress line */
    int64_t iv_at;
    uint32_t pubs_started;          /* publishers that ever published */

    FILE *dump;
    uint32_t errors_logged;

    struct rtmpd_buf scratch;   /* command building */
    uint8_t rbuf[65536];        /* shared read buffer (one thread) */
};

/* Logs an error line (rate-limited) on stderr. */
void bench_err(struct bench *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Logs unconditionally on stderr. */
void bench_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Called when all publishers are publishing or failed. */
void bench_publishers_ready(struct bench *b);
/* Ends the run (timer, signal, or nothing left to do). */
void bench_stop(struct bench *b);

/* --- report (report.c) ------------------------------------------------- */

void report_summary(struct bench *b, FILE *f);
int report_json(struct bench *b, const char *path);
void report_progress(struct bench *b);

#endif
