/* Unit tests for the merge wheel's arithmetic (src/server.c). */
#include "test_main.h"

#include "rtmpd/server.h"

/* Every window from 1 to 1000 ms is cut into equal steps of at most 5 ms,
 * the smallest window is a whole number of steps (within a microsecond a
 * step), and the largest window any app may have fits in the wheel. */
static void merge_step_fits_every_window(void **state)
{
    (void)state;
    for (uint32_t ms = 1; ms <= 1000; ms++) {
        uint32_t step = rtmpd_merge_step_us(ms);
        assert_true(step > 0 && step <= RTMPD_MERGE_STEP_MAX_US);
        uint32_t period = ms * 1000 / step;
        assert_true(period * step <= ms * 1000);
        assert_true(ms * 1000 - period * step < period); /* rounding only */
        assert_true(1000u * 1000 / step < RTMPD_MERGE_SLOTS);
    }
    assert_int_equal(rtmpd_merge_step_us(40), 5000);
    assert_int_equal(rtmpd_merge_step_us(5), 5000);
    assert_int_equal(rtmpd_merge_step_us(3), 3000);
    assert_int_equal(rtmpd_merge_step_us(12), 4000);
}

/* The next flush is the first later tick of the connection's phase: never
 * the current tick, never more than a period away. */
static void merge_due_is_next_tick_of_phase(void **state)
{
    (void)state;
    for (uint32_t period = 1; period <= 64; period++)
        for (uint32_t phase = 0; phase < period; phase++)
            for (uint64_t tick = 0; tick < 3 * period + 5; tick++) {
                uint64_t due = rtmpd_merge_due(tick, period, phase);
                assert_true(due > tick);
                assert_true(due - tick <= period);
                assert_int_equal(due % period, phase);
            }
    uint64_t big = UINT64_C(1) << 40;
    assert_int_equal(rtmpd_merge_due(big, 8, 3), big + 3);
    assert_int_equal(rtmpd_merge_due(big + 3, 8, 3), big + 11);
}

/* Phases follow the time a window's writes take: one phase (every
 * connection at the same tick, the fewest wakeups) until the writes take
 * longer than a burst may, then as many as keep each tick's share within
 * it, never more than the window has steps. */
static void merge_phases_follow_the_work(void **state)
{
    (void)state;
    assert_int_equal(rtmpd_merge_phases(0, 8), 1);
    assert_int_equal(rtmpd_merge_phases(RTMPD_MERGE_BURST_US, 8), 1);
    assert_int_equal(rtmpd_merge_phases(RTMPD_MERGE_BURST_US + 1, 8), 2);
    assert_int_equal(rtmpd_merge_phases(4 * RTMPD_MERGE_BURST_US, 8), 4);
    assert_int_equal(rtmpd_merge_phases(100 * RTMPD_MERGE_BURST_US, 8), 8);
    assert_int_equal(rtmpd_merge_phases(100 * RTMPD_MERGE_BURST_US, 1), 1);
    for (uint64_t work = 0; work < 50000; work += 777) {
        uint32_t n = rtmpd_merge_phases(work, 8);
        assert_true(n >= 1 && n <= 8);
        assert_true(n == 8 || work <= (uint64_t)n * RTMPD_MERGE_BURST_US);
    }
}

/* Consecutive connections (ids n, n+1, ...) whose data arrives at the same
 * tick flush spread evenly over the window's phases, the phases evenly
 * over the window; with one phase, all at once. */
static void merge_phases_spread_a_window(void **state)
{
    (void)state;
    const uint32_t period = 8;
    for (uint32_t phases = 1; phases <= 12; phases++) {
        uint32_t per_tick[8] = { 0 };
        for (uint64_t id = 100; id < 100 + 2400; id++) {
            uint32_t ph = rtmpd_merge_phase(id, period, phases);
            assert_true(ph < period);
            uint64_t due = rtmpd_merge_due(77, period, ph);
            per_tick[due - 78]++;
        }
        uint32_t used = phases < period ? phases : period, busy = 0;
        for (uint32_t i = 0; i < period; i++) {
            if (per_tick[i]) {
                busy++;
                assert_true(per_tick[i] == 2400 / used ||
                            per_tick[i] == (2400 + used - 1) / used);
            }
        }
        assert_int_equal(busy, used);
    }
    /* Two phases of an 8-step window are half a window apart. */
    assert_int_equal(rtmpd_merge_phase(10, 8, 2), 0);
    assert_int_equal(rtmpd_merge_phase(11, 8, 2), 4);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(merge_step_fits_every_window),
    cmocka_unit_test(merge_due_is_next_tick_of_phase),
    cmocka_unit_test(merge_phases_follow_the_work),
    cmocka_unit_test(merge_phases_spread_a_window),
};
RTMPD_TEST_MAIN(tests)
