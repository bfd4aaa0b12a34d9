/*
 * rtmpbench — the media file: an FLV file loaded whole and indexed once, so
 * publishing is a walk over an array (payload pointers into the file, crc32
 * precomputed).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zlib.h>

#include "rtmpd/amf.h"
#include "rtmpd/error.h"
#include "rtmpd/flv.h"

#include "bench.h"

static uint32_t crc_of(const uint8_t *p, uint32_t len)
{
    return (uint32_t)crc32(crc32(0L, Z_NULL, 0), p, len);
}

static int read_file(const char *path, uint8_t **out, size_t *len)
{
    FILE *f = fopen(path, "rb");
    uint8_t *buf = NULL;
    size_t cap = 0, n = 0;

    if (!f) {
        bench_log("%s: %s", path, strerror(errno));
        return -1;
    }
    for (;;) {
        if (n == cap) {
            cap = cap ? cap * 2 : 1 << 20;
            uint8_t *nb = realloc(buf, cap);
            if (!nb) {
                bench_log("%s: out of memory", path);
                goto fail;
            }
            buf = nb;
        }
        size_t r = fread(buf + n, 1, cap - n, f);
        n += r;
        if (r == 0) {
            if (ferror(f)) {
                bench_log("%s: read error", path);
                goto fail;
            }
            break;
        }
    }
    fclose(f);
    *out = buf;
    *len = n;
    return 0;

fail:
    free(buf);
    fclose(f);
    return -1;
}

/* Is this script payload "onMetaData"? (first AMF0 value is that string) */
static int is_metadata(const uint8_t *p, uint32_t len)
{
    static const char name[] = "onMetaData";
    return len >= 3 + sizeof name - 1 && p[0] == 0x02 && rtmpd_rd_be16(p + 1) == sizeof name - 1 &&
           memcmp(p + 3, name, sizeof name - 1) == 0;
}

int media_load(struct media *m, const char *path)
{
    size_t len, off, cap = 0, extra_len = 0;
    ssize_t r;
    int has_audio, has_video;
    uint32_t first_ts = 0, last_ts = 0, vfirst = 0, vlast = 0, afirst = 0, alast = 0;
    int have_first = 0;

    memset(m, 0, sizeof *m);
    if (read_file(path, &m->file, &len) < 0)
        return -1;
    r = rtmpd_flv_parse_file_header(m->file, len, &has_audio, &has_video);
    if (r < 0) {
        bench_log("%s: not an FLV file (%s)", path,
                  r == RTMPD_AGAIN ? "too short" : rtmpd_strerror((int)r));
        goto fail;
    }

    /* First pass: count and size the rewritten script payloads. */
    for (off = (size_t)r; off < len;) {
        struct rtmpd_flv_tag t;
        r = rtmpd_flv_parse_tag(m->file + off, len - off, &t);
        if (r < 0)
            break;
        cap++;
        if (t.type == RTMPD_FLV_TAG_SCRIPT && is_metadata(t.data, t.length))
            extra_len += 16 + t.length;
        off += (size_t)r;
    }
    m->tags = calloc(cap ? cap : 1, sizeof *m->tags);
    m->extra = malloc(extra_len ? extra_len : 1);
    if (!m->tags || !m->extra) {
        bench_log("%s: out of memory", path);
        goto fail;
    }

    r = rtmpd_flv_parse_file_header(m->file, len, NULL, NULL);
    size_t xoff = 0;
    for (off = (size_t)r; off < len;) {
        struct rtmpd_flv_tag t;
        r = rtmpd_flv_parse_tag(m->file + off, len - off, &t);
        if (r == RTMPD_AGAIN) {
            bench_log("%s: truncated last tag ignored (%zu bytes)", path, len - off);
            break;
        }
        if (r < 0) {
            bench_log("%s: malformed tag at offset %zu; using the %zu tags before it", path, off,
                      m->ntags);
            break;
        }
        off += (size_t)r;
        if (t.length == 0)
            continue;

        struct media_tag *mt = &m->tags[m->ntags];
        mt->type = t.type;
        mt->data = t.data;
        mt->len = t.length;
        if (!have_first) {
            first_ts = t.timestamp;
            have_first = 1;
        }
        mt->ts = t.timestamp >= first_ts ? t.timestamp - first_ts : 0;
        if (mt->ts > last_ts)
            last_ts = mt->ts;

        if (t.type == RTMPD_FLV_TAG_SCRIPT) {
            mt->once = 1;
            m->data_tags++;
            if (is_metadata(t.data, t.length)) {
                /* ffmpeg sends "@setDataFrame", "onMetaData", {...}. */
                struct rtmpd_buf b = { 0 };
                rtmpd_amf0_put_cstr(&b, "@setDataFrame");
                if (b.failed)
                    goto nomem;
                memcpy(m->extra + xoff, b.data, b.len);
                memcpy(m->extra + xoff + b.len, t.data, t.length);
                mt->data = m->extra + xoff;
                mt->len = (uint32_t)(b.len + t.length);
                xoff += b.len + t.length;
                rtmpd_buf_release(&b);
            }
        } else {
            struct rtmpd_flv_media fm;
            int ok = rtmpd_flv_inspect(t.type, t.data, t.length, &fm) == RTMPD_OK;
            mt->once = ok && fm.seq_header;
            mt->key = ok && fm.keyframe && !fm.seq_header;
            if (!mt->once)
                m->loop_bytes += t.length;
            if (t.type == RTMPD_FLV_TAG_VIDEO) {
                if (!m->video_tags++)
                    vfirst = mt->ts;
                vlast = mt->ts;
            } else {
                if (!m->audio_tags++)
                    afirst = mt->ts;
                alast = mt->ts;
            }
        }
        mt->crc = crc_of(mt->data, mt->len);
        m->ntags++;
    }
    if (!m->video_tags && !m->audio_tags) {
        bench_log("%s: no audio or video tags", path);
        goto fail;
    }
    m->duration_ms = last_ts;
    if (m->video_tags > 1)
        m->frame_ms = (uint32_t)(((uint64_t)(vlast - vfirst) + (m->video_tags - 1) / 2) /
                                 (m->video_tags - 1));
    else if (m->audio_tags > 1)
        m->frame_ms = (uint32_t)(((uint64_t)(alast - afirst) + (m->audio_tags - 1) / 2) /
                                 (m->audio_tags - 1));
    if (m->frame_ms == 0)
        m->frame_ms = 1;
    m->period_ms = m->duration_ms + m->frame_ms;
    m->bitrate_bps = (double)m->loop_bytes * 8.0 * 1000.0 / (double)m->period_ms;
    return 0;

nomem:
    bench_log("%s: out of memory", path);
fail:
    media_free(m);
    return -1;
}

void media_free(struct media *m)
{
    free(m->file);
    free(m->extra);
    free(m->tags);
    memset(m, 0, sizeof *m);
}
