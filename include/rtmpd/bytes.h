/*
 * rtmpd — explicit big/little-endian readers and writers, and a growable
 * byte buffer.
 *
 * Nothing else in rtmpd reads or writes multi-byte integers from wire data:
 * no pointer punning, no host-order assumptions. Readers take a pointer to at
 * least N valid bytes; bounds are the caller's job.
 */
#ifndef RTMPD_BYTES_H
#define RTMPD_BYTES_H

#include <stddef.h>
#include <stdint.h>

static inline uint16_t rtmpd_rd_be16(const uint8_t *p)
{
    return (uint16_t)((uint16_t)p[0] << 8 | p[1]);
}

static inline uint32_t rtmpd_rd_be24(const uint8_t *p)
{
    return (uint32_t)p[0] << 16 | (uint32_t)p[1] << 8 | p[2];
}

static inline uint32_t rtmpd_rd_be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static inline uint32_t rtmpd_rd_le32(const uint8_t *p)
{
    return (uint32_t)p[3] << 24 | (uint32_t)p[2] << 16 | (uint32_t)p[1] << 8 | p[0];
}

static inline uint64_t rtmpd_rd_be64(const uint8_t *p)
{
    return (uint64_t)rtmpd_rd_be32(p) << 32 | rtmpd_rd_be32(p + 4);
}

static inline void rtmpd_wr_be16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static inline void rtmpd_wr_be24(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 16);
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)v;
}

static inline void rtmpd_wr_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static inline void rtmpd_wr_le32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

static inline void rtmpd_wr_be64(uint8_t *p, uint64_t v)
{
    rtmpd_wr_be32(p, (uint32_t)(v >> 32));
    rtmpd_wr_be32(p + 4, (uint32_t)v);
}

/* IEEE-754 binary64, big-endian (AMF0 number, AMF3 double). */
double rtmpd_rd_double(const uint8_t *p);
void rtmpd_wr_double(uint8_t *p, double v);

/*
 * A growable byte buffer owned by its user. Zero-initialise it (or call
 * rtmpd_buf_init) before use. An allocation failure sets `failed`; later
 * appends are then ignored, so encoders can check once at the end.
 */
struct rtmpd_buf {
    uint8_t *data;
    size_t len;
    size_t cap;
    int failed;
};

void rtmpd_buf_init(struct rtmpd_buf *b);

/* Frees the storage and zeroes the buffer. */
void rtmpd_buf_release(struct rtmpd_buf *b);

/*
 * Makes room for `extra` more bytes and returns a pointer to them (the caller
 * writes them and then calls rtmpd_buf_commit). Returns NULL and sets
 * `failed` when the allocation fails or the size would overflow.
 */
uint8_t *rtmpd_buf_reserve(struct rtmpd_buf *b, size_t extra);
void rtmpd_buf_commit(struct rtmpd_buf *b, size_t n);

/* Appends bytes or a single byte; on failure sets `failed`. */
void rtmpd_buf_append(struct rtmpd_buf *b, const void *p, size_t n);
void rtmpd_buf_put_u8(struct rtmpd_buf *b, uint8_t v);
void rtmpd_buf_put_be16(struct rtmpd_buf *b, uint16_t v);
void rtmpd_buf_put_be24(struct rtmpd_buf *b, uint32_t v);
void rtmpd_buf_put_be32(struct rtmpd_buf *b, uint32_t v);
void rtmpd_buf_put_le32(struct rtmpd_buf *b, uint32_t v);
void rtmpd_buf_put_double(struct rtmpd_buf *b, double v);

/* Empties the buffer, keeping its storage. */
static inline void rtmpd_buf_reset(struct rtmpd_buf *b)
{
    b->len = 0;
    b->failed = 0;
}

#endif
