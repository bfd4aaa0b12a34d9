/*
 * rtmpbench — publishers: connect like ffmpeg (releaseStream, FCPublish,
 * createStream, publish "live"), then send the media file's tags at
 * real-time pace by their timestamps, looping forever with continuous
 * timestamps. Every audio/video message sent is recorded in a bounded ring
 * (type, timestamp, length, crc32, the time its last byte was written):
 * players of the same process check their sequence and latency against it.
 */
#include <stdlib.h>
#include <string.h>

#include "rtmpd/amf.h"
#include "rtmpd/chunk.h"

#include "bench.h"

/* Stop reading the file while this much is queued for the socket... */
#define PUB_BLOCK_BYTES (4u << 20)
/* ...and resume once it is down to this. */
#define PUB_RESUME_BYTES (1u << 20)
/* Send a tag when it is due within this (timer granularity is 1 ms). */
#define PUB_EARLY_NS 1000000

static void pub_pace(struct publisher *p);

static void pub_log_close(struct publisher *p, const char *what)
{
    bench_err(p->b, "publisher %u (%s): %s", p->idx, p->name, what);
}

static void pub_on_connected(struct bconn *c)
{
    struct publisher *p = c->owner;
    struct rtmpd_buf *s;

    if (conn_send_set_chunk_size(c, p->b->o.chunk_size) < 0)
        return;
    s = conn_cmd_begin(c, "releaseStream", NULL);
    rtmpd_amf0_put_cstr(s, p->name);
    if (conn_cmd_send(c, CSID_COMMAND, 0) < 0)
        return;
    s = conn_cmd_begin(c, "FCPublish", NULL);
    rtmpd_amf0_put_cstr(s, p->name);
    conn_cmd_send(c, CSID_COMMAND, 0);
}

static void pub_on_stream(struct bconn *c)
{
    struct publisher *p = c->owner;
    struct rtmpd_buf *s = conn_cmd_begin(c, "publish", NULL);

    rtmpd_amf0_put_cstr(s, p->name);
    rtmpd_amf0_put_cstr(s, "live");
    conn_cmd_send(c, CSID_STREAM, c->stream_id);
}

static void pub_on_status(struct bconn *c, const char *level, const char *code, const char *desc)
{
    struct publisher *p = c->owner;
    struct bench *b = p->b;

    if (strcmp(code, "NetStream.Publish.Start") == 0 && !p->publishing) {
        p->publishing = 1;
        conn_set_active(c);
        p->t0 = bench_now_ns();
        p->next = 0;
        p->loop = 0;
        b->pubs_publishing++;
        b->pubs_started++;
        if (b->pubs_publishing + b->pubs_failed == b->npubs)
            bench_publishers_ready(b);
        pub_pace(p);
    } else if (strcmp(level, "error") == 0) {
        char why[160];
        snprintf(why, sizeof why, "%s: %s", code, desc);
        conn_close(c, 1, why);
    }
}

static void pub_on_media(struct bconn *c, const struct rtmpd_msg *m, int64_t now)
{
    (void)c;
    (void)m;
    (void)now;
}

static void pub_on_written(struct bconn *c, uint64_t total, int64_t now)
{
    struct publisher *p = c->owner;

    while (p->unsent < p->head) {
        struct sent_rec *r = &p->ring[p->unsent & (RING_SIZE - 1)];
        if (r->end > total)
            break;
        r->sent_ns = now;
        p->unsent++;
    }
    if (p->blocked && conn_pending(c) <= PUB_RESUME_BYTES && p->head - p->unsent < RING_SIZE / 4) {
        p->blocked = 0;
        pub_pace(p);
    }
}

static void pub_on_close(struct bconn *c, int failed, const char *reason)
{
    struct publisher *p = c->owner;
    struct bench *b = p->b;

    ev_timer_stop(b->loop, &p->pace);
    p->c = NULL;
    p->wire_bytes = c->in_bytes;
    if (!p->publishing) {
        p->failed = 1;
        str_copy(p->reason, sizeof p->reason, reason);
        pub_log_close(p, reason);
        b->pubs_failed++;
        if (b->pubs_publishing + b->pubs_failed == b->npubs)
            bench_publishers_ready(b);
        return;
    }
    p->publishing = 0;
    (void)failed;
    if (!b->stopping) {
        p->closed = 1;
        str_copy(p->reason, sizeof p->reason, reason);
        pub_log_close(p, reason);
    }
}

static const struct conn_ops pub_ops = {
    .on_connected = pub_on_connected,
    .on_stream = pub_on_stream,
    .on_status = pub_on_status,
    .on_media = pub_on_media,
    .on_written = pub_on_written,
    .on_close = pub_on_close,
};

/* Sends one tag: queue, record, write. Returns 0 or -1 (connection gone). */
static int pub_send_tag(struct publisher *p, const struct media_tag *t, uint32_t ts)
{
    struct bconn *c = p->c;
    uint32_t csid = t->type == 8 ? CSID_AUDIO : t->type == 9 ? CSID_VIDEO : CSID_STREAM;

    if (conn_queue(c, csid, t->type, c->stream_id, ts, t->data, t->len) < 0)
        return -1;
    if (t->type == 8 || t->type == 9) {
        struct sent_rec *r = &p->ring[p->head & (RING_SIZE - 1)];
        r->data = t->data;
        r->end = c->out_queued;
        r->sent_ns = 0;
        r->ts = ts;
        r->len = t->len;
        r->crc = t->crc;
        r->type = t->type;
        r->key = t->key;
        p->head++;
        if (p->head - p->unsent > RING_SIZE)   /* cannot happen: we block first */
            p->unsent = p->head - RING_SIZE;
        p->frames++;
        if (t->once)
            p->seq_header[t->type == 9] = t;
    }
    p->bytes += t->len;
    return conn_flush(c);
}

static void pub_pace_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    pub_pace(w->data);
}

/* Sends every tag that is due, then sleeps until the next one. */
static void pub_pace(struct publisher *p)
{
    struct bench *b = p->b;
    const struct media *m = &b->media;
    int64_t now = bench_now_ns();

    ev_timer_stop(b->loop, &p->pace);
    while (p->c && p->publishing && !b->stopping) {
        const struct media_tag *t = &m->tags[p->next];
        if (t->once && p->loop > 0) {
            if (++p->next == m->ntags) {
                p->next = 0;
                p->loop++;
            }
            continue;
        }
        uint64_t ts64 = (uint64_t)t->ts + p->loop * m->period_ms;
        int64_t due = p->t0 + (int64_t)ts64 * 1000000;
        ts64 += b->o.ts_offset;   /* timestamps wrap at 2^32 ms like RTMP's */
        if (due > now + PUB_EARLY_NS) {
            ev_timer_set(&p->pace, (double)(due - now) / 1e9, 0.);
            ev_timer_start(b->loop, &p->pace);
            return;
        }
        if (conn_pending(p->c) > PUB_BLOCK_BYTES || p->head - p->unsent >= RING_SIZE / 2) {
            p->blocked = 1;   /* resumed from pub_on_written */
            return;
        }
        if (pub_send_tag(p, t, (uint32_t)ts64) < 0)
            return;
        if (++p->next == m->ntags) {
            p->next = 0;
            p->loop++;
        }
        now = bench_now_ns();
    }
}

int publishers_start(struct bench *b)
{
    char err[256];

    b->npubs = b->o.streams;
    b->pubs = calloc(b->npubs, sizeof *b->pubs);
    if (!b->pubs)
        return -1;
    for (uint32_t i = 0; i < b->npubs; i++) {
        struct publisher *p = &b->pubs[i];
        p->b = b;
        p->idx = i;
        str_copy(p->name, sizeof p->name, b->pub_names[i]);
        p->ring = calloc(RING_SIZE, sizeof *p->ring);
        if (!p->ring)
            return -1;
        ev_timer_init(&p->pace, pub_pace_cb, 0., 0.);
        p->pace.data = p;
        p->c = conn_start(b, &pub_ops, p, ROLE_PUBLISHER, &b->pub_url, p->name, err, sizeof err);
        if (!p->c) {
            p->failed = 1;
            str_copy(p->reason, sizeof p->reason, err);
            pub_log_close(p, err);
            b->pubs_failed++;
        }
    }
    if (b->pubs_failed == b->npubs)
        bench_publishers_ready(b);
    return 0;
}

void publishers_stop(struct bench *b)
{
    for (uint32_t i = 0; i < b->npubs; i++) {
        struct publisher *p = &b->pubs[i];
        struct bconn *c = p->c;
        ev_timer_stop(b->loop, &p->pace);
        if (!c)
            continue;
        if (p->publishing) {
            struct rtmpd_buf *s = conn_cmd_begin(c, "FCUnpublish", NULL);
            rtmpd_amf0_put_cstr(s, p->name);
            if (conn_cmd_send(c, CSID_COMMAND, 0) == 0) {
                s = conn_cmd_begin(c, "deleteStream", NULL);
                rtmpd_amf0_put_number(s, c->stream_id);
                conn_cmd_send(c, CSID_COMMAND, 0);
            }
        }
        if (p->c)
            conn_close(p->c, 0, "end of run");
    }
}
