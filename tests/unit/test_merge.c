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

/* Consecutive connections (ids n, n+1, ...) with a data arriving at the same
 * tick flush at consecutive ticks: a window's writes are spread over it. */
static void merge_phases_spread_a_window(void **state)
{
    (void)state;
    uint32_t period = 8;
    uint32_t per_tick[8] = { 0 };
    for (uint64_t id = 100; id < 100 + 2000; id++) {
        uint64_t due = rtmpd_merge_due(77, period, (uint32_t)(id % period));
        per_tick[due - 78]++;
    }
    for (uint32_t i = 0; i < period; i++)
        assert_int_equal(per_tick[i], 250);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(merge_step_fits_every_window),
    cmocka_unit_test(merge_due_is_next_tick_of_phase),
    cmocka_unit_test(merge_phases_spread_a_window),
};
RTMPD_TEST_MAIN(tests)
