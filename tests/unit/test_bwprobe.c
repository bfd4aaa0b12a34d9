#include "test_main.h"

#include "rtmpd/bwprobe.h"

#define S 1000000ull /* one second in microseconds */

/* One periodic sample: cumulative acknowledged bytes at `now_us`. */
static void feed(struct rtmpd_bw *b, uint64_t now_us, uint64_t acked, uint64_t unsent,
                 int congested)
{
    struct rtmpd_bw_sample s = {
        .now_us = now_us,
        .bytes_acked = acked,
        .unsent_bytes = unsent,
        .congested = (uint8_t)congested,
        .rtt_us = 40000,
        .min_rtt_us = 20000,
    };
    rtmpd_bw_sample(b, &s);
}

/* Bytes a path of `bps` carries in `us`. */
static uint64_t bytes_at(uint64_t bps, uint64_t us)
{
    return bps * us / 8 / S;
}

static void backlogged_samples_measure_the_acked_rate(void **state)
{
    (void)state;
    struct rtmpd_bw b;
    rtmpd_bw_init(&b);
    assert_int_equal(rtmpd_bw_estimate(&b, 1 * S), 0);
    assert_int_equal(rtmpd_bw_confidence(&b, 1 * S), RTMPD_BW_NONE);

    /* Bytes wait at both ends of every half-second interval: the peer
     * acknowledges 1.2 Mbit/s, and that is what the path carries. */
    uint64_t acked = 1000, t = 10 * S;
    feed(&b, t, acked, 50000, 0); /* the first sample is only a baseline */
    assert_int_equal(rtmpd_bw_confidence(&b, t), RTMPD_BW_NONE);
    for (int i = 0; i < 4; i++) {
        t += S / 2;
        acked += bytes_at(1200000, S / 2);
        feed(&b, t, acked, 50000, 0);
        assert_true(rtmpd_bw_measured(&b, t));
        assert_int_equal(rtmpd_bw_confidence(&b, t), RTMPD_BW_MEASURED);
        assert_int_equal(rtmpd_bw_estimate(&b, t), 1200000);
    }

    /* The path slows to 800 kbit/s: the measurement follows (smoothed). */
    t += S / 2;
    acked += bytes_at(800000, S / 2);
    feed(&b, t, acked, 50000, 0);
    assert_int_equal(rtmpd_bw_estimate(&b, t), (1200000 + 800000) / 2);
    t += S / 2;
    acked += bytes_at(800000, S / 2);
    feed(&b, t, acked, 50000, 0);
    assert_int_equal(rtmpd_bw_estimate(&b, t), (1000000 + 800000) / 2);
}

static void backlog_at_one_end_only_is_no_measurement(void **state)
{
    (void)state;
    struct rtmpd_bw b;
    rtmpd_bw_init(&b);
    uint64_t t = 10 * S, acked = 0;
    feed(&b, t, acked, 0, 0);          /* idle at the start of the interval */
    t += S / 2;
    acked += bytes_at(600000, S / 2);
    feed(&b, t, acked, 30000, 0);      /* a write is pending at its end */
    assert_false(rtmpd_bw_measured(&b, t));
    assert_int_equal(rtmpd_bw_confidence(&b, t), RTMPD_BW_LOWER_BOUND);
    assert_int_equal(rtmpd_bw_estimate(&b, t), 600000);
}

static void app_limited_samples_give_only_a_lower_bound(void **state)
{
    (void)state;
    struct rtmpd_bw b;
    rtmpd_bw_init(&b);
    uint64_t t = 10 * S, acked = 0;
    feed(&b, t, acked, 0, 0);
    t += S / 2;
    acked += bytes_at(700000, S / 2);
    feed(&b, t, acked, 0, 0);
    assert_false(rtmpd_bw_measured(&b, t));
    assert_int_equal(rtmpd_bw_confidence(&b, t), RTMPD_BW_LOWER_BOUND);
    assert_int_equal(rtmpd_bw_estimate(&b, t), 700000);

    /* A smaller app-limited rate does not lower the bound within its window. */
    t += S / 2;
    acked += bytes_at(300000, S / 2);
    feed(&b, t, acked, 0, 0);
    assert_int_equal(rtmpd_bw_estimate(&b, t), 700000);
}

static void lower_bounds_never_pull_a_measurement_down(void **state)
{
    (void)state;
    struct rtmpd_bw b;
    rtmpd_bw_init(&b);
    uint64_t t = 10 * S, acked = 0;
    feed(&b, t, acked, 100000, 0);
    t += S / 2;
    acked += bytes_at(2000000, S / 2);
    feed(&b, t, acked, 100000, 0);
    assert_int_equal(rtmpd_bw_estimate(&b, t), 2000000);

    /* The player then only takes 500 kbit/s (a lower rendition). */
    uint64_t measured_at = t;
    for (int i = 0; i < 30; i++) {
        t += S / 2;
        acked += bytes_at(500000, S / 2);
        feed(&b, t, acked, 0, 0);
        assert_int_equal(rtmpd_bw_estimate(&b, t), 2000000);
    }
    /* Long after, the measurement is stale but still says more than the
     * lower bounds: it is kept. */
    assert_true(t - measured_at > RTMPD_BW_FRESH_US);
    assert_false(rtmpd_bw_measured(&b, t));
    assert_int_equal(rtmpd_bw_confidence(&b, t), RTMPD_BW_LOWER_BOUND);
    assert_int_equal(rtmpd_bw_estimate(&b, t), 2000000);

    /* A lower bound above the stale measurement wins. */
    t += S / 2;
    acked += bytes_at(3000000, S / 2);
    feed(&b, t, acked, 0, 0);
    assert_int_equal(rtmpd_bw_estimate(&b, t), 3000000);
}

static void congestion_counts_as_backlogged(void **state)
{
    (void)state;
    struct rtmpd_bw b;
    rtmpd_bw_init(&b);
    uint64_t t = 10 * S, acked = 0;
    feed(&b, t, acked, 0, 0);
    t += S / 2;
    acked += bytes_at(900000, S / 2);
    /* Nothing waits at the sample, but frames were dropped for the peer
     * during the interval: the path was full. */
    feed(&b, t, acked, 0, 1);
    assert_true(rtmpd_bw_measured(&b, t));
    assert_int_equal(rtmpd_bw_confidence(&b, t), RTMPD_BW_MEASURED);
    assert_int_equal(rtmpd_bw_estimate(&b, t), 900000);
}

static void a_measurement_goes_stale(void **state)
{
    (void)state;
    struct rtmpd_bw b;
    rtmpd_bw_init(&b);
    uint64_t t = 10 * S, acked = 0;
    feed(&b, t, acked, 100000, 0);
    t += S / 2;
    acked += bytes_at(1500000, S / 2);
    feed(&b, t, acked, 100000, 0);
    assert_true(rtmpd_bw_measured(&b, t + RTMPD_BW_FRESH_US - 1));
    assert_int_equal(rtmpd_bw_confidence(&b, t + RTMPD_BW_FRESH_US - 1), RTMPD_BW_MEASURED);
    assert_false(rtmpd_bw_measured(&b, t + RTMPD_BW_FRESH_US));
    assert_int_equal(rtmpd_bw_confidence(&b, t + RTMPD_BW_FRESH_US), RTMPD_BW_LOWER_BOUND);
    /* Stale, it still says more than nothing. */
    assert_int_equal(rtmpd_bw_estimate(&b, t + RTMPD_BW_FRESH_US), 1500000);

    /* A fresh measurement after a stale one is not averaged with it. */
    t += RTMPD_BW_FRESH_US + S;
    feed(&b, t, acked, 0, 0);
    for (int i = 0; i < 2; i++) {
        t += S / 2;
        acked += bytes_at(600000, S / 2);
        feed(&b, t, acked, 100000, 0);
    }
    assert_true(rtmpd_bw_measured(&b, t));
    assert_int_equal(rtmpd_bw_estimate(&b, t), 600000);
}

/* A burst of `bytes` written at `t0`, all acknowledged at `t1`. */
static uint64_t burst(struct rtmpd_bw *b, uint64_t t0, uint64_t t1, uint64_t acked0, uint64_t bytes)
{
    uint32_t n = b->nburst;
    rtmpd_bw_burst_start(b, t0, acked0, acked0 + bytes);
    assert_true(b->burst_active);
    assert_int_equal(rtmpd_bw_burst_check(b, t0 + (t1 - t0) / 2, acked0 + bytes / 2, 2 * S, 10000), 0);
    assert_int_equal(rtmpd_bw_burst_check(b, t1, acked0 + bytes, 2 * S, 10000), 1);
    assert_false(b->burst_active);
    assert_int_equal(b->nburst, n + 1);
    return b->burst_bps[n % RTMPD_BW_BURSTS];
}

static void burst_timing(void **state)
{
    (void)state;
    struct rtmpd_bw b;
    rtmpd_bw_init(&b);
    uint64_t t = 10 * S;
    feed(&b, t, 0, 0, 0); /* min_rtt 20 ms */

    /* 100 kB acknowledged 120 ms after the write: 100 ms on the path plus
     * one minimum round trip (the first byte's). */
    assert_int_equal(burst(&b, t, t + 120000, 0, 100000), 8000000);
    assert_int_equal(rtmpd_bw_burst_floor(&b, t + S, 10 * S), 0); /* fewer than 3 */
    assert_int_equal(burst(&b, t + 1 * S, t + 1 * S + 220000, 100000, 100000), 4000000);
    assert_int_equal(rtmpd_bw_burst_floor(&b, t + 2 * S, 10 * S), 0);
    assert_int_equal(burst(&b, t + 2 * S, t + 2 * S + 70000, 200000, 100000), 16000000);
    /* The floor is the smallest of the last 3. */
    assert_int_equal(rtmpd_bw_burst_floor(&b, t + 3 * S, 10 * S), 4000000);
    /* A fourth replaces the oldest: the 4 Mbit/s one is still among the last 3. */
    assert_int_equal(burst(&b, t + 3 * S, t + 3 * S + 120000, 300000, 100000), 8000000);
    assert_int_equal(rtmpd_bw_burst_floor(&b, t + 4 * S, 10 * S), 4000000);
    assert_int_equal(burst(&b, t + 4 * S, t + 4 * S + 120000, 400000, 100000), 8000000);
    assert_int_equal(rtmpd_bw_burst_floor(&b, t + 5 * S, 10 * S), 8000000);
    /* Only bursts within the window count: one older leaves fewer than 3. */
    assert_int_equal(rtmpd_bw_burst_floor(&b, t + 2 * S + 10 * S + 70000 + 1, 10 * S), 0);

    /* Delivered within one round trip plus one check interval: timed as
     * one check interval, the granularity. */
    assert_int_equal(burst(&b, t + 6 * S, t + 6 * S + 25000, 500000, 50000), 40000000);
}

static void small_or_overlapping_bursts_are_ignored(void **state)
{
    (void)state;
    struct rtmpd_bw b;
    rtmpd_bw_init(&b);
    rtmpd_bw_burst_start(&b, 10 * S, 1000, 1000 + 4095);
    assert_false(b.burst_active);
    assert_int_equal(rtmpd_bw_burst_check(&b, 10 * S, 0, 2 * S, 10000), 1); /* none active */

    rtmpd_bw_burst_start(&b, 10 * S, 1000, 101000);
    rtmpd_bw_burst_start(&b, 10 * S + 5000, 2000, 900000); /* ignored while one is timed */
    assert_int_equal(b.burst_end, 101000);

    /* Not delivered within the timeout: abandoned, nothing recorded. */
    assert_int_equal(rtmpd_bw_burst_check(&b, 11 * S, 50000, 2 * S, 10000), 0);
    assert_int_equal(rtmpd_bw_burst_check(&b, 12 * S + 1, 60000, 2 * S, 10000), 1);
    assert_false(b.burst_active);
    assert_int_equal(b.nburst, 0);
}

static void a_clock_going_backwards_never_underflows(void **state)
{
    (void)state;
    struct rtmpd_bw b;
    rtmpd_bw_init(&b);
    /* The burst starts at a fresh clock reading (ev_time()); the check
     * runs with the loop's cached time, 300 us older. */
    uint64_t t0 = 10 * S;
    rtmpd_bw_burst_start(&b, t0, 0, 50000);
    assert_int_equal(rtmpd_bw_burst_check(&b, t0 - 300, 50000, 2 * S, 10000), 1);
    assert_int_equal(b.nburst, 1);
    assert_int_equal(b.burst_bps[0], 50000ull * 8 * S / 10000); /* one check interval */

    /* Not abandoned as if ages had passed. */
    rtmpd_bw_burst_start(&b, t0 + S, 50000, 100000);
    assert_int_equal(rtmpd_bw_burst_check(&b, t0 + S - 300, 60000, 2 * S, 10000), 0);
    assert_true(b.burst_active);
    b.burst_active = 0;

    /* Samples: an interval measured backwards is no interval. */
    feed(&b, 20 * S, 1000, 100000, 0);
    feed(&b, 20 * S + S / 2, 1000 + bytes_at(1000000, S / 2), 100000, 0);
    assert_int_equal(rtmpd_bw_estimate(&b, 20 * S + S / 2), 1000000);
    uint32_t n = b.samples;
    feed(&b, 20 * S + S / 2 - 200, 1000 + bytes_at(1000000, S / 2) + 10, 100000, 0);
    assert_int_equal(b.samples, n);
    /* A measurement read with an older clock is fresh, not ancient. */
    assert_true(rtmpd_bw_measured(&b, 20 * S));
    assert_int_equal(rtmpd_bw_estimate(&b, 20 * S), 1000000);
    /* Burst records taken "after" now are within the window. */
    rtmpd_bw_init(&b);
    for (int i = 0; i < 3; i++) {
        rtmpd_bw_burst_start(&b, 30 * S, 0, 100000);
        assert_int_equal(rtmpd_bw_burst_check(&b, 30 * S + 100000, 100000, 2 * S, 10000), 1);
    }
    assert_int_equal(rtmpd_bw_burst_floor(&b, 30 * S, S), 8000000);
}

int main(int argc, char **argv);
static const struct CMUnitTest tests[] = {
    cmocka_unit_test(backlogged_samples_measure_the_acked_rate),
    cmocka_unit_test(backlog_at_one_end_only_is_no_measurement),
    cmocka_unit_test(app_limited_samples_give_only_a_lower_bound),
    cmocka_unit_test(lower_bounds_never_pull_a_measurement_down),
    cmocka_unit_test(congestion_counts_as_backlogged),
    cmocka_unit_test(a_measurement_goes_stale),
    cmocka_unit_test(burst_timing),
    cmocka_unit_test(small_or_overlapping_bursts_are_ignored),
    cmocka_unit_test(a_clock_going_backwards_never_underflows),
};
RTMPD_TEST_MAIN(tests)
