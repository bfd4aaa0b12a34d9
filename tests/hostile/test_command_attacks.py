#!/usr/bin/env python3
"""Hostile commands do not disturb a healthy stream.

ctest: serial (latency is measured)

While rtmpbench publishes the 720p file to live/healthy and 4 players in the
same process check every frame, clients abuse well-formed commands
(defaults: limits.max_streams_per_connection 16, limits.max_name_bytes 256).
What each must produce, from src/session.c:

- createStream 10,000 times (pipelined, replies read): ids 1..16 as
  _result, then 9,984 _error NetConnection.Call.Failed "Too many streams on
  this connection."; log "createStream refused: 16 streams already open";
  after deleteStream(5) the next createStream gets 5 again;
- commands whose replies are never read (createStream until cut, at most
  400,000; 400,000 pings): rtmpd bounds what it queues for a peer besides
  a player's media (1 MiB) and closes it: log "peer from ADDR does not
  read: N bytes queued for it (limit 1048576), closing", access log reason
  "peer not reading";
- publish with names that are 65,536 and 65,535 bytes (and 257) long,
  contain "..", ".", empty segments, NUL, control bytes, DEL, a space, '%',
  '\\', ':', UTF-8, a query over 511 bytes, or are empty: onStatus error
  NetStream.Publish.BadName whose description is the reason ("stream name
  too long", "'.' or '..' in stream name", "empty path segment in stream
  name", "invalid character in stream name", "empty stream name", "query
  string too long"); log "publish 'NAME' refused: REASON" with NAME escaped
  and bounded (a newline in a name cannot forge a log line); play of the
  same names: onStatus error NetStream.Play.StreamNotFound, same reasons; a
  256-byte name is accepted; none of the refused names creates a stream
  (GET /api/v1/server: streams);
- play of 10,000 different names on one stream id (pipelined, replies
  read): each answered with Play.Reset and Play.Start; the registry never
  holds more than the healthy stream and the one being waited for;
- hijack attempts on live/healthy from another connection: publish ->
  BadName "Stream already publishing." (log "publish live/healthy refused:
  already publishing"); FCUnpublish, deleteStream and closeStream of ids it
  does not own (and deleteStream of NaN, infinity, -1, 2^40 and 1.5), and
  media sent on stream id 1 without publishing, change nothing for the
  healthy stream;
- commands before connect: _error NetConnection.Call.Failed "Not connected."
  (log "createStream before connect"); connect twice: _error "Already
  connected."; connect to apps "nope", "../live", "" and a 10,000-byte name:
  _error NetConnection.Connect.Rejected "Application not found." then a
  close (log "connect to unknown app '...': rejected", bounded);
- FCPublish with a 1,000-byte name full of control bytes: onFCPublish's
  description is the escaped name cut at 255 bytes, printable ASCII only
  (it used to carry one uninitialised byte of rtmpd's stack);
- 10,000 unknown commands: _error "Method not found." each; the log lines
  they cause are rate-limited per connection (32, then 1 a second, then "N
  log lines about this connection suppressed").

Afterwards: rtmpd's descriptors are back to the count before the attacks,
RSS grew by at most 12 MiB (the unread-replies attacks hold up to 1 MiB of
replies in several thousand small buffers until they are cut, 9 MiB for one
that plays; glibc keeps freed heap), and the healthy players got every frame
in order with latency p99 within max(baseline + 20 ms, 2 x baseline).
"""

import re
import struct
import time

from hostile import (AMF_NULL, Hostile, Scenario, amf_long_str, amf_num, amf_str, check, chunk,
                     command_payload, expect_logged, log, message, rc)
from harness import Server, main, media
from http_helpers import get_json

MAX_STREAMS = 16
MAX_NAME = 256


def streams(srv):
    status, doc, _ = get_json(srv.http_port, "/api/v1/server")
    return doc["streams"] if status == 200 and doc else None


def replies(c, kind):
    """Commands in c.pending named `kind`, decoded."""
    out = []
    for m in c.pending:
        if m.type in (17, 20):
            v = m.amf()
            if v[0] == kind:
                out.append(v)
    return out


def pump_until(c, pred, timeout):
    """Reads until pred() holds (or timeout); True if it did."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        if not c.poll(0.2):
            return pred()
    return pred()


def create_stream_flood(sc):
    srv = sc.srv
    c = Hostile.connected(srv.port)
    n = 10000
    blob = b"".join(message(3, 20, 0, 0, command_payload("createStream", 100 + i, AMF_NULL), 128)
                    for i in range(n))
    # Send in slices and read in between, as a client that reads its replies.
    for off in range(0, len(blob), 64 * 1024):
        c.send_bytes(blob[off:off + 64 * 1024])
        c.poll(0.001)
    pump_until(c, lambda: len(c.pending) >= n + 3, 20)
    ok = replies(c, "_result")
    err = replies(c, "_error")
    ids = [int(v[3]) for v in ok if v[1] >= 100]
    check(ids == list(range(1, MAX_STREAMS + 1)),
          "createStream x%d: the first %d get ids 1..%d (%s...)" % (n, MAX_STREAMS, MAX_STREAMS,
                                                                   ids[:4]))
    good = [v for v in err if v[3].get("code") == "NetConnection.Call.Failed" and
            v[3].get("description") == "Too many streams on this connection."]
    check(len(good) == n - MAX_STREAMS,
          "  the other %d get _error NetConnection.Call.Failed \"Too many streams on this "
          "connection.\" (%d)" % (n - MAX_STREAMS, len(good)))
    c.pending.clear()
    c.command("deleteStream", None, 5.0, txn=0)
    again = c.create_stream()
    check(again == 5, "  after deleteStream(5), createStream gets 5 again (%d)" % again)
    cid = expect_logged(srv, c, [r"createStream refused: 16 streams already open$",
                                 r"\d+ log lines about this connection suppressed \(rate limit: "
                                 r"32, then 1 a second\)$"])
    logged = srv.log_count(r"\[#%d\] createStream refused" % cid)
    check(logged <= 40, "  rtmpd logged %d of the %d refusals (32 at once, then 1 a second) "
          "and how many it left out" % (logged, n - MAX_STREAMS))


def unread_replies(sc):
    srv = sc.srv
    # createStream in batches of 20,000 (~2.8 MB of _error each), never
    # reading the replies, until rtmpd cuts the connection. How much of the
    # replies the kernel takes first (rtmpd's send buffer grows to
    # net.ipv4.tcp_wmem's maximum, 4 MiB here) is not rtmpd's to decide, so
    # the test does not assume a count; 400,000 (~56 MB of replies) is far
    # past any buffer.
    c = Hostile.connected(srv.port)
    batch, sent = 20000, 0
    while sent < 400000 and not c.closed:
        blob = b"".join(message(3, 20, 0, 0, command_payload("createStream", 1 + sent + i,
                                                             AMF_NULL), 128)
                        for i in range(batch))
        if c.send_bytes(blob):
            sent += batch
    took = c.closed_within(10)
    check(took is not None, "createStream without reading a reply: connection closed "
          "after %d sent" % sent)
    expect_logged(srv, c, [r"peer from 127\.0\.0\.1:%d does not read: \d+ bytes queued for it "
                           r"\(limit 1048576\), closing" % c.local_port], r"^peer not reading$")
    # 400,000 pings (User Control PingRequest), never reading the answers.
    c = Hostile.connected(srv.port)
    ping = chunk(0, 2, 0, 6, 4, 0, struct.pack(">HI", 6, 12345))
    c.send_bytes(ping * 400000)
    took = c.closed_within(10)
    check(took is not None, "400,000 pings (7 MB) without reading the answers: connection closed")
    expect_logged(srv, c, [r"does not read: \d+ bytes queued for it \(limit 1048576\)"],
                  r"^peer not reading$")
    # The same pings from a client that reads: all answered, not cut.
    c = Hostile.connected(srv.port)
    for _ in range(10):
        c.send_bytes(ping * 10000)
        pump_until(c, lambda: False, 0.05)
    pongs = lambda: sum(1 for m in c.pending if rc.user_control(m) == (7, 12345))  # noqa: E731
    pump_until(c, lambda: pongs() >= 100000, 20)
    check(pongs() == 100000 and not c.closed,
          "100,000 pings from a client that reads: 100,000 answers, still connected (%d)" %
          pongs())
    c.close()


BAD_NAMES = [
    (b"a" * 65536, "stream name too long"),
    (b"b" * 65535, "stream name too long"),
    (b"c" * (MAX_NAME + 1), "stream name too long"),
    (b"../etc/passwd", "'.' or '..' in stream name"),
    (b"a/../b", "'.' or '..' in stream name"),
    (b"..", "'.' or '..' in stream name"),
    (b"a/./b", "'.' or '..' in stream name"),
    (b"a//b", "empty path segment in stream name"),
    (b"/a", "empty path segment in stream name"),
    (b"a/", "empty path segment in stream name"),
    (b"a\x00b", "invalid character in stream name"),
    (b"a\x01b", "invalid character in stream name"),
    (b"a\nFORGED LOG LINE", "invalid character in stream name"),
    (b"a\x7fb", "invalid character in stream name"),
    (b"a b", "invalid character in stream name"),
    (b"a%2fb", "invalid character in stream name"),
    (b"a\\b", "invalid character in stream name"),
    (b"a:b", "invalid character in stream name"),
    ("caf\u00e9".encode(), "invalid character in stream name"),
    (b"", "empty stream name"),
    (b"?key=1", "empty stream name"),
    (b"ok?" + b"q" * 600, "query string too long"),
]


def amf_name(b):
    return amf_long_str(b) if len(b) > 0xFFFF else amf_str(b)


def bad_names(sc):
    srv = sc.srv
    n_streams = streams(srv)
    for verb, code in (("publish", "NetStream.Publish.BadName"),
                       ("play", "NetStream.Play.StreamNotFound")):
        c = Hostile.connected(srv.port)
        msid = c.create_stream()
        patterns = []
        for name, why in BAD_NAMES:
            args = [AMF_NULL, amf_name(name)] + ([amf_str("live")] if verb == "publish" else [])
            c.raw_command(command_payload(verb, 0, *args), csid=5, msid=msid)
            st = c.status()
            check(st is not None and st.get("level") == "error" and st.get("code") == code and
                  st.get("description") == why,
                  "%s %r%s: onStatus error %s \"%s\"" % (
                      verb, name[:24], "... (%d bytes)" % len(name) if len(name) > 24 else "",
                      st and st.get("code"), st and st.get("description")))
            patterns.append(r"%s '[^']*' refused: %s$" % (verb, re.escape(why)))
        cid = expect_logged(srv, c, patterns)
        mine = [ln for ln in srv.log_lines if "[#%d]" % cid in ln]
        check(all(len(ln) < 400 for ln in mine),
              "  %s: every log line is bounded (longest %d chars)" % (verb, max(map(len, mine))))
        check(any("a\\x0aFORGED LOG LINE" in ln for ln in mine) and
              srv.log_count(r"^FORGED") == 0,
              "  %s: a newline in a name is escaped (\\x0a): no forged log line" % verb)
    check(streams(srv) == n_streams, "no refused name created a stream (%d)" % n_streams)
    # The longest valid name is accepted.
    c = Hostile.connected(srv.port)
    msid = c.create_stream()
    st = c.publish(msid, "d" * MAX_NAME)
    check(st.get("code") == "NetStream.Publish.Start",
          "publish of a %d-byte name: NetStream.Publish.Start" % MAX_NAME)
    c.close()


def many_plays(sc):
    srv = sc.srv
    n = 10000
    c = Hostile.connected(srv.port)
    msid = c.create_stream()
    blob = b"".join(message(5, 20, msid, 0, command_payload(
        "play", 0, AMF_NULL, amf_str("name%05d" % i), amf_num(-2)), 128) for i in range(n))
    peak = 0
    for off in range(0, len(blob), 32 * 1024):
        c.send_bytes(blob[off:off + 32 * 1024])
        c.poll(0.001)
        if off % (32 * 1024 * 16) == 0:
            peak = max(peak, streams(srv))
    starts = lambda: sum(1 for m in c.pending  # noqa: E731
                         if (rc.status_info(m) or {}).get("code") == "NetStream.Play.Start")
    pump_until(c, lambda: starts() >= n, 30)
    check(starts() == n, "play of %d different names on one stream id: %d Play.Start" %
          (n, starts()))
    check(peak <= 2 and streams(srv) == 2,
          "  the registry held at most the healthy stream and the one waited for "
          "(peak %d, now %d)" % (peak, streams(srv)))
    c.close()
    deadline = time.monotonic() + 5
    while streams(srv) != 1 and time.monotonic() < deadline:
        time.sleep(0.1)
    check(streams(srv) == 1, "  and only the healthy stream once the player left")

    # 16 stream ids waiting on 16 names each: still bounded per connection.
    c = Hostile.connected(srv.port)
    ids = [c.create_stream() for _ in range(MAX_STREAMS)]
    for k in range(50):
        for i in ids:
            c.command("play", None, "w%d_%d" % (i, k), msid=i, csid=5, txn=0)
        c.poll(0.01)
    pump_until(c, lambda: sum(1 for m in c.pending if (rc.status_info(m) or {}).get("code") ==
                              "NetStream.Play.Start") >= 50 * MAX_STREAMS, 15)
    check(streams(srv) == 1 + MAX_STREAMS,
          "  800 plays over %d stream ids: %d streams (healthy + one per id)" %
          (MAX_STREAMS, streams(srv)))
    c.close()


def hijack(sc):
    srv = sc.srv
    c = Hostile.connected(srv.port)
    msid = c.create_stream()
    st = c.publish(msid, "healthy")
    check(st.get("level") == "error" and st.get("code") == "NetStream.Publish.BadName" and
          st.get("description") == "Stream already publishing.",
          "publish live/healthy from another connection: BadName \"Stream already publishing.\"")
    c.command("FCUnpublish", None, "healthy")
    c.command("deleteStream", None, 1.0, txn=0)
    c.command("closeStream", None, msid=1, csid=5, txn=0)
    c.command("deleteStream", None, 2.0, txn=0)
    for bad in (float("nan"), float("inf"), -1.0, 2.0 ** 40, 1.5):
        c.command("deleteStream", None, bad, txn=0)
    for ts in range(0, 3000, 33):  # media on stream id 1, not publishing
        c.send_media(1, 9, ts, b"\x17\x01\x00\x00\x00" + b"\x00" * 200)
        c.send_media(msid, 9, ts, b"\x17\x01\x00\x00\x00" + b"\x00" * 200)
    check(c.alive(), "FCUnpublish/deleteStream/closeStream of ids it does not own, media on "
          "stream id 1: ignored, the connection goes on")
    expect_logged(srv, c, [r"publish live/healthy refused: already publishing \(connection #\d+\)"])
    check(srv.log_count(r"live/healthy: unpublished") == 1,
          "the healthy stream was never unpublished (only the baseline run's end)")


def before_connect(sc):
    srv = sc.srv
    c = Hostile(srv.port)
    c.handshake()
    t1 = c.call("createStream", None)
    t2 = c.call("play", None, "healthy")
    r1, r2 = c.reply(t1), c.reply(t2)
    check(r1 and r1[0] == "_error" and r1[3].get("description") == "Not connected." and
          r2 and r2[0] == "_error",
          "createStream and play before connect: _error NetConnection.Call.Failed "
          "\"Not connected.\"")
    c.connect("live")
    t3 = c.call("connect", {"app": "live"})
    r3 = c.reply(t3)
    check(r3 and r3[0] == "_error" and r3[3].get("description") == "Already connected.",
          "connect twice: _error \"Already connected.\"")
    expect_logged(srv, c, [r"createStream before connect$", r"play before connect$"])
    for app in ("nope", "../live", "", "x" * 10000):
        c = Hostile(srv.port)
        c.handshake()
        t = c.call("connect", {"app": app, "tcUrl": "rtmp://127.0.0.1/" + app})
        r = c.reply(t)
        check(r and r[0] == "_error" and r[3].get("code") == "NetConnection.Connect.Rejected" and
              r[3].get("description") == "Application not found." and c.closed_within(5)
              is not None,
              "connect to app %r: _error Connect.Rejected \"Application not found.\", then "
              "closed" % app[:12])
        cid = expect_logged(srv, c, [r"connect to unknown app '[^']*': rejected$"],
                            r"^unknown app$")
        check(all(len(ln) < 400 for ln in srv.log_lines if "[#%d]" % cid in ln),
              "  the log line is bounded")


def fcpublish_echo(sc):
    srv = sc.srv
    c = Hostile.connected(srv.port)
    name = bytes(range(1, 32)) * 40
    c.raw_command(command_payload("FCPublish", 0, AMF_NULL, amf_str(name)))
    m = c.wait(lambda m: m.type == 20 and m.amf()[0] == "onFCPublish", 5)
    desc = m.amf()[3].get("description", "")
    printable = all(0x20 <= b < 0x7F for b in desc.encode("utf-8", "surrogateescape"))
    check(printable and len(desc) <= 255 and desc.startswith("\\x01\\x02") and
          desc.endswith("..."),
          "FCPublish with 1,000 control bytes: onFCPublish description escaped, %d bytes, "
          "printable ASCII only, ends with '...' (%r...%r)" % (len(desc), desc[:12], desc[-8:]))
    c.close()


def unknown_commands(sc):
    srv = sc.srv
    c = Hostile.connected(srv.port)
    n = 10000
    blob = b"".join(message(3, 20, 0, 0, command_payload("nope%d" % i, 1 + i, AMF_NULL), 128)
                    for i in range(n))
    for off in range(0, len(blob), 64 * 1024):
        c.send_bytes(blob[off:off + 64 * 1024])
        c.poll(0.001)
    pump_until(c, lambda: len(replies(c, "_error")) >= n, 20)
    errs = replies(c, "_error")
    check(len(errs) == n and all(v[3].get("description") == "Method not found." for v in errs),
          "%d unknown commands: %d _error \"Method not found.\"" % (n, len(errs)))
    cid = expect_logged(srv, c, [r"unknown command 'nope0'$",
                                 r"\d+ log lines about this connection suppressed"])
    check(srv.log_count(r"\[#%d\] unknown command" % cid) <= 40,
          "  at most 32 (+1 a second) of them logged")


def test():
    src = media("h264_720p_gop2.flv")
    with Server(settings={"http": {"listen": ["127.0.0.1:0"]}}) as srv:
        sc = Scenario(srv, src, rss_slack_kib=12 * 1024)

        def attacks(sc):
            sc.suite.run("createStream 10,000 times", lambda: create_stream_flood(sc))
            sc.suite.run("commands whose replies are never read", lambda: unread_replies(sc))
            sc.suite.run("publish/play with bad names (64 KiB, ../, NUL, control bytes)",
                         lambda: bad_names(sc))
            sc.suite.run("play of 10,000 different names", lambda: many_plays(sc))
            sc.suite.run("hijacking the healthy stream", lambda: hijack(sc))
            sc.suite.run("commands before connect, bad apps", lambda: before_connect(sc))
            sc.suite.run("FCPublish echoes a bounded, printable name", lambda: fcpublish_echo(sc))
            sc.suite.run("10,000 unknown commands", lambda: unknown_commands(sc))
            log("log lines so far: %d" % len(srv.log_lines))

        sc.run(attacks)


if __name__ == "__main__":
    main(test)
