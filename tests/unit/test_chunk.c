#include "test_main.h"

#include <stdlib.h>

#include "rtmpd/bytes.h"
#include "rtmpd/chunk.h"
#include "rtmpd/error.h"

/*
 * Harness. Every vector is decoded whole, one byte at a time and in 5-byte
 * pieces; the three runs must return exactly the expected messages and end
 * with the same status.
 */

struct got {
    struct rtmpd_msg *v;  /* payloads are copies */
    size_t n;
    int rc;               /* RTMPD_AGAIN once all input is consumed, or the error */
    uint32_t chunk_size;
    size_t memory;
};

struct end {
    uint32_t chunk_size;
    size_t memory;        /* largest over the runs */
};

static void got_add(struct got *g, const struct rtmpd_msg *m)
{
    g->v = realloc(g->v, (g->n + 1) * sizeof *g->v);
    assert_non_null(g->v);
    struct rtmpd_msg *c = &g->v[g->n++];
    *c = *m;
    if (m->length == 0) {
        assert_null(m->payload);
        return;
    }
    assert_non_null(m->payload);
    c->payload = malloc(m->length);
    assert_non_null(c->payload);
    memcpy(c->payload, m->payload, m->length);
}

static void got_free(struct got *g)
{
    for (size_t i = 0; i < g->n; i++)
        free(g->v[i].payload);
    free(g->v);
    memset(g, 0, sizeof *g);
}

/* Feeds `in` in pieces of `step` bytes, collecting every message. */
static void run(const uint8_t *in, size_t len, const struct rtmpd_chunk_limits *lim, size_t step,
                struct got *g)
{
    struct rtmpd_chunk_dec d;
    struct rtmpd_msg m;

    memset(g, 0, sizeof *g);
    g->rc = RTMPD_AGAIN;
    rtmpd_chunk_dec_init(&d, lim);
    for (size_t off = 0; off < len && g->rc == RTMPD_AGAIN;) {
        size_t piece = len - off < step ? len - off : step;
        while (piece) {
            ssize_t rc = rtmpd_chunk_decode(&d, in + off, piece, &m);
            if (rc == RTMPD_AGAIN) {
                off += piece;
                break;
            }
            if (rc < 0) {
                g->rc = (int)rc;
                break;
            }
            assert_true((size_t)rc <= piece);
            got_add(g, &m);
            off += (size_t)rc;
            piece -= (size_t)rc;
        }
    }
    g->chunk_size = rtmpd_chunk_dec_chunk_size(&d);
    g->memory = rtmpd_chunk_dec_memory(&d);
    rtmpd_chunk_dec_release(&d);
}

static void assert_msg_equal(const struct rtmpd_msg *a, const struct rtmpd_msg *b)
{
    assert_int_equal(a->csid, b->csid);
    assert_int_equal(a->type, b->type);
    assert_int_equal(a->stream_id, b->stream_id);
    assert_int_equal(a->timestamp, b->timestamp);
    assert_int_equal(a->length, b->length);
    if (a->length)
        assert_memory_equal(a->payload, b->payload, a->length);
}

static struct end check(const uint8_t *in, size_t len, const struct rtmpd_chunk_limits *lim,
                        const struct rtmpd_msg *want, size_t nwant, int want_rc)
{
    static const size_t steps[] = { SIZE_MAX, 1, 5 };
    struct end e = { 0, 0 };

    for (size_t s = 0; s < sizeof steps / sizeof steps[0]; s++) {
        struct got g;
        run(in, len, lim, steps[s], &g);
        assert_int_equal(g.rc, want_rc);
        assert_int_equal(g.n, nwant);
        for (size_t i = 0; i < nwant; i++)
            assert_msg_equal(&g.v[i], &want[i]);
        if (s == 0)
            e.chunk_size = g.chunk_size;
        assert_int_equal(g.chunk_size, e.chunk_size);
        if (g.memory > e.memory)
            e.memory = g.memory;
        got_free(&g);
    }
    return e;
}

/* Hand-built chunks, written byte by byte (independent of the encoder). */

static void put_basic(struct rtmpd_buf *b, unsigned fmt, uint32_t csid)
{
    if (csid < 64) {
        rtmpd_buf_put_u8(b, (uint8_t)(fmt << 6 | csid));
    } else if (csid < 320) {
        rtmpd_buf_put_u8(b, (uint8_t)(fmt << 6));
        rtmpd_buf_put_u8(b, (uint8_t)(csid - 64));
    } else {
        rtmpd_buf_put_u8(b, (uint8_t)(fmt << 6 | 1));
        rtmpd_buf_put_u8(b, (uint8_t)((csid - 64) & 0xff));
        rtmpd_buf_put_u8(b, (uint8_t)((csid - 64) >> 8));
    }
}

static void put_fmt0(struct rtmpd_buf *b, uint32_t csid, uint32_t ts_field, uint32_t len,
                     uint8_t type, uint32_t sid)
{
    put_basic(b, 0, csid);
    rtmpd_buf_put_be24(b, ts_field);
    rtmpd_buf_put_be24(b, len);
    rtmpd_buf_put_u8(b, type);
    rtmpd_buf_put_le32(b, sid);
}

static void put_fmt1(struct rtmpd_buf *b, uint32_t csid, uint32_t delta_field, uint32_t len,
                     uint8_t type)
{
    put_basic(b, 1, csid);
    rtmpd_buf_put_be24(b, delta_field);
    rtmpd_buf_put_be24(b, len);
    rtmpd_buf_put_u8(b, type);
}

static void put_fmt2(struct rtmpd_buf *b, uint32_t csid, uint32_t delta_field)
{
    put_basic(b, 2, csid);
    rtmpd_buf_put_be24(b, delta_field);
}

/*
 * Payload after a first header already written: `cs` bytes, then fmt 3
 * chunks, each with the extended timestamp `ext` when `rep` is set.
 */
static void put_payload(struct rtmpd_buf *b, uint32_t csid, const uint8_t *p, size_t n,
                        uint32_t cs, int rep, uint32_t ext)
{
    for (size_t off = 0;;) {
        size_t k = n - off < cs ? n - off : cs;
        rtmpd_buf_append(b, p + off, k);
        off += k;
        if (off >= n)
            return;
        put_basic(b, 3, csid);
        if (rep)
            rtmpd_buf_put_be32(b, ext);
    }
}

/* A whole control message (fmt 0, csid 2, stream 0) with a 4-byte value. */
static void put_control(struct rtmpd_buf *b, uint8_t type, uint32_t v)
{
    put_fmt0(b, 2, 0, 4, type, 0);
    rtmpd_buf_put_be32(b, v);
}

static uint8_t *pattern(size_t n, uint8_t seed)
{
    uint8_t *p = malloc(n ? n : 1);
    assert_non_null(p);
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)(seed + i * 7 + (i >> 8));
    return p;
}

static struct rtmpd_msg M(uint32_t csid, uint8_t type, uint32_t sid, uint32_t ts, uint32_t len,
                          uint8_t *payload)
{
    struct rtmpd_msg m = { csid, type, sid, ts, len, payload };
    return m;
}

static uint8_t be32_buf[16][4];

static uint8_t *be32(int slot, uint32_t v)
{
    rtmpd_wr_be32(be32_buf[slot], v);
    return be32_buf[slot];
}

/* Decoder: formats and timestamps. */

static void decode_fmt0_message(void **state)
{
    (void)state;
    static const uint8_t in[] = {
        0x03, 0x00, 0x03, 0xe8, 0x00, 0x00, 0x05, 0x14, 0x01, 0x00, 0x00, 0x00,
        'h', 'e', 'l', 'l', 'o',
    };
    struct rtmpd_msg want = M(3, 20, 1, 1000, 5, (uint8_t *)"hello");
    check(in, sizeof in, NULL, &want, 1, RTMPD_AGAIN);
}

static void decode_stops_after_each_message(void **state)
{
    (void)state;
    static const uint8_t in[] = {
        0x03, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x14, 0x00, 0x00, 0x00, 0x00, 'a',
        0xc3, 'b',
    };
    struct rtmpd_chunk_dec d;
    struct rtmpd_msg m;

    rtmpd_chunk_dec_init(&d, NULL);
    assert_int_equal(rtmpd_chunk_decode(&d, in, sizeof in, &m), 13);
    assert_int_equal(m.payload[0], 'a');
    assert_int_equal(rtmpd_chunk_decode(&d, in + 13, 2, &m), 2);
    assert_int_equal(m.payload[0], 'b');
    assert_int_equal(rtmpd_chunk_decode(&d, in, 0, &m), RTMPD_AGAIN);
    rtmpd_chunk_dec_release(&d);
}

static void decode_fmt1_fmt2_fmt3_deltas(void **state)
{
    (void)state;
    struct rtmpd_buf b = { 0 };
    put_fmt0(&b, 4, 1000, 3, 8, 1);
    rtmpd_buf_append(&b, "abc", 3);
    put_fmt1(&b, 4, 40, 4, 9);
    rtmpd_buf_append(&b, "defg", 4);
    put_fmt2(&b, 4, 20);
    rtmpd_buf_append(&b, "hijk", 4);
    put_basic(&b, 3, 4);
    rtmpd_buf_append(&b, "lmno", 4);
    put_basic(&b, 3, 4);
    rtmpd_buf_append(&b, "pqrs", 4);
    struct rtmpd_msg want[] = {
        M(4, 8, 1, 1000, 3, (uint8_t *)"abc"),
        M(4, 9, 1, 1040, 4, (uint8_t *)"defg"),
        M(4, 9, 1, 1060, 4, (uint8_t *)"hijk"),
        M(4, 9, 1, 1080, 4, (uint8_t *)"lmno"),
        M(4, 9, 1, 1100, 4, (uint8_t *)"pqrs"),
    };
    check(b.data, b.len, NULL, want, 5, RTMPD_AGAIN);
    rtmpd_buf_release(&b);
}

/* 5.3.1.2.4: fmt 3 right after fmt 0 repeats the fmt 0 timestamp as delta. */
static void decode_fmt3_after_fmt0_adds_fmt0_timestamp(void **state)
{
    (void)state;
    struct rtmpd_buf b = { 0 };
    put_fmt0(&b, 4, 26, 2, 8, 1);
    rtmpd_buf_append(&b, "ab", 2);
    put_basic(&b, 3, 4);
    rtmpd_buf_append(&b, "cd", 2);
    put_basic(&b, 3, 4);
    rtmpd_buf_append(&b, "ef", 2);
    struct rtmpd_msg want[] = {
        M(4, 8, 1, 26, 2, (uint8_t *)"ab"),
        M(4, 8, 1, 52, 2, (uint8_t *)"cd"),
        M(4, 8, 1, 78, 2, (uint8_t *)"ef"),
    };
    check(b.data, b.len, NULL, want, 3, RTMPD_AGAIN);
    rtmpd_buf_release(&b);
}

static void decode_csid_all_forms(void **state)
{
    (void)state;
    /* Literal basic headers: fmt 0 first chunk, fmt 3 continuation. */
    static const struct {
        uint32_t csid;
        uint8_t n, first[3], cont[3];
    } forms[] = {
        { 2, 1, { 0x02 }, { 0xc2 } },
        { 63, 1, { 0x3f }, { 0xff } },
        { 64, 2, { 0x00, 0x00 }, { 0xc0, 0x00 } },
        { 319, 2, { 0x00, 0xff }, { 0xc0, 0xff } },
        { 320, 3, { 0x01, 0x00, 0x01 }, { 0xc1, 0x00, 0x01 } },
        { 65599, 3, { 0x01, 0xff, 0xff }, { 0xc1, 0xff, 0xff } },
    };
    uint8_t *p = pattern(130, 9);
    struct rtmpd_msg want[6];
    struct rtmpd_buf b = { 0 };

    for (size_t i = 0; i < 6; i++) {
        rtmpd_buf_append(&b, forms[i].first, forms[i].n);
        rtmpd_buf_put_be24(&b, (uint32_t)i);
        rtmpd_buf_put_be24(&b, 130);
        rtmpd_buf_put_u8(&b, 9);
        rtmpd_buf_put_le32(&b, 1);
        rtmpd_buf_append(&b, p, 128);
        rtmpd_buf_append(&b, forms[i].cont, forms[i].n);
        rtmpd_buf_append(&b, p + 128, 2);
        want[i] = M(forms[i].csid, 9, 1, (uint32_t)i, 130, p);
    }
    check(b.data, b.len, NULL, want, 6, RTMPD_AGAIN);
    rtmpd_buf_release(&b);
    free(p);
}

static void decode_interleaved_chunk_streams(void **state)
{
    (void)state;
    uint8_t *a = pattern(200, 1), *v = pattern(300, 2);
    struct rtmpd_buf b = { 0 };
    put_fmt0(&b, 4, 10, 200, 8, 1);
    rtmpd_buf_append(&b, a, 128);
    put_fmt0(&b, 6, 20, 300, 9, 1);
    rtmpd_buf_append(&b, v, 128);
    put_basic(&b, 3, 4);
    rtmpd_buf_append(&b, a + 128, 72);
    put_basic(&b, 3, 6);
    rtmpd_buf_append(&b, v + 128, 128);
    put_basic(&b, 3, 6);
    rtmpd_buf_append(&b, v + 256, 44);
    struct rtmpd_msg want[] = { M(4, 8, 1, 10, 200, a), M(6, 9, 1, 20, 300, v) };
    check(b.data, b.len, NULL, want, 2, RTMPD_AGAIN);
    rtmpd_buf_release(&b);
    free(a);
    free(v);
}

static void decode_zero_length_messages(void **state)
{
    (void)state;
    struct rtmpd_buf b = { 0 };
    put_fmt0(&b, 5, 7, 0, 18, 1);  /* complete at its header */
    put_basic(&b, 3, 5);           /* fmt 3: new empty message, ts 7 + 7 */
    put_fmt1(&b, 5, 1, 0, 20);
    put_fmt0(&b, 6, 0xffffff, 0, 9, 1);
    rtmpd_buf_put_be32(&b, 0x01000000);
    put_fmt0(&b, 3, 5, 1, 20, 0);
    rtmpd_buf_append(&b, "x", 1);
    struct rtmpd_msg want[] = {
        M(5, 18, 1, 7, 0, NULL), M(5, 18, 1, 14, 0, NULL), M(5, 20, 1, 15, 0, NULL),
        M(6, 9, 1, 0x01000000, 0, NULL), M(3, 20, 0, 5, 1, (uint8_t *)"x"),
    };
    check(b.data, b.len, NULL, want, 5, RTMPD_AGAIN);

    /* Returned as soon as the 12 header bytes are read. */
    struct rtmpd_chunk_dec d;
    struct rtmpd_msg m;
    rtmpd_chunk_dec_init(&d, NULL);
    assert_int_equal(rtmpd_chunk_decode(&d, b.data, b.len, &m), 12);
    assert_null(m.payload);
    assert_null(rtmpd_chunk_take_payload(&d));
    rtmpd_chunk_dec_release(&d);
    rtmpd_buf_release(&b);
}

static void decode_fresh_stream_fmt_rules(void **state)
{
    (void)state;
    struct rtmpd_buf b = { 0 };
    /* librtmp sends fmt 1 first on csid 2: accepted, message stream id 0. */
    put_fmt1(&b, 2, 30, 6, 4);
    rtmpd_buf_append(&b, "\x00\x06\x00\x00\x0d\x0f", 6);
    struct rtmpd_msg want = M(2, 4, 0, 30, 6, (uint8_t *)"\x00\x06\x00\x00\x0d\x0f");
    check(b.data, b.len, NULL, &want, 1, RTMPD_AGAIN);

    put_fmt2(&b, 5, 10);
    rtmpd_buf_append(&b, "abcd", 4);
    check(b.data, b.len, NULL, &want, 1, RTMPD_E_CHUNK_FRESH_FMT);

    rtmpd_buf_reset(&b);
    put_basic(&b, 3, 9);
    rtmpd_buf_append(&b, "abcd", 4);
    check(b.data, b.len, NULL, NULL, 0, RTMPD_E_CHUNK_FRESH_FMT);
    rtmpd_buf_release(&b);
}

/* Extended timestamps. */

static void decode_ext_ts_fmt0_repeated_on_continuations(void **state)
{
    (void)state;
    uint8_t *p = pattern(300, 3);
    struct rtmpd_buf b = { 0 };
    put_fmt0(&b, 6, 0xffffff, 300, 9, 1);
    rtmpd_buf_put_be32(&b, 0x12345678);
    put_payload(&b, 6, p, 300, 128, 1, 0x12345678);
    struct rtmpd_msg want = M(6, 9, 1, 0x12345678, 300, p);
    check(b.data, b.len, NULL, &want, 1, RTMPD_AGAIN);
    rtmpd_buf_release(&b);
    free(p);
}

static void decode_ext_ts_fmt0_omitted_on_continuations(void **state)
{
    (void)state;
    uint8_t *p = pattern(300, 3);
    p[128] = 0xaa;  /* first byte after each continuation header, != 0x12 */
    p[256] = 0xbb;
    struct rtmpd_buf b = { 0 };
    put_fmt0(&b, 6, 0xffffff, 300, 9, 1);
    rtmpd_buf_put_be32(&b, 0x12345678);
    put_payload(&b, 6, p, 300, 128, 0, 0);
    struct rtmpd_msg want = M(6, 9, 1, 0x12345678, 300, p);
    check(b.data, b.len, NULL, &want, 1, RTMPD_AGAIN);

    /* Mismatch only on the 4th byte: still payload. */
    rtmpd_buf_reset(&b);
    memcpy(p + 128, "\x12\x34\x56\x00", 4);
    put_fmt0(&b, 6, 0xffffff, 300, 9, 1);
    rtmpd_buf_put_be32(&b, 0x12345678);
    put_payload(&b, 6, p, 300, 128, 0, 0);
    check(b.data, b.len, NULL, &want, 1, RTMPD_AGAIN);
    rtmpd_buf_release(&b);
    free(p);
}

/* Fewer than 4 payload bytes in the chunk: never read past them to decide. */
static void decode_ext_ts_short_tail_mismatch_is_payload(void **state)
{
    (void)state;
    uint8_t *p = pattern(130, 4);
    struct rtmpd_buf b = { 0 };
    struct rtmpd_msg want[] = { M(6, 9, 1, 0x01020304, 130, p), M(3, 20, 0, 0, 1, (uint8_t *)"z") };

    memcpy(p + 128, "\x01\xbb", 2);  /* first byte matches, second does not */
    put_fmt0(&b, 6, 0xffffff, 130, 9, 1);
    rtmpd_buf_put_be32(&b, 0x01020304);
    put_payload(&b, 6, p, 130, 128, 0, 0);
    put_fmt0(&b, 3, 0, 1, 20, 0);  /* must be read as the next chunk */
    rtmpd_buf_append(&b, "z", 1);
    check(b.data, b.len, NULL, want, 2, RTMPD_AGAIN);
    rtmpd_buf_release(&b);
    free(p);
}

static void decode_ext_ts_short_tail_follows_peer_habit(void **state)
{
    (void)state;
    uint8_t *p = pattern(300, 5), *q = pattern(130, 6);
    struct rtmpd_buf b = { 0 };
    struct rtmpd_msg want[] = {
        M(6, 9, 1, 0x01020304, 300, p), M(6, 9, 1, 0x01020305, 130, q),
        M(3, 20, 0, 0, 1, (uint8_t *)"z"),
    };

    memcpy(q + 128, "\x01\x02", 2);  /* tail equals the start of 0x01020305 */
    p[128] = 0xee;
    p[256] = 0xee;

    /* Peer repeated the field before: the matching tail is the field. */
    put_fmt0(&b, 6, 0xffffff, 300, 9, 1);
    rtmpd_buf_put_be32(&b, 0x01020304);
    put_payload(&b, 6, p, 300, 128, 1, 0x01020304);
    put_fmt0(&b, 6, 0xffffff, 130, 9, 1);
    rtmpd_buf_put_be32(&b, 0x01020305);
    put_payload(&b, 6, q, 130, 128, 1, 0x01020305);
    put_fmt0(&b, 3, 0, 1, 20, 0);  /* misread tails would eat into this */
    rtmpd_buf_append(&b, "z", 1);
    check(b.data, b.len, NULL, want, 3, RTMPD_AGAIN);

    /* Peer omitted it before: the matching tail is payload. */
    rtmpd_buf_reset(&b);
    put_fmt0(&b, 6, 0xffffff, 300, 9, 1);
    rtmpd_buf_put_be32(&b, 0x01020304);
    put_payload(&b, 6, p, 300, 128, 0, 0);
    put_fmt0(&b, 6, 0xffffff, 130, 9, 1);
    rtmpd_buf_put_be32(&b, 0x01020305);
    put_payload(&b, 6, q, 130, 128, 0, 0);
    put_fmt0(&b, 3, 0, 1, 20, 0);
    rtmpd_buf_append(&b, "z", 1);
    check(b.data, b.len, NULL, want, 3, RTMPD_AGAIN);

    /* No evidence yet: the spec (field present). */
    rtmpd_buf_reset(&b);
    put_fmt0(&b, 6, 0xffffff, 130, 9, 1);
    rtmpd_buf_put_be32(&b, 0x01020305);
    put_payload(&b, 6, q, 130, 128, 1, 0x01020305);
    put_fmt0(&b, 3, 0, 1, 20, 0);
    rtmpd_buf_append(&b, "z", 1);
    check(b.data, b.len, NULL, want + 1, 2, RTMPD_AGAIN);
    rtmpd_buf_release(&b);
    free(p);
    free(q);
}

/* Extended delta on fmt 1, then fmt 3 new messages with and without it. */
static void decode_ext_ts_delta_and_fmt3_new_messages(void **state)
{
    (void)state;
    const uint32_t D = 0x01000000;
    struct rtmpd_buf b = { 0 };
    put_fmt0(&b, 5, 1000, 4, 9, 1);
    rtmpd_buf_append(&b, "aaaa", 4);
    put_fmt1(&b, 5, 0xffffff, 4, 9);
    rtmpd_buf_put_be32(&b, D);
    rtmpd_buf_append(&b, "bbbb", 4);
    put_basic(&b, 3, 5);
    rtmpd_buf_put_be32(&b, D);  /* spec: repeated */
    rtmpd_buf_append(&b, "cccc", 4);
    put_basic(&b, 3, 5);        /* old librtmp: omitted */
    rtmpd_buf_append(&b, "dddd", 4);
    struct rtmpd_msg want[] = {
        M(5, 9, 1, 1000, 4, (uint8_t *)"aaaa"),
        M(5, 9, 1, 1000 + D, 4, (uint8_t *)"bbbb"),
        M(5, 9, 1, 1000 + 2 * D, 4, (uint8_t *)"cccc"),
        M(5, 9, 1, 1000 + 3 * D, 4, (uint8_t *)"dddd"),
    };
    check(b.data, b.len, NULL, want, 4, RTMPD_AGAIN);
    rtmpd_buf_release(&b);
}

/* Chunk size and control messages. */

static void decode_chunk_sizes_1_128_4096_65536(void **state)
{
    (void)state;
    static const uint32_t sizes[] = { 1, 128, 4096, 65536 };

    for (size_t i = 0; i < 4; i++) {
        uint32_t cs = sizes[i], len = cs == 1 ? 10 : 3 * cs + 7;
        uint8_t *p = pattern(len, (uint8_t)i);
        struct rtmpd_buf b = { 0 };
        put_control(&b, RTMPD_MSG_SET_CHUNK_SIZE, cs);
        put_fmt0(&b, 6, 33, len, 9, 1);
        put_payload(&b, 6, p, len, cs, 0, 0);
        put_fmt2(&b, 6, 33);
        put_payload(&b, 6, p, len, cs, 0, 0);
        struct rtmpd_msg want[] = {
            M(2, 1, 0, 0, 4, be32(0, cs)), M(6, 9, 1, 33, len, p), M(6, 9, 1, 66, len, p),
        };
        struct end e = check(b.data, b.len, NULL, want, 3, RTMPD_AGAIN);
        assert_int_equal(e.chunk_size, cs);
        rtmpd_buf_release(&b);
        free(p);
    }
}

static void decode_set_chunk_size_applies_after_its_message(void **state)
{
    (void)state;
    uint8_t *v = pattern(300, 7);
    struct rtmpd_buf b = { 0 };

    /* Partial message at 128, new size, its remainder in one larger chunk. */
    put_fmt0(&b, 6, 0, 300, 9, 1);
    rtmpd_buf_append(&b, v, 128);
    put_control(&b, RTMPD_MSG_SET_CHUNK_SIZE, 4096);
    put_basic(&b, 3, 6);
    rtmpd_buf_append(&b, v + 128, 172);
    struct rtmpd_msg want[] = { M(2, 1, 0, 0, 4, be32(0, 4096)), M(6, 9, 1, 0, 300, v) };
    check(b.data, b.len, NULL, want, 2, RTMPD_AGAIN);

    /* Set Chunk Size 3 sent in 1-byte chunks: its own chunks stay at 1. */
    rtmpd_buf_reset(&b);
    put_control(&b, RTMPD_MSG_SET_CHUNK_SIZE, 1);
    put_fmt0(&b, 2, 0, 4, RTMPD_MSG_SET_CHUNK_SIZE, 0);
    put_payload(&b, 2, be32(1, 3), 4, 1, 0, 0);
    put_fmt0(&b, 6, 0, 7, 9, 1);
    put_payload(&b, 6, v, 7, 3, 0, 0);
    struct rtmpd_msg want2[] = {
        M(2, 1, 0, 0, 4, be32(2, 1)), M(2, 1, 0, 0, 4, be32(3, 3)), M(6, 9, 1, 0, 7, v),
    };
    struct end e = check(b.data, b.len, NULL, want2, 3, RTMPD_AGAIN);
    assert_int_equal(e.chunk_size, 3);
    rtmpd_buf_release(&b);
    free(v);
}

static void decode_set_chunk_size_bounds(void **state)
{
    (void)state;
    static const struct {
        uint32_t v;
        int rc;
    } cases[] = {
        { 1, RTMPD_AGAIN }, { 0x7fffffff, RTMPD_AGAIN },
        { 0, RTMPD_E_CHUNK_SIZE }, { 0x80000000, RTMPD_E_CHUNK_SIZE },
        { 0xffffffff, RTMPD_E_CHUNK_SIZE },
    };
    struct rtmpd_buf b = { 0 };

    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        rtmpd_buf_reset(&b);
        put_control(&b, RTMPD_MSG_SET_CHUNK_SIZE, cases[i].v);
        struct rtmpd_msg want = M(2, 1, 0, 0, 4, be32(0, cases[i].v));
        struct end e = check(b.data, b.len, NULL, &want, cases[i].rc == RTMPD_AGAIN,
                             cases[i].rc);
        if (cases[i].rc == RTMPD_AGAIN)
            assert_int_equal(e.chunk_size, cases[i].v);
        else
            assert_int_equal(e.chunk_size, 128);
    }

    /* Longer payload: the first 4 bytes count. Shorter: malformed. */
    rtmpd_buf_reset(&b);
    put_fmt0(&b, 2, 0, 5, RTMPD_MSG_SET_CHUNK_SIZE, 0);
    rtmpd_buf_append(&b, "\x00\x00\x10\x00\xff", 5);
    struct rtmpd_msg want5 = M(2, 1, 0, 0, 5, (uint8_t *)"\x00\x00\x10\x00\xff");
    assert_int_equal(check(b.data, b.len, NULL, &want5, 1, RTMPD_AGAIN).chunk_size, 4096);

    rtmpd_buf_reset(&b);
    put_fmt0(&b, 2, 0, 3, RTMPD_MSG_SET_CHUNK_SIZE, 0);
    rtmpd_buf_append(&b, "\x00\x10\x00", 3);
    check(b.data, b.len, NULL, NULL, 0, RTMPD_E_CHUNK_CONTROL);

    rtmpd_buf_reset(&b);
    put_fmt0(&b, 2, 0, 0, RTMPD_MSG_SET_CHUNK_SIZE, 0);
    check(b.data, b.len, NULL, NULL, 0, RTMPD_E_CHUNK_CONTROL);
    rtmpd_buf_release(&b);
}

static void decode_abort_mid_message(void **state)
{
    (void)state;
    uint8_t *old = pattern(300, 8), *neu = pattern(300, 9);
    struct rtmpd_buf b = { 0 };

    put_fmt0(&b, 6, 0, 300, 9, 1);
    rtmpd_buf_append(&b, old, 128);
    size_t partial = b.len;
    put_control(&b, RTMPD_MSG_ABORT, 6);
    size_t aborted = b.len;
    /* fmt 3 now starts a new message from the last header (300 bytes). */
    put_basic(&b, 3, 6);
    put_payload(&b, 6, neu, 300, 128, 0, 0);
    put_basic(&b, 3, 2);         /* Abort of an unknown csid: ignored */
    rtmpd_buf_put_be32(&b, 9);
    put_fmt1(&b, 6, 10, 5, 9);
    rtmpd_buf_append(&b, "world", 5);
    struct rtmpd_msg want[] = {
        M(2, 2, 0, 0, 4, be32(0, 6)), M(6, 9, 1, 0, 300, neu),
        M(2, 2, 0, 0, 4, be32(1, 9)), M(6, 9, 1, 10, 5, (uint8_t *)"world"),
    };
    check(b.data, b.len, NULL, want, 4, RTMPD_AGAIN);

    /* The partial message's memory goes with it. */
    struct rtmpd_chunk_dec d;
    struct rtmpd_msg m;
    rtmpd_chunk_dec_init(&d, NULL);
    assert_int_equal(rtmpd_chunk_decode(&d, b.data, partial, &m), RTMPD_AGAIN);
    size_t before = rtmpd_chunk_dec_memory(&d);
    assert_int_equal(rtmpd_chunk_decode(&d, b.data + partial, b.len - partial, &m),
                     aborted - partial);
    assert_int_equal(m.type, RTMPD_MSG_ABORT);
    assert_true(rtmpd_chunk_dec_memory(&d) + 128 <= before);
    rtmpd_chunk_dec_release(&d);

    rtmpd_buf_reset(&b);
    put_fmt0(&b, 2, 0, 2, RTMPD_MSG_ABORT, 0);
    rtmpd_buf_append(&b, "\x00\x06", 2);
    check(b.data, b.len, NULL, NULL, 0, RTMPD_E_CHUNK_CONTROL);
    rtmpd_buf_release(&b);
    free(old);
    free(neu);
}

/* SRS #2523: OBS sends a new header before the message is complete. */
static void decode_new_header_replaces_incomplete_message(void **state)
{
    (void)state;
    uint8_t *junk = pattern(128, 0xaa), *big = pattern(1000, 10), *mid = pattern(200, 11);
    struct rtmpd_buf b = { 0 };

    put_fmt0(&b, 6, 0, 300, 9, 1);
    rtmpd_buf_append(&b, junk, 128);
    put_fmt1(&b, 6, 10, 1000, 9);        /* larger: fresh buffer, own length */
    put_payload(&b, 6, big, 1000, 128, 0, 0);
    put_fmt0(&b, 6, 50, 500, 8, 1);
    rtmpd_buf_append(&b, junk, 128);
    put_fmt0(&b, 6, 60, 5, 8, 1);        /* smaller */
    rtmpd_buf_append(&b, "hello", 5);
    put_fmt1(&b, 6, 5, 200, 9);
    rtmpd_buf_append(&b, junk, 128);
    put_fmt2(&b, 6, 5);                  /* same length, new message */
    put_payload(&b, 6, mid, 200, 128, 0, 0);
    struct rtmpd_msg want[] = {
        M(6, 9, 1, 10, 1000, big), M(6, 8, 1, 60, 5, (uint8_t *)"hello"),
        M(6, 9, 1, 70, 200, mid),
    };
    struct end e = check(b.data, b.len, NULL, want, 3, RTMPD_AGAIN);
    assert_true(e.memory < 1024);  /* only stream state left, no buffers */
    rtmpd_buf_release(&b);
    free(junk);
    free(big);
    free(mid);
}

/* Limits: each has its own error code. */

static void decode_limit_message_size(void **state)
{
    (void)state;
    struct rtmpd_chunk_limits lim = { .max_message_bytes = 1000 };
    uint8_t *p = pattern(1000, 12);
    struct rtmpd_buf b = { 0 };

    put_fmt0(&b, 6, 0, 1000, 9, 1);
    put_payload(&b, 6, p, 1000, 128, 0, 0);
    put_fmt1(&b, 6, 0, 1001, 9);
    struct rtmpd_msg want = M(6, 9, 1, 0, 1000, p);
    check(b.data, b.len, &lim, &want, 1, RTMPD_E_CHUNK_MSG_SIZE);

    rtmpd_buf_reset(&b);
    put_fmt0(&b, 6, 0, 1001, 9, 1);
    check(b.data, b.len, &lim, NULL, 0, RTMPD_E_CHUNK_MSG_SIZE);

    /* Default: 8 MiB. */
    rtmpd_buf_reset(&b);
    put_fmt0(&b, 6, 0, RTMPD_CHUNK_MAX_MESSAGE_DEFAULT + 1, 9, 1);
    check(b.data, b.len, NULL, NULL, 0, RTMPD_E_CHUNK_MSG_SIZE);
    rtmpd_buf_release(&b);
    free(p);
}

static void decode_limit_streams(void **state)
{
    (void)state;
    struct rtmpd_chunk_limits lim = { .max_streams = 3 };
    struct rtmpd_buf b = { 0 };
    struct rtmpd_msg want[4];

    for (uint32_t i = 0; i < 3; i++) {
        put_fmt0(&b, 300 + i, i, 1, 9, 1);
        rtmpd_buf_append(&b, "s", 1);
        want[i] = M(300 + i, 9, 1, i, 1, (uint8_t *)"s");
    }
    put_fmt1(&b, 300, 1, 1, 9);  /* a known stream still works */
    rtmpd_buf_append(&b, "s", 1);
    want[3] = M(300, 9, 1, 1, 1, (uint8_t *)"s");
    put_fmt1(&b, 303, 0, 1, 9);
    rtmpd_buf_append(&b, "s", 1);
    check(b.data, b.len, &lim, want, 4, RTMPD_E_CHUNK_STREAMS);
    rtmpd_buf_release(&b);
}

static void decode_limit_pending_bytes(void **state)
{
    (void)state;
    struct rtmpd_chunk_limits lim = { .max_pending_bytes = 300 };
    uint8_t *p = pattern(200, 13);
    struct rtmpd_buf b = { 0 };

    /* Completed messages release their bytes. */
    for (int i = 0; i < 3; i++) {
        put_fmt0(&b, 4, 0, 200, 9, 1);
        put_payload(&b, 4, p, 200, 128, 0, 0);
    }
    struct rtmpd_msg want[] = { M(4, 9, 1, 0, 200, p), M(4, 9, 1, 0, 200, p), M(4, 9, 1, 0, 200, p) };
    check(b.data, b.len, &lim, want, 3, RTMPD_AGAIN);

    /* Three incomplete ones do not fit in 300. */
    rtmpd_buf_reset(&b);
    for (uint32_t csid = 4; csid < 7; csid++) {
        put_fmt0(&b, csid, 0, 1000, 9, 1);
        rtmpd_buf_append(&b, p, 128);
    }
    check(b.data, b.len, &lim, NULL, 0, RTMPD_E_CHUNK_PENDING);
    rtmpd_buf_release(&b);
    free(p);
}

/* 3,000 chunk streams each declaring 8 MiB cost what they sent, not 24 GB. */
static void decode_many_streams_memory_follows_received_bytes(void **state)
{
    (void)state;
    struct rtmpd_chunk_limits lim = { .max_streams = 4096 };
    uint8_t *p = pattern(128, 14);
    struct rtmpd_buf b = { 0 };

    for (uint32_t csid = 64; csid < 64 + 3000; csid++) {
        put_fmt0(&b, csid, 0, 8u << 20, 9, 1);
        rtmpd_buf_append(&b, p, 128);
    }
    struct end e = check(b.data, b.len, &lim, NULL, 0, RTMPD_AGAIN);
    assert_true(e.memory >= 3000 * 128);
    assert_true(e.memory < 2u * 1024 * 1024);

    /* One stream past the raised limit still fails. */
    lim.max_streams = 2999;
    check(b.data, b.len, &lim, NULL, 0, RTMPD_E_CHUNK_STREAMS);
    rtmpd_buf_release(&b);
    free(p);
}

static void decode_error_is_sticky(void **state)
{
    (void)state;
    static const uint8_t bad[] = { 0x89, 0x00, 0x00, 0x01 }; /* fmt 2 on fresh csid 9 */
    static const uint8_t good[] = {
        0x03, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x14, 0x00, 0x00, 0x00, 0x00, 'a',
    };
    struct rtmpd_chunk_dec d;
    struct rtmpd_msg m;

    rtmpd_chunk_dec_init(&d, NULL);
    assert_int_equal(rtmpd_chunk_decode(&d, bad, sizeof bad, &m), RTMPD_E_CHUNK_FRESH_FMT);
    assert_int_equal(rtmpd_chunk_decode(&d, good, sizeof good, &m), RTMPD_E_CHUNK_FRESH_FMT);
    rtmpd_chunk_dec_release(&d);
}

static void decode_take_payload_transfers_ownership(void **state)
{
    (void)state;
    uint8_t *p = pattern(100, 15);
    struct rtmpd_buf b = { 0 };
    struct rtmpd_chunk_dec d;
    struct rtmpd_msg m;

    put_fmt0(&b, 4, 0, 100, 9, 1);
    rtmpd_buf_append(&b, p, 100);
    put_basic(&b, 3, 4);
    rtmpd_buf_append(&b, p, 100);
    rtmpd_chunk_dec_init(&d, NULL);
    assert_int_equal(rtmpd_chunk_decode(&d, b.data, b.len, &m), 112);
    size_t held = rtmpd_chunk_dec_memory(&d);
    uint8_t *mine = rtmpd_chunk_take_payload(&d);
    assert_ptr_equal(mine, m.payload);
    assert_int_equal(rtmpd_chunk_dec_memory(&d), held - 100);
    assert_null(rtmpd_chunk_take_payload(&d));
    assert_int_equal(rtmpd_chunk_decode(&d, b.data + 112, b.len - 112, &m), 101);
    assert_memory_equal(mine, p, 100);  /* not freed by the next call */
    assert_memory_equal(m.payload, p, 100);
    rtmpd_chunk_dec_release(&d);
    free(mine);
    rtmpd_buf_release(&b);
    free(p);
}

/* Encoder. */

static void encode_expect(struct rtmpd_chunk_prev *prev, uint32_t chunk_size, struct rtmpd_msg m,
                          const uint8_t *want, size_t n)
{
    struct rtmpd_buf b = { 0 };
    assert_int_equal(rtmpd_chunk_encode(&b, chunk_size, &m, prev), RTMPD_OK);
    assert_int_equal(b.len, n);
    assert_memory_equal(b.data, want, n);
    if (!prev)
        assert_int_equal(rtmpd_chunk_encoded_size(chunk_size, m.csid, m.timestamp, m.length), n);
    rtmpd_buf_release(&b);
}

#define EXPECT(prev, cs, m, ...)                                  \
    do {                                                          \
        static const uint8_t w_[] = { __VA_ARGS__ };              \
        encode_expect(prev, cs, m, w_, sizeof w_);                \
    } while (0)

static void encode_fmt_choices_byte_exact(void **state)
{
    (void)state;
    struct rtmpd_chunk_prev prev = { 0 };
    uint8_t *s = (uint8_t *)"abcdefghijklmnopqrstuvwxyz";

    /* First message: fmt 0. */
    EXPECT(&prev, 4, M(3, 8, 1, 100, 2, s),
           0x03, 0x00, 0x00, 0x64, 0x00, 0x00, 0x02, 0x08, 0x01, 0x00, 0x00, 0x00, 'a', 'b');
    /* Same type and length, delta 100 == fmt 0 timestamp: fmt 2, not fmt 3. */
    EXPECT(&prev, 4, M(3, 8, 1, 200, 2, s + 2), 0x83, 0x00, 0x00, 0x64, 'c', 'd');
    /* Delta 100 again, now sent by fmt 2: fmt 3. */
    EXPECT(&prev, 4, M(3, 8, 1, 300, 2, s + 4), 0xc3, 'e', 'f');
    /* Length changes: fmt 1. */
    EXPECT(&prev, 4, M(3, 8, 1, 350, 3, s + 6),
           0x43, 0x00, 0x00, 0x32, 0x00, 0x00, 0x03, 0x08, 'g', 'h', 'i');
    /* Delta 50 repeats one sent by fmt 1: fmt 3. */
    EXPECT(&prev, 4, M(3, 8, 1, 400, 3, s + 9), 0xc3, 'j', 'k', 'l');
    /* Type changes: fmt 1. */
    EXPECT(&prev, 4, M(3, 9, 1, 450, 3, s + 12),
           0x43, 0x00, 0x00, 0x32, 0x00, 0x00, 0x03, 0x09, 'm', 'n', 'o');
    /* Timestamp goes back: fmt 0. */
    EXPECT(&prev, 4, M(3, 9, 1, 440, 3, s + 15),
           0x03, 0x00, 0x01, 0xb8, 0x00, 0x00, 0x03, 0x09, 0x01, 0x00, 0x00, 0x00, 'p', 'q', 'r');
    /* Stream id changes: fmt 0. */
    EXPECT(&prev, 4, M(3, 9, 2, 500, 3, s + 18),
           0x03, 0x00, 0x01, 0xf4, 0x00, 0x00, 0x03, 0x09, 0x02, 0x00, 0x00, 0x00, 's', 't', 'u');
    /* fmt 1 then a fmt 3 continuation at chunk size 4. */
    EXPECT(&prev, 4, M(3, 9, 2, 520, 6, s),
           0x43, 0x00, 0x00, 0x14, 0x00, 0x00, 0x06, 0x09, 'a', 'b', 'c', 'd', 0xc3, 'e', 'f');
    /* Empty messages: fmt 1, then fmt 2 (never fmt 3 for an empty one). */
    EXPECT(&prev, 4, M(3, 9, 2, 540, 0, NULL), 0x43, 0x00, 0x00, 0x14, 0x00, 0x00, 0x00, 0x09);
    EXPECT(&prev, 4, M(3, 9, 2, 560, 0, NULL), 0x83, 0x00, 0x00, 0x14);
    /* prev == NULL: always fmt 0, prev-independent. */
    EXPECT(NULL, 4, M(3, 9, 2, 580, 0, NULL),
           0x03, 0x00, 0x02, 0x44, 0x00, 0x00, 0x00, 0x09, 0x02, 0x00, 0x00, 0x00);
    assert_int_equal(prev.timestamp, 560);
}

static void encode_basic_header_forms_byte_exact(void **state)
{
    (void)state;
    uint8_t *s = (uint8_t *)"abcde";
    EXPECT(NULL, 4, M(2, 20, 0, 0, 5, s), 0x02, 0, 0, 0, 0, 0, 5, 20, 0, 0, 0, 0,
           'a', 'b', 'c', 'd', 0xc2, 'e');
    EXPECT(NULL, 4, M(63, 20, 0, 0, 5, s), 0x3f, 0, 0, 0, 0, 0, 5, 20, 0, 0, 0, 0,
           'a', 'b', 'c', 'd', 0xff, 'e');
    EXPECT(NULL, 4, M(64, 20, 0, 0, 5, s), 0x00, 0x00, 0, 0, 0, 0, 0, 5, 20, 0, 0, 0, 0,
           'a', 'b', 'c', 'd', 0xc0, 0x00, 'e');
    EXPECT(NULL, 4, M(319, 20, 0, 0, 5, s), 0x00, 0xff, 0, 0, 0, 0, 0, 5, 20, 0, 0, 0, 0,
           'a', 'b', 'c', 'd', 0xc0, 0xff, 'e');
    EXPECT(NULL, 4, M(320, 20, 0, 0, 5, s), 0x01, 0x00, 0x01, 0, 0, 0, 0, 0, 5, 20, 0, 0, 0, 0,
           'a', 'b', 'c', 'd', 0xc1, 0x00, 0x01, 'e');
    EXPECT(NULL, 4, M(65599, 20, 0, 0, 5, s), 0x01, 0xff, 0xff, 0, 0, 0, 0, 0, 5, 20, 0, 0, 0, 0,
           'a', 'b', 'c', 'd', 0xc1, 0xff, 0xff, 'e');
}

static void encode_ext_ts_on_every_chunk_byte_exact(void **state)
{
    (void)state;
    struct rtmpd_chunk_prev prev = { 0 };
    uint8_t *s = (uint8_t *)"abcdefghij";

    /* Timestamp 0xffffff itself already needs the extended field. */
    EXPECT(&prev, 4, M(4, 9, 1, 0xffffff, 6, s),
           0x04, 0xff, 0xff, 0xff, 0x00, 0x00, 0x06, 0x09, 0x01, 0x00, 0x00, 0x00,
           0x00, 0xff, 0xff, 0xff, 'a', 'b', 'c', 'd',
           0xc4, 0x00, 0xff, 0xff, 0xff, 'e', 'f');
    /* Delta 1: no extended field, although the timestamp is large. */
    EXPECT(&prev, 4, M(4, 9, 1, 0x1000000, 6, s),
           0x84, 0x00, 0x00, 0x01, 'a', 'b', 'c', 'd', 0xc4, 'e', 'f');
    /* Extended delta on fmt 1, repeated on both continuations. */
    EXPECT(&prev, 4, M(4, 9, 1, 0x3000000, 10, s),
           0x44, 0xff, 0xff, 0xff, 0x00, 0x00, 0x0a, 0x09, 0x02, 0x00, 0x00, 0x00,
           'a', 'b', 'c', 'd', 0xc4, 0x02, 0x00, 0x00, 0x00, 'e', 'f', 'g', 'h',
           0xc4, 0x02, 0x00, 0x00, 0x00, 'i', 'j');
    /* Length changes: fmt 1, extended delta. */
    EXPECT(&prev, 4, M(4, 9, 1, 0x5000000, 2, s),
           0x44, 0xff, 0xff, 0xff, 0x00, 0x00, 0x02, 0x09, 0x02, 0x00, 0x00, 0x00, 'a', 'b');
    /* The same extended delta again: fmt 2, never fmt 3. */
    EXPECT(&prev, 4, M(4, 9, 1, 0x7000000, 2, s),
           0x84, 0xff, 0xff, 0xff, 0x02, 0x00, 0x00, 0x00, 'a', 'b');
    /* Absolute on fmt 0. */
    EXPECT(NULL, 128, M(4, 9, 1, 0xfedcba98, 1, s),
           0x04, 0xff, 0xff, 0xff, 0x00, 0x00, 0x01, 0x09, 0x01, 0x00, 0x00, 0x00,
           0xfe, 0xdc, 0xba, 0x98, 'a');
}

static void encode_rejects_invalid_arguments(void **state)
{
    (void)state;
    struct rtmpd_buf b = { 0 };
    struct rtmpd_chunk_prev prev = { 0 };
    uint8_t one = 1;
    struct rtmpd_msg bad[] = {
        M(1, 9, 1, 0, 1, &one), M(65600, 9, 1, 0, 1, &one), M(0, 9, 1, 0, 1, &one),
        M(3, 9, 1, 0, 1, NULL),
    };

    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(rtmpd_chunk_encode(&b, 128, &bad[i], &prev), RTMPD_E_INVAL);
    struct rtmpd_msg ok = M(3, 9, 1, 0, 1, &one);
    assert_int_equal(rtmpd_chunk_encode(&b, 0, &ok, &prev), RTMPD_E_INVAL);

    uint8_t *big = calloc(1, 1u << 24);
    assert_non_null(big);
    struct rtmpd_msg huge = M(3, 9, 1, 0, 1u << 24, big);
    assert_int_equal(rtmpd_chunk_encode(&b, 128, &huge, &prev), RTMPD_E_INVAL);
    assert_int_equal(b.len, 0);
    assert_false(prev.valid);
    huge.length = (1u << 24) - 1;  /* the largest allowed */
    assert_int_equal(rtmpd_chunk_encode(&b, 65536, &huge, NULL), RTMPD_OK);
    assert_int_equal(b.len, rtmpd_chunk_encoded_size(65536, 3, 0, huge.length));
    free(big);

    assert_int_equal(rtmpd_chunk_encoded_size(0, 3, 0, 1), 0);
    assert_int_equal(rtmpd_chunk_encoded_size(128, 1, 0, 1), 0);
    assert_int_equal(rtmpd_chunk_encoded_size(128, 65600, 0, 1), 0);
    assert_int_equal(rtmpd_chunk_encoded_size(128, 3, 0, 1u << 24), 0);

    /* A failed buffer reports NOMEM. */
    rtmpd_buf_reset(&b);
    b.failed = 1;
    assert_int_equal(rtmpd_chunk_encode(&b, 128, &ok, &prev), RTMPD_E_NOMEM);
    assert_false(prev.valid);
    rtmpd_buf_release(&b);
}

static void encoded_size_is_exact(void **state)
{
    (void)state;
    static const uint32_t sizes[] = { 1, 2, 127, 128, 129, 4096, 65536, 0x7fffffff };
    static const uint32_t csids[] = { 2, 63, 64, 319, 320, 65599 };
    static const uint32_t tss[] = { 0, 0xfffffe, 0xffffff, 0xffffffff };
    static const uint32_t lens[] = { 0, 1, 127, 128, 129, 256, 1000, 70000 };
    uint8_t *p = calloc(1, 70000);
    struct rtmpd_buf b = { 0 };

    assert_non_null(p);
    for (size_t a = 0; a < 8; a++)
        for (size_t c = 0; c < 6; c++)
            for (size_t t = 0; t < 4; t++)
                for (size_t l = 0; l < 8; l++) {
                    if (sizes[a] < 64 && lens[l] > 1000)
                        continue;
                    struct rtmpd_msg m = M(csids[c], 9, 1, tss[t], lens[l], p);
                    rtmpd_buf_reset(&b);
                    assert_int_equal(rtmpd_chunk_encode(&b, sizes[a], &m, NULL), RTMPD_OK);
                    assert_int_equal(b.len, rtmpd_chunk_encoded_size(sizes[a], csids[c],
                                                                     tss[t], lens[l]));
                }
    /* A known value: 3-byte csid, ext ts, 3 chunks. */
    assert_int_equal(rtmpd_chunk_encoded_size(128, 320, 0xffffff, 300), 3 + 11 + 4 + 300 + 2 * 7);
    rtmpd_buf_release(&b);
    free(p);
}

/* Shared frames: fmt 0 header + payload cut by fmt 3 separators == encode(NULL). */
static void header_write_matches_encode(void **state)
{
    (void)state;
    static const uint32_t sizes[] = { 1, 4, 128, 4096 };
    static const uint32_t csids[] = { 2, 63, 64, 319, 320, 65599 };
    static const uint32_t tss[] = { 0, 0xfffffe, 0xffffff, 0xfedcba98 };
    static const uint32_t lens[] = { 0, 1, 4, 5, 300 };
    uint8_t *p = pattern(300, 16);
    struct rtmpd_buf b = { 0 }, e = { 0 };

    for (size_t a = 0; a < 4; a++)
        for (size_t c = 0; c < 6; c++)
            for (size_t t = 0; t < 4; t++)
                for (size_t l = 0; l < 5; l++) {
                    uint8_t hdr[RTMPD_CHUNK_HEADER_MAX], sep[7];
                    uint32_t cs = sizes[a], len = lens[l];
                    size_t hn = rtmpd_chunk_header_write(hdr, 0, csids[c], tss[t], len, 9, 5);
                    size_t sn = rtmpd_chunk_header_write(sep, 3, csids[c], tss[t], 0, 0, 0);
                    assert_true(hn > 0 && hn <= RTMPD_CHUNK_HEADER_MAX);
                    assert_true(sn > 0 && sn <= sizeof sep);
                    rtmpd_buf_reset(&b);
                    rtmpd_buf_append(&b, hdr, hn);
                    for (uint32_t off = 0; off < len; off += cs) {
                        if (off)
                            rtmpd_buf_append(&b, sep, sn);
                        rtmpd_buf_append(&b, p + off, len - off < cs ? len - off : cs);
                    }
                    struct rtmpd_msg m = M(csids[c], 9, 5, tss[t], len, p);
                    rtmpd_buf_reset(&e);
                    assert_int_equal(rtmpd_chunk_encode(&e, cs, &m, NULL), RTMPD_OK);
                    assert_int_equal(b.len, e.len);
                    assert_memory_equal(b.data, e.data, e.len);
                }

    uint8_t h[RTMPD_CHUNK_HEADER_MAX];
    assert_int_equal(rtmpd_chunk_header_write(h, 1, 3, 40, 300, 9, 0), 8);
    assert_memory_equal(h, "\x43\x00\x00\x28\x00\x01\x2c\x09", 8);
    assert_int_equal(rtmpd_chunk_header_write(h, 2, 320, 0x01000000, 0, 0, 0), 10);
    assert_memory_equal(h, "\x81\x00\x01\xff\xff\xff\x01\x00\x00\x00", 10);
    assert_int_equal(rtmpd_chunk_header_write(h, 3, 65599, 7, 0, 0, 0), 3);
    assert_memory_equal(h, "\xc1\xff\xff", 3);
    assert_int_equal(rtmpd_chunk_header_write(h, 0, 65599, 0xffffffff, 0xffffff, 9, 1), 18);
    assert_int_equal(rtmpd_chunk_header_write(h, 4, 3, 0, 0, 0, 0), 0);
    assert_int_equal(rtmpd_chunk_header_write(h, 0, 1, 0, 0, 0, 0), 0);
    assert_int_equal(rtmpd_chunk_header_write(h, 0, 65600, 0, 0, 0, 0), 0);
    rtmpd_buf_release(&b);
    rtmpd_buf_release(&e);
    free(p);
}

/* Round trip: random messages through the encoder and back. */

static uint64_t rng(uint64_t *s)
{
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 0x2545f4914f6cdd1dull;
}

static uint32_t rnd(uint64_t *s, uint32_t n)
{
    return (uint32_t)(rng(s) % n);
}

static void round_trip_random_messages(void **state)
{
    (void)state;
    static const uint32_t csids[] = { 3, 4, 5, 63, 64, 100, 319, 320, 1000, 40000, 65599 };
    static const uint32_t chunk_sizes[] = { 1, 2, 3, 7, 128, 1000, 4096, 65536, 0x7fffffff };
    static const uint8_t types[] = { 3, 4, 5, 6, 8, 9, 15, 18, 20, 22 };
    static const uint32_t sids[] = { 0, 1, 7, 0x01020304 };
    enum { NCS = sizeof csids / sizeof csids[0], N = 400 };
    struct rtmpd_chunk_prev prev[NCS], ctl = { 0 };
    uint32_t last_ts[NCS] = { 0 }, last_delta[NCS] = { 0 };
    struct rtmpd_msg want[N + N / 4];
    size_t nwant = 0, fmts[4] = { 0 }, ext = 0, empty = 0, large = 0;
    uint32_t cs = 128;
    uint64_t seed = 0x5eed1234abcdull;
    struct rtmpd_buf out = { 0 }, alt = { 0 };

    memset(prev, 0, sizeof prev);
    for (int i = 0; i < N; i++) {
        assert_true(nwant + 2 <= sizeof want / sizeof want[0]);
        if (rnd(&seed, 100) < 6) {
            uint32_t ncs = chunk_sizes[rnd(&seed, sizeof chunk_sizes / sizeof chunk_sizes[0])];
            uint8_t *v = malloc(4);
            rtmpd_wr_be32(v, ncs);
            want[nwant] = M(2, RTMPD_MSG_SET_CHUNK_SIZE, 0, (uint32_t)i, 4, v);
            assert_int_equal(rtmpd_chunk_encode(&out, cs, &want[nwant++], &ctl), RTMPD_OK);
            cs = ncs;
        }
        uint32_t k = rnd(&seed, NCS), r = rnd(&seed, 100), len;
        struct rtmpd_msg m = { .csid = csids[k] };

        if (prev[k].valid && rnd(&seed, 100) < 30) {
            m.type = prev[k].type;
            len = prev[k].length;
        } else {
            m.type = types[rnd(&seed, sizeof types)];
            len = r < 8 ? 0 : r < 60 ? 1 + rnd(&seed, 300) : r < 92 ? 1 + rnd(&seed, 5000)
                : 65537 + rnd(&seed, 140000);
        }
        if (cs < 128 && len > 600)
            len = 1 + len % 600;
        m.length = len;
        m.stream_id = prev[k].valid && rnd(&seed, 100) < 90 ? prev[k].stream_id
                                                            : sids[rnd(&seed, 4)];
        r = rnd(&seed, 100);
        m.timestamp = r < 50 ? last_ts[k] + rnd(&seed, 100)
            : r < 65 ? last_ts[k] + last_delta[k]
            : r < 75 ? 0xfffff0 + rnd(&seed, 0x40)
            : r < 85 ? (uint32_t)rng(&seed)
            : r < 92 ? last_ts[k] + 0xffffff + rnd(&seed, 5)
            : last_ts[k];
        last_delta[k] = m.timestamp - last_ts[k];
        last_ts[k] = m.timestamp;
        m.payload = len ? pattern(len, (uint8_t)i) : NULL;

        size_t at = out.len;
        if (rnd(&seed, 100) < 15) {
            /* Shared-frame path: prev NULL; a zeroed prev gives the same bytes. */
            struct rtmpd_chunk_prev fresh = { 0 };
            assert_int_equal(rtmpd_chunk_encode(&out, cs, &m, NULL), RTMPD_OK);
            assert_int_equal(out.len - at, rtmpd_chunk_encoded_size(cs, m.csid, m.timestamp, len));
            rtmpd_buf_reset(&alt);
            assert_int_equal(rtmpd_chunk_encode(&alt, cs, &m, &fresh), RTMPD_OK);
            assert_int_equal(alt.len, out.len - at);
            assert_memory_equal(alt.data, out.data + at, alt.len);
            prev[k] = fresh;
        } else {
            assert_int_equal(rtmpd_chunk_encode(&out, cs, &m, &prev[k]), RTMPD_OK);
        }
        unsigned fmt = out.data[at] >> 6, low = out.data[at] & 0x3f;
        fmts[fmt]++;
        if (fmt < 3 && rtmpd_rd_be24(out.data + at + (low == 0 ? 2 : low == 1 ? 3 : 1)) == RTMPD_EXT_TS)
            ext++;  /* an extended timestamp field was sent */
        empty += len == 0;
        large += len > 65536;
        want[nwant++] = m;
    }
    assert_false(out.failed);
    /* The generator must have exercised every case. */
    for (int f = 0; f < 4; f++)
        assert_true(fmts[f] > 0);
    assert_true(ext > 0 && empty > 0 && large > 0);

    check(out.data, out.len, NULL, want, nwant, RTMPD_AGAIN);
    for (size_t i = 0; i < nwant; i++)
        free(want[i].payload);
    rtmpd_buf_release(&out);
    rtmpd_buf_release(&alt);
}

/* The byte vectors of encode_fmt_choices_byte_exact decode to what went in. */
static void encode_then_decode_hand_vectors(void **state)
{
    (void)state;
    struct rtmpd_chunk_prev prev = { 0 };
    struct rtmpd_buf b = { 0 };
    uint8_t *s = (uint8_t *)"abcdefghijklmnopqrstuvwxyz";
    struct rtmpd_msg in[] = {
        M(3, 8, 1, 100, 2, s), M(3, 8, 1, 200, 2, s + 2), M(3, 8, 1, 300, 2, s + 4),
        M(3, 8, 1, 350, 3, s + 6), M(3, 8, 1, 400, 3, s + 9), M(3, 9, 1, 450, 3, s + 12),
        M(3, 9, 1, 440, 3, s + 15), M(3, 9, 2, 500, 3, s + 18), M(3, 9, 2, 520, 6, s),
        M(3, 9, 2, 540, 0, NULL), M(3, 9, 2, 560, 0, NULL),
        M(3, 9, 2, 0x1000000, 6, s), M(3, 9, 2, 0x1000001, 6, s), M(3, 9, 2, 0x3000000, 10, s),
    };
    enum { N = sizeof in / sizeof in[0] };
    struct rtmpd_msg want[N + 1];

    want[0] = M(2, 1, 0, 0, 4, be32(0, 4));
    put_control(&b, RTMPD_MSG_SET_CHUNK_SIZE, 4);
    for (size_t i = 0; i < N; i++) {
        assert_int_equal(rtmpd_chunk_encode(&b, 4, &in[i], &prev), RTMPD_OK);
        want[i + 1] = in[i];
    }
    check(b.data, b.len, NULL, want, N + 1, RTMPD_AGAIN);
    rtmpd_buf_release(&b);
}

int main(int argc, char **argv);
static const struct CMUnitTest tests[] = {
    cmocka_unit_test(decode_fmt0_message),
    cmocka_unit_test(decode_stops_after_each_message),
    cmocka_unit_test(decode_fmt1_fmt2_fmt3_deltas),
    cmocka_unit_test(decode_fmt3_after_fmt0_adds_fmt0_timestamp),
    cmocka_unit_test(decode_csid_all_forms),
    cmocka_unit_test(decode_interleaved_chunk_streams),
    cmocka_unit_test(decode_zero_length_messages),
    cmocka_unit_test(decode_fresh_stream_fmt_rules),
    cmocka_unit_test(decode_ext_ts_fmt0_repeated_on_continuations),
    cmocka_unit_test(decode_ext_ts_fmt0_omitted_on_continuations),
    cmocka_unit_test(decode_ext_ts_short_tail_mismatch_is_payload),
    cmocka_unit_test(decode_ext_ts_short_tail_follows_peer_habit),
    cmocka_unit_test(decode_ext_ts_delta_and_fmt3_new_messages),
    cmocka_unit_test(decode_chunk_sizes_1_128_4096_65536),
    cmocka_unit_test(decode_set_chunk_size_applies_after_its_message),
    cmocka_unit_test(decode_set_chunk_size_bounds),
    cmocka_unit_test(decode_abort_mid_message),
    cmocka_unit_test(decode_new_header_replaces_incomplete_message),
    cmocka_unit_test(decode_limit_message_size),
    cmocka_unit_test(decode_limit_streams),
    cmocka_unit_test(decode_limit_pending_bytes),
    cmocka_unit_test(decode_many_streams_memory_follows_received_bytes),
    cmocka_unit_test(decode_error_is_sticky),
    cmocka_unit_test(decode_take_payload_transfers_ownership),
    cmocka_unit_test(encode_fmt_choices_byte_exact),
    cmocka_unit_test(encode_basic_header_forms_byte_exact),
    cmocka_unit_test(encode_ext_ts_on_every_chunk_byte_exact),
    cmocka_unit_test(encode_rejects_invalid_arguments),
    cmocka_unit_test(encoded_size_is_exact),
    cmocka_unit_test(encode_then_decode_hand_vectors),
    cmocka_unit_test(header_write_matches_encode),
    cmocka_unit_test(round_trip_random_messages),
};
RTMPD_TEST_MAIN(tests)
