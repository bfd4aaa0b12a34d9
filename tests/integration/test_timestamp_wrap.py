#!/usr/bin/env python3
"""A publisher's clock passing 2^32 ms does not break its players' clocks.

RTMP timestamps are 32-bit milliseconds: a stream that runs for 49.7 days,
or an encoder whose clock starts high, wraps to 0. A raw publisher sends
interleaved video (every 100 ms) and audio (every 40 ms) starting 1 s
before the wrap, as extended timestamps. Every player must see its own
timeline (0 at its first message) advance by exactly the publisher's
steps across the wrap:

- a player that joined before the publisher started;
- a player that joins after the wrap, whose cached GOP (keyframe before the
  wrap, frames after it) spans the wrap;
- an HTTP-FLV player joining the same way (FLV timestamps are 32-bit too).
"""

import time

import rtmp_client as rc
from harness import Server, check, log, main
from http_helpers import FlvPlayer

AVC_SEQ = (b"\x17\x00\x00\x00\x00\x01\x64\x00\x1f\xff\xe1\x00\x04\x67\x64\x00\x1f"
           b"\x01\x00\x04\x68\xee\x3c\x80")
AAC_SEQ = b"\xaf\x00\x12\x10"
START = (1 << 32) - 1000


def video(key, i):
    return (b"\x17" if key else b"\x27") + b"\x01\x00\x00\x00" + bytes([i & 0xFF]) * 300


def audio(i):
    return b"\xaf\x01" + bytes([i & 0xFF]) * 40


def schedule():
    """(type, timestamp offset from START, payload) in timestamp order."""
    out = [(9, 0, AVC_SEQ), (8, 0, AAC_SEQ)]
    media = [(9, 100 * i, video(i == 0, i)) for i in range(30)]
    media += [(8, 40 * i, audio(i)) for i in range(75)]
    media.sort(key=lambda m: (m[1], m[0]))
    return out + media


def media_of(msgs):
    """(type, timestamp, first 8 payload bytes: which message it is)."""
    return [(m.type, m.ts, m.payload[:8]) for m in msgs if m.type in (8, 9)]


def check_timeline(got, sent, what):
    """`got`: (type, ts, payload) a player received; `sent`: the publisher's
    (type, offset, payload). The player's messages must be a tail of the
    publisher's (from a keyframe on, for a late joiner) with the same steps."""
    check(got, "%s: received media" % what)
    payloads = [(t, p[:8]) for t, _, p in sent]
    first = next((k for k in range(len(sent)) if payloads[k:k + len(got)] == [(t, p) for t, _, p in got]),
                 None)
    check(first is not None, "%s: received %d messages, a run of the published ones, in order" %
          (what, len(got)))
    t0 = got[0][1]
    steps = [((ts - t0) & 0xFFFFFFFF) for _, ts, _ in got]
    want = [sent[first + k][1] - sent[first][1] for k in range(len(got))]
    bad = [(k, steps[k], want[k]) for k in range(len(got)) if steps[k] != want[k]]
    check(not bad, "%s: its timestamps advance by the publisher's steps across 2^32 "
          "(first differences: %s)" % (what, bad[:3]))
    log("%s: %d messages, timestamps %d .. %d" % (what, len(got), got[0][1], got[-1][1]))


def test():
    sent = schedule()
    settings = {"http": {"listen": ["127.0.0.1:0"]}}
    with Server(settings=settings) as srv:
        early, _ = rc.playing(srv.port, "wrap")
        pub, msid, code = rc.publishing(srv.port, "wrap")
        check(code == "NetStream.Publish.Start", "publisher: %s" % code)
        pub.set_chunk_size(4096)
        half = next(k for k, (t, off, _) in enumerate(sent) if off >= 1500)
        for t, off, payload in sent[:half]:
            pub.send_media(msid, t, (START + off) & 0xFFFFFFFF, payload)
        early.pump(0.5)
        # Joins after the wrap: its GOP starts with the keyframe at START.
        late, _ = rc.playing(srv.port, "wrap")
        flv = FlvPlayer(srv.http_port, "/live/wrap.flv")
        flv.start()
        check(flv.wait_ready() == 200, "HTTP-FLV player: 200")
        late.pump(0.5)
        for t, off, payload in sent[half:]:
            pub.send_media(msid, t, (START + off) & 0xFFFFFFFF, payload)
        early.pump(1.0)
        late.pump(0.5)
        time.sleep(0.5)
        flv.stop()
        check(not flv.errors, "HTTP-FLV player: a valid FLV stream (%s)" % flv.errors[:2])
        got = media_of(early.pending)
        check(len(got) == len(sent), "early player: got all %d messages (%d)" % (len(sent), len(got)))
        check(got[0][1] == 0, "early player: its timeline starts at 0 (%d)" % got[0][1])
        check_timeline(got, sent, "early player")
        seqs = (AVC_SEQ[:8], AAC_SEQ[:8])
        seq = [m for m in media_of(late.pending) if m[2] in seqs]
        check(len(seq) == 2, "late player: got both sequence headers")
        late_media = [m for m in media_of(late.pending) if m[2] not in seqs]
        check_timeline(late_media, sent, "late RTMP player")
        check(late_media[0][2] == video(True, 0)[:8], "late RTMP player: starts at the cached keyframe")
        fm = [(t.type, t.ts, t.head) for t in flv.tags if t.media]
        check_timeline(fm, sent, "late HTTP-FLV player")
        check(fm[0][2] == video(True, 0)[:8], "late HTTP-FLV player: starts at the cached keyframe")
        for p in (early, late, pub):
            p.close()


if __name__ == "__main__":
    main(test)
