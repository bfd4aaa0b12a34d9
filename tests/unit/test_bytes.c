#include "test_main.h"

#include <math.h>

#include "rtmpd/bytes.h"
#include "rtmpd/error.h"

static void endian_round_trip(void **state)
{
    (void)state;
    uint8_t b[8];
    rtmpd_wr_be16(b, 0x1234);
    assert_int_equal(b[0], 0x12);
    assert_int_equal(b[1], 0x34);
    assert_int_equal(rtmpd_rd_be16(b), 0x1234);
    rtmpd_wr_be24(b, 0xabcdef);
    assert_memory_equal(b, "\xab\xcd\xef", 3);
    assert_int_equal(rtmpd_rd_be24(b), 0xabcdef);
    rtmpd_wr_be32(b, 0xdeadbeef);
    assert_memory_equal(b, "\xde\xad\xbe\xef", 4);
    assert_int_equal(rtmpd_rd_be32(b), 0xdeadbeef);
    rtmpd_wr_le32(b, 0x01020304);
    assert_memory_equal(b, "\x04\x03\x02\x01", 4);
    assert_int_equal(rtmpd_rd_le32(b), 0x01020304);
    rtmpd_wr_be64(b, 0x0102030405060708ull);
    assert_memory_equal(b, "\x01\x02\x03\x04\x05\x06\x07\x08", 8);
    assert_true(rtmpd_rd_be64(b) == 0x0102030405060708ull);
}

static void double_is_big_endian_ieee754(void **state)
{
    (void)state;
    uint8_t b[8];
    rtmpd_wr_double(b, 1.0);
    assert_memory_equal(b, "\x3f\xf0\x00\x00\x00\x00\x00\x00", 8);
    rtmpd_wr_double(b, -2.5);
    assert_true(rtmpd_rd_double(b) == -2.5);
    rtmpd_wr_double(b, INFINITY);
    assert_true(isinf(rtmpd_rd_double(b)));
}

static void buf_grows_and_appends(void **state)
{
    (void)state;
    struct rtmpd_buf b;
    rtmpd_buf_init(&b);
    for (int i = 0; i < 1000; i++)
        rtmpd_buf_put_be32(&b, (uint32_t)i);
    assert_false(b.failed);
    assert_int_equal(b.len, 4000);
    assert_int_equal(rtmpd_rd_be32(b.data + 4 * 999), 999);
    rtmpd_buf_put_u8(&b, 7);
    rtmpd_buf_put_be16(&b, 0x0102);
    rtmpd_buf_put_be24(&b, 0x030405);
    rtmpd_buf_put_le32(&b, 0x09080706);
    rtmpd_buf_put_double(&b, 1.0);
    assert_int_equal(b.len, 4000 + 1 + 2 + 3 + 4 + 8);
    assert_memory_equal(b.data + 4000, "\x07\x01\x02\x03\x04\x05\x06\x07\x08\x09\x3f\xf0", 12);
    rtmpd_buf_reset(&b);
    assert_int_equal(b.len, 0);
    rtmpd_buf_release(&b);
    assert_null(b.data);
}

static void buf_overflow_sets_failed(void **state)
{
    (void)state;
    struct rtmpd_buf b;
    rtmpd_buf_init(&b);
    rtmpd_buf_put_u8(&b, 1);
    assert_null(rtmpd_buf_reserve(&b, SIZE_MAX - 1));
    assert_true(b.failed);
    rtmpd_buf_put_u8(&b, 2); /* ignored after failure */
    assert_int_equal(b.len, 1);
    rtmpd_buf_release(&b);
}

static void strerror_names_every_code(void **state)
{
    (void)state;
    assert_string_equal(rtmpd_strerror(RTMPD_E_CHUNK_SIZE), "chunk: invalid chunk size");
    assert_string_equal(rtmpd_strerror(12345), "unknown error");
    for (int c = 0; c >= -50; c--)
        assert_non_null(rtmpd_strerror(c));
}

int main(int argc, char **argv);
static const struct CMUnitTest tests[] = {
    cmocka_unit_test(endian_round_trip),
    cmocka_unit_test(double_is_big_endian_ieee754),
    cmocka_unit_test(buf_grows_and_appends),
    cmocka_unit_test(buf_overflow_sets_failed),
    cmocka_unit_test(strerror_names_every_code),
};
RTMPD_TEST_MAIN(tests)
