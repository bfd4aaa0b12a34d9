/*
 * rtmpd — the server: listeners, accept, connection limits, the event loop
 * and its safe points (deferred close, batched flushing).
 */
#ifndef RTMPD_SERVER_H
#define RTMPD_SERVER_H

#include <ev.h>
#include <stdint.h>

#include "rtmpd/config.h"
#include "rtmpd/log.h"
#include "rtmpd/list.h"

struct rtmpd_conn;
struct rtmpd_registry;

#define RTMPD_READ_BUF (64 * 1024)

enum rtmpd_listener_kind {
    RTMPD_LISTEN_RTMP = 0,
    RTMPD_LISTEN_HTTP = 1,
};

struct rtmpd_listener {
    int fd;
    uint8_t kind;             /* enum rtmpd_listener_kind */
    ev_io io;
    char addr[RTMPD_CONFIG_ADDR_MAX];
    struct rtmpd_server *srv;
};

struct rtmpd_server_stats {
    uint64_t accepted;
    uint64_t rejected;       /* over max_connections */
    uint64_t bytes_in;
    uint64_t bytes_out;
    uint64_t frames_dropped; /* by the players' drop policy */
    uint64_t slow_disconnects; /* players cut at the queue's hard limits */
    uint64_t gop_cache_bytes;  /* held by all GOP caches together */
    uint64_t gop_cache_evictions; /* caches emptied to stay within max_gop_cache_bytes */
    uint64_t write_slices_deferred; /* safe points that left writes for after a poll */
    uint64_t accept_pauses;  /* listeners paused: out of descriptors or kernel memory */
};

/* Merge wheel: steps of at most RTMPD_MERGE_STEP_MAX_US; a window of up to
 * 1000 ms (the largest queue.merge_ms) in steps of at least 1 ms fits. */
#define RTMPD_MERGE_STEP_MAX_US 5000
#define RTMPD_MERGE_SLOTS 1001
/* The writes of one tick should take at most about this long. */
#define RTMPD_MERGE_BURST_US 5000

struct rtmpd_server {
    struct ev_loop *loop;
    const struct rtmpd_config *cfg;

    struct rtmpd_listener listeners[2 * RTMPD_CONFIG_MAX_LIST]; /* RTMP, then HTTP */
    uint32_t nlisteners;

    uint32_t nconns;
    uint64_t next_id;
    struct rtmpd_list conns;
    struct rtmpd_list flush_now;    /* flushed before the loop blocks */
    /* Merge windows (queue.merge_ms): a wheel of lists, one per tick of
     * merge_step_us; a connection flushes at the ticks of its own phase,
     * one of merge_phases spread over its window. */
    struct rtmpd_list merge_wheel[RTMPD_MERGE_SLOTS];
    uint64_t merge_tick;            /* ticks of merge_timer so far */
    uint32_t merge_step_us;         /* 0: no app has a merge window */
    uint32_t merge_steps;           /* steps in the smallest window */
    uint32_t merge_phases;          /* 1..merge_steps, from the time writes take */
    uint64_t merge_work_us;         /* spent writing in this window so far */
    uint64_t merge_work_avg_us;     /* per window, smoothed */
    uint32_t merge_waiting;         /* connections on the wheel; the timer runs while > 0 */
    struct rtmpd_list closing;      /* freed before the loop blocks */
    struct rtmpd_list probed;       /* connections whose bandwidth is sampled */
    struct rtmpd_list bursts;       /* connections with a burst being timed */
    struct rtmpd_list ladders;      /* transcode ladders running */

    ev_prepare prepare;
    ev_idle flush_more;             /* on while flush_now was left non-empty */
    ev_timer merge_timer;
    ev_timer tick;                  /* 1 Hz: rates for the stats */
    ev_timer probe_tick;            /* bandwidth samples of the probed connections */
    ev_timer burst_tick;            /* runs while bursts are being timed */
    ev_timer stop_timer;
    /* Out of descriptors (or kernel memory), accept fails at once and the
     * listeners stay readable: they are stopped while this runs. */
    ev_timer accept_pause;
    uint64_t accept_paused_us;      /* start of the current episode */
    uint32_t accept_episode_pauses; /* pauses in it so far; 0: none going on */
    ev_signal sigint, sigterm;
    ev_signal sighup;               /* reopens the access log file */

    struct rtmpd_registry *registry;
    struct rtmpd_server_stats stats;
    struct rtmpd_log_limit refusal_log; /* one line per refused connection, up to a rate */
    uint64_t started_us;
    int stopping;

    uint8_t rbuf[RTMPD_READ_BUF];   /* shared read buffer: data is consumed at once */
};

/*
 * Initialises the server on `loop` with `cfg` (which must outlive it):
 * opens every listener. Returns 0, or -1 after logging which address failed.
 */
int rtmpd_server_init(struct rtmpd_server *srv, struct ev_loop *loop,
                      const struct rtmpd_config *cfg);

/* Runs the loop until stopped by SIGINT/SIGTERM (SIGHUP reopens the access
 * log file and goes on). Returns 0 after a clean stop. */
int rtmpd_server_run(struct rtmpd_server *srv);

/* Begins a graceful stop (what SIGTERM does). */
void rtmpd_server_stop(struct rtmpd_server *srv);

/* Frees everything the server holds. */
void rtmpd_server_release(struct rtmpd_server *srv);

/* The loop's time in microseconds (monotonic, cached per iteration). */
uint64_t rtmpd_server_now_us(const struct rtmpd_server *srv);

/*
 * Schedules `c` for flushing at the next safe point, or at the next merge
 * tick when its merge window is on and the bytes are not `urgent` (replies
 * and a new player's first burst are; live frames are not). At the safe
 * point urgent connections are written first.
 */
void rtmpd_server_want_flush(struct rtmpd_server *srv, struct rtmpd_conn *c, int urgent);

/* Takes `c` off the list it waits on to be flushed, if any. */
void rtmpd_server_unflush(struct rtmpd_server *srv, struct rtmpd_conn *c);

/*
 * The merge wheel's step for the smallest merge window `min_ms` (1..1000):
 * the window cut into equal steps of at most RTMPD_MERGE_STEP_MAX_US.
 */
uint32_t rtmpd_merge_step_us(uint32_t min_ms);

/*
 * The first tick after `tick` at which a connection flushing every `period`
 * ticks (>= 1) at `phase` (< period) flushes: the tick t > `tick` with
 * t % period == phase.
 */
uint64_t rtmpd_merge_due(uint64_t tick, uint32_t period, uint32_t phase);

/*
 * How many phases a window of `steps` ticks is cut into when writing all
 * its connections takes `work_us`: enough that one tick's writes take at
 * most RTMPD_MERGE_BURST_US, and no more (1..steps). One phase is cheapest:
 * each tick that writes wakes the peers anew; more phases bound how long
 * the last connection of a burst waits for the others.
 */
uint32_t rtmpd_merge_phases(uint64_t work_us, uint32_t steps);

/*
 * The phase (< period) of connection `id` flushing every `period` ticks
 * when windows are cut into `phases`: connections take the phases in turn,
 * and the phases are spread evenly over the period.
 */
uint32_t rtmpd_merge_phase(uint64_t id, uint32_t period, uint32_t phases);

/* Times `c`'s burst until it is delivered (bandwidth probe). */
void rtmpd_server_want_burst_check(struct rtmpd_server *srv, struct rtmpd_conn *c);

/* Puts `c` on the probed list: sampled every probe tick, which runs only
 * while the list is not empty. */
void rtmpd_server_want_probe(struct rtmpd_server *srv, struct rtmpd_conn *c);

/* Schedules `c` to be freed at the next safe point. */
void rtmpd_server_want_close(struct rtmpd_server *srv, struct rtmpd_conn *c);

/* The connection with id `id`, or NULL. */
struct rtmpd_conn *rtmpd_server_find_conn(struct rtmpd_server *srv, uint64_t id);

#endif
