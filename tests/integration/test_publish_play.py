#!/usr/bin/env python3
"""ffmpeg publishes 720p H.264 + AAC; ffprobe, ffmpeg and rtmpdump play it."""

import os
import subprocess
import tempfile

from harness import (Server, check, ffmpeg_publish, ffprobe_streams, framemd5, log, main,
                     media, run, stop_proc, wait_publishing)


def test():
    src = media("h264_720p_gop2.flv")
    with Server() as srv:
        pub = ffmpeg_publish(srv.url("cam"), src)
        try:
            wait_publishing(srv, "cam")

            streams = ffprobe_streams(srv.url("cam"))
            video = [s for s in streams if s["codec_type"] == "video"]
            audio = [s for s in streams if s["codec_type"] == "audio"]
            check(len(streams) == 2, "ffprobe sees exactly two streams (%s)" %
                  [s["codec_type"] for s in streams])
            check(video and video[0]["codec_name"] == "h264", "ffprobe: video is h264")
            check(video[0]["width"] == 1280 and video[0]["height"] == 720, "ffprobe: 1280x720")
            check(audio and audio[0]["codec_name"] == "aac", "ffprobe: audio is aac")

            # Decode 5 s: -loglevel error prints any decode error on stderr.
            r = run(["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error",
                     "-i", srv.url("cam"), "-t", "5", "-f", "framemd5", "-"], timeout=60)
            vframes = [l for l in r.stdout.splitlines() if l.startswith("0,")]
            check(len(vframes) >= 140, "ffmpeg decoded %d video frames in 5 s (>= 140)" % len(vframes))
            check(r.stderr.strip() == "", "no decode errors (stderr: %r)" % r.stderr[:300])

            with tempfile.TemporaryDirectory() as d:
                out = os.path.join(d, "rec.flv")
                p = subprocess.Popen(["rtmpdump", "-q", "--live", "-r", srv.url("cam"), "-o", out],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
                try:
                    p.wait(5)
                except subprocess.TimeoutExpired:
                    pass
                stop_proc(p)
                check(os.path.getsize(out) > 1000000, "rtmpdump recorded %d bytes in 5 s" %
                      os.path.getsize(out))
                rec = ffprobe_streams(out)
                kinds = sorted(s["codec_name"] for s in rec)
                check(kinds == ["aac", "h264"], "ffprobe reads rtmpdump's recording: %s" % kinds)
                r = run(["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of",
                         "csv=p=0", out])
                dur = float(r.stdout.strip())
                check(4.0 <= dur <= 9.0, "recording lasts %.1f s (timestamps start at 0)" % dur)
        finally:
            stop_proc(pub)


main(test)
