#include "rtmpd/bytes.h"

#include <stdlib.h>
#include <string.h>

double rtmpd_rd_double(const uint8_t *p)
{
    uint64_t u = rtmpd_rd_be64(p);
    double d;
    memcpy(&d, &u, sizeof d);
    return d;
}

void rtmpd_wr_double(uint8_t *p, double v)
{
    uint64_t u;
    memcpy(&u, &v, sizeof u);
    rtmpd_wr_be64(p, u);
}

void rtmpd_buf_init(struct rtmpd_buf *b)
{
    memset(b, 0, sizeof *b);
}

void rtmpd_buf_release(struct rtmpd_buf *b)
{
    free(b->data);
    memset(b, 0, sizeof *b);
}

uint8_t *rtmpd_buf_reserve(struct rtmpd_buf *b, size_t extra)
{
    if (b->failed)
        return NULL;
    if (extra > SIZE_MAX / 2 - b->len) {
        b->failed = 1;
        return NULL;
    }
    size_t need = b->len + extra;
    if (need > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < need)
            cap *= 2;
        uint8_t *p = realloc(b->data, cap);
        if (!p) {
            b->failed = 1;
            return NULL;
        }
        b->data = p;
        b->cap = cap;
    }
    return b->data + b->len;
}

void rtmpd_buf_commit(struct rtmpd_buf *b, size_t n)
{
    b->len += n;
}

void rtmpd_buf_append(struct rtmpd_buf *b, const void *p, size_t n)
{
    uint8_t *dst = rtmpd_buf_reserve(b, n);
    if (!dst)
        return;
    if (n)
        memcpy(dst, p, n);
    b->len += n;
}

void rtmpd_buf_put_u8(struct rtmpd_buf *b, uint8_t v)
{
    rtmpd_buf_append(b, &v, 1);
}

void rtmpd_buf_put_be16(struct rtmpd_buf *b, uint16_t v)
{
    uint8_t t[2];
    rtmpd_wr_be16(t, v);
    rtmpd_buf_append(b, t, sizeof t);
}

void rtmpd_buf_put_be24(struct rtmpd_buf *b, uint32_t v)
{
    uint8_t t[3];
    rtmpd_wr_be24(t, v);
    rtmpd_buf_append(b, t, sizeof t);
}

void rtmpd_buf_put_be32(struct rtmpd_buf *b, uint32_t v)
{
    uint8_t t[4];
    rtmpd_wr_be32(t, v);
    rtmpd_buf_append(b, t, sizeof t);
}

void rtmpd_buf_put_le32(struct rtmpd_buf *b, uint32_t v)
{
    uint8_t t[4];
    rtmpd_wr_le32(t, v);
    rtmpd_buf_append(b, t, sizeof t);
}

void rtmpd_buf_put_double(struct rtmpd_buf *b, double v)
{
    uint8_t t[8];
    rtmpd_wr_double(t, v);
    rtmpd_buf_append(b, t, sizeof t);
}
