/*
 * rtmpd — one TCP connection: non-blocking reads handed to a protocol
 * handler, a write queue of shared frames and private bytes written with
 * writev, timers, and deferred close.
 *
 * conn knows nothing about RTMP commands. Its handler (the RTMP session, or
 * later the HTTP module) is a table of callbacks.
 */
#ifndef RTMPD_CONN_H
#define RTMPD_CONN_H

#include <ev.h>
#include <netinet/in.h>
#include <stdint.h>
#include <sys/socket.h>

#include "rtmpd/bwprobe.h"
#include "rtmpd/frame.h"
#include "rtmpd/list.h"

struct rtmpd_server;
struct rtmpd_conn;
struct rtmpd_stream;
struct rtmpd_sub;

/* What a connection is doing, for the stats API. */
struct rtmpd_conn_info {
    const char *proto;               /* "rtmp", "http" */
    const char *role;                /* "publisher", "player", "api", "connecting", "idle" */
    const struct rtmpd_stream *st;   /* stream published or played, or NULL */
    const struct rtmpd_sub *sub;     /* the subscription when playing */
};

struct rtmpd_conn_ops {
    /*
     * Bytes arrived. Returns 0 to go on; -1 after the handler has closed the
     * connection (with rtmpd_conn_close / _close_after_flush).
     */
    int (*on_data)(void *ud, const uint8_t *data, size_t len);
    /* Nothing was read for half the idle timeout (a chance to ping). */
    void (*on_idle)(void *ud);
    /* The one-shot timer set by rtmpd_conn_start / _set_timer expired
     * before rtmpd_conn_established. Optional: without it the connection
     * closes ("handshake timeout"). */
    void (*on_timeout)(void *ud);
    /* The write queue drained completely. Optional. */
    void (*on_drain)(void *ud);
    /* Final call at a safe point of the loop: release everything; the
     * connection is freed right after. */
    void (*on_close)(void *ud);
    /*
     * Server stop, in two passes: first with `publishers` set (end every
     * publish, so players are told), then without (finish and close).
     */
    void (*on_shutdown)(void *ud, int publishers);
    /* Describes the connection for the stats API. */
    void (*info)(void *ud, struct rtmpd_conn_info *out);
    /* A bandwidth sample was taken (rtmpd_conn_probe_enable): adapt. */
    void (*on_sample)(void *ud);
};

struct rtmpd_conn {
    /* What queueing a frame and flushing touch, in the first cache line:
     * with thousands of players nothing of a player's state stays cached
     * from one frame to the next, and every line touched is a miss. */
    struct rtmpd_list flush_link; /* server's pending-flush list */
    struct rtmpd_server *srv;
    struct rtmpd_out *q;          /* write queue: ring of entries */
    uint32_t qcap, qhead, qlen;
    int fd;
    uint64_t q_bytes;             /* unwritten bytes in the queue */
    uint32_t merge_ms;            /* 0: flush every loop iteration */
    uint8_t closing;              /* close requested; freed at a safe point */
    uint8_t flush_then_close;     /* stop reading, close once the queue is empty */
    uint8_t write_blocked;        /* waiting for POLLOUT */
    uint8_t urgent;               /* set while queueing what must not wait for a merge tick */
    /* The second line: the rest of a flush. */
    uint8_t flush_merged;         /* flush_link is on the server's merge wheel */
    uint8_t probe;                /* bandwidth sampled periodically (players only) */
    uint8_t probe_bursts;         /* also time large writes */
    uint8_t established;          /* handshake done: idle timeout applies */
    uint32_t rtt_us;
    uint64_t bytes_out;
    uint64_t last_drain_us;       /* last time the queue became empty */
    uint64_t bytes_in;

    uint64_t id;
    const struct rtmpd_conn_ops *ops;
    void *ud;
    char peer[64];                /* "1.2.3.4:5678" or "[::1]:5678" */
    struct sockaddr_storage peer_addr;

    ev_io rio, wio;
    ev_timer timer;

    uint64_t started_us;
    uint64_t last_in_us;

    /* Bandwidth probe (players only). */
    struct rtmpd_bw bw;
    uint32_t congestion;          /* frames dropped for this peer (bumped by the policy) */
    uint32_t congestion_seen;     /* value at the last bandwidth sample */
    const char *close_reason;

    struct rtmpd_list link;       /* server's all-connections list */
    struct rtmpd_list close_link; /* server's closing list */
    struct rtmpd_list probe_link; /* server's probed list */
    struct rtmpd_list burst_link; /* server's list of bursts being timed */
};

/*
 * Takes `fd` (accepted, non-blocking) into a new connection driven by `ops`.
 * The handler's user data is set afterwards with `c->ud`. Returns NULL (and
 * closes fd) on allocation failure.
 */
struct rtmpd_conn *rtmpd_conn_new(struct rtmpd_server *srv, int fd, const struct sockaddr *peer,
                                  socklen_t peerlen, const struct rtmpd_conn_ops *ops);

/* Starts reading and the handshake timer. */
void rtmpd_conn_start(struct rtmpd_conn *c, uint32_t handshake_timeout_ms);

/* Restarts the one-shot timer (0 stops it); for handlers that never call
 * rtmpd_conn_established (HTTP). */
void rtmpd_conn_set_timer(struct rtmpd_conn *c, uint32_t ms);

/* Marks the handshake done: from now on the idle timeout applies. */
void rtmpd_conn_established(struct rtmpd_conn *c, uint32_t idle_timeout_ms);

/*
 * Queues a copy of `len` bytes. Returns 0, or -1 when the connection is
 * closing or memory ran out (the connection is then closed).
 */
int rtmpd_conn_send(struct rtmpd_conn *c, const void *data, size_t len);

/* Queues bytes whose ownership is taken (malloc'd). Same returns. */
int rtmpd_conn_send_owned(struct rtmpd_conn *c, uint8_t *data, size_t len);

/*
 * The access-log line of a connection that closed: "id=ID peer=ADDR FIELDS
 * bytes_in=N bytes_out=N duration_ms=N reason="..."", where FIELDS, the
 * protocol's own ("proto=rtmp app=... stream=... role=..."), are formatted
 * from `fmt` as printf does.
 */
void rtmpd_conn_log_closed(const struct rtmpd_conn *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/*
 * What a queued message costs besides its bytes: its slot in the queue's
 * ring (which can be half empty after growing). The queue limits count it,
 * so that a peer's backlog of tiny messages (an empty audio message is 12
 * bytes on the wire) is bounded in memory as a backlog of large ones is.
 */
#define RTMPD_QUEUE_ENTRY_COST (2 * sizeof(struct rtmpd_out))

/* The queue as its limits count it: unwritten bytes plus the entries' cost. */
static inline uint64_t rtmpd_conn_queue_cost(const struct rtmpd_conn *c)
{
    return c->q_bytes + (uint64_t)c->qlen * RTMPD_QUEUE_ENTRY_COST;
}

/*
 * Queues a prepared entry; its frame reference / bytes now belong to the
 * queue. Returns 0 or -1 (entry released).
 */
int rtmpd_conn_send_out(struct rtmpd_conn *c, struct rtmpd_out *o);

/*
 * Removes queued entries that have not started going out and for which
 * `drop(o, arg)` is true (e.g. a lagging player's video). Returns how many
 * were removed.
 */
uint32_t rtmpd_conn_drop_queued(struct rtmpd_conn *c,
                                int (*drop)(const struct rtmpd_out *o, void *arg), void *arg);

/* Microseconds the oldest unwritten entry has waited (0 when empty). */
uint64_t rtmpd_conn_queue_delay_us(const struct rtmpd_conn *c, uint64_t now_us);

/*
 * Requests a close. Nothing is freed now: the handler's on_close runs at a
 * safe point of the loop. The first reason given is the one logged.
 */
void rtmpd_conn_close(struct rtmpd_conn *c, const char *reason);

/* Stops reading and closes once everything queued is written (or a short
 * grace period passes). */
void rtmpd_conn_close_after_flush(struct rtmpd_conn *c, const char *reason);

/* Stops (pause) or resumes reading from the peer: back-pressure for
 * handlers that cannot take more input now. */
void rtmpd_conn_read_pause(struct rtmpd_conn *c, int pause);

/* Writes as much of the queue as the socket takes now (one writev per
 * call, repeated while the socket accepts everything). */
void rtmpd_conn_flush(struct rtmpd_conn *c);

/*
 * Starts measuring the peer's bandwidth (a player): periodic TCP_INFO
 * samples, and with `bursts` the timing of large writes too.
 */
void rtmpd_conn_probe_enable(struct rtmpd_conn *c, int bursts);

/* Takes one periodic bandwidth sample (the server's probe tick). */
void rtmpd_conn_probe_sample(struct rtmpd_conn *c);

/* The server checks bursts being timed this often. */
#define RTMPD_CONN_BURST_TICK_US 10000u

/* Checks the burst being timed; returns 1 when it is over. */
int rtmpd_conn_probe_burst(struct rtmpd_conn *c);

/* The bandwidth estimate in bits/s (0: unknown). */
uint64_t rtmpd_conn_bandwidth(const struct rtmpd_conn *c);

/* Frees a connection; only the server calls this, at its safe point. */
void rtmpd_conn_free(struct rtmpd_conn *c);

#endif
