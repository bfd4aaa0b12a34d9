#include "rtmpd/conn.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <linux/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "rtmpd/log.h"
#include "rtmpd/server.h"

#define CONN_IOV_MAX 64
#define CONN_QUEUE_MIN 8
/* Unsent bytes the kernel may hold for a socket (TCP_NOTSENT_LOWAT). */
#define CONN_NOTSENT_LOWAT (128 * 1024)
/* A write at least this large to an idle connection is timed. */
#define CONN_BURST_MIN 4096
/* A burst not delivered within this is abandoned. */
#define CONN_BURST_TIMEOUT_US 2000000u
/* Connections start on a cache line, so the hot fields at the start of
 * struct rtmpd_conn share one. */
#define CONN_ALIGN 64
/* Grace period for close-after-flush: a peer that does not read is cut. */
#define CONN_FLUSH_GRACE 2.0
/* Unwritten bytes a connection may hold beyond the largest player backlog
 * an app allows (see conn_queue_cap). */
#define CONN_QUEUE_SLACK (1024 * 1024)

static void conn_read_cb(struct ev_loop *loop, ev_io *w, int revents);
static void conn_write_cb(struct ev_loop *loop, ev_io *w, int revents);
static void conn_timer_cb(struct ev_loop *loop, ev_timer *w, int revents);

static void format_peer(char *out, size_t len, const struct sockaddr *sa)
{
    char host[INET6_ADDRSTRLEN] = "?";
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)(const void *)sa;
        inet_ntop(AF_INET, &in->sin_addr, host, sizeof host);
        snprintf(out, len, "%s:%u", host, ntohs(in->sin_port));
    } else if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)(const void *)sa;
        inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof host);
        snprintf(out, len, "[%s]:%u", host, ntohs(in6->sin6_port));
    } else {
        snprintf(out, len, "unknown");
    }
}

struct rtmpd_conn *rtmpd_conn_new(struct rtmpd_server *srv, int fd, const struct sockaddr *peer,
                                  socklen_t peerlen, const struct rtmpd_conn_ops *ops)
{
    size_t size = (sizeof(struct rtmpd_conn) + CONN_ALIGN - 1) / CONN_ALIGN * CONN_ALIGN;
    struct rtmpd_conn *c = aligned_alloc(CONN_ALIGN, size);
    if (!c) {
        close(fd);
        return NULL;
    }
    memset(c, 0, size);
    c->id = ++srv->next_id;
    c->fd = fd;
    c->srv = srv;
    c->ops = ops;
    format_peer(c->peer, sizeof c->peer, peer);
    if (peerlen <= sizeof c->peer_addr)
        memcpy(&c->peer_addr, peer, peerlen);
    c->started_us = c->last_in_us = c->last_drain_us = rtmpd_server_now_us(srv);
    rtmpd_list_init(&c->link);
    rtmpd_list_init(&c->flush_link);
    rtmpd_list_init(&c->close_link);
    rtmpd_list_init(&c->probe_link);
    rtmpd_list_init(&c->burst_link);

    /* No Nagle: the server batches writes itself. And keep the backlog of a
     * slow peer in our queue, not in a socket buffer the kernel grows to
     * megabytes: only what we hold can be measured, dropped by priority and
     * bounded by configuration. Bytes in flight are not limited by this. */
    int one = 1, lowat = CONN_NOTSENT_LOWAT;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    setsockopt(fd, IPPROTO_TCP, TCP_NOTSENT_LOWAT, &lowat, sizeof lowat);

    ev_io_init(&c->rio, conn_read_cb, fd, EV_READ);
    ev_io_init(&c->wio, conn_write_cb, fd, EV_WRITE);
    ev_init(&c->timer, conn_timer_cb);
    c->rio.data = c->wio.data = c->timer.data = c;

    rtmpd_list_insert_tail(&srv->conns, &c->link);
    srv->nconns++;
    return c;
}

void rtmpd_conn_start(struct rtmpd_conn *c, uint32_t handshake_timeout_ms)
{
    ev_io_start(c->srv->loop, &c->rio);
    ev_timer_set(&c->timer, handshake_timeout_ms / 1000.0, 0.);
    ev_timer_start(c->srv->loop, &c->timer);
}

void rtmpd_conn_set_timer(struct rtmpd_conn *c, uint32_t ms)
{
    ev_timer_stop(c->srv->loop, &c->timer);
    if (ms && !c->closing) {
        ev_timer_set(&c->timer, ms / 1000.0, 0.);
        ev_timer_start(c->srv->loop, &c->timer);
    }
}

void rtmpd_conn_established(struct rtmpd_conn *c, uint32_t idle_timeout_ms)
{
    c->established = 1;
    ev_timer_stop(c->srv->loop, &c->timer);
    /* Checked four times per timeout: a peer quiet for half of it is
     * pinged (and a ping answered resets the clock) well before the
     * timeout can cut it, whatever the timer's phase. */
    double quarter = idle_timeout_ms / 4000.0;
    ev_timer_set(&c->timer, quarter, quarter);
    ev_timer_start(c->srv->loop, &c->timer);
}

static int queue_grow(struct rtmpd_conn *c)
{
    uint32_t cap = c->qcap ? c->qcap * 2 : CONN_QUEUE_MIN;
    struct rtmpd_out *q = malloc(cap * sizeof *q);
    if (!q)
        return -1;
    for (uint32_t i = 0; i < c->qlen; i++)
        q[i] = c->q[(c->qhead + i) % c->qcap];
    free(c->q);
    c->q = q;
    c->qcap = cap;
    c->qhead = 0;
    return 0;
}

/*
 * The most unwritten bytes a connection may hold: the largest player
 * backlog any app allows (queue.max_bytes; a player is cut there first,
 * with a reason of its own) plus CONN_QUEUE_SLACK for control messages and
 * responses. A peer past it sends requests and does not read the answers
 * (pipelined HTTP requests, RTMP commands), which would otherwise grow the
 * queue for as long as it keeps sending.
 */
static uint64_t conn_queue_cap(const struct rtmpd_server *srv)
{
    uint64_t max = 0;
    for (uint32_t i = 0; i < srv->cfg->napps; i++)
        if (srv->cfg->apps[i].queue.max_bytes > max)
            max = srv->cfg->apps[i].queue.max_bytes;
    return max + CONN_QUEUE_SLACK;
}

void rtmpd_conn_log_closed(const struct rtmpd_conn *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    char *what = n >= 0 ? malloc((size_t)n + 1) : NULL;
    if (what) {
        va_start(ap, fmt);
        vsnprintf(what, (size_t)n + 1, fmt, ap);
        va_end(ap);
    }
    rtmpd_log_access("id=%llu peer=%s %s bytes_in=%llu bytes_out=%llu duration_ms=%llu "
                     "reason=\"%s\"",
                     (unsigned long long)c->id, c->peer, what ? what : "-",
                     (unsigned long long)c->bytes_in, (unsigned long long)c->bytes_out,
                     (unsigned long long)((rtmpd_server_now_us(c->srv) - c->started_us) / 1000),
                     c->close_reason ? c->close_reason : "closed");
    free(what);
}

int rtmpd_conn_send_out(struct rtmpd_conn *c, struct rtmpd_out *o)
{
    if (c->closing || c->flush_then_close) {
        rtmpd_out_release(o);
        return -1;
    }
    /* One entry of any size is taken (a large API response); more only
     * while under the cap. */
    uint64_t after = c->q_bytes + (o->size - o->done);
    if (c->qlen && after > CONN_QUEUE_SLACK && after > conn_queue_cap(c->srv)) {
        log_warn(c->id, "%s does not read: %llu bytes queued for it, closing", c->peer,
                 (unsigned long long)c->q_bytes);
        rtmpd_out_release(o);
        rtmpd_conn_close(c, "peer not reading");
        return -1;
    }
    if (c->qlen == c->qcap && queue_grow(c) < 0) {
        rtmpd_out_release(o);
        rtmpd_conn_close(c, "out of memory");
        return -1;
    }
    o->enq_us = rtmpd_server_now_us(c->srv);
    c->q[(c->qhead + c->qlen) % c->qcap] = *o;
    c->qlen++;
    c->q_bytes += o->size - o->done;
    if (!c->write_blocked)
        rtmpd_server_want_flush(c->srv, c, o->frame == NULL || c->urgent);
    return 0;
}

int rtmpd_conn_send_owned(struct rtmpd_conn *c, uint8_t *data, size_t len)
{
    struct rtmpd_out o;
    if (len > UINT32_MAX) {
        free(data);
        return -1;
    }
    rtmpd_out_raw(&o, data, (uint32_t)len);
    return rtmpd_conn_send_out(c, &o);
}

int rtmpd_conn_send(struct rtmpd_conn *c, const void *data, size_t len)
{
    uint8_t *p = malloc(len ? len : 1);
    if (!p) {
        rtmpd_conn_close(c, "out of memory");
        return -1;
    }
    memcpy(p, data, len);
    return rtmpd_conn_send_owned(c, p, len);
}

uint32_t rtmpd_conn_drop_queued(struct rtmpd_conn *c,
                                int (*drop)(const struct rtmpd_out *o, void *arg), void *arg)
{
    uint32_t kept = 0, dropped = 0;
    for (uint32_t i = 0; i < c->qlen; i++) {
        struct rtmpd_out *o = &c->q[(c->qhead + i) % c->qcap];
        if (o->done == 0 && drop(o, arg)) {
            c->q_bytes -= o->size;
            rtmpd_out_release(o);
            dropped++;
            continue;
        }
        if (kept != i)
            c->q[(c->qhead + kept) % c->qcap] = *o;
        kept++;
    }
    c->qlen = kept;
    return dropped;
}

uint64_t rtmpd_conn_queue_delay_us(const struct rtmpd_conn *c, uint64_t now_us)
{
    if (!c->qlen)
        return 0;
    uint64_t t = c->q[c->qhead].enq_us;
    return now_us > t ? now_us - t : 0;
}

static void conn_stop_io(struct rtmpd_conn *c)
{
    struct ev_loop *loop = c->srv->loop;
    ev_io_stop(loop, &c->rio);
    ev_io_stop(loop, &c->wio);
    ev_timer_stop(loop, &c->timer);
}

void rtmpd_conn_read_pause(struct rtmpd_conn *c, int pause)
{
    if (pause)
        ev_io_stop(c->srv->loop, &c->rio);
    else if (!c->closing && !c->flush_then_close)
        ev_io_start(c->srv->loop, &c->rio);
}

void rtmpd_conn_close(struct rtmpd_conn *c, const char *reason)
{
    if (c->closing)
        return;
    c->closing = 1;
    if (!c->close_reason)
        c->close_reason = reason;
    conn_stop_io(c);
    rtmpd_server_want_close(c->srv, c);
}

void rtmpd_conn_close_after_flush(struct rtmpd_conn *c, const char *reason)
{
    if (c->closing || c->flush_then_close)
        return;
    c->flush_then_close = 1;
    c->close_reason = reason;
    ev_io_stop(c->srv->loop, &c->rio);
    ev_timer_stop(c->srv->loop, &c->timer);
    ev_timer_set(&c->timer, CONN_FLUSH_GRACE, 0.);
    ev_timer_start(c->srv->loop, &c->timer);
    if (!c->qlen)
        rtmpd_conn_close(c, reason);
    else
        rtmpd_server_want_flush(c->srv, c, 1);
}

/* Drops `n` written bytes from the head of the queue. */
static void queue_consume(struct rtmpd_conn *c, size_t n)
{
    c->q_bytes -= n;
    while (n && c->qlen) {
        struct rtmpd_out *o = &c->q[c->qhead];
        uint32_t left = o->size - o->done;
        if (n < left) {
            o->done += (uint32_t)n;
            return;
        }
        n -= left;
        rtmpd_out_release(o);
        c->qhead = (c->qhead + 1) % c->qcap;
        c->qlen--;
    }
    /* Zero-size entries left at the head are done too. */
    while (c->qlen && c->q[c->qhead].size == c->q[c->qhead].done) {
        rtmpd_out_release(&c->q[c->qhead]);
        c->qhead = (c->qhead + 1) % c->qcap;
        c->qlen--;
    }
}

static int conn_tcp_info(struct rtmpd_conn *c, struct tcp_info *ti)
{
    socklen_t len = sizeof *ti;
    memset(ti, 0, sizeof *ti);
    return getsockopt(c->fd, IPPROTO_TCP, TCP_INFO, ti, &len);
}

/* A large write just went out: time its delivery (a lower bound of the
 * path's capacity). `t0_us` and `acked0` were read right before the write:
 * on a fast path (loopback, a veth) the peer may have acknowledged the
 * whole write before writev returned, and a baseline read after it would
 * hide the burst. */
static void conn_burst_start(struct rtmpd_conn *c, uint64_t t0_us, uint64_t acked0)
{
    rtmpd_bw_burst_start(&c->bw, t0_us, acked0, c->bytes_out);
    if (c->bw.burst_active)
        rtmpd_server_want_burst_check(c->srv, c);
}

void rtmpd_conn_probe_enable(struct rtmpd_conn *c, int bursts)
{
    if (!c->probe) {
        c->probe = 1;
        rtmpd_bw_init(&c->bw);
        rtmpd_server_want_probe(c->srv, c);
    }
    c->probe_bursts = (uint8_t)(c->probe_bursts || bursts);
}

void rtmpd_conn_probe_sample(struct rtmpd_conn *c)
{
    struct tcp_info ti;
    if (c->closing || conn_tcp_info(c, &ti) < 0)
        return;
    struct rtmpd_bw_sample s = {
        .now_us = (uint64_t)(ev_time() * 1e6),
        .bytes_acked = ti.tcpi_bytes_acked,
        .unsent_bytes = c->q_bytes + ti.tcpi_notsent_bytes,
        .rtt_us = ti.tcpi_rtt,
        .min_rtt_us = ti.tcpi_min_rtt,
        .congested = c->congestion != c->congestion_seen,
    };
    c->congestion_seen = c->congestion;
    c->rtt_us = ti.tcpi_rtt;
    rtmpd_bw_sample(&c->bw, &s);
    if (c->ops->on_sample)
        c->ops->on_sample(c->ud);
}

int rtmpd_conn_probe_burst(struct rtmpd_conn *c)
{
    struct tcp_info ti;
    if (c->closing || conn_tcp_info(c, &ti) < 0) {
        c->bw.burst_active = 0;
        return 1;
    }
    return rtmpd_bw_burst_check(&c->bw, (uint64_t)(ev_time() * 1e6), ti.tcpi_bytes_acked,
                                CONN_BURST_TIMEOUT_US, RTMPD_CONN_BURST_TICK_US);
}

uint64_t rtmpd_conn_bandwidth(const struct rtmpd_conn *c)
{
    return c->probe ? rtmpd_bw_estimate(&c->bw, (uint64_t)(ev_now(c->srv->loop) * 1e6)) : 0;
}

void rtmpd_conn_flush(struct rtmpd_conn *c)
{
    struct iovec iov[CONN_IOV_MAX];

    if (c->closing)
        return;
    while (c->qlen) {
        int n = 0;
        size_t want = 0;
        for (uint32_t i = 0; i < c->qlen && n < CONN_IOV_MAX; i++) {
            const struct rtmpd_out *o = &c->q[(c->qhead + i) % c->qcap];
            int k = rtmpd_out_iov(o, iov + n, CONN_IOV_MAX - n);
            for (int j = n; j < n + k; j++)
                want += iov[j].iov_len;
            n += k;
        }
        if (n == 0) {
            queue_consume(c, 0);
            break;
        }
        /* A large write to an idle connection is a burst to time: note what
         * the peer has acknowledged before writing. */
        struct tcp_info ti;
        uint64_t burst_t0 = 0;
        int burst = c->probe_bursts && want >= CONN_BURST_MIN && !c->bw.burst_active &&
                    c->q[c->qhead].done == 0 && rtmpd_list_empty(&c->burst_link);
        if (burst) {
            burst_t0 = (uint64_t)(ev_time() * 1e6);
            burst = conn_tcp_info(c, &ti) == 0;
        }
        /* sendmsg, not writev: the socket call goes straight to the
         * protocol, without the file layer's checks on every write. */
        struct msghdr mh = { .msg_iov = iov, .msg_iovlen = (size_t)n };
        ssize_t w = sendmsg(c->fd, &mh, MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                if (!c->write_blocked) {
                    c->write_blocked = 1;
                    ev_io_start(c->srv->loop, &c->wio);
                }
                return;
            }
            rtmpd_conn_close(c, errno == EPIPE || errno == ECONNRESET ? "peer reset" : "write error");
            return;
        }
        c->bytes_out += (uint64_t)w;
        c->srv->stats.bytes_out += (uint64_t)w;
        if (burst && (size_t)w >= CONN_BURST_MIN)
            conn_burst_start(c, burst_t0, ti.tcpi_bytes_acked);
        queue_consume(c, (size_t)w);
        if ((size_t)w < want) {
            /* The socket is full: wait until it is writable again. */
            if (!c->write_blocked) {
                c->write_blocked = 1;
                ev_io_start(c->srv->loop, &c->wio);
            }
            return;
        }
    }
    if (c->write_blocked) {
        c->write_blocked = 0;
        ev_io_stop(c->srv->loop, &c->wio);
    }
    c->last_drain_us = rtmpd_server_now_us(c->srv);
    if (c->flush_then_close) {
        rtmpd_conn_close(c, c->close_reason);
        return;
    }
    if (c->ops->on_drain)
        c->ops->on_drain(c->ud);
}

static void conn_write_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)loop;
    (void)revents;
    rtmpd_conn_flush(w->data);
}

static void conn_read_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)loop;
    (void)revents;
    struct rtmpd_conn *c = w->data;
    struct rtmpd_server *srv = c->srv;

    /* Bounded work per wakeup so one busy peer cannot starve the others. */
    for (int round = 0; round < 4 && !c->closing && !c->flush_then_close; round++) {
        ssize_t n = read(c->fd, srv->rbuf, sizeof srv->rbuf);
        if (n > 0) {
            c->bytes_in += (uint64_t)n;
            srv->stats.bytes_in += (uint64_t)n;
            c->last_in_us = rtmpd_server_now_us(srv);
            if (c->ops->on_data(c->ud, srv->rbuf, (size_t)n) < 0)
                return;
            if ((size_t)n < sizeof srv->rbuf)
                return;
            continue;
        }
        if (n == 0) {
            rtmpd_conn_close(c, "peer closed");
            return;
        }
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK)
            return;
        rtmpd_conn_close(c, errno == ECONNRESET ? "peer reset" : "read error");
        return;
    }
}

static void conn_timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    struct rtmpd_conn *c = w->data;
    if (c->flush_then_close) {
        rtmpd_conn_close(c, c->close_reason);
        return;
    }
    uint64_t now = rtmpd_server_now_us(c->srv);
    if (!c->established) {
        if (c->ops->on_timeout) {
            c->ops->on_timeout(c->ud);
        } else {
            log_warn(c->id, "handshake timeout: %s sent %llu bytes in %llu ms and did not "
                     "complete the handshake, closing", c->peer, (unsigned long long)c->bytes_in,
                     (unsigned long long)((now - c->started_us) / 1000));
            rtmpd_conn_close(c, "handshake timeout");
        }
        return;
    }
    uint64_t idle_us = (uint64_t)(w->repeat * 4e6);
    uint64_t quiet = now - c->last_in_us;
    if (quiet >= idle_us) {
        log_info(c->id, "idle timeout: nothing received from %s for %llu ms, closing", c->peer,
                 (unsigned long long)(quiet / 1000));
        rtmpd_conn_close(c, "idle timeout");
        return;
    }
    if (quiet * 2 >= idle_us && c->ops->on_idle)
        c->ops->on_idle(c->ud);
}

void rtmpd_conn_free(struct rtmpd_conn *c)
{
    conn_stop_io(c);
    while (c->qlen) {
        rtmpd_out_release(&c->q[c->qhead]);
        c->qhead = (c->qhead + 1) % c->qcap;
        c->qlen--;
    }
    free(c->q);
    rtmpd_list_remove(&c->link);
    rtmpd_server_unflush(c->srv, c);
    rtmpd_list_remove(&c->close_link);
    rtmpd_list_remove(&c->probe_link);
    rtmpd_list_remove(&c->burst_link);
    c->srv->nconns--;
    close(c->fd);
    free(c);
}
