#include "rtmpd/gop_cache.h"

#include <stdlib.h>

#include "rtmpd/chunk.h"

void rtmpd_gop_clear(struct rtmpd_gop *g)
{
    for (uint32_t i = 0; i < g->n; i++)
        rtmpd_frame_unref(g->frames[i]);
    if (g->total)
        *g->total -= g->bytes;
    g->n = 0;
    g->bytes = 0;
}

void rtmpd_gop_release(struct rtmpd_gop *g)
{
    rtmpd_gop_clear(g);
    free(g->frames);
    g->frames = NULL;
    g->cap = 0;
}

int rtmpd_gop_push(struct rtmpd_gop *g, struct rtmpd_frame *f, const struct rtmpd_gop_conf *conf)
{
    if (!conf->enabled || (f->flags & (RTMPD_FRAME_SEQ | RTMPD_FRAME_META)))
        return 0;
    if (f->type == RTMPD_MSG_VIDEO && (f->flags & RTMPD_FRAME_KEY)) {
        rtmpd_gop_clear(g);
        g->overflow = 0;
    } else if (g->n == 0 || g->overflow) {
        return 0; /* no open GOP: nothing decodable to append to */
    }
    if (g->n + 1 > conf->max_frames || g->bytes + f->len > conf->max_bytes) {
        rtmpd_gop_clear(g);
        g->overflow = 1;
        return 0;
    }
    if (g->n == g->cap) {
        uint32_t cap = g->cap ? g->cap * 2 : 64;
        struct rtmpd_frame **p = realloc(g->frames, cap * sizeof *p);
        if (!p) {
            rtmpd_gop_clear(g);
            g->overflow = 1;
            return -1;
        }
        g->frames = p;
        g->cap = cap;
    }
    g->frames[g->n++] = rtmpd_frame_ref(f);
    g->bytes += f->len;
    if (g->total)
        *g->total += f->len;
    return 0;
}
