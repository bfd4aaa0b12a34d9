#include "rtmpd/bwprobe.h"

#include <string.h>

/* Intervals shorter than this say nothing reliable about a rate. */
#define MIN_INTERVAL_US 100000u
/* A burst smaller than this is timed by ack clocking noise, not the path. */
#define MIN_BURST_BYTES 4096u

/* now - then, never negative: callers may mix the loop's cached time with
 * a fresher clock reading. */
static uint64_t age(uint64_t now, uint64_t then)
{
    return now > then ? now - then : 0;
}

void rtmpd_bw_init(struct rtmpd_bw *b)
{
    memset(b, 0, sizeof *b);
}

static uint64_t rate_bps(uint64_t bytes, uint64_t us)
{
    return us ? bytes * 8 * 1000000 / us : 0;
}

void rtmpd_bw_sample(struct rtmpd_bw *b, const struct rtmpd_bw_sample *s)
{
    int backlogged = s->unsent_bytes > 0;
    if (s->rtt_us)
        b->rtt_us = s->rtt_us;
    if (s->min_rtt_us)
        b->min_rtt_us = s->min_rtt_us;
    if (!b->last_us || s->bytes_acked < b->last_acked) {
        b->last_us = s->now_us;
        b->last_acked = s->bytes_acked;
        b->last_backlogged = (uint8_t)backlogged;
        return;
    }
    uint64_t dt = age(s->now_us, b->last_us);
    if (dt < MIN_INTERVAL_US)
        return;
    uint64_t r = rate_bps(s->bytes_acked - b->last_acked, dt);
    b->samples++;
    if ((backlogged && b->last_backlogged) || s->congested) {
        /* Bytes waited for the whole interval, or frames were dropped
         * because they could not go out: the path was full. */
        int fresh = b->cap_us && age(s->now_us, b->cap_us) < RTMPD_BW_FRESH_US;
        b->cap_bps = fresh ? (b->cap_bps + r) / 2 : r;
        b->cap_us = s->now_us;
    } else if (r >= b->lb_bps || age(s->now_us, b->lb_us) > RTMPD_BW_LB_WINDOW_US) {
        /* App-limited: only a lower bound. */
        b->lb_bps = r;
        b->lb_us = s->now_us;
    }
    b->last_us = s->now_us;
    b->last_acked = s->bytes_acked;
    b->last_backlogged = (uint8_t)backlogged;
}

void rtmpd_bw_burst_start(struct rtmpd_bw *b, uint64_t now_us, uint64_t acked, uint64_t end)
{
    if (b->burst_active || end < acked + MIN_BURST_BYTES)
        return;
    b->burst_active = 1;
    b->burst_t0 = now_us;
    b->burst_acked0 = acked;
    b->burst_end = end;
}

int rtmpd_bw_burst_check(struct rtmpd_bw *b, uint64_t now_us, uint64_t acked, uint64_t timeout_us,
                         uint64_t tick_us)
{
    if (!b->burst_active)
        return 1;
    if (acked >= b->burst_end) {
        uint64_t took = age(now_us, b->burst_t0);
        took = took > b->min_rtt_us + tick_us ? took - b->min_rtt_us : tick_us;
        uint64_t r = rate_bps(b->burst_end - b->burst_acked0, took);
        uint32_t i = b->nburst % RTMPD_BW_BURSTS;
        b->burst_bps[i] = r;
        b->burst_at[i] = now_us;
        b->nburst++;
        b->burst_active = 0;
        return 1;
    }
    if (age(now_us, b->burst_t0) > timeout_us) {
        b->burst_active = 0; /* the path is busy: backlog sampling measures it */
        return 1;
    }
    return 0;
}

int rtmpd_bw_measured(const struct rtmpd_bw *b, uint64_t now_us)
{
    return b->cap_us && age(now_us, b->cap_us) < RTMPD_BW_FRESH_US;
}

uint64_t rtmpd_bw_estimate(const struct rtmpd_bw *b, uint64_t now_us)
{
    if (rtmpd_bw_measured(b, now_us))
        return b->cap_bps;
    uint64_t lb = age(now_us, b->lb_us) <= RTMPD_BW_LB_WINDOW_US ? b->lb_bps : 0;
    /* An old measurement still says more than nothing, unless lower
     * bounds have since shown more. */
    return lb > b->cap_bps ? lb : b->cap_bps;
}

enum rtmpd_bw_confidence rtmpd_bw_confidence(const struct rtmpd_bw *b, uint64_t now_us)
{
    if (rtmpd_bw_measured(b, now_us))
        return RTMPD_BW_MEASURED;
    return b->lb_bps || b->cap_bps ? RTMPD_BW_LOWER_BOUND : RTMPD_BW_NONE;
}

uint64_t rtmpd_bw_burst_floor(const struct rtmpd_bw *b, uint64_t now_us, uint64_t window_us)
{
    if (b->nburst < RTMPD_BW_BURSTS)
        return 0;
    uint64_t floor = UINT64_MAX;
    for (uint32_t i = 0; i < RTMPD_BW_BURSTS; i++) {
        if (age(now_us, b->burst_at[i]) > window_us)
            return 0;
        if (b->burst_bps[i] < floor)
            floor = b->burst_bps[i];
    }
    return floor;
}
