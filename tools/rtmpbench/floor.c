/*
 * rtmpbench --floor — the kernel's cost of a fan-out's writes, with no
 * server in the way.
 *
 * A server that sends one stream to N players makes at least a given
 * number of socket writes of given sizes, set by its latency bound: one per
 * player per frame when it writes at once, one per player per window when
 * it merges writes over a window. This mode makes exactly those writes and
 * nothing else: it replays --file's messages in real time (looped) into one
 * byte log, each message sized as its RTMP chunks would be (a 12-byte header
 * and a 1-byte separator per chunk of --chunk-size), and writes each
 * player's unsent part of the log to its loopback TCP socket, either after
 * every message that came due (--merge-ms 0) or once per window, the players'
 * flushes spread evenly over steps of at most 5 ms as rtmpd's merge wheel
 * does. The sockets are set up as rtmpd sets up its own (TCP_NODELAY,
 * TCP_NOTSENT_LOWAT 128 KiB). A child process, pinned with --reader-cpu,
 * reads every socket and counts the bytes.
 *
 * The writer's CPU time (this process, pinned by the caller) over the
 * window after --warmup is the floor a fan-out server's CPU is compared
 * with at the same players and latency bound.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"

#define FLOOR_LOG_BYTES (32u << 20)   /* the byte log (a ring): seconds of any stream */
#define FLOOR_NOTSENT_LOWAT (128 * 1024)
#define FLOOR_STEP_MAX_US 5000u
#define FLOOR_READ_EVENTS 256

struct floor_opts {
    uint32_t n;
    uint32_t merge_ms;
    uint32_t chunk_size;
    double duration, warmup;
    int reader_cpu;
    const char *file, *json;
};

struct floor_player {
    int fd;
    uint64_t sent;   /* log offset written up to */
};

struct floor {
    struct floor_opts o;
    struct media media;
    struct floor_player *pl;
    uint8_t *log;
    uint64_t head;            /* log bytes appended */
    uint64_t writes, short_writes, bytes, lagged;
    uint64_t messages, batches; /* appended; batches: messages due at one wakeup */
    uint64_t w_writes, w_bytes, w_messages, w_batches; /* at the start of the window */
};

static void floor_usage(FILE *f)
{
    fprintf(f,
            "usage: rtmpbench --floor -n N --file FILE.flv [options]\n"
            "  -n N               sockets (players) to write to\n"
            "  --file FILE.flv    media whose messages are replayed in real time\n"
            "  --merge-ms W       0: write after every message; W: once per W ms (default 0)\n"
            "  --chunk-size N     chunk size the message sizes assume (default 4096)\n"
            "  --duration S       seconds to run (default 10)\n"
            "  --warmup S         seconds before the measured window (default 2)\n"
            "  --reader-cpu C     pin the reading process to CPU C (default: not pinned)\n"
            "  --json FILE        write the result as JSON\n");
}

static int floor_options(struct floor_opts *o, int argc, char **argv)
{
    enum { O_FILE = 256, O_MERGE, O_CHUNK, O_DURATION, O_WARMUP, O_READER, O_JSON, O_FLOOR };
    static const struct option longopts[] = {
        { "floor", no_argument, NULL, O_FLOOR },
        { "file", required_argument, NULL, O_FILE },
        { "merge-ms", required_argument, NULL, O_MERGE },
        { "chunk-size", required_argument, NULL, O_CHUNK },
        { "duration", required_argument, NULL, O_DURATION },
        { "warmup", required_argument, NULL, O_WARMUP },
        { "reader-cpu", required_argument, NULL, O_READER },
        { "json", required_argument, NULL, O_JSON },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    uint32_t cpu;
    int ch;

    o->n = 1;
    o->chunk_size = 4096;
    o->duration = 10;
    o->warmup = 2;
    o->reader_cpu = -1;
    optind = 1;
    while ((ch = getopt_long(argc, argv, "n:h", longopts, NULL)) != -1) {
        switch (ch) {
        case O_FLOOR: break;
        case 'n':
            if (bench_parse_u32("-n", optarg, 1, 1000000, &o->n) < 0)
                return -1;
            break;
        case O_FILE: o->file = optarg; break;
        case O_MERGE:
            if (bench_parse_u32("--merge-ms", optarg, 0, 10000, &o->merge_ms) < 0)
                return -1;
            break;
        case O_CHUNK:
            if (bench_parse_u32("--chunk-size", optarg, 128, 16777215, &o->chunk_size) < 0)
                return -1;
            break;
        case O_DURATION:
            if (bench_parse_double("--duration", optarg, 0.1, &o->duration) < 0)
                return -1;
            break;
        case O_WARMUP:
            if (bench_parse_double("--warmup", optarg, 0, &o->warmup) < 0)
                return -1;
            break;
        case O_READER:
            if (bench_parse_u32("--reader-cpu", optarg, 0, CPU_SETSIZE - 1, &cpu) < 0)
                return -1;
            o->reader_cpu = (int)cpu;
            break;
        case O_JSON: o->json = optarg; break;
        case 'h': floor_usage(stdout); exit(0);
        default: return -1;
        }
    }
    if (optind < argc) {
        bench_log("unexpected argument '%s'", argv[optind]);
        return -1;
    }
    if (!o->file) {
        bench_log("--floor needs --file");
        return -1;
    }
    if (o->warmup >= o->duration) {
        bench_log("--warmup must be shorter than --duration");
        return -1;
    }
    return 0;
}

/* N connected loopback pairs: the writer's ends in pl[], the reader's in rd[]. */
static int floor_connect(struct floor *fl, int *rd)
{
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t alen = sizeof a;
    int one = 1, lowat = FLOOR_NOTSENT_LOWAT;
    int ls = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

    if (ls < 0 || bind(ls, (struct sockaddr *)&a, sizeof a) < 0 ||
        getsockname(ls, (struct sockaddr *)&a, &alen) < 0 || listen(ls, 4096) < 0) {
        bench_log("listen on 127.0.0.1: %s", strerror(errno));
        return -1;
    }
    for (uint32_t i = 0; i < fl->o.n; i++) {
        rd[i] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (rd[i] < 0 || connect(rd[i], (struct sockaddr *)&a, sizeof a) < 0) {
            bench_log("connect %u: %s", i, strerror(errno));
            return -1;
        }
        int fd = accept4(ls, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            bench_log("accept %u: %s", i, strerror(errno));
            return -1;
        }
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        setsockopt(fd, IPPROTO_TCP, TCP_NOTSENT_LOWAT, &lowat, sizeof lowat);
        fl->pl[i].fd = fd;
    }
    close(ls);
    return 0;
}

/* The reading side: reads every socket to its end, then reports the total
 * on `out`. */
static void floor_reader(const struct floor_opts *o, int *rd, int out)
{
    static uint8_t buf[65536];
    struct epoll_event ev[FLOOR_READ_EVENTS];
    uint64_t total = 0;
    uint32_t open = o->n;
    int ep = epoll_create1(0);

    if (o->reader_cpu >= 0) {
        cpu_set_t set;
        CPU_ZERO(&set);
        CPU_SET(o->reader_cpu, &set);
        sched_setaffinity(0, sizeof set, &set);
    }
    for (uint32_t i = 0; i < o->n; i++) {
        struct epoll_event e = { .events = EPOLLIN, .data.fd = rd[i] };
        fcntl(rd[i], F_SETFL, O_NONBLOCK);
        epoll_ctl(ep, EPOLL_CTL_ADD, rd[i], &e);
    }
    while (open) {
        int k = epoll_wait(ep, ev, FLOOR_READ_EVENTS, -1);
        if (k < 0 && errno != EINTR)
            break;
        for (int i = 0; i < k; i++) {
            ssize_t r = recv(ev[i].data.fd, buf, sizeof buf, 0);
            if (r > 0) {
                total += (uint64_t)r;
            } else if (r == 0 || (errno != EAGAIN && errno != EINTR)) {
                epoll_ctl(ep, EPOLL_CTL_DEL, ev[i].data.fd, NULL);
                open--;
            }
        }
    }
    if (write(out, &total, sizeof total) != (ssize_t)sizeof total)
        _exit(1);
    _exit(0);
}

/* Appends one message, sized as its chunks would be, to the log. */
static void floor_append(struct floor *fl, const struct media_tag *t)
{
    uint32_t chunks = t->len ? (t->len + fl->o.chunk_size - 1) / fl->o.chunk_size : 1;
    uint64_t size = 12 + (uint64_t)t->len + (chunks - 1);
    uint64_t at = fl->head % FLOOR_LOG_BYTES;

    for (uint64_t done = 0; done < size;) {
        uint64_t room = FLOOR_LOG_BYTES - at, n = size - done < room ? size - done : room;
        /* The payload's bytes (the header and separators' places too):
         * what is written is never compared, only counted. */
        for (uint64_t k = 0; k < n;) {
            uint64_t src = (done + k) % (t->len ? t->len : 1), m = n - k;
            if (t->len && m > t->len - src)
                m = t->len - src;
            if (t->len)
                memcpy(fl->log + at + k, t->data + src, m);
            else
                memset(fl->log + at + k, 0, m);
            k += m;
        }
        done += n;
        at = 0;
    }
    fl->head += size;
    fl->messages++;
}

/* Writes a player's unsent part of the log (one sendmsg, as rtmpd). */
static void floor_flush(struct floor *fl, struct floor_player *p)
{
    if (fl->head - p->sent > FLOOR_LOG_BYTES) {
        fl->lagged++;
        p->sent = fl->head; /* this floor did not keep up: skip, and say so */
        return;
    }
    uint64_t len = fl->head - p->sent;
    if (!len)
        return;
    uint64_t at = p->sent % FLOOR_LOG_BYTES, first = FLOOR_LOG_BYTES - at;
    struct iovec iov[2] = { { fl->log + at, len < first ? len : first }, { fl->log, 0 } };
    if (len > first)
        iov[1].iov_len = len - first;
    struct msghdr mh = { .msg_iov = iov, .msg_iovlen = len > first ? 2 : 1 };
    ssize_t w = sendmsg(p->fd, &mh, MSG_NOSIGNAL);
    fl->writes++;
    if (w > 0) {
        p->sent += (uint64_t)w;
        fl->bytes += (uint64_t)w;
    }
    if (w < 0 || (uint64_t)w < len)
        fl->short_writes++;
}

static int64_t now_us(void)
{
    return bench_now_ns() / 1000;
}

static void sleep_until_us(int64_t t)
{
    struct timespec ts = { .tv_sec = t / 1000000, .tv_nsec = (t % 1000000) * 1000 };
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR) {
    }
}

static void floor_json(const struct floor *fl, FILE *f, double window_s, double cpu_s,
                       uint64_t received, uint32_t step_us)
{
    fprintf(f,
            "{\"floor\":{\"players\":%u,\"merge_ms\":%u,\"step_us\":%u,\"chunk_size\":%u,"
            "\"window_s\":%.3f,\"cpu_s\":%.3f,\"cpu_percent\":%.2f,\"writes\":%llu,"
            "\"writes_per_s\":%.1f,\"bytes\":%llu,\"mbps\":%.3f,\"short_writes\":%llu,"
            "\"lagged\":%llu,\"total_written\":%llu,\"total_received\":%llu,"
            "\"messages\":%llu,\"batches\":%llu,\"file_bitrate_kbps\":%.1f}}\n",
            fl->o.n, fl->o.merge_ms, step_us, fl->o.chunk_size, window_s, cpu_s,
            100.0 * cpu_s / window_s, (unsigned long long)(fl->writes - fl->w_writes),
            (double)(fl->writes - fl->w_writes) / window_s,
            (unsigned long long)(fl->bytes - fl->w_bytes),
            (double)(fl->bytes - fl->w_bytes) * 8 / window_s / 1e6,
            (unsigned long long)fl->short_writes, (unsigned long long)fl->lagged,
            (unsigned long long)fl->bytes, (unsigned long long)received,
            (unsigned long long)(fl->messages - fl->w_messages),
            (unsigned long long)(fl->batches - fl->w_batches), fl->media.bitrate_bps / 1000.0);
}

int floor_main(int argc, char **argv)
{
    static struct floor fl;
    int pipefd[2], *rd;

    if (floor_options(&fl.o, argc, argv) < 0) {
        fprintf(stderr, "rtmpbench: see rtmpbench --floor --help\n");
        return 1;
    }
    signal(SIGPIPE, SIG_IGN);
    bench_raise_nofile();
    if (media_load(&fl.media, fl.o.file) < 0)
        return 1;
    fl.pl = calloc(fl.o.n, sizeof *fl.pl);
    rd = calloc(fl.o.n, sizeof *rd);
    fl.log = malloc(FLOOR_LOG_BYTES);
    if (!fl.pl || !rd || !fl.log || pipe(pipefd) < 0) {
        bench_log("out of memory");
        return 1;
    }
    if (floor_connect(&fl, rd) < 0)
        return 1;
    pid_t reader = fork();
    if (reader < 0) {
        bench_log("fork: %s", strerror(errno));
        return 1;
    }
    if (reader == 0) {
        for (uint32_t i = 0; i < fl.o.n; i++)
            close(fl.pl[i].fd);
        close(pipefd[0]);
        floor_reader(&fl.o, rd, pipefd[1]);
    }
    for (uint32_t i = 0; i < fl.o.n; i++)
        close(rd[i]);
    free(rd);
    close(pipefd[1]);

    /* The flush schedule: with a window, steps of at most 5 ms, each
     * flushing the players whose turn falls in it (player i at i/N of the
     * window). */
    uint32_t steps = fl.o.merge_ms ? (fl.o.merge_ms * 1000 + FLOOR_STEP_MAX_US - 1) /
                                         FLOOR_STEP_MAX_US : 0;
    uint32_t step_us = steps ? fl.o.merge_ms * 1000 / steps : 0;
    const struct media *m = &fl.media;
    size_t next = 0;
    uint64_t loop = 0, flushed = 0; /* player turns taken, over all windows */
    int64_t t0 = now_us(), end = t0 + (int64_t)(fl.o.duration * 1e6);
    int64_t w0 = t0 + (int64_t)(fl.o.warmup * 1e6), next_step = t0 + step_us;
    double cpu0 = 0;
    int measuring = 0;

    for (;;) {
        int64_t now = now_us();
        if (!measuring && now >= w0) {
            measuring = 1;
            cpu0 = bench_cpu_seconds();
            w0 = now;
            fl.w_writes = fl.writes;
            fl.w_bytes = fl.bytes;
            fl.w_messages = fl.messages;
            fl.w_batches = fl.batches;
        }
        if (now >= end)
            break;
        int64_t due;
        int appended = 0;
        for (;;) {
            const struct media_tag *t = &m->tags[next];
            if (!(t->once && loop > 0)) { /* sequence headers and metadata: once */
                due = t0 + ((int64_t)t->ts + (int64_t)loop * m->period_ms) * 1000;
                if (due > now)
                    break;
                floor_append(&fl, t);
                appended = 1;
            }
            if (++next == m->ntags) {
                next = 0;
                loop++;
            }
        }
        fl.batches += appended;
        if (!steps) {
            if (appended)
                for (uint32_t i = 0; i < fl.o.n; i++)
                    floor_flush(&fl, &fl.pl[i]);
        } else if (now >= next_step) {
            /* Turns up to now; at most one per player if the loop fell behind. */
            uint64_t turns = (uint64_t)(now - t0) * fl.o.n / ((uint64_t)fl.o.merge_ms * 1000);
            if (turns - flushed > fl.o.n)
                flushed = turns - fl.o.n;
            for (; flushed < turns; flushed++)
                floor_flush(&fl, &fl.pl[flushed % fl.o.n]);
            next_step += step_us * (1 + (now - next_step) / step_us);
        }
        int64_t wake = steps && next_step < due ? next_step : due;
        if (wake > end)
            wake = end;
        sleep_until_us(wake);
    }
    double cpu_s = bench_cpu_seconds() - cpu0, window_s = (double)(now_us() - w0) / 1e6;

    for (uint32_t i = 0; i < fl.o.n; i++)
        close(fl.pl[i].fd);
    uint64_t received = 0;
    if (read(pipefd[0], &received, sizeof received) != (ssize_t)sizeof received)
        bench_log("the reading process reported nothing");
    waitpid(reader, NULL, 0);

    printf("floor players=%u merge_ms=%u cpu=%.1f%% writes_per_s=%.0f mbps=%.1f "
           "short_writes=%llu lagged=%llu written=%llu received=%llu\n",
           fl.o.n, fl.o.merge_ms, 100.0 * cpu_s / window_s,
           (double)(fl.writes - fl.w_writes) / window_s,
           (double)(fl.bytes - fl.w_bytes) * 8 / window_s / 1e6,
           (unsigned long long)fl.short_writes, (unsigned long long)fl.lagged,
           (unsigned long long)fl.bytes, (unsigned long long)received);
    int rc = received == fl.bytes ? 0 : 1;
    if (fl.o.json) {
        FILE *f = fopen(fl.o.json, "w");
        if (f) {
            floor_json(&fl, f, window_s, cpu_s, received, step_us);
            fclose(f);
        } else {
            bench_log("%s: %s", fl.o.json, strerror(errno));
            rc = 1;
        }
    }
    close(pipefd[0]);
    free(fl.pl);
    free(fl.log);
    media_free(&fl.media);
    return rc;
}
