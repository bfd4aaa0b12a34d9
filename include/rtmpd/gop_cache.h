/*
 * rtmpd — per-stream GOP cache: every frame since the last video keyframe,
 * bounded by frame count and bytes, so a new player starts at once.
 *
 * The cache holds references to the same frames the live path sends; it
 * never copies a payload.
 */
#ifndef RTMPD_GOP_CACHE_H
#define RTMPD_GOP_CACHE_H

#include <stdint.h>

#include "rtmpd/config.h"
#include "rtmpd/frame.h"

struct rtmpd_gop {
    struct rtmpd_frame **frames;
    uint32_t n, cap;
    uint64_t bytes;      /* payload bytes held */
    uint64_t *total;     /* when set, kept equal to the sum of `bytes` of the caches sharing it */
    uint8_t overflow;    /* limits hit: not caching until the next keyframe */
};

/* Drops every cached frame (keeps the array for reuse). */
void rtmpd_gop_clear(struct rtmpd_gop *g);

/* Frees everything. */
void rtmpd_gop_release(struct rtmpd_gop *g);

/*
 * Offers a live frame to the cache. A video keyframe starts a new GOP;
 * other frames are appended while a GOP is open. When the frame or byte
 * limit would be passed, the cache empties and waits for the next keyframe
 * (a truncated GOP would not decode). Sequence headers and metadata are not
 * cached here (the stream keeps the latest ones). Returns 0, or -1 when out
 * of memory (the cache is then emptied).
 */
int rtmpd_gop_push(struct rtmpd_gop *g, struct rtmpd_frame *f, const struct rtmpd_gop_conf *conf);

#endif
