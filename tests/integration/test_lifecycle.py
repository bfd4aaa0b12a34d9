#!/usr/bin/env python3
"""Server lifecycle and connection limits, as clients see them.

- IPv6: with -l [::1]:0, ffmpeg publishes to and ffprobe reads from
  rtmp://[::1]:PORT/live/x.
- SIGTERM with a publisher and players connected (one of them not reading):
  rtmpd exits 0 within a few seconds; a raw RTMP player gets StreamEOF and
  then EOF on its socket, an ffmpeg player exits. SIGINT stops it too.
- limits.max_connections = 5: extra connections see EOF at once and the log
  says why; the five existing ones keep working; a freed slot is usable.
- limits.handshake_timeout_ms = 500: a client that sends nothing, half a
  C1, or C0+C1 but no C2 is closed after about 0.5 s; one that completes
  the handshake is not.
- limits.idle_timeout_ms = 1000: a connected client that never answers the
  server's pings is closed after 1-2 s; clients that answer every ping at
  once (and send nothing else) stay, ffmpeg players of a low-bitrate stream
  (which send little but pongs) play on, and a publisher that sends media
  but never reads stays.
- connect to an unknown app: _error NetConnection.Connect.Rejected, then the
  connection closes.

ctest: serial (timeouts are measured)
"""

import os
import shutil
import signal
import socket
import struct
import tempfile
import threading
import time

import rtmp_client as rc
from harness import (Server, check, ffmpeg_play, ffmpeg_publish, log, main, media, parse_framemd5,
                     run, stop_proc, wait_publishing)



def eof_after(sock, timeout):
    """Reads (and ignores) whatever comes until EOF or reset; returns the
    seconds it took, or None if the socket was still open after timeout."""
    t0 = time.monotonic()
    deadline = t0 + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return None
        sock.settimeout(left)
        try:
            d = sock.recv(65536)
        except socket.timeout:
            return None
        except (ConnectionResetError, BrokenPipeError):
            return time.monotonic() - t0
        if not d:
            return time.monotonic() - t0


def ipv6(src):
    try:
        with socket.socket(socket.AF_INET6) as s:
            s.bind(("::1", 0))
    except OSError as e:
        log("SKIPPED the IPv6 part: this machine has no usable ::1 (%s)" % e)
        return
    with Server(listen="[::1]:0") as srv:
        url = "rtmp://[::1]:%d/live/x" % srv.port
        pub = ffmpeg_publish(url, src)
        try:
            wait_publishing(srv, "x")
            r = run(["ffprobe", "-v", "error", "-of", "compact=p=0:nk=0",
                     "-show_entries", "stream=codec_name,width,height", url], timeout=30)
            log("ffprobe over IPv6: %r" % r.stdout.strip())
            check("codec_name=h264" in r.stdout and "width=640" in r.stdout and
                  "codec_name=aac" in r.stdout, "ffprobe reads h264 640x360 + aac from %s" % url)
            c = rc.connected(srv.port, host="::1")
            check(c.sock.family == socket.AF_INET6, "a raw client connects over IPv6 too")
            c.close()
        finally:
            stop_proc(pub)
        check(srv.log_count(r"\[::1\]:\d+") > 0, "the log shows IPv6 peers as [::1]:port")


def sigterm(src):
    srv = Server()
    with srv, tempfile.TemporaryDirectory() as d:
        pub = ffmpeg_publish(srv.url("term"), src)
        player = None
        try:
            wait_publishing(srv, "term")
            c, msid = rc.playing(srv.port, "term")
            check(c.find(rc.is_video_keyframe) is not None, "the raw player receives video")
            # A player that stops reading (what is queued for it must not
            # hold the shutdown up for long).
            stuck = rc.Client("127.0.0.1", srv.port)
            stuck.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            stuck.handshake()
            stuck.connect("live")
            smsid = stuck.create_stream()
            stuck.play(smsid, "term")
            out = os.path.join(d, "p.framemd5")
            player = ffmpeg_play(srv.url("term"), 60, out)
            c.pump(2.5)
            mark = len(c.pending)
            t0 = time.monotonic()
            srv.proc.send_signal(signal.SIGTERM)
            # Read the raw player until its connection closes.
            closed = c.wait_closed(10)
            t_closed = time.monotonic() - t0
            try:
                srv.proc.wait(10)
            except Exception:
                pass
            t_exit = time.monotonic() - t0
            code = srv.proc.poll()
            log("after SIGTERM: raw player closed after %s s, rtmpd exit %s after %.2f s" %
                (None if closed is None else round(t_closed, 2), code, t_exit))
            check(code == 0, "rtmpd exits 0 on SIGTERM (%s)" % code)
            check(t_exit < 4.0, "rtmpd exits within 4 s of SIGTERM, though one player does not "
                  "read (%.2f s)" % t_exit)
            after = c.pending[mark:]
            eof = [i for i, m in enumerate(after) if rc.user_control(m) == (rc.UC_STREAM_EOF, msid)]
            check(eof, "the raw player got StreamEOF(%d) (user control after SIGTERM: %s)" %
                  (msid, [rc.user_control(m) for m in after if rc.user_control(m)]))
            check(closed is not None, "then the server closed its connection (%.2f s)" % t_closed)
            try:
                player.wait(5)
            except Exception:
                pass
            t_player = time.monotonic() - t0
            check(player.poll() is not None, "the ffmpeg player exited within %.1f s of SIGTERM" %
                  t_player)
            with open(out) as f:
                frames = parse_framemd5(f.read())
            nvideo = sum(1 for s, t, m in frames if s == 0)
            log("ffmpeg player: exit %s, %d video frames" % (player.returncode, nvideo))
            check(nvideo >= 60, "the ffmpeg player had decoded %d video frames" % nvideo)
            try:
                pub.wait(5)
            except Exception:
                pass
            check(pub.poll() is not None, "the ffmpeg publisher ended too")
            c.close()
            stuck.close()
        finally:
            stop_proc(pub)
            if player:
                stop_proc(player)
        check(srv.log_count(r"rtmpd stopped") == 1, "rtmpd logged that it stopped")


def sigint():
    srv = Server()
    with srv:
        c, _ = rc.playing(srv.port, "nobody")
        c.pump(0.3)
        t0 = time.monotonic()
        srv.proc.send_signal(signal.SIGINT)
        closed = c.wait_closed(5)
        try:
            srv.proc.wait(5)
        except Exception:
            pass
        t = time.monotonic() - t0
        check(srv.proc.poll() == 0, "rtmpd exits 0 on SIGINT (%s, %.2f s)" % (srv.proc.poll(), t))
        check(closed is not None and t < 3.0, "within 3 s, closing a waiting player's "
              "connection (%.2f s)" % t)
        c.close()


def max_connections(src):
    limit = 5
    with Server(settings={"limits": {"max_connections": limit}}) as srv:
        pub = ffmpeg_publish(srv.url("lim"), src)
        clients = []
        try:
            wait_publishing(srv, "lim")
            player, _ = rc.playing(srv.port, "lim")
            check(player.find(rc.is_video_keyframe) is not None, "the player receives video")
            clients = [rc.connected(srv.port) for _ in range(limit - 2)]
            log("%d connections open (1 publisher, 1 player, %d idle)" % (limit, len(clients)))
            with rc.Pump(player):
                before = len(player.pending)
                t_before = time.monotonic()
                times = []
                for i in range(3):
                    s = socket.create_connection(("127.0.0.1", srv.port), 5)
                    t = eof_after(s, 5)
                    s.close()
                    times.append(t)
                log("extra connections closed after %s s" % times)
                check(all(t is not None and t < 0.5 for t in times),
                      "connections beyond max_connections = %d see EOF at once (%s)" %
                      (limit, times))
                # A client that starts the handshake at once is cut too.
                s = socket.create_connection(("127.0.0.1", srv.port), 5)
                try:
                    s.sendall(b"\x03" + os.urandom(1536))
                except OSError:
                    pass
                t = eof_after(s, 5)
                s.close()
                check(t is not None and t < 0.5, "an extra client sending C0+C1 is closed at once "
                      "(%s)" % t)
                time.sleep(1.0)
                got = [m for m in player.pending[before:] if m.type == 9]
                elapsed = time.monotonic() - t_before
            check(len(got) >= 20, "the player kept receiving video meanwhile (%d messages in "
                  "%.1f s)" % (len(got), elapsed))
            for i, c in enumerate(clients):
                msid = c.create_stream()
                check(msid >= 1, "idle client %d still works (createStream -> %d)" % (i, msid))
            check(pub.poll() is None, "the publisher is still connected")
            n = srv.log_count(r"refused: max_connections reached")
            check(n >= 4, "the log says %d connections were refused: max_connections reached" % n)

            # Free a slot: a new client gets in.
            clients.pop().close()
            ok = None
            deadline = time.monotonic() + 3
            while ok is None and time.monotonic() < deadline:
                try:
                    c = rc.connected(srv.port)
                    ok = c
                except (rc.RTMPError, OSError):
                    time.sleep(0.1)
            check(ok is not None, "after one client left, a new one connects")
            clients.append(ok)
            player.close()
        finally:
            for c in clients:
                c.close()
            stop_proc(pub)


def handshake_timeout():
    ms = 500
    with Server(settings={"limits": {"handshake_timeout_ms": ms}}) as srv:
        cases = []
        # Nothing at all.
        s = socket.create_connection(("127.0.0.1", srv.port), 5)
        cases.append(("sends nothing", s, eof_after(s, 5)))
        # C0 and half of C1.
        s = socket.create_connection(("127.0.0.1", srv.port), 5)
        t0 = time.monotonic()
        s.sendall(b"\x03" + os.urandom(768))
        t = eof_after(s, 5)
        cases.append(("sends C0 and half a C1", s, None if t is None else time.monotonic() - t0))
        # C0+C1, reads S0+S1+S2, never sends C2.
        s = socket.create_connection(("127.0.0.1", srv.port), 5)
        t0 = time.monotonic()
        s.sendall(b"\x03" + struct.pack(">II", 0, 0) + os.urandom(1528))
        got = b""
        while len(got) < 3073:
            d = s.recv(4096)
            if not d:
                break
            got += d
        check(len(got) == 3073, "the server answers C0+C1 with S0+S1+S2 (%d bytes)" % len(got))
        t = eof_after(s, 5)
        cases.append(("sends no C2", s, None if t is None else time.monotonic() - t0))
        for what, s, t in cases:
            s.close()
            log("client that %s: closed after %s s" % (what, t))
            check(t is not None and 0.3 <= t <= 1.5, "a client that %s is closed after ~%d ms "
                  "(%s s)" % (what, ms, None if t is None else round(t, 2)))
        # A client that completes the handshake in time is not cut.
        c = rc.connected(srv.port)
        check(c.pump(1.5), "a client that completed the handshake is still connected after 1.5 s")
        check(c.create_stream() >= 1, "and it works")
        c.close()
        check(srv.log_count(r"handshake timeout") >= 3, "the log says 'handshake timeout'")


def idle_timeout(src):
    ms = 1000
    run_s = 7.0
    with Server(settings={"limits": {"idle_timeout_ms": ms}}) as srv:
        # Clients that answer every ping and send nothing else (as a player
        # waiting for a publisher does). Several, each read by its own
        # thread: each ping they get is answered within a millisecond.
        good = [rc.connected(srv.port) for _ in range(5)]
        closed_at = [None] * len(good)
        stop = threading.Event()

        def answer_pings(i):
            while not stop.is_set():
                if not good[i].poll(0.1):
                    closed_at[i] = time.monotonic()
                    return

        readers = [threading.Thread(target=answer_pings, args=(i,), daemon=True)
                   for i in range(len(good))]
        # A publisher that sends media and never reads is not idle.
        pub, pmsid, code = rc.publishing(srv.port, "busy")
        check(code == "NetStream.Publish.Start", "a raw publisher publishes")
        pub.set_chunk_size(4096)
        sender = threading.Thread(target=pub.send_tags, daemon=True,
                                  args=(pmsid, rc.flv_tags(src), True, stop))
        mute = rc.connected(srv.port)
        t0 = time.monotonic()  # the mute client's last bytes were its connect
        sender.start()
        for r in readers:
            r.start()
        # ffmpeg players of that stream: at 600 kbit/s they send nothing but
        # pongs for longer than the timeout (their acknowledgements are
        # megabytes apart), and must not be cut either.
        d = tempfile.mkdtemp(prefix="rtmpd-idle-")
        outs = [os.path.join(d, "p%d.framemd5" % i) for i in range(2)]
        players = [ffmpeg_play(srv.url("busy"), 5, o) for o in outs]
        # Read the mute client raw: nothing is answered.
        data = bytearray()
        mute.sock.settimeout(0.2)
        closed_after = None
        while time.monotonic() - t0 < run_s:
            try:
                d = mute.sock.recv(65536)
            except socket.timeout:
                continue
            except ConnectionResetError:
                d = b""
            if not d:
                closed_after = time.monotonic() - t0
                break
            data += d
        left = run_s - (time.monotonic() - t0)
        if left > 0:
            time.sleep(left)
        stop.set()
        sender.join(5)
        for r in readers:
            r.join(5)
        t_end = time.monotonic() - t0
        nframes = []
        for p, o in zip(players, outs):
            try:
                p.wait(10)
            except Exception:
                stop_proc(p)
            with open(o) as f:
                nframes.append(sum(1 for st, t, m in parse_framemd5(f.read()) if st == 0))
        shutil.rmtree(d, ignore_errors=True)

        check(closed_after is not None and
              ms / 1000.0 - 0.1 <= closed_after <= ms / 1000.0 * 1.5 + 0.5,
              "a client that never answers is closed after %s s (idle_timeout_ms = %d)" %
              (None if closed_after is None else round(closed_after, 2), ms))

        check(pub.pump(0.2), "a publisher that sends media but never reads is still connected "
              "after %.1f s" % t_end)
        check(srv.log_count(r"live/busy: unpublished") == 0, "and still publishing")
        pub.close()

        npings = [sum(1 for m in c.pending
                      if rc.user_control(m) and rc.user_control(m)[0] == rc.UC_PING_REQUEST)
                  for c in good]
        cut = ["client %d after %.2f s (%d pings answered)" % (i, closed_at[i] - t0, npings[i])
               for i in range(len(good)) if closed_at[i] is not None]
        log("clients that answer pings: %s pings each; closed: %s" % (npings, cut or "none"))
        if cut or min(nframes) < 145:
            log("server says: %s" % [l for l in srv.log_text().splitlines()
                                     if "idle timeout" in l])
        log("ffmpeg players of a 600 kbit/s stream decoded %s video frames of 5 s" % nframes)
        check(min(nframes) >= 145, "ffmpeg players are not cut as idle: each decoded its 5 s "
              "(%s video frames)" % nframes)
        check(not cut, "%d clients that answer every ping are all still connected after %.1f s "
              "(closed: %s)" % (len(good), t_end, "; ".join(cut)))
        check(min(npings) >= 3, "they got and answered pings (%s)" % npings)
        check(all(c.create_stream() >= 1 for c in good), "and they still work")
        msgs = mute.reader.feed(bytes(data))
        pings = [rc.user_control(m) for m in msgs
                 if rc.user_control(m) and rc.user_control(m)[0] == rc.UC_PING_REQUEST]
        log("mute client: closed after %s s, %d pings received" % (closed_after, len(pings)))
        check(pings, "the server pinged the mute client before closing it (a client gets a "
              "ping to answer before it is cut as idle)")

        for c in good:
            c.close()
        mute.close()
        check(srv.log_count(r"idle timeout") >= 1, "the log says 'idle timeout'")


def unknown_app():
    with Server() as srv:
        c = rc.Client("127.0.0.1", srv.port)
        c.handshake()
        txn = c.command("connect", {"app": "nosuchapp", "type": "nonprivate",
                                    "flashVer": "FMLE/3.0", "tcUrl": "rtmp://127.0.0.1/nosuchapp"})
        r = c.wait_result(txn)
        log("connect to an unknown app: %r" % (r,))
        check(r[0] == "_error", "connect to an unknown app gets _error (%s)" % r[0])
        info = r[3] if len(r) > 3 and isinstance(r[3], dict) else {}
        check(info.get("code") == "NetConnection.Connect.Rejected",
              "with code NetConnection.Connect.Rejected (%s)" % info.get("code"))
        t = c.wait_closed(3)
        check(t is not None, "then the server closes the connection (after %s s)" %
              (None if t is None else round(t, 2)))
        r = run(["ffprobe", "-v", "error", "rtmp://127.0.0.1:%d/nosuchapp/x" % srv.port],
                timeout=30, check_rc=False)
        check(r.returncode != 0, "ffprobe of an unknown app fails (exit %d)" % r.returncode)


def test():
    src = media("h264_360p_gop1.flv")
    for part in (ipv6, sigterm, sigint, max_connections, handshake_timeout, unknown_app,
                 idle_timeout):
        t0 = time.monotonic()
        if part is sigterm:
            part(media("h264_720p_gop2.flv"))  # enough bytes to fill a stuck player's buffers
        elif part in (ipv6, max_connections, idle_timeout):
            part(src)
        else:
            part()
        log("%s took %.1f s" % (part.__name__, time.monotonic() - t0))


main(test)
