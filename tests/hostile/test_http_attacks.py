#!/usr/bin/env python3
"""Pipelined HTTP API requests do not disturb a healthy RTMP stream.

ctest: serial (latency is measured)

While rtmpbench publishes the 720p file to live/healthy and 4 players in the
same process check every frame, HTTP clients pipeline requests to the API
(http.listen on, defaults otherwise). tests/integration/test_http_hostile.py
covers malformed HTTP; this file covers volume on one connection:

- 400,000 pipelined GET /api/v1/server whose responses are never read: the
  connection layer (src/conn.c) cuts a peer holding more unwritten bytes
  than the largest queue.max_bytes + 1 MiB: log "ADDR does not read: N bytes
  queued for it, closing", access log reason "peer not reading"; rtmpd's RSS
  grows by less than 32 MiB meanwhile (it grew without bound before: 117 MB
  for 8 MB of requests);
- 20,000 pipelined GET /api/v1/server from a client that reads: 20,000
  responses, in order;
- 20,000 pipelined GET /nope (404) from a client that reads: the same.

Each API request costs rtmpd ~16 us (JSON) and a pipelined request is ~40
bytes, so a read wakeup (up to 4 x 64 KiB) can hold ~6,500 requests: ~100 ms
during which no other connection is served. The healthy players' latency
p99 must stay within max(baseline + 20 ms, 2 x baseline), as in the other
hostile files; this fails until src/http.c bounds the requests it handles
per wakeup (see docs/security.md).

Afterwards: descriptors back to the count before the attacks, RSS grew by at
most 12 MiB (one cut connection holds up to 9 MiB of responses; glibc keeps
freed heap).
"""

import re
import socket
import threading
import time

from hostile import Scenario, check, log
from harness import Server, main, media


def pipelined(port, path, n, read):
    """Sends `n` pipelined GETs of `path` in one go; returns (requests sent
    before the server cut the connection, responses read, seconds)."""
    s = socket.create_connection(("127.0.0.1", port), 10)
    local = s.getsockname()[1]
    req = b"GET %s HTTP/1.1\r\nHost: a\r\n\r\n" % path
    got = bytearray()
    done = threading.Event()

    def reader():
        try:
            while not done.is_set():
                d = s.recv(1 << 20)
                if not d:
                    return
                got.extend(d)
                if got.count(b"HTTP/1.1 ") >= n:
                    return
        except OSError:
            return

    t = threading.Thread(target=reader, daemon=True)
    if read:
        t.start()
    t0 = time.monotonic()
    sent = 0
    try:
        for _ in range(n // 1000):
            s.sendall(req * 1000)
            sent += 1000
    except OSError:
        pass
    if read:
        t.join(60)
    done.set()
    s.close()
    return local, sent, got, time.monotonic() - t0


def unread(sc):
    srv, res = sc.srv, sc.res
    rss0 = res.rss_kib()
    local, sent, _, _ = pipelined(srv.http_port, b"/api/v1/server", 400000, read=False)
    rss1 = res.rss_kib()
    check(sent < 400000, "pipelined API requests, responses never read: cut after %d requests"
          % sent)
    check(rss1 - rss0 < 32 * 1024, "  rtmpd's RSS grew by %d KiB meanwhile (< 32 MiB)" %
          (rss1 - rss0))
    m = srv.wait_log(r"127\.0\.0\.1:%d does not read: (\d+) bytes queued for it, closing" %
                     local, 5)
    check(True, "  rtmpd logged \"ADDR does not read: %s bytes queued for it, closing\"" %
          m.group(1))


def read_back(sc, path, status):
    srv = sc.srv
    n = 20000
    _, sent, got, took = pipelined(srv.http_port, path, n, read=True)
    statuses = [int(x) for x in re.findall(rb"HTTP/1\.1 (\d{3}) ", bytes(got))]
    check(sent == n and len(statuses) == n and all(x == status for x in statuses),
          "%d pipelined GET %s from a client that reads: %d responses %d (%.2f s)" %
          (n, path.decode(), len(statuses), status, took))


def test():
    src = media("h264_720p_gop2.flv")
    with Server(settings={"http": {"listen": ["127.0.0.1:0"]}}) as srv:
        sc = Scenario(srv, src, rss_slack_kib=12 * 1024)

        def attacks(sc):
            sc.suite.run("pipelined HTTP requests never read", lambda: unread(sc))
            sc.suite.run("20,000 pipelined API requests, read",
                         lambda: read_back(sc, b"/api/v1/server", 200))
            sc.suite.run("20,000 pipelined 404s, read", lambda: read_back(sc, b"/nope", 404))
            log("access log lines for HTTP so far: %d" % srv.log_count(r"proto=http"))

        sc.run(attacks)


main(test)
