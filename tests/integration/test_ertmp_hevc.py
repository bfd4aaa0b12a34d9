#!/usr/bin/env python3
"""HEVC over Enhanced RTMP passes through, and a late joiner starts from the
GOP cache.

The cached HEVC elementary stream (ffmpeg/libx265, AUD in every access unit,
a keyframe every 30 frames = 1 s) is converted to an Enhanced RTMP FLV by
eflv.py (FourCC 'hvc1' video tags: SequenceStart with the hvcC, then
CodedFrames), after checking the conversion against ffmpeg itself: the hvcC
must equal the one ffmpeg writes into an 'hvc1' MP4 track for the same
stream, and the frames taken back out of the FLV must decode to the same
pictures as the source (ffmpeg 5.1 cannot read E-RTMP FLV itself).

The project's test client publishes the FLV in real time; a second client
joins in the middle of a GOP and must receive, byte for byte as the
publisher sent them: the SequenceStart payload, then the keyframe that
opened the current GOP (from the GOP cache, not the next one), then every
following frame in order with the same timestamp spacing. Finally rtmpbench
publishes the same file and plays it with 3 players: every player must get
every frame from its first keyframe on, in order and intact.

The app's drop policy is relaxed here (drop_ms 8 s): this test is about
bytes passing through intact, and a Python player on a loaded machine may
fall behind by a second, which would rightly make the server drop video.
"""

import fcntl
import json
import os
import tempfile
import threading
import time

import eflv
import rtmp_client as rc
from harness import MEDIA_DIR, RTMPBENCH, Server, TestFailure, check, log, main, media, run

FPS = 30


def ertmp_media():
    """The E-RTMP FLV made from hevc_360p.hevc, cached next to it (rebuilt
    when the source or eflv.py is newer)."""
    src = media("hevc_360p.hevc")
    dst = os.path.join(MEDIA_DIR, "hevc_360p_ertmp.flv")
    with open(dst + ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        newest = max(os.path.getmtime(src), os.path.getmtime(eflv.__file__))
        if not os.path.exists(dst) or os.path.getmtime(dst) < newest:
            log("converting %s to Enhanced RTMP FLV (cached for later runs)" % src)
            eflv.convert_file(src, dst, FPS)
    return src, dst


class Publisher(threading.Thread):
    """Publishes FLV tags with the test client at real-time pace and records
    when each video tag was sent: video = [(ts, payload, sent_monotonic)]."""

    def __init__(self, client, msid, tags):
        super().__init__(daemon=True)
        self.client, self.msid, self.tags = client, msid, tags
        self.video = []
        self.error = None
        self.lock = threading.Lock()

    def run(self):
        try:
            t0 = time.monotonic()
            for t, ts, payload in self.tags:
                delay = t0 + ts / 1000.0 - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                self.client.send_media(self.msid, t, ts, payload)
                if t == 9:
                    with self.lock:
                        self.video.append((ts, payload, time.monotonic()))
        except Exception as e:  # reported by the test
            self.error = e

    def sent(self):
        with self.lock:
            return list(self.video)


def is_key_coded(p):
    return p[0] & 0x80 and (p[0] >> 4) & 7 == eflv.FRAME_KEY and p[0] & 0x0F == eflv.PKT_CODED_FRAMES


def late_joiner(srv, flv):
    tags = list(rc.flv_tags(flv))
    seq_start = next(p for t, ts, p in tags if t == 9 and p[0] & 0x0F == eflv.PKT_SEQUENCE_START)
    coded = [(ts, p) for t, ts, p in tags if t == 9 and p[0] & 0x0F == eflv.PKT_CODED_FRAMES]
    keys = [i for i, (ts, p) in enumerate(coded) if is_key_coded(p)]
    check(keys[:3] == [0, 30, 60] and len(coded) == 300,
          "the E-RTMP file has %d coded frames, keyframes every 30 (%s...)" % (len(coded), keys[:4]))

    pub = rc.Client("127.0.0.1", srv.port)
    pub.handshake()
    pub.connect("live")
    pub.set_chunk_size(4096)
    msid = pub.create_stream()
    st = pub.publish(msid, "hevc")
    check(st.get("code") == "NetStream.Publish.Start", "publish accepted (%s)" % st.get("code"))
    publisher = Publisher(pub, msid, tags)
    publisher.start()

    # Join in the middle of the 4th GOP (frames 90..119): after frame 104.
    while len([v for v in publisher.sent() if v[1][0] & 0x0F == eflv.PKT_CODED_FRAMES]) < 105:
        if not publisher.is_alive():
            raise TestFailure("publisher stopped early: %s" % publisher.error)
        time.sleep(0.005)
    player = rc.Client("127.0.0.1", srv.port)
    player.handshake()
    player.connect("live")
    pmsid = player.create_stream()
    join = time.monotonic()
    player.play(pmsid, "hevc")

    sent = [v for v in publisher.sent() if v[1][0] & 0x0F == eflv.PKT_CODED_FRAMES]
    # The GOP current at the join: the last keyframe the publisher had sent.
    k = max(i for i in keys if i < len(sent))
    since_key = join - sent[k][2]
    # Well after keyframe k reached the server, well before the next one.
    check(0.1 < since_key < 0.9, "the player joined %.0f ms into the GOP that starts at frame %d "
          "(mid-GOP, away from keyframes)" % (since_key * 1000, k))

    publisher.join(30)
    check(publisher.error is None and not publisher.is_alive(),
          "publisher sent all %d tags (%s)" % (len(tags), publisher.error))
    player.pump(1.0)  # the last frames in flight
    pub.close()

    got = [m for m in player.pending if m.type == 9]
    log("player received %d video messages, first ts %s" % (len(got), [m.ts for m in got[:3]]))
    check(len(got) >= 2, "the late joiner received video")
    check(got[0].payload == seq_start,
          "first video message is the publisher's SequenceStart, byte for byte (%d bytes, "
          "FourCC %r)" % (len(got[0].payload), got[0].payload[1:5]))
    first = got[1].payload
    check(is_key_coded(first), "second video message is a CodedFrames keyframe "
          "(header byte 0x%02x, FourCC %r)" % (first[0], first[1:5]))
    which = [i for i, (ts, p) in enumerate(coded) if p == first]
    check(which == [k], "that keyframe is the one that opened the current GOP, from the GOP "
          "cache: frame %s (expected frame %d; the next keyframe is frame %d)" %
          (which, k, k + 30))

    frames = got[1:]
    expect = coded[k:]
    n = min(len(frames), len(expect))
    check(n >= 150, "the player got %d frames from the cached keyframe on (publisher sent %d)" %
          (len(frames), len(expect)))
    bad = next((j for j in range(n) if frames[j].payload != expect[j][1]), None)
    check(bad is None, "all %d frames byte-identical and in order%s" %
          (n, "" if bad is None else " (first difference at frame %d: got %d bytes, expected %d)"
           % (k + bad, len(frames[bad].payload), len(expect[bad][1]))))
    check(len(frames) == len(expect), "no frame missing at the end (%d of %d)" %
          (len(frames), len(expect)))
    base, pbase = frames[0].ts, expect[0][0]
    off = [j for j in range(n) if frames[j].ts - base != expect[j][0] - pbase]
    check(not off, "timestamps keep the publisher's spacing (%d frames differ%s)" %
          (len(off), "" if not off else ", first at frame %d: %d vs %d" %
           (k + off[0], frames[off[0]].ts - base, expect[off[0]][0] - pbase)))
    others = [m for m in player.pending if m.type == 8]
    check(not others, "no audio messages appeared (the stream has none)")
    player.close()


def rtmpbench_check(srv, flv):
    with tempfile.TemporaryDirectory() as d:
        out = os.path.join(d, "r.json")
        url = srv.url("hevcb")
        r = run([RTMPBENCH, "--publish", url, "--play", url, "--file", flv, "-n", "3",
                 "--duration", "5", "--json", out, "--quiet"], timeout=60)
        log("rtmpbench: " + r.stdout.strip())
        with open(out) as f:
            res = json.load(f)
    seq = res["sequence"]
    check(res["publish"]["publishing"] == 1, "rtmpbench published the E-RTMP file")
    check(res["connected"] == 3 and res["failed"] == 0 and res["closed"] == 0,
          "3 players connected, none failed or closed (%d/%d/%d)" %
          (res["connected"], res["failed"], res["closed"]))
    check(seq["enabled"] and seq["checked"] > 0 and seq["errors"] == 0,
          "rtmpbench: %d frames checked byte for byte, %d sequence errors" %
          (seq["checked"], seq["errors"]))
    check(seq["players_ok"] == 3, "rtmpbench: players_ok = %d of 3" % seq["players_ok"])
    for p in res["players_detail"]:
        check(p["video_frames"] >= 100, "player %d received %d video frames in 5 s" %
              (p["id"], p["video_frames"]))


def test():
    src, flv = ertmp_media()
    for what, ok, detail in eflv.verify(src, flv):
        check(ok, "converter: %s (%s)" % (what, detail))
    app = {"name": "live", "queue": {"drop_ms": 8000, "max_ms": 15000}}
    with Server(apps=[app]) as srv:
        late_joiner(srv, flv)
        rtmpbench_check(srv, flv)
        check(srv.log_count(r"malformed") == 0, "the server accepted every E-RTMP message")


main(test)
