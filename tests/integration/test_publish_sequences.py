#!/usr/bin/env python3
"""The command sequences real publishers use all work.

- ffmpeg's FMLE-style publish (releaseStream, FCPublish, createStream,
  publish): a player decodes the source's frames.
- A plain publish (connect, createStream, publish, nothing else) with real
  media sent by the raw RTMP client: a player decodes the source's frames.
- OBS's stop/start, five times on the same connection: FCUnpublish,
  deleteStream, then at once releaseStream, FCPublish, createStream and a
  publish of the same name. Every publish gets NetStream.Publish.Start
  (never BadName) and a player attached throughout sees StreamEOF, then
  StreamBegin and a keyframe of the new publish, each time.
- The same five times with a new connection for each publish, right after
  the old one sent FCUnpublish and deleteStream (alternately closing the old
  connection and keeping it open).
Each OBS run ends with real-time media decoded by an ffmpeg player.
"""

import threading
import time

import rtmp_client as rc
from harness import (Server, check, ffmpeg_publish, framemd5, log, main, media, source_frames,
                     stop_proc, wait_publishing)

ROUNDS = 5


def check_decoded(frames, ref, min_frames, what):
    video = [md5 for s, t, md5 in frames if s == 0]
    check(len(video) >= min_frames, "%s: player decoded %d video frames (>= %d)" %
          (what, len(video), min_frames))
    idx = [ref.get(md5) for md5 in video]
    check(None not in idx, "%s: every decoded frame is a source frame (%d are not)" %
          (what, idx.count(None)))
    breaks = [k for k in range(1, len(idx)) if idx[k] != idx[k - 1] + 1]
    check(not breaks, "%s: decoded frames are consecutive source frames %d..%d" %
          (what, idx[0], idx[-1]))


def raw_connect(srv, chunk_size=4096):
    c = rc.Client("127.0.0.1", srv.port)
    c.handshake()
    c.connect("live")
    if chunk_size:
        c.set_chunk_size(chunk_size)
    return c


class Sender(threading.Thread):
    """Sends tags in real time on a publishing client until stopped."""

    def __init__(self, client, msid, tags):
        super().__init__(daemon=True)
        self.client, self.msid, self.tags = client, msid, tags
        self.stop_ev = threading.Event()
        self.sent = 0
        self.error = None

    def run(self):
        try:
            self.sent = self.client.send_tags(self.msid, self.tags, realtime=True,
                                              stop=self.stop_ev)
        except Exception as e:
            self.error = e

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.stop_ev.set()
        self.join(10)
        return False


def fmle_publish(c, name):
    """releaseStream, FCPublish, createStream, publish; returns (msid, status)."""
    t1 = c.release_stream(name)
    t2 = c.fc_publish(name)
    t3 = c.command("createStream", None)
    r = c.wait_result(t3)
    check(r[0] == "_result", "createStream -> _result (%r)" % (r,))
    msid = int(r[3])
    info = c.publish(msid, name)
    return msid, info, (t1, t2)


def obs_stop(c, msid, name):
    c.fc_unpublish(name)
    c.delete_stream(msid)


def status_code(m):
    return (rc.status_info(m) or {}).get("code")


def player_sees_new_publish(player, msid, start, what):
    """In the raw player's log from `start`: StreamEOF, StreamBegin, then a
    keyframe. Returns the index after the keyframe."""
    i = player.find(lambda m: rc.user_control(m) == (rc.UC_STREAM_EOF, msid), start, timeout=5)
    check(i is not None, "%s: player got StreamEOF" % what)
    j = player.find(lambda m: rc.user_control(m) == (rc.UC_STREAM_BEGIN, msid), i, timeout=5)
    check(j is not None, "%s: player got StreamBegin" % what)
    k = player.find(rc.is_video_keyframe, j, timeout=5)
    check(k is not None, "%s: player got a keyframe of the new publish" % what)
    return k + 1


def ffmpeg_fmle(srv, src, ref):
    url = srv.url("ff")
    pub = ffmpeg_publish(url, src)
    try:
        wait_publishing(srv, "ff")
        frames = framemd5(url, 3)
    finally:
        stop_proc(pub)
    check_decoded(frames, ref, 85, "ffmpeg FMLE publish")
    # What ffmpeg sent, in order (the server logs commands at debug level).
    cmds = [l.split("command ")[1].split()[0] for l in srv.log_text().splitlines()
            if " command " in l]
    first = [c for c in cmds if c in ("releaseStream", "FCPublish", "createStream", "publish")][:4]
    check(first == ["releaseStream", "FCPublish", "createStream", "publish"],
          "ffmpeg used the FMLE sequence: %s" % first)


def plain_publish(srv, tags, ref):
    c = raw_connect(srv)
    msid = c.create_stream()
    info = c.publish(msid, "plain")
    check(info.get("code") == "NetStream.Publish.Start",
          "plain publish (no releaseStream/FCPublish) -> %s" % info.get("code"))
    with Sender(c, msid, tags) as s:
        frames = framemd5(srv.url("plain"), 3)
    check(s.error is None, "the raw publisher sent %d tags without error (%s)" % (s.sent, s.error))
    check_decoded(frames, ref, 85, "plain publish")
    c.close()


def obs_same_connection(srv, tags, burst, ref):
    name = "obs"
    player = raw_connect(srv, chunk_size=0)
    pmsid = player.create_stream()
    player.play(pmsid, name)
    c = raw_connect(srv)
    msid, info, _ = fmle_publish(c, name)
    check(info.get("code") == "NetStream.Publish.Start", "first publish -> %s" % info.get("code"))
    c.send_tags(msid, burst)
    seen = player.find(rc.is_video_keyframe, timeout=5)
    check(seen is not None, "the player sees the first publish")
    seen += 1
    for i in range(ROUNDS):
        what = "same connection, restart %d" % (i + 1)
        obs_stop(c, msid, name)
        # At once: releaseStream, FCPublish, createStream, publish.
        msid, info, _ = fmle_publish(c, name)
        check(info.get("code") == "NetStream.Publish.Start", "%s: publish -> %s (%s)" %
              (what, info.get("code"), info.get("description")))
        c.send_tags(msid, burst)
        seen = player_sees_new_publish(player, pmsid, seen, what)
    # Finally real-time media, decoded by ffmpeg.
    with rc.Pump(player), Sender(c, msid, tags) as s:
        frames = framemd5(srv.url(name), 2)
    check_decoded(frames, ref, 55, "same connection, after %d restarts" % ROUNDS)
    check(s.error is None, "sender ok (%s)" % s.error)
    c.close()
    player.close()


def obs_new_connection(srv, tags, burst, ref):
    name = "obs2"
    player = raw_connect(srv, chunk_size=0)
    pmsid = player.create_stream()
    player.play(pmsid, name)
    c = raw_connect(srv)
    msid, info, (t_release, t_fc) = fmle_publish(c, name)
    check(info.get("code") == "NetStream.Publish.Start", "first publish -> %s" % info.get("code"))
    # The replies FMLE clients expect.
    r = c.wait_result(t_release, timeout=2)
    check(r[0] == "_result", "releaseStream -> _result")
    on_fc = c.wait_command(("onFCPublish",), timeout=2)
    check(on_fc[3].get("code") == "NetStream.Publish.Start", "FCPublish -> onFCPublish %r" %
          on_fc[3])
    c.send_tags(msid, burst)
    seen = player.find(rc.is_video_keyframe, timeout=5)
    check(seen is not None, "the player sees the first publish")
    seen += 1
    old = []
    for i in range(ROUNDS):
        close_old = i % 2 == 0
        what = "new connection, restart %d (old connection %s)" % (
            i + 1, "closed" if close_old else "left open")
        obs_stop(c, msid, name)
        if close_old:
            c.close()
        else:
            old.append(c)
        c = raw_connect(srv)
        msid, info, _ = fmle_publish(c, name)
        check(info.get("code") == "NetStream.Publish.Start", "%s: publish -> %s (%s)" %
              (what, info.get("code"), info.get("description")))
        c.send_tags(msid, burst)
        seen = player_sees_new_publish(player, pmsid, seen, what)
    with rc.Pump(player), Sender(c, msid, tags) as s:
        frames = framemd5(srv.url(name), 2)
    check_decoded(frames, ref, 55, "new connection, after %d restarts" % ROUNDS)
    check(s.error is None, "sender ok (%s)" % s.error)
    for o in old:
        check(o.pump(0.1), "a connection left open after FCUnpublish/deleteStream is still open")
        o.close()
    c.close()
    player.close()


def test():
    src = media("h264_360p_gop1.flv")
    ref = source_frames(src)
    tags = list(rc.flv_tags(src))
    # Metadata, sequence headers and the first second of media.
    burst = [t for t in tags if t[1] < 1000]
    # Debug level: the server logs each command it gets.
    with Server(settings={"log": {"level": "debug", "access_log": "stderr"}}) as srv:
        parts = [("ffmpeg FMLE publish", lambda: ffmpeg_fmle(srv, src, ref)),
                 ("plain publish", lambda: plain_publish(srv, tags, ref)),
                 ("OBS stop/start, same connection",
                  lambda: obs_same_connection(srv, tags, burst, ref)),
                 ("OBS stop/start, new connection",
                  lambda: obs_new_connection(srv, tags, burst, ref))]
        for what, part in parts:
            t0 = time.monotonic()
            part()
            log("%s took %.1f s" % (what, time.monotonic() - t0))
        bad = srv.log_count(r"refused")
        check(bad == 0, "the server refused no publish (%d 'refused' log lines)" % bad)


main(test)
