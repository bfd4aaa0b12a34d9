#include "rtmpd/stats.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "rtmpd/conn.h"
#include "rtmpd/flv.h"
#include "rtmpd/server.h"
#include "rtmpd/stream.h"

/* ------------------------------------------------------------------ */
/* Helpers                                                              */

static double cpu_seconds(void)
{
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) < 0)
        return 0;
    return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
           ru.ru_stime.tv_usec / 1e6;
}

static uint64_t rss_bytes(void)
{
    FILE *f = fopen("/proc/self/statm", "re");
    unsigned long size = 0, rss = 0;
    if (!f)
        return 0;
    if (fscanf(f, "%lu %lu", &size, &rss) != 2)
        rss = 0;
    fclose(f);
    return (uint64_t)rss * (uint64_t)sysconf(_SC_PAGESIZE);
}

static double seconds_since(const struct rtmpd_server *srv, uint64_t us)
{
    uint64_t now = rtmpd_server_now_us(srv);
    return us && now > us ? (double)(now - us) / 1e6 : 0;
}

/* Codec name from a legacy id or a FourCC (enhanced). NULL when unknown. */
static const char *video_codec_name(uint32_t codec, int fourcc, char tmp[5])
{
    if (!codec)
        return NULL;
    if (fourcc) {
        switch (codec) {
        case RTMPD_FOURCC('a', 'v', 'c', '1'): return "h264";
        case RTMPD_FOURCC('h', 'v', 'c', '1'): return "hevc";
        case RTMPD_FOURCC('a', 'v', '0', '1'): return "av1";
        case RTMPD_FOURCC('v', 'p', '0', '9'): return "vp9";
        case RTMPD_FOURCC('v', 'p', '0', '8'): return "vp8";
        }
        for (int i = 0; i < 4; i++) {
            char ch = (char)(codec >> (24 - 8 * i));
            tmp[i] = ch >= 0x20 && ch < 0x7f ? ch : '?';
        }
        tmp[4] = '\0';
        return tmp;
    }
    switch (codec) {
    case RTMPD_FLV_VIDEO_H263: return "h263";
    case RTMPD_FLV_VIDEO_SCREEN: return "screen";
    case RTMPD_FLV_VIDEO_VP6: return "vp6";
    case RTMPD_FLV_VIDEO_VP6A: return "vp6a";
    case RTMPD_FLV_VIDEO_SCREEN2: return "screen2";
    case RTMPD_FLV_VIDEO_AVC: return "h264";
    case RTMPD_FLV_VIDEO_HEVC: return "hevc";
    }
    return "unknown";
}

static const char *audio_codec_name(uint32_t codec, int fourcc, int seen, char tmp[5])
{
    if (fourcc) {
        switch (codec) {
        case RTMPD_FOURCC('O', 'p', 'u', 's'): return "opus";
        case RTMPD_FOURCC('f', 'L', 'a', 'C'): return "flac";
        case RTMPD_FOURCC('a', 'c', '-', '3'): return "ac3";
        case RTMPD_FOURCC('e', 'c', '-', '3'): return "eac3";
        case RTMPD_FOURCC('m', 'p', '4', 'a'): return "aac";
        case RTMPD_FOURCC('.', 'm', 'p', '3'): return "mp3";
        }
        return video_codec_name(codec, 1, tmp);
    }
    if (!seen)
        return NULL;
    switch (codec) {
    case RTMPD_FLV_AUDIO_PCM: return "pcm";
    case RTMPD_FLV_AUDIO_ADPCM: return "adpcm";
    case RTMPD_FLV_AUDIO_MP3: case RTMPD_FLV_AUDIO_MP3_8K: return "mp3";
    case RTMPD_FLV_AUDIO_PCM_LE: return "pcm_le";
    case RTMPD_FLV_AUDIO_NELLY16: case RTMPD_FLV_AUDIO_NELLY8: case RTMPD_FLV_AUDIO_NELLY:
        return "nellymoser";
    case RTMPD_FLV_AUDIO_G711A: return "g711a";
    case RTMPD_FLV_AUDIO_G711U: return "g711u";
    case RTMPD_FLV_AUDIO_AAC: return "aac";
    case RTMPD_FLV_AUDIO_SPEEX: return "speex";
    }
    return "unknown";
}

static json_t *str_or_null(const char *s)
{
    return s ? json_string(s) : json_null();
}

/* ------------------------------------------------------------------ */
/* JSON                                                                 */

struct counts {
    uint32_t rtmp, http, publishers, players;
};

static struct counts count_conns(struct rtmpd_server *srv)
{
    struct counts n = { 0, 0, 0, 0 };
    struct rtmpd_list *pos;
    for (pos = srv->conns.next; pos != &srv->conns; pos = pos->next) {
        struct rtmpd_conn *c = rtmpd_container_of(pos, struct rtmpd_conn, link);
        struct rtmpd_conn_info info = { "?", "?", NULL, NULL };
        if (c->ops->info)
            c->ops->info(c->ud, &info);
        if (strcmp(info.proto, "http") == 0)
            n.http++;
        else
            n.rtmp++;
        if (strcmp(info.role, "publisher") == 0)
            n.publishers++;
        else if (strcmp(info.role, "player") == 0)
            n.players++;
    }
    return n;
}

json_t *rtmpd_stats_server(struct rtmpd_server *srv)
{
    struct counts n = count_conns(srv);
    return json_pack("{s:s, s:f, s:{s:I, s:I, s:I, s:I, s:I}, s:I, s:I, s:I, s:I, s:I, s:I, "
                     "s:I, s:I, s:{s:I, s:I, s:I}, s:{s:I, s:I, s:I, s:I}, s:{s:I, s:I}, s:f, s:I}",
                     "version", RTMPD_VERSION,
                     "uptime_s", seconds_since(srv, srv->started_us),
                     "connections",
                     "total", (json_int_t)srv->nconns, "rtmp", (json_int_t)n.rtmp,
                     "http", (json_int_t)n.http, "publishers", (json_int_t)n.publishers,
                     "players", (json_int_t)n.players,
                     "accepted", (json_int_t)srv->stats.accepted,
                     "rejected", (json_int_t)srv->stats.rejected,
                     "accept_pauses", (json_int_t)srv->stats.accept_pauses,
                     "bytes_in", (json_int_t)srv->stats.bytes_in,
                     "bytes_out", (json_int_t)srv->stats.bytes_out,
                     "frames_dropped", (json_int_t)srv->stats.frames_dropped,
                     "slow_disconnects", (json_int_t)srv->stats.slow_disconnects,
                     "streams", (json_int_t)rtmpd_registry_count(srv->registry),
                     "gop_cache",
                     "bytes", (json_int_t)srv->stats.gop_cache_bytes,
                     "max_bytes", (json_int_t)srv->cfg->limits.max_gop_cache_bytes,
                     "evictions", (json_int_t)srv->stats.gop_cache_evictions,
                     "merge",
                     "step_us", (json_int_t)srv->merge_step_us,
                     "phases", (json_int_t)srv->merge_phases,
                     "window_write_us", (json_int_t)srv->merge_work_avg_us,
                     "waiting", (json_int_t)srv->merge_waiting,
                     "write_slices",
                     "slice_us", (json_int_t)srv->cfg->limits.write_slice_us,
                     "deferred", (json_int_t)srv->stats.write_slices_deferred,
                     "cpu_s", cpu_seconds(),
                     "rss_bytes", (json_int_t)rss_bytes());
}

json_t *rtmpd_stats_stream(struct rtmpd_server *srv, const struct rtmpd_stream *st)
{
    const struct rtmpd_stream_stats *x = &st->stats;
    char vtmp[5], atmp[5];
    struct rtmpd_conn *pub = st->publisher ? rtmpd_server_find_conn(srv, st->publisher_id) : NULL;
    json_t *o = json_pack("{s:s, s:s, s:b, s:o, s:{s:o, s:o, s:o, s:o}, s:{s:o}, "
                          "s:{s:I, s:I}, s:{s:I, s:I}, s:I, s:{s:I, s:I}, s:f, s:f}",
                          "app", st->app->name,
                          "name", rtmpd_stream_name(st),
                          "publishing", st->publisher != NULL,
                          "publisher", pub ? json_pack("{s:I, s:s}", "id", (json_int_t)pub->id,
                                                       "peer", pub->peer)
                                           : json_null(),
                          "video",
                          "codec", str_or_null(video_codec_name(x->video_codec, x->video_fourcc, vtmp)),
                          "width", x->width ? json_integer(x->width) : json_null(),
                          "height", x->height ? json_integer(x->height) : json_null(),
                          "fps", st->publisher ? json_real(round(x->fps * 100) / 100) : json_null(),
                          "audio",
                          "codec", str_or_null(audio_codec_name(x->audio_codec, x->audio_fourcc,
                                                                x->audio_codec || st->aseq, atmp)),
                          "bitrate_bps", "in", (json_int_t)x->bitrate_in,
                          "out", (json_int_t)x->bitrate_out,
                          "bytes", "in", (json_int_t)x->bytes_in, "out", (json_int_t)x->bytes_out,
                          "subscribers", (json_int_t)st->nsubs,
                          "gop_cache", "bytes", (json_int_t)st->gop.bytes,
                          "frames", (json_int_t)st->gop.n,
                          "uptime_s", seconds_since(srv, x->created_us),
                          "publish_uptime_s", seconds_since(srv, x->publish_us));
    if (o && st->publisher)
        json_object_set_new(o, "publisher_drift_ms", json_integer((json_int_t)x->drift_ms));
    return o;
}

static void add_stream(struct rtmpd_stream *st, void *ud)
{
    void **args = ud;
    json_array_append_new(args[1], rtmpd_stats_stream(args[0], st));
}

json_t *rtmpd_stats_streams(struct rtmpd_server *srv)
{
    json_t *arr = json_array();
    void *args[2] = { srv, arr };
    rtmpd_registry_foreach(srv->registry, add_stream, args);
    return json_pack("{s:o}", "streams", arr);
}

json_t *rtmpd_stats_client(struct rtmpd_server *srv, struct rtmpd_conn *c)
{
    struct rtmpd_conn_info info = { "?", "?", NULL, NULL };
    uint64_t now = rtmpd_server_now_us(srv);
    if (c->ops->info)
        c->ops->info(c->ud, &info);
    json_t *o = json_pack("{s:I, s:s, s:s, s:s, s:o, s:I, s:I, s:f, s:f, s:I}",
                          "id", (json_int_t)c->id,
                          "peer", c->peer,
                          "proto", info.proto,
                          "role", info.role,
                          "stream", info.st ? json_string(info.st->key) : json_null(),
                          "bytes_in", (json_int_t)c->bytes_in,
                          "bytes_out", (json_int_t)c->bytes_out,
                          "uptime_s", seconds_since(srv, c->started_us),
                          "queue_delay_ms", rtmpd_conn_queue_delay_us(c, now) / 1000.0,
                          "queue_bytes", (json_int_t)c->q_bytes);
    if (info.sub) {
        json_object_set_new(o, "frames_sent", json_integer((json_int_t)info.sub->frames_sent));
        json_object_set_new(o, "frames_dropped", json_integer((json_int_t)info.sub->frames_dropped));
        json_object_set_new(o, "drop_episodes", json_integer((json_int_t)info.sub->drop_episodes));
        uint64_t est = rtmpd_conn_bandwidth(c);
        static const char *const conf_names[] = { "none", "lower_bound", "measured" };
        json_object_set_new(o, "bandwidth_estimate_bps", est ? json_integer((json_int_t)est)
                                                             : json_null());
        json_object_set_new(o, "bandwidth_confidence",
                            json_string(conf_names[rtmpd_bw_confidence(&c->bw, now)]));
        json_object_set_new(o, "rtt_ms", json_real(c->rtt_us / 1000.0));
        json_object_set_new(o, "group", info.sub->group[0] ? json_string(info.sub->group)
                                                           : json_null());
        json_object_set_new(o, "rendition", info.st ? json_string(rtmpd_stream_name(info.st))
                                                    : json_null());
        json_object_set_new(o, "switches", json_integer(info.sub->switches));
    }
    return o;
}

json_t *rtmpd_stats_clients(struct rtmpd_server *srv)
{
    json_t *arr = json_array();
    struct rtmpd_list *pos;
    for (pos = srv->conns.next; pos != &srv->conns; pos = pos->next) {
        struct rtmpd_conn *c = rtmpd_container_of(pos, struct rtmpd_conn, link);
        if (!c->closing)
            json_array_append_new(arr, rtmpd_stats_client(srv, c));
    }
    return json_pack("{s:o}", "clients", arr);
}

/* ------------------------------------------------------------------ */
/* Prometheus text format                                               */

static void put(struct rtmpd_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void put(struct rtmpd_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char tmp[512];
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n > 0)
        rtmpd_buf_append(b, tmp, (size_t)n < sizeof tmp ? (size_t)n : sizeof tmp - 1);
}

static void family(struct rtmpd_buf *b, const char *name, const char *type, const char *help)
{
    put(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* A series without labels and with an integer value, with its HELP and TYPE. */
static void series(struct rtmpd_buf *b, const char *name, const char *type, const char *help,
                   uint64_t v)
{
    family(b, name, type, help);
    put(b, "%s %llu\n", name, (unsigned long long)v);
}

/* A label value with \, " and newline escaped. */
static void put_label(struct rtmpd_buf *b, const char *v)
{
    for (; *v; v++) {
        if (*v == '\\' || *v == '"')
            rtmpd_buf_put_u8(b, '\\'), rtmpd_buf_put_u8(b, (uint8_t)*v);
        else if (*v == '\n')
            rtmpd_buf_append(b, "\\n", 2);
        else
            rtmpd_buf_put_u8(b, (uint8_t)*v);
    }
}

static void stream_sample(struct rtmpd_buf *b, const char *name, const struct rtmpd_stream *st,
                          const char *extra, double v)
{
    put(b, "%s{app=\"", name);
    put_label(b, st->app->name);
    put(b, "\",stream=\"");
    put_label(b, rtmpd_stream_name(st));
    put(b, "\"%s} %.17g\n", extra ? extra : "", v);
}

struct stream_list {
    const struct rtmpd_stream **v;
    size_t n, cap;
};

static void collect_stream(struct rtmpd_stream *st, void *ud)
{
    struct stream_list *l = ud;
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 64;
        const struct rtmpd_stream **v = realloc(l->v, cap * sizeof *v);
        if (!v)
            return;
        l->v = v;
        l->cap = cap;
    }
    l->v[l->n++] = st;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static int cmp_stream_key(const void *a, const void *b)
{
    const struct rtmpd_stream *x = *(const struct rtmpd_stream *const *)a;
    const struct rtmpd_stream *y = *(const struct rtmpd_stream *const *)b;
    return strcmp(x->key, y->key);
}

/* A gauge family with one sample per quantile of v[0..n). */
static void quantiles(struct rtmpd_buf *b, const char *name, const char *help, double *v, size_t n,
                      const char *fmt)
{
    static const double q[] = { 0.5, 0.9, 0.99, 1 };
    family(b, name, "gauge", help);
    if (!v || !n)
        return;
    qsort(v, n, sizeof *v, cmp_double);
    for (size_t i = 0; i < sizeof q / sizeof q[0]; i++) {
        size_t k = (size_t)ceil(q[i] * (double)n) - 1;
        char num[64];
        snprintf(num, sizeof num, fmt, v[k < n ? k : n - 1]);
        put(b, "%s{quantile=\"%g\"} %s\n", name, q[i], num);
    }
}

void rtmpd_stats_metrics(struct rtmpd_server *srv, struct rtmpd_buf *b)
{
    struct counts n = count_conns(srv);
    uint64_t now = rtmpd_server_now_us(srv);

    family(b, "rtmpd_build_info", "gauge", "Build information (always 1).");
    put(b, "rtmpd_build_info{version=\"%s\"} 1\n", RTMPD_VERSION);
    family(b, "rtmpd_uptime_seconds", "gauge", "Seconds since the server started.");
    put(b, "rtmpd_uptime_seconds %.3f\n", seconds_since(srv, srv->started_us));
    family(b, "rtmpd_cpu_seconds_total", "counter", "CPU time used by the server, user plus system.");
    put(b, "rtmpd_cpu_seconds_total %.6f\n", cpu_seconds());
    series(b, "rtmpd_resident_memory_bytes", "gauge", "Resident set size of the server.",
           rss_bytes());

    family(b, "rtmpd_connections", "gauge", "Open connections by protocol.");
    put(b, "rtmpd_connections{proto=\"rtmp\"} %u\n", n.rtmp);
    put(b, "rtmpd_connections{proto=\"http\"} %u\n", n.http);
    family(b, "rtmpd_clients", "gauge", "Connections publishing or playing a stream.");
    put(b, "rtmpd_clients{role=\"publisher\"} %u\n", n.publishers);
    put(b, "rtmpd_clients{role=\"player\"} %u\n", n.players);
    const struct rtmpd_server_stats *x = &srv->stats;
    series(b, "rtmpd_connections_accepted_total", "counter", "Connections accepted.", x->accepted);
    series(b, "rtmpd_connections_rejected_total", "counter",
           "Connections refused at once (max_connections reached, or stopping).", x->rejected);
    series(b, "rtmpd_accept_pauses_total", "counter",
           "Times the listeners paused: accept ran out of descriptors or kernel memory.",
           x->accept_pauses);
    series(b, "rtmpd_received_bytes_total", "counter", "Bytes read from all connections.",
           x->bytes_in);
    series(b, "rtmpd_sent_bytes_total", "counter", "Bytes written to all connections.",
           x->bytes_out);
    series(b, "rtmpd_frames_dropped_total", "counter",
           "Frames dropped for players that fell behind.", x->frames_dropped);
    series(b, "rtmpd_slow_player_disconnects_total", "counter",
           "Players disconnected at their queue's hard limits.", x->slow_disconnects);
    series(b, "rtmpd_streams", "gauge", "Streams with a publisher or players.",
           rtmpd_registry_count(srv->registry));
    series(b, "rtmpd_gop_cache_bytes", "gauge",
           "Payload bytes held by all GOP caches together (limit: limits.max_gop_cache_bytes).",
           x->gop_cache_bytes);
    series(b, "rtmpd_gop_cache_evictions_total", "counter",
           "GOP caches emptied to keep all of them within limits.max_gop_cache_bytes.",
           x->gop_cache_evictions);
    series(b, "rtmpd_merge_phases", "gauge",
           "Phases each merge window's writes are spread over (1: one burst per window).",
           srv->merge_phases);
    family(b, "rtmpd_merge_window_write_seconds", "gauge",
           "Time the writes of one merge window take, smoothed over windows.");
    put(b, "rtmpd_merge_window_write_seconds %.6f\n", srv->merge_work_avg_us / 1e6);
    series(b, "rtmpd_merge_waiting_connections", "gauge",
           "Connections whose queued frames wait for their merge tick.", srv->merge_waiting);
    series(b, "rtmpd_write_slices_deferred_total", "counter",
           "Loop passes that stopped writing at limits.write_slice_us and polled before going on.",
           x->write_slices_deferred);

    /* Per stream, sorted by key so scrapes are stable. */
    struct stream_list l = { NULL, 0, 0 };
    rtmpd_registry_foreach(srv->registry, collect_stream, &l);
    if (l.n > 1)
        qsort(l.v, l.n, sizeof *l.v, cmp_stream_key);
    static const struct {
        const char *name, *type, *help;
    } per_stream[] = {
        { "rtmpd_stream_publishing", "gauge", "1 while the stream has a publisher." },
        { "rtmpd_stream_subscribers", "gauge", "Players attached to the stream." },
        { "rtmpd_stream_received_bytes_total", "counter", "Media bytes received from publishers." },
        { "rtmpd_stream_sent_bytes_total", "counter", "Media bytes queued to players." },
        { "rtmpd_stream_bitrate_bits_per_second", "gauge", "Bit rate over the last seconds." },
        { "rtmpd_stream_gop_cache_bytes", "gauge", "Bytes held in the GOP cache." },
        { "rtmpd_stream_gop_cache_frames", "gauge", "Frames held in the GOP cache." },
    };
    for (size_t f = 0; f < sizeof per_stream / sizeof per_stream[0]; f++) {
        family(b, per_stream[f].name, per_stream[f].type, per_stream[f].help);
        for (size_t i = 0; i < l.n; i++) {
            const struct rtmpd_stream *st = l.v[i];
            switch (f) {
            case 0: stream_sample(b, per_stream[f].name, st, NULL, st->publisher != NULL); break;
            case 1: stream_sample(b, per_stream[f].name, st, NULL, st->nsubs); break;
            case 2: stream_sample(b, per_stream[f].name, st, NULL, (double)st->stats.bytes_in); break;
            case 3: stream_sample(b, per_stream[f].name, st, NULL, (double)st->stats.bytes_out); break;
            case 4:
                stream_sample(b, per_stream[f].name, st, ",direction=\"in\"",
                              (double)st->stats.bitrate_in);
                stream_sample(b, per_stream[f].name, st, ",direction=\"out\"",
                              (double)st->stats.bitrate_out);
                break;
            case 5: stream_sample(b, per_stream[f].name, st, NULL, (double)st->gop.bytes); break;
            case 6: stream_sample(b, per_stream[f].name, st, NULL, st->gop.n); break;
            }
        }
    }
    free(l.v);

    /* Per-player distributions as quantiles over all players: one series
     * per quantile, whatever the number of players. */
    size_t cap = n.players ? n.players : 1;
    double *d = malloc(cap * sizeof *d), *e = malloc(cap * sizeof *e);
    size_t nd = 0, ne = 0;
    struct rtmpd_list *pos;
    for (pos = srv->conns.next; d && e && pos != &srv->conns && nd < cap; pos = pos->next) {
        struct rtmpd_conn *c = rtmpd_container_of(pos, struct rtmpd_conn, link);
        struct rtmpd_conn_info info = { "?", "?", NULL, NULL };
        if (c->ops->info)
            c->ops->info(c->ud, &info);
        if (!info.sub)
            continue;
        d[nd++] = rtmpd_conn_queue_delay_us(c, now) / 1e6;
        uint64_t est = rtmpd_conn_bandwidth(c);
        if (est)
            e[ne++] = (double)est;
    }
    quantiles(b, "rtmpd_player_queue_delay_seconds",
              "Quantiles over all players of how long their oldest unsent message has waited.",
              d, nd, "%.6f");
    quantiles(b, "rtmpd_player_bandwidth_estimate_bits_per_second",
              "Quantiles over all players of their bandwidth estimate.", e, ne, "%.0f");
    free(d);
    free(e);
}
