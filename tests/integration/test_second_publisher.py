#!/usr/bin/env python3
"""A second publisher to a name already publishing is refused; the first
one goes on undisturbed.

While ffmpeg publishes live/dup and an ffmpeg player decodes it:
- a raw RTMP client (connect, createStream, publish "dup") gets
  onStatus NetStream.Publish.BadName (level error), and the media it then
  sends anyway on that stream id reaches nobody;
- a second ffmpeg publisher (FMLE-style sequence) exits with an error;
- the player decodes the first publisher's frames at full rate: every
  frame of the source in order (checked by checksum), no gap in pts.
The refused raw client can still publish another name on the same stream
id afterwards (the refusal left it usable).

ctest: serial (full-rate decoding is timed)
"""

import os
import tempfile
import time

import rtmp_client as rc
from harness import (Server, check, ffmpeg_play, ffmpeg_publish, log, main, media,
                     parse_framemd5, source_frames, stop_proc, wait_publishing)

NAME = "dup"
PLAY_SECONDS = 8
FPS = 30


def test():
    src = media("h264_360p_gop1.flv")
    other = media("h264_720p_gop2.flv")  # what the refused publishers send
    ref = source_frames(src)
    nref = len(ref)
    with Server() as srv, tempfile.TemporaryDirectory() as d:
        out = os.path.join(d, "player.framemd5")
        pub = ffmpeg_publish(srv.url(NAME), src)
        pub2 = None
        try:
            wait_publishing(srv, NAME)
            t_play = time.monotonic()
            player = ffmpeg_play(srv.url(NAME), PLAY_SECONDS, out)
            time.sleep(1.5)

            # A plain second publisher on its own connection.
            c = rc.Client("127.0.0.1", srv.port)
            c.handshake()
            c.connect("live")
            msid = c.create_stream()
            info = c.publish(msid, NAME)
            log("second publish got %r" % info)
            check(info.get("code") == "NetStream.Publish.BadName",
                  "the second publisher gets NetStream.Publish.BadName (got %s)" % info.get("code"))
            check(info.get("level") == "error", "with level 'error'")
            # It sends 720p media anyway: none of it may reach the player.
            c.set_chunk_size(4096)
            tags = [t for t in rc.flv_tags(other)][:120]
            sent = c.send_tags(msid, tags)
            log("refused publisher sent %d tags anyway" % sent)
            check(c.pump(0.5), "the refused publisher's connection stays open")

            # A second ffmpeg publisher fails.
            pub2 = ffmpeg_publish(srv.url(NAME), other, loop=False)
            try:
                pub2.wait(15)
            except Exception:
                pass
            err2 = pub2.stderr.read() if pub2.poll() is not None else ""
            log("second ffmpeg publisher: exit %s, stderr %r" % (pub2.returncode, err2[-300:]))
            check(pub2.returncode not in (None, 0),
                  "a second ffmpeg publisher exits with an error (exit %s)" % pub2.returncode)

            try:
                player.wait(PLAY_SECONDS + 20)
            except Exception:
                player.kill()
                player.wait()
            t_player = time.monotonic() - t_play
            with open(out + ".err") as f:
                err = f.read()
            with open(out) as f:
                frames = parse_framemd5(f.read())
            check(player.returncode == 0, "the player exited 0 after %.1f s (stderr %r)" %
                  (t_player, err[-500:]))
            check(pub.poll() is None, "the first publisher is still publishing")

            # The refused client can publish another name on the same id.
            info = c.publish(msid, NAME + "_other")
            check(info.get("code") == "NetStream.Publish.Start",
                  "the refused client then publishes another name on the same stream id (%s)" %
                  info.get("code"))
            c.close()
        finally:
            stop_proc(pub)
            if pub2:
                stop_proc(pub2)

    video = [(t, md5) for s, t, md5 in frames if s == 0]
    log("player decoded %d video frames in %.1f s" % (len(video), t_player))
    check(t_player < PLAY_SECONDS + 3, "the player got its %d s in %.1f s of wall time" %
          (PLAY_SECONDS, t_player))
    check(len(video) >= PLAY_SECONDS * FPS - 3, "the player decoded %d video frames for %d s "
          "(full rate: >= %d)" % (len(video), PLAY_SECONDS, PLAY_SECONDS * FPS - 3))
    unknown = sum(1 for t, md5 in video if md5 not in ref)
    check(unknown == 0, "every decoded frame is a frame of the first publisher's source "
          "(%d are not)" % unknown)
    idx = [ref[md5] for t, md5 in video]
    breaks = [(k, idx[k - 1], idx[k]) for k in range(1, len(idx))
              if idx[k] != (idx[k - 1] + 1) % nref]
    check(not breaks, "the frames are consecutive source frames, none missing or foreign "
          "(breaks: %s)" % breaks[:5])
    gaps = [(round(video[k - 1][0], 3), round(video[k][0], 3)) for k in range(1, len(video))
            if video[k][0] - video[k - 1][0] > 2.5 / FPS]
    check(not gaps, "no gap in the player's video pts (%s)" % gaps[:5])
    refused = srv.log_count(r"live/%s refused: already publishing" % NAME)
    check(refused >= 2, "the server logged both refusals (%d)" % refused)


main(test)
