#!/usr/bin/env python3
"""Slow players: a stopped player is cut at its queue limit without growing
the server's memory or delaying anybody else; a throttled one loses video
(resuming at keyframes) but keeps its audio.

ctest: serial (timing: healthy players' pace, RSS)

Setup: the app's per-player queue is small (max_bytes 2M, max_ms 3000,
drop_ms 1000) and the idle timeout is raised to 120 s, so that only the
queue limits can cut a player that stops reading. rtmpbench publishes the
720p file (2.7 Mb/s) in real time and plays it with two healthy players in
the same process, so each of their frames is checked against what was
published (sequence check) and timed (latency) for the whole test.

1. Stopped player. A reader (this script run with --reader, in its own
   process) plays the stream; once it has received the first GOP it gets
   SIGSTOP. Nothing reads its socket any more, but the kernel keeps
   accepting data for a while: the reader's receive buffer and rtmpd's
   send buffer (autotuned up to net.ipv4.tcp_wmem's maximum, 4 MiB) absorb
   about 4 MB, 12 s of this stream, before rtmpd's own queue for the player
   starts to grow. Then the queue drops video from 1 s of delay and must
   cut the player at the hard limit (3 s of delay or 2 MiB). Hence the
   35 s allowed. Asserted:
   - rtmpd's RSS never exceeds its value just before the SIGSTOP by more
     than the queue limit (2 MiB) plus 1 MiB of slack (allocator
     granularity, the queue's array of references, log buffers). Frames are
     shared and refcounted, so a queued frame costs its payload at most
     (often nothing: it is still in the GOP cache);
   - rtmpd closes the connection: its fd count drops back to the value
     before the reader connected while the reader is still stopped; the log
     says "player too slow (B bytes, M ms queued): disconnecting" with M or
     B at a hard limit, after a drop episode; after SIGCONT the reader
     drains what the kernel still held and then reads end-of-file;
   - the healthy players are not delayed (below).

2. Throttled player. A client of this process reads at 1.2 Mbit/s, less
   than half the stream's rate, with a 64 KiB receive buffer (set before
   connecting, so the TCP window stays small like on a slow link), for
   20 s. As the design says, rtmpd must drop its video when it falls behind
   and resume at a keyframe, never drop audio, and not disconnect it (at
   1.2 Mbit/s a 1 s backlog drains in ~2.3 s, under max_ms). Asserted on
   what the client received: audio timestamps without a gap over 500 ms
   (AAC frames are 23 ms apart), at least one gap in the video, and after
   every video gap the first video message is a keyframe; the connection
   is still open; the server logged the drop episode and the resumption.

Healthy players: rtmpbench's per-second frame rate (progress lines) stays
at the stream's rate (>= 75 %) during both slow-player phases, and over the
whole run both players have 0 sequence errors (no frame dropped, reordered
or corrupted), 0 stalls, and latency max under drop_ms (1 s).
"""

import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time

import rtmp_client as rc
from harness import (RTMPBENCH, Server, TestFailure, check, log, main, media, stop_proc)

QUEUE = {"max_bytes": "2M", "max_ms": 3000, "drop_ms": 1000}
QUEUE_MAX_KIB = 2048
RSS_SLACK_KIB = 1024
THROTTLE_BPS = 1200 * 1000 // 8      # 1.2 Mbit/s
THROTTLE_SECONDS = 20
THROTTLE_RCVBUF = 64 * 1024


# ---------------------------------------------------------------------------
# The stopped reader: `test_slow_player.py --reader URL` (its own process,
# so that it can be SIGSTOPped). One JSON object per line on stdout.

def parse_url(url):
    m = re.match(r"rtmp://([^:/]+):(\d+)/([^/]+)/(.+)", url)
    return m.group(1), int(m.group(2)), m.group(3), m.group(4)


def reader_main(url):
    host, port, app, name = parse_url(url)
    c = rc.Client(host, port)
    c.handshake()
    c.connect(app)
    msid = c.create_stream()
    c.play(msid, name)
    video = keys = audio = 0
    last = 0.0

    def report(**extra):
        d = {"bytes": c.received, "video": video, "keyframes": keys, "audio": audio}
        d.update(extra)
        print(json.dumps(d), flush=True)

    report(event="playing")
    while True:
        try:
            ok = c.poll(0.2)
        except OSError as e:  # acknowledging what it read, after the server closed
            c.closed, c.close_reason, ok = True, "reset (%s)" % e.strerror, False
        for m in c.pending:
            if m.type == 9:
                video += 1
                keys += rc.is_video_keyframe(m)
            elif m.type == 8:
                audio += 1
        c.pending.clear()
        now = time.monotonic()
        if not ok:
            report(event="closed", how=c.close_reason)
            return
        if now - last >= 0.2:
            last = now
            report()


class ReaderProcess:
    """Runs reader_main in a subprocess and collects its reports."""

    def __init__(self, url):
        self.proc = subprocess.Popen([sys.executable, os.path.abspath(__file__), "--reader", url],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.reports = []
        self.lock = threading.Lock()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.proc.stdout:
            try:
                d = json.loads(line)
            except ValueError:
                continue
            d["t"] = time.monotonic()
            with self.lock:
                self.reports.append(d)

    def last(self):
        with self.lock:
            return dict(self.reports[-1]) if self.reports else {}

    def wait(self, pred, timeout, what):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if pred(self.last()):
                return self.last()
            if self.proc.poll() is not None:
                time.sleep(0.2)  # the last lines
                if pred(self.last()):
                    return self.last()
                raise TestFailure("reader exited (%s) before %s: %s" %
                                  (self.proc.returncode, what, self.proc.stderr.read()[-1000:]))
            time.sleep(0.05)
        raise TestFailure("reader: no %s within %ss (last report %s)" % (what, timeout, self.last()))


# ---------------------------------------------------------------------------
# rtmpbench with the publisher and the healthy players

class Bench:
    PROGRESS = re.compile(r"\[\s*([\d.]+)s\] players=\d+/\d+ playing=(\d+) .*?fps=(\d+)")

    def __init__(self, srv, src, out):
        url = srv.url("slow")
        self.out = out
        self.proc = subprocess.Popen(
            [RTMPBENCH, "--publish", url, "--play", url, "--file", src, "-n", "2",
             "--duration", "0", "--json", out],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.progress = []  # (monotonic arrival, playing, fps over the last second)
        self.stderr = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.proc.stderr:
            self.stderr.append(line.rstrip())
            m = self.PROGRESS.search(line)
            if m:
                self.progress.append((time.monotonic(), int(m.group(2)), int(m.group(3))))

    def fps_between(self, t0, t1):
        """Per-second frame rates reported for seconds that lie in [t0, t1]."""
        return [fps for t, playing, fps in self.progress if t0 + 1.0 <= t <= t1]

    def finish(self):
        self.proc.send_signal(signal.SIGINT)  # one SIGINT: stop and report
        try:
            stdout, _ = self.proc.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise TestFailure("rtmpbench did not stop")
        log("rtmpbench: " + stdout.strip())
        with open(self.out) as f:
            return json.load(f)


def stream_fps(src):
    """Audio + video messages per second of the media file."""
    tags = [(t, ts) for t, ts, p in rc.flv_tags(src) if t in (8, 9)]
    return len(tags) / ((tags[-1][1] - tags[0][1]) / 1000.0)


# ---------------------------------------------------------------------------
# Phase 1: a reader that stops

def stopped_reader(srv, bench, fps_expected):
    fd0 = srv.fd_count()
    reader = ReaderProcess(srv.url("slow"))
    try:
        reader.wait(lambda r: r.get("keyframes", 0) >= 1 and r.get("bytes", 0) > 500000, 15,
                    "first GOP")
        time.sleep(1.0)
        fd1 = srv.fd_count()
        check(fd1 == fd0 + 1, "the reader's connection is one more fd in rtmpd (%d -> %d)" %
              (fd0, fd1))
        rss0 = srv.rss_kib()
        got = reader.last()["bytes"]
        os.kill(reader.proc.pid, signal.SIGSTOP)
        t_stop = time.monotonic()
        log("reader SIGSTOPped after %d bytes; rtmpd RSS %d KiB" % (got, rss0))

        rss_max, t_closed = rss0, None
        deadline = t_stop + 35
        while time.monotonic() < deadline:
            rss_max = max(rss_max, srv.rss_kib())
            if t_closed is None and srv.fd_count() == fd0:
                t_closed = time.monotonic()
                log("rtmpd closed the stopped reader's socket %.1f s after SIGSTOP" %
                    (t_closed - t_stop))
                deadline = t_closed + 2.0  # keep watching memory a little longer
            time.sleep(0.1)
        log("RSS during the stall: max %d KiB, %+d KiB over the value before it" %
            (rss_max, rss_max - rss0))
        check(t_closed is not None, "rtmpd closed the stopped player within 35 s of SIGSTOP "
              "(fd count back to %d; now %d)" % (fd0, srv.fd_count()))
        check(rss_max - rss0 <= QUEUE_MAX_KIB + RSS_SLACK_KIB,
              "rtmpd's RSS grew by %d KiB during the stall (limit: queue %d KiB + slack %d KiB)" %
              (rss_max - rss0, QUEUE_MAX_KIB, RSS_SLACK_KIB))

        cut = srv.wait_log(r"\[#(\d+)\] live/slow: player too slow \((\d+) bytes, (\d+) ms queued\)"
                           r": disconnecting", timeout=1)
        conn, qbytes, qms = cut.group(1), int(cut.group(2)), int(cut.group(3))
        check(qms >= QUEUE["max_ms"] or qbytes >= QUEUE_MAX_KIB * 1024 - 256 * 1024,
              "rtmpd cut it at a hard limit: %d bytes, %d ms queued (max_bytes 2 MiB, max_ms %d)"
              % (qbytes, qms, QUEUE["max_ms"]))
        text = srv.log_text()
        drop = text.find("[#%s] live/slow: player behind by" % conn)
        check(0 <= drop < text.find(cut.group(0)), "it dropped video first (drop_ms) and was "
              "cut after that")
        check(re.search(r"ACCESS id=%s .*reason=\"slow consumer\"" % conn, text) is not None,
              "access log: connection #%s closed as \"slow consumer\"" % conn)

        os.kill(reader.proc.pid, signal.SIGCONT)
        end = reader.wait(lambda r: r.get("event") == "closed", 20, "end of stream after SIGCONT")
        check(end["how"] == "eof" or end["how"].startswith("reset"),
              "after SIGCONT the reader drained %d more bytes, then the connection was closed "
              "by the server (%s)" % (end["bytes"] - got, end["how"]))
        fps = bench.fps_between(t_stop, t_closed)
        check(fps and min(fps) >= 0.75 * 2 * fps_expected,
              "healthy players stayed on pace during the stall: %d per-second rates, min %s "
              "frames/s (2 players x %.0f)" % (len(fps), min(fps) if fps else None, fps_expected))
    finally:
        if reader.proc.poll() is None:
            os.kill(reader.proc.pid, signal.SIGCONT)
            stop_proc(reader.proc, signal.SIGTERM)


# ---------------------------------------------------------------------------
# Phase 2: a reader that reads at 1.2 Mbit/s

def kernel_unsent(server_port, client):
    """Bytes rtmpd's socket to `client` holds unsent in the kernel (ss's
    notsent), or None if ss cannot tell."""
    try:
        port = client.sock.getsockname()[1]
        out = subprocess.run(["ss", "-tniH", "( sport = :%d and dport = :%d )" % (server_port, port)],
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                             timeout=5).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    if not out.strip():
        return None
    m = re.search(r"notsent:(\d+)", out)
    return int(m.group(1)) if m else 0


def throttled_reader(srv, bench, fps_expected):
    n_before = srv.log_count(r"live/slow: playing")
    c = rc.Client("127.0.0.1", srv.port, rcvbuf=THROTTLE_RCVBUF)
    c.handshake()
    c.connect("live")
    msid = c.create_stream()
    c.play(msid, "slow")
    m = srv.wait_log(r"\[#(\d+)\] live/slow: playing", count=n_before + 1)
    conn = m.group(1)
    t0 = time.monotonic()
    log("throttled reader (connection #%s) reads at %.1f Mbit/s for %d s" %
        (conn, THROTTLE_BPS * 8 / 1e6, THROTTLE_SECONDS))
    media_msgs = []  # (arrival, type, ts, header byte, keyframe, sequence header)
    drop_rx = r"\[#%s\] live/slow: player behind by \d+ ms: dropping video" % conn
    got = 0
    t_drop = unsent_at_drop = None
    next_look = t0
    while True:
        now = time.monotonic()
        if now - t0 >= THROTTLE_SECONDS:
            break
        if t_drop is None and now >= next_look:
            # Diagnostics: when the server starts dropping, how much of the
            # stream still sits unsent in its kernel socket buffer.
            next_look = now + 0.25
            if srv.log_count(drop_rx):
                t_drop, unsent_at_drop = now - t0, kernel_unsent(srv.port, c)
        allowed = THROTTLE_BPS * (now - t0) - got
        if allowed < 4096:
            time.sleep((4096 - allowed) / THROTTLE_BPS)
            continue
        before = c.received
        if not c.poll(0.5, max_bytes=int(min(allowed, 16384))):
            break
        got += c.received - before
        for msg in c.pending:
            if msg.type in (8, 9):
                media_msgs.append((msg.time, msg.type, msg.ts, msg.payload[0] if msg.payload else 0,
                                   rc.is_video_keyframe(msg), rc.is_video_seq_header(msg)))
        c.pending.clear()
    t_end = time.monotonic()
    open_at_end = not c.closed
    unsent_at_end = kernel_unsent(srv.port, c)
    c.close()

    audio = [x for x in media_msgs if x[1] == 8]
    video = [x for x in media_msgs if x[1] == 9 and not x[5]]
    a_gaps = [(audio[i - 1][2], audio[i][2]) for i in range(1, len(audio))
              if audio[i][2] - audio[i - 1][2] > 500]
    v_gaps = [i for i in range(1, len(video)) if video[i][2] - video[i - 1][2] > 200]
    not_key = [i for i in v_gaps if not video[i][4]]
    episodes = srv.log_count(drop_rx)
    resumed = srv.log_count(r"\[#%s\] live/slow: player caught up, video resumes" % conn)
    cut = srv.log_count(r"\[#%s\] live/slow: player too slow" % conn)
    log("throttled reader: %d bytes in %.1f s; %d audio (ts %s..%s), %d video messages; "
        "video gaps at ts %s; server: %d drop episodes, %d resumptions, %s" %
        (got, t_end - t0, len(audio), audio[0][2] if audio else None,
         audio[-1][2] if audio else None, len(video), [video[i - 1][2] for i in v_gaps][:10],
         episodes, resumed, "DISCONNECTED it as too slow" if cut else "kept it connected"))
    log("rtmpd started dropping its video at %s s; bytes unsent in rtmpd's kernel socket buffer "
        "for it then: %s, at the end: %s (ss -tni)" %
        ("%.1f" % t_drop if t_drop is not None else "-", unsent_at_drop, unsent_at_end))

    ts_all = [x[2] for x in media_msgs] or [0]
    span = (max(ts_all) - min(ts_all)) / 1000.0
    why = ("; in %.0f s the player received %.1f s of media (~%.0f s behind live), rtmpd "
           "logged %d drop episode(s)%s and had %s bytes unsent in its kernel socket buffer for "
           "it at the end" % (t_end - t0, span, t_end - t0 - span, episodes,
                              " (first at %.1f s)" % t_drop if t_drop is not None else "",
                              unsent_at_end))
    check(episodes >= 1, "the server logged a drop episode for the throttled player (%d)%s" %
          (episodes, "" if episodes else why))
    check(cut == 0 and open_at_end, "the throttled player was not disconnected (log: %d "
          "'too slow', connection %s)" % (cut, "open" if open_at_end else c.close_reason))
    check(len(audio) > 100 and not a_gaps,
          "audio continuous: %d audio messages, no timestamp gap over 500 ms (%s)" %
          (len(audio), a_gaps[:5]))
    check(v_gaps, "video was dropped: %d gaps in the video timestamps the player received%s" %
          (len(v_gaps), "" if v_gaps else why))
    check(audio[0][2] < video[v_gaps[0] - 1][2] and audio[-1][2] > video[v_gaps[0]][2],
          "audio kept coming through the first video gap (%d..%d ms)" %
          (video[v_gaps[0] - 1][2], video[v_gaps[0]][2]))
    check(not not_key, "video resumed with a keyframe after each of the %d gaps (not after: %s)" %
          (len(v_gaps), [video[i][2] for i in not_key][:5]))
    check(resumed >= 1, "the server logged that video resumed at a keyframe (%d)" % resumed)
    fps = bench.fps_between(t0, t_end)
    check(fps and min(fps) >= 0.75 * 2 * fps_expected,
          "healthy players stayed on pace meanwhile: min %s frames/s over %d s" %
          (min(fps) if fps else None, len(fps)))


def test():
    src = media("h264_720p_gop2.flv")
    fps_expected = stream_fps(src)
    app = {"name": "live", "queue": dict(QUEUE)}
    with Server(apps=[app], settings={"limits": {"idle_timeout_ms": 120000}}) as srv, \
            tempfile.TemporaryDirectory() as d:
        bench = Bench(srv, src, os.path.join(d, "bench.json"))
        try:
            srv.wait_log(r"live/slow: publishing")
            srv.wait_log(r"live/slow: playing", count=2)
            time.sleep(2.0)  # GOP cache and RSS settle
            stopped_reader(srv, bench, fps_expected)
            throttled_reader(srv, bench, fps_expected)
        finally:
            res = bench.finish()

    players = res["players_detail"]
    check(len(players) == 2 and res["sequence"]["enabled"], "rtmpbench ran its 2 healthy players")
    for p in players:
        want = 30 * p["duration_s"] * 0.9
        check(p["status"] == "ok" and p["seq_errors"] == 0 and p["checked"] > 0,
              "healthy player %d: every frame in order (%d checked, %d errors, %s)" %
              (p["id"], p["checked"], p["seq_errors"], p["status"]))
        check(p["stalls"] == 0, "healthy player %d: no stall (%d)" % (p["id"], p["stalls"]))
        check(p["video_frames"] >= want, "healthy player %d: %d video frames in %.0f s (>= %d)" %
              (p["id"], p["video_frames"], p["duration_s"], want))
        check(p["latency_max_ms"] < QUEUE["drop_ms"],
              "healthy player %d: latency max %.1f ms < drop_ms" % (p["id"], p["latency_max_ms"]))
    lat = res["latency_ms"]
    check(lat["p99"] < 250, "healthy players' latency p99 %.1f ms, max %.1f ms" %
          (lat["p99"], lat["max"]))


if __name__ == "__main__":
    if sys.argv[1:2] == ["--reader"]:
        reader_main(sys.argv[2])
    else:
        main(test)
