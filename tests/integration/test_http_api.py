#!/usr/bin/env python3
"""The JSON API: streams, server, clients, kicking clients, stopping a
stream, access control (http.allow, http.token) and gzip.

ffmpeg publishes the 720p file to live/x; two RTMP players (rtmp_client.py)
and one HTTP-FLV player play it. The API must describe exactly that:
codecs, picture size, a bit rate within 10 % of the file's own rate, each
client's protocol, role and stream. DELETE on a client ends that client and
no other; DELETE on a stream stops its publisher. Then two more servers
check http.allow (403) and http.token (401/200) while HTTP-FLV stays open.
"""

import gzip
import json
import subprocess
import time

from harness import (RTMPD, Server, TestFailure, check, ffmpeg_publish, log, main, media, stop_proc,
                     wait_publishing)
from http_helpers import FlvPlayer, flv_file_rate, get_json, request
from rtmp_client import Client, Pump

HTTP_LISTEN = ["127.0.0.1:0"]


def rtmp_player(srv, name):
    c = Client("127.0.0.1", srv.port)
    c.handshake()
    c.connect("live")
    msid = c.create_stream()
    c.play(msid, name)
    pump = Pump(c)
    pump.start()
    return c, pump


def media_count(c):
    return sum(1 for m in list(c.pending) if m.type in (8, 9))


def api(srv, path, status=200, headers=None):
    st, doc, hdrs = get_json(srv.http_port, path, headers)
    check(st == status, "GET %s: %d (got %d)" % (path, status, st))
    check(doc is not None, "GET %s: the body is JSON" % path)
    check(hdrs.get("content-type", "").startswith("application/json"),
          "GET %s: Content-Type application/json (%r)" % (path, hdrs.get("content-type")))
    return doc


def shape(v, volatile=("peer",)):
    """The structure of a JSON value with numbers (and volatile strings) blanked."""
    if isinstance(v, dict):
        return {k: ("*" if k in volatile else shape(x)) for k, x in v.items()}
    if isinstance(v, list):
        return [shape(x) for x in v]
    if isinstance(v, bool) or v is None or isinstance(v, str):
        return v
    return "number"


def check_streams(srv, src):
    expect_bps, dur = flv_file_rate(src)
    log("the file's own rate: %.0f b/s over %.2f s" % (expect_bps, dur))
    # Rates are averaged over 8 s: wait until the window holds only the
    # steady state (past ffmpeg's initial -re burst).
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        st, one, _ = get_json(srv.http_port, "/api/v1/streams/live/x")
        if st == 200 and one.get("publish_uptime_s", 0) >= 11:
            break
        time.sleep(0.5)
    doc = api(srv, "/api/v1/streams")
    streams = doc.get("streams")
    check(isinstance(streams, list) and len(streams) == 1, "/api/v1/streams lists one stream")
    s = streams[0]
    log("stream: %s" % json.dumps(s))
    check(s["app"] == "live" and s["name"] == "x", "the stream is live/x")
    check(s["publishing"] is True, "publishing: true")
    check(s["video"]["codec"] == "h264", "video codec h264 (%r)" % s["video"]["codec"])
    check(s["audio"]["codec"] == "aac", "audio codec aac (%r)" % s["audio"]["codec"])
    check((s["video"]["width"], s["video"]["height"]) == (1280, 720),
          "resolution 1280x720 (%sx%s)" % (s["video"]["width"], s["video"]["height"]))
    check(28 <= s["video"]["fps"] <= 32, "fps about 30 (%s)" % s["video"]["fps"])
    rate = s["bitrate_bps"]["in"]
    check(abs(rate - expect_bps) <= 0.10 * expect_bps,
          "bitrate in %d b/s is within 10 %% of the file's %.0f b/s (%+.1f %%)" %
          (rate, expect_bps, 100.0 * (rate - expect_bps) / expect_bps))
    check(s["subscribers"] == 3, "3 subscribers (%s)" % s["subscribers"])
    out = s["bitrate_bps"]["out"]
    check(abs(out - 3 * rate) <= 0.15 * 3 * rate,
          "bitrate out %d b/s is about 3 x in (%d)" % (out, 3 * rate))
    check(s["bytes"]["in"] > 0.9 * expect_bps / 8 * 10, "bytes in %d after 11 s" % s["bytes"]["in"])
    check(s["gop_cache"]["frames"] > 0 and s["gop_cache"]["bytes"] > 0, "the GOP cache holds frames")
    check(isinstance(s["publisher"], dict) and s["publisher"]["id"] > 0,
          "the publisher is named by connection id")

    one = api(srv, "/api/v1/streams/live/x")
    check(shape(one) == shape(s), "/api/v1/streams/live/x has the same fields as the list entry")
    check(one["name"] == "x" and one["video"] == s["video"] and one["audio"] == s["audio"]
          and one["publisher"] == s["publisher"], "/api/v1/streams/live/x describes the same stream")
    for path in ("/api/v1/streams/live/nope", "/api/v1/streams/other/x", "/api/v1/streams/live",
                 "/api/v1/streams/live/"):
        err = api(srv, path, 404)
        check(err.get("error", {}).get("code") == 404, "%s: JSON error with code 404" % path)
    return s


def check_server(srv):
    doc = api(srv, "/api/v1/server")
    log("server: %s" % json.dumps(doc))
    version = subprocess.run([RTMPD, "-V"], capture_output=True, text=True).stdout.split()[-1]
    check(doc["version"] == version, "version %r is rtmpd -V's %r" % (doc["version"], version))
    c = doc["connections"]
    check(c["publishers"] == 1 and c["players"] == 3,
          "connections: 1 publisher, 3 players (%s)" % c)
    check(c["rtmp"] == 3 and c["http"] >= 2, "connections: 3 RTMP, >= 2 HTTP (%s)" % c)
    check(c["total"] == c["rtmp"] + c["http"], "total = rtmp + http (%s)" % c)
    check(doc["streams"] == 1, "1 stream")
    check(doc["uptime_s"] > 10 and doc["bytes_in"] > 1000000 and doc["bytes_out"] > 1000000,
          "uptime and byte counters are plausible")
    check(doc["accepted"] >= 5, "accepted >= 5 connections (%d)" % doc["accepted"])


def find(clients, **kv):
    return [c for c in clients if all(c.get(k) == v for k, v in kv.items())]


def check_clients(srv, rtmp_a, rtmp_b, flv):
    doc = api(srv, "/api/v1/clients")
    clients = doc["clients"]
    log("clients: %s" % json.dumps(clients))
    pubs = find(clients, proto="rtmp", role="publisher")
    check(len(pubs) == 1 and pubs[0]["stream"] == "live/x",
          "one RTMP publisher of live/x (%s)" % pubs)
    ids = {}
    for label, port, proto in (("RTMP player A", rtmp_a.sock.getsockname()[1], "rtmp"),
                               ("RTMP player B", rtmp_b.sock.getsockname()[1], "rtmp"),
                               ("HTTP-FLV player", flv.local_port, "http")):
        me = find(clients, peer="127.0.0.1:%d" % port)
        check(len(me) == 1, "%s is listed by its address 127.0.0.1:%d" % (label, port))
        me = me[0]
        check(me["proto"] == proto and me["role"] == "player" and me["stream"] == "live/x",
              "%s: proto %s, role player, stream live/x (%s/%s/%s)" %
              (label, proto, me["proto"], me["role"], me["stream"]))
        check(me["frames_sent"] > 100 and me["bytes_out"] > 500000,
              "%s: frames_sent %d, bytes_out %d" % (label, me["frames_sent"], me["bytes_out"]))
        ids[label] = me["id"]
    apis = find(clients, proto="http", role="api")
    check(len(apis) >= 1 and all(a["stream"] is None for a in apis),
          "the API request's own connection is listed as role api with no stream")
    check(len(set(c["id"] for c in clients)) == len(clients), "client ids are unique")

    one = api(srv, "/api/v1/clients/%d" % ids["HTTP-FLV player"])
    check(one["proto"] == "http" and one["role"] == "player" and one["id"] == ids["HTTP-FLV player"],
          "/api/v1/clients/{id} describes that client")
    for path in ("/api/v1/clients/999999", "/api/v1/clients/abc", "/api/v1/clients/0",
                 "/api/v1/clients/-1"):
        api(srv, path, 404)
    return pubs[0]["id"], ids


def check_kick(srv, rtmp_a, rtmp_b, flv, ids, pub):
    port = srv.http_port
    a0, b0, f0 = media_count(rtmp_a), media_count(rtmp_b), len(flv.tags)
    status, hdrs, body = request(port, "DELETE", "/api/v1/clients/%d" % ids["RTMP player A"])
    check(status == 200, "DELETE /api/v1/clients/%d: 200 (%d %s)" %
          (ids["RTMP player A"], status, body[:200]))
    check(json.loads(body) == {"kicked": ids["RTMP player A"]}, "the answer names the kicked id")
    deadline = time.monotonic() + 3
    while not rtmp_a.closed and time.monotonic() < deadline:
        time.sleep(0.05)
    check(rtmp_a.closed, "the kicked RTMP player sees its connection end")
    time.sleep(2)
    b1, f1 = media_count(rtmp_b), len(flv.tags)
    check(b1 - b0 >= 60, "RTMP player B keeps receiving (%d new frames)" % (b1 - b0))
    check(f1 - f0 >= 60 and not flv.closed, "the HTTP-FLV player keeps receiving (%d new tags)" %
          (f1 - f0))
    check(pub.poll() is None, "the publisher keeps publishing")
    api(srv, "/api/v1/clients/%d" % ids["RTMP player A"], 404)
    status, _, _ = request(port, "DELETE", "/api/v1/clients/%d" % ids["RTMP player A"])
    check(status == 404, "DELETE of a gone client: 404 (got %d)" % status)
    clients = api(srv, "/api/v1/clients")["clients"]
    check(not find(clients, id=ids["RTMP player A"]), "the kicked client is no longer listed")

    # Now the HTTP-FLV player.
    b0 = media_count(rtmp_b)
    status, _, body = request(port, "DELETE", "/api/v1/clients/%d" % ids["HTTP-FLV player"])
    check(status == 200, "DELETE the HTTP-FLV player: 200 (%d)" % status)
    flv.join(3)
    check(flv.closed, "the kicked HTTP-FLV player sees its connection end")
    check(not flv.errors, "its byte stream ended on a tag boundary (errors %s)" % flv.errors[:2])
    time.sleep(1.5)
    check(media_count(rtmp_b) - b0 >= 40 and not rtmp_b.closed, "RTMP player B still receives")
    s = api(srv, "/api/v1/streams/live/x")
    check(s["subscribers"] == 1, "1 subscriber left (%s)" % s["subscribers"])

    # Method checks on the same routes.
    status, hdrs, _ = request(port, "POST", "/api/v1/clients")
    check(status == 405 and "GET" in hdrs.get("allow", ""), "POST /api/v1/clients: 405 with Allow")
    status, hdrs, _ = request(port, "PUT", "/api/v1/streams/live/x")
    check(status == 405 and "DELETE" in hdrs.get("allow", ""),
          "PUT /api/v1/streams/live/x: 405 with Allow listing DELETE")


def check_stop_stream(srv, pub, pub_id):
    port = srv.http_port
    status, _, body = request(port, "DELETE", "/api/v1/streams/live/x")
    check(status == 200, "DELETE /api/v1/streams/live/x: 200 (%d %s)" % (status, body[:200]))
    check(json.loads(body) == {"stopped": "live/x", "publisher": pub_id},
          "the answer names the stream and its publisher (%s)" % body.strip())
    try:
        pub.wait(10)
    except subprocess.TimeoutExpired:
        pass
    check(pub.poll() is not None, "the ffmpeg publisher exits (code %s)" % pub.returncode)
    status, doc, _ = get_json(port, "/api/v1/streams/live/x")
    check(status == 404 or (status == 200 and doc["publishing"] is False),
          "live/x is no longer published (%d %s)" % (status, doc))
    doc = api(srv, "/api/v1/streams")
    check(not [s for s in doc["streams"] if s["publishing"]], "no stream is publishing")
    clients = api(srv, "/api/v1/clients")["clients"]
    check(not find(clients, role="publisher"), "no publisher is listed")
    status, _, _ = request(port, "DELETE", "/api/v1/streams/live/x")
    check(status == 404, "DELETE of a stream without publisher: 404 (got %d)" % status)
    status, _, _ = request(port, "DELETE", "/api/v1/streams/live/nope")
    check(status == 404, "DELETE of an unknown stream: 404 (got %d)" % status)


def check_gzip(srv):
    port = srv.http_port

    def both(path):
        st1, h1, plain = request(port, "GET", path)
        st2, h2, gz = request(port, "GET", path, {"Accept-Encoding": "gzip, deflate"})
        check(st1 == 200 and st2 == 200, "GET %s with and without gzip: 200" % path)
        check("content-encoding" not in h1, "%s: no Content-Encoding unless asked" % path)
        check(h2.get("content-encoding") == "gzip",
              "%s with Accept-Encoding gzip: Content-Encoding gzip (%r)" %
              (path, h2.get("content-encoding")))
        check(int(h2["content-length"]) == len(gz), "%s: Content-Length is the gzip size" % path)
        check(gz[:2] == b"\x1f\x8b", "%s: the body is a gzip member" % path)
        try:
            data = gzip.decompress(gz)
        except (OSError, EOFError) as e:
            raise TestFailure("%s: gzip body does not decode: %s" % (path, e))
        check("accept-encoding" in h2.get("vary", "").lower(), "%s: Vary: Accept-Encoding" % path)
        check("accept-encoding" in h1.get("vary", "").lower(),
              "%s: Vary: Accept-Encoding on the plain response too (caches must not mix them)"
              % path)
        return plain, data

    for path in ("/api/v1/streams", "/api/v1/streams/live/x", "/api/v1/clients"):
        plain, data = both(path)
        a, b = json.loads(plain), json.loads(data)
        if path == "/api/v1/clients":  # each request is its own API connection
            a = [c for c in a["clients"] if c["role"] != "api"]
            b = [c for c in b["clients"] if c["role"] != "api"]
        check(shape(a) == shape(b), "%s: the gzip body decodes to the same JSON" % path)
    plain, data = both("/metrics")
    series = lambda text: [l.rsplit(" ", 1)[0] for l in text.decode().splitlines()]
    check(series(plain) == series(data), "/metrics: the gzip body has the same lines")

    for ae in ("gzip;q=0", "br", "identity", "deflate"):
        st, h, body = request(port, "GET", "/api/v1/streams", {"Accept-Encoding": ae})
        check(st == 200 and "content-encoding" not in h and json.loads(body),
              "Accept-Encoding %r: plain JSON" % ae)
    st, h, gz = request(port, "GET", "/api/v1/streams", {"Accept-Encoding": "GZIP;q=0.5"})
    check(h.get("content-encoding") == "gzip" and json.loads(gzip.decompress(gz)),
          "Accept-Encoding 'GZIP;q=0.5': gzip")


def main_server():
    src = media("h264_720p_gop2.flv")
    with Server(settings={"http": {"listen": HTTP_LISTEN}}) as srv:
        pub = ffmpeg_publish(srv.url("x"), src)
        players = []
        try:
            wait_publishing(srv, "x")
            rtmp_a, pump_a = rtmp_player(srv, "x")
            rtmp_b, pump_b = rtmp_player(srv, "x")
            flv = FlvPlayer(srv.http_port, "/live/x.flv")
            flv.start()
            players = [(rtmp_a, pump_a), (rtmp_b, pump_b)]
            check(flv.wait_ready() == 200, "the HTTP-FLV player plays")

            check_streams(srv, src)
            check_server(srv)
            pub_id, ids = check_clients(srv, rtmp_a, rtmp_b, flv)
            check_gzip(srv)
            check_kick(srv, rtmp_a, rtmp_b, flv, ids, pub)
            check_stop_stream(srv, pub, pub_id)
        finally:
            stop_proc(pub)
            for c, p in players:
                p.__exit__(None, None, None)
                c.close()


def check_flv_open(srv, port):
    p = FlvPlayer(port, "/live/y.flv", stop_after=30)
    p.start()
    p.join(10)
    check(p.status == 200 and len(p.tags) >= 30 and not p.errors,
          "HTTP-FLV stays open to all: 200 and FLV tags (status %s, %d tags)" %
          (p.status, len(p.tags)))


def access_servers():
    src = media("h264_360p_gop1.flv")
    settings = {"http": {"listen": HTTP_LISTEN + ["[::1]:0"], "allow": ["10.0.0.0/8", "::1/128"]}}
    with Server(settings=settings) as srv:
        pub = ffmpeg_publish(srv.url("y"), src)
        try:
            wait_publishing(srv, "y")
            port = srv.http_port
            port6 = int(srv.wait_log(r"http listening on \[::1\]:\d+ \(port (\d+)\)").group(1))
            st, _, body = request(port6, "GET", "/api/v1/server", host="::1")
            check(st == 200 and json.loads(body)["version"],
                  "http.allow with ::1/128: a client on ::1 gets 200 (got %d)" % st)
            for method, path in (("GET", "/api/v1/server"), ("GET", "/api/v1/streams"),
                                 ("GET", "/api/v1/clients"), ("GET", "/metrics"),
                                 ("HEAD", "/metrics"), ("GET", "/api/v1/streams/live/y"),
                                 ("DELETE", "/api/v1/streams/live/y"),
                                 ("DELETE", "/api/v1/clients/1")):
                st, _, body = request(port, method, path)
                check(st == 403, "http.allow without 127.0.0.1: %s %s -> 403 (got %d)" %
                      (method, path, st))
            check(pub.poll() is None, "the refused DELETE did not stop the publisher")
            check_flv_open(srv, port)
        finally:
            stop_proc(pub)

    token = "s3cret-t0ken"
    settings = {"http": {"listen": HTTP_LISTEN, "token": token}}
    with Server(settings=settings) as srv:
        pub = ffmpeg_publish(srv.url("y"), src)
        try:
            wait_publishing(srv, "y")
            port = srv.http_port
            for path in ("/api/v1/server", "/api/v1/streams", "/metrics"):
                for auth in (None, "Bearer wrong", "Bearer " + token + "x", "Bearer " + token[:-1],
                             "Basic czNjcmV0LXQwa2Vu", token, "Bearer", "Bearer" + token):
                    hdrs = {"Authorization": auth} if auth is not None else {}
                    st, h, _ = request(port, "GET", path, hdrs)
                    check(st == 401, "http.token set: GET %s with Authorization %r -> 401 (got %d)"
                          % (path, auth, st))
                    check(h.get("www-authenticate", "").startswith("Bearer"),
                          "401 carries WWW-Authenticate: Bearer")
                for auth in ("Bearer " + token, "bearer " + token):
                    st, _, body = request(port, "GET", path, {"Authorization": auth})
                    check(st == 200 and body, "GET %s with %r -> 200 (got %d)" %
                          (path, auth[:6] + "...", st))
            st, _, _ = request(port, "DELETE", "/api/v1/streams/live/y",
                               {"Authorization": "Bearer nope"})
            check(st == 401 and pub.poll() is None, "DELETE with a wrong token: 401, still publishing")
            # A CORS preflight carries no credentials.
            st, h, _ = request(port, "OPTIONS", "/api/v1/streams")
            check(st == 204 and "authorization" in h.get("access-control-allow-headers", "").lower(),
                  "OPTIONS (CORS preflight) without a token: 204, Authorization allowed (%d)" % st)
            check(h.get("access-control-allow-origin") == "*", "CORS origin * by default")
            check("content-length" not in h, "the 204 carries no Content-Length (RFC 9110 8.6)")
            check_flv_open(srv, port)
        finally:
            stop_proc(pub)


def test():
    t0 = time.monotonic()
    main_server()
    access_servers()
    log("took %.1f s" % (time.monotonic() - t0))


main(test)
