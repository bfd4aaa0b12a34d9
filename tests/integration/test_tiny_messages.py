#!/usr/bin/env python3
"""A flood of tiny messages cannot make players' queues outgrow their limit.

queue.max_bytes bounds what a player that does not read may hold. An empty
audio message (forwarded: E-RTMP silence) is 12 bytes on the wire to a
player but a queue entry in memory; a publisher can send one per byte (a
one-byte fmt 3 chunk header starts a new zero-length message). With
queue.max_bytes = 1M, a publisher sends 600,000 of them while 10 players
sit with tiny receive buffers and do not read:

- every stalled player is cut ("player too slow") and rtmpd's peak RSS
  (VmHWM) is at most 24 MiB above its RSS before the flood (10 players x
  1 MiB plus slack; 65 MiB above when entries were not counted);
- the publisher is still connected, and a new player then gets its
  next messages.
"""

import struct
import time

import rtmp_client as rc
from harness import Server, check, log, main

PLAYERS = 10
FLOOD = 600000


def test():
    apps = [{"name": "live", "queue": {"max_bytes": "1M"}}]
    with Server(apps=apps) as srv:
        pub, msid, code = rc.publishing(srv.port, "t")
        check(code == "NetStream.Publish.Start", "publish: %s" % code)
        players = [rc.playing(srv.port, "t", rcvbuf=4096)[0] for _ in range(PLAYERS)]
        for p in players:
            p.pump(0.05)
        time.sleep(0.3)
        rss0 = srv.rss_kib()
        hwm0 = srv.proc_status("VmHWM")
        # A zero-length audio message (fmt 0), then fmt 2 (delta 0) so each
        # fmt 3 header byte that follows is one more zero-length message.
        first = (rc.basic_header(0, 4) + b"\x00\x00\x00" + b"\x00\x00\x00" + b"\x08" +
                 struct.pack("<I", msid))
        pub.send_raw(first + rc.basic_header(2, 4) + b"\x00\x00\x00")
        pub.send_raw(rc.basic_header(3, 4) * FLOOD)
        pub.pump(2.0)
        peak = srv.proc_status("VmHWM")
        cut = srv.log_count(r"live/t: player too slow")
        log("%d empty messages: RSS %d KiB, peak %d KiB (+%d over the peak before), %d players cut"
            % (FLOOD, rss0, peak, peak - hwm0, cut))
        check(cut == PLAYERS, "all %d stalled players were cut as too slow (%d)" % (PLAYERS, cut))
        check(peak - rss0 <= 24 * 1024, "rtmpd's RSS peaked %d KiB above where it was (<= 24 MiB)"
              % (peak - rss0))
        check(not pub.closed, "the publisher is still connected")

        fresh, _ = rc.playing(srv.port, "t")
        fresh.pump(0.3)
        pub.send_media(msid, 8, 5000, b"\xaf\x01" + b"\x11" * 50)
        m = fresh.find(lambda m: m.type == 8 and m.payload.endswith(b"\x11" * 50), timeout=5)
        check(m is not None, "a new player gets the publisher's next message")
        for c in players + [fresh, pub]:
            c.close()


if __name__ == "__main__":
    main(test)
