#include "rtmpd/stream.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rtmpd/chunk.h"
#include "rtmpd/conn.h"
#include "rtmpd/ladder.h"
#include "rtmpd/log.h"
#include "rtmpd/server.h"

struct rtmpd_registry {
    struct rtmpd_server *srv;
    struct rtmpd_stream **buckets;
    uint32_t nbuckets;   /* power of two */
    uint32_t count;
};

struct rtmpd_registry *rtmpd_registry_new(struct rtmpd_server *srv)
{
    struct rtmpd_registry *reg = calloc(1, sizeof *reg);
    if (!reg)
        return NULL;
    reg->srv = srv;
    reg->nbuckets = 256;
    reg->buckets = calloc(reg->nbuckets, sizeof *reg->buckets);
    if (!reg->buckets) {
        free(reg);
        return NULL;
    }
    return reg;
}

static void stream_free(struct rtmpd_stream *st)
{
    rtmpd_frame_unref(st->meta);
    rtmpd_frame_unref(st->aseq);
    rtmpd_frame_unref(st->vseq);
    rtmpd_gop_release(&st->gop);
    free(st);
}

static void keep_largest_gop(struct rtmpd_stream *st, void *ud)
{
    struct rtmpd_stream **big = ud;
    if (!*big || st->gop.bytes > (*big)->gop.bytes)
        *big = st;
}

/*
 * All GOP caches together stay within limits.max_gop_cache_bytes: past it,
 * the largest cache is emptied (it waits for its stream's next keyframe,
 * and players joining meanwhile wait for that keyframe too). Each cache is
 * bounded by its app's gop_cache limits; this bounds the sum, whatever the
 * number of streams publishers open.
 */
static void gop_budget(struct rtmpd_registry *reg)
{
    struct rtmpd_server *srv = reg->srv;
    uint64_t max = srv->cfg->limits.max_gop_cache_bytes;
    while (srv->stats.gop_cache_bytes > max) {
        struct rtmpd_stream *big = NULL;
        rtmpd_registry_foreach(reg, keep_largest_gop, &big);
        if (!big || !big->gop.bytes)
            return;
        uint64_t before = big->gop.bytes;
        uint32_t frames = big->gop.n;
        rtmpd_gop_clear(&big->gop);
        big->gop.overflow = 1;
        srv->stats.gop_cache_evictions++;
        log_warn(big->publisher_id,
                 "%s: GOP cache emptied (%llu bytes, %u frames): all GOP caches together passed "
                 "limits.max_gop_cache_bytes (%llu); it starts again at the next keyframe",
                 big->key, (unsigned long long)before, frames, (unsigned long long)max);
    }
}

void rtmpd_registry_free(struct rtmpd_registry *reg)
{
    if (!reg)
        return;
    for (uint32_t i = 0; i < reg->nbuckets; i++) {
        struct rtmpd_stream *st = reg->buckets[i], *next;
        for (; st; st = next) {
            next = st->hnext;
            stream_free(st);
        }
    }
    free(reg->buckets);
    free(reg);
}

uint32_t rtmpd_registry_count(const struct rtmpd_registry *reg)
{
    return reg->count;
}

void rtmpd_registry_foreach(struct rtmpd_registry *reg,
                            void (*fn)(struct rtmpd_stream *st, void *ud), void *ud)
{
    for (uint32_t i = 0; i < reg->nbuckets; i++)
        for (struct rtmpd_stream *st = reg->buckets[i]; st; st = st->hnext)
            fn(st, ud);
}

/* One sample a second into a ring; rates are taken over the whole ring. */
static void stream_tick(struct rtmpd_stream *st, void *ud)
{
    struct rtmpd_stream_stats *x = &st->stats;
    uint64_t now = *(const uint64_t *)ud;
    const uint32_t n = RTMPD_RATE_WINDOW + 1;
    x->hist_pos = (x->hist_pos + 1) % n;
    x->hist_in[x->hist_pos] = x->bytes_in;
    x->hist_out[x->hist_pos] = x->bytes_out;
    x->hist_vf[x->hist_pos] = x->video_frames_in;
    x->hist_us[x->hist_pos] = now;
    if (x->hist_n < n)
        x->hist_n++;
    uint32_t old = (x->hist_pos + n - (x->hist_n - 1)) % n;
    uint64_t dt = now - x->hist_us[old];
    if (x->hist_n < 2 || dt == 0)
        return;
    x->bitrate_in = (x->bytes_in - x->hist_in[old]) * 8 * 1000000 / dt;
    x->bitrate_out = (x->bytes_out - x->hist_out[old]) * 8 * 1000000 / dt;
    x->fps = (double)(x->video_frames_in - x->hist_vf[old]) * 1e6 / (double)dt;
}

void rtmpd_registry_tick(struct rtmpd_registry *reg, uint64_t now_us)
{
    rtmpd_registry_foreach(reg, stream_tick, &now_us);
}

const char *rtmpd_stream_name(const struct rtmpd_stream *st)
{
    return st->key + strlen(st->app->name) + 1;
}

/* FNV-1a over "app/name". */
static uint32_t key_hash(const char *app, size_t app_len, const char *name, size_t name_len)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < app_len; i++)
        h = (h ^ (uint8_t)app[i]) * 16777619u;
    h = (h ^ '/') * 16777619u;
    for (size_t i = 0; i < name_len; i++)
        h = (h ^ (uint8_t)name[i]) * 16777619u;
    return h;
}

static int key_equal(const struct rtmpd_stream *st, const char *app, size_t app_len,
                     const char *name, size_t name_len)
{
    return st->key_len == app_len + 1 + name_len && memcmp(st->key, app, app_len) == 0 &&
           st->key[app_len] == '/' && memcmp(st->key + app_len + 1, name, name_len) == 0;
}

static void registry_grow(struct rtmpd_registry *reg)
{
    uint32_t n = reg->nbuckets * 2;
    struct rtmpd_stream **b = calloc(n, sizeof *b);
    if (!b)
        return; /* keep the old table: slower, still correct */
    for (uint32_t i = 0; i < reg->nbuckets; i++) {
        struct rtmpd_stream *st = reg->buckets[i], *next;
        for (; st; st = next) {
            next = st->hnext;
            size_t app_len = strlen(st->app->name);
            uint32_t h = key_hash(st->key, app_len, st->key + app_len + 1,
                                  st->key_len - app_len - 1) & (n - 1);
            st->hnext = b[h];
            b[h] = st;
        }
    }
    free(reg->buckets);
    reg->buckets = b;
    reg->nbuckets = n;
}

struct rtmpd_stream *rtmpd_stream_get(struct rtmpd_registry *reg, const struct rtmpd_app_conf *app,
                                      const char *name, size_t name_len, int create)
{
    size_t app_len = strlen(app->name);
    uint32_t h = key_hash(app->name, app_len, name, name_len);
    struct rtmpd_stream *st;
    for (st = reg->buckets[h & (reg->nbuckets - 1)]; st; st = st->hnext)
        if (key_equal(st, app->name, app_len, name, name_len))
            return st;
    if (!create)
        return NULL;

    st = calloc(1, sizeof *st + app_len + 1 + name_len + 1);
    if (!st)
        return NULL;
    st->reg = reg;
    st->app = app;
    st->gop.total = &reg->srv->stats.gop_cache_bytes;
    rtmpd_list_init(&st->subs);
    rtmpd_list_init(&st->switchers);
    memcpy(st->key, app->name, app_len);
    st->key[app_len] = '/';
    memcpy(st->key + app_len + 1, name, name_len);
    st->key_len = (uint32_t)(app_len + 1 + name_len);
    st->key[st->key_len] = '\0';
    st->stats.created_us = rtmpd_server_now_us(reg->srv);

    if (reg->count >= reg->nbuckets)
        registry_grow(reg);
    uint32_t b = h & (reg->nbuckets - 1);
    st->hnext = reg->buckets[b];
    reg->buckets[b] = st;
    reg->count++;
    return st;
}

struct rtmpd_stream *rtmpd_registry_find(struct rtmpd_registry *reg, const char *app,
                                         size_t app_len, const char *name, size_t name_len)
{
    uint32_t h = key_hash(app, app_len, name, name_len);
    for (struct rtmpd_stream *st = reg->buckets[h & (reg->nbuckets - 1)]; st; st = st->hnext)
        if (key_equal(st, app, app_len, name, name_len))
            return st;
    return NULL;
}

/* Frees the stream when neither a publisher nor a subscriber is left. */
static void stream_maybe_free(struct rtmpd_stream *st)
{
    if (st->publisher || st->nsubs || !rtmpd_list_empty(&st->switchers))
        return;
    struct rtmpd_registry *reg = st->reg;
    size_t app_len = strlen(st->app->name);
    uint32_t h = key_hash(st->key, app_len, st->key + app_len + 1, st->key_len - app_len - 1);
    struct rtmpd_stream **pp = &reg->buckets[h & (reg->nbuckets - 1)];
    while (*pp && *pp != st)
        pp = &(*pp)->hnext;
    if (*pp)
        *pp = st->hnext;
    reg->count--;
    stream_free(st);
}

static uint64_t stream_now(const struct rtmpd_stream *st)
{
    return rtmpd_server_now_us(st->reg->srv);
}

static void switch_cancel(struct rtmpd_sub *sub);
static void switch_complete(struct rtmpd_sub *sub, struct rtmpd_stream *to, struct rtmpd_frame *f);

/*
 * Maps a stream timestamp to the subscriber's timeline, which starts at 0
 * with the first message it gets (as a recording of it would). The first
 * frame of a new publish continues from the last timestamp the subscriber
 * got, so a publisher restart never makes a player's clock jump backwards.
 * Stream timestamps are unwrapped (each one taken as the nearest to the one
 * before, modulo 2^32), so a publisher whose clock passes 2^32 ms (49.7
 * days) goes on without a break; the subscriber's own timeline wraps the
 * same way on the wire. A step back further than the subscriber's own
 * timeline reaches continues from its last timestamp instead of pinning
 * every later message at 0.
 */
static void sub_rebase_to(struct rtmpd_sub *sub, uint32_t ts, uint32_t out)
{
    sub->epoch = sub->st->epoch;
    sub->in_last = ts;
    sub->in_ext = ts;
    sub->ts_off = (int64_t)out - ts;
}

static void sub_rebase(struct rtmpd_sub *sub, uint32_t ts)
{
    sub_rebase_to(sub, ts, sub->have_ts ? sub->last_ts : 0);
}

static uint32_t sub_map_ts(struct rtmpd_sub *sub, uint32_t ts)
{
    if (!sub->have_ts || sub->epoch != sub->st->epoch)
        sub_rebase(sub, ts);
    sub->in_ext += (int32_t)(ts - sub->in_last);
    sub->in_last = ts;
    int64_t t = sub->in_ext + sub->ts_off;
    if (t < 0) { /* a publisher's clock that went back further than ours got */
        sub_rebase(sub, ts);
        t = sub->in_ext + sub->ts_off;
    }
    return (uint32_t)t;
}

static void sub_send(struct rtmpd_sub *sub, struct rtmpd_frame *f, uint32_t ts)
{
    struct rtmpd_out o;
    if (sub->kind == RTMPD_SUB_RTMP) {
        uint32_t csid = f->type == RTMPD_MSG_AUDIO   ? RTMPD_CSID_AUDIO
                        : f->type == RTMPD_MSG_VIDEO ? RTMPD_CSID_VIDEO
                                                     : RTMPD_CSID_DATA;
        rtmpd_out_rtmp(&o, f, csid, sub->stream_id, ts, sub->chunk_size);
    } else {
        rtmpd_out_flv(&o, f, ts);
    }
    if (rtmpd_conn_send_out(sub->conn, &o) == 0) {
        sub->frames_sent++;
        sub->st->stats.bytes_out += f->len;
        if (!sub->have_ts || (int32_t)(ts - sub->last_ts) > 0)
            sub->last_ts = ts;
        sub->have_ts = 1;
    }
}

/* Queued video a lagging player will not get: everything but sequence
 * headers (its video restarts at the next keyframe). */
static int queued_droppable(const struct rtmpd_out *o, void *arg)
{
    (void)arg;
    return o->frame && o->frame->type == RTMPD_MSG_VIDEO &&
           !(o->frame->flags & (RTMPD_FRAME_SEQ | RTMPD_FRAME_META));
}

static void sub_drop(struct rtmpd_sub *sub, uint64_t delay_us, int severe)
{
    sub->conn->congestion++;
    sub->frames_dropped++;
    sub->st->reg->srv->stats.frames_dropped++;
    if (!sub->dropping && severe) {
        sub->dropping = 1;
        sub->drop_episodes++;
        /* What is already queued is as late: drop its video too, so the
         * backlog drains at once instead of ageing towards the hard limit. */
        uint32_t n = rtmpd_conn_drop_queued(sub->conn, queued_droppable, NULL);
        sub->frames_dropped += n;
        sub->st->reg->srv->stats.frames_dropped += n;
        log_info(sub->conn->id, "%s: player behind by %llu ms: dropping video until it catches up "
                 "(%u queued frames dropped)", sub->st->key, (unsigned long long)(delay_us / 1000), n);
    }
}

/*
 * The per-subscriber policy for one live frame: skip what it does not
 * want, start video at a keyframe, drop by priority when its queue is late
 * (disposable frames first, then all video until the next keyframe; audio,
 * sequence headers and metadata always go), and cut it at the hard limits.
 */
static void sub_deliver(struct rtmpd_sub *sub, struct rtmpd_frame *f, uint64_t now)
{
    struct rtmpd_conn *c = sub->conn;
    const struct rtmpd_queue_conf *q = &sub->st->app->queue;
    int video = f->type == RTMPD_MSG_VIDEO, audio = f->type == RTMPD_MSG_AUDIO;
    int essential = (f->flags & (RTMPD_FRAME_SEQ | RTMPD_FRAME_META)) != 0;

    if (c->closing || c->flush_then_close || sub->paused)
        return;
    if ((video && sub->no_video) || (audio && sub->no_audio))
        return;

    uint64_t delay = rtmpd_conn_queue_delay_us(c, now);
    uint64_t queued = rtmpd_conn_queue_cost(c);
    if (queued + f->len > q->max_bytes || delay > (uint64_t)q->max_ms * 1000) {
        log_warn(c->id, "%s: player too slow (%llu bytes, %llu ms queued): disconnecting",
                 sub->st->key, (unsigned long long)queued, (unsigned long long)(delay / 1000));
        sub->st->reg->srv->stats.slow_disconnects++;
        rtmpd_conn_close(c, "slow consumer");
        return;
    }
    if (video && !essential) {
        uint64_t drop_us = (uint64_t)q->drop_ms * 1000;
        if (delay > drop_us || (delay > drop_us / 2 && (f->flags & RTMPD_FRAME_DISPOSABLE))) {
            if (delay > drop_us)
                sub->need_key = 1;
            sub_drop(sub, delay, delay > drop_us);
            return;
        }
        if (sub->need_key) {
            if (!(f->flags & RTMPD_FRAME_KEY)) {
                sub->frames_dropped += sub->have_ts; /* not counted before the first frame */
                return;
            }
            sub->need_key = 0;
            if (sub->dropping) {
                sub->dropping = 0;
                log_info(c->id, "%s: player caught up, video resumes at a keyframe "
                         "(%llu frames dropped so far)", sub->st->key,
                         (unsigned long long)sub->frames_dropped);
            }
        }
    }
    sub_send(sub, f, sub_map_ts(sub, f->timestamp));
}

int rtmpd_stream_publish(struct rtmpd_stream *st, void *owner, uint64_t conn_id)
{
    if (st->publisher)
        return -1;
    st->publisher = owner;
    st->publisher_id = conn_id;
    st->epoch++;
    st->stats.publish_us = stream_now(st);
    st->stats.drift_wall0_us = 0;
    st->stats.drift_ms = 0;
    st->stats.video_codec = st->stats.audio_codec = 0;
    st->stats.has_audio = st->stats.has_video = 0;
    st->stats.width = st->stats.height = 0;
    struct rtmpd_list *pos, *tmp;
    rtmpd_list_foreach_safe(pos, tmp, &st->subs) {
        struct rtmpd_sub *sub = rtmpd_container_of(pos, struct rtmpd_sub, link);
        sub->need_key = 1;
        if (sub->ops && sub->ops->notify)
            sub->ops->notify(sub, RTMPD_SUB_PUBLISH_START);
    }
    const char *name = rtmpd_stream_name(st);
    if (st->app->nladder && !rtmpd_ladder_output(st->app, name, strlen(name)))
        st->ladder = rtmpd_ladder_start(st->reg->srv, st->app, name, strlen(name));
    return 0;
}

void rtmpd_stream_unpublish(struct rtmpd_stream *st)
{
    if (!st->publisher)
        return;
    st->publisher = NULL;
    st->publisher_id = 0;
    st->stats.publish_us = 0;
    rtmpd_ladder_stop(st->ladder);
    st->ladder = NULL;
    rtmpd_frame_unref(st->meta);
    rtmpd_frame_unref(st->aseq);
    rtmpd_frame_unref(st->vseq);
    st->meta = st->aseq = st->vseq = NULL;
    rtmpd_gop_clear(&st->gop);
    struct rtmpd_list *pos, *tmp;
    rtmpd_list_foreach_safe(pos, tmp, &st->subs) {
        struct rtmpd_sub *sub = rtmpd_container_of(pos, struct rtmpd_sub, link);
        sub->need_key = 1;
        if (sub->ops && sub->ops->notify)
            sub->ops->notify(sub, RTMPD_SUB_UNPUBLISH);
    }
    stream_maybe_free(st);
}

/*
 * A live publisher's media clock advances with the wall clock; when its
 * network cannot carry its bit rate, media arrives later and later. The
 * baseline restarts when timestamps jump (a new encoder session, a loop).
 */
static void stream_track_drift(struct rtmpd_stream *st, const struct rtmpd_frame *f)
{
    struct rtmpd_stream_stats *x = &st->stats;
    uint64_t now = f->recv_us;
    if (f->flags & (RTMPD_FRAME_SEQ | RTMPD_FRAME_META))
        return;
    int64_t media = (int64_t)(int32_t)(f->timestamp - x->drift_ts0);
    if (!x->drift_wall0_us || media < -1000 || media > (int64_t)(now - x->drift_wall0_us) / 1000 + 60000) {
        x->drift_wall0_us = now;
        x->drift_ts0 = f->timestamp;
        x->drift_ms = 0;
        return;
    }
    int64_t drift = (int64_t)(now - x->drift_wall0_us) / 1000 - media;
    /* Never ahead: an encoder may send its first frames in a burst. */
    if (drift < 0) {
        x->drift_wall0_us = now - (uint64_t)media * 1000;
        drift = 0;
    }
    x->drift_ms = drift;
    if (drift > 2000 && now - x->drift_warned_us > 10000000) {
        x->drift_warned_us = now;
        log_warn(st->publisher_id, "%s: publisher is %lld ms behind real time (ingest %llu kb/s): "
                 "its network may not carry its bit rate", st->key, (long long)drift,
                 (unsigned long long)(x->bitrate_in / 1000));
    }
}

static void replace_frame(struct rtmpd_frame **slot, struct rtmpd_frame *f)
{
    rtmpd_frame_unref(*slot);
    *slot = rtmpd_frame_ref(f);
}

void rtmpd_stream_push(struct rtmpd_stream *st, struct rtmpd_frame *f)
{
    st->stats.bytes_in += f->len;
    st->stats.frames_in++;
    stream_track_drift(st, f);
    st->stats.video_frames_in += f->type == RTMPD_MSG_VIDEO && !(f->flags & RTMPD_FRAME_SEQ);
    st->stats.has_video |= f->type == RTMPD_MSG_VIDEO;
    st->stats.has_audio |= f->type == RTMPD_MSG_AUDIO && f->len;
    st->last_ts = f->timestamp;
    if (f->flags & RTMPD_FRAME_META)
        replace_frame(&st->meta, f);
    else if (f->flags & RTMPD_FRAME_SEQ)
        replace_frame(f->type == RTMPD_MSG_VIDEO ? &st->vseq : &st->aseq, f);
    uint64_t before = st->gop.bytes;
    rtmpd_gop_push(&st->gop, f, &st->app->gop);
    if (st->gop.bytes > before)
        gop_budget(st->reg);

    uint64_t now = stream_now(st);
    struct rtmpd_list *pos;
    if (!rtmpd_list_empty(&st->switchers) && f->type == RTMPD_MSG_VIDEO &&
        (f->flags & RTMPD_FRAME_KEY)) {
        struct rtmpd_list *tmp;
        rtmpd_list_foreach_safe(pos, tmp, &st->switchers) {
            switch_complete(rtmpd_container_of(pos, struct rtmpd_sub, switch_link), st, f);
        }
    }
    for (pos = st->subs.next; pos != &st->subs; pos = pos->next) {
        /* Players' state is cold: fetch the subscriber after next and the
         * next one's connection while this one is served. */
        struct rtmpd_list *n1 = pos->next;
        if (n1 != &st->subs) {
            __builtin_prefetch(n1->next);
            __builtin_prefetch(rtmpd_container_of(n1, struct rtmpd_sub, link)->conn);
        }
        sub_deliver(rtmpd_container_of(pos, struct rtmpd_sub, link), f, now);
    }
}

/* At least what the cached GOP counts for in a subscriber's queue: payload,
 * the largest RTMP or FLV framing it can get (a full chunk header, then a
 * 5-byte fmt 3 header with extended timestamp per further chunk; FLV's 15
 * bytes are less) and each entry's cost. */
static uint64_t gop_queue_bytes(const struct rtmpd_gop *g, uint32_t chunk_size)
{
    uint64_t n = 0;
    for (uint32_t i = 0; i < g->n; i++) {
        uint32_t len = g->frames[i]->len;
        n += (uint64_t)len + RTMPD_CHUNK_HEADER_MAX +
             (chunk_size ? (uint64_t)len / chunk_size * 5 : 0) + RTMPD_QUEUE_ENTRY_COST;
    }
    return n;
}

/* Sends what a player needs to start now: metadata, sequence headers and
 * the cached GOP. Metadata and sequence headers carry the GOP's first
 * timestamp (0 for a new player): FFmpeg takes an onMetaData stamped
 * otherwise for a subtitle stream. */
static void sub_start(struct rtmpd_sub *sub)
{
    struct rtmpd_stream *st = sub->st;
    uint64_t now = stream_now(st);
    const struct rtmpd_queue_conf *q = &st->app->queue;
    uint32_t gop_n = st->gop.n;
    if (gop_n) {
        /* A GOP larger than the player's queue would cut it as a slow
         * consumer before it read a byte: it waits for the next keyframe. */
        uint64_t need = gop_queue_bytes(&st->gop, sub->chunk_size);
        if (rtmpd_conn_queue_cost(sub->conn) + need > q->max_bytes) {
            log_info(sub->conn->id, "%s: cached GOP (%llu bytes) does not fit queue.max_bytes "
                     "(%llu): the player starts at the next keyframe", st->key,
                     (unsigned long long)need, (unsigned long long)q->max_bytes);
            gop_n = 0;
        }
    }
    uint32_t base = st->gop.n ? st->gop.frames[0]->timestamp : st->last_ts;
    sub_rebase(sub, base); /* also after a pause: continue, never go back */
    uint32_t ts = sub_map_ts(sub, base);

    sub->need_key = 1;
    /* A new player's first burst goes out at once, merge window or not. */
    sub->conn->urgent = 1;
    if (st->meta)
        sub_send(sub, st->meta, ts);
    if (st->vseq && !sub->no_video)
        sub_send(sub, st->vseq, ts);
    if (st->aseq && !sub->no_audio)
        sub_send(sub, st->aseq, ts);
    for (uint32_t i = 0; i < gop_n; i++)
        sub_deliver(sub, st->gop.frames[i], now);
    sub->conn->urgent = 0;
}

void rtmpd_stream_attach(struct rtmpd_stream *st, struct rtmpd_sub *sub)
{
    rtmpd_list_init(&sub->switch_link);
    sub->st = st;
    sub->epoch = st->epoch;
    sub->ts_off = 0;
    sub->in_ext = sub->in_last = 0;
    rtmpd_list_insert_tail(&st->subs, &sub->link);
    st->nsubs++;
    if (st->publisher)
        sub_start(sub);
    else
        sub->need_key = 1;
}

void rtmpd_sub_resync(struct rtmpd_sub *sub)
{
    if (sub->st && sub->st->publisher)
        sub_start(sub);
    else
        sub->need_key = 1;
}

void rtmpd_stream_detach(struct rtmpd_sub *sub)
{
    struct rtmpd_stream *st = sub->st;
    switch_cancel(sub);
    if (!st)
        return;
    rtmpd_list_remove(&sub->link);
    st->nsubs--;
    sub->st = NULL;
    stream_maybe_free(st);
}

/* ------------------------------------------------------------------ */
/* Rendition groups                                                     */

int rtmpd_ladder_output(const struct rtmpd_app_conf *app, const char *name, size_t len)
{
    for (uint32_t i = 0; i < app->nladder; i++) {
        size_t sl = strlen(app->ladder[i].suffix);
        if (len > sl + 1 && name[len - sl - 1] == '_' &&
            memcmp(name + len - sl, app->ladder[i].suffix, sl) == 0)
            return 1;
    }
    return 0;
}

int rtmpd_sub_group(struct rtmpd_sub *sub, const struct rtmpd_app_conf *app, const char *name,
                    size_t name_len)
{
    if (name_len >= sizeof sub->group)
        return 0;
    for (uint32_t i = 0; i < app->nabr; i++) {
        if (strlen(app->abr[i].name) == name_len && memcmp(app->abr[i].name, name, name_len) == 0) {
            sub->abr = &app->abr[i];
            memcpy(sub->group, name, name_len);
            sub->group[name_len] = '\0';
            return 1;
        }
    }
    if (app->nladder && !rtmpd_ladder_output(app, name, name_len)) {
        sub->abr = NULL;
        memcpy(sub->group, name, name_len);
        sub->group[name_len] = '\0';
        return 1;
    }
    return 0;
}

/* The group's renditions as registry streams (NULL where none exists),
 * in configuration order: the explicit list, or the source then each
 * ladder step. Returns how many names the group has. */
static uint32_t group_members(struct rtmpd_registry *reg, const struct rtmpd_sub *sub,
                              const struct rtmpd_app_conf *app, struct rtmpd_stream **out,
                              uint32_t max)
{
    size_t app_len = strlen(app->name);
    uint32_t n = 0;
    if (sub->abr) {
        for (uint32_t i = 0; i < sub->abr->renditions.n && n < max; i++) {
            const char *r = sub->abr->renditions.v[i];
            out[n++] = rtmpd_registry_find(reg, app->name, app_len, r, strlen(r));
        }
        return n;
    }
    out[n++] = rtmpd_registry_find(reg, app->name, app_len, sub->group, strlen(sub->group));
    for (uint32_t i = 0; i < app->nladder && n < max; i++) {
        char name[2 * RTMPD_CONFIG_NAME_MAX + 1];
        int len = snprintf(name, sizeof name, "%s_%s", sub->group, app->ladder[i].suffix);
        out[n++] = len > 0 ? rtmpd_registry_find(reg, app->name, app_len, name, (size_t)len) : NULL;
    }
    return n;
}

/* A rendition's rate for the policy: what its publisher sends. */
static uint64_t rendition_rate(const struct rtmpd_stream *st)
{
    return st && st->publisher ? st->stats.bitrate_in : 0;
}

/* The group's best rendition publishing now, or NULL. */
static struct rtmpd_stream *group_best(struct rtmpd_registry *reg, const struct rtmpd_sub *sub,
                                       const struct rtmpd_app_conf *app)
{
    struct rtmpd_stream *m[RTMPD_CONFIG_MAX_LIST + 1], *best = NULL;
    uint32_t n = group_members(reg, sub, app, m, RTMPD_CONFIG_MAX_LIST + 1);
    for (uint32_t i = 0; i < n; i++)
        if (m[i] && m[i]->publisher && (!best || rendition_rate(m[i]) > rendition_rate(best)))
            best = m[i];
    return best;
}

static struct rtmpd_stream *group_start(struct rtmpd_registry *reg, struct rtmpd_sub *sub,
                                        const struct rtmpd_app_conf *app)
{
    struct rtmpd_stream *best = group_best(reg, sub, app);
    if (best)
        return best;
    /* Nothing publishing yet: wait on the first (the best by configuration). */
    const char *first = sub->abr ? sub->abr->renditions.v[0] : sub->group;
    return rtmpd_stream_get(reg, app, first, strlen(first), 1);
}

static void switch_cancel(struct rtmpd_sub *sub)
{
    if (!sub->next)
        return;
    struct rtmpd_stream *next = sub->next;
    rtmpd_list_remove(&sub->switch_link);
    sub->next = NULL;
    stream_maybe_free(next);
}

/* Starts moving `sub` to `to` at its next keyframe. */
static void switch_begin(struct rtmpd_sub *sub, struct rtmpd_stream *to, const char *why,
                         uint64_t est, uint64_t now)
{
    switch_cancel(sub);
    sub->next = to;
    sub->next_since_us = now;
    rtmpd_list_insert_tail(&to->switchers, &sub->switch_link);
    log_info(sub->conn->id, "%s: switching %s from %s (%llu kb/s) to %s (%llu kb/s) at its next "
             "keyframe: estimate %llu kb/s", sub->group, why, rtmpd_stream_name(sub->st),
             (unsigned long long)(rendition_rate(sub->st) / 1000), rtmpd_stream_name(to),
             (unsigned long long)(rendition_rate(to) / 1000), (unsigned long long)(est / 1000));
}

/*
 * The keyframe `f` of `to` has arrived: the subscriber leaves its current
 * rendition and continues on `to` with the new rendition's metadata and
 * sequence headers first, its clock continuing where it was.
 */
static void switch_complete(struct rtmpd_sub *sub, struct rtmpd_stream *to, struct rtmpd_frame *f)
{
    struct rtmpd_stream *from = sub->st;
    rtmpd_list_remove(&sub->switch_link);
    sub->next = NULL;
    rtmpd_list_remove(&sub->link);
    from->nsubs--;
    sub->st = to;
    rtmpd_list_insert_tail(&to->subs, &sub->link);
    to->nsubs++;

    /* The keyframe lands one millisecond after the last thing sent. */
    sub_rebase_to(sub, f->timestamp, sub->last_ts + (sub->have_ts ? 1 : 0));
    uint32_t ts = sub_map_ts(sub, f->timestamp);
    if (to->meta)
        sub_send(sub, to->meta, ts);
    if (to->vseq && !sub->no_video)
        sub_send(sub, to->vseq, ts);
    if (to->aseq && !sub->no_audio)
        sub_send(sub, to->aseq, ts);
    sub->need_key = 1; /* satisfied by f, delivered next */
    sub->switches++;
    sub->last_switch_us = stream_now(to);
    sub->short_since_us = sub->room_since_us = 0;
    log_info(sub->conn->id, "%s: switched from %s to %s", sub->group, rtmpd_stream_name(from),
             rtmpd_stream_name(to));
    stream_maybe_free(from);
}

void rtmpd_sub_adapt(struct rtmpd_sub *sub, uint64_t now)
{
    struct rtmpd_stream *cur = sub->st;
    if (!sub->group[0] || !cur || sub->paused)
        return;
    if (!cur->publisher) {
        /* The rendition it was on stopped: move to the best one left. */
        if (!sub->next) {
            struct rtmpd_stream *best = group_best(cur->reg, sub, cur->app);
            if (best && best != cur)
                switch_begin(sub, best, "over", 0, now);
        }
        return;
    }
    if (sub->next) {
        /* A target that never sends a keyframe is given up on. */
        if (now - sub->next_since_us > 10000000u || !sub->next->publisher)
            switch_cancel(sub);
        return;
    }
    const struct rtmpd_app_conf *app = cur->app;
    const struct rtmpd_adapt_conf *a = &app->adapt;
    struct rtmpd_stream *m[RTMPD_CONFIG_MAX_LIST + 1];
    uint32_t n = group_members(cur->reg, sub, app, m, RTMPD_CONFIG_MAX_LIST + 1);
    const struct rtmpd_bw *bw = &sub->conn->bw;
    uint64_t est = rtmpd_bw_estimate(bw, now);
    uint64_t cur_rate = rendition_rate(cur);
    uint64_t pct = 100 + a->headroom_pct;
    if (!cur_rate)
        return; /* rates are not known yet */
    log_debug(sub->conn->id, "%s: on %s (%llu kb/s), estimate %llu kb/s%s, queue %llu ms",
              sub->group, rtmpd_stream_name(cur), (unsigned long long)(cur_rate / 1000),
              (unsigned long long)(est / 1000), rtmpd_bw_measured(bw, now) ? " measured" : "",
              (unsigned long long)(rtmpd_conn_queue_delay_us(sub->conn, now) / 1000));

    /* Down: the path, measured while full, does not carry this rendition;
     * at once when the player is already dropping frames. */
    if (rtmpd_bw_measured(bw, now) && est * 100 < cur_rate * pct) {
        int congested = sub->dropping || rtmpd_conn_queue_delay_us(sub->conn, now) >
                                             (uint64_t)app->queue.drop_ms * 1000;
        if (!sub->short_since_us)
            sub->short_since_us = now;
        if (congested || now - sub->short_since_us >= (uint64_t)a->down_ms * 1000) {
            struct rtmpd_stream *best = NULL, *lowest = NULL;
            for (uint32_t i = 0; i < n; i++) {
                uint64_t r = rendition_rate(m[i]);
                if (!r || m[i] == cur)
                    continue;
                if (!lowest || r < rendition_rate(lowest))
                    lowest = m[i];
                if (r < cur_rate && est * 100 >= r * pct && (!best || r > rendition_rate(best)))
                    best = m[i];
            }
            if (!best && lowest && rendition_rate(lowest) < cur_rate)
                best = lowest;
            if (best)
                switch_begin(sub, best, "down", est, now);
        }
        sub->room_since_us = 0;
        return;
    }
    sub->short_since_us = 0;

    /* Up: several bursts in a row were delivered fast enough for the next
     * rendition up, for a while, and the last move is long enough ago. */
    struct rtmpd_stream *up = NULL;
    for (uint32_t i = 0; i < n; i++) {
        uint64_t r = rendition_rate(m[i]);
        if (r > cur_rate && (!up || r < rendition_rate(up)))
            up = m[i];
    }
    uint64_t floor = rtmpd_bw_burst_floor(bw, now, (uint64_t)a->up_ms * 1000 + 5000000);
    if (up && !rtmpd_bw_measured(bw, now) && floor * 100 >= rendition_rate(up) * pct) {
        if (!sub->room_since_us)
            sub->room_since_us = now;
        if (now - sub->room_since_us >= (uint64_t)a->up_ms * 1000 &&
            (!sub->last_switch_us || now - sub->last_switch_us >= (uint64_t)a->hold_ms * 1000))
            switch_begin(sub, up, "up", floor, now);
    } else {
        sub->room_since_us = 0;
    }
}

struct rtmpd_stream *rtmpd_stream_for_player(struct rtmpd_registry *reg,
                                             const struct rtmpd_app_conf *app, const char *name,
                                             size_t name_len, struct rtmpd_sub *sub)
{
    if (rtmpd_sub_group(sub, app, name, name_len))
        return group_start(reg, sub, app);
    sub->group[0] = '\0';
    return rtmpd_stream_get(reg, app, name, name_len, 1);
}

void rtmpd_stream_release(struct rtmpd_stream *st)
{
    stream_maybe_free(st);
}
