#!/usr/bin/env python3
"""Hostile publishers do not disturb a healthy stream.

ctest: serial (latency is measured)

While rtmpbench publishes the 720p file to live/healthy and 4 players in the
same process check every frame, other connections publish hostile media on
their own stream names, each watched by a raw player that joined first:

- live/junk: valid sequence headers and frames mixed with malformed ones
  (empty video, headers cut short, FrameType 0 and 7, AVCPacketType 5,
  AACPacketType 5, reserved Enhanced RTMP packet types, a cut FourCC) and
  with well-formed headers around garbage codec data (an avcC of random
  bytes, an SPS whose length runs past the message, HEVC codec id 12 and
  E-RTMP hvc1 sequence starts of random bytes, random NAL data). What
  src/session.c does: a message whose FLV header rtmpd_flv_inspect rejects
  is dropped, never forwarded, and the first one is logged ("live/junk:
  dropping malformed video message (flv: truncated tag)", once per
  connection); codec data is not parsed (except the SPS, for the picture
  size, which must survive garbage), so well-formed headers are forwarded
  as they are; an empty audio message is E-RTMP silence and is forwarded.
  The publisher is not disconnected: an encoder's odd packet must not end a
  live event, and the damage stays in its own stream. The raw player must
  receive exactly the forwarded messages, in order, byte for byte.
- live/jumpy: valid media whose timestamps go back 10 s, jump forward by
  2^31, wrap past 2^32 and go back by 2^31: every message is forwarded, in
  order, intact; between the jumps the player's timestamps step as the
  publisher's do (the wrap unwrapped, a step back below the player's own
  start continued from its last timestamp, never stuck at 0); players are
  not disconnected; rtmpd logs each jump
  ("live/jumpy: video timestamp jumped by -9967 ms (A -> B)"; a jump is a
  step back over 1 s or forward over 60 s, as a signed 32-bit difference).
- live/agg: aggregate messages (type 22): a valid one is split into its
  frames; malformed ones (a sub-tag longer than the message, a bad
  PreviousTagSize, a bad tag type) are protocol errors: "malformed
  aggregate message: flv: ..." logged, and the 17th closes the connection
  (access log "too many protocol errors").
- live/meta: 20,000 onMetaData messages: each replaces the stream's
  metadata; the "metadata (N bytes)" log line is rate-limited per
  connection (32, then 1 a second, then "N log lines about this connection
  suppressed").

Afterwards: rtmpd's descriptors are back to the count before the attacks,
RSS grew by at most 8 MiB (the hostile streams' GOP caches are freed when
they unpublish; glibc keeps freed heap), and the healthy players got every
frame in order with latency p99 within max(baseline + 20 ms, 2 x baseline).
"""

import os
import re
import struct
import time

from hostile import Hostile, Scenario, amf, check, expect_logged, log, rc
from harness import Server, main, media


def tags_of(path, seconds):
    """(type, ts, payload) of the audio/video tags of the first `seconds`."""
    out = []
    for t, ts, p in rc.flv_tags(path):
        if t in (8, 9):
            if ts > seconds * 1000:
                break
            out.append((t, ts, p))
    return out


class Watcher:
    """A raw player of live/NAME that joined before the publisher."""

    def __init__(self, srv, name):
        self.c = Hostile.connected(srv.port)
        msid = self.c.create_stream()
        self.c.play(msid, name)
        check(self.c.status(code_prefix="NetStream.Play.Start") is not None,
              "a raw player of live/%s waits for its publisher" % name)
        self.pump = rc.Pump(self.c)
        self.pump.start()

    def media(self, n, timeout=10):
        """Waits for `n` audio/video messages; returns all received."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            got = [m for m in list(self.c.pending) if m.type in (8, 9)]
            if len(got) >= n:
                break
            time.sleep(0.05)
        time.sleep(0.3)  # anything extra
        return [m for m in list(self.c.pending) if m.type in (8, 9)]

    def close(self):
        self.pump.__exit__(None, None, None)
        self.c.close()


def publisher(srv, name):
    p = Hostile.connected(srv.port, chunk_size=4096)
    msid = p.create_stream()
    st = p.publish(msid, name)
    check(st.get("code") == "NetStream.Publish.Start", "%s: publishing" % name)
    return p, msid


def compare(got, want, what):
    """Received messages `got` equal the (type, payload) list `want`."""
    same = len(got) == len(want) and all(m.type == t and m.payload == p
                                         for m, (t, p) in zip(got, want))
    if not same:
        for i, (m, w) in enumerate(zip(got, want)):
            if m.type != w[0] or m.payload != w[1]:
                log("first difference at %d: got type %d len %d %r, want type %d len %d %r" %
                    (i, m.type, len(m.payload), m.payload[:8], w[0], len(w[1]), w[1][:8]))
                break
    check(same, "%s: the player received exactly the %d forwarded messages in order, byte for "
          "byte (got %d)" % (what, len(want), len(got)))


def garbage_media(sc, src):
    srv = sc.srv
    tags = tags_of(src, 3)
    vseq = next(x for x in tags if x[0] == 9 and x[2][1] == 0)
    aseq = next(x for x in tags if x[0] == 8 and x[2][1] == 0)
    frames = [x for x in tags if x not in (vseq, aseq)]
    key = next(x for x in frames if x[0] == 9 and x[2][0] >> 4 == 1)
    frames = frames[frames.index(key):]
    rnd = os.urandom
    # (type, payload, forwarded)
    plan = [(9, vseq[2], True), (8, aseq[2], True)]
    plan += [(t, p, True) for t, ts, p in frames[:30]]
    malformed = [
        (9, b""),                                   # empty video
        (9, b"\x17"),                               # no AVCPacketType
        (9, b"\x17\x01\x00"),                       # composition time cut
        (9, b"\x07\x01\x00\x00\x00" + rnd(50)),     # FrameType 0
        (9, b"\x77\x01\x00\x00\x00" + rnd(50)),     # FrameType 7
        (9, b"\x17\x05\x00\x00\x00" + rnd(50)),     # AVCPacketType 5
        (9, b"\x9fhvc1" + rnd(50)),                 # E-RTMP packet type 15 (reserved)
        (9, b"\x91hv"),                             # E-RTMP FourCC cut
        (8, b"\xaf\x05" + rnd(20)),                 # AACPacketType 5
        (8, b"\x9f" + rnd(20)),                     # E-RTMP audio packet type 15
        (8, b"\xaf"),                               # no AACPacketType
    ]
    well_formed_garbage = [
        (9, b"\x17\x00\x00\x00\x00" + rnd(200)),                        # avcC of random bytes
        (9, b"\x17\x00\x00\x00\x00\x01\x64\x00\x1f\xff\xe1\xff\xff\x67\x64"),  # SPS past the end
        (9, b"\x1c\x00\x00\x00\x00" + rnd(300)),                        # HEVC (12) seq header
        (9, b"\x90hvc1" + rnd(300)),                                    # E-RTMP hvc1 SequenceStart
        (9, b"\x17\x01\x00\x00\x00" + rnd(5000)),                       # keyframe of random NALs
        (9, b"\x27\x01\x00\x00\x00" + rnd(3000)),                       # inter frame, random
        (8, b""),                                                       # E-RTMP audio silence
        (8, b"\xaf\x01" + rnd(300)),                                    # raw AAC, random
    ]
    for i in range(max(len(malformed), len(well_formed_garbage))):
        if i < len(malformed):
            plan.append(malformed[i] + (False,))
        if i < len(well_formed_garbage):
            plan.append(well_formed_garbage[i] + (True,))
    plan += [(9, vseq[2], True), (8, aseq[2], True)]
    plan += [(t, p, True) for t, ts, p in frames[30:60]]

    w = Watcher(srv, "junk")
    p, msid = publisher(srv, "junk")
    try:
        for i, (t, payload, _) in enumerate(plan):
            p.send_media(msid, t, 1000 + 20 * i, payload)
        want = [(t, payload) for t, payload, fwd in plan if fwd]
        got = w.media(len(want))
        compare(got, want, "live/junk, %d messages of which %d malformed" %
                (len(plan), sum(1 for x in plan if not x[2])))
        check(p.alive(), "the publisher of malformed media is still connected")
    finally:
        w.close()
    expect_logged(srv, p, [r"live/junk: dropping malformed video message \(flv: truncated tag\)$"])
    check(srv.log_count(r"live/junk: dropping malformed") == 1,
          "  logged once for the connection, not once per message")


def jumping_timestamps(sc, src):
    srv = sc.srv
    tags = tags_of(src, 4)
    n = len(tags)
    base = 20000

    def ts(i):
        if i < n // 5:
            return base + tags[i][1]                       # normal
        if i < 2 * n // 5:
            return base + tags[i][1] - 10000               # 10 s back
        if i < 3 * n // 5:
            return base + tags[i][1] + 2 ** 31             # forward by 2^31
        if i < 4 * n // 5:
            return (0xFFFFFFFF - 1500 + tags[i][1] - tags[3 * n // 5][1]) & 0xFFFFFFFF  # wraps
        return (base + tags[i][1] - 2 ** 31) & 0xFFFFFFFF   # back by 2^31

    w = Watcher(srv, "jumpy")
    p, msid = publisher(srv, "jumpy")
    try:
        sent = []
        for i, (t, _, payload) in enumerate(tags):
            p.send_media(msid, t, ts(i), payload)
            sent.append((t, payload))
            if i % 20 == 0:
                time.sleep(0.01)
        got = w.media(len(sent))
        compare(got, sent, "live/jumpy, timestamps back 10 s, +2^31, past 2^32, -2^31")
        check(not w.c.closed and p.alive(), "publisher and player still connected")
        # Between the jumps the player's clock moves as the publisher's does
        # (modulo 2^32, the wrap included): it never sticks.
        bounds = [0, n // 5, 2 * n // 5, 3 * n // 5, 4 * n // 5, min(n, len(got))]
        off = [(k, (got[k].ts - got[k - 1].ts) & 0xFFFFFFFF, (ts(k) - ts(k - 1)) & 0xFFFFFFFF)
               for a, b in zip(bounds, bounds[1:]) for k in range(a + 1, b)]
        off = [x for x in off if x[1] != x[2]]
        check(not off, "  between the jumps the player's timestamps step as the publisher's "
              "(first differences: %s)" % off[:3])
        log("timestamps the player saw around the jumps: %s" %
            [got[k].ts for k in (0, n // 5 - 1, n // 5, 2 * n // 5, 3 * n // 5, 4 * n // 5)
             if k < len(got)])
    finally:
        w.close()
    cid = expect_logged(srv, p, [r"live/jumpy: (audio|video) timestamp jumped by -\d+ ms"])
    jumps = [int(m) for m in re.findall(r"\[#%d\] live/jumpy: \w+ timestamp jumped by (-?\d+) ms"
                                        % cid, srv.log_text())]
    check(len(jumps) == 4 and -10100 < jumps[0] < -9900,
          "  rtmpd logged each of the 4 jumps (%s ms)" % jumps)


def flv_tag(t, ts, payload):
    return (bytes([t]) + struct.pack(">I", len(payload))[1:] + struct.pack(">I", ts)[1:] +
            bytes([ts >> 24 & 0xFF]) + b"\x00\x00\x00" + payload +
            struct.pack(">I", 11 + len(payload)))


def aggregates(sc, src):
    srv = sc.srv
    tags = tags_of(src, 1)
    w = Watcher(srv, "agg")
    p, msid = publisher(srv, "agg")
    try:
        agg = b"".join(flv_tag(t, ts, pl) for t, ts, pl in tags[:12])
        p.send(6, 22, msid, 1000, agg)
        got = w.media(12)
        compare(got[:12], [(t, pl) for t, ts, pl in tags[:12]], "a valid aggregate of 12 tags")
        bad = [
            flv_tag(9, 0, b"\x17\x01\x00\x00\x00abc")[:-6],               # sub-tag cut short
            flv_tag(9, 0, b"\x17\x01\x00\x00\x00abc")[:-4] + b"\x00\x00\x00\x01",  # bad trailer
            b"\x0f" + flv_tag(9, 0, b"\x17\x01\x00\x00\x00abc")[1:],       # tag type 15
        ]
        for i in range(17):
            p.send(6, 22, msid, 2000 + i, bad[i % 3])
        took = p.closed_within(5)
        check(took is not None, "17 malformed aggregates: the publisher is disconnected")
    finally:
        w.close()
    expect_logged(srv, p, [r"malformed aggregate message: flv: truncated tag$",
                           r"malformed aggregate message: flv: malformed header$"],
                  r"^too many protocol errors$")


def metadata_flood(sc, src):
    srv = sc.srv
    p, msid = publisher(srv, "meta")
    meta = amf("@setDataFrame") + amf("onMetaData") + amf({"width": 1280.0, "height": 720.0,
                                                            "junk": "x" * 200})
    blob = rc.encode_message(5, 18, msid, 0, meta, 4096) * 20000
    p.send_bytes(blob)
    check(p.alive(20), "20,000 onMetaData messages: the publisher is still served")
    cid = expect_logged(srv, p, [r"live/meta: metadata \(\d+ bytes\)$"])
    n = srv.log_count(r"\[#%d\] live/meta: metadata" % cid)
    check(n <= 40 and srv.log_count(r"\[#%d\] \d+ log lines about this connection suppressed" %
                                    cid) >= 1,
          "  %d of them logged (32, then 1 a second), then how many were left out" % n)


def test():
    src = media("h264_720p_gop2.flv")
    small = media("h264_360p_gop1.flv")
    with Server() as srv:
        sc = Scenario(srv, src, rss_slack_kib=8192)

        def attacks(sc):
            sc.suite.run("garbage media payloads (bad AVC/HEVC/AAC/E-RTMP headers)",
                         lambda: garbage_media(sc, small))
            sc.suite.run("timestamps jumping back, by 2^31, past 2^32",
                         lambda: jumping_timestamps(sc, small))
            sc.suite.run("aggregate messages, valid and malformed", lambda: aggregates(sc, small))
            sc.suite.run("20,000 metadata messages", lambda: metadata_flood(sc, small))

        sc.run(attacks)


if __name__ == "__main__":
    main(test)
