#include "test_main.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "rtmpd/bytes.h"
#include "rtmpd/error.h"
#include "rtmpd/handshake.h"

#define PKT RTMPD_HS_PACKET
#define C0C1_LEN (1 + PKT)
#define S0S1S2_LEN (1 + 2 * PKT)

/*
 * An independent reference of the digest layout, written from the public
 * descriptions (nginx-rtmp, librtmp, SRS) and not from src/handshake.c: the
 * keys are spelled as text + hex here, the offsets recomputed below.
 */
static const char key_tail_hex[] =
    "f0eec24a8068bee82e00d0d1029e7e576eec5d2d29806fab93b8e636cfeb31ae";

static void unhex(uint8_t *out, const char *hex, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned v;
        assert_int_equal(sscanf(hex + 2 * i, "%2x", &v), 1);
        out[i] = (uint8_t)v;
    }
}

/* Fills `key` with text + the 32-byte tail; returns the full length. */
static size_t ref_key(uint8_t key[68], const char *text)
{
    size_t n = strlen(text);
    memcpy(key, text, n);
    unhex(key + n, key_tail_hex, 32);
    return n + 32;
}

static size_t fp_key(uint8_t key[68]) { return ref_key(key, "Genuine Adobe Flash Player 001"); }
static size_t fms_key(uint8_t key[68]) { return ref_key(key, "Genuine Adobe Flash Media Server 001"); }

static void hmac32(const uint8_t *key, size_t klen, const uint8_t *d, size_t n,
                   uint8_t out[32])
{
    unsigned len = 0;
    assert_non_null(HMAC(EVP_sha256(), key, (int)klen, d, n, out, &len));
    assert_int_equal(len, 32);
}

/* Schema 0: digest block at 772; schema 1: at 8. */
static size_t ref_pos(const uint8_t *pkt, int schema)
{
    size_t b = schema == 0 ? 772 : 8;
    return b + 4 + ((size_t)pkt[b] + pkt[b + 1] + pkt[b + 2] + pkt[b + 3]) % 728;
}

static void ref_digest(const uint8_t *pkt, size_t at, const uint8_t *key,
                       size_t klen, uint8_t out[32])
{
    uint8_t buf[PKT - 32];
    memcpy(buf, pkt, at);
    memcpy(buf + at, pkt + at + 32, PKT - 32 - at);
    hmac32(key, klen, buf, sizeof buf, out);
}

/* HMAC(HMAC(full key, peer digest), pkt[0..1504]) */
static void ref_signature(const uint8_t *pkt, const uint8_t *key, size_t klen,
                          const uint8_t *peer_digest, uint8_t out[32])
{
    uint8_t k[32];
    hmac32(key, klen, peer_digest, 32, k);
    hmac32(k, 32, pkt, PKT - 32, out);
}

static void lcg_fill(uint8_t *p, size_t n, uint32_t seed)
{
    for (size_t i = 0; i < n; i++) {
        seed = seed * 1103515245u + 12345u;
        p[i] = (uint8_t)(seed >> 16);
    }
}

/* A C0+C1 built like a Flash Player's: returns the digest position. */
static size_t ref_digest_c0c1(uint8_t c0c1[C0C1_LEN], int schema, uint32_t version,
                              uint32_t seed)
{
    uint8_t key[68];
    uint8_t *c1 = c0c1 + 1;
    size_t at;

    c0c1[0] = 3;
    lcg_fill(c1, PKT, seed);
    rtmpd_wr_be32(c1, 0x1234);
    rtmpd_wr_be32(c1 + 4, version);
    at = ref_pos(c1, schema);
    ref_digest(c1, at, key, fp_key(key) - 32, c1 + at);
    return at;
}

/* Feeds `len` bytes `step` at a time (0: whole), stopping once done. */
static size_t feed_all(struct rtmpd_hs *hs, const uint8_t *p, size_t len, size_t step)
{
    size_t total = 0;
    if (!step)
        step = len;
    for (size_t off = 0; off < len && !rtmpd_hs_done(hs); off += step) {
        size_t n = len - off < step ? len - off : step;
        ssize_t r = rtmpd_hs_feed(hs, p + off, n);
        assert_true(r >= 0);
        total += (size_t)r;
        if ((size_t)r < n) {
            assert_true(rtmpd_hs_done(hs));
            break;
        }
    }
    return total;
}

/* Takes all pending output, checking its length. */
static void take(struct rtmpd_hs *hs, uint8_t *dst, size_t expect)
{
    size_t n;
    const uint8_t *p = rtmpd_hs_output(hs, &n);
    assert_int_equal(n, expect);
    memcpy(dst, p, n);
    rtmpd_hs_output_taken(hs, n);
    rtmpd_hs_output(hs, &n);
    assert_int_equal(n, 0);
}

struct transcript {
    uint8_t c0c1[C0C1_LEN];
    uint8_t s0s1s2[S0S1S2_LEN];
    uint8_t c2[PKT];
    int server_form, client_form, server_verified, client_verified;
};

static uint8_t client_random[2 * PKT], server_random[2 * PKT];

static void opts_for(struct rtmpd_hs_opts *c, struct rtmpd_hs_opts *s,
                     int digest, enum rtmpd_hs_form schema)
{
    lcg_fill(client_random, sizeof client_random, 1);
    lcg_fill(server_random, sizeof server_random, 2);
    *c = (struct rtmpd_hs_opts){ .epoch = 0x1234, .client_digest = digest,
                                 .client_schema = schema, .random = client_random };
    *s = (struct rtmpd_hs_opts){ .epoch = 0x500, .random = server_random };
}

/* Our client against our server, every stream fed `step` bytes at a time. */
static void run_pair(const struct rtmpd_hs_opts *copts,
                     const struct rtmpd_hs_opts *sopts, size_t step,
                     struct transcript *t)
{
    struct rtmpd_hs *c = test_malloc(sizeof *c), *s = test_malloc(sizeof *s);

    assert_int_equal(rtmpd_hs_init(c, RTMPD_HS_CLIENT, copts), RTMPD_OK);
    assert_int_equal(rtmpd_hs_init(s, RTMPD_HS_SERVER, sopts), RTMPD_OK);
    take(c, t->c0c1, C0C1_LEN);

    assert_int_equal(feed_all(s, t->c0c1, C0C1_LEN, step), C0C1_LEN);
    assert_false(rtmpd_hs_done(s));
    take(s, t->s0s1s2, S0S1S2_LEN);

    assert_int_equal(feed_all(c, t->s0s1s2, S0S1S2_LEN, step), S0S1S2_LEN);
    assert_true(rtmpd_hs_done(c));
    take(c, t->c2, PKT);

    assert_int_equal(feed_all(s, t->c2, PKT, step), PKT);
    assert_true(rtmpd_hs_done(s));

    t->server_form = rtmpd_hs_form(s);
    t->client_form = rtmpd_hs_form(c);
    t->server_verified = rtmpd_hs_peer_verified(s);
    t->client_verified = rtmpd_hs_peer_verified(c);
    test_free(c);
    test_free(s);
}

/* S1 = time + zero + random; S2 = exact echo of C1 (librtmp compares it all). */
static void assert_simple_reply(const uint8_t *c1, const uint8_t *out, uint32_t epoch)
{
    const uint8_t *s1 = out + 1, *s2 = out + 1 + PKT;
    assert_int_equal(out[0], 3);
    assert_int_equal(rtmpd_rd_be32(s1), epoch);
    assert_int_equal(rtmpd_rd_be32(s1 + 4), 0);
    assert_memory_equal(s1 + 8, server_random + 8, PKT - 8);
    assert_memory_equal(s2, c1, PKT);
}

/* Whole, byte by byte and in odd chunks: all verified, identical bytes. */
static void check_pair(int digest, enum rtmpd_hs_form schema, enum rtmpd_hs_form expect)
{
    static const size_t steps[] = { 0, 1, 7, 1000 };
    struct rtmpd_hs_opts co, so;
    struct transcript *t = test_calloc(4, sizeof *t);

    opts_for(&co, &so, digest, schema);
    for (size_t i = 0; i < 4; i++) {
        run_pair(&co, &so, steps[i], &t[i]);
        assert_int_equal(t[i].server_form, expect);
        assert_int_equal(t[i].client_form, expect);
        assert_int_equal(t[i].server_verified, expect != RTMPD_HS_SIMPLE);
        assert_true(t[i].client_verified);
        assert_memory_equal(&t[i], &t[0], sizeof t[0]);
    }
    if (expect == RTMPD_HS_SIMPLE) {
        const uint8_t *c1 = t[0].c0c1 + 1, *s1 = t[0].s0s1s2 + 1;
        assert_int_equal(t[0].c0c1[0], 3);
        assert_int_equal(rtmpd_rd_be32(c1), co.epoch);
        assert_int_equal(rtmpd_rd_be32(c1 + 4), 0);
        assert_memory_equal(c1 + 8, client_random + 8, PKT - 8);
        assert_simple_reply(c1, t[0].s0s1s2, so.epoch);
        assert_memory_equal(t[0].c2, s1, PKT);        /* C2 echoes S1 exactly */
    }
    test_free(t);
}

static void digest_schema1_pair_verifies_whole_and_bytewise(void **state)
{
    (void)state;
    check_pair(1, RTMPD_HS_SIMPLE, RTMPD_HS_DIGEST_SCHEMA1); /* default schema */
    check_pair(1, RTMPD_HS_DIGEST_SCHEMA1, RTMPD_HS_DIGEST_SCHEMA1);
}

static void digest_schema0_pair_verifies_whole_and_bytewise(void **state)
{
    (void)state;
    check_pair(1, RTMPD_HS_DIGEST_SCHEMA0, RTMPD_HS_DIGEST_SCHEMA0);
}

static void simple_pair_verifies_whole_and_bytewise(void **state)
{
    (void)state;
    check_pair(0, RTMPD_HS_SIMPLE, RTMPD_HS_SIMPLE);
}

static void zero_version_c1_gets_simple_echo(void **state)
{
    (void)state;
    struct rtmpd_hs_opts co, so;
    struct rtmpd_hs hs;
    uint8_t c0c1[C0C1_LEN];
    size_t n;

    opts_for(&co, &so, 0, RTMPD_HS_SIMPLE);
    /* A valid schema 1 digest, but version 0 says simple (as nginx-rtmp). */
    ref_digest_c0c1(c0c1, 1, 0, 9);
    for (size_t step = 0; step <= 1; step++) {
        assert_int_equal(rtmpd_hs_init(&hs, RTMPD_HS_SERVER, &so), RTMPD_OK);
        assert_int_equal(feed_all(&hs, c0c1, sizeof c0c1, step), sizeof c0c1);
        assert_int_equal(rtmpd_hs_form(&hs), RTMPD_HS_SIMPLE);
        assert_false(rtmpd_hs_peer_verified(&hs));
        assert_simple_reply(c0c1 + 1, rtmpd_hs_output(&hs, &n), so.epoch);
        assert_int_equal(n, S0S1S2_LEN);
    }
}

static void corrupted_digest_falls_back_to_simple(void **state)
{
    (void)state;
    struct rtmpd_hs_opts co, so;
    struct rtmpd_hs hs;
    uint8_t c0c1[C0C1_LEN];
    size_t n;

    opts_for(&co, &so, 0, RTMPD_HS_SIMPLE);
    for (int schema = 0; schema <= 1; schema++) {
        size_t at = 1 + ref_digest_c0c1(c0c1, schema, 0x80000702, 5);
        size_t flip[] = { at, at + 31, 9, 1536 };  /* digest, then covered bytes */

        assert_int_equal(rtmpd_hs_init(&hs, RTMPD_HS_SERVER, &so), RTMPD_OK);
        assert_int_equal(rtmpd_hs_feed(&hs, c0c1, sizeof c0c1), sizeof c0c1);
        assert_int_equal(rtmpd_hs_form(&hs), schema == 0 ? RTMPD_HS_DIGEST_SCHEMA0
                                                         : RTMPD_HS_DIGEST_SCHEMA1);
        for (size_t i = 0; i < 4; i++) {
            if (flip[i] >= 9 && flip[i] <= 12 && schema == 1)
                continue; /* the offset bytes would move the digest itself */
            c0c1[flip[i]] ^= 0x40;
            assert_int_equal(rtmpd_hs_init(&hs, RTMPD_HS_SERVER, &so), RTMPD_OK);
            assert_int_equal(rtmpd_hs_feed(&hs, c0c1, sizeof c0c1), sizeof c0c1);
            assert_int_equal(rtmpd_hs_form(&hs), RTMPD_HS_SIMPLE);
            assert_false(rtmpd_hs_peer_verified(&hs));
            assert_simple_reply(c0c1 + 1, rtmpd_hs_output(&hs, &n), so.epoch);
            c0c1[flip[i]] ^= 0x40;
        }
    }
}

static void wrong_version_byte_is_error_bytewise(void **state)
{
    (void)state;
    struct rtmpd_hs_opts co, so;
    struct rtmpd_hs hs;
    uint8_t c0c1[C0C1_LEN];
    static const uint8_t bad[] = { 6, 0, 4, 0xff };
    size_t n;

    opts_for(&co, &so, 1, RTMPD_HS_SIMPLE);
    ref_digest_c0c1(c0c1, 1, 0x80000702, 3);
    for (size_t i = 0; i < sizeof bad; i++) {
        c0c1[0] = bad[i];
        /* server: the C0 byte alone, then whole C0C1 */
        assert_int_equal(rtmpd_hs_init(&hs, RTMPD_HS_SERVER, &so), RTMPD_OK);
        assert_int_equal(rtmpd_hs_feed(&hs, c0c1, 1), RTMPD_E_HS_VERSION);
        assert_int_equal(rtmpd_hs_feed(&hs, c0c1 + 1, 1), RTMPD_E_HS_STATE);
        rtmpd_hs_output(&hs, &n);
        assert_int_equal(n, 0);
        assert_int_equal(rtmpd_hs_init(&hs, RTMPD_HS_SERVER, &so), RTMPD_OK);
        assert_int_equal(rtmpd_hs_feed(&hs, c0c1, sizeof c0c1), RTMPD_E_HS_VERSION);
        assert_false(rtmpd_hs_done(&hs));
        /* client: a bad S0 */
        assert_int_equal(rtmpd_hs_init(&hs, RTMPD_HS_CLIENT, &co), RTMPD_OK);
        assert_int_equal(rtmpd_hs_feed(&hs, &bad[i], 1), RTMPD_E_HS_VERSION);
        assert_int_equal(rtmpd_hs_feed(&hs, &bad[i], 1), RTMPD_E_HS_STATE);
    }
}

static void extra_bytes_after_c2_and_s2_not_consumed(void **state)
{
    (void)state;
    struct rtmpd_hs_opts co, so;
    struct transcript t;
    struct rtmpd_hs hs;
    uint8_t *in = test_malloc(S0S1S2_LEN + 64), *c2;
    size_t n;

    opts_for(&co, &so, 1, RTMPD_HS_SIMPLE);
    run_pair(&co, &so, 0, &t);
    lcg_fill(in, S0S1S2_LEN + 64, 77);

    /* server: C0C1 + C2 + chunk bytes, in one call and byte by byte */
    memcpy(in, t.c0c1, C0C1_LEN);
    memcpy(in + C0C1_LEN, t.c2, PKT);
    for (size_t step = 0; step <= 1; step++) {
        assert_int_equal(rtmpd_hs_init(&hs, RTMPD_HS_SERVER, &so), RTMPD_OK);
        assert_int_equal(feed_all(&hs, in, S0S1S2_LEN + 64, step), S0S1S2_LEN);
        assert_true(rtmpd_hs_done(&hs));
    }
    assert_int_equal(rtmpd_hs_init(&hs, RTMPD_HS_SERVER, &so), RTMPD_OK);
    assert_int_equal(rtmpd_hs_feed(&hs, in, C0C1_LEN + 100), C0C1_LEN + 100);
    assert_int_equal(rtmpd_hs_feed(&hs, in + C0C1_LEN + 100, PKT), PKT - 100);

    /* client: S0S1S2 + chunk bytes */
    memcpy(in, t.s0s1s2, S0S1S2_LEN);
    for (size_t step = 0; step <= 1; step++) {
        assert_int_equal(rtmpd_hs_init(&hs, RTMPD_HS_CLIENT, &co), RTMPD_OK);
        assert_int_equal(feed_all(&hs, in, S0S1S2_LEN + 64, step), S0S1S2_LEN);
        assert_true(rtmpd_hs_done(&hs));
        assert_true(rtmpd_hs_peer_verified(&hs));
        c2 = (uint8_t *)rtmpd_hs_output(&hs, &n);
        assert_int_equal(n, C0C1_LEN + PKT);
        assert_memory_equal(c2 + C0C1_LEN, t.c2, PKT);
    }
    test_free(in);
}

static void feed_after_done_is_error(void **state)
{
    (void)state;
    struct rtmpd_hs_opts co, so;
    struct transcript t;
    struct rtmpd_hs hs;
    uint8_t byte = 3;
    size_t n;

    opts_for(&co, &so, 1, RTMPD_HS_SIMPLE);
    run_pair(&co, &so, 0, &t);

    assert_int_equal(rtmpd_hs_init(&hs, RTMPD_HS_SERVER, &so), RTMPD_OK);
    assert_int_equal(rtmpd_hs_feed(&hs, t.c0c1, C0C1_LEN), C0C1_LEN);
    assert_int_equal(rtmpd_hs_feed(&hs, t.c2, PKT), PKT);
    assert_true(rtmpd_hs_done(&hs));
    assert_int_equal(rtmpd_hs_feed(&hs, &byte, 1), RTMPD_E_HS_STATE);
    assert_int_equal(rtmpd_hs_feed(&hs, NULL, 0), RTMPD_E_HS_STATE);
    rtmpd_hs_output(&hs, &n);
    assert_int_equal(n, S0S1S2_LEN); /* output untaken survives */

    assert_int_equal(rtmpd_hs_init(&hs, RTMPD_HS_CLIENT, &co), RTMPD_OK);
    assert_int_equal(rtmpd_hs_feed(&hs, t.s0s1s2, S0S1S2_LEN), S0S1S2_LEN);
    assert_true(rtmpd_hs_done(&hs));
    assert_int_equal(rtmpd_hs_feed(&hs, &byte, 1), RTMPD_E_HS_STATE);
}

/* Recomputes every digest and signature from the documented layout. */
static void digests_match_independent_reference(void **state)
{
    (void)state;
    struct rtmpd_hs_opts co, so;
    struct transcript t;
    uint8_t fp[68], fms[68], d[32];
    size_t fp_len = fp_key(fp), fms_len = fms_key(fms);

    assert_int_equal(fp_len, 62);
    assert_int_equal(fms_len, 68);
    for (int schema = 0; schema <= 1; schema++) {
        opts_for(&co, &so, 1, schema == 0 ? RTMPD_HS_DIGEST_SCHEMA0
                                          : RTMPD_HS_DIGEST_SCHEMA1);
        run_pair(&co, &so, 0, &t);
        const uint8_t *c1 = t.c0c1 + 1, *s1 = t.s0s1s2 + 1, *s2 = s1 + PKT;
        size_t c1_at = ref_pos(c1, schema), s1_at = ref_pos(s1, schema);

        assert_int_equal(rtmpd_rd_be32(c1), co.epoch);
        assert_int_not_equal(rtmpd_rd_be32(c1 + 4), 0);
        ref_digest(c1, c1_at, fp, 30, d);                 /* C1: FP key, 30 */
        assert_memory_equal(d, c1 + c1_at, 32);

        assert_int_equal(t.s0s1s2[0], 3);
        assert_int_equal(rtmpd_rd_be32(s1), so.epoch);
        assert_int_equal(rtmpd_rd_be32(s1 + 4), 0x0d0e0a0d);
        ref_digest(s1, s1_at, fms, 36, d);                /* S1: FMS key, 36 */
        assert_memory_equal(d, s1 + s1_at, 32);
        ref_digest(s1, s1_at, fp, 30, d);                 /* not the FP key */
        assert_memory_not_equal(d, s1 + s1_at, 32);

        ref_signature(s2, fms, fms_len, c1 + c1_at, d);   /* S2: FMS 68 */
        assert_memory_equal(d, s2 + PKT - 32, 32);
        assert_memory_equal(s2, server_random + PKT, PKT - 32);

        ref_signature(t.c2, fp, fp_len, s1 + s1_at, d);   /* C2: FP 62 */
        assert_memory_equal(d, t.c2 + PKT - 32, 32);
        assert_memory_equal(t.c2, client_random + PKT, PKT - 32);
    }
}

/*
 * Known answers computed outside this code base (Python's hmac module, and
 * `openssl dgst -mac HMAC` for the first) from the same LCG fill.
 */
static void known_answers_from_independent_implementation(void **state)
{
    (void)state;
    static const struct {
        int schema;
        size_t c1_at, s1_at;
        const char *c1, *s1, *s2, *c2;
    } kat[] = {
        { 1, 26, 277,
          "7433c4f7314fd9fe913cced3f08b7902617ede4e48f610ea964e4d399a463e13",
          "79caebc912de2fdab7f0ccb843c9644b5802c28f295d5834172b6881bc8650a0",
          "295182fe5bdf3376a4347e41c2b9aaf105f6b138c62552053c3ae0f28c9c30ad",
          "e9798ec2702053eec7f55f25abf085f8a8c66b7fc8d0769826a7df0772d3e119" },
        { 0, 1333, 1372,
          "a6f3b42f6b3e2d673a86c412a434d86b656aa6254ced7c04c84ba0b471af7838",
          "1e8e0a756efe62db32b464f9f8b243a7adf170b59274edc8a79b324011d9ad68",
          "a68e182f57f347cbc837a1b9c01be6ccb60c144feec2ab7472820048f5f430f6",
          "aa3510c5474512dabaf06aa814146f298e85e60bfdd29eea2f1986a69e60d1ce" },
    };
    struct rtmpd_hs_opts co, so;
    struct transcript t;
    uint8_t key[68], want[32], got[32];

    /* the keys themselves: HMAC-SHA256(key, "rtmpd") */
    hmac32(key, fp_key(key), (const uint8_t *)"rtmpd", 5, got);
    unhex(want, "289edb3322f332170cd9c7329d4da43d0f92d343193a27e162752532ebdf3020", 32);
    assert_memory_equal(got, want, 32);
    hmac32(key, fms_key(key), (const uint8_t *)"rtmpd", 5, got);
    unhex(want, "fed712507c1298ece64f5fe69aac72475982898c67b3297e480f38d5497c780c", 32);
    assert_memory_equal(got, want, 32);

    for (size_t i = 0; i < 2; i++) {
        opts_for(&co, &so, 1, kat[i].schema == 0 ? RTMPD_HS_DIGEST_SCHEMA0
                                                 : RTMPD_HS_DIGEST_SCHEMA1);
        run_pair(&co, &so, 0, &t);
        unhex(want, kat[i].c1, 32);
        assert_memory_equal(t.c0c1 + 1 + kat[i].c1_at, want, 32);
        unhex(want, kat[i].s1, 32);
        assert_memory_equal(t.s0s1s2 + 1 + kat[i].s1_at, want, 32);
        unhex(want, kat[i].s2, 32);
        assert_memory_equal(t.s0s1s2 + 1 + 2 * PKT - 32, want, 32);
        unhex(want, kat[i].c2, 32);
        assert_memory_equal(t.c2 + PKT - 32, want, 32);
    }
}

/* C0+C1 sent by FFmpeg 5.1 (libavformat rtmpproto.c), captured on loopback. */
static const char ffmpeg_c0c1_hex[] =
    "030000000009007c02f778551eceab8e1e362f07c5868a70b266d40220e50861"
    "18a22e3697d5fc2b6329c22ee7c7c9b0b5b345dfa8398fea3bc879208a106842"
    "5aa1174cb57258cfebe24da42ec4ff9da19c7b406f18c95bfdd04ee48b6f8332"
    "14a47b8bf68eb05254e25ae9a9a8b496c5496f6e9cd7c68cb6bcc84169e67f3e"
    "372ffe186da8513862c5afdeb5a1218a860baccdd869b253dbab8a0efb59a48c"
    "442099875e55b74fd07a1b69af303e099873cb77e2d9e2c4741eb1f506a7f0b2"
    "962af91f5051c890a320994f4c8b36a01fa9c0f15f4b7cf7b6c3817da6091861"
    "1d3b02ff7cc94038937537d3382e416bd57577834df9caf748352150ce92d0db"
    "b40e871fc364e18b7e3569e39876c1ae0cb79ff6d7ab32f9f011869c8da4191e"
    "f46d3c1bc6b72d83812f2243d1752a412632d66a2075f5d302f45cdf2b98b802"
    "b79805dc4837d84eded1cc42cba7eec3137bf86dd0b2d7f624d521a3ff655bcf"
    "0df4101341d230e94651628e45a7abf8183101ce981e5e86a6faec5c79aa7ec7"
    "181ea459ed966e0c932a6f9e4bf554ab7b1c905cde054ed40d2fb89bbfc65752"
    "e58cfde4f2a04dc3ad1e5ef4fc64d57b071c14146a451f6a043156d2880f5957"
    "d78dfd3ff2b880f624ac70f27094f37734eaf1924f66ac3d648ae232930544a4"
    "420b65eed4696f7f50fe05fc948516650bfb9b65f953d848e3456965d0d76b62"
    "7a84e35e9ddabd8b43f0fadaee458cdf59ebd773922e0ae507d5e64092e90ec6"
    "7ed8439e8f221c753a9f9216f1cb85b5107bc7cc7c4fb2c3eed1afc709b192f5"
    "0de69c1ffca5650efb523b5fab5997cac4b7ef5af2bf5973e6293bae1fc1da49"
    "9be5515077de4ddb3f7fbcd741711c62b7d803b8d054cf578182714d1c445bd6"
    "92ba1b839a09e7266fc85daa8fad433dabbd206cde1ea571770c6bfa7956c266"
    "ee8435eb01caa6f583c0d83c33eefcf3f97db917bdb299f8a89fb8860ab1cd64"
    "4c1e82cce1323a9eb79d25f5dc570b70b40bb20061743353d0536ecdabd82f22"
    "77756228cb54fe6932c4c9bd130d2bfc700bf5d85da6946e96f82e0afd8e9c20"
    "cfeabf9a6a189bb17bbef539d1d9e73ee966fcb5d6bdbf98444de865be1605e3"
    "4087b34cdf04e3aff55bd4137c522d2e3c7bf2634db326b22a474db7f8a0952a"
    "b3510de555396c18a378a8390b73bff7772fb2760fa5786a3b0459c45a1d1b0d"
    "ff4cbbb65da0ed34f32116c3c2cc2b95825111bcfbb246c1505aa00c970d06d7"
    "6cc950ce368b220db20487cba02bb1fc54b36567b42913d6b885062cd7795601"
    "d31a4a8e6d56467fa5c52162676fd526122513c3e47f2e6d9d6a19c4f8795431"
    "a94ced039221d27ac68a7a770e9305252271459b71d05505c4977b70e9685120"
    "8bacdcdf7e682b3848840880f1fec2a32fb1406862bc83cad89adf729f3ba6ff"
    "d3fe808e8403e7c6a0f6dcda3211898f6f16505b078cc78b80db600ded2f200f"
    "25ff5dcb31d32cbe2056b8bdc31091631abbd2ac28d61fe32480ec5035bbf35f"
    "173393f0d59a21d2300b2db4b59eaa63ffe0f93d65dc028516905f22a9c7dff3"
    "87c4eb78c6300e7ebbb2a6663cfbe5a9977caf5764ba3f0aba57db4e6051e0ae"
    "c6e05b1bdaa649a97875edbc40bcc4214bb7fef72730d4368acbd3e10ab4c764"
    "2a1c53f93ca26db9c766555be26fdff0e2a721425b95762b0b776fd3e3eb1731"
    "3d53129c9f34003c99a5196a8c6aacb6d64b51dd98b27c5b59a70bd941a1ba03"
    "00fb744cfc499d997e6d93392d28a767d116dfbc2cb9eb40540d11eb304ad932"
    "2386fdc597d55d3d1c67bc54df35479afb19ea2cd204dd331efb49c1e172f6bb"
    "89fbf58207dcae6c12f8a7598bef1e872c0c35f22b4c29df10f9bb1add3aeb88"
    "7ab5fb38c036b88346f761c42f295dfe0b437dfb4f30a71276ab7d409ce42496"
    "3f9ebb4f1f47e52b18786f279b5a87226f66981dd6d0ad11f49af31055ff6971"
    "0fda3457c4b7852db2e3936d0778bf879f1734ad3a24ffb1ae9584760b9cb045"
    "2a53ba0962ffe2f605af52830bd211a5488894cc0b052255048711cd198510a9"
    "e943bf8b839198455fbd41073005d303990b88d9b63656d43cfec8ed83748f4b"
    "0f0fc5120216794b22a054e5bc58abd8c41096070884393453ce509694afbeab"
    "e0";

static void ffmpeg_c1_validates_as_schema1(void **state)
{
    (void)state;
    struct rtmpd_hs_opts co, so;
    struct rtmpd_hs hs;
    uint8_t c0c1[C0C1_LEN], fms[68], d[32];
    const uint8_t *out;
    size_t n, at;

    assert_int_equal(strlen(ffmpeg_c0c1_hex), 2 * C0C1_LEN);
    unhex(c0c1, ffmpeg_c0c1_hex, C0C1_LEN);
    opts_for(&co, &so, 0, RTMPD_HS_SIMPLE);
    assert_int_equal(rtmpd_hs_init(&hs, RTMPD_HS_SERVER, &so), RTMPD_OK);
    assert_int_equal(feed_all(&hs, c0c1, C0C1_LEN, 1), C0C1_LEN);
    assert_int_equal(rtmpd_hs_form(&hs), RTMPD_HS_DIGEST_SCHEMA1);
    assert_true(rtmpd_hs_peer_verified(&hs));

    /* what FFmpeg checks when playing: S1 digest, S2 signature */
    out = rtmpd_hs_output(&hs, &n);
    at = ref_pos(out + 1, 1);
    ref_digest(out + 1, at, fms, fms_key(fms) - 32, d);
    assert_memory_equal(d, out + 1 + at, 32);
    at = ref_pos(c0c1 + 1, 1);
    ref_signature(out + 1 + PKT, fms, 68, c0c1 + 1 + at, d);
    assert_memory_equal(d, out + 1 + 2 * PKT - 32, 32);
}

static void client_completes_when_server_is_not_genuine(void **state)
{
    (void)state;
    struct rtmpd_hs_opts co, so;
    struct transcript t;
    struct rtmpd_hs hs;
    uint8_t s0s1s2[S0S1S2_LEN];
    const uint8_t *out;
    size_t n;

    /* genuine S1 digest, S2 signature broken: C2 still signed, unverified */
    opts_for(&co, &so, 1, RTMPD_HS_SIMPLE);
    run_pair(&co, &so, 0, &t);
    t.s0s1s2[S0S1S2_LEN - 1] ^= 1;
    assert_int_equal(rtmpd_hs_init(&hs, RTMPD_HS_CLIENT, &co), RTMPD_OK);
    assert_int_equal(rtmpd_hs_feed(&hs, t.s0s1s2, S0S1S2_LEN), S0S1S2_LEN);
    assert_true(rtmpd_hs_done(&hs));
    assert_false(rtmpd_hs_peer_verified(&hs));
    out = rtmpd_hs_output(&hs, &n);
    assert_memory_equal(out + C0C1_LEN, t.c2, PKT);

    /* simple client, S2 not an echo of C1 */
    opts_for(&co, &so, 0, RTMPD_HS_SIMPLE);
    run_pair(&co, &so, 0, &t);
    t.s0s1s2[1 + PKT + 100] ^= 1;
    assert_int_equal(rtmpd_hs_init(&hs, RTMPD_HS_CLIENT, &co), RTMPD_OK);
    assert_int_equal(rtmpd_hs_feed(&hs, t.s0s1s2, S0S1S2_LEN), S0S1S2_LEN);
    assert_true(rtmpd_hs_done(&hs));
    assert_false(rtmpd_hs_peer_verified(&hs));

    /* S1 with a version but no valid digest, S2 random */
    opts_for(&co, &so, 1, RTMPD_HS_SIMPLE);
    s0s1s2[0] = 3;
    lcg_fill(s0s1s2 + 1, 2 * PKT, 11);
    rtmpd_wr_be32(s0s1s2 + 5, 0x04050001);
    for (size_t step = 0; step <= 1; step++) {
        assert_int_equal(rtmpd_hs_init(&hs, RTMPD_HS_CLIENT, &co), RTMPD_OK);
        assert_int_equal(feed_all(&hs, s0s1s2, S0S1S2_LEN, step), S0S1S2_LEN);
        assert_true(rtmpd_hs_done(&hs));
        assert_false(rtmpd_hs_peer_verified(&hs));
        assert_int_equal(rtmpd_hs_form(&hs), RTMPD_HS_DIGEST_SCHEMA1);
        out = rtmpd_hs_output(&hs, &n);
        assert_int_equal(n, C0C1_LEN + PKT);
        out += C0C1_LEN;                    /* C2: exact echo of S1 */
        assert_memory_equal(out, s0s1s2 + 1, PKT);
    }
}

static void output_is_contiguous_across_partial_takes(void **state)
{
    (void)state;
    struct rtmpd_hs_opts co, so;
    struct transcript t;
    struct rtmpd_hs hs;
    const uint8_t *out;
    size_t n;

    opts_for(&co, &so, 1, RTMPD_HS_SIMPLE);
    run_pair(&co, &so, 0, &t);
    assert_int_equal(rtmpd_hs_init(&hs, RTMPD_HS_CLIENT, &co), RTMPD_OK);
    rtmpd_hs_output_taken(&hs, 1000);           /* C0C1 partly sent */
    assert_int_equal(rtmpd_hs_feed(&hs, t.s0s1s2, S0S1S2_LEN), S0S1S2_LEN);
    out = rtmpd_hs_output(&hs, &n);
    assert_int_equal(n, C0C1_LEN - 1000 + PKT);
    assert_memory_equal(out, t.c0c1 + 1000, C0C1_LEN - 1000);
    assert_memory_equal(out + C0C1_LEN - 1000, t.c2, PKT);
    rtmpd_hs_output_taken(&hs, n + 5);          /* clamped */
    rtmpd_hs_output(&hs, &n);
    assert_int_equal(n, 0);

    assert_int_equal(rtmpd_hs_init(&hs, 7, &co), RTMPD_E_INVAL);
    co.client_schema = 9;
    assert_int_equal(rtmpd_hs_init(&hs, RTMPD_HS_CLIENT, &co), RTMPD_E_INVAL);
    assert_int_equal(rtmpd_hs_init(&hs, RTMPD_HS_SERVER, NULL), RTMPD_OK); /* RAND_bytes */
    rtmpd_hs_output(&hs, &n);
    assert_int_equal(n, 0);
}

int main(int argc, char **argv);
static const struct CMUnitTest tests[] = {
    cmocka_unit_test(digest_schema1_pair_verifies_whole_and_bytewise),
    cmocka_unit_test(digest_schema0_pair_verifies_whole_and_bytewise),
    cmocka_unit_test(simple_pair_verifies_whole_and_bytewise),
    cmocka_unit_test(zero_version_c1_gets_simple_echo),
    cmocka_unit_test(corrupted_digest_falls_back_to_simple),
    cmocka_unit_test(wrong_version_byte_is_error_bytewise),
    cmocka_unit_test(extra_bytes_after_c2_and_s2_not_consumed),
    cmocka_unit_test(feed_after_done_is_error),
    cmocka_unit_test(digests_match_independent_reference),
    cmocka_unit_test(known_answers_from_independent_implementation),
    cmocka_unit_test(ffmpeg_c1_validates_as_schema1),
    cmocka_unit_test(client_completes_when_server_is_not_genuine),
    cmocka_unit_test(output_is_contiguous_across_partial_takes),
};
RTMPD_TEST_MAIN(tests)
