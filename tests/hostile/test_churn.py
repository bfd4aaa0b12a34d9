#!/usr/bin/env python3
"""Churn soak: thousands of players and publishers come and go; nothing leaks.

ctest: serial (loads both cores)

For RTMPD_CHURN_SECONDS (default 150; longer for a real soak) rtmpd serves:

- rtmpbench publishing the 360p file on 4 stable names (churn_0..churn_3)
  with 300 players in the same process under churn (--churn 4: each plays
  2-6 s, leaves, and a new one takes its slot; ~75 new sessions a second,
  about 11,000 over the default run), every player checking every frame
  it gets (order, bytes) from its first keyframe;
- 3 flapping names (flap_0..flap_2), each published by ffmpeg (stream copy)
  for 4-12 s, then stopped (SIGINT, or SIGKILL for an abrupt end) and
  restarted after 0-3 s, watched by 60 more rtmpbench players under churn
  that wait through the gaps;
- abrupt clients, about 5 a second: a connection that resets (RST) in the
  middle of the handshake, right after connect, or while playing with data
  queued for it.

Checks:
- the stable players: no sequence error, none failed, none closed by the
  server, no stall; the flapping players: none failed or closed;
- memory: rtmpd's RSS at the end of the run (median of the last 10 s) is
  at most 4 MiB (x4 under the sanitizers) above its RSS after the warm-up
  (median of 10 s from 20 s in), under the same load. Why this tolerance:
  the allocator reaches its high-water mark during the warm-up (every kind
  of session, the GOP caches of all 7 streams, player queues); what follows
  only reuses it, so growth is a leak or fragmentation. Measured drift is
  ~0.1 MiB. 4 MiB is about one GOP of each stream (~0.6 MiB each) plus
  noise; a leak of 512 bytes per session (~9,000 sessions between the two
  measurements of a default run) exceeds it; smaller per-session leaks are
  LeakSanitizer's job (below). After every client has left, RSS must not
  exceed the peak seen under load;
- descriptors: once every client has left, rtmpd has exactly as many open
  descriptors as before the first client (/proc/PID/fd);
- SIGTERM with a publisher and 20 players connected: rtmpd exits 0;
- in a sanitizer build (RTMPD_BUILD_DIR configured with -DRTMPD_SANITIZE=ON,
  or RTMPD_SANITIZED=1): rtmpd's stderr (collected by the harness) holds no
  LeakSanitizer, AddressSanitizer or UndefinedBehaviorSanitizer report.
"""

import json
import os
import random
import shutil
import signal
import socket
import statistics
import struct
import subprocess
import sys
import threading
import time

from hostile import RSS_CHECKED, SANITIZED, Hostile, Resources, check, log, rc
from harness import RTMPBENCH, Server, TestFailure, ffmpeg_publish, main, media, stop_proc

SECONDS = float(os.environ.get("RTMPD_CHURN_SECONDS", "150"))


SAN = SANITIZED
STABLE_PLAYERS = 120 if SAN else 300
FLAP_PLAYERS = 30 if SAN else 60
RSS_TOLERANCE_KIB = 4096 * (4 if SAN else 1)


class Flapper(threading.Thread):
    """ffmpeg publishers on `names`, each stopped and restarted at random."""

    def __init__(self, srv, src, names, stop):
        super().__init__(daemon=True)
        self.srv, self.src, self.names, self.stop = srv, src, names, stop
        self.starts = 0
        self.kills = 0

    def run(self):
        threads = [threading.Thread(target=self.one, args=(n,), daemon=True) for n in self.names]
        for t in threads:
            t.start()
        for t in threads:
            t.join()

    def one(self, name):
        rnd = random.Random(name)
        while not self.stop.is_set():
            p = ffmpeg_publish(self.srv.url(name), self.src)
            self.starts += 1
            self.stop.wait(rnd.uniform(4, 12))
            if rnd.random() < 0.3:
                p.kill()
                p.wait()
                self.kills += 1
            else:
                stop_proc(p)
            self.stop.wait(rnd.uniform(0, 3))


class Abrupt(threading.Thread):
    """Clients that reset their connection at awkward moments."""

    def __init__(self, srv, stop):
        super().__init__(daemon=True)
        self.srv, self.stop = srv, stop
        self.n = 0
        self.errors = 0

    def run(self):
        rnd = random.Random(7)
        while not self.stop.wait(0.2):
            try:
                c = Hostile(self.srv.port, timeout=5)
                kind = rnd.randrange(3)
                if kind == 0:
                    c.send_bytes(b"\x03" + os.urandom(rnd.randrange(1, 1500)))
                else:
                    c.handshake()
                    c.connect("live")
                    if kind == 2:
                        msid = c.create_stream()
                        c.play(msid, "churn_%d" % rnd.randrange(4))
                        c.poll(0.3, max_bytes=4096)  # read a little; the rest stays queued
                c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                c.close()
                self.n += 1
            except (OSError, rc.RTMPError):
                self.errors += 1


def bench(args, out):
    return subprocess.Popen([RTMPBENCH] + args + ["--json", out, "--quiet"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish(p, what):
    if p.poll() is None:
        p.send_signal(signal.SIGINT)
    try:
        out, err = p.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()
        raise TestFailure("%s: rtmpbench did not stop" % what)
    log("%s: %s" % (what, out.strip()))
    if err.strip():
        log("%s stderr (last lines): %s" % (what, " | ".join(err.strip().splitlines()[-5:])))


def test():
    stable_src = media("h264_360p_gop1.flv")
    flap_src = media("h264_360p_gop2.flv")
    log("churn soak: %.0f s%s" % (SECONDS, " (sanitizer build)" if SAN else ""))
    srv = Server(settings={"limits": {"max_connections": 2000}})
    srv.start()
    code = None
    try:
        res = Resources(srv)
        time.sleep(0.5)
        fd_idle, rss_idle = res.fds(), res.rss_kib()
        log("idle: %d fds, RSS %d KiB" % (fd_idle, rss_idle))
        stop = threading.Event()
        d = srv.dir
        stable = bench(["--publish", srv.url("churn"), "--play", srv.url("churn"), "--streams",
                        "4", "--file", stable_src, "-n", str(STABLE_PLAYERS), "--churn", "4",
                        "--duration", "0"], os.path.join(d, "stable.json"))
        flapper = Flapper(srv, flap_src, ["flap_0", "flap_1", "flap_2"], stop)
        flapper.start()
        flappers = bench(["--play", srv.url("flap"), "--streams", "3", "-n", str(FLAP_PLAYERS),
                          "--churn", "3", "--duration", "0"], os.path.join(d, "flap.json"))
        abrupt = Abrupt(srv, stop)
        abrupt.start()

        samples = []  # (t, rss KiB, fds)
        t0 = time.monotonic()
        while time.monotonic() - t0 < SECONDS:
            time.sleep(1.0)
            if srv.proc.poll() is not None:
                raise TestFailure("rtmpd died (exit %s)" % srv.proc.returncode)
            samples.append((time.monotonic() - t0, res.rss_kib(), res.fds()))
            if len(samples) % 15 == 0:
                log("%3.0f s: RSS %d KiB, %d fds, %d publisher starts, %d abrupt clients" %
                    (samples[-1][0], samples[-1][1], samples[-1][2], flapper.starts, abrupt.n))

        stop.set()
        finish(stable, "stable streams")
        finish(flappers, "flapping streams")
        flapper.join(30)
        abrupt.join(10)
        fd_end = res.wait_fds(fd_idle, 20)
        rss_after = res.rss_kib()

        with open(os.path.join(d, "stable.json")) as f:
            st = json.load(f)
        with open(os.path.join(d, "flap.json")) as f:
            fl = json.load(f)

        warm = [r for t, r, n in samples if 20 <= t < 30] or [samples[len(samples) // 4][1]]
        last = [r for t, r, n in samples if t >= samples[-1][0] - 10]
        rss_warm, rss_end = statistics.median(warm), statistics.median(last)
        peak = max(r for t, r, n in samples)
        log("RSS: idle %d, after warm-up %d, peak %d, end of run %d, after the clients left %d "
            "KiB" % (rss_idle, rss_warm, peak, rss_end, rss_after))
        log("sessions: %d stable, %d flapping, %d abrupt; %d publisher starts (%d killed)" %
            (st["players"], fl["players"], abrupt.n, flapper.starts, flapper.kills))

        check(st["players"] >= STABLE_PLAYERS * SECONDS / 6,
              "%d stable player sessions in %.0f s (thousands over a default run)" %
              (st["players"], SECONDS))
        seq = st["sequence"]
        check(seq["errors"] == 0 and seq["checked"] > 0,
              "stable streams: every frame in order and intact (%d checked, %d errors)" %
              (seq["checked"], seq["errors"]))
        check(st["failed"] == 0 and st["closed"] == 0,
              "stable streams: no session failed or was closed by the server (failed %d, "
              "closed %d)" % (st["failed"], st["closed"]))
        check(st["stalls"] == 0, "stable streams: no stall (%d, %.1f s)" %
              (st["stalls"], st["stall_s"]))
        check(all(p["status"] == "ok" for p in st["publish"]["detail"]),
              "stable publishers published throughout")
        check(fl["failed"] == 0 and fl["closed"] == 0 and fl["players"] > FLAP_PLAYERS,
              "flapping streams: %d sessions, none failed or closed (failed %d, closed %d)" %
              (fl["players"], fl["failed"], fl["closed"]))
        check(flapper.starts >= 3 * SECONDS / 15,
              "publishers came and went: %d starts on 3 names" % flapper.starts)
        check(abrupt.errors <= abrupt.n // 10 + 1,
              "%d abrupt clients reset their connections (%d could not start)" %
              (abrupt.n, abrupt.errors))
        if RSS_CHECKED:
            check(rss_end - rss_warm <= RSS_TOLERANCE_KIB,
                  "RSS under the same load: %d KiB after the warm-up, %d KiB at the end (%+d KiB, "
                  "tolerance %d KiB)" % (rss_warm, rss_end, rss_end - rss_warm,
                                         RSS_TOLERANCE_KIB))
            check(rss_after <= peak, "RSS once the clients left (%d KiB) <= peak under load "
                  "(%d KiB)" % (rss_after, peak))
        else:
            log("RSS not checked: ASan keeps up to its quarantine of freed memory resident "
                "(set ASAN_OPTIONS=quarantine_size_mb=1); LeakSanitizer checks leaks below")
        check(fd_end == fd_idle, "no descriptor leak: %d open before the first client, %d after "
              "the last left" % (fd_idle, fd_end))
        # Stop under load: a publisher and 20 players connected.
        last = bench(["--publish", srv.url("last"), "--play", srv.url("last"), "--file",
                      stable_src, "-n", "20", "--duration", "0"], os.path.join(d, "last.json"))
        srv.wait_log(r"live/last: publishing", 10)
        deadline = time.monotonic() + 10
        while res.fds() < fd_idle + 21 and time.monotonic() < deadline:
            time.sleep(0.1)
        log("stopping rtmpd with %d connections open" % (res.fds() - fd_idle))
    finally:
        try:
            code = srv.stop(timeout=20)
        finally:
            text = srv.log_text()
            if code != 0:
                sys.stderr.write("---- rtmpd log (tail) ----\n%s\n" % text[-20000:])
    if "last" in locals():
        stop_proc(last, timeout=10)
    check(code == 0, "rtmpd exited 0 on SIGTERM (%s)" % code)
    if SAN:
        reports = [ln for ln in text.splitlines()
                   if "LeakSanitizer" in ln or "AddressSanitizer" in ln or "runtime error:" in ln]
        check(not reports, "sanitizer build: no LeakSanitizer/AddressSanitizer/UBSan report in "
              "rtmpd's stderr%s" % (": " + reports[0] if reports else ""))
    shutil.rmtree(srv.dir, ignore_errors=True)


main(test)
