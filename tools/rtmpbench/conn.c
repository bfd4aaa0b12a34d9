/*
 * rtmpbench — one RTMP client connection: non-blocking TCP connect, client
 * handshake, chunk stream in both directions, the protocol control a real
 * client must answer (Set Chunk Size, Window Acknowledgement Size, Ping),
 * and the NetConnection part of the command flow (connect, createStream).
 * What happens after createStream belongs to the role (publisher / player),
 * reached through its struct conn_ops table.
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "rtmpd/amf.h"
#include "rtmpd/error.h"
#include "rtmpd/flv.h"

#include "bench.h"

#define CONN_SETUP_TIMEOUT 10.0
#define READS_PER_EVENT 4

static struct rtmpd_amf_dec conn_amf;
static int conn_amf_ready;

static const char *const state_names[] = {
    [CONN_TCP] = "TCP connect",
    [CONN_HANDSHAKE] = "handshake",
    [CONN_CONNECT] = "connect",
    [CONN_CREATE] = "createStream",
    [CONN_START] = "publish/play",
    [CONN_ACTIVE] = "active",
    [CONN_CLOSED] = "closed",
};

static void conn_read_cb(struct ev_loop *loop, ev_io *w, int revents);
static void conn_write_cb(struct ev_loop *loop, ev_io *w, int revents);
static void conn_timeout_cb(struct ev_loop *loop, ev_timer *w, int revents);

struct bconn *conn_start(struct bench *b, const struct conn_ops *ops, void *owner, int role,
                         const struct rtmp_url *url, const char *name, char *err, size_t errlen)
{
    struct bconn *c = calloc(1, sizeof *c);
    int one = 1;

    if (!c) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    c->fd = socket(url->sa.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c->fd < 0) {
        snprintf(err, errlen, "socket: %s", strerror(errno));
        free(c);
        return NULL;
    }
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    /* Players' latency ends when the kernel received the frame's last byte,
     * not when this process got round to reading it. */
    if (role == ROLE_PLAYER)
        setsockopt(c->fd, SOL_SOCKET, SO_TIMESTAMPNS, &one, sizeof one);
    if (connect(c->fd, (const struct sockaddr *)&url->sa, url->salen) < 0 &&
        errno != EINPROGRESS) {
        snprintf(err, errlen, "connect: %s", strerror(errno));
        close(c->fd);
        free(c);
        return NULL;
    }
    c->b = b;
    c->ops = ops;
    c->owner = owner;
    c->role = (uint8_t)role;
    c->state = CONN_TCP;
    c->url = url;
    c->name = name;
    c->out_chunk_size = RTMPD_CHUNK_SIZE_DEFAULT;
    rtmpd_chunk_dec_init(&c->dec, NULL);
    ev_io_init(&c->rio, conn_read_cb, c->fd, EV_READ);
    ev_io_init(&c->wio, conn_write_cb, c->fd, EV_WRITE);
    ev_timer_init(&c->tmo, conn_timeout_cb, CONN_SETUP_TIMEOUT, 0.);
    c->rio.data = c->wio.data = c->tmo.data = c;
    ev_io_start(b->loop, &c->wio);
    ev_timer_start(b->loop, &c->tmo);
    return c;
}

void conn_set_active(struct bconn *c)
{
    c->state = CONN_ACTIVE;
    ev_timer_stop(c->b->loop, &c->tmo);
}

void conn_close(struct bconn *c, int failed, const char *reason)
{
    if (c->dead)
        return;
    c->dead = 1;
    c->state = CONN_CLOSED;
    ev_io_stop(c->b->loop, &c->rio);
    ev_io_stop(c->b->loop, &c->wio);
    ev_timer_stop(c->b->loop, &c->tmo);
    if (!failed) {
        /* Read what is pending so that close() sends a FIN, not a reset
         * (bounded: a player at full rate never runs dry). */
        for (int i = 0; i < 16; i++)
            if (recv(c->fd, c->b->rbuf, sizeof c->b->rbuf, MSG_DONTWAIT) <= 0)
                break;
    }
    close(c->fd);
    c->fd = -1;
    c->next_dead = c->b->dead;
    c->b->dead = c;
    c->ops->on_close(c, failed, reason);
}

void conn_reap(struct bench *b)
{
    while (b->dead) {
        struct bconn *c = b->dead;
        b->dead = c->next_dead;
        free(c->hs);
        rtmpd_chunk_dec_release(&c->dec);
        rtmpd_buf_release(&c->out);
        free(c);
    }
}

static void conn_closef(struct bconn *c, int failed, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void conn_closef(struct bconn *c, int failed, const char *fmt, ...)
{
    char reason[160];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(reason, sizeof reason, fmt, ap);
    va_end(ap);
    conn_close(c, failed, reason);
}

/* --- output ------------------------------------------------------------- */

/* Drops written bytes from the head of the buffer when it pays. */
static void out_compact(struct bconn *c)
{
    if (c->out_off == c->out.len) {
        rtmpd_buf_reset(&c->out);
        c->out_off = 0;
    } else if (c->out_off >= 65536 && c->out_off >= c->out.len / 2) {
        memmove(c->out.data, c->out.data + c->out_off, c->out.len - c->out_off);
        c->out.len -= c->out_off;
        c->out_off = 0;
    }
}

int conn_queue(struct bconn *c, uint32_t csid, uint8_t type, uint32_t stream_id,
               uint32_t timestamp, const uint8_t *payload, uint32_t len)
{
    struct rtmpd_msg m = {
        .csid = csid, .type = type, .stream_id = stream_id, .timestamp = timestamp,
        .length = len, .payload = (uint8_t *)payload,
    };

    if (c->dead)
        return -1;
    out_compact(c);
    size_t before = c->out.len;
    int rc = rtmpd_chunk_encode(&c->out, c->out_chunk_size, &m,
                                csid < CSID_SLOTS ? &c->prev[csid] : NULL);
    if (rc < 0) {
        conn_closef(c, c->state != CONN_ACTIVE, "chunk encode: %s", rtmpd_strerror(rc));
        return -1;
    }
    c->out_queued += c->out.len - before;
    return 0;
}

int conn_flush(struct bconn *c)
{
    size_t wrote = 0;

    if (c->dead)
        return -1;
    if (c->state == CONN_TCP)
        return 0;
    while (c->out_off < c->out.len) {
        ssize_t n = send(c->fd, c->out.data + c->out_off, c->out.len - c->out_off,
                         MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n > 0) {
            c->out_off += (size_t)n;
            c->out_written += (uint64_t)n;
            wrote += (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            break;
        conn_closef(c, c->state != CONN_ACTIVE, "send: %s", n < 0 ? strerror(errno) : "0");
        return -1;
    }
    if (c->out_off == c->out.len) {
        rtmpd_buf_reset(&c->out);
        c->out_off = 0;
        ev_io_stop(c->b->loop, &c->wio);
    } else {
        ev_io_start(c->b->loop, &c->wio);
    }
    if (wrote && c->ops->on_written)
        c->ops->on_written(c, c->out_written, bench_now_ns());
    return c->dead ? -1 : 0;
}

int conn_send(struct bconn *c, uint32_t csid, uint8_t type, uint32_t stream_id,
              uint32_t timestamp, const uint8_t *payload, uint32_t len)
{
    if (conn_queue(c, csid, type, stream_id, timestamp, payload, len) < 0)
        return -1;
    return conn_flush(c);
}

int conn_send_set_chunk_size(struct bconn *c, uint32_t size)
{
    uint8_t p[4];

    rtmpd_wr_be32(p, size);
    if (conn_queue(c, CSID_CONTROL, RTMPD_MSG_SET_CHUNK_SIZE, 0, 0, p, 4) < 0)
        return -1;
    c->out_chunk_size = size;   /* applies to every message after this one */
    return 0;
}

int conn_send_user_control(struct bconn *c, uint16_t event, uint32_t a, int has_b, uint32_t b)
{
    uint8_t p[10];

    rtmpd_wr_be16(p, event);
    rtmpd_wr_be32(p + 2, a);
    if (has_b)
        rtmpd_wr_be32(p + 6, b);
    return conn_send(c, CSID_CONTROL, RTMPD_MSG_USER_CONTROL, 0, 0, p, has_b ? 10 : 6);
}

struct rtmpd_buf *conn_cmd_begin(struct bconn *c, const char *name, uint32_t *txn)
{
    struct rtmpd_buf *s = &c->b->scratch;

    rtmpd_buf_reset(s);
    c->txn++;
    if (txn)
        *txn = c->txn;
    rtmpd_amf0_put_cstr(s, name);
    rtmpd_amf0_put_number(s, c->txn);
    rtmpd_amf0_put_null(s);
    return s;
}

int conn_cmd_send(struct bconn *c, uint32_t csid, uint32_t stream_id)
{
    struct rtmpd_buf *s = &c->b->scratch;

    if (s->failed) {
        conn_close(c, 1, "out of memory building a command");
        return -1;
    }
    return conn_send(c, csid, RTMPD_MSG_COMMAND_AMF0, stream_id, 0, s->data, (uint32_t)s->len);
}

/* connect(txn 1, {app, type, flashVer, tcUrl, ...}) like ffmpeg. */
static int conn_send_connect(struct bconn *c)
{
    struct rtmpd_buf *s = &c->b->scratch;
    int pub = c->role == ROLE_PUBLISHER;

    rtmpd_buf_reset(s);
    c->connect_txn = ++c->txn;
    rtmpd_amf0_put_cstr(s, "connect");
    rtmpd_amf0_put_number(s, c->connect_txn);
    rtmpd_amf0_put_object_start(s);
    rtmpd_amf0_put_prop_cstr(s, "app", c->url->app);
    if (pub)
        rtmpd_amf0_put_prop_cstr(s, "type", "nonprivate");
    rtmpd_amf0_put_prop_cstr(s, "flashVer",
                             pub ? "FMLE/3.0 (compatible; rtmpbench)" : "LNX 9,0,124,2");
    rtmpd_amf0_put_prop_cstr(s, "tcUrl", c->url->tcurl);
    if (!pub) {
        rtmpd_amf0_put_prop_bool(s, "fpad", 0);
        rtmpd_amf0_put_prop_number(s, "capabilities", 15);
        rtmpd_amf0_put_prop_number(s, "audioCodecs", 4071);
        rtmpd_amf0_put_prop_number(s, "videoCodecs", 252);
        rtmpd_amf0_put_prop_number(s, "videoFunction", 1);
    }
    rtmpd_amf0_put_object_end(s);
    c->state = CONN_CONNECT;
    return conn_cmd_send(c, CSID_COMMAND, 0);
}

/* --- input -------------------------------------------------------------- */

static const char *amf_str_or(const struct rtmpd_amf_value *v, const char *def)
{
    const char *s = rtmpd_amf_string(v, NULL);
    return s ? s : def;
}

static void conn_command(struct bconn *c, const uint8_t *p, size_t len)
{
    struct rtmpd_amf_value *v[6] = { 0 };
    size_t off = 0;
    int n = 0;

    if (!conn_amf_ready) {
        rtmpd_amf_dec_init(&conn_amf, NULL);
        conn_amf_ready = 1;
    }
    rtmpd_amf_dec_reset(&conn_amf);
    while (n < 6 && off < len) {
        ssize_t r = rtmpd_amf0_decode(&conn_amf, p + off, len - off, &v[n]);
        if (r < 0)
            break;
        off += (size_t)r;
        n++;
    }
    const char *name = rtmpd_amf_string(v[0], NULL);
    double txn_d = 0;
    if (!name)
        return;
    rtmpd_amf_number(v[1], &txn_d);
    uint32_t txn = txn_d > 0 && txn_d < 4294967296.0 ? (uint32_t)txn_d : 0;

    if (strcmp(name, "_result") == 0) {
        if (txn && txn == c->connect_txn && c->state == CONN_CONNECT) {
            c->ops->on_connected(c);
            if (c->dead)
                return;
            conn_cmd_begin(c, "createStream", &c->create_txn);
            c->state = CONN_CREATE;
            conn_cmd_send(c, CSID_COMMAND, 0);
        } else if (txn && txn == c->create_txn && c->state == CONN_CREATE) {
            double sid = 0;
            if (rtmpd_amf_number(v[3], &sid) < 0 || sid < 0 || sid > 4294967295.0) {
                conn_close(c, 1, "createStream _result without a stream id");
                return;
            }
            c->stream_id = (uint32_t)sid;
            c->state = CONN_START;
            c->ops->on_stream(c);
        }
    } else if (strcmp(name, "_error") == 0) {
        /* releaseStream/FCPublish errors are normal on many servers. */
        if (txn && (txn == c->connect_txn || txn == c->create_txn)) {
            const struct rtmpd_amf_value *info = v[3];
            conn_closef(c, 1, "%s refused: %s %s",
                        txn == c->connect_txn ? "connect" : "createStream",
                        amf_str_or(rtmpd_amf_get(info, "code"), "(no code)"),
                        amf_str_or(rtmpd_amf_get(info, "description"), ""));
        }
    } else if (strcmp(name, "onStatus") == 0) {
        const struct rtmpd_amf_value *info = v[3] ? v[3] : v[2];
        c->ops->on_status(c, amf_str_or(rtmpd_amf_get(info, "level"), ""),
                          amf_str_or(rtmpd_amf_get(info, "code"), ""),
                          amf_str_or(rtmpd_amf_get(info, "description"), ""));
    } else if (strcmp(name, "close") == 0) {
        conn_close(c, c->state != CONN_ACTIVE, "server sent close");
    }
    /* onBWDone, onFCPublish, _checkbw ...: nothing to do. */
}

/* Aggregate message (type 22): FLV tags back to back; timestamps relative to the first. */
static void conn_aggregate(struct bconn *c, const struct rtmpd_msg *m, int64_t now)
{
    size_t off = 0;
    uint32_t base = 0;
    int first = 1;

    while (off < m->length && !c->dead) {
        struct rtmpd_flv_tag t;
        ssize_t r = rtmpd_flv_parse_tag(m->payload + off, m->length - off, &t);
        if (r < 0)
            break;
        if (first) {
            base = t.timestamp;
            first = 0;
        }
        struct rtmpd_msg sub = {
            .csid = m->csid, .type = t.type, .stream_id = m->stream_id,
            .timestamp = m->timestamp + (t.timestamp - base), .length = t.length,
            .payload = (uint8_t *)t.data,
        };
        c->ops->on_media(c, &sub, now);
        off += (size_t)r;
    }
}

static void conn_message(struct bconn *c, const struct rtmpd_msg *m, int64_t now)
{
    switch (m->type) {
    case RTMPD_MSG_AUDIO:
    case RTMPD_MSG_VIDEO:
    case RTMPD_MSG_DATA_AMF0:
    case RTMPD_MSG_DATA_AMF3:
        c->ops->on_media(c, m, now);
        break;
    case RTMPD_MSG_AGGREGATE:
        conn_aggregate(c, m, now);
        break;
    case RTMPD_MSG_COMMAND_AMF0:
        conn_command(c, m->payload, m->length);
        break;
    case RTMPD_MSG_COMMAND_AMF3:
        /* AMF3 command: a format byte (0), then AMF0 values. */
        if (m->length > 1)
            conn_command(c, m->payload + 1, m->length - 1);
        break;
    case RTMPD_MSG_WINDOW_ACK_SIZE:
        if (m->length >= 4)
            c->ack_window = rtmpd_rd_be32(m->payload);
        break;
    case RTMPD_MSG_USER_CONTROL:
        /* PingRequest (6) -> PingResponse (7) with the same timestamp. */
        if (m->length >= 6 && rtmpd_rd_be16(m->payload) == 6)
            conn_send_user_control(c, 7, rtmpd_rd_be32(m->payload + 2), 0, 0);
        break;
    default:
        /* Set Chunk Size and Abort were applied by the decoder; Ack, Set
         * Peer Bandwidth and shared objects need no answer. */
        break;
    }
}

/* Feeds received bytes: handshake first, then the chunk decoder. */
static void conn_input(struct bconn *c, const uint8_t *p, size_t len, int64_t now)
{
    size_t off = 0;

    if (c->hs) {
        ssize_t r = rtmpd_hs_feed(c->hs, p, len);
        if (r < 0) {
            conn_closef(c, 1, "handshake: %s", rtmpd_strerror((int)r));
            return;
        }
        off = (size_t)r;
        size_t olen;
        const uint8_t *o = rtmpd_hs_output(c->hs, &olen);
        if (olen) {
            rtmpd_buf_append(&c->out, o, olen);
            c->out_queued += olen;
            rtmpd_hs_output_taken(c->hs, olen);
        }
        if (rtmpd_hs_done(c->hs)) {
            free(c->hs);
            c->hs = NULL;
            if (conn_send_connect(c) < 0)
                return;
        } else if (conn_flush(c) < 0) {
            return;
        }
    }
    while (off < len) {
        struct rtmpd_msg m;
        ssize_t r = rtmpd_chunk_decode(&c->dec, p + off, len - off, &m);
        if (r == RTMPD_AGAIN)
            break;
        if (r < 0) {
            conn_closef(c, c->state != CONN_ACTIVE, "chunk stream: %s", rtmpd_strerror((int)r));
            return;
        }
        off += (size_t)r;
        conn_message(c, &m, now);
        if (c->dead)
            return;
    }
    if (c->ack_window && c->in_bytes - c->ack_last >= c->ack_window) {
        uint8_t a[4];
        rtmpd_wr_be32(a, (uint32_t)c->in_bytes);
        c->ack_last = c->in_bytes;
        conn_send(c, CSID_CONTROL, RTMPD_MSG_ACK, 0, 0, a, 4);
    }
}

/*
 * Sets c->rx_ns from the read's receive timestamp (SCM_TIMESTAMPNS: the
 * wall-clock time the kernel received the last segment the read took),
 * moved to the monotonic clock by its age now. Without one, c->rx_ns stays
 * the read time.
 */
static void conn_rx_time(struct bconn *c, struct msghdr *mh, int64_t now)
{
    for (struct cmsghdr *cm = CMSG_FIRSTHDR(mh); cm; cm = CMSG_NXTHDR(mh, cm)) {
        if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_TIMESTAMPNS)
            continue;
        struct timespec rx, wall;
        memcpy(&rx, CMSG_DATA(cm), sizeof rx);
        clock_gettime(CLOCK_REALTIME, &wall);
        int64_t age = (int64_t)(wall.tv_sec - rx.tv_sec) * 1000000000 + (wall.tv_nsec - rx.tv_nsec);
        if (age > 0)
            c->rx_ns = now - age;
        c->b->rx_stamped++;
        return;
    }
    c->b->rx_unstamped++;
}

static void conn_read_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    struct bconn *c = w->data;
    struct bench *b = c->b;

    (void)loop;
    (void)revents;
    for (int i = 0; i < READS_PER_EVENT && !c->dead; i++) {
        union {
            struct cmsghdr align;
            uint8_t buf[CMSG_SPACE(sizeof(struct timespec))];
        } ctl;
        struct iovec iov = { .iov_base = b->rbuf, .iov_len = sizeof b->rbuf };
        struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
        if (c->role == ROLE_PLAYER) {
            mh.msg_control = ctl.buf;
            mh.msg_controllen = sizeof ctl.buf;
        }
        ssize_t n = recvmsg(c->fd, &mh, 0);
        if (n == 0) {
            if (c->state == CONN_ACTIVE)
                conn_close(c, 0, "closed by the server");
            else
                conn_closef(c, 1, "closed by the server during %s", state_names[c->state]);
            return;
        }
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK)
                conn_closef(c, c->state != CONN_ACTIVE, "recv: %s", strerror(errno));
            return;
        }
        int64_t now = bench_now_ns();
        c->rx_ns = now;
        if (c->role == ROLE_PLAYER)
            conn_rx_time(c, &mh, now);
        c->in_bytes += (uint64_t)n;
        if (c->ops->on_read)
            c->ops->on_read(c, (size_t)n);
        conn_input(c, b->rbuf, (size_t)n, now);
        if ((size_t)n < sizeof b->rbuf)
            return;
    }
}

static void conn_write_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    struct bconn *c = w->data;

    (void)loop;
    (void)revents;
    if (c->state == CONN_TCP) {
        int err = 0;
        socklen_t len = sizeof err;
        if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
            err = errno;
        if (err) {
            conn_closef(c, 1, "connect: %s", strerror(err));
            return;
        }
        c->hs = malloc(sizeof *c->hs);
        if (!c->hs) {
            conn_close(c, 1, "out of memory");
            return;
        }
        int rc = rtmpd_hs_init(c->hs, RTMPD_HS_CLIENT, NULL);
        if (rc < 0) {
            conn_closef(c, 1, "handshake init: %s", rtmpd_strerror(rc));
            return;
        }
        c->state = CONN_HANDSHAKE;
        size_t olen;
        const uint8_t *o = rtmpd_hs_output(c->hs, &olen);
        rtmpd_buf_append(&c->out, o, olen);
        c->out_queued += olen;
        rtmpd_hs_output_taken(c->hs, olen);
        ev_io_start(c->b->loop, &c->rio);
        if (c->ops->on_tcp)
            c->ops->on_tcp(c);
        if (c->dead)
            return;
    }
    conn_flush(c);
}

static void conn_timeout_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct bconn *c = w->data;

    (void)loop;
    (void)revents;
    conn_closef(c, 1, "timeout after %.0f s in %s", CONN_SETUP_TIMEOUT, state_names[c->state]);
}
