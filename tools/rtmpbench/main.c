/*
 * rtmpbench — command line, run control (publishers first, then players at
 * a bounded connect rate, end after --duration or on SIGINT), progress
 * lines and the final report.
 */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "rtmpd/flv.h"

#include "bench.h"

#define MAX_ERRORS_LOGGED 30

static struct bench bench;

static void usage(FILE *f)
{
    fprintf(f,
            "usage: rtmpbench [options]\n"
            "  --publish URL      publish --file to URL (rtmp://host[:port]/app/name);\n"
            "                     with --streams M > 1, M publishers on name_0 .. name_{M-1}\n"
            "  --file FILE.flv    media to publish (real-time pace, looped)\n"
            "  --play URL         play URL with -n players (round-robin over the --streams names)\n"
            "  -n N               players (default 1)\n"
            "  --streams M        number of stream names (default 1: the URL's name as is)\n"
            "  --rate R           connect at most R players per second (default 200)\n"
            "  --duration S       stop after S seconds (default 10); 0 = until SIGINT\n"
            "  --warmup S         exclude the first S seconds after a player's first frame\n"
            "                     from latency stats (default 0)\n"
            "  --churn SEC        each player plays a random time in [SEC/2, SEC*1.5], then a\n"
            "                     new one replaces it\n"
            "  --json FILE        write the full result as JSON\n"
            "  --dump FILE        (player 0) write every received message as an FLV file\n"
            "  --chunk-size N     chunk size the publisher sets (default 4096)\n"
            "  --ts-offset MS     add MS to every published timestamp (default 0; e.g.\n"
            "                     16770000 crosses the 24-bit extended timestamp limit)\n"
            "  --quiet            no progress lines\n"
            "       rtmpbench --floor -n N --file FILE.flv [--merge-ms W] ...\n"
            "                     the same fan-out's socket writes without a server\n"
            "                     (see rtmpbench --floor --help)\n");
}

void bench_log(const char *fmt, ...)
{
    va_list ap;

    fputs("rtmpbench: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

void bench_err(struct bench *b, const char *fmt, ...)
{
    va_list ap;

    if (b->errors_logged++ >= MAX_ERRORS_LOGGED) {
        if (b->errors_logged == MAX_ERRORS_LOGGED + 1)
            bench_log("(further errors not shown; see the JSON players_detail)");
        return;
    }
    fputs("rtmpbench: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

/* --- options ------------------------------------------------------------ */

int bench_parse_double(const char *opt, const char *s, double min, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !isfinite(v) || v < min) {
        bench_log("%s: bad value '%s'", opt, s);
        return -1;
    }
    *out = v;
    return 0;
}

int bench_parse_u32(const char *opt, const char *s, uint32_t min, uint32_t max, uint32_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s || *end || s[0] == '-' || v < min || v > max) {
        bench_log("%s: bad value '%s' (%u..%u)", opt, s, min, max);
        return -1;
    }
    *out = (uint32_t)v;
    return 0;
}

enum {
    OPT_PUBLISH = 256, OPT_FILE, OPT_PLAY, OPT_STREAMS, OPT_RATE, OPT_DURATION, OPT_WARMUP,
    OPT_CHURN, OPT_JSON, OPT_DUMP, OPT_CHUNK_SIZE, OPT_TS_OFFSET, OPT_QUIET, OPT_HELP,
};

static int parse_options(struct bench_opts *o, int argc, char **argv)
{
    static const struct option longopts[] = {
        { "publish", required_argument, NULL, OPT_PUBLISH },
        { "file", required_argument, NULL, OPT_FILE },
        { "play", required_argument, NULL, OPT_PLAY },
        { "streams", required_argument, NULL, OPT_STREAMS },
        { "rate", required_argument, NULL, OPT_RATE },
        { "duration", required_argument, NULL, OPT_DURATION },
        { "warmup", required_argument, NULL, OPT_WARMUP },
        { "churn", required_argument, NULL, OPT_CHURN },
        { "json", required_argument, NULL, OPT_JSON },
        { "dump", required_argument, NULL, OPT_DUMP },
        { "chunk-size", required_argument, NULL, OPT_CHUNK_SIZE },
        { "ts-offset", required_argument, NULL, OPT_TS_OFFSET },
        { "quiet", no_argument, NULL, OPT_QUIET },
        { "help", no_argument, NULL, OPT_HELP },
        { NULL, 0, NULL, 0 },
    };
    int ch;

    o->n = 1;
    o->streams = 1;
    o->rate = 200;
    o->duration = 10;
    o->chunk_size = 4096;
    while ((ch = getopt_long(argc, argv, "n:h", longopts, NULL)) != -1) {
        switch (ch) {
        case OPT_PUBLISH: o->publish_url = optarg; break;
        case OPT_FILE: o->file = optarg; break;
        case OPT_PLAY: o->play_url = optarg; break;
        case 'n':
            if (bench_parse_u32("-n", optarg, 1, 1000000, &o->n) < 0)
                return -1;
            break;
        case OPT_STREAMS:
            if (bench_parse_u32("--streams", optarg, 1, 100000, &o->streams) < 0)
                return -1;
            break;
        case OPT_RATE:
            if (bench_parse_double("--rate", optarg, 0, &o->rate) < 0)
                return -1;
            if (o->rate <= 0) {
                bench_log("--rate must be > 0");
                return -1;
            }
            break;
        case OPT_DURATION:
            if (bench_parse_double("--duration", optarg, 0, &o->duration) < 0)
                return -1;
            break;
        case OPT_WARMUP:
            if (bench_parse_double("--warmup", optarg, 0, &o->warmup) < 0)
                return -1;
            break;
        case OPT_CHURN:
            if (bench_parse_double("--churn", optarg, 0, &o->churn) < 0)
                return -1;
            break;
        case OPT_JSON: o->json_path = optarg; break;
        case OPT_DUMP: o->dump_path = optarg; break;
        case OPT_CHUNK_SIZE:
            if (bench_parse_u32("--chunk-size", optarg, 1, 0x7fffffff, &o->chunk_size) < 0)
                return -1;
            break;
        case OPT_TS_OFFSET:
            if (bench_parse_u32("--ts-offset", optarg, 0, 0xffffffff, &o->ts_offset) < 0)
                return -1;
            break;
        case OPT_QUIET: o->quiet = 1; break;
        case 'h':
        case OPT_HELP:
            usage(stdout);
            exit(0);
        default:
            return -1;
        }
    }
    if (optind < argc) {
        bench_log("unexpected argument '%s'", argv[optind]);
        return -1;
    }
    if (!o->publish_url && !o->play_url) {
        bench_log("nothing to do: give --publish and/or --play");
        return -1;
    }
    if (o->publish_url && !o->file) {
        bench_log("--publish needs --file");
        return -1;
    }
    if (o->dump_path && !o->play_url) {
        bench_log("--dump needs --play");
        return -1;
    }
    return 0;
}

/* --- run control -------------------------------------------------------- */

void bench_raise_nofile(void)
{
    struct rlimit rl;

    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
            bench_log("setrlimit(RLIMIT_NOFILE): %s", strerror(errno));
    }
}

static int make_names(char (**out)[600], const char *base, uint32_t m)
{
    char (*names)[600] = calloc(m, sizeof *names);

    if (!names)
        return -1;
    for (uint32_t i = 0; i < m; i++) {
        if (m == 1)
            str_copy(names[i], sizeof names[i], base);
        else
            snprintf(names[i], sizeof names[i], "%s_%u", base, i);
    }
    *out = names;
    return 0;
}

static void end_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    bench_stop(w->data);
}

static void progress_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct bench *b = w->data;

    (void)loop;
    (void)revents;
    if (!b->o.quiet)
        report_progress(b);
    hist_clear(&b->lat_iv);
    b->iv_bytes = b->bytes;
    b->iv_frames = b->frames;
    b->iv_at = bench_now_ns();
    /* Nothing left to measure: every player launched has ended. */
    if (b->o.play_url && b->o.churn <= 0 && b->nsess == b->o.n && b->q_len == 0 && b->active == 0)
        bench_stop(b);
    /* Publishing only, and no publisher left. */
    if (!b->o.play_url && b->npubs) {
        uint32_t alive = 0;
        for (uint32_t i = 0; i < b->npubs; i++)
            alive += b->pubs[i].c != NULL;
        if (!alive)
            bench_stop(b);
    }
}

static void rate_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    players_launch_pending(w->data);
}

static void signal_cb(struct ev_loop *loop, ev_signal *w, int revents)
{
    struct bench *b = w->data;

    (void)loop;
    (void)revents;
    if (b->stopping)
        _exit(130);
    bench_stop(b);
}

static void reaper_cb(struct ev_loop *loop, ev_check *w, int revents)
{
    (void)loop;
    (void)revents;
    conn_reap(w->data);
}

void bench_publishers_ready(struct bench *b)
{
    if (b->phase_started || b->stopping)
        return;
    b->phase_started = 1;
    b->t_phase = bench_now_ns();
    b->iv_at = b->t_phase;
    if (b->npubs && b->pubs_publishing == 0 && !b->o.play_url) {
        bench_stop(b);
        return;
    }
    if (b->o.duration > 0) {
        ev_timer_set(&b->end_timer, b->o.duration, 0.);
        ev_timer_start(b->loop, &b->end_timer);
    }
    ev_timer_start(b->loop, &b->progress_timer);
    if (b->o.play_url)
        players_enqueue_all(b);
}

void bench_stop(struct bench *b)
{
    if (b->stopping)
        return;
    b->stopping = 1;
    b->t_end = bench_now_ns();
    if (!b->phase_started)
        b->t_phase = b->t_end;
    ev_timer_stop(b->loop, &b->end_timer);
    ev_timer_stop(b->loop, &b->progress_timer);
    players_stop(b);
    publishers_stop(b);
    ev_break(b->loop, EVBREAK_ALL);
}

int main(int argc, char **argv)
{
    struct bench *b = &bench;
    char err[512];
    int rc = 1;

    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "--floor") == 0)
            return floor_main(argc, argv);
    if (parse_options(&b->o, argc, argv) < 0) {
        fprintf(stderr, "rtmpbench: see rtmpbench --help\n");
        return 1;
    }
    bench_raise_nofile();
    signal(SIGPIPE, SIG_IGN);
    srandom((unsigned)time(NULL) ^ (unsigned)getpid());

    if (b->o.publish_url && (url_parse(&b->pub_url, b->o.publish_url, err, sizeof err) < 0 ||
                             url_resolve(&b->pub_url, err, sizeof err) < 0)) {
        bench_log("%s", err);
        return 1;
    }
    if (b->o.play_url && (url_parse(&b->play_url, b->o.play_url, err, sizeof err) < 0 ||
                          url_resolve(&b->play_url, err, sizeof err) < 0)) {
        bench_log("%s", err);
        return 1;
    }
    if (b->o.file) {
        if (media_load(&b->media, b->o.file) < 0)
            return 1;
        b->have_media = 1;
    }
    if ((b->o.publish_url && make_names(&b->pub_names, b->pub_url.name, b->o.streams) < 0) ||
        (b->o.play_url && make_names(&b->play_names, b->play_url.name, b->o.streams) < 0)) {
        bench_log("out of memory");
        return 1;
    }
    /* Same app and names: the players play what this process publishes
     * (the hosts may differ: origin and edge). */
    b->pub_matches = b->o.publish_url && b->o.play_url &&
                     strcmp(b->pub_url.app, b->play_url.app) == 0 &&
                     strcmp(b->pub_url.name, b->play_url.name) == 0;
    if (b->o.publish_url && b->o.play_url && !b->pub_matches)
        bench_log("--publish and --play name different streams: no latency or sequence check");
    b->warmup_ns = (int64_t)(b->o.warmup * 1e9);

    if (b->o.play_url) {
        b->slot_player = calloc(b->o.n, sizeof *b->slot_player);
        b->queue = calloc(b->o.n, sizeof *b->queue);
        if (!b->slot_player || !b->queue) {
            bench_log("out of memory");
            return 1;
        }
    }
    if (b->o.dump_path) {
        uint8_t h[RTMPD_FLV_FILE_HEADER_LEN];
        b->dump = fopen(b->o.dump_path, "wb");
        if (!b->dump) {
            bench_log("%s: %s", b->o.dump_path, strerror(errno));
            return 1;
        }
        setvbuf(b->dump, NULL, _IOFBF, 1 << 20);
        rtmpd_flv_write_file_header(h, 1, 1);
        fwrite(h, 1, sizeof h, b->dump);
    }

    b->loop = ev_default_loop(EVBACKEND_EPOLL);
    if (!b->loop)
        b->loop = ev_default_loop(0);
    if (!b->loop) {
        bench_log("cannot create the event loop");
        return 1;
    }
    double tick = 1.0 / b->o.rate;
    if (tick < 0.002)
        tick = 0.002;
    if (tick > 0.05)
        tick = 0.05;
    ev_timer_init(&b->rate_timer, rate_cb, tick, tick);
    ev_timer_init(&b->progress_timer, progress_cb, 1., 1.);
    ev_timer_init(&b->end_timer, end_cb, 0., 0.);
    ev_signal_init(&b->sigint, signal_cb, SIGINT);
    ev_signal_init(&b->sigterm, signal_cb, SIGTERM);
    ev_check_init(&b->reaper, reaper_cb);
    b->rate_timer.data = b->progress_timer.data = b->end_timer.data = b;
    b->sigint.data = b->sigterm.data = b->reaper.data = b;
    ev_signal_start(b->loop, &b->sigint);
    ev_signal_start(b->loop, &b->sigterm);
    ev_check_start(b->loop, &b->reaper);

    b->t_start = bench_now_ns();
    if (b->o.publish_url) {
        if (publishers_start(b) < 0) {
            bench_log("out of memory");
            return 1;
        }
    } else {
        bench_publishers_ready(b);
    }
    if (!b->stopping)
        ev_run(b->loop, 0);
    if (!b->stopping)
        bench_stop(b);
    conn_reap(b);

    if (b->dump)
        fclose(b->dump);
    b->dump = NULL;
    report_summary(b, stdout);
    fflush(stdout);
    if (b->o.json_path && report_json(b, b->o.json_path) < 0)
        bench_log("%s: cannot write the JSON result", b->o.json_path);

    int player_ok = b->o.play_url && b->connected > 0;
    int pub_ok = b->o.publish_url && b->pubs_publishing > 0;
    rc = player_ok || pub_ok ? 0 : 1;
    if (rc)
        bench_log("nothing could connect");
    return rc;
}
