#!/usr/bin/env python3
"""Players stay attached while the publisher goes away and comes back.

Default app (publish_notify = false): an ffmpeg player keeps decoding while
the publisher stops (ffmpeg, stopped cleanly), a new ffmpeg publisher of the
same name starts 1 s later, is then killed (the TCP connection just drops)
and a third one starts 1 s later. Each publisher sends the file from its
start, so the decoded frames (matched by checksum to the source frames)
must show three runs, the later two from frame 0, at later and later pts.
A raw RTMP player on the same stream sees StreamEOF / StreamBegin user
control events and no Unpublish/PublishNotify status (FFmpeg players end
playback on UnpublishNotify).

App with publish_notify = true: a player that was there before anyone
published gets NetStream.Play.PublishNotify and media when the publisher
comes; a raw RTMP player receives NetStream.Play.UnpublishNotify when the
publisher leaves and NetStream.Play.PublishNotify when a new one starts,
then media again (sequence header, keyframe, timestamps that do not go
backwards).

ctest: serial (publisher restarts are timed)
"""

import os
import signal
import tempfile
import time

import rtmp_client as rc
from harness import (Server, check, ffmpeg_play, ffmpeg_publish, log, main, media,
                     parse_framemd5, source_frames, stop_proc, wait_publishing)

NAME = "restart"
FPS = 30


def runs_of(indices):
    """Splits source frame indices into runs of consecutive frames."""
    runs = []
    for i in indices:
        if runs and runs[-1][-1][0] + 1 == i[0]:
            runs[-1].append(i)
        else:
            runs.append([i])
    return runs


def raw_player(srv, name):
    return rc.playing(srv.port, name)


def restarts_without_notify(src, ref):
    with Server() as srv, tempfile.TemporaryDirectory() as d:
        out = os.path.join(d, "player.framemd5")
        url = srv.url(NAME)
        pubs = []
        try:
            t_p1 = time.monotonic()
            pubs.append(ffmpeg_publish(url, src, loop=False))
            wait_publishing(srv, NAME)

            raw, msid = raw_player(srv, NAME)
            with rc.Pump(raw):
                player = ffmpeg_play(url, 12, out)
                time.sleep(4)
                log("stopping publisher 1 (SIGINT: FCUnpublish, deleteStream)")
                stop_proc(pubs[0])
                t_stop1 = time.monotonic()
                check(pubs[0].returncode is not None, "publisher 1 exited")
                time.sleep(1.0)
                pubs.append(ffmpeg_publish(url, src, loop=False))
                wait_publishing(srv, NAME, count=2)
                log("publisher 2 publishing")
                time.sleep(3.5)
                log("killing publisher 2 (SIGKILL: the connection just drops)")
                pubs[1].send_signal(signal.SIGKILL)
                pubs[1].wait()
                time.sleep(1.0)
                pubs.append(ffmpeg_publish(url, src, loop=False))
                wait_publishing(srv, NAME, count=3)
                log("publisher 3 publishing")
                try:
                    player.wait(30)
                except Exception:
                    player.kill()
                    player.wait()
                    with open(out + ".err") as f:
                        err = f.read()
                    check(False, "the ffmpeg player finished its 12 s within 30 s "
                          "(it stopped decoding; stderr: %r)" % err[-500:])
            with open(out + ".err") as f:
                err = f.read()
            with open(out) as f:
                frames = parse_framemd5(f.read())
        finally:
            for p in pubs:
                stop_proc(p)

        check(player.returncode == 0, "the ffmpeg player exited 0 (stderr: %r)" % err[-500:])
        video = [(t, md5) for s, t, md5 in frames if s == 0]
        audio = [t for s, t, md5 in frames if s == 1]
        log("player decoded %d video frames, %d audio frames, last video pts %.2f s" %
            (len(video), len(audio), video[-1][0] if video else -1))
        unknown = [t for t, md5 in video if md5 not in ref]
        check(not unknown, "every decoded frame is a frame of the source (%d are not, "
              "first at pts %s)" % (len(unknown), unknown[:3]))

        # Publisher 1 was on the air for (t_stop1 - t_p1) s: with the GOP
        # cache a player can get at most that much plus one GOP from it.
        p1_max = int((t_stop1 - t_p1 + 1.0) * FPS)
        check(len(video) > p1_max + 90,
              "the player decoded %d video frames, far more than publisher 1 could "
              "give it (at most %d)" % (len(video), p1_max))

        runs = runs_of([(ref[md5], t) for t, md5 in video])
        log("runs of consecutive source frames: %s" %
            ["frames %d..%d at pts %.2f..%.2f s" % (r[0][0], r[-1][0], r[0][1], r[-1][1])
             for r in runs])
        check(len(runs) == 3, "three runs of consecutive frames, one per publisher "
              "(got %d)" % len(runs))
        for k in (1, 2):
            check(runs[k][0][0] == 0, "run %d starts at the first frame of the file "
                  "(new publisher, frame %d)" % (k + 1, runs[k][0][0]))
            check(runs[k][0][1] > runs[k - 1][-1][1],
                  "run %d is decoded at later pts than run %d (%.2f s > %.2f s)" %
                  (k + 1, k, runs[k][0][1], runs[k - 1][-1][1]))
        check(len(runs[1]) >= 75, "%d frames decoded from publisher 2 (on the air 3.5 s)" %
              len(runs[1]))
        check(len(runs[2]) >= 45, "%d frames decoded from publisher 3" % len(runs[2]))
        t_restart = runs[0][-1][1]
        after = sum(1 for t, md5 in video if t > t_restart)
        check(after >= 150, "%d video frames decoded with pts after the first restart "
              "(%.2f s)" % (after, t_restart))
        check(audio and audio[-1] > t_restart + 5, "audio continues after the restarts "
              "(last audio pts %.2f s)" % (audio[-1] if audio else -1))

        # The raw player's view: StreamEOF and StreamBegin, no notify status.
        msgs = list(raw.pending)
        raw.close()
        events = [rc.user_control(m) for m in msgs if rc.user_control(m)]
        eofs = [v for e, v in events if e == rc.UC_STREAM_EOF]
        begins = [v for e, v in events if e == rc.UC_STREAM_BEGIN]
        codes = [rc.status_info(m)["code"] for m in msgs if rc.status_info(m)]
        log("raw player: user control %s, status %s" % (events, codes))
        check(eofs == [msid, msid], "raw player got StreamEOF(%d) for each of the two "
              "publisher departures (%s)" % (msid, eofs))
        check(begins.count(msid) >= 3, "raw player got StreamBegin(%d) at play and at each "
              "new publish (%s)" % (msid, begins))
        check("NetStream.Play.UnpublishNotify" not in codes and
              "NetStream.Play.PublishNotify" not in codes,
              "no Unpublish/PublishNotify with publish_notify = false")
        # Media after each StreamBegin of a new publish.
        begin_at = [i for i, m in enumerate(msgs)
                    if rc.user_control(m) and rc.user_control(m)[0] == rc.UC_STREAM_BEGIN]
        for i in begin_at[-2:]:
            keys = sum(1 for m in msgs[i:] if rc.is_video_keyframe(m))
            check(keys >= 2, "raw player gets keyframes after a new publish (%d)" % keys)


def restarts_with_notify(src):
    app = {"name": "live", "publish_notify": True}
    with Server(apps=[app]) as srv:
        url = srv.url(NAME)
        # A player that is there before anyone publishes.
        early, emsid = raw_player(srv, NAME)
        i = early.find(lambda m: (rc.status_info(m) or {}).get("code") == "NetStream.Play.Start")
        check(i is not None, "a player can start playing before anyone publishes")
        early.pump(0.3)
        check(not any(m.type in (8, 9) for m in early.pending), "it gets no media yet")
        pub = ffmpeg_publish(url, src, loop=False)
        pub2 = None
        try:
            wait_publishing(srv, NAME)
            j = early.find(lambda m: (rc.status_info(m) or {}).get("code") ==
                           "NetStream.Play.PublishNotify", i, timeout=5)
            check(j is not None, "the early player gets PublishNotify when the publisher comes")
            k = early.find(rc.is_video_keyframe, j, timeout=5)
            check(k is not None, "and then video")
            first_video = next(m for m in early.pending[j:] if m.type == 9)
            check(rc.is_video_seq_header(first_video), "starting with the sequence header")
            early.close()
            c, msid = raw_player(srv, NAME)
            i = c.find(lambda m: rc.status_info(m) is not None and
                       rc.status_info(m)["code"] == "NetStream.Play.Start")
            check(i is not None, "raw player: NetStream.Play.Start")
            i = c.find(rc.is_video_keyframe, i)
            check(i is not None, "raw player receives video")
            c.pump(2.0)

            log("stopping the publisher")
            mark = len(c.pending)
            stop_proc(pub)
            t0 = time.monotonic()
            j = c.find(lambda m: (rc.status_info(m) or {}).get("code") ==
                       "NetStream.Play.UnpublishNotify", mark, timeout=5)
            check(j is not None, "raw player got NetStream.Play.UnpublishNotify within "
                  "%.1f s of the publisher leaving" % (time.monotonic() - t0))
            info = rc.status_info(c.pending[j])
            check(c.pending[j].msid == msid and info.get("level") == "status",
                  "UnpublishNotify is a level 'status' onStatus on the play stream (%d): %r" %
                  (msid, info))
            check(any(rc.user_control(m) == (rc.UC_STREAM_EOF, msid) for m in c.pending[mark:]),
                  "and a StreamEOF(%d) user control event" % msid)
            last_ts = max(m.ts for m in c.pending[:mark] if m.type in (8, 9))

            ok = c.pump(1.0)
            check(ok, "the player's connection stays open without a publisher")
            mark = len(c.pending)
            pub2 = ffmpeg_publish(url, src, loop=False)
            t0 = time.monotonic()
            j = c.find(lambda m: (rc.status_info(m) or {}).get("code") ==
                       "NetStream.Play.PublishNotify", mark, timeout=10)
            check(j is not None, "raw player got NetStream.Play.PublishNotify %.1f s after "
                  "the new publisher started" % (time.monotonic() - t0))
            check(c.pending[j].msid == msid, "PublishNotify is on the play stream")
            check(any(rc.user_control(m) == (rc.UC_STREAM_BEGIN, msid) for m in c.pending[mark:]),
                  "and a StreamBegin(%d) user control event" % msid)
            ok = c.pump(3.0)
            check(ok, "the player's connection is still open")
            after = [m for m in c.pending[mark:] if m.type in (8, 9)]
            videos = [m for m in after if m.type == 9]
            check(len(videos) >= 75, "raw player received %d video messages in the 3 s after "
                  "the new publish" % len(videos))
            check(rc.is_video_seq_header(videos[0]), "the first video after the new publish is "
                  "the sequence header")
            first_frame = next(m for m in videos if not rc.is_video_seq_header(m))
            check(rc.is_video_keyframe(first_frame), "then a keyframe")
            check(min(m.ts for m in after) >= last_ts,
                  "timestamps do not go backwards across the restart (%d ms after %d ms)" %
                  (min(m.ts for m in after), last_ts))
            c.close()
        finally:
            stop_proc(pub)
            if pub2:
                stop_proc(pub2)


def test():
    src = media("h264_360p_gop1.flv")
    ref = source_frames(src)
    t0 = time.monotonic()
    restarts_without_notify(src, ref)
    log("publish_notify = false part took %.1f s" % (time.monotonic() - t0))
    t0 = time.monotonic()
    restarts_with_notify(src)
    log("publish_notify = true part took %.1f s" % (time.monotonic() - t0))


main(test)
