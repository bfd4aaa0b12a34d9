/*
 * rtmpd — per-client bandwidth estimate (pure: samples in, estimate out).
 *
 * The server sees three kinds of evidence about a player's network:
 *
 *   backlog   while bytes wait to be sent (in our queue or unsent in the
 *             kernel) for a whole sampling interval, or frames had to be
 *             dropped for the peer during it, the rate at which the peer
 *             acknowledges bytes IS the path's capacity: a measurement;
 *   bursts    a large write (a keyframe, the GOP sent to a new player) to an
 *             idle connection drains at the path's rate; bytes / time until
 *             the last byte is acknowledged approximates capacity (too
 *             small a burst under-reads it, a shaper's bucket over-reads
 *             it): kept apart, as the evidence for moving a player up;
 *   idle      an app-limited flow proves only that it can carry what it
 *             carries: its acknowledged rate is a lower bound too.
 *
 * The estimate is the latest capacity measurement while one is fresh;
 * otherwise the largest recent lower bound. Lower bounds never pull the
 * estimate down, and a single lucky burst cannot move a player up: the
 * policy asks for several consistent bursts (rtmpd_bw_burst_floor).
 *
 * I/O (getsockopt TCP_INFO) is the caller's: see conn.c.
 */
#ifndef RTMPD_BWPROBE_H
#define RTMPD_BWPROBE_H

#include <stdint.h>

#define RTMPD_BW_BURSTS 3          /* burst samples kept */
#define RTMPD_BW_FRESH_US 5000000u /* a capacity measurement stays fresh this long */
#define RTMPD_BW_LB_WINDOW_US 10000000u

enum rtmpd_bw_confidence {
    RTMPD_BW_NONE = 0,       /* nothing known yet */
    RTMPD_BW_LOWER_BOUND,    /* only app-limited / burst evidence */
    RTMPD_BW_MEASURED,       /* measured while backlogged */
};

struct rtmpd_bw_sample {
    uint64_t now_us;
    uint64_t bytes_acked;      /* tcpi_bytes_acked, cumulative */
    uint64_t unsent_bytes;     /* our queue + tcpi_notsent_bytes */
    uint8_t congested;         /* frames were dropped for this peer since the last sample */
    uint32_t rtt_us;           /* tcpi_rtt */
    uint32_t min_rtt_us;       /* tcpi_min_rtt */
};

struct rtmpd_bw {
    /* interval sampling */
    uint64_t last_us;
    uint64_t last_acked;
    uint8_t last_backlogged;
    /* capacity measured while backlogged (bits/s), smoothed */
    uint64_t cap_bps;
    uint64_t cap_us;
    /* largest app-limited lower bound in the window */
    uint64_t lb_bps;
    uint64_t lb_us;
    /* the last few burst measurements (bits/s) */
    uint64_t burst_bps[RTMPD_BW_BURSTS];
    uint64_t burst_at[RTMPD_BW_BURSTS];
    uint32_t nburst;
    /* a burst being timed */
    uint8_t burst_active;
    uint64_t burst_t0;
    uint64_t burst_acked0;
    uint64_t burst_end;        /* bytes_acked value that ends the burst */
    uint32_t rtt_us;
    uint32_t min_rtt_us;
    uint32_t samples;
};

/* Zeroes the state. */
void rtmpd_bw_init(struct rtmpd_bw *b);

/* One periodic sample (a few per second). */
void rtmpd_bw_sample(struct rtmpd_bw *b, const struct rtmpd_bw_sample *s);

/*
 * A burst was written to an idle connection: `acked` is tcpi_bytes_acked
 * right before it, `end` the acknowledged-byte count at which it is all
 * delivered. Ignored while another burst is being timed.
 */
void rtmpd_bw_burst_start(struct rtmpd_bw *b, uint64_t now_us, uint64_t acked, uint64_t end);

/*
 * Checks a burst being timed against the peer's acknowledged bytes. Its
 * duration is the time until the last byte was acknowledged less one
 * minimum round trip (the first byte's), and never less than `tick_us`,
 * the granularity of the checks.
 * Returns 1 when it has ended (a measurement was recorded, or it was
 * abandoned after `timeout_us`), 0 while it goes on.
 */
int rtmpd_bw_burst_check(struct rtmpd_bw *b, uint64_t now_us, uint64_t acked, uint64_t timeout_us,
                         uint64_t tick_us);

/* The estimate in bits/s (0: nothing known yet). */
uint64_t rtmpd_bw_estimate(const struct rtmpd_bw *b, uint64_t now_us);

/* How much the estimate can be trusted. */
enum rtmpd_bw_confidence rtmpd_bw_confidence(const struct rtmpd_bw *b, uint64_t now_us);

/* Non-zero while a fresh capacity measurement says the path is full. */
int rtmpd_bw_measured(const struct rtmpd_bw *b, uint64_t now_us);

/*
 * The smallest of the last RTMPD_BW_BURSTS burst measurements taken in the
 * last `window_us`, or 0 when there are fewer: what the path has carried
 * consistently, the evidence needed to move a player up.
 */
uint64_t rtmpd_bw_burst_floor(const struct rtmpd_bw *b, uint64_t now_us, uint64_t window_us);

#endif
