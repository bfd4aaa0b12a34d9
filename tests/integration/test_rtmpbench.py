#!/usr/bin/env python3
"""rtmpbench against rtmpd: 1 publisher and 20 players in one process.

rtmpbench publishes the 360p test file in real time and plays it back with
20 players for a few seconds. Because publisher and players share the
process, every player checks that it receives exactly the frames the
publisher sent from its first keyframe on, in order and byte for byte, and
measures the latency rtmpd adds to each frame (to the kernel's receive
timestamp of its last byte, and to the read). The test asserts on the
JSON report: every player connected and kept playing, every player received
every frame in order (sequence errors 0, players_ok == players, frames
checked), and the latency distribution was produced (count > 0, p50 and
p99 present and ordered; every read carried a receive timestamp and the
latency to the read is never below it).

It runs twice: writing at once (queue.merge_ms = 0), then with a 40 ms
merge window, where the players must still get every frame in order and
the latency must show the window: about half of it on the median (frames
wait for their player's next tick) and not much more than all of it at p99
(every player is flushed once a window).

The first run also sets limits.write_slice_us = 1: one pass of the loop
then writes to at most 16 players (the clock is read every 16) before it
polls again, so every frame's writes are split over passes, as with
thousands of players on a busy server. Players left for the next pass must
lose nothing and keep their order (the same sequence check), and the API
and /metrics count the passes cut short (write_slices.deferred,
rtmpd_write_slices_deferred_total). The second run keeps the default
(2000 us).

Around each run, the idle server must not wake up more than its 1 s stats
tick asks (at most 4 wakeups in 3 s, counted as voluntary context
switches) nor spin (under 0.3 s of CPU in those 3 s): the bandwidth probe
runs only while players are probed, the merge timer only while players
wait for their tick, and the loop polls without blocking only while a
cut-short pass left players to write, so all stop before the first player
and again after the last. While the
players run, GET /api/v1/server reports the merge state (step 5000 us for a
40 ms window, phases, write time per window, players waiting) and /metrics
the same as rtmpd_merge_* series.
"""

import json
import os
import re
import subprocess
import tempfile
import time

from harness import DEFAULT_APP, RTMPBENCH, Server, check, log, main, media
from http_helpers import get_json, metric_sample, request

PLAYERS = 20
SECONDS = 6
MERGE_MS = 40


def test():
    one_run(0)
    one_run(MERGE_MS)


def one_run(merge_ms):
    slice_us = 2000 if merge_ms else 1
    log("--- queue.merge_ms = %d, limits.write_slice_us = %d" % (merge_ms, slice_us))
    src = media("h264_360p_gop1.flv")
    app = dict(DEFAULT_APP)
    app["queue"] = dict(app.get("queue", {}), merge_ms=merge_ms)
    settings = {"http": {"listen": ["127.0.0.1:0"]}, "limits": {"write_slice_us": slice_us}}
    with Server(settings=settings, apps=[app]) as srv, tempfile.TemporaryDirectory() as d:
        check_idle(srv, "before any player")
        out = os.path.join(d, "result.json")
        url = srv.url("bench")
        bench = subprocess.Popen([RTMPBENCH, "--publish", url, "--play", url, "--file", src,
                                  "-n", str(PLAYERS), "--duration", str(SECONDS), "--warmup", "1",
                                  "--json", out, "--quiet"],
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        time.sleep(SECONDS / 2)
        check_merge_state(srv, merge_ms)
        stdout, stderr = bench.communicate(timeout=60)
        check_write_slices(srv, slice_us)
        log("rtmpbench: " + stdout.strip())
        if stderr.strip():
            log("rtmpbench stderr: " + stderr.strip()[-2000:])
        check(bench.returncode == 0, "rtmpbench exited with 0 (%d)" % bench.returncode)
        with open(out) as f:
            res = json.load(f)
        time.sleep(0.5)
        check_idle(srv, "after the last player")

    pub = res["publish"]
    check(pub["publishing"] == 1 and pub["failed"] == 0 and pub["detail"][0]["status"] == "ok",
          "the publisher published until the end (%s)" % pub["detail"][0]["status"])
    check(pub["frames"] > 0, "the publisher sent %d frames" % pub["frames"])
    check(res["players"] == PLAYERS, "%d player sessions started (%d)" % (PLAYERS, res["players"]))
    check(res["connected"] == PLAYERS and res["failed"] == 0 and res["closed"] == 0,
          "all players connected, none failed or was closed (connected %d, failed %d, closed %d)"
          % (res["connected"], res["failed"], res["closed"]))

    seq = res["sequence"]
    check(seq["enabled"], "the sequence check ran (publisher and players in one process)")
    check(seq["errors"] == 0, "no sequence errors: no frame missing, duplicated, reordered or "
          "corrupted (%d errors)" % seq["errors"])
    check(seq["players_ok"] == res["players"], "players_ok == players (%d of %d)" %
          (seq["players_ok"], res["players"]))
    check(seq["checked"] > 0, "%d frames checked byte for byte" % seq["checked"])

    # Every player must have checked about everything the publisher sent
    # while it played: all but the frames before its first keyframe (under
    # a GOP, 1 s) and the ones still in flight at the end.
    per_second = pub["frames"] / res["duration_s"]
    short = [(p["id"], p["status"], p["checked"], p["seq_errors"]) for p in res["players_detail"]
             if p["status"] != "ok" or p["seq_errors"] or
             p["checked"] < pub["frames"] - 1.5 * per_second]
    check(len(res["players_detail"]) == PLAYERS and not short,
          "every player checked nearly all %d published frames (least: %d)%s" %
          (pub["frames"], min(p["checked"] for p in res["players_detail"]),
           "; short (id, status, checked, errors): %s" % short if short else ""))

    lat = res["latency_ms"]
    check(lat["count"] > 0, "latency measured on %d frames" % lat["count"])
    check(all(isinstance(lat[k], (int, float)) for k in ("p50", "p90", "p99", "max")),
          "latency p50/p90/p99/max present (%s)" % {k: lat[k] for k in ("p50", "p99", "max")})
    check(0 <= lat["p50"] <= lat["p99"] <= lat["max"] * 1.02,
          "latency percentiles are ordered (p50 %.2f <= p99 %.2f <= max %.2f ms)" %
          (lat["p50"], lat["p99"], lat["max"]))
    # Latency ends at the kernel's receive time, which is never after the
    # read that took the bytes: every player read carried one.
    rx, lread = res["rx_timestamps"], res["latency_read_ms"]
    check(rx["stamped"] > 0 and rx["unstamped"] <= rx["stamped"] // 100,
          "player reads carried the kernel's receive time (%d with, %d without)" %
          (rx["stamped"], rx["unstamped"]))
    check(lread["count"] == lat["count"] and lread["p50"] >= lat["p50"] and
          lread["max"] >= lat["max"],
          "latency to the read is no less than to the kernel's receive (p50 %.2f >= %.2f, "
          "max %.2f >= %.2f ms)" % (lread["p50"], lat["p50"], lread["max"], lat["max"]))
    if merge_ms:
        # Frames arrive at every moment of a window and wait for the
        # player's next tick: ~uniform over [0, window]. Generous bounds for
        # a loaded machine; without merging p50 is ~1 ms, with one burst for
        # all players p99 grows with the number of players.
        check(merge_ms * 0.25 <= lat["p50"] <= merge_ms * 0.75 + 10,
              "with a %d ms merge window the median latency is about half of it (%.1f ms)" %
              (merge_ms, lat["p50"]))
        check(lat["p99"] <= merge_ms + 40,
              "with a %d ms merge window latency p99 stays near the window (%.1f ms)" %
              (merge_ms, lat["p99"]))
    ttff = res["ttff_ms"]
    check(ttff["count"] == PLAYERS and ttff["p50"] is not None,
          "time to first frame measured for every player (%d, p50 %s ms)" %
          (ttff["count"], ttff["p50"]))


def check_idle(srv, when):
    """An idle rtmpd sleeps in epoll_wait between its 1 s stats ticks: 3
    wakeups in 3 s, one more if the 0.5 s bandwidth probe (which runs only
    while players are probed) stops at a tick after the last player left.
    A probe timer left running makes it 6, a merge timer left ticking every
    5 ms ~600."""
    w0, c0 = srv.proc_status("voluntary_ctxt_switches"), srv.cpu_seconds()
    time.sleep(3)
    n, cpu = srv.proc_status("voluntary_ctxt_switches") - w0, srv.cpu_seconds() - c0
    check(n <= 4, "idle %s: rtmpd woke up %d times in 3 s (at most 4)" % (when, n))
    check(cpu < 0.3, "idle %s: rtmpd used %.2f s of CPU in 3 s (a loop that polls without "
          "blocking would use ~3)" % (when, cpu))


def server_state(srv, part, names):
    """GET /api/v1/server's `part` (with the response status) and, read
    after it, the unlabelled /metrics samples `names` as numbers (None when
    missing or not a number)."""
    status, doc, _ = get_json(srv.http_port, "/api/v1/server")
    obj = (doc or {}).get(part) or {}
    _, _, body = request(srv.http_port, "GET", "/metrics")
    text = body.decode()
    raw = {n: metric_sample(text, n) for n in names}
    log("GET /api/v1/server %s: %s; /metrics: %s" % (part, obj, raw))
    return status, obj, {n: float(v) if v is not None and re.fullmatch(r"[0-9.e+-]+", v) else None
                         for n, v in raw.items()}


def check_write_slices(srv, slice_us):
    """A pass that writes to at most 16 players and then polls again must
    have been cut short on many frames (20 players)."""
    status, ws, series = server_state(srv, "write_slices", ["rtmpd_write_slices_deferred_total"])
    deferred_m = series["rtmpd_write_slices_deferred_total"]
    check(status == 200 and ws.get("slice_us") == slice_us,
          "GET /api/v1/server shows write_slices.slice_us = %d (%s)" % (slice_us, ws))
    check(deferred_m is not None and deferred_m >= 0 and deferred_m.is_integer() and
          deferred_m >= ws.get("deferred", float("inf")),
          "/metrics has rtmpd_write_slices_deferred_total (%s, read after the API's)" % deferred_m)
    if slice_us < 10:
        check(ws.get("deferred", 0) > 100, "with a %d us slice, %s passes were cut short and "
              "went on after a poll" % (slice_us, ws.get("deferred")))


def check_merge_state(srv, merge_ms):
    status, merge, series = server_state(srv, "merge", ["rtmpd_merge_phases",
                                                        "rtmpd_merge_window_write_seconds",
                                                        "rtmpd_merge_waiting_connections"])
    check(status == 200 and set(merge) == {"step_us", "phases", "window_write_us", "waiting"},
          "GET /api/v1/server has the merge state (%s)" % sorted(merge))
    check(None not in series.values(), "/metrics has the rtmpd_merge_* series")
    if merge_ms:
        check(merge["step_us"] == 5000 and merge["phases"] >= 1 and
              merge["window_write_us"] > 0 and 0 <= merge["waiting"] <= PLAYERS + 1,
              "with a %d ms window: step 5000 us, %d phase(s), %d us of writes per window, "
              "%d connections waiting" % (merge_ms, merge["phases"], merge["window_write_us"],
                                          merge["waiting"]))
        check(series["rtmpd_merge_phases"] == merge["phases"] and
              series["rtmpd_merge_window_write_seconds"] > 0,
              "/metrics agrees: %g phase(s), %g s of writes per window" %
              (series["rtmpd_merge_phases"], series["rtmpd_merge_window_write_seconds"]))
    else:
        check(merge["step_us"] == 0 and merge["waiting"] == 0 and
              series["rtmpd_merge_waiting_connections"] == 0,
              "without a merge window: step 0, nobody waits (%s)" % merge)


main(test)
