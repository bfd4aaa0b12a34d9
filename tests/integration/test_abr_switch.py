#!/usr/bin/env python3
"""Rendition switching over a real shaped network: a player behind a slow
link is moved to the low rendition, told its bit rate, and moved back up
once the link is fast again; a player on a fast link is never moved.

ctest: serial (shapes links with tc and measures timing)

Setup: two network namespaces joined to the root namespace by veth pairs
(netns.py): "s" (slow) and "f" (fast). rtmpd listens on 127.0.0.1 (the
publishers, the API) and on the root side of each veth; players run inside
the namespaces, so what rtmpd sends them crosses the veth. The slow link's
egress (server -> player) is shaped with tc tbf to 1.2 Mbit/s; the fast one
is not shaped. The app has the group
    abr = ( { name = "cam"; renditions = [ "cam_hi", "cam_lo" ]; } )
and default adapt/queue settings. ffmpeg publishes (stream copy, real time)
cam_hi = h264_720p_gop2.flv (1280x720, ~2.7 Mb/s) and cam_lo =
h264_360p_gop2.flv (640x360, ~680 kb/s), both with a keyframe every 2 s.

Players of live/cam:
- slow: rtmp_client.py inside "s" (it records every message with its
  arrival time, onMetaData included);
- fast: ffmpeg -f framemd5 inside "f", decoding for the whole test.

Asserted, on what the clients see:
1. the slow player starts on cam_hi and is on cam_lo within 10 s of its
   play (/api/v1/clients rendition; the first video after the switch is a
   640x360 sequence header + keyframe);
2. while it was backlogged on cam_hi, the estimate the API reports for it
   with confidence "measured" is within +-25 % of the shaped rate (the
   median of the samples, and at least 2 in 3 of them);
3. at the switch it receives cam_lo's onMetaData: width 640, height 360,
   videodatarate within 25 % of cam_lo's video rate;
4. on cam_lo it plays continuously: over the last 10 s before the shaping
   is lifted, no gap > 1 s between video messages and >= 25 video frames/s;
   the recording of what it received decodes without error, 640x360 after
   the switch;
5. rtmpd logged "switching down ... switched from cam_hi to cam_lo";
6. after `tc qdisc del` it is back on cam_hi within 30 s (log "switching
   up", "switched from cam_lo to cam_hi"; API rendition);
7. the fast player: rendition cam_hi and switches == 0 in every API sample,
   every frame it decoded 1280x720, no hole > 1 s in its timeline, >= 25
   frames/s on average, no decode error.
"""

import os
import re
import statistics
import struct
import subprocess
import tempfile
import threading
import time

import rtmp_client as rc
from harness import (Server, TestFailure, check, ffmpeg_publish, log, main, media, run,
                     stop_proc, wait_publishing)
from http_helpers import get_json
from netns import NetNS

SHAPED_RATE = 1.2e6            # bits/s, tc tbf on the slow link
DOWN_WITHIN = 10.0             # s from play to being on cam_lo
STEADY = 12.0                  # s played on cam_lo before the shaping is lifted
UP_WITHIN = 30.0               # s from lifting the shaping to being on cam_hi
VIDEO_FRAME_720 = 1280 * 720 * 3 // 2   # framemd5 size of a decoded yuv420p frame
VIDEO_FRAME_360 = 640 * 360 * 3 // 2


def listen_port(srv, addr):
    """The port rtmpd chose for the listener on `addr` (it listens on port 0)."""
    m = srv.wait_log(r"listening on %s:0 \(port (\d+)\)" % re.escape(addr))
    return int(m.group(1))


def api_clients(srv):
    st, doc, _ = get_json(srv.http_port, "/api/v1/clients")
    if st != 200 or not doc:
        raise TestFailure("GET /api/v1/clients: %s" % st)
    return doc["clients"]


def api_streams(srv):
    st, doc, _ = get_json(srv.http_port, "/api/v1/streams")
    if st != 200 or not doc:
        raise TestFailure("GET /api/v1/streams: %s" % st)
    return {s["name"]: s for s in doc["streams"]}


class Monitor(threading.Thread):
    """Samples /api/v1/clients every 0.2 s: for each player, by the IP it
    connects from, a list of (monotonic time, client object)."""

    def __init__(self, srv, ips):
        super().__init__(daemon=True)
        self.srv, self.ips = srv, ips
        self.samples = {ip: [] for ip in ips}
        self.error = None
        self._stop_ev = threading.Event()

    def run(self):
        while not self._stop_ev.is_set():
            try:
                clients = api_clients(self.srv)
            except Exception as e:  # reported by latest()/stop()
                self.error = e
                return
            now = time.monotonic()
            for c in clients:
                ip = c["peer"].rsplit(":", 1)[0]
                if ip in self.samples and c["role"] == "player":
                    self.samples[ip].append((now, c))
            self._stop_ev.wait(0.2)

    def latest(self, ip):
        if self.error:
            raise TestFailure("API monitor failed: %s" % self.error)
        s = self.samples[ip]
        return s[-1][1] if s else None

    def wait(self, ip, pred, timeout, what):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            c = self.latest(ip)
            if c is not None and pred(c):
                return time.monotonic(), c
            time.sleep(0.1)
        raise TestFailure("%s: not within %.0f s (last API sample: %s)" %
                          (what, timeout, self.latest(ip)))

    def stop(self):
        self._stop_ev.set()
        self.join(5)


def write_flv(path, msgs):
    """Writes received audio/video messages as an FLV file (for decoding)."""
    with open(path, "wb") as f:
        f.write(b"FLV\x01\x05\x00\x00\x00\x09\x00\x00\x00\x00")
        for m in msgs:
            n = len(m.payload)
            ts = m.ts & 0xFFFFFFFF
            f.write(bytes([m.type]) + n.to_bytes(3, "big") + (ts & 0xFFFFFF).to_bytes(3, "big") +
                    bytes([ts >> 24]) + b"\x00\x00\x00" + m.payload + struct.pack(">I", 11 + n))


def decode_video(path_or_url, extra=(), timeout=120):
    """Decodes the video of a file; returns ([(pts s, decoded size)], stderr).
    -autoscale 0 keeps each frame at the size it was decoded at (ffmpeg
    otherwise scales every frame to the first one's size)."""
    r = run(["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-i", path_or_url] +
            list(extra) + ["-map", "0:v", "-autoscale", "0", "-f", "framemd5", "-"],
            timeout=timeout, check_rc=False)
    return parse_video_frames(r.stdout), r.stderr


def parse_video_frames(text):
    tb = None
    out = []
    for line in text.splitlines():
        m = re.match(r"#tb 0: (\d+)/(\d+)", line)
        if m:
            tb = int(m.group(1)) / int(m.group(2))
        if line.startswith("0,"):
            p = [x.strip() for x in line.split(",")]
            out.append((int(p[2]) * (tb or 0.001), int(p[4])))
    return out


def metadata_of(m):
    """The onMetaData object of a data message, else None."""
    if m.type != 18:
        return None
    try:
        v = m.amf()
    except Exception:
        return None
    if len(v) >= 2 and v[0] == "onMetaData" and isinstance(v[1], dict):
        return v[1]
    return None


def test():
    hi_src = media("h264_720p_gop2.flv")
    lo_src = media("h264_360p_gop2.flv")
    app = {"name": "live", "abr": [{"name": "cam", "renditions": ["cam_hi", "cam_lo"]}]}
    with NetNS("s") as slow_ns, NetNS("f") as fast_ns, tempfile.TemporaryDirectory() as d:
        slow_ns.shape("1.2mbit", burst="4kb", latency="100ms")
        srv = Server(apps=[app], settings={"http": {"listen": ["127.0.0.1:0"]}},
                     extra_args=["-l", "%s:0" % slow_ns.host_ip, "-l", "%s:0" % fast_ns.host_ip])
        with srv:
            slow_port = listen_port(srv, slow_ns.host_ip)
            fast_port = listen_port(srv, fast_ns.host_ip)
            pubs = [ffmpeg_publish(srv.url("cam_hi"), hi_src),
                    ffmpeg_publish(srv.url("cam_lo"), lo_src)]
            monitor = Monitor(srv, [slow_ns.peer_ip, fast_ns.peer_ip])
            fast = slow = pump = None
            try:
                wait_publishing(srv, "cam_hi")
                wait_publishing(srv, "cam_lo")
                # The policy needs both renditions' rates (8 s window).
                deadline = time.monotonic() + 10
                while time.monotonic() < deadline:
                    st = api_streams(srv)
                    hi_rate = st.get("cam_hi", {}).get("bitrate_bps", {}).get("in", 0)
                    lo_rate = st.get("cam_lo", {}).get("bitrate_bps", {}).get("in", 0)
                    if hi_rate > 2 * lo_rate > 0 and time.monotonic() > deadline - 7:
                        break
                    time.sleep(0.2)
                log("rendition rates: cam_hi %.0f kb/s, cam_lo %.0f kb/s" %
                    (hi_rate / 1e3, lo_rate / 1e3))
                check(hi_rate > 2 * lo_rate > 0, "both renditions publish, cam_hi at more than "
                      "twice cam_lo's rate")
                monitor.start()

                # The fast player: ffmpeg decoding inside "f" all along.
                fast_out = os.path.join(d, "fast.framemd5")
                fast_err = open(os.path.join(d, "fast.err"), "w")
                fast = fast_ns.popen(
                    ["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-y",
                     "-i", "rtmp://%s:%d/live/cam" % (fast_ns.host_ip, fast_port), "-t", "85",
                     "-map", "0:v", "-autoscale", "0", "-f", "framemd5", fast_out],
                    stdout=subprocess.DEVNULL, stderr=fast_err)
                monitor.wait(fast_ns.peer_ip, lambda c: c.get("rendition") == "cam_hi", 10,
                             "the fast player plays")

                # The slow player: rtmp_client inside "s".
                slow = slow_ns.call(lambda: rc.Client(slow_ns.host_ip, slow_port, timeout=10))
                slow.handshake()
                slow.connect("live")
                msid = slow.create_stream()
                slow.play(msid, "cam")
                t_play = time.monotonic()
                pump = rc.Pump(slow)
                pump.start()
                m = srv.wait_log(r"\[#(\d+)\] live/cam: playing adaptively, starting on "
                                 r"live/cam_hi$", 5, count=2)  # the fast player's is the first
                conn = m.group(1)
                log("slow player: playing live/cam from %s behind %.1f Mbit/s" %
                    (slow_ns.peer_ip, SHAPED_RATE / 1e6))

                # 1. Down to cam_lo.
                t_lo, c = monitor.wait(slow_ns.peer_ip, lambda c: c.get("rendition") == "cam_lo",
                                       DOWN_WITHIN + 2, "the slow player moves to cam_lo")
                down_s = t_lo - t_play
                first = [x for t, x in monitor.samples[slow_ns.peer_ip] if t <= t_lo]
                check(first and first[0]["rendition"] == "cam_hi",
                      "the slow player started on cam_hi (first API sample: %s)" %
                      (first[0]["rendition"] if first else None))
                check(down_s <= DOWN_WITHIN, "the slow player is on cam_lo %.1f s after its play "
                      "(<= %.0f s; switches %d)" % (down_s, DOWN_WITHIN, c["switches"]))
                down_log = srv.wait_log(r"\[#%s\] cam: switching down from cam_hi \(\d+ kb/s\) to "
                                        r"cam_lo \(\d+ kb/s\) at its next keyframe: estimate \d+ "
                                        r"kb/s" % conn, 1)
                srv.wait_log(r"\[#%s\] cam: switched from cam_hi to cam_lo" % conn, 1)
                log("rtmpd logged the switch: %s" % down_log.group(0))

                # 2. The estimate while backlogged.
                measured = [(t - t_play, x["bandwidth_estimate_bps"])
                            for t, x in monitor.samples[slow_ns.peer_ip]
                            if x.get("bandwidth_confidence") == "measured" and
                            x.get("bandwidth_estimate_bps") and x.get("rendition") == "cam_hi"]
                log("estimates with confidence \"measured\" while on cam_hi: %s" %
                    ["%.1fs:%.0fk" % (t, e / 1e3) for t, e in measured])
                check(measured, "the API reported a measured estimate for the slow player while it "
                      "was backlogged on cam_hi (%d samples)" % len(measured))
                med = statistics.median(e for t, e in measured)
                within = sum(1 for t, e in measured if abs(e - SHAPED_RATE) <= 0.25 * SHAPED_RATE)
                check(abs(med - SHAPED_RATE) <= 0.25 * SHAPED_RATE and
                      3 * within >= 2 * len(measured),
                      "its measured estimate is within 25 %% of the shaped %.0f kb/s: median %.0f "
                      "kb/s, %d of %d samples within (range %.0f..%.0f)" %
                      (SHAPED_RATE / 1e3, med / 1e3, within, len(measured),
                       min(e for t, e in measured) / 1e3, max(e for t, e in measured) / 1e3))

                # 4. Steady on cam_lo.
                time.sleep(max(0.0, t_lo + STEADY - time.monotonic()))
                t_lift = time.monotonic()
                msgs_before_lift = list(slow.pending)
                log("qdisc before lifting: %s" % slow_ns.qdisc_stats().replace("\n", " | "))
                slow_ns.unshape()
                log("shaping lifted %.1f s after the switch" % (t_lift - t_lo))
                c = api_clients_one(monitor, slow_ns.peer_ip)
                check(c["rendition"] == "cam_lo" and c["switches"] == 1,
                      "the slow player stayed on cam_lo until the shaping was lifted "
                      "(rendition %s, switches %d)" % (c["rendition"], c["switches"]))

                # 6. Back up.
                t_hi, c = monitor.wait(slow_ns.peer_ip, lambda c: c.get("rendition") == "cam_hi",
                                       UP_WITHIN + 2, "the slow player moves back to cam_hi")
                up_s = t_hi - t_lift
                up_log = srv.wait_log(r"\[#%s\] cam: switching up from cam_lo \(\d+ kb/s\) to "
                                      r"cam_hi .*: estimate \d+ kb/s" % conn, 2)
                srv.wait_log(r"\[#%s\] cam: switched from cam_lo to cam_hi" % conn, 2)
                check(up_s <= UP_WITHIN, "the slow player is back on cam_hi %.1f s after the "
                      "shaping was lifted (<= %.0f s): %s" % (up_s, UP_WITHIN, up_log.group(0)))
                time.sleep(2.0)  # some cam_hi after the switch, for the decode check
            finally:
                if pump:
                    pump.__exit__(None, None, None)
                if slow:
                    slow.close()
                if fast:
                    stop_proc(fast)
                    fast_err.close()
                monitor.stop()
                for p in pubs:
                    stop_proc(p)

        check_slow_player(slow, msgs_before_lift, t_lo, t_lift, lo_rate, d)
        check_fast_player(monitor.samples[fast_ns.peer_ip], fast_out, fast_err.name)


def api_clients_one(monitor, ip):
    time.sleep(0.3)
    c = monitor.latest(ip)
    if c is None:
        raise TestFailure("no API sample for %s" % ip)
    return c


def check_slow_player(slow, before_lift, t_lo, t_lift, lo_rate, d):
    msgs = list(slow.pending)
    metas = [(i, m, metadata_of(m)) for i, m in enumerate(msgs) if metadata_of(m)]
    log("slow player: %d messages; onMetaData at %s" %
        (len(msgs), [(round(m.time - msgs[0].time, 1), md.get("width"), md.get("height"),
                      md.get("videodatarate")) for i, m, md in metas]))
    check(len(metas) >= 3, "the slow player got onMetaData at the start and at each of the two "
          "switches (%d)" % len(metas))
    # 3. The metadata of the switch down: the first one after the start.
    i_down, m_down, md = metas[1]
    vrate = md.get("videodatarate") or 0
    lo_video_kbps = (lo_rate - 64e3) / 1e3  # cam_lo's rate less its 64 kb/s audio
    check(md.get("width") == 640 and md.get("height") == 360,
          "at the switch down it was told 640x360 (onMetaData width %s height %s)" %
          (md.get("width"), md.get("height")))
    check(abs(vrate - lo_video_kbps) <= 0.25 * lo_video_kbps,
          "onMetaData videodatarate %.0f kb/s is cam_lo's (~%.0f kb/s video)" %
          (vrate, lo_video_kbps))
    nxt = [m for m in msgs[i_down + 1:] if m.type == 9][:2]
    check(len(nxt) == 2 and rc.is_video_seq_header(nxt[0]) and rc.is_video_keyframe(nxt[1]),
          "after that onMetaData: cam_lo's video sequence header, then a keyframe")
    md_up = metas[2][2]
    check(md_up.get("width") == 1280 and md_up.get("height") == 720,
          "at the switch up it was told 1280x720 (%sx%s)" % (md_up.get("width"),
                                                           md_up.get("height")))

    # 4. Continuous playback on cam_lo over the last 10 s before the lift.
    video = [m for m in before_lift if m.type == 9 and not rc.is_video_seq_header(m)]
    win = [m for m in video if m.time >= t_lift - 10.0]
    gaps = [b.time - a.time for a, b in zip(win, win[1:])]
    span = t_lift - max(t_lo, t_lift - 10.0)
    fps = len(win) / span if span > 0 else 0
    log("slow player on cam_lo: %d video messages in the last %.1f s before the lift; "
        "largest arrival gap %.2f s" % (len(win), span, max(gaps) if gaps else -1))
    check(span >= 9.5, "it played cam_lo for %.1f s before the lift" % span)
    check(gaps and max(gaps) <= 1.0, "no gap over 1 s between video messages over the last 10 s "
          "(largest %.2f s)" % (max(gaps) if gaps else -1))
    check(fps >= 25, "%.1f video frames/s over the last 10 s (>= 25)" % fps)

    # What it received decodes, at 640x360 from the switch down.
    rec = os.path.join(d, "slow.flv")
    write_flv(rec, [m for m in msgs if m.type in (8, 9)])
    frames, err = decode_video(rec)
    ts_down = m_down.ts / 1000.0
    ts_up = metas[2][1].ts / 1000.0
    mid = [size for pts, size in frames if ts_down <= pts < ts_up]
    check(mid and all(s == VIDEO_FRAME_360 for s in mid),
          "the recording decodes to %d frames of 640x360 between the switches (sizes seen: %s)" %
          (len(mid), sorted(set(mid))))
    check(not err.strip(), "no decode error in the slow player's recording (%r)" % err[-500:])


def check_fast_player(samples, out, err_path):
    check(samples, "the API saw the fast player (%d samples)" % len(samples))
    rends = sorted(set(c["rendition"] for t, c in samples))
    sw = max(c["switches"] for t, c in samples)
    check(rends == ["cam_hi"] and sw == 0, "fast player: rendition %s, switches %d in all %d API "
          "samples" % (rends, sw, len(samples)))
    with open(out) as f:
        frames = parse_video_frames(f.read())
    with open(err_path) as f:
        err = f.read()
    sizes = sorted(set(s for p, s in frames))
    dur = frames[-1][0] - frames[0][0] if frames else 0
    holes = [b[0] - a[0] for a, b in zip(frames, frames[1:]) if b[0] - a[0] > 1.0]
    log("fast player: %d frames over %.1f s of media, sizes %s" % (len(frames), dur, sizes))
    check(frames and sizes == [VIDEO_FRAME_720], "fast player: every one of %d decoded frames is "
          "1280x720 (sizes %s)" % (len(frames), sizes))
    check(not holes and len(frames) >= 25 * dur, "fast player: continuous (%d frames over %.1f s, "
          "holes over 1 s: %s)" % (len(frames), dur, holes[:5]))
    check(not err.strip(), "fast player: no decode error (%r)" % err[-500:])


if __name__ == "__main__":
    main(test)
