#!/usr/bin/env python3
"""Out of file descriptors: accept pauses instead of spinning.

rtmpd's descriptor limit is lowered (prlimit) to a few more than it holds,
then many more TCP connections are opened than fit:
- over 2 s, rtmpd uses < 10% of a core (accept failing with EMFILE must not be
  retried at once, forever) and logs a handful of "Too many open files"
  lines, not one per attempt;
- a client connected before keeps being served meanwhile;
- once the extra connections are closed, a new client connects, creates a
  stream and publishes, and the log says accepting works again; the pauses
  are counted (API accept_pauses, metric rtmpd_accept_pauses_total).

ctest: serial (CPU use is measured)
"""

import resource
import socket
import time

import rtmp_client as rc
from harness import Server, check, log, main
from http_helpers import get_json, metric_sample, request

EXTRA = 40          # connections beyond what the limit leaves room for
HEADROOM = 6        # descriptors left free under the lowered limit
MEASURE_S = 2.0



def test():
    # The handshake timeout must not free descriptors during the test.
    settings = {"limits": {"handshake_timeout_ms": 60000}, "http": {"listen": ["127.0.0.1:0"]}}
    with Server(settings=settings) as srv:
        early = rc.connected(srv.port)
        check(early.create_stream() >= 1, "a client connected before the shortage works")
        used = srv.fd_count()
        limit = used + HEADROOM
        resource.prlimit(srv.proc.pid, resource.RLIMIT_NOFILE, (limit, limit))
        log("rtmpd holds %d descriptors; its limit is now %d" % (used, limit))

        extra = []
        try:
            for _ in range(EXTRA + HEADROOM):
                extra.append(socket.create_connection(("127.0.0.1", srv.port), 5))
            srv.wait_log(r"Too many open files", timeout=5)
            time.sleep(0.2)
            cpu0, t0 = srv.cpu_seconds(), time.monotonic()
            time.sleep(MEASURE_S / 2)
            # Served in the middle of the shortage.
            check(early.create_stream() >= 1, "the early client is still served while accept "
                  "fails")
            time.sleep(MEASURE_S / 2)
            cpu = (srv.cpu_seconds() - cpu0) / (time.monotonic() - t0)
            nfd = srv.fd_count()
            lines = srv.log_count(r"Too many open files")
            log("during the shortage: %.1f%% of a core, %d descriptors open, %d log lines "
                "about it" % (100 * cpu, nfd, lines))
            check(cpu < 0.1, "rtmpd uses %.1f%% of a core while out of descriptors (< 10%%)" %
                  (100 * cpu))
            check(lines <= 3, "the log has %d lines about it (at most 3)" % lines)
            check(srv.proc.poll() is None, "rtmpd is still running")
        finally:
            for s in extra:
                s.close()

        # Descriptors freed: a new client gets in, and can publish.
        c = None
        deadline = time.monotonic() + 5
        while c is None and time.monotonic() < deadline:
            try:
                c = rc.connected(srv.port)
            except (rc.RTMPError, OSError) as e:
                log("new client: %s" % e)
                time.sleep(0.2)
        check(c is not None, "after the extra connections closed, a new client connects")
        msid = c.create_stream()
        code = c.publish(msid, "after").get("code")
        check(code == "NetStream.Publish.Start", "and publishes (%s)" % code)
        srv.wait_log(r"accepting again after \d+ ms", timeout=5)
        check(early.create_stream() >= 1, "the early client still works")
        _, doc, _ = get_json(srv.http_port, "/api/v1/server")
        _, _, body = request(srv.http_port, "GET", "/metrics")
        pauses = metric_sample(body.decode(), "rtmpd_accept_pauses_total")
        check(doc["accept_pauses"] >= 1 and pauses == str(doc["accept_pauses"]),
              "the pauses are counted: API accept_pauses %d, rtmpd_accept_pauses_total %s" %
              (doc["accept_pauses"], pauses))
        c.close()
        early.close()


main(test)
