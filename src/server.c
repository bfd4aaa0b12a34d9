#include "rtmpd/server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "rtmpd/conn.h"
#include "rtmpd/http.h"
#include "rtmpd/ladder.h"
#include "rtmpd/log.h"
#include "rtmpd/session.h"
#include "rtmpd/stream.h"

/* How long a graceful stop waits for queued bytes to drain. */
#define STOP_GRACE 2.0
/* Bandwidth sampling period. */
#define PROBE_PERIOD 0.5
/* How long the listeners rest when accept fails for want of descriptors or
 * kernel memory. Retrying costs one failed accept4 per listener, so a short
 * pause is cheap even if the shortage lasts; and pending clients wait in the
 * kernel's backlog meanwhile, so a short pause gets them in soon after
 * descriptors are freed (nginx waits 500 ms). */
#define ACCEPT_PAUSE 0.1

uint64_t rtmpd_server_now_us(const struct rtmpd_server *srv)
{
    return (uint64_t)(ev_now(srv->loop) * 1e6);
}

/*
 * Parses "host:port", "[v6]:port" or "*:port" into a socket address.
 * Returns 0 or -1.
 */
static int parse_listen(const char *s, struct sockaddr_storage *ss, socklen_t *len)
{
    char host[RTMPD_CONFIG_ADDR_MAX];
    const char *colon;
    memset(ss, 0, sizeof *ss);
    if (s[0] == '[') {
        const char *end = strchr(s, ']');
        if (!end || end[1] != ':' || (size_t)(end - s - 1) >= sizeof host)
            return -1;
        memcpy(host, s + 1, (size_t)(end - s - 1));
        host[end - s - 1] = '\0';
        colon = end + 1;
    } else {
        colon = strrchr(s, ':');
        if (!colon || (size_t)(colon - s) >= sizeof host)
            return -1;
        memcpy(host, s, (size_t)(colon - s));
        host[colon - s] = '\0';
    }
    char *endp;
    long port = strtol(colon + 1, &endp, 10);
    if (*endp || port < 0 || port > 65535 || endp == colon + 1)
        return -1;
    struct sockaddr_in *in = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
    if (strcmp(host, "*") == 0 || host[0] == '\0') {
        in->sin_family = AF_INET;
        in->sin_addr.s_addr = htonl(INADDR_ANY);
        in->sin_port = htons((uint16_t)port);
        *len = sizeof *in;
    } else if (inet_pton(AF_INET, host, &in->sin_addr) == 1) {
        in->sin_family = AF_INET;
        in->sin_port = htons((uint16_t)port);
        *len = sizeof *in;
    } else if (inet_pton(AF_INET6, host, &in6->sin6_addr) == 1) {
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons((uint16_t)port);
        *len = sizeof *in6;
    } else {
        return -1;
    }
    return 0;
}

static void accept_cb(struct ev_loop *loop, ev_io *w, int revents);

static int listener_open(struct rtmpd_server *srv, struct rtmpd_listener *l, const char *addr,
                         uint8_t kind)
{
    struct sockaddr_storage ss;
    socklen_t len;
    int one = 1;

    snprintf(l->addr, sizeof l->addr, "%s", addr);
    l->srv = srv;
    l->kind = kind;
    l->fd = -1;
    if (parse_listen(addr, &ss, &len) < 0) {
        log_error(0, "listen %s: not an address:port", addr);
        return -1;
    }
    int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        goto fail;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (ss.ss_family == AF_INET6)
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
    if (bind(fd, (struct sockaddr *)&ss, len) < 0 || listen(fd, 1024) < 0) {
        int e = errno;
        close(fd);
        errno = e;
        goto fail;
    }
    l->fd = fd;
    ev_io_init(&l->io, accept_cb, fd, EV_READ);
    l->io.data = l;
    ev_io_start(srv->loop, &l->io);
    if (getsockname(fd, (struct sockaddr *)&ss, &len) == 0)
        log_info(0, "%slistening on %s (port %u)", kind == RTMPD_LISTEN_HTTP ? "http " : "", addr,
                 ntohs(ss.ss_family == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port
                                               : ((struct sockaddr_in6 *)&ss)->sin6_port));
    return 0;
fail:
    log_error(0, "listen %s: %s", addr, strerror(errno));
    return -1;
}

struct rtmpd_conn *rtmpd_server_find_conn(struct rtmpd_server *srv, uint64_t id)
{
    struct rtmpd_list *pos;
    for (pos = srv->conns.next; pos != &srv->conns; pos = pos->next) {
        struct rtmpd_conn *c = rtmpd_container_of(pos, struct rtmpd_conn, link);
        if (c->id == id)
            return c;
    }
    return NULL;
}

/* A flood past max_connections is logged a few lines a second, then
 * counted: every refusal costs the peer nothing, and each line would cost
 * the log. */
#define REFUSAL_LOG_PERIOD_US 1000000u
#define REFUSAL_LOG_BURST 10

static void refusals_flush(struct rtmpd_server *srv, uint64_t now)
{
    uint32_t n = rtmpd_log_limit_flush(&srv->refusal_log, now, REFUSAL_LOG_PERIOD_US);
    if (n)
        log_warn(0, "%u more connections refused, not logged one by one (at most %u lines a "
                 "second)", n, REFUSAL_LOG_BURST);
}

static void listeners_start(struct rtmpd_server *srv)
{
    for (uint32_t i = 0; i < srv->nlisteners; i++)
        ev_io_start(srv->loop, &srv->listeners[i].io);
}

static void listeners_stop(struct rtmpd_server *srv)
{
    for (uint32_t i = 0; i < srv->nlisteners; i++)
        ev_io_stop(srv->loop, &srv->listeners[i].io);
}

/*
 * accept failed for want of descriptors or kernel memory. The connection
 * stays in the backlog and the listener readable: libev, level-triggered,
 * would call accept_cb again at once, forever. Every listener is stopped
 * (descriptors are the whole process's) for ACCEPT_PAUSE, while the
 * connections already open are served. One line per episode: from the
 * first failure until accept works again, however many pauses it takes.
 */
static void accept_pause(struct rtmpd_server *srv, const struct rtmpd_listener *l, int err)
{
    listeners_stop(srv);
    /* Set anew: an expired one-shot timer keeps what was left (<= 0). */
    ev_timer_stop(srv->loop, &srv->accept_pause);
    ev_timer_set(&srv->accept_pause, ACCEPT_PAUSE, 0.);
    ev_timer_start(srv->loop, &srv->accept_pause);
    srv->stats.accept_pauses++;
    if (srv->accept_episode_pauses++ == 0) {
        srv->accept_paused_us = rtmpd_server_now_us(srv);
        log_warn(0, "accept on %s: %s (%u connections): not accepting for %d ms at a time "
                 "until it works again", l->addr, strerror(err), srv->nconns,
                 (int)(ACCEPT_PAUSE * 1000));
    }
}

/* accept worked (or found nothing pending) after an episode of pauses. */
static void accept_resumed(struct rtmpd_server *srv)
{
    uint64_t ms = (rtmpd_server_now_us(srv) - srv->accept_paused_us) / 1000;
    log_info(0, "accepting again after %llu ms (%u pauses, %u connections)",
             (unsigned long long)ms, srv->accept_episode_pauses, srv->nconns);
    srv->accept_episode_pauses = 0;
}

static void accept_pause_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    struct rtmpd_server *srv = w->data;
    if (!srv->stopping)
        listeners_start(srv);
}

static void accept_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)loop;
    (void)revents;
    struct rtmpd_listener *l = w->data;
    struct rtmpd_server *srv = l->srv;

    for (int i = 0; i < 64; i++) {
        struct sockaddr_storage ss;
        socklen_t len = sizeof ss;
        int fd = accept4(l->fd, (struct sockaddr *)&ss, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            int err = errno;
            if (err == EINTR || err == ECONNABORTED)
                continue;
            if (err == EMFILE || err == ENFILE || err == ENOBUFS || err == ENOMEM) {
                accept_pause(srv, l, err);
                return;
            }
            if (srv->accept_episode_pauses)
                accept_resumed(srv);
            if (err != EAGAIN && err != EWOULDBLOCK)
                log_warn(0, "accept on %s: %s", l->addr, strerror(err));
            return;
        }
        if (srv->accept_episode_pauses)
            accept_resumed(srv);
        if (srv->stopping || srv->nconns >= srv->cfg->limits.max_connections) {
            srv->stats.rejected++;
            char host[INET6_ADDRSTRLEN] = "?";
            if (ss.ss_family == AF_INET)
                inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, host, sizeof host);
            else if (ss.ss_family == AF_INET6)
                inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr, host, sizeof host);
            uint64_t now = rtmpd_server_now_us(srv);
            refusals_flush(srv, now);
            if (rtmpd_log_limit_take(&srv->refusal_log, now, REFUSAL_LOG_PERIOD_US,
                                     REFUSAL_LOG_BURST))
                log_warn(0, "connection from %s refused: %s (%u connections)", host,
                         srv->stopping ? "server stopping" : "max_connections reached",
                         srv->nconns);
            close(fd);
            continue;
        }
        srv->stats.accepted++;
        struct rtmpd_conn *c = l->kind == RTMPD_LISTEN_HTTP
                                   ? rtmpd_http_accept(srv, fd, (struct sockaddr *)&ss, len)
                                   : rtmpd_session_accept(srv, fd, (struct sockaddr *)&ss, len);
        if (!c)
            log_error(0, "out of memory accepting a connection");
    }
}

uint32_t rtmpd_merge_step_us(uint32_t min_ms)
{
    uint32_t steps = (min_ms * 1000 + RTMPD_MERGE_STEP_MAX_US - 1) / RTMPD_MERGE_STEP_MAX_US;
    return min_ms * 1000 / (steps ? steps : 1);
}

uint64_t rtmpd_merge_due(uint64_t tick, uint32_t period, uint32_t phase)
{
    uint64_t next = tick + 1;
    return next + (phase + period - next % period) % period;
}

uint32_t rtmpd_merge_phases(uint64_t work_us, uint32_t steps)
{
    uint64_t n = (work_us + RTMPD_MERGE_BURST_US - 1) / RTMPD_MERGE_BURST_US;
    return n < 1 ? 1 : n > steps ? steps : (uint32_t)n;
}

uint32_t rtmpd_merge_phase(uint64_t id, uint32_t period, uint32_t phases)
{
    if (phases > period)
        phases = period;
    if (phases < 1)
        phases = 1;
    return (uint32_t)(id % phases) * period / phases;
}

/* The wheel slot of `c`'s next flush: every merge_ms (in whole steps), at
 * its phase. */
static struct rtmpd_list *merge_slot(struct rtmpd_server *srv, const struct rtmpd_conn *c)
{
    uint32_t period = (uint32_t)((uint64_t)c->merge_ms * 1000 / srv->merge_step_us);
    if (period < 1)
        period = 1;
    if (period > RTMPD_MERGE_SLOTS - 1)
        period = RTMPD_MERGE_SLOTS - 1;
    uint32_t phase = rtmpd_merge_phase(c->id, period, srv->merge_phases);
    uint64_t due = rtmpd_merge_due(srv->merge_tick, period, phase);
    return &srv->merge_wheel[due % RTMPD_MERGE_SLOTS];
}

void rtmpd_server_unflush(struct rtmpd_server *srv, struct rtmpd_conn *c)
{
    if (c->flush_merged && !rtmpd_list_empty(&c->flush_link))
        srv->merge_waiting--;
    rtmpd_list_remove(&c->flush_link);
}

void rtmpd_server_want_flush(struct rtmpd_server *srv, struct rtmpd_conn *c, int urgent)
{
    int merged = c->merge_ms && srv->merge_step_us && !urgent;
    if (c->closing)
        return;
    if (!rtmpd_list_empty(&c->flush_link)) {
        if (merged || (!c->flush_merged && !urgent))
            return;
        rtmpd_server_unflush(srv, c); /* promoted out of the merge window or forward */
    }
    c->flush_merged = (uint8_t)merged;
    if (!merged) {
        /* Replies and first bursts go before the live frames queued in
         * this iteration: with thousands of players a new one's every
         * round trip would otherwise wait behind all their writes. */
        if (urgent)
            rtmpd_list_insert_head(&srv->flush_now, &c->flush_link);
        else
            rtmpd_list_insert_tail(&srv->flush_now, &c->flush_link);
        return;
    }
    /* The timer runs only while someone waits on the wheel: an idle server
     * does not wake every step. Restarted, it ticks one step from now. */
    if (srv->merge_waiting++ == 0 && !ev_is_active(&srv->merge_timer))
        ev_timer_again(srv->loop, &srv->merge_timer);
    rtmpd_list_insert_tail(merge_slot(srv, c), &c->flush_link);
}

void rtmpd_server_want_close(struct rtmpd_server *srv, struct rtmpd_conn *c)
{
    rtmpd_server_unflush(srv, c);
    if (rtmpd_list_empty(&c->close_link))
        rtmpd_list_insert_tail(&srv->closing, &c->close_link);
}

/* A safe point writes for at most limits.write_slice_us, reading the clock
 * every this many connections. */
#define FLUSH_CLOCK_EVERY 16

static uint64_t mono_us(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000 + (uint64_t)t.tv_nsec / 1000;
}

/* Flushes the connections on `head` in order, for at most `budget_us` of
 * writes when it is not 0 (the clock is read every FLUSH_CLOCK_EVERY
 * connections). Returns 1 when the list is empty. */
static int flush_list(struct rtmpd_server *srv, struct rtmpd_list *head, uint64_t budget_us)
{
    uint64_t end = budget_us ? mono_us() + budget_us : 0;
    uint32_t n = 0;

    while (!rtmpd_list_empty(head)) {
        struct rtmpd_conn *c = rtmpd_container_of(head->next, struct rtmpd_conn, flush_link);
        /* Each write in between evicts the next connections' state: fetch
         * the one after next, and the next one's queue head, ahead. */
        struct rtmpd_list *n1 = c->flush_link.next;
        if (n1 != head) {
            const struct rtmpd_conn *nc = rtmpd_container_of(n1, struct rtmpd_conn, flush_link);
            __builtin_prefetch(n1->next);
            if (nc->qlen)
                __builtin_prefetch(&nc->q[nc->qhead]);
        }
        rtmpd_server_unflush(srv, c);
        rtmpd_conn_flush(c);
        if (end && ++n % FLUSH_CLOCK_EVERY == 0 && mono_us() >= end)
            return rtmpd_list_empty(head);
    }
    return 1;
}

static void close_pending(struct rtmpd_server *srv)
{
    while (!rtmpd_list_empty(&srv->closing)) {
        struct rtmpd_conn *c = rtmpd_container_of(srv->closing.next, struct rtmpd_conn, close_link);
        rtmpd_list_remove(&c->close_link);
        if (c->ops->on_close)
            c->ops->on_close(c->ud);
        rtmpd_conn_free(c);
    }
}

/* The loop's safe point: runs before it blocks, after every callback of the
 * iteration. Closes first (closing may queue notices to others), then
 * writes everything queued in this iteration, one sendmsg per connection. */
static void prepare_cb(struct ev_loop *loop, ev_prepare *w, int revents)
{
    (void)revents;
    struct rtmpd_server *srv = w->data;
    close_pending(srv);
    /* Writes for at most write_slice_us: what is left goes on after the
     * loop polled once more (without blocking), so that replies to other
     * clients and the publishers' input do not wait behind thousands of
     * players' writes. Frames arriving meanwhile join the queues of the
     * players still waiting, which then take them in the same write. */
    if (flush_list(srv, &srv->flush_now, srv->cfg->limits.write_slice_us)) {
        ev_idle_stop(loop, &srv->flush_more);
    } else {
        srv->stats.write_slices_deferred++;
        ev_idle_start(loop, &srv->flush_more);
    }
    close_pending(srv);
    if (srv->stopping && srv->nconns == 0)
        ev_break(loop, EVBREAK_ALL);
}

/* Active while the last safe point left connections to flush: the loop
 * then polls without blocking and the next safe point goes on with them. */
static void flush_more_cb(struct ev_loop *loop, ev_idle *w, int revents)
{
    (void)loop;
    (void)w;
    (void)revents;
}

static void merge_timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)revents;
    struct rtmpd_server *srv = w->data;
    struct rtmpd_list *slot = &srv->merge_wheel[++srv->merge_tick % RTMPD_MERGE_SLOTS];
    if (!rtmpd_list_empty(slot)) {
        uint64_t t0 = mono_us();
        flush_list(srv, slot, 0);
        srv->merge_work_us += mono_us() - t0;
    }
    /* Once a window: as many phases as the time its writes took asks for. */
    if (srv->merge_tick % srv->merge_steps == 0) {
        srv->merge_work_avg_us = (3 * srv->merge_work_avg_us + srv->merge_work_us) / 4;
        srv->merge_work_us = 0;
        srv->merge_phases = rtmpd_merge_phases(srv->merge_work_avg_us, srv->merge_steps);
    }
    if (srv->merge_waiting == 0)
        ev_timer_stop(loop, w);
}

static void tick_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    struct rtmpd_server *srv = w->data;
    uint64_t now = rtmpd_server_now_us(srv);
    refusals_flush(srv, now);
    rtmpd_registry_tick(srv->registry, now);
}

static void probe_tick_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)revents;
    struct rtmpd_server *srv = w->data;
    struct rtmpd_list *pos, *tmp;
    rtmpd_list_foreach_safe(pos, tmp, &srv->probed) {
        rtmpd_conn_probe_sample(rtmpd_container_of(pos, struct rtmpd_conn, probe_link));
    }
    if (rtmpd_list_empty(&srv->probed))
        ev_timer_stop(loop, w);
}

/* Puts `link` on `list`, which `timer` serves: the timer runs only while
 * the list is not empty (its callback stops it when it finds it empty). */
static void timed_list_add(struct rtmpd_server *srv, struct rtmpd_list *list,
                           struct rtmpd_list *link, ev_timer *timer)
{
    if (!rtmpd_list_empty(link))
        return;
    rtmpd_list_insert_tail(list, link);
    if (!ev_is_active(timer))
        ev_timer_again(srv->loop, timer);
}

void rtmpd_server_want_probe(struct rtmpd_server *srv, struct rtmpd_conn *c)
{
    timed_list_add(srv, &srv->probed, &c->probe_link, &srv->probe_tick);
}

void rtmpd_server_want_burst_check(struct rtmpd_server *srv, struct rtmpd_conn *c)
{
    timed_list_add(srv, &srv->bursts, &c->burst_link, &srv->burst_tick);
}

static void burst_tick_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)revents;
    struct rtmpd_server *srv = w->data;
    struct rtmpd_list *pos, *tmp;
    rtmpd_list_foreach_safe(pos, tmp, &srv->bursts) {
        struct rtmpd_conn *c = rtmpd_container_of(pos, struct rtmpd_conn, burst_link);
        if (rtmpd_conn_probe_burst(c))
            rtmpd_list_remove(&c->burst_link);
    }
    if (rtmpd_list_empty(&srv->bursts))
        ev_timer_stop(loop, w);
}

static void stop_timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)w;
    (void)revents;
    ev_break(loop, EVBREAK_ALL);
}

static void signal_cb(struct ev_loop *loop, ev_signal *w, int revents)
{
    (void)loop;
    (void)revents;
    struct rtmpd_server *srv = w->data;
    log_info(0, "signal %d: stopping", w->signum);
    rtmpd_server_stop(srv);
}

/* SIGHUP: log rotation (logrotate's postrotate kill -HUP) renamed the log
 * files; write to new ones at their paths. Nothing else changes: clients,
 * configuration and listeners stay as they are. */
static void sighup_cb(struct ev_loop *loop, ev_signal *w, int revents)
{
    (void)loop;
    (void)revents;
    const struct rtmpd_server *srv = w->data;
    const char *path = rtmpd_log_access_path();
    int r = rtmpd_log_reopen();
    if (r > 0)
        log_info(0, "signal %d (SIGHUP): reopened the access log %s", w->signum, path);
    else if (r == 0)
        log_info(0, "signal %d (SIGHUP): no log file to reopen (the log goes to stderr, the "
                 "access log to %s)", w->signum, srv->cfg->log.access_log);
    else
        log_error(0, "signal %d (SIGHUP): reopening the access log %s: %s; still writing to the "
                  "file opened before", w->signum, path, strerror(errno));
}

void rtmpd_server_stop(struct rtmpd_server *srv)
{
    if (srv->stopping)
        return;
    srv->stopping = 1;
    ev_timer_stop(srv->loop, &srv->accept_pause);
    for (uint32_t i = 0; i < srv->nlisteners; i++) {
        ev_io_stop(srv->loop, &srv->listeners[i].io);
        close(srv->listeners[i].fd);
        srv->listeners[i].fd = -1;
    }
    srv->nlisteners = 0;
    /* Publishers first, so their players are told the stream ended. */
    struct rtmpd_list *pos, *tmp;
    rtmpd_list_foreach_safe(pos, tmp, &srv->conns) {
        struct rtmpd_conn *c = rtmpd_container_of(pos, struct rtmpd_conn, link);
        if (c->ops->on_shutdown)
            c->ops->on_shutdown(c->ud, 1);
    }
    rtmpd_list_foreach_safe(pos, tmp, &srv->conns) {
        struct rtmpd_conn *c = rtmpd_container_of(pos, struct rtmpd_conn, link);
        if (c->ops->on_shutdown)
            c->ops->on_shutdown(c->ud, 0);
        else
            rtmpd_conn_close_after_flush(c, "server shutting down");
    }
    for (uint32_t i = 0; i < RTMPD_MERGE_SLOTS; i++)
        flush_list(srv, &srv->merge_wheel[i], 0);
    ev_timer_start(srv->loop, &srv->stop_timer);
}

int rtmpd_server_init(struct rtmpd_server *srv, struct ev_loop *loop,
                      const struct rtmpd_config *cfg)
{
    memset(srv, 0, offsetof(struct rtmpd_server, rbuf));
    srv->loop = loop;
    srv->cfg = cfg;
    rtmpd_list_init(&srv->conns);
    rtmpd_list_init(&srv->flush_now);
    for (uint32_t i = 0; i < RTMPD_MERGE_SLOTS; i++)
        rtmpd_list_init(&srv->merge_wheel[i]);
    rtmpd_list_init(&srv->closing);
    rtmpd_list_init(&srv->probed);
    rtmpd_list_init(&srv->bursts);
    rtmpd_list_init(&srv->ladders);
    srv->started_us = rtmpd_server_now_us(srv);

    srv->registry = rtmpd_registry_new(srv);
    if (!srv->registry)
        return -1;

    for (uint32_t i = 0; i < cfg->listen.n + cfg->http.listen.n; i++) {
        int http = i >= cfg->listen.n;
        const char *addr = http ? cfg->http.listen.v[i - cfg->listen.n] : cfg->listen.v[i];
        if (listener_open(srv, &srv->listeners[i], addr,
                          http ? RTMPD_LISTEN_HTTP : RTMPD_LISTEN_RTMP) < 0) {
            rtmpd_server_release(srv);
            return -1;
        }
        srv->nlisteners++;
    }

    ev_prepare_init(&srv->prepare, prepare_cb);
    srv->prepare.data = srv;
    ev_prepare_start(loop, &srv->prepare);

    uint32_t merge = 0;
    for (uint32_t i = 0; i < cfg->napps; i++) {
        uint32_t m = cfg->apps[i].queue.merge_ms;
        if (m && (!merge || m < merge))
            merge = m;
    }
    srv->merge_step_us = merge ? rtmpd_merge_step_us(merge) : 0;
    srv->merge_steps = merge ? merge * 1000 / srv->merge_step_us : 1;
    srv->merge_phases = 1;
    ev_timer_init(&srv->merge_timer, merge_timer_cb, srv->merge_step_us / 1e6,
                  srv->merge_step_us / 1e6);
    srv->merge_timer.data = srv; /* started by the first merged flush */
    ev_idle_init(&srv->flush_more, flush_more_cb);

    ev_timer_init(&srv->tick, tick_cb, 1., 1.);
    srv->tick.data = srv;
    ev_timer_start(loop, &srv->tick);

    /* Runs only while some connection is probed (an idle server sleeps). */
    ev_timer_init(&srv->probe_tick, probe_tick_cb, PROBE_PERIOD, PROBE_PERIOD);
    srv->probe_tick.data = srv;
    ev_init(&srv->burst_tick, burst_tick_cb);
    srv->burst_tick.repeat = RTMPD_CONN_BURST_TICK_US / 1e6;
    srv->burst_tick.data = srv;

    ev_timer_init(&srv->stop_timer, stop_timer_cb, STOP_GRACE, 0.);
    srv->stop_timer.data = srv;
    ev_timer_init(&srv->accept_pause, accept_pause_cb, ACCEPT_PAUSE, 0.);
    srv->accept_pause.data = srv;

    ev_signal_init(&srv->sigint, signal_cb, SIGINT);
    ev_signal_init(&srv->sigterm, signal_cb, SIGTERM);
    ev_signal_init(&srv->sighup, sighup_cb, SIGHUP);
    srv->sigint.data = srv->sigterm.data = srv->sighup.data = srv;
    ev_signal_start(loop, &srv->sigint);
    ev_signal_start(loop, &srv->sigterm);
    ev_signal_start(loop, &srv->sighup);
    signal(SIGPIPE, SIG_IGN);
    return 0;
}

int rtmpd_server_run(struct rtmpd_server *srv)
{
    ev_run(srv->loop, 0);
    return 0;
}

void rtmpd_server_release(struct rtmpd_server *srv)
{
    struct rtmpd_list *pos, *tmp;
    for (uint32_t i = 0; i < srv->nlisteners; i++) {
        ev_io_stop(srv->loop, &srv->listeners[i].io);
        if (srv->listeners[i].fd >= 0)
            close(srv->listeners[i].fd);
    }
    srv->nlisteners = 0;
    rtmpd_list_foreach_safe(pos, tmp, &srv->conns) {
        struct rtmpd_conn *c = rtmpd_container_of(pos, struct rtmpd_conn, link);
        rtmpd_conn_close(c, "server stopped");
    }
    close_pending(srv);
    ev_prepare_stop(srv->loop, &srv->prepare);
    ev_idle_stop(srv->loop, &srv->flush_more);
    ev_timer_stop(srv->loop, &srv->merge_timer);
    ev_timer_stop(srv->loop, &srv->stop_timer);
    ev_timer_stop(srv->loop, &srv->accept_pause);
    ev_timer_stop(srv->loop, &srv->tick);
    ev_timer_stop(srv->loop, &srv->probe_tick);
    ev_timer_stop(srv->loop, &srv->burst_tick);
    ev_signal_stop(srv->loop, &srv->sigint);
    ev_signal_stop(srv->loop, &srv->sigterm);
    ev_signal_stop(srv->loop, &srv->sighup);
    rtmpd_ladder_shutdown(srv);
    rtmpd_registry_free(srv->registry);
    srv->registry = NULL;
}
