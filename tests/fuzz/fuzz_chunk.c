/*
 * libFuzzer harness: chunk stream decoder (and the encoder behind it).
 *
 * Input: an 8-byte header, then a chunk stream as received after the
 * handshake.
 *   [0]    max_message_bytes  \
 *   [1]    max_streams         } see limit() and streams(); 0 = default
 *   [2]    max_pending_bytes  /
 *   [3]    flags: bits 0-1 how often to inject control/data messages
 *          (never, rarely, often, after every message); bit 2 the
 *          byte-by-byte run takes every other payload
 *   [4..7] PRNG seed (split points, injected messages)
 *
 * 1. Run A feeds the stream in PRNG-sized pieces. Each time it returns a
 *    message the decoder is at a chunk boundary, and the harness may inject
 *    a whole message there, encoded with rtmpd_chunk_encode() at the
 *    decoder's current chunk size: a Set Chunk Size (valid or not), an Abort
 *    of a recent chunk stream, or a data message (extended timestamps,
 *    3-byte csids, several chunks). A must return exactly that message, or
 *    one of the errors its limits allow. The bytes A saw, injections
 *    included, are the stream S.
 * 2. Run B decodes S fed whole, run C one byte at a time (over the first
 *    4 KiB, then in PRNG-sized pieces, to keep runs fast): the messages
 *    (every field and the payload) and the final status of A, B and C must
 *    be the same. Errors are sticky.
 * 3. After every call: rtmpd_chunk_dec_memory() stays within what the limits
 *    allow and within what the bytes received so far allow; a returned Set
 *    Chunk Size is in effect; field ranges hold.
 * 4. B's messages are encoded again with rtmpd_chunk_encode(), one `prev`
 *    per chunk stream (so fmt 1/2/3 headers are used) and the chunk sizes
 *    the messages themselves set; decoding that must give the same messages
 *    and consume it all.
 */
#include <stdlib.h>

#include "fuzz_common.h"
#include "rtmpd/bytes.h"
#include "rtmpd/chunk.h"
#include "rtmpd/error.h"

#define HDR 8
/* Heap per chunk stream for its state: generous, the struct is private. */
#define STATE_BYTES 128u
/* Smallest buffer of a partial message (docs/protocol.md: 256 bytes). */
#define BUF_MIN 256u
/* No more injections once S is this long. */
#define MAX_STREAM (64u * 1024)
/* Run C goes one byte at a time over this much of S, then in pieces. */
#define BYTEWISE_PREFIX 4096u

struct rec {
    uint32_t csid, stream_id, timestamp, length;
    uint8_t type;
    uint64_t hash;
    uint8_t *payload;       /* copy, kept by run B only */
};

struct run {
    const char *name;
    struct rtmpd_chunk_dec d;
    struct rtmpd_chunk_limits lim;   /* effective limits */
    struct rec *v;
    size_t n, cap;
    int status;              /* RTMPD_AGAIN, or the error */
    size_t fed;              /* bytes given to the decoder */
    int keep;                /* keep payload copies */
    int take;                /* take every other payload */
};

static void run_init(struct run *r, const char *name, const struct rtmpd_chunk_limits *lim)
{
    memset(r, 0, sizeof *r);
    r->name = name;
    r->status = RTMPD_AGAIN;
    rtmpd_chunk_dec_init(&r->d, lim);
    r->lim = lim ? *lim : (struct rtmpd_chunk_limits){ 0 };
    if (!r->lim.max_message_bytes)
        r->lim.max_message_bytes = RTMPD_CHUNK_MAX_MESSAGE_DEFAULT;
    if (!r->lim.max_streams)
        r->lim.max_streams = RTMPD_CHUNK_MAX_STREAMS_DEFAULT;
    if (!r->lim.max_pending_bytes)
        r->lim.max_pending_bytes = RTMPD_CHUNK_MAX_PENDING_DEFAULT;
}

static void run_free(struct run *r)
{
    rtmpd_chunk_dec_release(&r->d);
    for (size_t i = 0; i < r->n; i++)
        free(r->v[i].payload);
    free(r->v);
}

static void check_memory(const struct run *r)
{
    size_t mem = rtmpd_chunk_dec_memory(&r->d);
    const struct rtmpd_chunk_limits *l = &r->lim;
    /* Buffers grow with the bytes received (x2 at most, 256 at least) and
     * never past the limits; the last payload is one message. */
    uint64_t by_limits = (uint64_t)l->max_streams * (STATE_BYTES + BUF_MIN)
                       + 2 * (uint64_t)l->max_pending_bytes + l->max_message_bytes;
    uint64_t by_input = (uint64_t)l->max_streams * (STATE_BYTES + BUF_MIN) + BUF_MIN
                      + 4 * (uint64_t)r->fed;

    FUZZ_CHECK(mem <= by_limits, "%s: memory %zu above %llu (limits)", r->name, mem,
               (unsigned long long)by_limits);
    FUZZ_CHECK(mem <= by_input, "%s: memory %zu above %llu (after %zu bytes)", r->name, mem,
               (unsigned long long)by_input, r->fed);
}

static void record(struct run *r, const struct rtmpd_msg *m)
{
    FUZZ_CHECK(m->csid >= RTMPD_CSID_MIN && m->csid <= RTMPD_CSID_MAX, "%s: csid %u", r->name,
               m->csid);
    FUZZ_CHECK(m->length <= r->lim.max_message_bytes, "%s: length %u above the limit",
               r->name, m->length);
    FUZZ_CHECK(m->length <= r->lim.max_pending_bytes, "%s: length %u above the pending limit",
               r->name, m->length);
    FUZZ_CHECK((m->length == 0) == (m->payload == NULL), "%s: length %u with payload %p",
               r->name, m->length, (void *)m->payload);
    if (m->type == RTMPD_MSG_SET_CHUNK_SIZE) {
        FUZZ_CHECK(m->length >= 4, "%s: short Set Chunk Size returned", r->name);
        uint32_t v = fuzz_rd_be32(m->payload);
        FUZZ_CHECK(rtmpd_chunk_dec_chunk_size(&r->d) == v, "%s: chunk size %u, set %u",
                   r->name, rtmpd_chunk_dec_chunk_size(&r->d), v);
    }
    if (m->type == RTMPD_MSG_ABORT)
        FUZZ_CHECK(m->length >= 4, "%s: short Abort returned", r->name);
    uint32_t cs = rtmpd_chunk_dec_chunk_size(&r->d);
    FUZZ_CHECK(cs >= 1 && cs <= RTMPD_CHUNK_SIZE_MAX, "%s: chunk size %u", r->name, cs);

    if (r->n == r->cap) {
        r->cap = r->cap ? 2 * r->cap : 64;
        r->v = realloc(r->v, r->cap * sizeof *r->v);
        FUZZ_CHECK(r->v != NULL, "realloc");
    }
    struct rec *c = &r->v[r->n++];
    c->csid = m->csid;
    c->stream_id = m->stream_id;
    c->timestamp = m->timestamp;
    c->length = m->length;
    c->type = m->type;
    c->hash = m->length ? fuzz_hash(m->payload, m->length) : 0;
    c->payload = NULL;
    if (r->keep && m->length) {
        c->payload = malloc(m->length);
        FUZZ_CHECK(c->payload != NULL, "malloc");
        memcpy(c->payload, m->payload, m->length);
    }
    if (r->take && (r->n & 1)) {
        uint8_t *p = rtmpd_chunk_take_payload(&r->d);
        FUZZ_CHECK(p == m->payload, "%s: took %p, message had %p", r->name, (void *)p,
                   (void *)m->payload);
        free(p);
        check_memory(r);
    }
}

/*
 * One decode call. Returns what rtmpd_chunk_decode returned, after the
 * checks; records a message.
 */
static ssize_t step(struct run *r, const uint8_t *p, size_t n, struct rtmpd_msg *m)
{
    ssize_t rc = rtmpd_chunk_decode(&r->d, p, n, m);

    if (rc > 0) {
        FUZZ_CHECK((size_t)rc <= n, "%s: consumed %zd of %zu", r->name, rc, n);
        r->fed += (size_t)rc;
        record(r, m);
    } else if (rc == RTMPD_AGAIN) {
        r->fed += n;
    } else {
        FUZZ_CHECK(rc <= RTMPD_E_NOMEM, "%s: bad return %zd", r->name, rc);
        FUZZ_CHECK(rc != RTMPD_E_NOMEM, "%s: out of memory", r->name);
        r->status = (int)rc;
        r->fed += n;  /* some of it was read before the error */
        ssize_t again = rtmpd_chunk_decode(&r->d, p, n, m);
        FUZZ_CHECK(again == rc, "%s: error %zd not sticky (%zd)", r->name, rc, again);
    }
    check_memory(r);
    return rc;
}

/*
 * Feeds all of p (or up to an error), `piece` bytes per call (0: all).
 * Returns what the last call returned (RTMPD_AGAIN when n is 0).
 */
static ssize_t feed(struct run *r, const uint8_t *p, size_t n, size_t piece)
{
    struct rtmpd_msg m;
    ssize_t rc = RTMPD_AGAIN;

    for (size_t off = 0; off < n && r->status == RTMPD_AGAIN;) {
        size_t len = piece && piece < n - off ? piece : n - off;
        rc = step(r, p + off, len, &m);
        if (rc > 0)
            off += (size_t)rc;
        else if (rc == RTMPD_AGAIN)
            off += len;
    }
    return rc;
}

static void same(const struct run *a, const struct run *b)
{
    FUZZ_CHECK(a->n == b->n, "%s returned %zu messages, %s %zu", a->name, a->n, b->name, b->n);
    for (size_t i = 0; i < a->n; i++) {
        const struct rec *x = &a->v[i], *y = &b->v[i];
        FUZZ_CHECK(x->csid == y->csid && x->type == y->type && x->stream_id == y->stream_id &&
                   x->timestamp == y->timestamp && x->length == y->length && x->hash == y->hash,
                   "message %zu differs: %s csid %u type %u sid %u ts %u len %u, "
                   "%s csid %u type %u sid %u ts %u len %u", i,
                   a->name, x->csid, x->type, x->stream_id, x->timestamp, x->length,
                   b->name, y->csid, y->type, y->stream_id, y->timestamp, y->length);
    }
    FUZZ_CHECK(a->status == b->status, "status: %s %d, %s %d", a->name, a->status, b->name,
               b->status);
}

/* ---- limits from the header ------------------------------------------ */

/* 0 = default; else small values (1-63), x64, x4096. */
static uint32_t limit(uint8_t b)
{
    uint32_t v = b & 0x3f;
    switch (b >> 6) {
    case 0: return v;
    case 1: return v * 64;
    case 2: return v * 4096;
    default: return v ? v * 65536 : 0;
    }
}

/* ---- injection ---------------------------------------------------------- */

struct inj {
    struct rtmpd_buf enc;
    uint8_t payload[70000];
};

static uint32_t pick_csid(struct fuzz_rng *g, const struct run *a)
{
    static const uint32_t csids[] = { 2, 3, 4, 5, 8, 63, 64, 65, 100, 319, 320, 321, 1000, 65599 };
    if (a->n && fuzz_below(g, 3) == 0)
        return a->v[a->n - 1 - fuzz_below(g, a->n < 4 ? (uint32_t)a->n : 4)].csid;
    return csids[fuzz_below(g, sizeof csids / sizeof csids[0])];
}

static uint32_t pick_ts(struct fuzz_rng *g)
{
    static const uint32_t ts[] = { 0, 1, 40, 1000, 0xfffffe, 0xffffff, 0x1000000, 0x7fffffff,
                                   0xfffffffe, 0xffffffff };
    if (fuzz_below(g, 4) == 0)
        return (uint32_t)fuzz_next(g);
    return ts[fuzz_below(g, sizeof ts / sizeof ts[0])];
}

/*
 * Encodes a message at the decoder's chunk size, feeds it to A, checks the
 * result and appends the bytes to S. Returns non-zero when A is at a chunk
 * boundary again (it returned a message that ended with the injected bytes).
 */
static int inject(struct fuzz_rng *g, struct run *a, struct inj *in, struct rtmpd_buf *s)
{
    struct rtmpd_msg m = { 0 };
    uint32_t chunk_size = rtmpd_chunk_dec_chunk_size(&a->d);
    int kind = (int)fuzz_below(g, 4);
    int bad_value = 0;

    m.csid = pick_csid(g, a);
    m.timestamp = pick_ts(g);
    m.stream_id = fuzz_below(g, 4) ? 0 : (uint32_t)fuzz_next(g);
    m.payload = in->payload;
    if (kind <= 1) {
        static const uint32_t sizes[] = { 1, 2, 3, 4, 5, 127, 128, 129, 1000, 4096, 65536,
                                          0x7fffffff, 0, 0x80000000u, 0xffffffffu };
        uint32_t v = kind == 0 ? sizes[fuzz_below(g, sizeof sizes / sizeof sizes[0])]
                               : pick_csid(g, a);
        if (kind == 0 && fuzz_below(g, 8) == 0)
            v = (uint32_t)fuzz_next(g);
        m.type = kind == 0 ? RTMPD_MSG_SET_CHUNK_SIZE : RTMPD_MSG_ABORT;
        m.length = fuzz_below(g, 16) ? 4 : fuzz_below(g, 9);
        memset(in->payload, 0, 8);
        if (m.length >= 4)
            rtmpd_wr_be32(in->payload, v);
        bad_value = kind == 0 && m.length >= 4 && (v == 0 || v > RTMPD_CHUNK_SIZE_MAX);
    } else {
        static const uint8_t types[] = { 3, 4, 5, 6, 8, 9, 15, 17, 18, 20, 22, 0, 255 };
        m.type = types[fuzz_below(g, sizeof types / sizeof types[0])];
        switch (fuzz_below(g, 8)) {
        case 0: m.length = 0; break;
        case 1:
            m.length = fuzz_below(g, 16) ? 1000 + fuzz_below(g, 4000)
                                         : (uint32_t)sizeof in->payload - fuzz_below(g, 8000);
            break;
        case 2: m.length = chunk_size < 4096 ? chunk_size * (1 + fuzz_below(g, 3)) : 7; break;
        default: m.length = fuzz_below(g, 700); break;
        }
        for (uint32_t i = 0; i < m.length; i++)
            in->payload[i] = (uint8_t)(i * 7 + m.length);
    }

    rtmpd_buf_reset(&in->enc);
    int rc = rtmpd_chunk_encode(&in->enc, chunk_size, &m, NULL);
    FUZZ_CHECK(rc == RTMPD_OK, "encode failed: %d", rc);
    size_t want = rtmpd_chunk_encoded_size(chunk_size, m.csid, m.timestamp, m.length);
    FUZZ_CHECK(in->enc.len == want, "encoded %zu bytes, encoded_size says %zu", in->enc.len,
               want);
    rtmpd_buf_append(s, in->enc.data, in->enc.len);
    FUZZ_CHECK(!s->failed, "buffer");

    /* An extended timestamp repeated on a fmt 3 chunk with fewer than four
     * payload bytes is ambiguous (docs/protocol.md): exact only without. */
    uint32_t tail = m.length % chunk_size;
    int exact = m.timestamp < RTMPD_EXT_TS || m.length <= chunk_size ||
                (chunk_size >= 4 && (tail == 0 || tail >= 4));

    struct rtmpd_msg got;
    size_t before = a->n;
    ssize_t n = step(a, in->enc.data, in->enc.len, &got);
    int control = m.type == RTMPD_MSG_SET_CHUNK_SIZE || m.type == RTMPD_MSG_ABORT;
    if (n > 0) {
        if (exact) {
            FUZZ_CHECK(!bad_value, "Set Chunk Size %u accepted", fuzz_rd_be32(in->payload));
            FUZZ_CHECK(m.length >= 4 || !control, "short control message accepted");
            const struct rec *r = &a->v[before];
            FUZZ_CHECK((size_t)n == in->enc.len, "injected message ended after %zd of %zu",
                       n, in->enc.len);
            FUZZ_CHECK(r->csid == m.csid && r->type == m.type && r->stream_id == m.stream_id &&
                       r->timestamp == m.timestamp && r->length == m.length &&
                       r->hash == (m.length ? fuzz_hash(m.payload, m.length) : 0),
                       "injected csid %u type %u sid %u ts %u len %u, "
                       "got csid %u type %u sid %u ts %u len %u",
                       m.csid, m.type, m.stream_id, m.timestamp, m.length,
                       r->csid, r->type, r->stream_id, r->timestamp, r->length);
        }
        if ((size_t)n == in->enc.len)
            return 1;
        return feed(a, in->enc.data + n, in->enc.len - (size_t)n, 0) > 0;
    } else if (n == RTMPD_AGAIN) {
        FUZZ_CHECK(!exact, "injected message of %zu bytes not complete", in->enc.len);
    } else if (exact) {
        switch (n) {
        case RTMPD_E_CHUNK_STREAMS:
        case RTMPD_E_CHUNK_PENDING:
            break;
        case RTMPD_E_CHUNK_MSG_SIZE:
            FUZZ_CHECK(m.length > a->lim.max_message_bytes, "length %u refused", m.length);
            break;
        case RTMPD_E_CHUNK_SIZE:
            FUZZ_CHECK(bad_value, "Set Chunk Size %u refused", fuzz_rd_be32(in->payload));
            break;
        case RTMPD_E_CHUNK_CONTROL:
            FUZZ_CHECK(control && m.length < 4, "control message refused");
            break;
        default:
            FUZZ_CHECK(0, "injected message failed with %zd", n);
        }
    }
    if (exact && m.length > a->lim.max_message_bytes)
        FUZZ_CHECK(n == RTMPD_E_CHUNK_MSG_SIZE || n == RTMPD_E_CHUNK_STREAMS,
                   "length %u above the limit gave %zd", m.length, n);
    return 0;
}

/* ---- re-encoding ------------------------------------------------------ */

struct prev_entry {
    uint32_t csid;
    struct rtmpd_chunk_prev prev;
};

static void reencode(const struct run *b, const struct rtmpd_chunk_limits *lim)
{
    struct rtmpd_buf e = { 0 };
    struct prev_entry *prevs = calloc(b->lim.max_streams + 1, sizeof *prevs);
    size_t nprevs = 0;
    uint32_t chunk_size = RTMPD_CHUNK_SIZE_DEFAULT;

    FUZZ_CHECK(prevs != NULL, "calloc");
    for (size_t i = 0; i < b->n; i++) {
        const struct rec *r = &b->v[i];
        struct rtmpd_msg m = { r->csid, r->type, r->stream_id, r->timestamp, r->length,
                               r->payload };
        size_t k = 0;
        while (k < nprevs && prevs[k].csid != r->csid)
            k++;
        if (k == nprevs) {
            FUZZ_CHECK(nprevs < b->lim.max_streams, "more chunk streams than the limit");
            prevs[nprevs++].csid = r->csid;
        }
        int rc = rtmpd_chunk_encode(&e, chunk_size, &m, &prevs[k].prev);
        FUZZ_CHECK(rc == RTMPD_OK, "re-encoding message %zu failed: %d", i, rc);
        if (r->type == RTMPD_MSG_SET_CHUNK_SIZE)
            chunk_size = fuzz_rd_be32(r->payload);
    }
    FUZZ_CHECK(!e.failed, "buffer");

    struct run x;
    run_init(&x, "re-encoded", lim);
    feed(&x, e.data, e.len, 0);
    FUZZ_CHECK(x.status == RTMPD_AGAIN, "re-encoded stream failed: %d", x.status);
    FUZZ_CHECK(x.fed == e.len, "re-encoded stream: %zu of %zu bytes", x.fed, e.len);
    struct run bb = *b;
    bb.status = RTMPD_AGAIN;
    same(&bb, &x);
    run_free(&x);
    rtmpd_buf_release(&e);
    free(prevs);
}

/* ---- entry ------------------------------------------------------------ */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct inj in;
    if (size < HDR)
        return 0;

    struct rtmpd_chunk_limits lim = {
        .max_message_bytes = limit(data[0]),
        .max_streams = data[1] % 96,
        .max_pending_bytes = limit(data[2]),
    };
    int rate = data[3] & 3;
    struct fuzz_rng g = { fuzz_rd_be32(data + 4) };
    const uint8_t *raw = data + HDR;
    size_t rawlen = size - HDR;
    struct rtmpd_buf s = { 0 };
    struct run a, b, c;

    /* 1. A: pieces, injections at message boundaries; S is what A saw. */
    run_init(&a, "pieces", &lim);
    int boundary = 1;
    for (size_t off = 0; a.status == RTMPD_AGAIN;) {
        if (boundary && rate && s.len < MAX_STREAM &&
            (rate == 3 || fuzz_below(&g, rate == 1 ? 16 : 3) == 0)) {
            boundary = inject(&g, &a, &in, &s);
            if (a.status != RTMPD_AGAIN)
                break;
        }
        if (off == rawlen)
            break;
        size_t piece = fuzz_piece(&g, rawlen - off);
        struct rtmpd_msg m;
        if (fuzz_below(&g, 32) == 0) {
            ssize_t z = rtmpd_chunk_decode(&a.d, raw + off, 0, &m);
            FUZZ_CHECK(z == RTMPD_AGAIN, "empty feed returned %zd", z);
        }
        ssize_t rc = step(&a, raw + off, piece, &m);
        if (rc < 0 && rc != RTMPD_AGAIN) {
            rtmpd_buf_append(&s, raw + off, rawlen - off);
            break;
        }
        size_t used = rc > 0 ? (size_t)rc : piece;
        rtmpd_buf_append(&s, raw + off, used);
        off += used;
        boundary = rc > 0;
    }
    FUZZ_CHECK(!s.failed, "buffer");
    FUZZ_CHECK(a.status != RTMPD_AGAIN || a.fed == s.len, "A fed %zu of %zu", a.fed, s.len);

    /* 2. B whole, C byte by byte. */
    run_init(&b, "whole", &lim);
    b.keep = 1;
    feed(&b, s.data, s.len, 0);
    same(&a, &b);
    run_init(&c, "bytes", &lim);
    c.take = (data[3] & 4) != 0;
    size_t prefix = s.len < BYTEWISE_PREFIX ? s.len : BYTEWISE_PREFIX;
    feed(&c, s.data, prefix, 1);
    for (size_t off = prefix; off < s.len && c.status == RTMPD_AGAIN;) {
        size_t piece = fuzz_piece(&g, s.len - off);
        feed(&c, s.data + off, piece, 0);
        off += piece;
    }
    same(&b, &c);

    /* 4. Encode B's messages again and decode them. */
    reencode(&b, &lim);

    run_free(&a);
    run_free(&b);
    run_free(&c);
    rtmpd_buf_release(&s);
    return 0;
}
