#!/usr/bin/env python3
"""Malformed and hostile HTTP does not disturb playback.

While rtmpbench publishes live/x and plays it over RTMP, and an HTTP-FLV
player plays it too, clients send the HTTP port: bad request lines (400 and
close), headers over http.max_header_bytes (431 and close), headers at one
byte a second (408 after http.request_timeout_ms, then close), a too long URL
(414), a too large body (413), pipelined keep-alive requests (answered in
order, HEAD without a body, "Connection: close" honoured), and garbage from
many connections at once. The RTMP player must see no stall and no
sequence error, the HTTP-FLV player no gap over 1 s and frames on pace.

ctest: serial (timing)
"""

import json
import os
import socket
import subprocess
import threading
import time

from harness import (RTMPBENCH, Server, TestFailure, check, log, main, media, stop_proc,
                     wait_publishing)
from http_helpers import FlvPlayer, RawConn

TIMEOUT_MS = 1500
MAX_HEADER = 4096
DURATION = 14


def expect_error(port, data, status, what):
    """Sends `data`; the answer must be `status` and then the connection ends."""
    c = RawConn(port)
    try:
        c.send(data)
        try:
            r = c.read_response()
        except (ValueError, socket.timeout) as e:
            raise TestFailure("%s: malformed response: %s (received %r)" % (what, e, c.buf[:300]))
        check(r is not None, "%s: a response arrives (connection reset: %s)" % (what, c.reset))
        check(r[0] == status, "%s: %d (got %d)" % (what, status, r[0]))
        check(r[1].get("connection") == "close", "%s: Connection: close" % what)
        check(c.wait_closed(3) is not None, "%s: then the server closes the connection" % what)
        return r
    finally:
        c.close()


def bad_requests(port):
    expect_error(port, b"HELLO\r\n\r\n", 400, "request line 'HELLO'")
    expect_error(port, b"GET /api/v1/server FOO/1.1\r\nHost: a\r\n\r\n", 400,
                 "bad protocol name")
    expect_error(port, b"GET /api/v1/server HTTP/1.1\r\nHost a\r\n\r\n", 400,
                 "header line without a colon")
    expect_error(port, b"GET /api\x00/v1 HTTP/1.1\r\nHost: a\r\n\r\n", 400, "NUL in the URL")
    expect_error(port, b"GET /api/v1/server HTTP/1.1\r\nContent-Length: x1\r\n\r\n", 400,
                 "bad Content-Length")
    # A TLS ClientHello sent to the plain HTTP port.
    expect_error(port, b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + os.urandom(64), 400,
                 "a TLS ClientHello")


def oversized(port):
    pad = b"X-Pad: " + b"a" * MAX_HEADER + b"\r\n"
    expect_error(port, b"GET /api/v1/server HTTP/1.1\r\nHost: a\r\n" + pad + b"\r\n", 431,
                 "one header over http.max_header_bytes")
    many = b"".join(b"X-H%03d: %s\r\n" % (i, b"v" * 40) for i in range(120))
    expect_error(port, b"GET /api/v1/server HTTP/1.1\r\n" + many + b"\r\n", 431,
                 "120 headers over http.max_header_bytes")
    # Headers are limited as they arrive, not once complete: a client that
    # keeps sending gets its 431 without the server buffering it all.
    c = RawConn(port)
    try:
        c.send(b"GET /api/v1/server HTTP/1.1\r\nX-Big: ")
        sent = 0
        try:
            while sent < 4 * MAX_HEADER:
                c.send(b"b" * 512)
                sent += 512
                time.sleep(0.01)
        except (BrokenPipeError, ConnectionResetError):
            pass
        r = c.read_response()
        check(r is not None and r[0] == 431, "an endless header: 431 (%s)" % (r and r[0]))
        check(c.wait_closed(3) is not None, "an endless header: the connection ends")
    finally:
        c.close()


def too_long(port):
    expect_error(port, b"GET /" + b"a" * 3000 + b" HTTP/1.1\r\nHost: a\r\n\r\n", 414,
                 "a 3000-byte URL")
    expect_error(port, b"POST /api/v1/server HTTP/1.1\r\nHost: a\r\nContent-Length: 10000\r\n\r\n"
                 + b"z" * 10000, 413, "a 10000-byte body")


def slow_headers(port, n=1, label="slow headers"):
    """`n` clients send a request at one byte a second; each must get 408
    about http.request_timeout_ms after its first byte, then a close."""
    req = b"GET /api/v1/server HTTP/1.1\r\nHost: a\r\nUser-Agent: slowloris\r\n\r\n"
    results = [None] * n

    def one(i):
        try:
            s = socket.create_connection(("127.0.0.1", port), 5)
            t0 = time.monotonic()
            got = b""
            for k in range(len(req)):
                try:
                    s.sendall(req[k:k + 1])
                except OSError:
                    break
                s.settimeout(1.0)
                try:
                    d = s.recv(4096)
                    if not d:
                        break
                    got += d
                    if b"\r\n\r\n" in got:
                        break
                except socket.timeout:
                    pass
            t_resp = time.monotonic() - t0
            s.settimeout(3)
            closed = False
            try:
                while True:
                    d = s.recv(4096)
                    if not d:
                        closed = True
                        break
                    got += d
            except (socket.timeout, ConnectionResetError):
                pass
            s.close()
            results[i] = (got, t_resp, closed)
        except Exception as e:  # noqa: BLE001
            results[i] = (repr(e).encode(), 0, False)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(20)
    lo, hi = TIMEOUT_MS / 1000.0 - 0.2, TIMEOUT_MS / 1000.0 + 1.5
    for i, (got, t, closed) in enumerate(results):
        status = got.split(b" ", 2)[1] if got.startswith(b"HTTP/1.1 ") else got[:60]
        if n == 1 or status != b"408" or not (lo <= t <= hi) or not closed:
            check(status == b"408", "%s [%d]: 408 (got %r)" % (label, i, status))
            check(lo <= t <= hi, "%s [%d]: answered after %.2f s (request_timeout_ms %d)" %
                  (label, i, t, TIMEOUT_MS))
            check(closed, "%s [%d]: then the connection ends" % (label, i))
    if n > 1:
        check(True, "%s: all %d clients got 408 in time and a close" % (label, n))


def idle_connection(port):
    c = RawConn(port)
    took = c.wait_closed(TIMEOUT_MS / 1000.0 + 2)
    check(took is not None and took >= TIMEOUT_MS / 1000.0 - 0.2,
          "a connection that sends nothing is closed after the timeout (%.2f s)" % (took or -1))
    c.close()


def pipelined(port):
    def req(method, path, extra=b""):
        return b"%s %s HTTP/1.1\r\nHost: a\r\n%s\r\n" % (method, path, extra)

    c = RawConn(port)
    try:
        c.send(req(b"GET", b"/api/v1/server") + req(b"HEAD", b"/api/v1/streams") +
               req(b"GET", b"/api/v1/streams/live/x") + req(b"GET", b"/nope"))
        r1 = c.read_response()
        r2 = c.read_response(head=True)
        r3 = c.read_response()
        r4 = c.read_response()
        check(r1 and r1[0] == 200 and "version" in json.loads(r1[2]),
              "pipelined 1/4: GET /api/v1/server answered first")
        check(r2 and r2[0] == 200 and int(r2[1]["content-length"]) > 0,
              "pipelined 2/4: HEAD /api/v1/streams, 200 with a Content-Length")
        check(r3 and r3[0] == 200 and json.loads(r3[2]).get("name") == "x",
              "pipelined 3/4: GET /api/v1/streams/live/x (the HEAD sent no body)")
        check(r4 and r4[0] == 404, "pipelined 4/4: GET /nope -> 404")
        check(all(r[1].get("connection") == "keep-alive" for r in (r1, r2, r3, r4)),
              "pipelined responses keep the connection alive")
        c.send(req(b"GET", b"/api/v1/server"))
        r5 = c.read_response()
        check(r5 and r5[0] == 200, "the kept-alive connection answers a later request")

        # Many at once, alternating 200 and 404 so that the order shows.
        n = 40
        c.send(b"".join(req(b"GET", b"/api/v1/server" if i % 2 == 0 else b"/nope%d" % i)
                        for i in range(n)))
        statuses = [c.read_response()[0] for i in range(n)]
        check(statuses == [200 if i % 2 == 0 else 404 for i in range(n)],
              "%d pipelined requests in one write: %d responses in order" % (n, n))
    finally:
        c.close()

    # "Connection: close" on the first request: one answer, then the end.
    c = RawConn(port)
    try:
        c.send(req(b"GET", b"/api/v1/server", b"Connection: close\r\n") +
               req(b"GET", b"/api/v1/server"))
        r = c.read_response()
        check(r and r[0] == 200 and r[1].get("connection") == "close",
              "'Connection: close' request: answered with Connection: close")
        check(c.wait_closed(3) is not None and c.buf == b"",
              "the request after 'Connection: close' gets no answer; the connection ends")
    finally:
        c.close()

    # HTTP/1.0 without keep-alive closes after the response.
    c = RawConn(port)
    try:
        c.send(b"GET /api/v1/server HTTP/1.0\r\n\r\n")
        r = c.read_response()
        check(r and r[0] == 200, "HTTP/1.0 request: 200")
        check(c.wait_closed(3) is not None, "HTTP/1.0 without keep-alive: the connection ends")
    finally:
        c.close()

    # An API request, then HTTP-FLV on the same connection.
    c = RawConn(port)
    try:
        c.send(req(b"GET", b"/api/v1/server") + req(b"GET", b"/live/x.flv"))
        r = c.read_response()
        check(r and r[0] == 200 and "version" in json.loads(r[2]), "API then FLV: JSON first")
        head = c.read_response(head=True)
        check(head and head[0] == 200 and head[1].get("content-type") == "video/x-flv",
              "API then FLV: then the FLV response")
        while len(c.buf) < 13 and c._fill(5):
            pass
        check(c.buf[:3] == b"FLV", "API then FLV: the FLV body follows")
    finally:
        c.close()

    # FLV, then more requests pipelined behind it (found by fuzz_http: they
    # used to be parsed and re-attached the live subscription). The FLV
    # response is the connection from then on; the rest is never answered.
    c = RawConn(port)
    try:
        c.send(req(b"GET", b"/live/x.flv") + req(b"GET", b"/live/x.flv") +
               req(b"GET", b"/api/v1/server"))
        head = c.read_response(head=True)
        check(head and head[0] == 200 and head[1].get("content-type") == "video/x-flv",
              "FLV with requests pipelined behind it: the FLV response")
        while len(c.buf) < 64 * 1024 and c._fill(2):
            pass
        check(c.buf[:3] == b"FLV" and b"HTTP/1.1" not in c.buf,
              "FLV with requests pipelined behind it: only FLV follows (%d bytes)" % len(c.buf))
    finally:
        c.close()


def garbage_flood(port, n=40):
    """`n` connections at once each send 64 KiB of random bytes."""
    out = []

    def one():
        try:
            c = RawConn(port, timeout=5)
            try:
                c.send(b"GET /" + os.urandom(65536))
            except OSError:
                pass
            r = None
            try:
                r = c.read_response()
            except (OSError, ValueError):
                pass
            out.append(r[0] if r else None)
            c.close()
        except OSError as e:
            out.append(repr(e))

    threads = [threading.Thread(target=one) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(15)
    bad = [x for x in out if x not in (400, 414, 431)]
    check(len(out) == n and not bad, "%d garbage connections: each got 400/414/431 (%s)" %
          (n, sorted(set(map(str, out)))))


def test():
    src = media("h264_720p_gop2.flv")
    settings = {"http": {"listen": ["127.0.0.1:0"], "request_timeout_ms": TIMEOUT_MS,
                         "max_header_bytes": MAX_HEADER}}
    with Server(settings=settings) as srv:
        port = srv.http_port
        out = os.path.join(srv.dir, "bench.json")
        url = srv.url("x")
        bench = subprocess.Popen([RTMPBENCH, "--publish", url, "--play", url, "--file", src,
                                  "-n", "1", "--duration", str(DURATION), "--json", out,
                                  "--quiet"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                 text=True)
        flv = None
        try:
            wait_publishing(srv, "x")
            flv = FlvPlayer(port, "/live/x.flv")
            flv.start()
            check(flv.wait_ready() == 200, "the HTTP-FLV player plays")
            time.sleep(1.5)
            t_start = time.monotonic()
            v0 = len(flv.video())

            bad_requests(port)
            oversized(port)
            too_long(port)
            pipelined(port)
            slow_headers(port)
            idle_connection(port)
            slow_headers(port, 30, "30 slow clients at once")
            garbage_flood(port)

            elapsed = time.monotonic() - t_start
            log("hostile phase took %.1f s" % elapsed)
            gap = flv.max_gap(since=t_start - 0.5)
            frames = len(flv.video()) - v0
            check(not flv.closed and not flv.errors, "the HTTP-FLV player is still playing")
            check(gap is not None and gap < 1.0,
                  "HTTP-FLV player: no gap over 1 s meanwhile (max %.3f s)" % (gap or -1))
            check(frames >= 30 * elapsed * 0.9, "HTTP-FLV player: %d video frames in %.1f s "
                  "(>= 90 %% of 30 fps)" % (frames, elapsed))

            try:
                rc = bench.wait(DURATION + 20)
            except subprocess.TimeoutExpired:
                raise TestFailure("rtmpbench did not finish")
            stdout, stderr = bench.communicate()
            log("rtmpbench: %s" % stdout.strip())
            check(rc == 0, "rtmpbench exited 0 (%d: %s)" % (rc, stderr[-500:]))
            with open(out) as f:
                res = json.load(f)
            check(res["connected"] == 1 and res["failed"] == 0 and res["closed"] == 0,
                  "the RTMP player played to the end (connected %d, failed %d, closed %d)" %
                  (res["connected"], res["failed"], res["closed"]))
            check(res["stalls"] == 0, "the RTMP player had no stall (%d, %.2f s)" %
                  (res["stalls"], res["stall_s"]))
            check(res["sequence"]["errors"] == 0 and res["sequence"]["checked"] > 500,
                  "the RTMP player got every frame in order (%d checked, %d errors)" %
                  (res["sequence"]["checked"], res["sequence"]["errors"]))
            check(res["video_frames"] >= 30 * res["duration_s"] * 0.9,
                  "the RTMP player got %d video frames in %.1f s (on pace)" %
                  (res["video_frames"], res["duration_s"]))
            check(res["latency_ms"]["max"] is not None and res["latency_ms"]["max"] < 500,
                  "the server added at most %.1f ms of latency to any frame (< 500)" %
                  res["latency_ms"]["max"])
        finally:
            if flv:
                flv.stop()
            stop_proc(bench)


main(test)
