#!/usr/bin/env python3
"""A late joiner starts at once from the GOP cache (4 s keyframe interval).

Time to first picture is measured as a user would: from starting
`ffmpeg -i rtmp://...` to the moment it has decoded its first video frame
(it exits after one frame). With the GOP cache off the player has to wait
for the next keyframe, up to 4 s.

ctest: serial (timing)
"""

import statistics
import time

from harness import (Server, check, ffmpeg_publish, log, main, media, run, stop_proc,
                     wait_publishing)


def time_to_first_frame(url):
    t0 = time.monotonic()
    r = run(["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-i", url,
             "-frames:v", "1", "-f", "null", "-"], timeout=30)
    return time.monotonic() - t0


def measure(gop_cache):
    src = media("h264_720p_gop4.flv")
    app = {"name": "live", "gop_cache": {"enabled": gop_cache}}
    times = []
    with Server(apps=[app]) as srv:
        pub = ffmpeg_publish(srv.url("late"), src)
        try:
            wait_publishing(srv, "late")
            time.sleep(1.3)
            for i in range(4):
                # Join at different points of the 4 s GOP.
                time.sleep(0.7 + 0.45 * i)
                t = time_to_first_frame(srv.url("late"))
                log("gop_cache=%s join %d: first picture after %.3f s" % (gop_cache, i, t))
                times.append(t)
        finally:
            stop_proc(pub)
    return times


def test():
    on = measure(True)
    off = measure(False)
    check(max(on) < 1.0, "with the GOP cache every join shows a picture in < 1 s (max %.3f s)" % max(on))
    log("median time to first picture: cache on %.3f s, cache off %.3f s" %
        (statistics.median(on), statistics.median(off)))
    check(statistics.mean(off) > statistics.mean(on) + 0.3,
          "without the cache players wait for a keyframe (mean %.2f s vs %.2f s)" %
          (statistics.mean(off), statistics.mean(on)))


main(test)
