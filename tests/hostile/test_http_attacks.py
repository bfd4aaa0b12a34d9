#!/usr/bin/env python3
"""Pipelined HTTP API requests do not disturb a healthy RTMP stream.

ctest: serial (latency is measured)

While rtmpbench publishes the 720p file to live/healthy and 4 players in the
same process check every frame, HTTP clients pipeline requests to the API
(http.listen on, defaults otherwise). tests/integration/test_http_hostile.py
covers malformed HTTP; this file covers volume on one connection:

- pipelined GET /api/v1/server (up to 400,000) whose answers are never
  read: rtmpd answers a few requests per turn of the loop, stops reading
  while answers wait, and cuts the client once it has taken nothing for
  http.request_timeout_ms (2 s here; src/http.c: "http: ADDR does not read
  its answers: ... closing"); what it held for the client stays bounded and
  its RSS grows by less than 16 MiB (it grew without bound before: 117 MB
  for 8 MB of requests);
- 20,000 pipelined GET /api/v1/server from a client that reads: 20,000
  responses, in order;
- 20,000 pipelined GET /nope (404) from a client that reads: the same.

Each API request costs rtmpd ~16 us (JSON) and a pipelined request is ~40
bytes, so a read wakeup (up to 4 x 64 KiB) can hold ~6,500 requests: ~100 ms
during which no other connection is served. The healthy players' latency
p99 must stay within max(baseline + 20 ms, 2 x baseline), as in the other
hostile files: src/http.c answers at most 8 pipelined requests per turn of
the loop (it took ~100 ms per read before, stalling every player).

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

REQ_TIMEOUT = 2.0  # http.request_timeout_ms, in seconds


def pipelined(port, path, n):
    """Sends `n` pipelined GETs of `path` in one go while reading the
    answers; returns (requests sent, answers read, seconds)."""
    s = socket.create_connection(("127.0.0.1", port), 10)
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
    t.start()
    t0 = time.monotonic()
    sent = 0
    try:
        for _ in range(n // 1000):
            s.sendall(req * 1000)
            sent += 1000
    except OSError:
        pass
    t.join(60)
    done.set()
    s.close()
    return sent, got, time.monotonic() - t0


def unread(sc):
    """A client that pipelines requests and never reads the answers."""
    srv, res = sc.srv, sc.res
    rss0 = res.rss_kib()
    s = socket.create_connection(("127.0.0.1", srv.http_port), 10)
    s.settimeout(None)
    local = s.getsockname()[1]
    req = b"GET /api/v1/server HTTP/1.1\r\nHost: a\r\n\r\n" * 1000
    sent = [0]
    ended = threading.Event()
    t0 = time.monotonic()

    def sender():
        try:
            for _ in range(400):
                s.sendall(req)
                sent[0] += 1000
        except OSError:
            pass
        ended.set()

    threading.Thread(target=sender, daemon=True).start()
    # rtmpd stops reading while the answers wait; once nothing moves for
    # request_timeout_ms (once more if some moved) it cuts the client.
    m = srv.wait_log(r"http: 127\.0\.0\.1:%d does not read its answers: (\d+) bytes queued for "
                     r"it and (\d+) bytes of requests waiting" % local, 3 * REQ_TIMEOUT + 5)
    took = time.monotonic() - t0
    rss1 = res.rss_kib()
    check(ended.wait(5) and sent[0] < 400000,
          "pipelined API requests, answers never read: cut after %d requests, %.1f s" %
          (sent[0], took))
    check(True, "  rtmpd logged it: %s" % m.group(0))
    check(int(m.group(1)) + int(m.group(2)) <= 4 << 20,
          "  what rtmpd held for it was bounded (%s bytes of answers, %s of requests)" %
          (m.group(1), m.group(2)))
    check(rss1 - rss0 < 16 * 1024, "  rtmpd's RSS grew by %d KiB meanwhile (< 16 MiB)" %
          (rss1 - rss0))
    s.close()


def read_back(sc, path, status):
    srv = sc.srv
    n = 20000
    sent, got, took = pipelined(srv.http_port, path, n)
    statuses = [int(x) for x in re.findall(rb"HTTP/1\.1 (\d{3}) ", bytes(got))]
    check(sent == n and len(statuses) == n and all(x == status for x in statuses),
          "%d pipelined GET %s from a client that reads: %d responses %d (%.2f s)" %
          (n, path.decode(), len(statuses), status, took))


def test():
    src = media("h264_720p_gop2.flv")
    with Server(settings={"http": {"listen": ["127.0.0.1:0"],
                                   "request_timeout_ms": int(REQ_TIMEOUT * 1000)}}) as srv:
        sc = Scenario(srv, src, rss_slack_kib=12 * 1024)

        def attacks(sc):
            sc.suite.run("pipelined HTTP requests never read", lambda: unread(sc))
            sc.suite.run("20,000 pipelined API requests, read",
                         lambda: read_back(sc, b"/api/v1/server", 200))
            sc.suite.run("20,000 pipelined 404s, read", lambda: read_back(sc, b"/nope", 404))
            log("access log lines for HTTP so far: %d" % srv.log_count(r"proto=http"))

        sc.run(attacks)


main(test)
