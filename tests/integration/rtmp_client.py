"""A small, strict RTMP client for rtmpd's tests.

It speaks exactly what a test tells it to: simple handshake, chunk stream
(fmt 0 for everything it sends), AMF0 commands, media messages. Tests use it
where they need control that ffmpeg does not give (a plain publish without
FCPublish, republishing on the same connection, Enhanced RTMP payloads,
byte-exact comparisons, hostile input).
"""

import os
import socket
import struct
import threading
import time


# ---------------------------------------------------------------------------
# AMF0

class Undefined:
    pass


UNDEFINED = Undefined()


class ECMAArray(dict):
    pass


def amf0_encode(v):
    if v is None:
        return b"\x05"
    if v is UNDEFINED:
        return b"\x06"
    if isinstance(v, bool):
        return b"\x01" + (b"\x01" if v else b"\x00")
    if isinstance(v, (int, float)):
        return b"\x00" + struct.pack(">d", float(v))
    if isinstance(v, (str, bytes)):
        b = v.encode() if isinstance(v, str) else v
        if len(b) > 0xFFFF:
            return b"\x0c" + struct.pack(">I", len(b)) + b
        return b"\x02" + struct.pack(">H", len(b)) + b
    if isinstance(v, ECMAArray):
        out = b"\x08" + struct.pack(">I", len(v))
        for k, x in v.items():
            kb = k.encode()
            out += struct.pack(">H", len(kb)) + kb + amf0_encode(x)
        return out + b"\x00\x00\x09"
    if isinstance(v, dict):
        out = b"\x03"
        for k, x in v.items():
            kb = k.encode()
            out += struct.pack(">H", len(kb)) + kb + amf0_encode(x)
        return out + b"\x00\x00\x09"
    if isinstance(v, (list, tuple)):
        return b"\x0a" + struct.pack(">I", len(v)) + b"".join(amf0_encode(x) for x in v)
    raise TypeError(type(v))


def amf0_decode(b, i=0):
    """Decodes one value at b[i:]; returns (value, next index)."""
    t = b[i]
    i += 1
    if t == 0x00:
        return struct.unpack(">d", b[i:i + 8])[0], i + 8
    if t == 0x01:
        return b[i] != 0, i + 1
    if t == 0x02:
        n = struct.unpack(">H", b[i:i + 2])[0]
        return b[i + 2:i + 2 + n].decode("utf-8", "replace"), i + 2 + n
    if t == 0x0C:
        n = struct.unpack(">I", b[i:i + 4])[0]
        return b[i + 4:i + 4 + n].decode("utf-8", "replace"), i + 4 + n
    if t in (0x03, 0x08):
        if t == 0x08:
            i += 4
        d = {}
        while True:
            n = struct.unpack(">H", b[i:i + 2])[0]
            i += 2
            if n == 0 and b[i] == 0x09:
                return d, i + 1
            k = b[i:i + n].decode("utf-8", "replace")
            i += n
            d[k], i = amf0_decode(b, i)
    if t == 0x05:
        return None, i
    if t == 0x06:
        return UNDEFINED, i
    if t == 0x0A:
        n = struct.unpack(">I", b[i:i + 4])[0]
        i += 4
        out = []
        for _ in range(n):
            x, i = amf0_decode(b, i)
            out.append(x)
        return out, i
    raise ValueError("AMF0 type 0x%02x not handled by the test client" % t)


def amf0_decode_all(b):
    out, i = [], 0
    while i < len(b):
        v, i = amf0_decode(b, i)
        out.append(v)
    return out


# ---------------------------------------------------------------------------
# Chunk stream

def basic_header(fmt, csid):
    if csid < 64:
        return bytes([(fmt << 6) | csid])
    if csid < 320:
        return bytes([fmt << 6, csid - 64])
    return bytes([(fmt << 6) | 1, (csid - 64) & 0xFF, (csid - 64) >> 8])


def encode_message(csid, mtype, msid, ts, payload, chunk_size):
    """fmt 0 first chunk, fmt 3 continuations, extended timestamps repeated."""
    ext = ts >= 0xFFFFFF
    hdr = basic_header(0, csid)
    hdr += struct.pack(">I", min(ts, 0xFFFFFF))[1:]
    hdr += struct.pack(">I", len(payload))[1:] + bytes([mtype]) + struct.pack("<I", msid)
    if ext:
        hdr += struct.pack(">I", ts)
    out = [hdr, payload[:chunk_size]]
    for off in range(chunk_size, len(payload), chunk_size):
        out.append(basic_header(3, csid) + (struct.pack(">I", ts) if ext else b""))
        out.append(payload[off:off + chunk_size])
    return b"".join(out)


class Message:
    __slots__ = ("csid", "type", "msid", "ts", "payload", "time")

    def __init__(self, csid, mtype, msid, ts, payload):
        self.csid, self.type, self.msid, self.ts, self.payload = csid, mtype, msid, ts, payload
        self.time = time.monotonic()

    def amf(self):
        p = self.payload
        if self.type in (15, 17) and p[:1] == b"\x00":
            p = p[1:]
        return amf0_decode_all(p)

    def __repr__(self):
        return "Message(type=%d msid=%d ts=%d len=%d)" % (self.type, self.msid, self.ts, len(self.payload))


class ChunkReader:
    """Decodes the server's chunk stream (all fmts, ext timestamps)."""

    def __init__(self):
        self.buf = bytearray()
        self.chunk_size = 128
        self.streams = {}  # csid -> dict(ts, delta, len, type, msid, data, ext)

    def feed(self, data):
        self.buf += data
        out = []
        while True:
            m = self._one()
            if m is None:
                return out
            if m is not True:
                out.append(m)

    def _one(self):
        b = self.buf
        if not b:
            return None
        fmt, csid = b[0] >> 6, b[0] & 0x3F
        i = 1
        if csid == 0:
            if len(b) < 2:
                return None
            csid, i = b[1] + 64, 2
        elif csid == 1:
            if len(b) < 3:
                return None
            csid, i = b[1] + (b[2] << 8) + 64, 3
        need = {0: 11, 1: 7, 2: 3, 3: 0}[fmt]
        if len(b) < i + need:
            return None
        st = self.streams.setdefault(csid, {"ts": 0, "delta": 0, "len": 0, "type": 0, "msid": 0,
                                            "data": None, "ext": False, "field": 0})
        h = b[i:i + need]
        i += need
        field = None
        if fmt <= 2:
            field = int.from_bytes(h[0:3], "big")
        ext = (field == 0xFFFFFF) if field is not None else st["ext"]
        if ext:
            if len(b) < i + 4:
                return None
            extv = int.from_bytes(b[i:i + 4], "big")
            i += 4
        new = st["data"] is None
        if new:
            length, mtype, msid = st["len"], st["type"], st["msid"]
            if fmt <= 1:
                length, mtype = int.from_bytes(h[3:6], "big"), h[6]
            if fmt == 0:
                msid = int.from_bytes(h[7:11], "little")
            left = length
        else:
            left = st["len"] - len(st["data"])
        take = min(left, self.chunk_size)
        if len(b) < i + take:
            return None
        # The whole chunk is here: commit.
        if new:
            if fmt == 0:
                ts = extv if ext else field
                st["delta"] = 0
                st["ts"] = ts
            elif fmt in (1, 2):
                st["delta"] = extv if ext else field
                st["ts"] = (st["ts"] + st["delta"]) & 0xFFFFFFFF
            else:
                st["ts"] = (st["ts"] + st["delta"]) & 0xFFFFFFFF
            st["len"], st["type"], st["msid"], st["ext"] = length, mtype, msid, ext
            st["data"] = bytearray()
        st["data"] += b[i:i + take]
        del b[:i + take]
        if len(st["data"]) < st["len"]:
            return True
        m = Message(csid, st["type"], st["msid"], st["ts"], bytes(st["data"]))
        st["data"] = None
        if m.type == 1:
            self.chunk_size = struct.unpack(">I", m.payload[:4])[0] & 0x7FFFFFFF
        return m


# ---------------------------------------------------------------------------
# Message helpers

# User Control event types (RTMP specification 7.1.7).
UC_STREAM_BEGIN = 0
UC_STREAM_EOF = 1
UC_STREAM_DRY = 2
UC_SET_BUFFER_LENGTH = 3
UC_PING_REQUEST = 6
UC_PING_RESPONSE = 7


def user_control(m):
    """(event, value) of a User Control message (type 4), else None."""
    if m.type != 4 or len(m.payload) < 6:
        return None
    return struct.unpack(">HI", m.payload[:6])


def status_info(m):
    """The info object of an onStatus command message, else None."""
    if m.type not in (17, 20):
        return None
    try:
        v = m.amf()
    except Exception:
        return None
    if len(v) >= 4 and v[0] == "onStatus" and isinstance(v[3], dict):
        return v[3]
    return None


def is_video_keyframe(m):
    """A video message carrying a keyframe (not a sequence header)."""
    p = m.payload
    if m.type != 9 or len(p) < 2 or is_video_seq_header(m):
        return False
    if p[0] & 0x80:  # Enhanced RTMP: frame type in bits 4-6, packet type in bits 0-3
        return (p[0] >> 4) & 7 == 1 and (p[0] & 0x0F) in (1, 3)
    return p[0] >> 4 == 1


def is_video_seq_header(m):
    """A video sequence header (AVC/HEVC decoder configuration)."""
    p = m.payload
    if m.type != 9 or len(p) < 2:
        return False
    if p[0] & 0x80:
        return p[0] & 0x0F == 0
    return p[0] & 0x0F in (7, 12) and p[1] == 0


# ---------------------------------------------------------------------------
# Client

class RTMPError(Exception):
    pass


class Client:
    def __init__(self, host, port, timeout=10, family=socket.AF_INET, rcvbuf=None):
        """Connects. `rcvbuf` sets SO_RCVBUF before connecting (the only way
        to bound the receive window; it also turns off receive autotuning),
        to model a client on a slow or small-buffered link."""
        if rcvbuf:
            self.sock = socket.socket(family, socket.SOCK_STREAM)
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
            self.sock.settimeout(timeout)
            self.sock.connect((host, port))
        else:
            self.sock = socket.create_connection((host, port), timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.timeout = timeout
        self.reader = ChunkReader()
        self.out_chunk_size = 128
        self.txn = 0
        self.pending = []      # messages received, not yet consumed
        self.received = 0
        self.window = 0
        self.acked = 0
        self.closed = False
        self.close_reason = None  # "eof" (the peer closed) or "reset", once closed

    # raw I/O ------------------------------------------------------------
    def send_raw(self, data):
        self.sock.settimeout(self.timeout)  # poll() may have left a short one
        self.sock.sendall(data)

    def handshake(self):
        c1 = struct.pack(">II", 0, 0) + os.urandom(1528)
        self.send_raw(b"\x03" + c1)
        s = self.recv_exact(1 + 1536 * 2)
        if s[0] != 3:
            raise RTMPError("S0 version %d" % s[0])
        if s[1 + 1536:] != c1:
            raise RTMPError("S2 does not echo C1")
        self.send_raw(s[1:1 + 1536])  # C2 = echo of S1

    def recv_exact(self, n):
        out = bytearray()
        while len(out) < n:
            d = self.sock.recv(n - len(out))
            if not d:
                raise RTMPError("connection closed during handshake")
            out += d
        return bytes(out)

    def send(self, csid, mtype, msid, ts, payload):
        self.send_raw(encode_message(csid, mtype, msid, ts, payload, self.out_chunk_size))

    def set_chunk_size(self, n):
        self.send(2, 1, 0, 0, struct.pack(">I", n))
        self.out_chunk_size = n

    def command(self, name, *args, msid=0, csid=3, txn=None):
        if txn is None:
            self.txn += 1
            txn = self.txn
        payload = amf0_encode(name) + amf0_encode(txn) + b"".join(amf0_encode(a) for a in args)
        self.send(csid, 20, msid, 0, payload)
        return txn

    def poll(self, timeout, max_bytes=65536):
        """Reads what arrives within `timeout` (one recv of at most
        `max_bytes`); returns False once closed."""
        if self.closed:
            return False
        self.sock.settimeout(timeout)
        try:
            d = self.sock.recv(max_bytes)
        except socket.timeout:
            return True
        except (ConnectionResetError, BrokenPipeError):
            self.closed = True
            self.close_reason = "reset"
            return False
        if not d:
            self.closed = True
            self.close_reason = "eof"
            return False
        self.received += len(d)
        for m in self.reader.feed(d):
            self._auto(m)
            self.pending.append(m)
        return True

    def _auto(self, m):
        """What any client must do: ack windows, answer pings."""
        if m.type == 5:
            self.window = struct.unpack(">I", m.payload[:4])[0]
        elif m.type == 4 and len(m.payload) >= 6 and struct.unpack(">H", m.payload[:2])[0] == 6:
            self.send(2, 4, 0, 0, b"\x00\x07" + m.payload[2:6])
        if self.window and self.received - self.acked >= self.window:
            self.acked = self.received
            self.send(2, 3, 0, 0, struct.pack(">I", self.received & 0xFFFFFFFF))

    def wait(self, pred, timeout=None):
        """Waits for a pending message matching pred; returns and removes it."""
        deadline = time.monotonic() + (timeout or self.timeout)
        while True:
            for i, m in enumerate(self.pending):
                if pred(m):
                    return self.pending.pop(i)
            left = deadline - time.monotonic()
            if left <= 0:
                raise RTMPError("timed out waiting for a message")
            if not self.poll(min(left, 0.5)) and not any(pred(m) for m in self.pending):
                raise RTMPError("connection closed")

    def find(self, pred, start=0, timeout=None):
        """Like wait(), but leaves `pending` as it is (a log of everything
        received, in order): reads until pending[i] matches pred for some
        i >= start and returns i, or None after `timeout` or once closed."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        i = start
        while True:
            while i < len(self.pending):
                if pred(self.pending[i]):
                    return i
                i += 1
            left = deadline - time.monotonic()
            if left <= 0 or self.closed:
                return None
            self.poll(min(left, 0.2))

    def wait_command(self, names, timeout=None):
        def pred(m):
            if m.type not in (17, 20):
                return False
            try:
                return m.amf()[0] in names
            except Exception:
                return False
        return self.wait(pred, timeout).amf()

    def wait_status(self, timeout=None):
        """The info object of the next onStatus."""
        return self.wait_command(("onStatus",), timeout)[3]

    def wait_result(self, txn, timeout=None):
        def pred(m):
            if m.type not in (17, 20):
                return False
            try:
                v = m.amf()
            except Exception:
                return False
            return v[0] in ("_result", "_error") and v[1] == txn
        return self.wait(pred, timeout).amf()

    # NetConnection / NetStream ---------------------------------------------
    def connect(self, app, extra=None):
        obj = {"app": app, "type": "nonprivate", "flashVer": "FMLE/3.0 (compatible; rtmpd-test)",
               "tcUrl": "rtmp://127.0.0.1/" + app}
        obj.update(extra or {})
        txn = self.command("connect", obj)
        r = self.wait_result(txn)
        if r[0] != "_result":
            raise RTMPError("connect failed: %r" % (r,))
        return r

    def create_stream(self):
        txn = self.command("createStream", None)
        r = self.wait_result(txn)
        if r[0] != "_result":
            raise RTMPError("createStream failed: %r" % (r,))
        return int(r[3])

    def publish(self, msid, name):
        self.command("publish", None, name, "live", msid=msid, csid=5, txn=0)
        return self.wait_status()

    def play(self, msid, name):
        self.command("play", None, name, -2.0, -1.0, True, msid=msid, csid=5, txn=0)

    def release_stream(self, name):
        """releaseStream(name), as FMLE/OBS/ffmpeg send before FCPublish."""
        return self.command("releaseStream", None, name)

    def fc_publish(self, name):
        return self.command("FCPublish", None, name)

    def fc_unpublish(self, name):
        return self.command("FCUnpublish", None, name)

    def delete_stream(self, msid):
        """deleteStream(msid); the server sends no reply."""
        return self.command("deleteStream", None, float(msid), txn=0)

    def send_media(self, msid, mtype, ts, payload):
        """Sends one audio (8), video (9) or data (18) message, as FLV tags go."""
        csid = {8: 4, 9: 6}.get(mtype, 5)
        self.send(csid, mtype, msid, ts & 0xFFFFFFFF, payload)

    def send_tags(self, msid, tags, realtime=False, stop=None, ts_offset=0):
        """Sends (type, ts, payload) tags (e.g. from flv_tags) as messages.

        With `realtime` it paces them by their timestamps, as ffmpeg -re
        does. Stops early when the threading.Event `stop` is set. Returns
        the number of tags sent.
        """
        t0 = time.monotonic()
        first = None
        n = 0
        for t, ts, payload in tags:
            if stop is not None and stop.is_set():
                break
            if t not in (8, 9, 18):
                continue
            if realtime:
                if first is None:
                    first = ts
                delay = t0 + (ts - first) / 1000.0 - time.monotonic()
                if delay > 0:
                    if stop is not None:
                        if stop.wait(delay):
                            break
                    else:
                        time.sleep(delay)
            self.send_media(msid, t, ts + ts_offset, payload)
            n += 1
        return n

    def wait_user_control(self, event, timeout=None):
        """Waits for a User Control event of type `event`; returns its value."""
        m = self.wait(lambda m: (user_control(m) or (None,))[0] == event, timeout)
        return user_control(m)[1]

    def pump(self, seconds):
        """Reads (answering pings) for `seconds`; returns False if closed."""
        deadline = time.monotonic() + seconds
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return not self.closed
            if not self.poll(min(left, 0.2)):
                return False

    def wait_closed(self, timeout):
        """Reads until the server closes the connection; returns the seconds
        it took, or None if it was still open after `timeout`."""
        t0 = time.monotonic()
        deadline = t0 + timeout
        while time.monotonic() < deadline:
            if not self.poll(min(0.1, max(deadline - time.monotonic(), 0.001))):
                return time.monotonic() - t0
        return None

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


class Pump(threading.Thread):
    """Keeps reading a client in the background (answering pings and window
    acknowledgements, collecting messages into client.pending) until the
    `with` block ends. While it runs only this thread may read the client;
    others may look at list(client.pending)."""

    def __init__(self, client):
        super().__init__(daemon=True)
        self.client = client
        self._stop_ev = threading.Event()

    def run(self):
        while not self._stop_ev.is_set():
            if not self.client.poll(0.1):
                return

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self._stop_ev.set()
        self.join(5)
        return False


def connected(port, app="live", host="127.0.0.1", **kw):
    """A Client (keyword arguments as Client's) that has done the handshake
    and connected to `app`."""
    c = Client(host, port, **kw)
    c.handshake()
    c.connect(app)
    return c


def playing(port, name, app="live", **kw):
    """A connected client playing `name` on a new stream: (client, msid)."""
    c = connected(port, app, **kw)
    msid = c.create_stream()
    c.play(msid, name)
    return c, msid


def publishing(port, name, app="live", **kw):
    """A connected client that asked to publish `name` on a new stream:
    (client, msid, the onStatus code it got)."""
    c = connected(port, app, **kw)
    msid = c.create_stream()
    return c, msid, c.publish(msid, name).get("code")


def flv_tags(path):
    """Yields (type, timestamp, payload) of each tag of an FLV file."""
    with open(path, "rb") as f:
        data = f.read()
    off = struct.unpack(">I", data[5:9])[0] + 4
    while off + 11 <= len(data):
        t = data[off] & 0x1F
        n = int.from_bytes(data[off + 1:off + 4], "big")
        ts = int.from_bytes(data[off + 4:off + 7], "big") | (data[off + 7] << 24)
        yield t, ts, data[off + 11:off + 11 + n]
        off += 11 + n + 4
