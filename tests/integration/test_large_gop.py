#!/usr/bin/env python3
"""A cached GOP larger than a player's queue does not cut the player.

A high-bit-rate stream with long keyframe intervals (20 Mb/s with 4 s
GOPs is 10 MB) can cache more than a player's queue may hold
(queue.max_bytes, 8M by default; gop_cache.max_bytes is 32M). A raw
publisher sends a GOP of ten 1 MB frames to two apps:

- app `live` (default queue.max_bytes = 8M): a player that joins is not
  disconnected as a slow consumer; rtmpd logs that the cached GOP does not
  fit and the player starts at the next keyframe: it gets Play.Start, the
  sequence header, then the publisher's next keyframe and what follows;
- app `roomy` (queue.max_bytes = 16M): a player that joins gets the whole
  cached GOP at once, from its keyframe.
"""

import rtmp_client as rc
from harness import Server, check, log, main

AVC_SEQ = (b"\x17\x00\x00\x00\x00\x01\x64\x00\x1f\xff\xe1\x00\x04\x67\x64\x00\x1f"
           b"\x01\x00\x04\x68\xee\x3c\x80")
MB = 1 << 20


def frame(key, i, size):
    return (b"\x17" if key else b"\x27") + b"\x01\x00\x00\x00" + bytes([i]) * size


def publish(srv, app):
    p, msid, code = rc.publishing(srv.port, "big", app)
    check(code == "NetStream.Publish.Start", "%s: publish: %s" % (app, code))
    p.set_chunk_size(65536)
    p.send_media(msid, 9, 0, AVC_SEQ)
    for i in range(10):
        p.send_media(msid, 9, 33 * i, frame(i == 0, i, MB))
    return p, msid


def video(c):
    return [m for m in c.pending if m.type == 9]


def test():
    apps = [{"name": "live"}, {"name": "roomy", "queue": {"max_bytes": "16M"}}]
    with Server(apps=apps) as srv:
        pub, msid = publish(srv, "live")
        pub.pump(0.5)
        p, _ = rc.playing(srv.port, "big", "live")
        p.pump(1.0)
        check(not p.closed, "live: the player joining a 10 MB GOP is still connected")
        check(any(m.type == 20 and (rc.status_info(m) or {}).get("code") == "NetStream.Play.Start"
                  for m in p.pending), "live: the player got NetStream.Play.Start")
        srv.wait_log(r"live/big: cached GOP \(\d+ bytes\) does not fit queue.max_bytes "
                     r"\(8388608\): the player starts at the next keyframe")
        check(not srv.log_matches(r"player too slow"), "live: nobody was cut as a slow consumer")
        for i in range(3):
            pub.send_media(msid, 9, 330 + 33 * i, frame(i == 0, 100 + i, 1000))
        p.pump(1.0)
        v = video(p)
        log("live: the player got %d video messages: %s" % (len(v), [len(m.payload) for m in v]))
        check(len(v) == 4 and v[0].payload == AVC_SEQ, "live: sequence header, then 3 frames")
        check([m.payload[5] for m in v[1:]] == [100, 101, 102] and v[1].payload[0] == 0x17,
              "live: the player's video starts at the publisher's next keyframe")

        rpub, rmsid = publish(srv, "roomy")
        rpub.pump(0.5)
        r, _ = rc.playing(srv.port, "big", "roomy")
        r.pump(2.0)
        check(not r.closed, "roomy: the player is still connected")
        v = video(r)
        check(len(v) == 11 and v[0].payload == AVC_SEQ, "roomy: sequence header and the 10 cached "
              "frames (%d video messages)" % len(v))
        check([m.payload[5] for m in v[1:]] == list(range(10)) and v[1].payload[0] == 0x17,
              "roomy: the whole cached GOP, from its keyframe, in order")
        for c in (p, r, pub, rpub):
            c.close()


if __name__ == "__main__":
    main(test)
