/*
 * Shared set-up of the server-level harnesses (fuzz_session.c,
 * fuzz_http.c): a whole rtmpd server on a libev loop, with no listeners and
 * no sockets. Connections are made on /dev/null (writes are discarded,
 * nothing is ever read from it) with their read watcher and timer stopped;
 * the harness hands them bytes through their handler, exactly as the read
 * callback would, then closes them and lets the loop's safe point free
 * everything. The server's invariants are checked by ASan/UBSan/LSan.
 */
#ifndef RTMPD_FUZZ_SERVER_H
#define RTMPD_FUZZ_SERVER_H

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <unistd.h>

#include "fuzz_common.h"
#include "rtmpd/config.h"
#include "rtmpd/conn.h"
#include "rtmpd/http.h"
#include "rtmpd/log.h"
#include "rtmpd/server.h"
#include "rtmpd/session.h"
#include "rtmpd/stream.h"

static struct rtmpd_config fuzz_cfg;
static struct rtmpd_server fuzz_srv;

/* One server for the whole run: streams and counters carry over between
 * inputs only while a connection holds them, and none outlives an input. */
static struct rtmpd_server *fuzz_server(void)
{
    static int ready;
    if (!ready) {
        rtmpd_log_set_level(RTMPD_LOG_ERROR);
        rtmpd_log_open_access("off");
        rtmpd_config_defaults(&fuzz_cfg);
        fuzz_cfg.listen.n = 0;
        fuzz_cfg.http.listen.n = 0;
        fuzz_cfg.limits.max_message_bytes = 1 << 20;
        fuzz_cfg.limits.max_pending_bytes = 2 << 20;
        FUZZ_CHECK(rtmpd_server_init(&fuzz_srv, ev_default_loop(0), &fuzz_cfg) == 0,
                   "server init");
        ready = 1;
    }
    return &fuzz_srv;
}

/* A connection on /dev/null, driven by hand: no reads, no timers. */
static struct rtmpd_conn *fuzz_conn(int http)
{
    struct rtmpd_server *srv = fuzz_server();
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(40000),
                              .sin_addr = { htonl(INADDR_LOOPBACK) } };
    int fd = open("/dev/null", O_RDWR | O_CLOEXEC);
    FUZZ_CHECK(fd >= 0, "open /dev/null");
    struct rtmpd_conn *c = http ? rtmpd_http_accept(srv, fd, (struct sockaddr *)&sa, sizeof sa)
                                : rtmpd_session_accept(srv, fd, (struct sockaddr *)&sa, sizeof sa);
    FUZZ_CHECK(c != NULL, "accept");
    ev_io_stop(srv->loop, &c->rio);
    ev_timer_stop(srv->loop, &c->timer);
    return c;
}

/* Hands `data` to a connection in pieces chosen by `rng`, writing out what
 * it queues after each; stops once the handler closes it. */
static void fuzz_feed(struct rtmpd_conn *c, const uint8_t *data, size_t len, struct fuzz_rng *rng)
{
    while (len && !c->closing && !c->flush_then_close) {
        size_t n = 1 + fuzz_below(rng, len < 4096 ? (uint32_t)len : 4096);
        if (n > len)
            n = len;
        c->bytes_in += n;
        if (c->ops->on_data(c->ud, data, n) < 0)
            break;
        rtmpd_conn_flush(c);
        data += n;
        len -= n;
    }
}

/* Closes the connections and runs the loop's safe point, which frees them
 * (and whatever streams they held). */
static void fuzz_finish(struct rtmpd_conn **conns, int n)
{
    for (int i = 0; i < n; i++)
        rtmpd_conn_close(conns[i], "fuzz input done");
    ev_run(fuzz_srv.loop, EVRUN_NOWAIT);
    FUZZ_CHECK(fuzz_srv.nconns == 0, "%u connections left", fuzz_srv.nconns);
    FUZZ_CHECK(rtmpd_registry_count(fuzz_srv.registry) == 0, "%u streams left",
               rtmpd_registry_count(fuzz_srv.registry));
}

#endif
