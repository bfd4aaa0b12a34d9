/*
 * rtmpbench — players: connect like ffmpeg (createStream, play(name, -2, -1,
 * true), SetBufferLength 3000 ms), count what arrives, measure time to first
 * keyframe and stalls, and, when the stream's publisher runs in this
 * process, check the exact sequence of frames and the latency of each.
 *
 * Hot path (on_media): no allocation; the payload belongs to the chunk
 * decoder, is compared with the bytes the publisher sent (crc32 only to
 * locate it in the ring after a mismatch) and dropped.
 */
#include <stdlib.h>
#include <string.h>

#include <zlib.h>

#include "rtmpd/amf.h"
#include "rtmpd/flv.h"

#include "bench.h"

#define STALL_NS 1000000000LL

struct player_priv {
    struct player pl;
    int ending;          /* we are closing it: end of run or churn */
};

static void player_launch(struct bench *b, uint32_t slot);

/* --- slot queue and rate limit ----------------------------------------- */

static void queue_push(struct bench *b, uint32_t slot)
{
    if (b->q_len == b->o.n)
        return;
    b->queue[(b->q_head + b->q_len) % b->o.n] = slot;
    b->q_len++;
    if (!ev_is_active(&b->rate_timer)) {
        b->tokens_at = bench_now_ns();
        ev_timer_again(b->loop, &b->rate_timer);
    }
}

void players_enqueue_all(struct bench *b)
{
    b->tokens = 1.0;
    for (uint32_t i = 0; i < b->o.n; i++)
        queue_push(b, i);
    players_launch_pending(b);
}

void players_launch_pending(struct bench *b)
{
    int64_t now = bench_now_ns();
    /* One tick's worth plus one: timer jitter must not lose tokens. */
    double cap = b->o.rate * b->rate_timer.repeat + 1.0;

    b->tokens += (double)(now - b->tokens_at) * b->o.rate / 1e9;
    b->tokens_at = now;
    if (b->tokens > cap)
        b->tokens = cap;
    while (b->q_len && b->tokens >= 1.0 && !b->stopping) {
        uint32_t slot = b->queue[b->q_head];
        b->q_head = (b->q_head + 1) % b->o.n;
        b->q_len--;
        b->tokens -= 1.0;
        player_launch(b, slot);
    }
    if (!b->q_len)
        ev_timer_stop(b->loop, &b->rate_timer);
}

/* --- connection events --------------------------------------------------- */

static void player_mark_playing(struct player *pl)
{
    struct bench *b = pl->b;

    if (pl->st->status != PS_CONNECTING)
        return;
    pl->st->status = PS_PLAYING;
    conn_set_active(pl->c);
    b->connected++;
    b->playing++;
}

static void player_on_stream(struct bconn *c)
{
    struct rtmpd_buf *s = conn_cmd_begin(c, "play", NULL);

    rtmpd_amf0_put_cstr(s, c->name);
    rtmpd_amf0_put_number(s, -2);
    rtmpd_amf0_put_number(s, -1);
    rtmpd_amf0_put_bool(s, 1);
    if (conn_cmd_send(c, CSID_STREAM, c->stream_id) < 0)
        return;
    conn_send_user_control(c, 3, c->stream_id, 1, 3000);   /* SetBufferLength */
}

static void player_on_connected(struct bconn *c)
{
    (void)c;
}

static void player_on_status(struct bconn *c, const char *level, const char *code, const char *desc)
{
    struct player *pl = c->owner;

    if (strcmp(level, "error") == 0) {
        char why[160];
        snprintf(why, sizeof why, "%s: %s", code, desc);
        if (pl->st->status == PS_PLAYING)
            pl->b->playing--;
        pl->st->status = PS_FAILED;
        str_copy(pl->st->reason, sizeof pl->st->reason, why);
        pl->b->failed++;
        bench_err(pl->b, "player %u (%s): %s", pl->st->id, c->name, why);
        conn_close(c, 1, why);
        return;
    }
    if (strcmp(code, "NetStream.Play.Start") == 0 || strcmp(code, "NetStream.Play.Reset") == 0)
        player_mark_playing(pl);
}

static void player_on_read(struct bconn *c, size_t n)
{
    struct player *pl = c->owner;

    pl->st->wire_bytes += n;
    pl->b->wire_bytes += n;
}

static void dump_msg(FILE *f, const struct rtmpd_msg *m)
{
    uint8_t h[RTMPD_FLV_TAG_HEADER_LEN], t[RTMPD_FLV_TAG_TRAILER_LEN];

    rtmpd_flv_write_tag_header(h, m->type, m->timestamp, m->length);
    rtmpd_flv_write_tag_trailer(t, m->length);
    fwrite(h, 1, sizeof h, f);
    if (m->length)
        fwrite(m->payload, 1, m->length, f);
    fwrite(t, 1, sizeof t, f);
}

/* --- sequence check and latency ----------------------------------------- */

static void seq_ok(struct player *pl, const struct sent_rec *r, int64_t now)
{
    struct bench *b = pl->b;
    struct player_stats *st = pl->st;

    st->checked++;
    b->checked++;
    if (r->sent_ns <= 0 || now < r->sent_ns)
        return;
    if (b->warmup_ns && now - st->first_media_ns < b->warmup_ns)
        return;
    int64_t rx = pl->c->rx_ns < r->sent_ns ? r->sent_ns : pl->c->rx_ns;
    int64_t lat = rx - r->sent_ns;
    hist_add(&b->lat, (uint64_t)(lat / 1000));
    hist_add(&b->lat_iv, (uint64_t)(lat / 1000));
    hist_add(&b->lat_read, (uint64_t)((now - r->sent_ns) / 1000));
    st->lat_count++;
    if (lat > st->lat_max_ns)
        st->lat_max_ns = lat;
}

static void seq_error(struct player *pl, uint64_t n, const char *what, const struct rtmpd_msg *m)
{
    struct player_stats *st = pl->st;

    if (!st->seq_errors)
        bench_err(pl->b, "player %u (%s): sequence error: %s (received type %u ts %u len %u)",
                  st->id, pl->c->name, what, m->type, m->timestamp, m->length);
    st->seq_errors += n;
    pl->b->seq_errors += n;
}

static uint32_t payload_crc(const struct rtmpd_msg *m)
{
    return (uint32_t)crc32(crc32(0L, Z_NULL, 0), m->payload, m->length);
}

/*
 * Newest record matching (type, ts, len, crc); with `any_ts` a keyframe of
 * that length and crc at any timestamp. Returns its sequence number + 1, or 0.
 */
static uint64_t ring_find(const struct publisher *p, uint8_t type, uint32_t ts, uint32_t len,
                          uint32_t crc, int any_ts)
{
    uint64_t lo = p->head > RING_SIZE ? p->head - RING_SIZE : 0;

    for (uint64_t s = p->head; s-- > lo;) {
        const struct sent_rec *r = &p->ring[s & (RING_SIZE - 1)];
        if (r->type == type && r->len == len && r->crc == crc &&
            (any_ts ? r->key : r->ts == ts))
            return s + 1;
    }
    return 0;
}

/* Same bytes as the publisher's current sequence header of this type? */
static int same_seq_header(const struct publisher *p, const struct rtmpd_msg *m)
{
    const struct media_tag *t = p->seq_header[m->type == RTMPD_MSG_VIDEO];

    return t && t->len == m->length && (!m->length || memcmp(t->data, m->payload, m->length) == 0);
}

/*
 * From the first keyframe on, the player must receive exactly the
 * publisher's messages in order. Fast path: the next record matches type,
 * timestamp, length and bytes (compared with the bytes sent, which is
 * stronger and cheaper than hashing). Otherwise the received message is
 * looked up in the ring by crc32 to tell a gap from a duplicate or a
 * corruption. A sequence header repeated by the server (to a player whose
 * audio starts after its first keyframe, as nginx-rtmp does) is not an error
 * when its bytes are the publisher's.
 */
static void seq_check(struct player *pl, const struct rtmpd_msg *m, int64_t now, int keyframe,
                      int seq_header)
{
    const struct publisher *p = pl->pub;
    uint64_t s;

    if (!pl->aligned) {
        if (!keyframe)
            return;
        uint32_t crc = payload_crc(m);
        s = ring_find(p, m->type, m->timestamp, m->length, crc, 0);
        pl->ts_off = 0;
        if (!s) {
            /* the server may rebase timestamps: find the keyframe by content */
            s = ring_find(p, m->type, 0, m->length, crc, 1);
            if (s)
                pl->ts_off = p->ring[(s - 1) & (RING_SIZE - 1)].ts - m->timestamp;
        }
        if (!s) {
            seq_error(pl, 1, "first keyframe is not one the publisher sent", m);
            return;
        }
        pl->aligned = 1;
        pl->cursor = s;
        seq_ok(pl, &p->ring[(s - 1) & (RING_SIZE - 1)], now);
        return;
    }

    uint32_t ts = m->timestamp + pl->ts_off;
    const struct sent_rec *r = pub_rec(p, pl->cursor);
    if (r && r->type == m->type && r->ts == ts && r->len == m->length &&
        (!m->length || memcmp(r->data, m->payload, m->length) == 0)) {
        pl->cursor++;
        seq_ok(pl, r, now);
        return;
    }
    if (seq_header) {
        if (!same_seq_header(p, m))
            seq_error(pl, 1, "sequence header differs from the publisher's", m);
        return;
    }
    s = ring_find(p, m->type, ts, m->length, payload_crc(m), 0);
    if (s && s - 1 > pl->cursor) {
        seq_error(pl, s - 1 - pl->cursor, "frames missing", m);
        pl->cursor = s;
        seq_ok(pl, &p->ring[(s - 1) & (RING_SIZE - 1)], now);
    } else if (s) {
        seq_error(pl, 1, "frame duplicated or out of order", m);
    } else if (r && r->type == m->type && r->ts == ts) {
        seq_error(pl, 1, "frame corrupted", m);
        pl->cursor++;
    } else {
        seq_error(pl, 1, "frame the publisher did not send", m);
    }
}

static void player_on_media(struct bconn *c, const struct rtmpd_msg *m, int64_t now)
{
    struct player *pl = c->owner;
    struct player_stats *st = pl->st;
    struct bench *b = pl->b;

    if (st->status == PS_CONNECTING)
        player_mark_playing(pl);
    st->bytes += m->length;
    b->bytes += m->length;
    if (pl->dump && (m->type == 8 || m->type == 9 || m->type == 18))
        dump_msg(pl->dump, m);
    if (m->type != RTMPD_MSG_AUDIO && m->type != RTMPD_MSG_VIDEO) {
        st->data_frames++;
        b->data_frames++;
        return;
    }
    st->frames++;
    b->frames++;
    if (m->type == RTMPD_MSG_VIDEO) {
        st->video_frames++;
        b->video_frames++;
    } else {
        st->audio_frames++;
        b->audio_frames++;
    }
    if (!st->first_media_ns)
        st->first_media_ns = now;
    if (st->got_keyframe && now - st->last_media_ns > STALL_NS) {
        st->stalls++;
        st->stall_ns += now - st->last_media_ns;
        b->stalls++;
    }
    st->last_media_ns = now;

    /* Header inspection: only while waiting for the first keyframe, or
     * when checking the sequence (a few bytes read, no allocation). */
    int check = pl->pub && pl->pub->head;
    int keyframe = 0, seq_header = 0;
    if (check || (!st->got_keyframe && m->type == RTMPD_MSG_VIDEO)) {
        struct rtmpd_flv_media fm;
        if (rtmpd_flv_inspect(m->type, m->payload, m->length, &fm) == 0) {
            keyframe = fm.keyframe && !fm.seq_header;
            seq_header = fm.seq_header;
        }
    }
    if (!st->got_keyframe && keyframe) {
        st->got_keyframe = 1;
        st->ttff_ns = now - st->start_ns;
        hist_add(&b->ttff, (uint64_t)(st->ttff_ns / 1000));
    }
    if (check && st->got_keyframe)
        seq_check(pl, m, now, keyframe, seq_header);
}

static void player_on_close(struct bconn *c, int failed, const char *reason)
{
    struct player_priv *pp = c->owner;
    struct player *pl = &pp->pl;
    struct player_stats *st = pl->st;
    struct bench *b = pl->b;
    int64_t now = bench_now_ns();

    (void)failed;
    st->end_ns = now;
    ev_timer_stop(b->loop, &pl->churn);
    switch (st->status) {
    case PS_PLAYING:
        b->playing--;
        if (st->got_keyframe && now - st->last_media_ns > STALL_NS) {
            /* a gap still open at the end counts too */
            st->stalls++;
            st->stall_ns += now - st->last_media_ns;
            b->stalls++;
        }
        if (pp->ending) {
            st->status = PS_OK;
        } else {
            st->status = PS_CLOSED;
            str_copy(st->reason, sizeof st->reason, reason);
            b->closed++;
            bench_err(b, "player %u (%s): closed: %s", st->id, c->name, reason);
        }
        break;
    case PS_CONNECTING:
        if (pp->ending) {
            st->status = PS_CANCELLED;
            str_copy(st->reason, sizeof st->reason, "end of run while connecting");
            b->cancelled++;
            break;
        }
        st->status = PS_FAILED;
        str_copy(st->reason, sizeof st->reason, reason);
        b->failed++;
        bench_err(b, "player %u (%s): failed: %s", st->id, c->name, reason);
        break;
    default:
        break;
    }
    b->active--;
    if (b->slot_player[st->slot] == pl)
        b->slot_player[st->slot] = NULL;
    if (pl->dump)
        fflush(pl->dump);
    uint32_t slot = st->slot;
    free(pp);
    if (b->o.churn > 0 && !b->stopping)
        queue_push(b, slot);
}

static const struct conn_ops player_ops = {
    .on_connected = player_on_connected,
    .on_stream = player_on_stream,
    .on_status = player_on_status,
    .on_media = player_on_media,
    .on_read = player_on_read,
    .on_close = player_on_close,
};

static void player_churn_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct player_priv *pp = w->data;

    (void)loop;
    (void)revents;
    pp->ending = 1;
    conn_close(pp->pl.c, 0, "churn");
}

static struct player_stats *session_new(struct bench *b)
{
    if (b->nsess == b->cap_sess) {
        uint32_t cap = b->cap_sess ? b->cap_sess * 2 : 1024;
        struct player_stats **s = realloc(b->sess, cap * sizeof *s);
        if (!s)
            return NULL;
        b->sess = s;
        b->cap_sess = cap;
    }
    struct player_stats *st = calloc(1, sizeof *st);
    if (!st)
        return NULL;
    st->id = b->nsess;
    b->sess[b->nsess++] = st;
    return st;
}

static void player_launch(struct bench *b, uint32_t slot)
{
    char err[256];
    struct player_stats *st = session_new(b);
    struct player_priv *pp;

    if (!st) {
        bench_err(b, "out of memory for player sessions");
        return;
    }
    st->slot = slot;
    st->stream = slot % b->o.streams;
    st->ttff_ns = -1;
    st->start_ns = bench_now_ns();
    st->status = PS_CONNECTING;
    pp = calloc(1, sizeof *pp);
    if (!pp) {
        st->status = PS_FAILED;
        snprintf(st->reason, sizeof st->reason, "out of memory");
        b->failed++;
        return;
    }
    struct player *pl = &pp->pl;
    pl->b = b;
    pl->st = st;
    pl->pub = b->pub_matches && st->stream < b->npubs ? &b->pubs[st->stream] : NULL;
    if (st->id == 0)
        pl->dump = b->dump;
    pl->c = conn_start(b, &player_ops, pp, ROLE_PLAYER, &b->play_url, b->play_names[st->stream],
                       err, sizeof err);
    if (!pl->c) {
        st->status = PS_FAILED;
        st->end_ns = st->start_ns;
        str_copy(st->reason, sizeof st->reason, err);
        b->failed++;
        bench_err(b, "player %u: %s", st->id, err);
        free(pp);
        if (b->o.churn > 0)
            queue_push(b, slot);
        return;
    }
    b->active++;
    b->slot_player[slot] = pl;
    ev_timer_init(&pl->churn, player_churn_cb, 0., 0.);
    pl->churn.data = pp;
    if (b->o.churn > 0) {
        double t = b->o.churn * (0.5 + (double)random() / ((double)RAND_MAX + 1.0));
        ev_timer_set(&pl->churn, t, 0.);
        ev_timer_start(b->loop, &pl->churn);
    }
}

void players_stop(struct bench *b)
{
    b->q_len = 0;
    ev_timer_stop(b->loop, &b->rate_timer);
    for (uint32_t i = 0; i < b->o.n && b->slot_player; i++) {
        struct player *pl = b->slot_player[i];
        if (!pl)
            continue;
        ((struct player_priv *)(void *)pl)->ending = 1;
        conn_close(pl->c, 0, "end of run");
    }
}
