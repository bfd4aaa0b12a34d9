#!/usr/bin/env python3
"""Generates the seed corpora of the fuzz harnesses (tests/fuzz/corpus/).

Seeds come from real traffic: rtmpd (from the build tree) is started on a
free loopback port behind a small TCP proxy that records both directions of
every connection, then ffmpeg publishes a few seconds of an FLV (stream
copy) while ffmpeg and rtmpdump play it. The recordings are cut into:

  handshake/  C0C1+C2 of each client (server side), S0S1S2 (client side),
              loopback headers (our own client against our own server)
  chunk/      chunk streams after the handshake, both directions, cut to a
              few KB, with default, injecting and tight-limit headers
  amf/        payloads of the AMF command and data messages seen (a tiny
              chunk decoder below), plus AMF0/AMF3 vectors written by hand
  flv/        a small FLV cut from the test media (header, script tag,
              sequence headers, a few frames with bodies trimmed), single
              tag bodies, and hand-made Enhanced RTMP tags (hvc1 from the
              HEVC test media, av01, Opus, Multitrack, ModEx, commands)

Each seed is prefixed with the header its harness expects (see the comment
at the top of tests/fuzz/fuzz_*.c). Files are named seed_*; earlier seed_*
files are replaced, anything else in the directories is left alone. The
whole corpus stays small (about 100 KB).

Usage: tests/fuzz/make_corpus.py [--build DIR] [--out DIR]
"""

import argparse
import os
import re
import select
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time

SOURCE_DIR = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
HS_LEN = 1 + 2 * 1536


def log(msg):
    print("make_corpus: " + msg, flush=True)


# ---------------------------------------------------------------------------
# Capture: rtmpd behind a recording proxy

class Proxy:
    """Accepts on a free loopback port, forwards to `port`, records bytes."""

    def __init__(self, port, cap=1 << 20):
        self.target = port
        self.cap = cap
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.conns = []          # [client->server bytearray, server->client bytearray]
        self.lock = threading.Lock()
        self.stopping = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while not self.stopping:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            s = socket.create_connection(("127.0.0.1", self.target))
            rec = [bytearray(), bytearray()]
            with self.lock:
                self.conns.append(rec)
            threading.Thread(target=self._pump, args=(c, s, rec), daemon=True).start()

    def _pump(self, c, s, rec):
        socks = {c: (s, rec[0]), s: (c, rec[1])}
        try:
            while socks:
                r, _, _ = select.select(list(socks), [], [], 0.5)
                for x in r:
                    data = x.recv(65536)
                    dst, buf = socks[x]
                    if not data:
                        try:
                            dst.shutdown(socket.SHUT_WR)
                        except OSError:
                            pass
                        del socks[x]
                        continue
                    with self.lock:
                        if len(buf) < self.cap:
                            buf.extend(data[: self.cap - len(buf)])
                    dst.sendall(data)
        except OSError:
            pass
        finally:
            c.close()
            s.close()

    def close(self):
        self.stopping = True
        self.sock.close()


def start_rtmpd(build):
    rtmpd = os.path.join(build, "rtmpd")
    if not os.access(rtmpd, os.X_OK):
        sys.exit("make_corpus: %s not found; build first (scripts/bootstrap.sh)" % rtmpd)
    proc = subprocess.Popen([rtmpd, "-c", os.path.join(SOURCE_DIR, "conf/rtmpd.conf"),
                             "-l", "127.0.0.1:0"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 10
    while time.time() < deadline:
        line = proc.stderr.readline()
        if not line:
            break
        m = re.search(r"listening on \S+ \(port (\d+)\)", line)
        if m:
            # keep draining the log so that rtmpd never blocks on it
            threading.Thread(target=lambda: [None for _ in proc.stderr], daemon=True).start()
            return proc, int(m.group(1))
    proc.kill()
    proc.wait()
    sys.exit("make_corpus: rtmpd did not start listening")


def stop(p, sig=signal.SIGINT, timeout=10):
    if p.poll() is None:
        p.send_signal(sig)
        try:
            p.wait(timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def media_file(build, tmp):
    path = os.path.join(build, "media", "h264_360p_gop1.flv")
    if os.path.exists(path):
        return path
    path = os.path.join(tmp, "seed.flv")
    log("encoding a short test FLV")
    subprocess.run(["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-y",
                    "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=30",
                    "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100",
                    "-t", "4", "-c:v", "libx264", "-preset", "veryfast", "-g", "30",
                    "-bf", "0", "-c:a", "aac", "-b:a", "64k", "-f", "flv", path], check=True)
    return path


def capture(build, flv):
    """Returns [(name, client->server bytes, server->client bytes)]."""
    rtmpd, port = start_rtmpd(build)
    proxy = Proxy(port)
    url = "rtmp://127.0.0.1:%d/live/seed" % proxy.port
    procs = []
    try:
        pub = subprocess.Popen(["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error",
                                "-re", "-t", "4", "-i", flv, "-c", "copy", "-f", "flv", url],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        procs.append(pub)
        time.sleep(1.5)
        players = [
            ["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-i", url,
             "-t", "1", "-f", "null", "-"],
            ["rtmpdump", "-q", "--live", "-r", url, "-o", os.devnull, "--stop", "1"],
        ]
        for cmd in players:
            procs.append(subprocess.Popen(cmd, stdout=subprocess.DEVNULL,
                                          stderr=subprocess.DEVNULL))
            time.sleep(0.3)
        deadline = time.time() + 20
        for p in procs:
            try:
                p.wait(max(0.1, deadline - time.time()))
            except subprocess.TimeoutExpired:
                stop(p)
        time.sleep(0.5)
    finally:
        for p in procs:
            stop(p)
        proxy.close()
        stop(rtmpd, signal.SIGTERM)
    out = []
    with proxy.lock:
        for c2s, s2c in proxy.conns:
            c2s, s2c = bytes(c2s), bytes(s2c)
            if b"publish" in c2s:
                name = "ffmpeg_publish"
            elif b"LNX 9,0,124,2" in c2s:
                name = "ffmpeg_play"
            else:
                name = "rtmpdump_play"
            out.append((name, c2s, s2c))
    return out


# ---------------------------------------------------------------------------
# A tiny chunk stream decoder, to find the AMF payloads in a capture

def chunk_messages(data):
    """Yields (type, payload) of the whole messages in a chunk stream."""
    streams = {}
    chunk_size = 128
    p = 0
    n = len(data)
    while p < n:
        b = data[p]
        fmt, csid = b >> 6, b & 0x3F
        p += 1
        if csid == 0:
            if p + 1 > n:
                return
            csid = 64 + data[p]
            p += 1
        elif csid == 1:
            if p + 2 > n:
                return
            csid = 64 + data[p] + 256 * data[p + 1]
            p += 2
        st = streams.setdefault(csid, {"ts": 0, "len": 0, "type": 0, "buf": b"", "ext": False})
        hl = (11, 7, 3, 0)[fmt]
        if p + hl > n:
            return
        h = data[p:p + hl]
        p += hl
        if fmt < 3:
            ts = int.from_bytes(h[0:3], "big")
            st["ext"] = ts == 0xFFFFFF
            if fmt < 2:
                st["len"] = int.from_bytes(h[3:6], "big")
                st["type"] = h[6]
            st["buf"] = b""
        if st["ext"]:
            p += 4
        take = min(chunk_size, st["len"] - len(st["buf"]))
        if p + take > n:
            return
        st["buf"] += data[p:p + take]
        p += take
        if len(st["buf"]) == st["len"]:
            if st["type"] == 1 and st["len"] >= 4:
                chunk_size = int.from_bytes(st["buf"][:4], "big") & 0x7FFFFFFF
            yield st["type"], st["buf"]
            st["buf"] = b""


# ---------------------------------------------------------------------------
# Hand-written vectors

def amf0_str(s):
    s = s.encode()
    return b"\x02" + struct.pack(">H", len(s)) + s


def amf0_key(s):
    s = s.encode()
    return struct.pack(">H", len(s)) + s


def amf0_num(v):
    return b"\x00" + struct.pack(">d", v)


OBJ_END = b"\x00\x00\x09"

AMF0_VECTORS = {
    "ecma": b"\x08\x00\x00\x00\x02" + amf0_key("duration") + amf0_num(4.0)
            + amf0_key("encoder") + amf0_str("Lavf59") + OBJ_END,
    "strict_date_xml": b"\x0a\x00\x00\x00\x03" + amf0_num(1.5) + b"\x01\x01"
                       + b"\x0b" + struct.pack(">d", 1.7e12) + b"\x00\x00"
                       + b"\x0f\x00\x00\x00\x05<a/>x",
    "typed_ref_long": b"\x10" + amf0_key("flash.Point") + amf0_key("x") + amf0_num(1)
                      + amf0_key("self") + b"\x07\x00\x00" + amf0_key("") + b"\x06"
                      + OBJ_END + b"\x0c\x00\x00\x00\x03abc" + b"\x05" + b"\x06",
    "nested": b"\x03" + amf0_key("a") + b"\x03" + amf0_key("b") + b"\x0a\x00\x00\x00\x01"
              + b"\x03" + OBJ_END + OBJ_END + OBJ_END,
    # An AMF0 command body whose object switches to AMF3 (avmplus).
    "avmplus": amf0_str("connect") + amf0_num(1) + b"\x11\x0a\x0b\x01"
               + b"\x07app\x06\x09live" + b"\x0btcUrl\x06\x2brtmp://127.0.0.1/live"
               + b"\x1dobjectEncoding\x04\x03" + b"\x09fpad\x02" + b"\x01",
}

AMF3_VECTORS = {
    # array of 6: string, string ref, Pt{x:1} (traits 0), traits ref, object refs
    "refs": b"\x09\x0d\x01" b"\x06\x07abc" b"\x06\x00" b"\x0a\x13\x05Pt\x03x\x04\x01"
            b"\x0a\x01\x04\x02" b"\x0a\x02" b"\x0a\x00",
    # sealed + dynamic typed object, every scalar type
    "typed_dynamic": b"\x0a\x2b\x07Foo\x03a\x03b" b"\x04\xff\xff\xff\xff" b"\x05"
                     + struct.pack(">d", -0.5) + b"\x03c\x03" b"\x03d\x00" b"\x01",
    # array with an associative part and dense items; date, xml, byte array
    "assoc": b"\x09\x05\x03k\x06\x03v\x01" b"\x08\x01" + struct.pack(">d", 1e12)
             + b"\x0b\x09<x/>" b"\x0c\x07\x00\x01\x02" b"\x07\x03y",
    "ints": b"\x04\x00" b"\x04\x7f" b"\x04\x81\x00" b"\x04\xff\x7f" b"\x04\x80\x80\x80\x00"
            b"\x04\xc0\x80\x80\x00" b"\x02\x03\x00\x01",
}


# ---------------------------------------------------------------------------
# FLV

def flv_tags(data):
    """Yields (type, timestamp, body) of the tags of an FLV file."""
    off = struct.unpack(">I", data[5:9])[0] + 4
    while off + 11 <= len(data):
        t = data[off] & 0x1F
        size = int.from_bytes(data[off + 1:off + 4], "big")
        ts = int.from_bytes(data[off + 4:off + 7], "big") | data[off + 7] << 24
        if off + 11 + size + 4 > len(data):
            return
        yield t, ts, data[off + 11:off + 11 + size]
        off += 11 + size + 4


def flv_file(tags):
    out = bytearray(b"FLV\x01\x05\x00\x00\x00\x09\x00\x00\x00\x00")
    for t, ts, body in tags:
        out += bytes([t]) + len(body).to_bytes(3, "big") + (ts & 0xFFFFFF).to_bytes(3, "big")
        out += bytes([ts >> 24 & 0xFF]) + b"\x00\x00\x00" + body
        out += struct.pack(">I", 11 + len(body))
    return bytes(out)


def hevc_nals(data):
    """NAL units of an Annex B stream."""
    starts = [m.end() for m in re.finditer(b"\x00\x00\x01", data)]
    for i, s in enumerate(starts):
        e = starts[i + 1] - 3 if i + 1 < len(starts) else len(data)
        yield data[s:e].rstrip(b"\x00")


def hvcc(path):
    """A minimal HEVCDecoderConfigurationRecord with the first VPS/SPS/PPS."""
    with open(path, "rb") as f:
        data = f.read(65536)
    first = {}
    for nal in hevc_nals(data):
        t = nal[0] >> 1 & 0x3F
        if t in (32, 33, 34) and t not in first:
            first[t] = nal
        if len(first) == 3:
            break
    rec = bytearray([1]) + b"\x01\x60\x00\x00\x00\x90\x00\x00\x00\x00\x00\x5d"
    rec += b"\xf0\x00\xfc\xfd\xf8\xf8\x00\x00\x0f" + bytes([len(first)])
    for t in sorted(first):
        rec += bytes([0x80 | t]) + b"\x00\x01" + struct.pack(">H", len(first[t])) + first[t]
    return bytes(rec)


def enhanced_tags(build):
    """Hand-made Enhanced RTMP audio/video tag bodies: {name: (type, body)}."""
    hevc = os.path.join(build, "media", "hevc_360p.hevc")
    rec = hvcc(hevc) if os.path.exists(hevc) else b"\x01" + b"\x00" * 22
    frame = b"\x00\x00\x00\x10\x26\x01\xaf\x08\x42\x23\x10\x5b\xb3\x98\x84\x4e\x7e\x3c"
    opus = b"OpusHead\x01\x02\x38\x01\x80\xbb\x00\x00\x00\x00\x00"
    return {
        "hvc1_seq": (9, b"\x90hvc1" + rec),
        "hvc1_coded": (9, b"\x91hvc1\x00\x00\x21" + frame),
        "hvc1_codedx": (9, b"\xa3hvc1" + frame),
        "hvc1_end": (9, b"\x92hvc1"),
        "legacy_hevc_seq": (9, b"\x1c\x00\x00\x00\x00" + rec),
        "av01_seq": (9, b"\x90av01\x81\x08\x0c\x00\x0a\x0b\x00\x00\x00\x42\xab\xbf\xc3\x70"),
        "vp09_mpeg2ts": (9, b"\x95vp09\x01\x02"),
        "metadata": (9, b"\x84hvc1\x02\x00\x0acolorInfo\x03" + OBJ_END),
        "command_ex": (9, b"\xd1\x00"),
        "command_legacy": (9, b"\x57\x01"),
        "multitrack_one": (9, b"\x96\x01hvc1\x00" + frame),
        "multitrack_many": (9, b"\x96\x11hvc1\x00\x00\x00\x04abcd\x01\x00\x00\x02xy"),
        "multitrack_codecs": (9, b"\x96\x20hvc1\x00\x00\x00\x02ab" b"av01\x01\x00\x00\x01c"),
        "modex": (9, b"\x97\x03\x00\x00\x00\x64\x11hvc1\x00\x00\x00" + frame),
        "modex_long": (9, b"\x97\xff\x01\x00" + b"\x00" * 257 + b"\x13hvc1" + frame),
        "opus_seq": (8, b"\x90Opus" + opus),
        "opus_coded": (8, b"\x91Opus\xfc\xff\xfe"),
        "audio_multichannel": (8, b"\x94Opus\x01\x02\x00\x00\x00\x03"),
        "audio_multitrack": (8, b"\x95\x11Opus\x00\x00\x00\x02\xfc\xff\x01\x00\x00\x01\xfc"),
        "audio_modex": (8, b"\x97\x00\x00\x01mp4a\x12\x10"),
        "aac_seq": (8, b"\xaf\x00\x12\x10"),
        "mp3": (8, b"\x2f\xff\xfb\x90\x00"),
    }


# ---------------------------------------------------------------------------

def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default=os.environ.get("RTMPD_BUILD_DIR",
                                                      os.path.join(SOURCE_DIR, "build")))
    ap.add_argument("--out", default=os.path.join(SOURCE_DIR, "tests", "fuzz", "corpus"))
    args = ap.parse_args()

    seeds = {"handshake": {}, "chunk": {}, "amf": {}, "flv": {}}
    tmp = tempfile.mkdtemp(prefix="rtmpd-corpus-")
    try:
        flv = media_file(args.build, tmp)
        conns = capture(args.build, flv)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    names = sorted(set(n for n, _, _ in conns))
    log("captured %d connections: %s" % (len(conns), ", ".join(names)))
    if "ffmpeg_publish" not in names or len(conns) < 2:
        sys.exit("make_corpus: capture incomplete (need the publisher and a player)")

    seen = set()
    amf_payloads = []
    for name, c2s, s2c in conns:
        if name in seen or len(c2s) < HS_LEN or len(s2c) < HS_LEN:
            continue
        seen.add(name)
        hs = seeds["handshake"]
        epoch = b"\x00\x00\x04\xd2"
        # server side: C0C1+C2 and the first chunk bytes after it
        hs["server_" + name] = b"\x00" + epoch + b"\x12\x34" + c2s[:HS_LEN + 64]
        hs["server_rnd_" + name] = b"\x30" + epoch + b"\x00\x01" + c2s[:HS_LEN]
        # client side: rtmpd's S0S1S2 answered to this client
        hs["client_simple_" + name] = b"\x01" + epoch + b"\x00\x07" + s2c[:HS_LEN]
        hs["client_digest_" + name] = b"\x03" + epoch + b"\x00\x02" + s2c[:HS_LEN + 16]

        ch = seeds["chunk"]
        post_c2s, post_s2c = c2s[HS_LEN:], s2c[HS_LEN:]
        cut = 4096 if name == "ffmpeg_publish" else 2048
        ch[name + "_c2s"] = bytes(8) + post_c2s[:cut]
        ch[name + "_s2c"] = b"\x00\x00\x00\x00\x00\x00\x00\x05" + post_s2c[:cut]
        ch[name + "_c2s_inject"] = b"\x00\x00\x00\x02\x01\x02\x03\x04" + post_c2s[:1024]
        ch[name + "_c2s_tight"] = b"\x50\x04\x50\x07\x00\x00\x00\x09" + post_c2s[:1024]
        for data in (post_c2s, post_s2c):
            for t, payload in chunk_messages(data[:65536]):
                if t in (17, 15) and payload[:1] == b"\x00":
                    payload = payload[1:]
                if t in (15, 17, 18, 20) and payload not in amf_payloads:
                    amf_payloads.append(payload)
    seeds["handshake"]["loopback_simple"] = b"\x09\x00\x00\x00\x01\x00\x00"
    seeds["handshake"]["loopback_digest0"] = b"\x0f\x00\x00\x00\x01\x00\x00"
    seeds["handshake"]["loopback_digest1"] = b"\x0b\x00\x00\x00\x01\x00\x00"
    seeds["handshake"]["loopback_corrupt"] = b"\x0b\x00\x00\x00\x01\x00\x00\x06\x10\x01"

    for i, p in enumerate(amf_payloads[:24]):
        seeds["amf"]["captured_%02d" % i] = b"\x00\x00" + p
    for k, v in AMF0_VECTORS.items():
        seeds["amf"]["amf0_" + k] = b"\x00\x00" + v
    for k, v in AMF3_VECTORS.items():
        seeds["amf"]["amf3_" + k] = b"\x01\x00" + v
    seeds["amf"]["amf0_depth"] = b"\x02\x03" + b"\x03\x00\x01a" * 8 + OBJ_END * 8

    # FLV: the first tags of the test media, big bodies trimmed.
    with open(flv, "rb") as f:
        media = f.read(1 << 20)
    tags, kinds = [], {}
    for t, ts, body in flv_tags(media):
        if len(tags) >= 14:
            break
        if t == 9:
            kind = "video_seq" if body[:2] == b"\x17\x00" else \
                   "video_key" if body[0] >> 4 == 1 else "video_inter"
        elif t == 8:
            kind = "audio_seq" if body[:2] == b"\xaf\x00" else "audio_raw"
        else:
            kind = "script"
        keep = body if kind in ("video_seq", "audio_seq", "script") else body[:96]
        tags.append((t, ts, keep))
        kinds.setdefault(kind, (t, keep[:96] if kind != "video_seq" else keep))
    seeds["flv"]["file_h264"] = flv_file(tags)
    for kind, (t, body) in kinds.items():
        if t in (8, 9):
            seeds["flv"]["tag_" + kind] = bytes([t]) + body
    ex = enhanced_tags(args.build)
    for k, (t, body) in ex.items():
        seeds["flv"]["tag_" + k] = bytes([t]) + body
    seeds["flv"]["file_enhanced"] = flv_file(
        [(9, 0, ex["hvc1_seq"][1]), (8, 0, ex["opus_seq"][1]), (9, 0, ex["hvc1_coded"][1]),
         (8, 20, ex["opus_coded"][1]), (9, 33, ex["multitrack_many"][1])])

    total = 0
    for harness, files in seeds.items():
        d = os.path.join(args.out, harness)
        os.makedirs(d, exist_ok=True)
        for f in os.listdir(d):
            if f.startswith("seed_"):
                os.unlink(os.path.join(d, f))
        for k, v in files.items():
            with open(os.path.join(d, "seed_" + k), "wb") as f:
                f.write(v)
            total += len(v)
        log("%-9s %3d seeds, %6d bytes" % (harness, len(files), sum(map(len, files.values()))))
    log("total %d bytes in %s" % (total, args.out))


if __name__ == "__main__":
    main()
