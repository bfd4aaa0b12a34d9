#!/usr/bin/env python3
"""The transcode ladder: publishing live/cam starts an ffmpeg child that
publishes live/cam_lo; a child that dies is restarted; the children stop
with the publisher; an adaptive player of live/cam starts on the source.

ctest: serial (encodes in real time: timing and CPU)

Setup: the app has one ladder step,
    ladder = ( { suffix = "lo"; args = "-c:v libx264 -preset ultrafast
                 -tune zerolatency -b:v 300k ... -s 320x180 -g 60 ..."; } )
(kept tiny, 320x180: the ladder encodes in real time by design, that is
the feature under test). ffmpeg publishes the 720p file to live/cam with
stream copy.

Asserted:
1. rtmpd starts one ffmpeg child for live/cam_lo (log "ladder cam_lo:
   started ffmpeg (pid N)"; pgrep -f on this server's unique port and
   live/cam_lo finds exactly that pid, a child of rtmpd), and live/cam_lo
   is published: ffprobe sees h264 320x180, ffmpeg decodes >= 2 s of it in
   3 s of play without error;
2. an adaptive player of live/cam (the group: the source and cam_lo)
   starts on the source (log "playing adaptively, starting on live/cam";
   /api/v1/clients group "cam", rendition "cam") and decodes 1280x720;
   one behind a link shaped to 1 Mbit/s (a network namespace, netns.py;
   rtmp_client.py inside it) is moved to the ladder's cam_lo within 10 s
   and is told so (onMetaData 320x180, then cam_lo's sequence header and a
   keyframe);
3. after kill -9 of the child, rtmpd logs that it was killed and is
   restarting, starts a new child (another pid), live/cam_lo is published
   again and plays (ffprobe 320x180);
4. once the publisher stops, rtmpd logs "ladder cam_lo: ffmpeg stopped",
   the child has exited (its pid is gone, pgrep finds no child for this
   server) within 10 s, and live/cam_lo is no longer published.
"""

import os
import re
import subprocess
import time

import rtmp_client as rc

from harness import (Server, check, ffmpeg_publish, ffprobe_streams, log, main,
                     media, run, stop_proc, wait_publishing)
from http_helpers import get_json
from netns import NetNS
from rtmp_client import Client, Pump

LADDER = [{"suffix": "lo",
           "args": "-c:v libx264 -preset ultrafast -tune zerolatency -b:v 300k -maxrate 300k "
                   "-bufsize 600k -s 320x180 -g 60 -keyint_min 60 -sc_threshold 0 -c:a copy"}]


def children(srv):
    """pids of the ladder ffmpeg processes of this server (found by the
    unique port in their command line), as (pid, ppid)."""
    r = subprocess.run(["pgrep", "-f", "rtmp://127.0.0.1:%d/live/cam_lo" % srv.port],
                       stdout=subprocess.PIPE, text=True)
    out = []
    for p in r.stdout.split():
        try:
            with open("/proc/%s/stat" % p) as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if fields[0] != "Z":
            out.append((int(p), int(fields[1])))
    return out


def pid_alive(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def check_lo_plays(srv, what):
    streams = ffprobe_streams(srv.url("cam_lo"))
    v = [s for s in streams if s["codec_type"] == "video"]
    check(v and v[0]["codec_name"] == "h264" and v[0]["width"] == 320 and v[0]["height"] == 180,
          "%s: ffprobe sees live/cam_lo as h264 320x180 (%s)" %
          (what, [(s["codec_name"], s.get("width"), s.get("height")) for s in streams]))
    r = run(["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-i", srv.url("cam_lo"),
             "-t", "3", "-map", "0:v", "-f", "framemd5", "-"], timeout=30, check_rc=False)
    n = sum(1 for l in r.stdout.splitlines() if l.startswith("0,"))
    check(r.returncode == 0 and n >= 60 and not r.stderr.strip(),
          "%s: ffmpeg decodes %d frames of live/cam_lo in 3 s (>= 60), no error (%r)" %
          (what, n, r.stderr[-300:]))


def shaped_player_moves_down(srv, ns, port):
    """A player behind the shaped link is moved to the ladder's rendition."""
    rx = r"\[#(\d+)\] live/cam: playing adaptively, starting on live/cam$"
    n0 = srv.log_count(rx)
    c = ns.call(lambda: rc.Client(ns.host_ip, port, timeout=10))
    try:
        c.handshake()
        c.connect("live")
        msid = c.create_stream()
        c.play(msid, "cam")
        t0 = time.monotonic()
        m = srv.wait_log(rx, 5, count=n0 + 1)
        conn = m.group(1)
        with Pump(c):
            doc = None
            while time.monotonic() - t0 < 12:
                st, doc, _ = get_json(srv.http_port, "/api/v1/clients/%s" % conn)
                if st == 200 and doc.get("rendition") == "cam_lo":
                    break
                time.sleep(0.2)
            took = time.monotonic() - t0
            time.sleep(1.0)
        check(doc and doc.get("rendition") == "cam_lo" and took <= 10,
              "the player behind 1 Mbit/s is on the ladder's cam_lo %.1f s after its play "
              "(<= 10 s; rendition %s, estimate %s b/s %s)" %
              (took, doc and doc.get("rendition"), doc and doc.get("bandwidth_estimate_bps"),
               doc and doc.get("bandwidth_confidence")))
        srv.wait_log(r"\[#%s\] cam: switched from cam to cam_lo" % conn, 2)
        msgs = list(c.pending)
        metas = [i for i, m in enumerate(msgs) if m.type == 18 and m.amf()[:1] == ["onMetaData"]]
        md = msgs[metas[-1]].amf()[1] if len(metas) >= 2 else {}
        nxt = [m for m in msgs[metas[-1] + 1:] if m.type == 9][:2] if metas else []
        check(len(metas) >= 2 and (md.get("width"), md.get("height")) == (320, 180) and
              len(nxt) == 2 and rc.is_video_seq_header(nxt[0]) and rc.is_video_keyframe(nxt[1]),
              "at the switch it got cam_lo's onMetaData (%sx%s), sequence header and keyframe" %
              (md.get("width"), md.get("height")))
    finally:
        c.close()


def test():
    src = media("h264_720p_gop2.flv")
    app = {"name": "live", "ladder": LADDER}
    with NetNS("l") as ns, Server(apps=[app], settings={"http": {"listen": ["127.0.0.1:0"]}},
                                  extra_args=["-l", "%s:0" % ns.host_ip]) as srv:
        ns.shape("1mbit")
        shaped_port = int(srv.wait_log(r"listening on %s:0 \(port (\d+)\)" %
                                       re.escape(ns.host_ip)).group(1))
        pub = ffmpeg_publish(srv.url("cam"), src)
        player = pump = None
        try:
            wait_publishing(srv, "cam")
            m = srv.wait_log(r"ladder cam_lo: started ffmpeg \(pid (\d+)\) from cam", 5)
            pid1 = int(m.group(1))
            wait_publishing(srv, "cam_lo", timeout=15)
            kids = children(srv)
            check(kids == [(pid1, srv.proc.pid)],
                  "one ffmpeg child for live/cam_lo, the one logged (pid %d), child of rtmpd "
                  "(pid %d): %s" % (pid1, srv.proc.pid, kids))
            check_lo_plays(srv, "ladder running")

            # 2. An adaptive player of live/cam starts on the source.
            n0 = srv.log_count(r"playing adaptively")
            player = Client("127.0.0.1", srv.port)
            player.handshake()
            player.connect("live")
            msid = player.create_stream()
            player.play(msid, "cam")
            pump = Pump(player)
            pump.start()
            m = srv.wait_log(r"\[#(\d+)\] live/cam: playing adaptively, starting on (\S+)", 5,
                             count=n0 + 1)
            check(m.group(2) == "live/cam", "the adaptive player of live/cam starts on the source "
                  "(%s)" % m.group(2))
            time.sleep(1.0)
            st, doc, _ = get_json(srv.http_port, "/api/v1/clients/%s" % m.group(1))
            check(st == 200 and doc.get("group") == "cam" and doc.get("rendition") == "cam",
                  "API: the adaptive player's group is cam, its rendition cam (%s %s)" %
                  (doc.get("group"), doc.get("rendition")))
            streams = ffprobe_streams(srv.url("cam"))
            v = [s for s in streams if s["codec_type"] == "video"]
            check(v and (v[0]["width"], v[0]["height"]) == (1280, 720),
                  "ffprobe (another adaptive player of live/cam) decodes 1280x720 (%s)" %
                  [(s.get("width"), s.get("height")) for s in v])

            pump.__exit__(None, None, None)
            player.close()
            player = pump = None
            shaped_player_moves_down(srv, ns, shaped_port)

            # 3. A child that dies is restarted.
            os.kill(pid1, 9)
            t_kill = time.monotonic()
            m = srv.wait_log(r"ladder cam_lo: ffmpeg was killed by signal 9 after [\d.]+ s; "
                             r"restarting in ([\d.]+) s", 5)
            log("rtmpd: %s" % m.group(0))
            m = srv.wait_log(r"ladder cam_lo: started ffmpeg \(pid (\d+)\) from cam", 10, count=2)
            pid2 = int(m.group(1))
            wait_publishing(srv, "cam_lo", timeout=15, count=2)
            t_back = time.monotonic() - t_kill
            kids = children(srv)
            check(pid2 != pid1 and kids == [(pid2, srv.proc.pid)] and not pid_alive(pid1),
                  "the killed child (pid %d) was replaced by pid %d; live/cam_lo publishing again "
                  "%.1f s after the kill (children now %s)" % (pid1, pid2, t_back, kids))
            check_lo_plays(srv, "after the restart")

            # 4. The children stop with the publisher.
            stop_proc(pub)
            t_stop = time.monotonic()
            srv.wait_log(r"ladder cam_lo: ffmpeg stopped", 10)
            while (children(srv) or pid_alive(pid2)) and time.monotonic() - t_stop < 10:
                time.sleep(0.1)
            kids = children(srv)
            check(not kids and not pid_alive(pid2),
                  "%.1f s after the publisher stopped no ladder child is left (pid %d %s, children "
                  "%s)" % (time.monotonic() - t_stop, pid2,
                           "alive" if pid_alive(pid2) else "gone", kids))
            time.sleep(0.5)
            st, doc, _ = get_json(srv.http_port, "/api/v1/streams")
            lo = [s for s in doc["streams"] if s["name"] == "cam_lo"]
            check(not lo or not lo[0]["publishing"], "live/cam_lo is no longer published (%s)" %
                  (lo[0]["publishing"] if lo else "gone"))
        finally:
            if pump:
                pump.__exit__(None, None, None)
            if player:
                player.close()
            stop_proc(pub)
            for pid, ppid in children(srv):
                if ppid == srv.proc.pid:  # only our own server's children
                    os.kill(pid, 9)


if __name__ == "__main__":
    main(test)
