#!/usr/bin/env python3
"""SIGHUP reopens the access log file (log rotation) and stops nothing.

log.access_log is a file in a temporary directory; an ffmpeg publisher, a
raw player of its stream and an idle raw client are connected throughout.
- The file is renamed (as logrotate does) and rtmpd gets SIGHUP: it logs one
  line that it reopened the access log, a new file appears at the path and
  takes the next client's line; the renamed file does not.
- The directory is renamed away and rtmpd gets SIGHUP: the path cannot be
  opened, rtmpd logs an error and keeps writing to the file it had.
- The directory is made again and rtmpd gets SIGHUP: a new file again.
- Meanwhile rtmpd keeps running, the publisher stays, the player keeps
  receiving video and the idle client still answers; SIGTERM then exits 0.
"""

import os
import re
import signal
import tempfile
import time

import rtmp_client as rc
from harness import Server, check, ffmpeg_publish, log, main, media, stop_proc, wait_publishing



def access_lines(path):
    try:
        with open(path) as f:
            return [l for l in f.read().splitlines() if "proto=rtmp" in l]
    except FileNotFoundError:
        return None


def one_client(srv):
    """A client that connects and leaves; returns the "peer=" of the access
    log line written when it closes."""
    c = rc.connected(srv.port)
    peer = "peer=127.0.0.1:%d " % c.sock.getsockname()[1]
    c.create_stream()
    c.close()
    return peer


def has_line(path, peer):
    return any(peer in l for l in access_lines(path) or [])


def wait_line(path, peer, timeout=5):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if has_line(path, peer):
            return True
        time.sleep(0.05)
    return False


def hup(srv, pattern, count):
    srv.proc.send_signal(signal.SIGHUP)
    srv.wait_log(pattern, timeout=5, count=count)
    time.sleep(0.1)
    check(srv.proc.poll() is None, "rtmpd is still running after SIGHUP")


def test():
    src = media("h264_360p_gop1.flv")
    with tempfile.TemporaryDirectory() as d:
        logs = os.path.join(d, "logs")
        os.mkdir(logs)
        path = os.path.join(logs, "access.log")
        with Server(settings={"log": {"level": "info", "access_log": path}}) as srv:
            pub = ffmpeg_publish(srv.url("hup"), src)
            try:
                wait_publishing(srv, "hup")
                player, _ = rc.playing(srv.port, "hup")
                check(player.find(rc.is_video_keyframe) is not None, "the player receives video")
                idle = rc.connected(srv.port)
                with rc.Pump(player):
                    a = one_client(srv)
                    check(wait_line(path, a), "the access log file has the line of the client "
                          "with %s" % a.strip())

                    # Rotation: rename, SIGHUP, a new file at the path.
                    rotated = path + ".1"
                    os.rename(path, rotated)
                    mark = len(player.pending)
                    hup(srv, r"SIGHUP\): reopened the access log " + re.escape(path), 1)
                    check(srv.log_count(r"SIGHUP") == 1, "one log line about it")
                    check(os.path.exists(path), "a new access log file exists at the path")
                    b = one_client(srv)
                    check(wait_line(path, b), "the new file has the line of the client with %s" %
                          b.strip())
                    check(not has_line(rotated, b), "the renamed file does not")

                    # The path cannot be opened: the old file is kept.
                    moved = logs + ".old"
                    os.rename(logs, moved)
                    hup(srv, r"ERROR .*SIGHUP\): reopening the access log .*: No such file", 1)
                    c = one_client(srv)
                    check(wait_line(os.path.join(moved, "access.log"), c),
                          "after a failed reopen, the line of the client with %s goes to the "
                          "file opened before" % c.strip())

                    # The directory is back: the next SIGHUP opens a new file.
                    os.mkdir(logs)
                    hup(srv, r"SIGHUP\): reopened the access log", 2)
                    e = one_client(srv)
                    check(wait_line(path, e), "after a second rotation the line of the client "
                          "with %s is in a new file" % e.strip())
                    check(srv.log_count(r"SIGHUP") == 3, "one log line per SIGHUP (%d)" %
                          srv.log_count(r"SIGHUP"))
                    time.sleep(0.5)
                    video = [m for m in player.pending[mark:] if m.type == 9]
                check(len(video) >= 20, "the player kept receiving video across the SIGHUPs "
                      "(%d messages)" % len(video))
                check(not player.closed, "the player is still connected")
                check(idle.create_stream() >= 1, "the client idle since before the SIGHUPs "
                      "still answers")
                check(pub.poll() is None, "the publisher is still connected")
                player.close()
                idle.close()
            finally:
                stop_proc(pub)
            log("rtmpd log:\n" + "\n".join(l for l in srv.log_text().splitlines()
                                          if "SIGHUP" in l))


main(test)
