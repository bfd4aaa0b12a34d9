/*
 * libFuzzer harness: RTMP handshake, server and client side.
 *
 * Input: a 7-byte header, then the bytes received from the peer.
 *   [0]    flags: bit 0 client (else server); bit 1 client sends a digest C1;
 *          bit 2 digest schema 0 (else 1); bit 3 loopback (client only: the
 *          peer's S0S1S2 comes from our own server fed with the client's
 *          C0C1, and the data bytes are (offset hi, offset lo, xor) triples
 *          that corrupt it); bits 4-7 vary the random fill.
 *   [1..4] epoch (big-endian)
 *   [5..6] seed of the split points
 *   [7..]  data
 *
 * The same bytes are fed whole, in pieces at PRNG-chosen points (taking the
 * output in random amounts, with empty feeds in between) and one byte at a
 * time: status, consumed total, output bytes, done, form and peer_verified
 * must all agree. Then what each side must produce is checked: S0/C0 = 3,
 * the time field, the simple-form echo, and for an uncorrupted loopback
 * that both sides verify each other.
 */
#include <stdlib.h>

#include "fuzz_common.h"
#include "rtmpd/error.h"
#include "rtmpd/handshake.h"

#define PKT RTMPD_HS_PACKET
#define FULL (1 + 2 * PKT)   /* C0C1C2 / S0S1S2 */
#define HDR 7

struct outcome {
    int rc;                  /* 0, or the error returned */
    size_t consumed;
    uint8_t out[FULL];
    size_t out_len;
    int done, form, verified;
};

static uint8_t random_fill[4][2 * PKT];
static uint8_t random_peer[2 * PKT];

static void init_random(void)
{
    static int inited;
    if (inited)
        return;
    struct fuzz_rng r = { 0x5eed };
    for (int k = 0; k < 4; k++)
        for (size_t i = 0; i < sizeof random_fill[k]; i++)
            random_fill[k][i] = (uint8_t)fuzz_next(&r);
    for (size_t i = 0; i < sizeof random_peer; i++)
        random_peer[i] = (uint8_t)fuzz_next(&r);
    inited = 1;
}

/* Moves `n` bytes of pending output to o->out. */
static void take(struct rtmpd_hs *hs, struct outcome *o, size_t n)
{
    size_t len;
    const uint8_t *p = rtmpd_hs_output(hs, &len);

    FUZZ_CHECK(p != NULL, "output pointer is NULL");
    if (n > len)
        n = len;
    FUZZ_CHECK(o->out_len + n <= sizeof o->out, "more than %d bytes of output", FULL);
    memcpy(o->out + o->out_len, p, n);
    o->out_len += n;
    rtmpd_hs_output_taken(hs, n);
    rtmpd_hs_output(hs, &len);
    (void)len;
}

static void take_all(struct rtmpd_hs *hs, struct outcome *o)
{
    take(hs, o, (size_t)-1);
    size_t len;
    rtmpd_hs_output(hs, &len);
    FUZZ_CHECK(len == 0, "%zu bytes still pending after taking all", len);
}

static void finish(struct rtmpd_hs *hs, struct outcome *o)
{
    take_all(hs, o);
    o->done = rtmpd_hs_done(hs);
    o->form = rtmpd_hs_form(hs);
    o->verified = rtmpd_hs_peer_verified(hs);
    if (o->rc || o->done) {
        /* Errors are final, and so is done. */
        uint8_t b = 3;
        ssize_t r = rtmpd_hs_feed(hs, &b, 1);
        FUZZ_CHECK(r == RTMPD_E_HS_STATE, "feed after %s returned %zd",
                   o->rc ? "an error" : "done", r);
    }
}

static int init(struct rtmpd_hs *hs, int role, const struct rtmpd_hs_opts *opts,
                struct outcome *o)
{
    memset(o, 0, sizeof *o);
    int rc = rtmpd_hs_init(hs, role, opts);
    FUZZ_CHECK(rc == RTMPD_OK, "init failed: %d", rc);
    return rc;
}

/* mode 0: whole; 1: PRNG pieces; 2: one byte at a time. */
static void run(int role, const struct rtmpd_hs_opts *opts, const uint8_t *in, size_t len,
                int mode, uint64_t seed, struct outcome *o)
{
    struct rtmpd_hs hs;
    struct fuzz_rng r = { seed };

    init(&hs, role, opts, o);
    if (mode == 0) {
        ssize_t n = rtmpd_hs_feed(&hs, in, len);
        if (n < 0)
            o->rc = (int)n;
        else
            o->consumed = (size_t)n;
        finish(&hs, o);
        return;
    }
    for (size_t off = 0; off < len;) {
        size_t piece = mode == 2 ? 1 : fuzz_piece(&r, len - off);
        if (mode == 1 && fuzz_below(&r, 8) == 0) {
            ssize_t z = rtmpd_hs_feed(&hs, in + off, 0);
            FUZZ_CHECK(z == 0, "empty feed returned %zd", z);
        }
        ssize_t n = rtmpd_hs_feed(&hs, in + off, piece);
        if (n < 0) {
            o->rc = (int)n;
            break;
        }
        FUZZ_CHECK((size_t)n <= piece, "consumed %zd of %zu", n, piece);
        o->consumed += (size_t)n;
        off += (size_t)n;
        if (mode == 1) {
            size_t pending;
            rtmpd_hs_output(&hs, &pending);
            take(&hs, o, pending ? fuzz_below(&r, (uint32_t)pending + 1) : 0);
        }
        if ((size_t)n < piece) {
            FUZZ_CHECK(rtmpd_hs_done(&hs), "stopped at %zu of %zu bytes while not done",
                       o->consumed, len);
            break;
        }
        if (rtmpd_hs_done(&hs))
            break;
    }
    finish(&hs, o);
}

static void same(const struct outcome *a, const struct outcome *b, const char *what)
{
    FUZZ_CHECK(a->rc == b->rc, "%s: status %d vs %d", what, a->rc, b->rc);
    FUZZ_CHECK(a->consumed == b->consumed, "%s: consumed %zu vs %zu", what, a->consumed,
               b->consumed);
    FUZZ_CHECK(a->out_len == b->out_len, "%s: output %zu vs %zu bytes", what, a->out_len,
               b->out_len);
    FUZZ_CHECK(memcmp(a->out, b->out, a->out_len) == 0, "%s: output bytes differ", what);
    FUZZ_CHECK(a->done == b->done, "%s: done %d vs %d", what, a->done, b->done);
    FUZZ_CHECK(a->form == b->form, "%s: form %d vs %d", what, a->form, b->form);
    FUZZ_CHECK(a->verified == b->verified, "%s: verified %d vs %d", what, a->verified,
               b->verified);
}

/* What a side must have done with `in` (the peer's bytes). */
static void check_result(int role, const struct rtmpd_hs_opts *opts, const uint8_t *in,
                         size_t len, const struct outcome *o)
{
    uint32_t epoch = opts->epoch;

    if (len && in[0] != RTMPD_HS_VERSION) {
        FUZZ_CHECK(o->rc == RTMPD_E_HS_VERSION, "version %u accepted (rc %d)", in[0], o->rc);
        FUZZ_CHECK(!o->done, "done after a version error");
        FUZZ_CHECK(o->out_len == (role == RTMPD_HS_CLIENT ? 1 + PKT : 0u),
                   "output %zu after a version error", o->out_len);
        return;
    }
    FUZZ_CHECK(o->rc == 0, "error %d on a version-3 handshake", o->rc);
    FUZZ_CHECK(o->consumed == (len < FULL ? len : FULL), "consumed %zu of %zu", o->consumed,
               len);
    FUZZ_CHECK(o->done == (len >= FULL), "done %d after %zu bytes", o->done, len);

    if (role == RTMPD_HS_SERVER) {
        const uint8_t *c1 = in + 1, *s1 = o->out + 1, *s2 = o->out + 1 + PKT;
        FUZZ_CHECK(o->out_len == (len >= 1 + PKT ? (size_t)FULL : 0u), "server output %zu",
                   o->out_len);
        if (len < 1 + PKT)
            return;
        FUZZ_CHECK(o->out[0] == RTMPD_HS_VERSION, "S0 = %u", o->out[0]);
        FUZZ_CHECK(fuzz_rd_be32(s1) == epoch, "S1 time is not the epoch");
        if (fuzz_rd_be32(c1 + 4) == 0)
            FUZZ_CHECK(o->form == RTMPD_HS_SIMPLE, "digest form with a zero C1 version");
        if (o->form == RTMPD_HS_SIMPLE) {
            FUZZ_CHECK(!o->verified, "simple form verified");
            FUZZ_CHECK(fuzz_rd_be32(s1 + 4) == 0, "simple S1 version is not 0");
            FUZZ_CHECK(memcmp(s2, c1, PKT) == 0, "simple S2 does not echo C1");
        } else {
            FUZZ_CHECK(o->form == RTMPD_HS_DIGEST_SCHEMA0 || o->form == RTMPD_HS_DIGEST_SCHEMA1,
                       "form %d", o->form);
            FUZZ_CHECK(o->verified, "digest form not verified");
            FUZZ_CHECK(fuzz_rd_be32(s1 + 4) != 0, "digest S1 version is 0");
        }
        return;
    }

    const uint8_t *c1 = o->out + 1, *c2 = o->out + 1 + PKT, *s1 = in + 1, *s2 = in + 1 + PKT;
    FUZZ_CHECK(o->out_len == (len >= FULL ? (size_t)FULL : 1u + PKT), "client output %zu",
               o->out_len);
    FUZZ_CHECK(o->out[0] == RTMPD_HS_VERSION, "C0 = %u", o->out[0]);
    FUZZ_CHECK(fuzz_rd_be32(c1) == epoch, "C1 time is not the epoch");
    FUZZ_CHECK((fuzz_rd_be32(c1 + 4) != 0) == (opts->client_digest != 0), "C1 version field");
    FUZZ_CHECK(o->form == (!opts->client_digest ? RTMPD_HS_SIMPLE
                           : opts->client_schema == RTMPD_HS_DIGEST_SCHEMA0
                           ? RTMPD_HS_DIGEST_SCHEMA0 : RTMPD_HS_DIGEST_SCHEMA1),
               "client form %d", o->form);
    if (len < FULL)
        return;
    if (!opts->client_digest || fuzz_rd_be32(s1 + 4) == 0) {
        /* The simple form: C2 echoes S1, S2 must echo C1. */
        FUZZ_CHECK(memcmp(c2, s1, PKT) == 0, "simple C2 does not echo S1");
        FUZZ_CHECK(o->verified == (memcmp(s2 + 8, c1 + 8, PKT - 8) == 0),
                   "verified %d disagrees with the S2 echo", o->verified);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < HDR)
        return 0;
    init_random();

    uint8_t flags = data[0];
    int role = flags & 1 ? RTMPD_HS_CLIENT : RTMPD_HS_SERVER;
    struct rtmpd_hs_opts opts = {
        .epoch = fuzz_rd_be32(data + 1),
        .client_digest = (flags & 2) != 0,
        .client_schema = flags & 4 ? RTMPD_HS_DIGEST_SCHEMA0 : RTMPD_HS_SIMPLE,
        .random = random_fill[flags >> 4 & 3],
    };
    uint64_t seed = (uint64_t)data[5] << 8 | data[6];
    const uint8_t *in = data + HDR;
    size_t len = size - HDR;
    uint8_t *peer = NULL;
    int loopback = role == RTMPD_HS_CLIENT && (flags & 8);
    int corrupted = 0;
    struct rtmpd_hs server;
    struct outcome so;

    if (loopback) {
        /* The peer's S0S1S2 from our own server, then corrupted. */
        struct rtmpd_hs client;
        struct rtmpd_hs_opts sopts = { .epoch = opts.epoch ^ 0x5a5a5a5au, .random = random_peer };
        size_t n;
        const uint8_t *c0c1;

        rtmpd_hs_init(&client, RTMPD_HS_CLIENT, &opts);
        c0c1 = rtmpd_hs_output(&client, &n);
        FUZZ_CHECK(n == 1 + PKT, "client hello is %zu bytes", n);
        init(&server, RTMPD_HS_SERVER, &sopts, &so);
        FUZZ_CHECK(rtmpd_hs_feed(&server, c0c1, n) == (ssize_t)n, "server refused our C0C1");
        take_all(&server, &so);
        FUZZ_CHECK(so.out_len == FULL, "server answered %zu bytes", so.out_len);
        FUZZ_CHECK(rtmpd_hs_form(&server) == (!opts.client_digest ? RTMPD_HS_SIMPLE
                                              : opts.client_schema == RTMPD_HS_DIGEST_SCHEMA0
                                              ? RTMPD_HS_DIGEST_SCHEMA0
                                              : RTMPD_HS_DIGEST_SCHEMA1),
                   "server saw form %d", rtmpd_hs_form(&server));
        FUZZ_CHECK(rtmpd_hs_peer_verified(&server) == (opts.client_digest != 0),
                   "server verification %d", rtmpd_hs_peer_verified(&server));
        peer = malloc(FULL);
        FUZZ_CHECK(peer != NULL, "malloc");
        memcpy(peer, so.out, FULL);
        for (size_t i = 0; i + 3 <= len; i += 3) {
            size_t pos = ((size_t)in[i] << 8 | in[i + 1]) % FULL;
            corrupted |= in[i + 2] != 0;
            peer[pos] ^= in[i + 2];
        }
        in = peer;
        len = FULL;
    }

    struct outcome whole, pieces, bytes;
    run(role, &opts, in, len, 0, seed, &whole);
    run(role, &opts, in, len, 1, seed, &pieces);
    same(&whole, &pieces, "whole vs pieces");
    run(role, &opts, in, len, 2, seed, &bytes);
    same(&whole, &bytes, "whole vs bytes");
    check_result(role, &opts, in, len, &whole);

    if (loopback && !corrupted) {
        /* Our client and server agree and verify each other. */
        FUZZ_CHECK(whole.done && whole.verified, "client did not verify our server");
        ssize_t n = rtmpd_hs_feed(&server, whole.out + 1 + PKT, PKT);
        FUZZ_CHECK(n == PKT && rtmpd_hs_done(&server), "server did not take our C2");
    }
    free(peer);
    return 0;
}
