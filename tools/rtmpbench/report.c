/*
 * rtmpbench — output: progress lines (stderr), the summary line (stdout) and
 * the JSON result.
 */
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>

#include "bench.h"

static double phase_seconds(const struct bench *b)
{
    int64_t end = b->stopping ? b->t_end : bench_now_ns();
    if (!b->phase_started || end <= b->t_phase)
        return 0;
    return (double)(end - b->t_phase) / 1e9;
}

static double mbps(uint64_t bytes, double seconds)
{
    return seconds > 0 ? (double)bytes * 8.0 / 1e6 / seconds : 0;
}

static double expected_mbps(const struct bench *b)
{
    if (!b->have_media || !b->o.play_url)
        return 0;
    return (double)b->o.n * b->media.bitrate_bps / 1e6;
}

static uint64_t pub_frames(const struct bench *b)
{
    uint64_t n = 0;
    for (uint32_t i = 0; i < b->npubs; i++)
        n += b->pubs[i].frames;
    return n;
}

static uint64_t pub_bytes(const struct bench *b)
{
    uint64_t n = 0;
    for (uint32_t i = 0; i < b->npubs; i++)
        n += b->pubs[i].bytes;
    return n;
}

static uint32_t players_seq_ok(const struct bench *b)
{
    uint32_t n = 0;
    for (uint32_t i = 0; i < b->nsess; i++)
        n += b->sess[i]->checked > 0 && b->sess[i]->seq_errors == 0;
    return n;
}

/* "%.Nf" of a histogram quantile in ms, or "-" when empty. */
static const char *ms_str(char *buf, size_t len, const struct hist *h, double q, int decimals)
{
    if (!h->count) {
        snprintf(buf, len, "-");
        return buf;
    }
    uint64_t us = q >= 1.0 ? h->max : hist_quantile(h, q);
    snprintf(buf, len, "%.*f", decimals, (double)us / 1000.0);
    return buf;
}

void report_progress(struct bench *b)
{
    int64_t now = bench_now_ns();
    double iv = (double)(now - b->iv_at) / 1e9;
    char p50[32], p99[32];

    fprintf(stderr,
            "[%6.1fs] players=%u/%u playing=%u failed=%u closed=%u mbps=%.1f fps=%.0f "
            "latency_ms p50=%s p99=%s stalls=%llu seq_errors=%llu checked=%llu",
            phase_seconds(b), b->active, b->nsess, b->playing, b->failed, b->closed,
            mbps(b->bytes - b->iv_bytes, iv), iv > 0 ? (double)(b->frames - b->iv_frames) / iv : 0,
            ms_str(p50, sizeof p50, &b->lat_iv, 0.50, 1),
            ms_str(p99, sizeof p99, &b->lat_iv, 0.99, 1),
            (unsigned long long)b->stalls, (unsigned long long)b->seq_errors,
            (unsigned long long)b->checked);
    if (b->npubs)
        fprintf(stderr, " publishers=%u/%u pub_frames=%llu", b->pubs_publishing, b->npubs,
                (unsigned long long)pub_frames(b));
    fputc('\n', stderr);
}

void report_summary(struct bench *b, FILE *f)
{
    double secs = phase_seconds(b);
    char t50[32], t99[32], l50[32], l99[32], lmax[32], r99[32];

    fprintf(f,
            "players=%u connected=%u failed=%u mbps=%.1f expected_mbps=%.1f frames=%llu "
            "ttff_ms p50=%s p99=%s latency_ms p50=%s p99=%s max=%s read_p99=%s stalls=%llu "
            "seq_errors=%llu checked=%llu closed=%u duration_s=%.1f",
            b->nsess, b->connected, b->failed, mbps(b->bytes, secs), expected_mbps(b),
            (unsigned long long)b->frames, ms_str(t50, sizeof t50, &b->ttff, 0.50, 1),
            ms_str(t99, sizeof t99, &b->ttff, 0.99, 1), ms_str(l50, sizeof l50, &b->lat, 0.50, 1),
            ms_str(l99, sizeof l99, &b->lat, 0.99, 1), ms_str(lmax, sizeof lmax, &b->lat, 1.0, 1),
            ms_str(r99, sizeof r99, &b->lat_read, 0.99, 1), (unsigned long long)b->stalls,
            (unsigned long long)b->seq_errors, (unsigned long long)b->checked, b->closed, secs);
    if (b->npubs)
        fprintf(f, " publishers=%u/%u pub_frames=%llu", b->pubs_publishing, b->npubs,
                (unsigned long long)pub_frames(b));
    fputc('\n', f);

    double wall = (double)(b->t_end - b->t_start) / 1e9, cpu = bench_cpu_seconds();
    if (wall > 2 && cpu > 0.9 * wall)
        bench_log("warning: rtmpbench used %.0f%% of a CPU: TTFF and read_p99 include its own "
                  "queueing, and the server may be held back by its slow reads; use fewer "
                  "players per process", cpu * 100.0 / wall);
}

/* --- JSON ----------------------------------------------------------------- */

static void json_str(FILE *f, const char *s)
{
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        switch (*p) {
        case '"': fputs("\\\"", f); break;
        case '\\': fputs("\\\\", f); break;
        case '\n': fputs("\\n", f); break;
        case '\r': fputs("\\r", f); break;
        case '\t': fputs("\\t", f); break;
        default:
            if (*p < 0x20 || *p >= 0x7f)
                fprintf(f, "\\u%04x", *p);   /* bytes, not UTF-8: keep the JSON valid */
            else
                fputc(*p, f);
        }
    }
    fputc('"', f);
}

static void json_hist(FILE *f, const char *name, const struct hist *h)
{
    fprintf(f, "\"%s\":{\"count\":%llu", name, (unsigned long long)h->count);
    if (h->count)
        fprintf(f, ",\"p50\":%.3f,\"p90\":%.3f,\"p99\":%.3f,\"max\":%.3f,\"mean\":%.3f}",
                (double)hist_quantile(h, 0.50) / 1000.0, (double)hist_quantile(h, 0.90) / 1000.0,
                (double)hist_quantile(h, 0.99) / 1000.0, (double)h->max / 1000.0,
                (double)h->sum / (double)h->count / 1000.0);
    else
        fputs(",\"p50\":null,\"p90\":null,\"p99\":null,\"max\":null,\"mean\":null}", f);
}

static const char *status_str(const struct player_stats *st, char *buf, size_t len)
{
    switch (st->status) {
    case PS_OK: return "ok";
    case PS_FAILED: return "failed";
    case PS_CLOSED:
        snprintf(buf, len, "closed: %s", st->reason);
        return buf;
    case PS_PLAYING: return "ok";
    case PS_CANCELLED:
        snprintf(buf, len, "closed: %s", st->reason);
        return buf;
    default: return "failed";
    }
}

int report_json(struct bench *b, const char *path)
{
    FILE *f = fopen(path, "w");
    double secs = phase_seconds(b);
    char buf[200];

    if (!f)
        return -1;
    fprintf(f, "{\"duration_s\":%.3f,\"players\":%u,\"slots\":%u,\"connected\":%u,\"failed\":%u,"
               "\"closed\":%u,\"cancelled\":%u,",
            secs, b->nsess, b->o.play_url ? b->o.n : 0, b->connected, b->failed, b->closed,
            b->cancelled);
    fprintf(f, "\"bytes\":%llu,\"wire_bytes\":%llu,\"mbps\":%.3f,\"wire_mbps\":%.3f,"
               "\"expected_mbps\":%.3f,",
            (unsigned long long)b->bytes, (unsigned long long)b->wire_bytes, mbps(b->bytes, secs),
            mbps(b->wire_bytes, secs), expected_mbps(b));
    fprintf(f, "\"frames\":%llu,\"video_frames\":%llu,\"audio_frames\":%llu,\"data_frames\":%llu,",
            (unsigned long long)b->frames, (unsigned long long)b->video_frames,
            (unsigned long long)b->audio_frames, (unsigned long long)b->data_frames);
    json_hist(f, "ttff_ms", &b->ttff);
    fputc(',', f);
    json_hist(f, "latency_ms", &b->lat);
    fputc(',', f);
    json_hist(f, "latency_read_ms", &b->lat_read);
    fprintf(f, ",\"rx_timestamps\":{\"stamped\":%llu,\"unstamped\":%llu}",
            (unsigned long long)b->rx_stamped, (unsigned long long)b->rx_unstamped);
    int64_t stall_ns = 0;
    for (uint32_t i = 0; i < b->nsess; i++)
        stall_ns += b->sess[i]->stall_ns;
    fprintf(f, ",\"stalls\":%llu,\"stall_s\":%.3f,", (unsigned long long)b->stalls,
            (double)stall_ns / 1e9);
    fprintf(f, "\"sequence\":{\"enabled\":%s,\"checked\":%llu,\"errors\":%llu,\"players_ok\":%u},",
            b->pub_matches ? "true" : "false", (unsigned long long)b->checked,
            (unsigned long long)b->seq_errors, players_seq_ok(b));
    fprintf(f, "\"publish\":{\"publishers\":%u,\"publishing\":%u,\"failed\":%u,\"frames\":%llu,"
               "\"bytes\":%llu,\"mbps\":%.3f",
            b->npubs, b->pubs_publishing, b->pubs_failed, (unsigned long long)pub_frames(b),
            (unsigned long long)pub_bytes(b), mbps(pub_bytes(b), secs));
    if (b->have_media)
        fprintf(f, ",\"file_duration_ms\":%u,\"file_bitrate_kbps\":%.1f", b->media.duration_ms,
                b->media.bitrate_bps / 1000.0);
    fputs(",\"detail\":[", f);
    for (uint32_t i = 0; i < b->npubs; i++) {
        const struct publisher *p = &b->pubs[i];
        fprintf(f, "%s{\"id\":%u,\"stream\":", i ? "," : "", i);
        json_str(f, p->name);
        fprintf(f, ",\"frames\":%llu,\"bytes\":%llu,\"status\":", (unsigned long long)p->frames,
                (unsigned long long)p->bytes);
        if (p->closed)
            snprintf(buf, sizeof buf, "closed: %s", p->reason);
        json_str(f, p->failed ? "failed" : p->closed ? buf : "ok");
        if (p->failed) {
            fputs(",\"reason\":", f);
            json_str(f, p->reason);
        }
        fputc('}', f);
    }
    fputs("]},", f);
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) == 0) {
        double user = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6;
        double sys = (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
        double wall = (double)((b->stopping ? b->t_end : bench_now_ns()) - b->t_start) / 1e9;
        fprintf(f, "\"rtmpbench\":{\"user_s\":%.3f,\"sys_s\":%.3f,\"cpu_percent\":%.1f,"
                   "\"max_rss_kib\":%ld},",
                user, sys, wall > 0 ? (user + sys) * 100.0 / wall : 0, ru.ru_maxrss);
    }
    fputs("\"players_detail\":[", f);
    for (uint32_t i = 0; i < b->nsess; i++) {
        const struct player_stats *st = b->sess[i];
        double dur = st->end_ns > st->start_ns ? (double)(st->end_ns - st->start_ns) / 1e9 : 0;
        fprintf(f, "%s\n{\"id\":%u,\"slot\":%u,\"stream\":", i ? "," : "", st->id, st->slot);
        json_str(f, b->play_names[st->stream]);
        fprintf(f, ",\"bytes\":%llu,\"wire_bytes\":%llu,\"mbps\":%.3f,\"frames\":%llu,"
                   "\"video_frames\":%llu,\"audio_frames\":%llu,\"data_frames\":%llu,",
                (unsigned long long)st->bytes, (unsigned long long)st->wire_bytes,
                mbps(st->bytes, dur), (unsigned long long)st->frames,
                (unsigned long long)st->video_frames, (unsigned long long)st->audio_frames,
                (unsigned long long)st->data_frames);
        if (st->ttff_ns >= 0)
            fprintf(f, "\"ttff_ms\":%.3f,", (double)st->ttff_ns / 1e6);
        else
            fputs("\"ttff_ms\":null,", f);
        fprintf(f, "\"stalls\":%u,\"stall_s\":%.3f,\"checked\":%llu,\"seq_errors\":%llu,"
                   "\"latency_count\":%llu,\"latency_max_ms\":%.3f,\"duration_s\":%.3f,\"status\":",
                st->stalls, (double)st->stall_ns / 1e9, (unsigned long long)st->checked,
                (unsigned long long)st->seq_errors, (unsigned long long)st->lat_count,
                (double)st->lat_max_ns / 1e6, dur);
        json_str(f, status_str(st, buf, sizeof buf));
        if (st->status == PS_FAILED || st->status == PS_CLOSED || st->status == PS_CANCELLED) {
            fputs(",\"reason\":", f);
            json_str(f, st->reason);
        }
        fputc('}', f);
    }
    fputs("]}\n", f);
    return fclose(f) == 0 ? 0 : -1;
}
