#!/usr/bin/env python3
"""rtmpbench against rtmpd: 1 publisher and 20 players in one process.

rtmpbench publishes the 360p test file in real time and plays it back with
20 players for a few seconds. Because publisher and players share the
process, every player checks that it receives exactly the frames the
publisher sent from its first keyframe on, in order and byte for byte, and
measures the latency rtmpd adds to each frame. The test asserts on the
JSON report: every player connected and kept playing, every player received
every frame in order (sequence errors 0, players_ok == players, frames
checked), and the latency distribution was produced (count > 0, p50 and
p99 present and ordered).

It runs twice: writing at once (queue.merge_ms = 0), then with a 40 ms
merge window, where the players must still get every frame in order and
the latency must show the window: about half of it on the median (frames
wait for their player's next tick) and not much more than all of it at p99
(every player is flushed once a window).
"""

import json
import os
import tempfile

from harness import DEFAULT_APP, RTMPBENCH, Server, check, log, main, media, run

PLAYERS = 20
SECONDS = 6
MERGE_MS = 40


def test():
    one_run(0)
    one_run(MERGE_MS)


def one_run(merge_ms):
    log("--- queue.merge_ms = %d" % merge_ms)
    src = media("h264_360p_gop1.flv")
    app = dict(DEFAULT_APP)
    app["queue"] = dict(app.get("queue", {}), merge_ms=merge_ms)
    with Server(apps=[app]) as srv, tempfile.TemporaryDirectory() as d:
        out = os.path.join(d, "result.json")
        url = srv.url("bench")
        r = run([RTMPBENCH, "--publish", url, "--play", url, "--file", src,
                 "-n", str(PLAYERS), "--duration", str(SECONDS), "--warmup", "1",
                 "--json", out, "--quiet"], timeout=60)
        log("rtmpbench: " + r.stdout.strip())
        if r.stderr.strip():
            log("rtmpbench stderr: " + r.stderr.strip()[-2000:])
        with open(out) as f:
            res = json.load(f)

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


main(test)
