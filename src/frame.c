#include "rtmpd/frame.h"

#include <stdlib.h>
#include <string.h>

#include "rtmpd/bytes.h"
#include "rtmpd/flv.h"

struct rtmpd_frame *rtmpd_frame_new(uint8_t type, uint32_t timestamp, uint8_t *payload,
                                    uint32_t len, uint8_t flags, uint64_t recv_us)
{
    struct rtmpd_frame *f = malloc(sizeof *f);
    if (!f) {
        free(payload);
        return NULL;
    }
    f->refs = 1;
    f->type = type;
    f->flags = flags;
    f->timestamp = timestamp;
    f->len = len;
    f->recv_us = recv_us;
    f->payload = payload;
    return f;
}

struct rtmpd_frame *rtmpd_frame_copy(uint8_t type, uint32_t timestamp, const uint8_t *data,
                                     uint32_t len, uint8_t flags, uint64_t recv_us)
{
    uint8_t *p = NULL;
    if (len) {
        p = malloc(len);
        if (!p)
            return NULL;
        memcpy(p, data, len);
    }
    return rtmpd_frame_new(type, timestamp, p, len, flags, recv_us);
}

void rtmpd_frame_unref(struct rtmpd_frame *f)
{
    if (!f || --f->refs)
        return;
    free(f->payload);
    free(f);
}

void rtmpd_out_rtmp(struct rtmpd_out *o, struct rtmpd_frame *f, uint32_t csid,
                    uint32_t stream_id, uint32_t ts, uint32_t chunk_size)
{
    memset(o, 0, offsetof(struct rtmpd_out, hdr));
    o->frame = rtmpd_frame_ref(f);
    o->hdr_len = (uint8_t)rtmpd_chunk_header_write(o->hdr, 0, csid, ts, f->len, f->type,
                                                   stream_id);
    o->sep_len = (uint8_t)rtmpd_chunk_header_write(o->sep, 3, csid, ts, 0, 0, 0);
    o->seg = chunk_size;
    uint32_t chunks = f->len ? (f->len + chunk_size - 1) / chunk_size : 1;
    o->size = o->hdr_len + f->len + (chunks - 1) * o->sep_len;
}

void rtmpd_out_flv(struct rtmpd_out *o, struct rtmpd_frame *f, uint32_t ts)
{
    memset(o, 0, offsetof(struct rtmpd_out, hdr));
    o->frame = rtmpd_frame_ref(f);
    rtmpd_flv_write_tag_header(o->hdr, f->type, ts, f->len);
    o->hdr_len = RTMPD_FLV_TAG_HEADER_LEN;
    rtmpd_flv_write_tag_trailer(o->trl, f->len);
    o->trl_len = RTMPD_FLV_TAG_TRAILER_LEN;
    o->size = o->hdr_len + f->len + o->trl_len;
}

void rtmpd_out_raw(struct rtmpd_out *o, uint8_t *raw, uint32_t len)
{
    memset(o, 0, offsetof(struct rtmpd_out, hdr));
    o->raw = raw;
    o->size = len;
}

void rtmpd_out_release(struct rtmpd_out *o)
{
    rtmpd_frame_unref(o->frame);
    free(o->raw);
    o->frame = NULL;
    o->raw = NULL;
}

/* Adds the part of piece [base, base+len) that lies at or after `pos`. */
static int iov_piece(struct iovec *iov, int n, int max, uint32_t *cursor, uint32_t pos,
                     const uint8_t *base, uint32_t len)
{
    uint32_t start = *cursor, end = start + len;
    *cursor = end;
    if (n >= max || len == 0 || pos >= end)
        return n;
    uint32_t skip = pos > start ? pos - start : 0;
    iov[n].iov_base = (void *)(base + skip);
    iov[n].iov_len = len - skip;
    return n + 1;
}

int rtmpd_out_iov(const struct rtmpd_out *o, struct iovec *iov, int max)
{
    uint32_t pos = o->done, cursor = 0;
    int n = 0;

    if (!o->frame)
        return iov_piece(iov, 0, max, &cursor, pos, o->raw, o->size);

    const struct rtmpd_frame *f = o->frame;
    n = iov_piece(iov, n, max, &cursor, pos, o->hdr, o->hdr_len);
    uint32_t seg = o->seg ? o->seg : (f->len ? f->len : 1);
    uint32_t off = 0;
    if (f->len > seg && pos >= cursor + seg) {
        /* Jump over the segments already written: segment i >= 1 starts
         * with its separator at hdr + seg + (i - 1) * (sep + seg). */
        uint32_t i = 1 + (pos - cursor - seg) / (o->sep_len + seg);
        if ((uint64_t)i * seg >= f->len)
            i = (f->len - 1) / seg;
        cursor += seg + (i - 1) * (o->sep_len + seg);
        off = i * seg;
    }
    for (; off < f->len && n < max; off += seg) {
        uint32_t len = f->len - off < seg ? f->len - off : seg;
        if (off)
            n = iov_piece(iov, n, max, &cursor, pos, o->sep, o->sep_len);
        n = iov_piece(iov, n, max, &cursor, pos, f->payload + off, len);
    }
    if (n < max)
        n = iov_piece(iov, n, max, &cursor, pos, o->trl, o->trl_len);
    return n;
}
