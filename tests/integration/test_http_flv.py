#!/usr/bin/env python3
"""HTTP-FLV playback: ffprobe/ffmpeg play http://HOST:PORT/live/NAME.flv.

While ffmpeg publishes the 720p test files: ffprobe reads h264 + aac from the
HTTP-FLV URL; ffmpeg decodes 5 s of it without errors; the byte stream is a
valid FLV file (header, PreviousTagSize, metadata and sequence headers before
the first keyframe); a late joiner starts from the GOP cache (first picture
in < 1 s with 4 s keyframes); HEAD gives the headers and no body; unknown
streams give 404; a stalled player gets video dropped and resumed at a
keyframe (audio whole, FLV still valid) while a healthy one is unaffected; a
player's connection ends when the publisher stops, and the access log has its
line (stream, bytes, reason). An empty name gets 400.

ctest: serial (timing)
"""

import time

from harness import (Server, check, ffmpeg_publish, ffprobe_streams, log, main, media, run,
                     stop_proc, wait_publishing)
from http_helpers import FLV_AUDIO, FLV_SCRIPT, FLV_VIDEO, FlvPlayer, RawConn, get_json, request

HTTP = {"http": {"listen": ["127.0.0.1:0"]}}


def flv_url(srv, name, app="live"):
    return "http://127.0.0.1:%d/%s/%s.flv" % (srv.http_port, app, name)


def check_byte_stream(srv):
    p = FlvPlayer(srv.http_port, "/live/x.flv")
    p.start()
    time.sleep(2.5)
    p.stop()
    check(not p.errors, "the FLV byte stream parses strictly (errors: %s)" % p.errors[:3])
    check(p.status == 200, "GET /live/x.flv: 200 (got %s)" % p.status)
    ctype = p.headers.get("content-type")
    check(ctype == "video/x-flv", "Content-Type: video/x-flv (got %r)" % ctype)
    check("content-length" not in p.headers or p.headers.get("transfer-encoding") == "chunked",
          "a live FLV response has no Content-Length (headers %s)" % p.headers)
    check(p.flv_header == b"FLV\x01\x05\x00\x00\x00\x09\x00\x00\x00\x00",
          "the body starts with an FLV header: version 1, audio+video, size 9, "
          "PreviousTagSize0 = 0 (%r)" % p.flv_header)
    tags = list(p.tags)
    kinds = [(t.type, t.seq_header) for t in tags[:3]]
    check(tags and tags[0].type == FLV_SCRIPT, "the first tag is script data (onMetaData)")
    check((FLV_VIDEO, True) in kinds and (FLV_AUDIO, True) in kinds,
          "AVC and AAC sequence headers come before the media (first tags %s)" % kinds)
    first_media = next(t for t in tags if t.media)
    check(first_media.type != FLV_VIDEO or first_media.keyframe,
          "the first coded video frame is a keyframe")
    first_video = next(t for t in tags if t.type == FLV_VIDEO and t.media)
    check(first_video.keyframe, "the first coded video tag is a keyframe")
    vts = [t.ts for t in tags if t.type == FLV_VIDEO and t.media]
    check(all(b >= a for a, b in zip(vts, vts[1:])), "video timestamps never go back")
    check(len(vts) >= 60, "%d video frames in 2.5 s (GOP cache + live)" % len(vts))
    check(tags[0].ts == 0 or tags[0].ts <= first_video.ts,
          "metadata is stamped at or before the first frame (%d, %d)" % (tags[0].ts, first_video.ts))


def check_ffmpeg(srv):
    streams = ffprobe_streams(flv_url(srv, "x"))
    video = [s for s in streams if s["codec_type"] == "video"]
    audio = [s for s in streams if s["codec_type"] == "audio"]
    check(len(streams) == 2, "ffprobe sees two streams over HTTP-FLV (%s)" %
          [s["codec_type"] for s in streams])
    check(video and video[0]["codec_name"] == "h264", "ffprobe over HTTP-FLV: video is h264")
    check(video[0]["width"] == 1280 and video[0]["height"] == 720, "ffprobe: 1280x720")
    check(audio and audio[0]["codec_name"] == "aac", "ffprobe over HTTP-FLV: audio is aac")

    r = run(["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error",
             "-i", flv_url(srv, "x"), "-t", "5", "-f", "framemd5", "-"], timeout=60)
    vframes = [l for l in r.stdout.splitlines() if l.startswith("0,")]
    aframes = [l for l in r.stdout.splitlines() if l.startswith("1,")]
    check(len(vframes) >= 140, "ffmpeg decoded %d video frames in 5 s over HTTP-FLV (>= 140)" %
          len(vframes))
    check(len(aframes) >= 200, "ffmpeg decoded %d audio frames in 5 s (>= 200)" % len(aframes))
    check(r.stderr.strip() == "", "no decode errors (stderr: %r)" % r.stderr[:300])


def check_head_and_404(srv):
    port = srv.http_port
    c = RawConn(port)
    c.send(b"HEAD /live/x.flv HTTP/1.1\r\nHost: t\r\n\r\n")
    r = c.read_response(head=True)
    check(r is not None and r[0] == 200, "HEAD /live/x.flv: 200 (%s)" % (r and r[0]))
    check(r[1].get("content-type") == "video/x-flv", "HEAD: Content-Type video/x-flv")
    took = c.wait_closed(3)
    check(took is not None, "HEAD: the server ends the connection after the headers")
    check(c.buf == b"", "HEAD: no body at all (%d bytes followed the headers)" % len(c.buf))
    c.close()

    for method in ("GET", "HEAD"):
        for path in ("/live/nope.flv", "/nosuchapp/x.flv"):
            status, hdrs, body = request(port, method, path)
            check(status == 404, "%s %s: 404 (got %d)" % (method, path, status))
            if method == "HEAD":
                check(body == b"", "HEAD %s: no body" % path)
        # An empty name breaks the stream-name rule, as in RTMP play.
        status, hdrs, body = request(port, method, "/live/.flv")
        check(status == 400, "%s /live/.flv: 400 (got %d)" % (method, status))
        check(body == b"" if method == "HEAD" else b"empty stream name" in body,
              "%s /live/.flv: the reason in the body, none for HEAD (%r)" % (method, body))

    status, hdrs, body = request(port, "POST", "/live/x.flv", body=b"")
    check(status == 405, "POST /live/x.flv: 405 (got %d)" % status)

    # flv.js and others add a query string (auth tokens, cache busters).
    p = FlvPlayer(port, "/live/x.flv?token=abc&_=12345", stop_after=20)
    p.start()
    p.join(10)
    check(p.status == 200 and len(p.tags) >= 20 and not p.errors,
          "GET /live/x.flv?query: 200 and FLV tags (status %s, %d tags, errors %s)" %
          (p.status, len(p.tags), p.errors[:2]))


def time_to_first_frame(url):
    t0 = time.monotonic()
    run(["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-i", url,
         "-frames:v", "1", "-f", "null", "-"], timeout=30)
    return time.monotonic() - t0


def check_late_joiner(srv):
    times = []
    for i in range(4):
        # Join at different points of the 4 s GOP.
        time.sleep(0.7 + 0.45 * i)
        t = time_to_first_frame(flv_url(srv, "late"))
        log("HTTP-FLV join %d: first picture after %.3f s" % (i, t))
        if t >= 1.0:
            # Once more at about the same point of the GOP: a machine busy
            # with other work can delay ffmpeg itself; a missing GOP cache
            # delays both joins.
            t = time_to_first_frame(flv_url(srv, "late"))
            log("HTTP-FLV join %d again: first picture after %.3f s" % (i, t))
        times.append(t)
    check(max(times) < 1.0, "every HTTP-FLV late joiner shows a picture in < 1 s with 4 s "
          "keyframes (max %.3f s)" % max(times))

    # The burst at join is the cached GOP: frames older than the live edge.
    p = FlvPlayer(srv.http_port, "/live/late.flv")
    p.start()
    time.sleep(1.0)
    p.stop()
    v = p.video()
    check(v and v[0].keyframe, "the first coded frame over HTTP-FLV is a keyframe")
    k = v[0].t - p.t_connect
    check(k < 0.5, "first keyframe arrived %.3f s after connecting (< 0.5 s)" % k)
    return p


def check_stalled_player(srv):
    """A player that stops reading for 3 s gets video dropped and resumed at
    a keyframe, audio complete, whole tags, and is not disconnected; a
    healthy player next to it sees nothing of it."""
    stalled = FlvPlayer(srv.http_port, "/live/x.flv", pause=(100, 3.0), rcvbuf=65536)
    healthy = FlvPlayer(srv.http_port, "/live/x.flv")
    stalled.start()
    healthy.start()
    check(healthy.wait_ready() == 200 and stalled.wait_ready() == 200, "two HTTP-FLV players")
    time.sleep(7.5)
    st, doc, _ = get_json(srv.http_port, "/api/v1/clients")
    me = [c for c in doc["clients"] if c["peer"] == "127.0.0.1:%d" % stalled.local_port]
    other = [c for c in doc["clients"] if c["peer"] == "127.0.0.1:%d" % healthy.local_port]
    stalled.stop()
    healthy.stop()
    check(stalled.t_pause_end is not None and not stalled.errors,
          "the stalled player's byte stream stays valid FLV (errors %s)" % stalled.errors[:2])
    check(me and me[0]["frames_dropped"] > 0 and me[0]["drop_episodes"] >= 1,
          "the API shows frames dropped for the stalled player (%s)" %
          (me and {k: me[0][k] for k in ("frames_sent", "frames_dropped", "drop_episodes")}))
    check(other and other[0]["frames_dropped"] == 0, "the healthy player has no drops")
    video = stalled.video()
    jumps = [(a.ts, b.ts, b.keyframe) for a, b in zip(video, video[1:]) if b.ts - a.ts > 100]
    check(jumps, "video skipped ahead after the stall (%s)" % jumps)
    check(all(k for _, _, k in jumps), "video resumes at a keyframe after every skip (%s)" % jumps)
    check(stalled.video()[-1].t > stalled.t_pause_end + 2, "the stalled player plays on afterwards")
    audio = [t.ts for t in stalled.tags if t.type == FLV_AUDIO and t.media]
    gap = max(b - a for a, b in zip(audio, audio[1:]))
    check(gap <= 50, "audio was never dropped (largest timestamp step %d ms)" % gap)
    hgap = healthy.max_gap()
    check(hgap is not None and hgap < 0.5, "the healthy player never waited over 0.5 s (%.3f s)" %
          (hgap or -1))


def check_unpublish_ends_players(srv, pub):
    p = FlvPlayer(srv.http_port, "/live/late.flv")
    p.start()
    time.sleep(1.0)
    check(not p.closed and p.video(), "an HTTP-FLV player receives live/late")
    stop_proc(pub)
    t0 = time.monotonic()
    p.join(10)
    check(p.closed, "the HTTP-FLV player's connection ends when the publisher stops")
    log("player connection ended %.2f s after the publisher was stopped" % (time.monotonic() - t0))
    check(not p.errors, "the byte stream ended on a tag boundary (errors %s)" % p.errors[:2])
    end = srv.wait_log(r"ACCESS id=\d+ peer=127\.0\.0\.1:%d proto=http stream=live/late "
                       r"role=play requests=1 bytes_in=\d+ bytes_out=(\d+) duration_ms=\d+ "
                       r"reason=\"([^\"]*)\"$" % p.local_port)
    check(int(end.group(1)) >= p.bytes, "the access log has the player's line: stream, %s bytes "
          "out (it read %d), reason %r" % (end.group(1), p.bytes, end.group(2)))


def test():
    src = media("h264_720p_gop2.flv")
    src4 = media("h264_720p_gop4.flv")
    with Server(settings=HTTP) as srv:
        pub = ffmpeg_publish(srv.url("x"), src)
        pub4 = ffmpeg_publish(srv.url("late"), src4)
        try:
            wait_publishing(srv, "x")
            wait_publishing(srv, "late")
            t0 = time.monotonic()
            check_byte_stream(srv)
            check_ffmpeg(srv)
            check_head_and_404(srv)
            check_late_joiner(srv)
            check_stalled_player(srv)
            check_unpublish_ends_players(srv, pub4)
            check(pub.poll() is None, "the publisher of live/x is still running")
            log("HTTP-FLV checks took %.1f s" % (time.monotonic() - t0))
        finally:
            stop_proc(pub)
            stop_proc(pub4)


main(test)
