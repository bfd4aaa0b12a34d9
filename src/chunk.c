/*
 * RTMP chunk stream (Adobe RTMP spec 1.0, section 5.3): decoder and encoder.
 *
 * The decoder is a byte-driven state machine over caller-owned state. A chunk
 * is a basic header (1-3 bytes), a message header (11, 7, 3 or 0 bytes for
 * fmt 0-3), an optional 4-byte extended timestamp and up to chunk_size bytes
 * of payload. Every state consumes input as it comes, so feeding the stream
 * one byte at a time gives the same messages as feeding it whole.
 *
 * Choices where real peers and the spec disagree are explained in
 * docs/protocol.md ("Chunk stream").
 */
#include "rtmpd/chunk.h"

#include <stdlib.h>
#include <string.h>

#include "rtmpd/bytes.h"
#include "rtmpd/error.h"

/* Per chunk stream state: the last header seen and the message in progress. */
struct rtmpd_chunk_cs {
    uint32_t csid;
    uint32_t timestamp;   /* of the current (or last) message */
    uint32_t delta;       /* last delta; after fmt 0 its timestamp (5.3.1.2.4) */
    uint32_t ext;         /* value of the last extended timestamp field */
    uint32_t length;
    uint32_t stream_id;
    uint32_t have;        /* payload bytes received of the current message */
    uint32_t cap;         /* bytes allocated at buf */
    uint8_t *buf;
    uint8_t type;
    uint8_t has_ext;      /* last fmt 0-2 header had timestamp 0xffffff */
    uint8_t open;         /* a message is in progress */
};

enum {
    ST_BASIC,             /* basic header */
    ST_HEADER,            /* message header and its extended timestamp */
    ST_EXT3,              /* fmt 3 chunk: is the extended timestamp there? */
    ST_EXT3_SKIP,         /* fmt 3 chunk: rest of an extended timestamp */
    ST_PAYLOAD,
};

/* What the peer does with extended timestamps on fmt 3 chunks (d->ext3). */
enum { EXT3_UNKNOWN, EXT3_REPEATED, EXT3_OMITTED };

#define CHUNK_BUF_MIN 256u

static const uint8_t chunk_mh_size[4] = { 11, 7, 3, 0 };

static uint32_t min_u32(uint32_t a, uint32_t b)
{
    return a < b ? a : b;
}

void rtmpd_chunk_dec_init(struct rtmpd_chunk_dec *d, const struct rtmpd_chunk_limits *lim)
{
    memset(d, 0, sizeof *d);
    if (lim)
        d->lim = *lim;
    if (!d->lim.max_message_bytes)
        d->lim.max_message_bytes = RTMPD_CHUNK_MAX_MESSAGE_DEFAULT;
    if (!d->lim.max_streams)
        d->lim.max_streams = RTMPD_CHUNK_MAX_STREAMS_DEFAULT;
    if (!d->lim.max_pending_bytes)
        d->lim.max_pending_bytes = RTMPD_CHUNK_MAX_PENDING_DEFAULT;
    d->chunk_size = RTMPD_CHUNK_SIZE_DEFAULT;
    d->state = ST_BASIC;
}

void rtmpd_chunk_dec_release(struct rtmpd_chunk_dec *d)
{
    for (uint32_t i = 0; i < d->nstreams; i++)
        free(d->streams[i].buf);
    free(d->streams);
    free(d->done_payload);
    memset(d, 0, sizeof *d);
}

uint8_t *rtmpd_chunk_take_payload(struct rtmpd_chunk_dec *d)
{
    uint8_t *p = d->done_payload;

    d->done_payload = NULL;
    d->done_bytes = 0;
    return p;
}

uint32_t rtmpd_chunk_dec_chunk_size(const struct rtmpd_chunk_dec *d)
{
    return d->chunk_size;
}

size_t rtmpd_chunk_dec_memory(const struct rtmpd_chunk_dec *d)
{
    return (size_t)d->cap_streams * sizeof(struct rtmpd_chunk_cs) + d->buf_bytes + d->done_bytes;
}

/*
 * Binary search of the sorted stream table. Returns the state of `csid` or
 * NULL, and in *pos where it would be inserted.
 */
static struct rtmpd_chunk_cs *cs_find(struct rtmpd_chunk_dec *d, uint32_t csid, uint32_t *pos)
{
    uint32_t lo = 0, hi = d->nstreams;

    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (d->streams[mid].csid < csid)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (pos)
        *pos = lo;
    return lo < d->nstreams && d->streams[lo].csid == csid ? &d->streams[lo] : NULL;
}

/* Inserts fresh state at `pos`. Moves entries: pointers into the table die. */
static struct rtmpd_chunk_cs *cs_insert(struct rtmpd_chunk_dec *d, uint32_t csid, uint32_t pos)
{
    if (d->nstreams == d->cap_streams) {
        uint32_t cap = d->cap_streams ? d->cap_streams * 2 : 8;
        if (cap > d->lim.max_streams)
            cap = d->lim.max_streams;
        struct rtmpd_chunk_cs *s = realloc(d->streams, (size_t)cap * sizeof *s);
        if (!s)
            return NULL;
        d->streams = s;
        d->cap_streams = cap;
    }
    struct rtmpd_chunk_cs *cs = &d->streams[pos];
    memmove(cs + 1, cs, (size_t)(d->nstreams - pos) * sizeof *cs);
    memset(cs, 0, sizeof *cs);
    cs->csid = csid;
    d->nstreams++;
    return cs;
}

/* Drops the message in progress on `cs`, keeping the header state. */
static void cs_discard(struct rtmpd_chunk_dec *d, struct rtmpd_chunk_cs *cs)
{
    d->pending_bytes -= cs->have;
    d->buf_bytes -= cs->cap;
    free(cs->buf);
    cs->buf = NULL;
    cs->cap = 0;
    cs->have = 0;
    cs->open = 0;
}

/*
 * Appends payload to the message in progress. The buffer grows with the
 * bytes received (doubling, capped at the declared length), never straight
 * to the declared length; the pending limit is checked before allocating.
 */
static int cs_append(struct rtmpd_chunk_dec *d, struct rtmpd_chunk_cs *cs, const uint8_t *p,
                     uint32_t n)
{
    if (n > d->lim.max_pending_bytes - d->pending_bytes)
        return RTMPD_E_CHUNK_PENDING;

    uint32_t need = cs->have + n;
    if (need > cs->cap) {
        uint64_t cap = (uint64_t)cs->cap * 2;
        if (cap < CHUNK_BUF_MIN)
            cap = CHUNK_BUF_MIN;
        if (cap < need)
            cap = need;
        if (cap > cs->length)
            cap = cs->length;
        uint8_t *b = realloc(cs->buf, (size_t)cap);
        if (!b)
            return RTMPD_E_NOMEM;
        d->buf_bytes += (size_t)cap - cs->cap;
        cs->buf = b;
        cs->cap = (uint32_t)cap;
    }
    memcpy(cs->buf + cs->have, p, n);
    cs->have = need;
    d->pending_bytes += n;
    return RTMPD_OK;
}

/*
 * Consumes `n` payload bytes of the current chunk. Returns 1 when they
 * complete the message, 0 (chunk continues, or next chunk expected) or an
 * error.
 */
static int chunk_data(struct rtmpd_chunk_dec *d, const uint8_t *p, uint32_t n)
{
    struct rtmpd_chunk_cs *cs = d->cur;

    if (n) {
        int rc = cs_append(d, cs, p, n);
        if (rc < 0)
            return rc;
        d->chunk_left -= n;
    }
    if (d->chunk_left) {
        d->state = ST_PAYLOAD;
        return 0;
    }
    if (cs->have == cs->length)
        return 1;
    d->state = ST_BASIC;
    d->hdr_have = 0;
    return 0;
}

/* Starts the payload of a chunk whose headers are all read. */
static int chunk_body(struct rtmpd_chunk_dec *d)
{
    struct rtmpd_chunk_cs *cs = d->cur;

    d->chunk_left = min_u32(d->chunk_size, cs->length - cs->have);
    return chunk_data(d, NULL, 0);
}

/*
 * The k < 4 bytes of a fmt 3 chunk matched the start of the extended
 * timestamp: take them as payload if this peer omits the field, else as the
 * field's first bytes and skip the rest of it.
 */
static int chunk_ext3_guess(struct rtmpd_chunk_dec *d)
{
    if (d->ext3 == EXT3_OMITTED)
        return chunk_data(d, d->hdr, d->hdr_have);
    d->state = ST_EXT3_SKIP;
    return 0;
}

/*
 * fmt 3 chunk after a header with an extended timestamp: the spec (5.3.1.3)
 * repeats the field, old librtmp/OBS omit it. Compare the next bytes with the
 * field's value, but never look past the bytes this chunk holds in either
 * reading (k = min(4, payload in this chunk)): a mismatch proves the field
 * absent and the bytes are payload. A full 4-byte match means present. A
 * match of k < 4 bytes is ambiguous; follow what this peer did last time it
 * was unambiguous, and the spec (present) until then.
 */
static int chunk_ext3(struct rtmpd_chunk_dec *d, const uint8_t **pp, const uint8_t *end)
{
    struct rtmpd_chunk_cs *cs = d->cur;
    uint32_t k = min_u32(4, d->chunk_left);
    const uint8_t *p = *pp;

    while (d->hdr_have < k && p < end) {
        uint8_t want = (uint8_t)(cs->ext >> (24 - 8 * d->hdr_have));
        uint8_t b = *p++;
        d->hdr[d->hdr_have++] = b;
        if (b != want) {
            *pp = p;
            d->ext3 = EXT3_OMITTED;
            return chunk_data(d, d->hdr, d->hdr_have);
        }
    }
    *pp = p;
    if (d->hdr_have < k)
        return 0;
    if (k == 4) {
        d->ext3 = EXT3_REPEATED;
        return chunk_data(d, NULL, 0);
    }
    return chunk_ext3_guess(d);
}

/* A complete basic header is in d->hdr: find or create the chunk stream. */
static int chunk_basic(struct rtmpd_chunk_dec *d)
{
    const uint8_t *h = d->hdr;
    uint32_t csid, pos = 0;

    /* 5.3.1.1: 0 and 1 in the low 6 bits select the 2- and 3-byte forms. */
    if (d->hdr_need == 1)
        csid = h[0] & 0x3f;
    else if (d->hdr_need == 2)
        csid = 64 + (uint32_t)h[1];
    else
        csid = 64 + (uint32_t)h[1] + 256 * (uint32_t)h[2];

    struct rtmpd_chunk_cs *cs = d->cur;
    if (!cs || cs->csid != csid)
        cs = cs_find(d, csid, &pos);
    if (!cs) {
        /* 5.3.1.2.1: a chunk stream starts with fmt 0; librtmp sends fmt 1. */
        if (d->fmt >= 2)
            return RTMPD_E_CHUNK_FRESH_FMT;
        if (d->nstreams >= d->lim.max_streams)
            return RTMPD_E_CHUNK_STREAMS;
        cs = cs_insert(d, csid, pos);
        if (!cs)
            return RTMPD_E_NOMEM;
    }
    d->cur = cs;
    d->hdr_have = 0;

    if (d->fmt < 3) {
        d->hdr_need = chunk_mh_size[d->fmt];
        d->state = ST_HEADER;
        return 0;
    }

    /* fmt 3 with no message in progress starts one like the last (5.3.1.2.4). */
    if (!cs->open) {
        cs->timestamp += cs->delta;
        cs->open = 1;
    }
    if (cs->has_ext) {
        d->chunk_left = min_u32(d->chunk_size, cs->length - cs->have);
        if (d->chunk_left == 0)
            return chunk_ext3_guess(d);
        d->state = ST_EXT3;
        return 0;
    }
    return chunk_body(d);
}

/* A complete fmt 0-2 message header is in d->hdr. */
static int chunk_header(struct rtmpd_chunk_dec *d)
{
    struct rtmpd_chunk_cs *cs = d->cur;
    const uint8_t *h = d->hdr;
    uint8_t mh = chunk_mh_size[d->fmt];
    uint32_t field = rtmpd_rd_be24(h);

    if (field == RTMPD_EXT_TS && d->hdr_need == mh) {
        d->hdr_need += 4;  /* 5.3.1.3: read the extended timestamp too */
        return 0;
    }
    uint32_t value = field == RTMPD_EXT_TS ? rtmpd_rd_be32(h + mh) : field;

    if (d->fmt <= 1) {
        uint32_t length = rtmpd_rd_be24(h + 3);
        if (length > d->lim.max_message_bytes)
            return RTMPD_E_CHUNK_MSG_SIZE;
        /* A new header drops an unfinished message: never reuse its buffer. */
        if (cs->open)
            cs_discard(d, cs);
        cs->length = length;
        cs->type = h[6];
        if (d->fmt == 0)
            cs->stream_id = rtmpd_rd_le32(h + 7);
    } else if (cs->open) {
        cs_discard(d, cs);
    }

    cs->timestamp = d->fmt == 0 ? value : cs->timestamp + value;
    cs->delta = value;
    cs->ext = value;
    cs->has_ext = field == RTMPD_EXT_TS;
    cs->open = 1;
    return chunk_body(d);
}

/* Applies Set Chunk Size and Abort (5.4.1, 5.4.2) once they are complete. */
static int chunk_control(struct rtmpd_chunk_dec *d, const struct rtmpd_msg *m)
{
    if (m->type != RTMPD_MSG_SET_CHUNK_SIZE && m->type != RTMPD_MSG_ABORT)
        return RTMPD_OK;
    if (m->length < 4)
        return RTMPD_E_CHUNK_CONTROL;

    uint32_t v = rtmpd_rd_be32(m->payload);
    if (m->type == RTMPD_MSG_SET_CHUNK_SIZE) {
        if (v == 0 || v > RTMPD_CHUNK_SIZE_MAX)
            return RTMPD_E_CHUNK_SIZE;
        d->chunk_size = v;
    } else {
        struct rtmpd_chunk_cs *cs = cs_find(d, v, NULL);
        if (cs && cs->open)
            cs_discard(d, cs);
    }
    return RTMPD_OK;
}

/* The current chunk stream's message is complete: hand it out. */
static int chunk_done(struct rtmpd_chunk_dec *d, struct rtmpd_msg *msg)
{
    struct rtmpd_chunk_cs *cs = d->cur;

    msg->csid = cs->csid;
    msg->type = cs->type;
    msg->stream_id = cs->stream_id;
    msg->timestamp = cs->timestamp;
    msg->length = cs->length;
    msg->payload = cs->buf;

    d->done_payload = cs->buf;
    d->done_bytes = cs->cap;
    d->buf_bytes -= cs->cap;
    d->pending_bytes -= cs->have;
    cs->buf = NULL;
    cs->cap = 0;
    cs->have = 0;
    cs->open = 0;
    d->state = ST_BASIC;
    d->hdr_have = 0;
    return chunk_control(d, msg);
}

ssize_t rtmpd_chunk_decode(struct rtmpd_chunk_dec *d, const uint8_t *in, size_t len,
                           struct rtmpd_msg *msg)
{
    const uint8_t *p = in, *end = in + len;
    int rc;

    if (d->error)
        return d->error;
    free(d->done_payload);
    d->done_payload = NULL;
    d->done_bytes = 0;

    while (p < end) {
        uint32_t n;

        rc = 0;
        switch (d->state) {
        case ST_BASIC:
            d->hdr[d->hdr_have++] = *p++;
            if (d->hdr_have == 1) {
                d->fmt = d->hdr[0] >> 6;
                n = d->hdr[0] & 0x3f;
                d->hdr_need = n == 0 ? 2 : n == 1 ? 3 : 1;
            }
            if (d->hdr_have == d->hdr_need)
                rc = chunk_basic(d);
            break;

        case ST_HEADER:
            n = d->hdr_need - d->hdr_have;
            if ((size_t)(end - p) < n)
                n = (uint32_t)(end - p);
            memcpy(d->hdr + d->hdr_have, p, n);
            d->hdr_have = (uint8_t)(d->hdr_have + n);
            p += n;
            if (d->hdr_have == d->hdr_need)
                rc = chunk_header(d);
            break;

        case ST_EXT3:
            rc = chunk_ext3(d, &p, end);
            break;

        case ST_EXT3_SKIP:
            p++;
            if (++d->hdr_have == 4)
                rc = chunk_body(d);
            break;

        case ST_PAYLOAD:
            n = d->chunk_left;
            if ((size_t)(end - p) < n)
                n = (uint32_t)(end - p);
            rc = chunk_data(d, p, n);
            p += n;
            break;
        }
        if (rc < 0)
            goto fail;
        if (rc > 0) {
            rc = chunk_done(d, msg);
            if (rc < 0)
                goto fail;
            return p - in;
        }
    }
    return RTMPD_AGAIN;

fail:
    d->error = rc;
    return rc;
}

/* Encoder. */

static size_t chunk_header_size(unsigned fmt, uint32_t csid, uint32_t field)
{
    size_t bs = csid < 64 ? 1 : csid < 320 ? 2 : 3;

    return bs + chunk_mh_size[fmt] + (field >= RTMPD_EXT_TS ? 4 : 0);
}

size_t rtmpd_chunk_header_write(uint8_t *p, unsigned fmt, uint32_t csid, uint32_t timestamp,
                                uint32_t length, uint8_t type, uint32_t stream_id)
{
    uint8_t *start = p, f = (uint8_t)(fmt << 6);
    int ext = timestamp >= RTMPD_EXT_TS;

    if (fmt > 3 || csid < RTMPD_CSID_MIN || csid > RTMPD_CSID_MAX)
        return 0;
    if (csid < 64) {
        *p++ = f | (uint8_t)csid;
    } else if (csid < 320) {
        *p++ = f;
        *p++ = (uint8_t)(csid - 64);
    } else {
        /* 3-byte form: csid - 64, low byte first (5.3.1.1). */
        *p++ = f | 1;
        *p++ = (uint8_t)((csid - 64) & 0xff);
        *p++ = (uint8_t)((csid - 64) >> 8);
    }
    if (fmt <= 2) {
        rtmpd_wr_be24(p, ext ? RTMPD_EXT_TS : timestamp);
        p += 3;
    }
    if (fmt <= 1) {
        rtmpd_wr_be24(p, length);
        p[3] = type;
        p += 4;
    }
    if (fmt == 0) {
        rtmpd_wr_le32(p, stream_id);
        p += 4;
    }
    if (ext) {
        rtmpd_wr_be32(p, timestamp);  /* 5.3.1.3 */
        p += 4;
    }
    return (size_t)(p - start);
}

static int chunk_args_ok(uint32_t chunk_size, uint32_t csid, uint32_t length)
{
    return chunk_size && csid >= RTMPD_CSID_MIN && csid <= RTMPD_CSID_MAX && length <= 0xffffff;
}

/* Bytes of a message: first header, payload, a separator per extra chunk. */
static size_t chunk_total(uint32_t chunk_size, uint32_t length, size_t hdr, size_t sep)
{
    size_t more = length ? (length - 1) / chunk_size : 0;

    return hdr + length + more * sep;
}

size_t rtmpd_chunk_encoded_size(uint32_t chunk_size, uint32_t csid, uint32_t timestamp,
                                uint32_t length)
{
    if (!chunk_args_ok(chunk_size, csid, length))
        return 0;
    return chunk_total(chunk_size, length, chunk_header_size(0, csid, timestamp),
                       chunk_header_size(3, csid, timestamp));
}

int rtmpd_chunk_encode(struct rtmpd_buf *out, uint32_t chunk_size, const struct rtmpd_msg *msg,
                       struct rtmpd_chunk_prev *prev)
{
    unsigned fmt = 0;
    uint32_t field = msg->timestamp;  /* timestamp (fmt 0) or delta (fmt 1-3) */

    if (!chunk_args_ok(chunk_size, msg->csid, msg->length) || (msg->length && !msg->payload))
        return RTMPD_E_INVAL;

    /* 5.3.1.2: fmt 0 starts a stream and follows a timestamp going back. */
    if (prev && prev->valid && prev->stream_id == msg->stream_id
        && msg->timestamp >= prev->timestamp) {
        field = msg->timestamp - prev->timestamp;
        if (msg->type != prev->type || msg->length != prev->length)
            fmt = 1;
        else if (prev->delta_sent && field == prev->delta && field < RTMPD_EXT_TS && msg->length)
            fmt = 3;
        else
            fmt = 2;
    }

    /* Continuations repeat the extended timestamp, if any (5.3.1.3). */
    uint8_t sep[7];
    size_t sep_len = rtmpd_chunk_header_write(sep, 3, msg->csid, field, 0, 0, 0);
    size_t total = chunk_total(chunk_size, msg->length, chunk_header_size(fmt, msg->csid, field),
                               sep_len);
    uint8_t *p = rtmpd_buf_reserve(out, total);
    if (!p)
        return RTMPD_E_NOMEM;

    p += rtmpd_chunk_header_write(p, fmt, msg->csid, field, msg->length, msg->type,
                                  msg->stream_id);
    for (uint32_t off = 0;;) {
        uint32_t n = min_u32(chunk_size, msg->length - off);
        if (n)
            memcpy(p, msg->payload + off, n);
        p += n;
        off += n;
        if (off >= msg->length)
            break;
        memcpy(p, sep, sep_len);
        p += sep_len;
    }
    rtmpd_buf_commit(out, total);

    if (prev) {
        if (fmt == 0) {
            prev->delta = msg->timestamp;
            prev->delta_sent = 0;
        } else if (fmt <= 2) {
            prev->delta = field;
            prev->delta_sent = 1;
        }
        prev->valid = 1;
        prev->type = msg->type;
        prev->stream_id = msg->stream_id;
        prev->timestamp = msg->timestamp;
        prev->length = msg->length;
    }
    return RTMPD_OK;
}
