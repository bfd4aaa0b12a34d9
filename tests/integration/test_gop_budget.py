#!/usr/bin/env python3
"""All GOP caches together stay within limits.max_gop_cache_bytes.

Each stream's cache is bounded by its app's gop_cache limits, but a server
with many streams (or a publisher opening many) would hold the sum. With
limits.max_gop_cache_bytes = 1M, three ffmpeg publishers of a 2.75 Mb/s file
with 2 s keyframes (up to ~690 KB per cache, ~2 MB together) must make rtmpd
empty the largest cache whenever the total passes 1 MiB:

- /api/v1/server's gop_cache.bytes, and the sum of the streams' gop_cache
  bytes, never exceed 1 MiB over 10 s of polling, while they do get close;
- rtmpd logged "GOP cache emptied" and counted evictions (API and /metrics);
- every stream is still played: a late joiner decodes a picture of each.
"""

import time

from harness import (Server, check, ffmpeg_publish, log, main, media, run, stop_proc,
                     wait_publishing)
from http_helpers import get_json, metric_sample, request

LIMIT = 1 << 20
NAMES = ["g0", "g1", "g2"]


def first_picture(url):
    t0 = time.monotonic()
    r = run(["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-i", url,
             "-frames:v", "1", "-f", "null", "-"], timeout=30, check_rc=False)
    return r.returncode, time.monotonic() - t0


def test():
    src = media("h264_720p_gop2.flv")
    settings = {"limits": {"max_gop_cache_bytes": "1M"},
                "http": {"listen": ["127.0.0.1:0"]}}
    with Server(settings=settings) as srv:
        pubs = [ffmpeg_publish(srv.url(n), src) for n in NAMES]
        try:
            for n in NAMES:
                wait_publishing(srv, n)
            time.sleep(1.0)
            peak_total = peak_sum = polls = 0
            bad = []
            t_end = time.monotonic() + 10
            while time.monotonic() < t_end:
                _, s, _ = get_json(srv.http_port, "/api/v1/server")
                _, streams, _ = get_json(srv.http_port, "/api/v1/streams")
                total = s["gop_cache"]["bytes"]
                summed = sum(x["gop_cache"]["bytes"] for x in streams["streams"])
                peak_total, peak_sum = max(peak_total, total), max(peak_sum, summed)
                polls += 1
                if total > LIMIT or summed > LIMIT:
                    bad.append((total, summed))
                time.sleep(0.1)
            check(not bad and peak_total <= LIMIT and peak_sum <= LIMIT,
                  "over %d polls in 10 s the GOP caches together peaked at %d bytes (streams' "
                  "sum %d), limit %d%s" % (polls, peak_total, peak_sum, LIMIT,
                                           "; over it: %s" % bad[:5] if bad else ""))
            check(peak_total > LIMIT // 2,
                  "they did fill towards the limit (peak %d > %d)" % (peak_total, LIMIT // 2))
            _, s, _ = get_json(srv.http_port, "/api/v1/server")
            ev = s["gop_cache"]["evictions"]
            check(ev > 0 and s["gop_cache"]["max_bytes"] == LIMIT,
                  "rtmpd emptied caches to stay within it: %d evictions (max_bytes %d)" %
                  (ev, s["gop_cache"]["max_bytes"]))
            m = srv.wait_log(r"live/g\d: GOP cache emptied \((\d+) bytes, (\d+) frames\): all "
                             r"GOP caches together passed limits\.max_gop_cache_bytes "
                             r"\(1048576\)", 1)
            check(True, "rtmpd logged: %s" % m.group(0))
            _, _, body = request(srv.http_port, "GET", "/metrics")
            text = body.decode()
            evicted = metric_sample(text, "rtmpd_gop_cache_evictions_total")
            held = metric_sample(text, "rtmpd_gop_cache_bytes")
            check(evicted is not None and evicted.isdigit() and int(evicted) >= ev and
                  held is not None and held.isdigit(),
                  "/metrics has rtmpd_gop_cache_bytes and rtmpd_gop_cache_evictions_total (%s)"
                  % evicted)
            for n in NAMES:
                rc, took = first_picture(srv.url(n))
                log("late joiner of live/%s: first picture after %.2f s (rc %d)" % (n, took, rc))
                check(rc == 0 and took < 5.0,
                      "a late joiner of live/%s decodes a picture (%.2f s; at worst it waits "
                      "for the next keyframe, 2 s apart)" % (n, took))
            for p in pubs:
                check(p.poll() is None, "publisher still running")
        finally:
            for p in pubs:
                stop_proc(p)


main(test)
