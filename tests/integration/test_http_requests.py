#!/usr/bin/env python3
"""HTTP requests that need no media: what a refused HTTP-FLV request leaves
behind, the stream-name rule on HTTP-FLV, Accept-Encoding, the access log
lines of a request, Expect: 100-continue.

1. In an app with a transcode ladder and an `abr` group, 200 GETs of
   streams nobody publishes (ladder sources and the group) each get 404
   and leave no stream in the registry (/api/v1/server "streams": 0, and
   no rtmpd_stream_* series in /metrics).
2. HTTP-FLV applies the RTMP stream-name rule: names with raw 0xFF bytes,
   quotes, backslashes, empty or "." / ".." segments, or over
   limits.max_name_bytes get 400 with the reason in the body; nothing is
   created; valid names still get 404 while nobody publishes.
3. Accept-Encoding is parsed per RFC 9110: q=0 refuses a coding, "*"
   covers only codings not named, whitespace around ";" and "=" is allowed.
4. The access-log line of a request escapes '"', '\\' and bytes outside
   printable ASCII in the URL, so a URL cannot forge fields.
5. Every metric family /metrics emits is in the table of
   docs/http-api.md with its type, and the table lists no other.
6. "Expect: 100-continue" with a body within the limit gets "100 Continue"
   before the body is sent; no 100 without it, or for a body over the
   limit (413).
7. The FLV header of an HTTP-FLV response flags the kinds of media the
   stream has carried: audio only 0x04, video only 0x01, none yet 0x05.
"""

import os
import re
import socket
import time

import rtmp_client as rc
from harness import SOURCE_DIR, Server, check, main
from http_helpers import FlvPlayer, RawConn, get_json, request

HTTP = {"http": {"listen": ["127.0.0.1:0"]}}
LADDER = [{"suffix": "lo", "args": "-c copy"}]
APPS = [{"name": "live", "ladder": LADDER,
         "abr": [{"name": "grp", "renditions": ["grp_hi", "grp_mid"]}]},
        {"name": "plain"}]


def raw_get(port, target, want_port=False):
    """GET with the request target sent as raw bytes; returns (status, body),
    and the client's local port too with want_port."""
    c = RawConn(port)
    try:
        local = c.sock.getsockname()[1]
        c.send(b"GET " + target + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        r = c.read_response()
        check(r is not None, "GET %r: a response" % target)
        return (r[0], r[2], local) if want_port else (r[0], r[2])
    finally:
        c.close()


def streams_count(srv):
    st, doc, _ = get_json(srv.http_port, "/api/v1/server")
    check(st == 200 and doc, "GET /api/v1/server: 200")
    return doc["streams"]


def check_no_leak(srv):
    port = srv.http_port
    paths = ["/live/ghost%d.flv" % i for i in range(180)]
    paths += ["/live/grp.flv"] * 10 + ["/live/nested/g%d.flv" % i for i in range(10)]
    for p in paths:
        st, _, body = request(port, "GET", p)
        check(st == 404, "GET %s: 404 while nobody publishes (got %d %r)" % (p, st, body[:80]))
    n = streams_count(srv)
    check(n == 0, "no stream is left after %d refused HTTP-FLV requests (streams: %d)" %
          (len(paths), n))
    st, _, body = request(port, "GET", "/metrics")
    samples = [l for l in body.decode().splitlines() if l.startswith("rtmpd_stream_publishing{")]
    check(st == 200 and not samples, "/metrics has no per-stream series (%s)" % samples[:3])


def check_names(srv):
    port = srv.http_port
    bad = [(b"/live/a\xffb.flv", "invalid character"),
           (b"/live/\xc3\x28.flv", "invalid character"),
           (b'/live/a"b.flv', "invalid character"),
           (b"/live/a\\b.flv", "invalid character"),
           (b"/live/a%22b.flv", "invalid character"),
           (b"/live/a'b.flv", "invalid character"),
           (b"/live/.flv", "empty stream name"),
           (b"/live/a//b.flv", "empty path segment"),
           (b"/live/a/.flv", "empty path segment"),
           (b"/live/../x.flv", "'.' or '..'"),
           (b"/live/a/./x.flv", "'.' or '..'"),
           (b"/live/" + b"n" * 300 + b".flv", "too long"),
           (b"/plain/a\xffb.flv", "invalid character"),
           (b"/plain/a\"b.flv", "invalid character")]
    for target, why in bad:
        st, body = raw_get(port, target)
        check(st == 400 and why.encode() in body and b"Bad stream name" in body,
              "GET %r: 400 naming the problem (%r) (got %d %r)" % (target[:40], why, st, body))
    for target in (b"/live/ok-name_1.2~x.flv", b"/live/a/b.flv", b"/plain/x.flv",
                   b"/plain/" + b"n" * 256 + b".flv", b"/nosuchapp/a\xffb.flv"):
        st, body = raw_get(port, target)
        check(st == 404, "GET %r: 404 (got %d %r)" % (target[:40], st, body))
    check(streams_count(srv) == 0, "bad names created no stream")
    st, doc, _ = get_json(port, "/api/v1/streams")
    check(st == 200 and doc == {"streams": []}, "/api/v1/streams is empty (%r)" % doc)
    st, _, body = request(port, "GET", "/metrics")
    try:
        body.decode("utf-8")
        ok = True
    except UnicodeDecodeError:
        ok = False
    check(st == 200 and ok, "/metrics is valid UTF-8")


AE_CASES = [
    ("gzip", True), ("GZIP", True), ("x-gzip", True), ("gzip;q=1", True),
    ("gzip;q=0.5", True), ("gzip;q=0.001", True), ("GZIP;Q=1.0", True), ("gzip ;q=1", True),
    ("gzip ; q=0.8", True), ("deflate, gzip;q=0.5", True), ("br,gzip", True),
    ("*", True), ("br, *;q=0.5", True), ("br;q=1, *;q=0, gzip", True), ("\tgzip\t", True),
    ("gzip;q=0, *", False), ("gzip;q=0,*;q=1", False), ("gzip ;q=0", False),
    ("gzip ; q=0", False), ("gzip;q=0.000", False), ("gzip;Q=0", False), ("*;q=0", False),
    ("identity", False), ("br, deflate", False), ("gzipx", False), ("gzip;q=2", False),
    ("gzip;q=0.0001", False), ("gzip;q=abc", False), ("gzip;q=", False), ("", False),
    ("*;q=0, gzip;q=0", False), ("gzip foo", False),
]


def check_accept_encoding(srv):
    port = srv.http_port
    for value, want in AE_CASES:
        st, hdrs, body = request(port, "GET", "/metrics", {"Accept-Encoding": value})
        got = hdrs.get("content-encoding") == "gzip"
        check(st == 200 and got == want, "Accept-Encoding %r: %s (got Content-Encoding %r)" %
              (value, "gzip" if want else "none", hdrs.get("content-encoding")))
    # Several header lines form one list (RFC 9110, section 5.3).
    for lines, want in (([b"gzip;q=0", b"*"], False), ([b"br", b"gzip"], True),
                        ([b"br", b"*"], True), ([b"*;q=0", b"br"], False)):
        c = RawConn(port)
        try:
            c.send(b"GET /metrics HTTP/1.1\r\nHost: x\r\n" +
                   b"".join(b"Accept-Encoding: " + l + b"\r\n" for l in lines) +
                   b"Connection: close\r\n\r\n")
            st, hdrs, _ = c.read_response()
        finally:
            c.close()
        got = hdrs.get("content-encoding") == "gzip"
        check(got == want, "Accept-Encoding lines %r: %s" % (lines, "gzip" if want else "none"))


ACCESS = re.compile(r'ACCESS id=\d+ peer=\S+ proto=http method=GET url="((?:[\x20-\x21\x23-\x5b'
                    r'\x5d-\x7e]|\\x[0-9a-f]{2})*)" status=(\d+)$')


def check_access_log(srv):
    port = srv.http_port
    cases = [(b'/live/a"b.flv', r"/live/a\x22b.flv"),
             (b'/x?q="+method=POST+url="/forged', r"/x?q=\x22+method=POST+url=\x22/forged"),
             (b"/x\\y", r"/x\x5cy"),
             (b"/a\xff\xfe\x80b", r"/a\xff\xfe\x80b"),
             (b"/plain/" + b"z" * 400 + b".flv", None)]
    for target, want in cases:
        # This request's line: by the client's port (an earlier request's
        # line may still be on its way).
        st, _, local = raw_get(port, target, want_port=True)
        srv.wait_log(r"ACCESS id=\d+ peer=127\.0\.0\.1:%d proto=http method=" % local)
        line = [l for l in srv.log_text().splitlines()
                if "ACCESS" in l and "peer=127.0.0.1:%d proto=http method=" % local in l][-1]
        m = ACCESS.search(line)
        check(m is not None, "GET %r: the access-log line has its fields and nothing more "
              "(%r)" % (target[:40], line[-120:]))
        check(int(m.group(2)) == st, "GET %r: the line has the status sent (%s, %d)" %
              (target[:40], m.group(2), st))
        end = srv.wait_log(r"ACCESS id=\d+ peer=127\.0\.0\.1:%d proto=http stream=- role=api "
                           r"requests=1 bytes_in=\d+ bytes_out=\d+ duration_ms=\d+ "
                           r"reason=\"([^\"]*)\"$" % local)
        check(end is not None, "GET %r: and the connection's line when it closed (reason %r)" %
              (target[:40], end.group(1)))
        if want is None:
            check(m.group(1).endswith("...") and len(m.group(1)) < 260,
                  "a long URL is cut with '...' (%d bytes)" % len(m.group(1)))
        else:
            check(m.group(1) == want, "GET %r: url=\"%s\" in the access log (got %r)" %
                  (target[:40], want, m.group(1)))


def check_expect_continue(srv):
    """A request with "Expect: 100-continue" and a body within the limit gets
    "100 Continue" before sending the body, then its answer; without the
    header, or with a body over the limit (4096 bytes), no 100."""
    def ask(expect, length):
        s = socket.create_connection(("127.0.0.1", srv.http_port), 5)
        try:
            s.sendall(("DELETE /api/v1/clients/999999 HTTP/1.1\r\nHost: x\r\n%s"
                       "Content-Length: %d\r\nConnection: close\r\n\r\n" %
                       ("Expect: 100-continue\r\n" if expect else "", length)).encode())
            s.settimeout(0.5)
            try:
                first = s.recv(65536)
            except socket.timeout:
                first = b""
            s.settimeout(5)
            s.sendall(b"x" * length)
            rest = b""
            while True:
                d = s.recv(65536)
                if not d:
                    break
                rest += d
            return first, first + rest
        finally:
            s.close()
    first, whole = ask(True, 5)
    check(first == b"HTTP/1.1 100 Continue\r\n\r\n", "Expect: 100-continue: '100 Continue' "
          "at once (%r)" % first[:40])
    check(whole[len(first):].startswith(b"HTTP/1.1 404 "), "then the answer (%r)" %
          whole[len(first):len(first) + 20])
    first, whole = ask(False, 5)
    check(first.startswith(b"HTTP/1.1 404 ") or first == b"", "without Expect: no 100 (%r)" %
          first[:20])
    check(b" 100 Continue" not in whole, "without Expect: no 100 at all")
    first, whole = ask(True, 5000)
    check(b" 100 Continue" not in whole and whole.startswith(b"HTTP/1.1 413 "),
          "a body over the limit: no 100, 413 (%r)" % whole[:20])


def check_flv_header_flags(srv):
    """The FLV header's audio/video flags say what the stream carries: an
    audio-only stream 0x04, a video-only one 0x01 (a player such as flv.js
    trusts them); before any media, both (0x05)."""
    aac_seq, aac = b"\xaf\x00\x12\x10", b"\xaf\x01" + b"\x00" * 50
    avc_key = b"\x17\x01\x00\x00\x00" + b"\x00" * 50
    pubs = []
    for name, msgs, want in (("audio_only", [(8, aac_seq), (8, aac)], 0x04),
                             ("video_only", [(9, avc_key)], 0x01),
                             ("no_media_yet", [], 0x05)):
        c, msid, code = rc.publishing(srv.port, name, "plain")
        check(code == "NetStream.Publish.Start", "publish %s: %s" % (name, code))
        for i, (t, payload) in enumerate(msgs):
            c.send_media(msid, t, 20 * i, payload)
        c.pump(0.3)
        pubs.append(c)
        p = FlvPlayer(srv.http_port, "/plain/%s.flv" % name)
        p.start()
        deadline = time.monotonic() + 5
        while p.flv_header is None and not p.closed and time.monotonic() < deadline:
            time.sleep(0.05)
        p.stop()
        got = p.flv_header[4] if p.flv_header else None
        check(got == want, "%s: FLV header flags 0x%02x (got %s)" %
              (name, want, None if got is None else "0x%02x" % got))
    for c in pubs:
        c.close()


def check_metrics_documented(srv):
    """Every family /metrics emits is a row of the table in docs/http-api.md,
    with the same type, and the table has no row /metrics lacks."""
    st, _, body = request(srv.http_port, "GET", "/metrics")
    check(st == 200, "GET /metrics: 200")
    emitted = dict(re.findall(r"^# TYPE (\S+) (\S+)$", body.decode(), re.M))
    with open(os.path.join(SOURCE_DIR, "docs", "http-api.md")) as f:
        doc = f.read()
    rows = dict(re.findall(r"^\| `(rtmpd_[a-z_]+)` \| ([a-z]+) \|", doc, re.M))
    for name, typ in sorted(emitted.items()):
        check(rows.get(name) == typ, "docs/http-api.md lists %s as a %s (has %r)" %
              (name, typ, rows.get(name)))
    extra = sorted(set(rows) - set(emitted))
    check(not extra, "docs/http-api.md lists no metric /metrics lacks (%s)" % extra)


def test():
    with Server(settings=HTTP, apps=APPS) as srv:
        check_no_leak(srv)
        check_names(srv)
        check_accept_encoding(srv)
        check_access_log(srv)
        check_expect_continue(srv)
        check_flv_header_flags(srv)
        check_metrics_documented(srv)


main(test)
