/* Unit tests for the log line limiter (src/log.c). */
#include "test_main.h"

#include "rtmpd/log.h"

#define SEC 1000000u

/* Up to `burst` lines a period pass; the rest are counted, and the count is
 * handed out once, after the period. */
static void limit_burst_then_count(void **state)
{
    (void)state;
    struct rtmpd_log_limit l = { 0 };
    uint64_t t = 5 * SEC;
    int passed = 0;
    for (int i = 0; i < 25; i++)
        passed += rtmpd_log_limit_take(&l, t + (uint64_t)i * 1000, SEC, 10);
    assert_int_equal(passed, 10);
    assert_int_equal(rtmpd_log_limit_flush(&l, t + SEC / 2, SEC), 0); /* period runs */
    assert_int_equal(rtmpd_log_limit_flush(&l, t + SEC, SEC), 15);
    assert_int_equal(rtmpd_log_limit_flush(&l, t + SEC + 1, SEC), 0); /* handed out once */
    /* The next period starts with a full burst. */
    passed = 0;
    for (int i = 0; i < 12; i++)
        passed += rtmpd_log_limit_take(&l, t + SEC + 10 + (uint64_t)i, SEC, 10);
    assert_int_equal(passed, 10);
    assert_int_equal(rtmpd_log_limit_flush(&l, t + 3 * SEC, SEC), 2);
}

/* Nothing is lost when lines keep coming after a period ends but before the
 * count was flushed: they join the count. */
static void limit_unflushed_period(void **state)
{
    (void)state;
    struct rtmpd_log_limit l = { 0 };
    for (int i = 0; i < 4; i++)
        rtmpd_log_limit_take(&l, 10 * SEC, SEC, 3);
    assert_false(rtmpd_log_limit_take(&l, 12 * SEC, SEC, 3));
    assert_int_equal(rtmpd_log_limit_flush(&l, 12 * SEC, SEC), 2);
    assert_true(rtmpd_log_limit_take(&l, 12 * SEC, SEC, 3));
}

/* Below the burst nothing is ever suppressed. */
static void limit_quiet(void **state)
{
    (void)state;
    struct rtmpd_log_limit l = { 0 };
    for (uint64_t t = 0; t < 100; t++) {
        assert_true(rtmpd_log_limit_take(&l, t * SEC / 2, SEC, 2));
        assert_int_equal(rtmpd_log_limit_flush(&l, t * SEC / 2, SEC), 0);
    }
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(limit_burst_then_count),
    cmocka_unit_test(limit_unflushed_period),
    cmocka_unit_test(limit_quiet),
};
RTMPD_TEST_MAIN(tests)
