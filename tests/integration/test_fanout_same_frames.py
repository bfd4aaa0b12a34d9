#!/usr/bin/env python3
"""Three players at once receive the same frames (per-frame checksums).

ctest: serial (three 720p decoders)
"""

import subprocess
import threading

from harness import (Server, check, ffmpeg_publish, framemd5, log, main, media, stop_proc,
                     wait_publishing)


def test():
    src = media("h264_720p_gop2.flv")
    with Server() as srv:
        pub = ffmpeg_publish(srv.url("fan"), src)
        try:
            wait_publishing(srv, "fan")
            results = [None] * 3
            errors = []

            def player(i):
                try:
                    results[i] = framemd5(srv.url("fan"), 4)
                except Exception as e:  # reported below
                    errors.append(e)

            threads = [threading.Thread(target=player, args=(i,)) for i in range(3)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(120)
            check(not errors, "all three players decoded (%s)" % errors)

            videos = [[md5 for s, pts, md5 in r if s == 0] for r in results]
            for i, v in enumerate(videos):
                check(len(v) >= 100, "player %d decoded %d video frames" % (i, len(v)))

            # Align each player on player 0's frames by checksum: the frames
            # they have in common must be the same frames in the same order.
            ref = videos[0]
            index = {md5: k for k, md5 in enumerate(ref)}
            for i in (1, 2):
                v = videos[i]
                start = next((j for j, md5 in enumerate(v) if md5 in index), None)
                check(start is not None, "player %d shares frames with player 0" % i)
                k = index[v[start]]
                n = min(len(v) - start, len(ref) - k)
                check(n >= 100, "player %d overlaps player 0 on %d frames" % (i, n))
                same = sum(1 for x in range(n) if v[start + x] == ref[k + x])
                check(same == n, "player %d: %d of %d overlapping frames identical, in order" %
                      (i, same, n))
        finally:
            stop_proc(pub)


main(test)
