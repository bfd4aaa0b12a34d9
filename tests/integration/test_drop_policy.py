#!/usr/bin/env python3
"""The drop policy over a real shaped network: a player whose link cannot
carry the stream loses video (resuming at keyframes), never audio, is not
disconnected, costs the server no more memory than its queue limit, and
delays nobody else.

ctest: serial (shapes a link with tc, measures latency and RSS)

Setup: one network namespace joined to the root namespace by a veth pair
(netns.py) whose egress (server -> player) is shaped with tc tbf to
1 Mbit/s. rtmpd listens on 127.0.0.1 and on the root side of the veth. The
app has no rendition group and a small per-player queue (queue.max_bytes
2M; drop_ms 1000 and max_ms 5000, the defaults). rtmpbench publishes the
720p file (~2.7 Mb/s) to live/cam in real time over loopback and plays it
with 2 players in the same process (latency and sequence of every frame).

Phase A (baseline, 8 s): only rtmpbench. Phase B (25 s): a player of
live/cam inside the namespace (rtmp_client.py, reading as fast as its link
allows; every message recorded with its arrival time).

Asserted:
- the shaped player is not disconnected (its connection is open after
  25 s, rtmpd logged no "too slow" for it) and got frames dropped
  (/api/v1/clients frames_dropped > 0, gaps in its video timestamps);
- its audio is continuous: no gap over 500 ms between consecutive audio
  timestamps, and it covers the whole phase;
- after every gap in its video the first video message is a keyframe, and
  what it received decodes without error;
- rtmpd logged a drop episode for it ("player behind by N ms: dropping
  video") and that video resumed at a keyframe;
- rtmpd's RSS during phase B never exceeds its value before the player
  connected by more than queue.max_bytes (2 MiB) + 1 MiB of slack, and the
  API never showed more than max_bytes queued for it;
- the rtmpbench players on loopback: 0 stalls, 0 sequence errors, latency
  p99 over the run under 50 ms, and their per-second p99 during phase B no
  worse than during phase A beyond noise (median + 10 ms, max < 50 ms).
"""

import json
import os
import re
import signal
import statistics
import struct
import subprocess
import tempfile
import threading
import time

import rtmp_client as rc
from harness import (RTMPBENCH, Server, TestFailure, check, log, main, media, run)
from http_helpers import get_json
from netns import NetNS

QUEUE = {"max_bytes": "2M"}
QUEUE_MAX = 2 * 1024 * 1024
RSS_SLACK_KIB = 1024
BASELINE_S = 8
SHAPED_S = 25
LAT_P99_MAX_MS = 50.0


class Bench:
    """rtmpbench publishing and playing over loopback; per-second progress."""

    PROGRESS = re.compile(r"\[\s*([\d.]+)s\] players=\d+/\d+ playing=(\d+) .*?fps=(\d+) "
                          r"latency_ms p50=(\S+) p99=(\S+) stalls=(\d+) seq_errors=(\d+)")

    def __init__(self, srv, src, out):
        url = srv.url("cam")
        self.out = out
        self.proc = subprocess.Popen(
            [RTMPBENCH, "--publish", url, "--play", url, "--file", src, "-n", "2",
             "--duration", "0", "--warmup", "3", "--json", out],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.progress = []  # (monotonic, fps, p99 ms or None, stalls, seq_errors)
        self.stderr = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.proc.stderr:
            self.stderr.append(line.rstrip())
            m = self.PROGRESS.search(line)
            if m:
                p99 = None if m.group(5) == "-" else float(m.group(5))
                self.progress.append((time.monotonic(), int(m.group(3)), p99, int(m.group(6)),
                                      int(m.group(7))))

    def p99s(self, t0, t1):
        return [p for t, fps, p, st, se in self.progress if t0 + 1.0 <= t <= t1 and p is not None]

    def finish(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
        try:
            stdout, _ = self.proc.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise TestFailure("rtmpbench did not stop")
        log("rtmpbench: " + stdout.strip())
        with open(self.out) as f:
            return json.load(f)


def listen_port(srv, addr):
    m = srv.wait_log(r"listening on %s:0 \(port (\d+)\)" % re.escape(addr))
    return int(m.group(1))


def write_flv(path, msgs):
    with open(path, "wb") as f:
        f.write(b"FLV\x01\x05\x00\x00\x00\x09\x00\x00\x00\x00")
        for m in msgs:
            n = len(m.payload)
            ts = m.ts & 0xFFFFFFFF
            f.write(bytes([m.type]) + n.to_bytes(3, "big") + (ts & 0xFFFFFF).to_bytes(3, "big") +
                    bytes([ts >> 24]) + b"\x00\x00\x00" + m.payload + struct.pack(">I", 11 + n))


def test():
    src = media("h264_720p_gop2.flv")
    app = {"name": "live", "queue": dict(QUEUE)}
    with NetNS("d") as ns, tempfile.TemporaryDirectory() as d:
        ns.shape("1mbit", burst="4kb", latency="100ms")
        srv = Server(apps=[app], settings={"http": {"listen": ["127.0.0.1:0"]},
                                           "limits": {"idle_timeout_ms": 120000}},
                     extra_args=["-l", "%s:0" % ns.host_ip])
        with srv:
            port = listen_port(srv, ns.host_ip)
            bench = Bench(srv, src, os.path.join(d, "bench.json"))
            c = None
            try:
                srv.wait_log(r"live/cam: publishing")
                srv.wait_log(r"live/cam: playing", count=2)
                time.sleep(2.0)  # GOP cache full, RSS settled
                t_a = time.monotonic()
                time.sleep(BASELINE_S)
                t_b = time.monotonic()
                rss0 = srv.rss_kib()

                c = ns.call(lambda: rc.Client(ns.host_ip, port, timeout=10))
                c.handshake()
                c.connect("live")
                msid = c.create_stream()
                c.play(msid, "cam")
                m = srv.wait_log(r"\[#(\d+)\] live/cam: playing$", count=3)
                conn = m.group(1)
                log("shaped player (connection #%s) plays live/cam from %s behind 1 Mbit/s; "
                    "rtmpd RSS %d KiB" % (conn, ns.peer_ip, rss0))
                rss_max, qbytes_max, api_last = rss0, 0, None
                with rc.Pump(c):
                    deadline = time.monotonic() + SHAPED_S
                    while time.monotonic() < deadline and not c.closed:
                        rss_max = max(rss_max, srv.rss_kib())
                        st, doc, _ = get_json(srv.http_port, "/api/v1/clients/%s" % conn)
                        if st == 200:
                            api_last = doc
                            qbytes_max = max(qbytes_max, doc.get("queue_bytes", 0))
                        time.sleep(0.2)
                t_end = time.monotonic()
                open_at_end = not c.closed
                log("qdisc: %s" % ns.qdisc_stats().replace("\n", " | "))
            finally:
                if c:
                    c.close()
                res = bench.finish()

            text = srv.log_text()

        msgs = list(c.pending)
        log("shaped player: %d messages, %d bytes in %.1f s; last API sample %s" %
            (len(msgs), c.received, t_end - t_b, api_last))
        check(open_at_end and "too slow" not in text,
              "the shaped player was not disconnected in %.0f s (connection %s, log: %s)" %
              (t_end - t_b, "open" if open_at_end else "closed (%s)" % c.close_reason,
               "no 'too slow'" if "too slow" not in text else "'too slow'"))
        check(api_last and api_last["frames_dropped"] > 0 and api_last["drop_episodes"] >= 1,
              "API: frames dropped for it (%s, %s episodes)" %
              (api_last and api_last["frames_dropped"], api_last and api_last["drop_episodes"]))

        audio = [m for m in msgs if m.type == 8 and not (len(m.payload) > 1 and m.payload[1] == 0)]
        video = [m for m in msgs if m.type == 9 and not rc.is_video_seq_header(m)]
        a_gaps = [(a.ts, b.ts) for a, b in zip(audio, audio[1:]) if b.ts - a.ts > 500]
        a_span = (audio[-1].ts - audio[0].ts) / 1000.0 if audio else 0
        check(len(audio) > 100 and not a_gaps,
              "audio continuous: %d messages over %.1f s of timestamps, no gap over 500 ms (%s)" %
              (len(audio), a_span, a_gaps[:5]))
        # The player starts with the GOP cache (up to 2 s old) and is up to
        # max_ms behind at the end.
        check(a_span >= SHAPED_S - 5, "its audio covers the %d s it played (%.1f s)" %
              (SHAPED_S, a_span))
        v_gaps = [i for i in range(1, len(video)) if video[i].ts - video[i - 1].ts > 200]
        not_key = [video[i].ts for i in v_gaps if not rc.is_video_keyframe(video[i])]
        log("video: %d messages, gaps after ts %s" %
            (len(video), [(video[i - 1].ts, video[i].ts) for i in v_gaps][:12]))
        check(v_gaps, "video was dropped: %d gaps in its video timestamps" % len(v_gaps))
        check(not not_key, "video resumed with a keyframe after each of the %d gaps (not after: "
              "%s)" % (len(v_gaps), not_key[:5]))
        check(video and rc.is_video_keyframe(video[0]), "its video started with a keyframe")
        rec = os.path.join(d, "shaped.flv")
        write_flv(rec, [m for m in msgs if m.type in (8, 9)])
        r = run(["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-i", rec,
                 "-f", "framemd5", "-"], check_rc=False)
        vframes = sum(1 for l in r.stdout.splitlines() if l.startswith("0,"))
        check(r.returncode == 0 and vframes > 0 and not r.stderr.strip(),
              "what it received decodes without error (%d video frames; %r)" %
              (vframes, r.stderr[-300:]))

        episodes = len(re.findall(r"\[#%s\] live/cam: player behind by \d+ ms: dropping video" %
                                  conn, text))
        resumed = len(re.findall(r"\[#%s\] live/cam: player caught up, video resumes" % conn,
                                 text))
        check(episodes >= 1 and resumed >= 1, "rtmpd logged %d drop episode(s) and %d "
              "resumption(s) for it" % (episodes, resumed))

        check(rss_max - rss0 <= QUEUE_MAX // 1024 + RSS_SLACK_KIB,
              "rtmpd's RSS grew by %d KiB while it played (limit: queue %d KiB + slack %d KiB)" %
              (rss_max - rss0, QUEUE_MAX // 1024, RSS_SLACK_KIB))
        check(qbytes_max <= QUEUE_MAX, "its queue never held more than max_bytes (max seen %d)" %
              qbytes_max)

        # The healthy players.
        players = res["players_detail"]
        check(len(players) == 2 and res["sequence"]["enabled"], "rtmpbench ran 2 healthy players")
        for p in players:
            check(p["status"] == "ok" and p["seq_errors"] == 0 and p["checked"] > 0 and
                  p["stalls"] == 0,
                  "healthy player %d: %d frames checked, %d sequence errors, %d stalls (%s)" %
                  (p["id"], p["checked"], p["seq_errors"], p["stalls"], p["status"]))
        lat = res["latency_ms"]
        check(lat["p99"] < LAT_P99_MAX_MS, "healthy players' latency p99 %.1f ms (< %.0f), "
              "max %.1f ms" % (lat["p99"], LAT_P99_MAX_MS, lat["max"]))
        base = bench.p99s(t_a, t_b)
        shaped = bench.p99s(t_b, t_end)
        log("per-second latency p99 (ms): baseline %s; with the shaped player %s" %
            (base, shaped))
        check(len(base) >= BASELINE_S - 2 and len(shaped) >= SHAPED_S - 2,
              "rtmpbench reported latency each second (%d, %d)" % (len(base), len(shaped)))
        check(statistics.median(shaped) <= statistics.median(base) + 10 and
              max(shaped) < LAT_P99_MAX_MS,
              "healthy players' per-second p99 with the shaped player: median %.1f ms, max %.1f "
              "(baseline median %.1f ms, max %.1f)" %
              (statistics.median(shaped), max(shaped), statistics.median(base), max(base)))


if __name__ == "__main__":
    main(test)
