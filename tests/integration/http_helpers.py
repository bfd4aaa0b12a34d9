"""HTTP helpers for rtmpd's integration tests (stdlib only).

- request(): one request on a fresh connection with http.client;
- metric_sample(): the value of an unlabelled series in /metrics text;
- RawConn: a raw socket with a strict HTTP/1.1 response reader, for
  pipelining, keep-alive and hostile requests;
- FlvPlayer: an HTTP-FLV player in a thread that parses the FLV byte stream
  and records every tag with its arrival time.
"""

import http.client
import json
import re
import socket
import struct
import threading
import time


def request(port, method, path, headers=None, body=None, timeout=10, host="127.0.0.1"):
    """Returns (status, headers as a dict with lower-case names, body bytes)."""
    c = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        c.request(method, path, body=body, headers=headers or {})
        r = c.getresponse()
        data = r.read()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, data
    finally:
        c.close()


def get_json(port, path, headers=None):
    """GETs `path`; returns (status, parsed JSON or None, headers)."""
    status, hdrs, body = request(port, "GET", path, headers)
    try:
        doc = json.loads(body)
    except ValueError:
        doc = None
    return status, doc, hdrs


def metric_sample(text, name):
    """The value of the unlabelled series `name` in Prometheus text, as the
    string it was written as, or None if it is not there."""
    m = re.search(r"^%s (\S+)$" % re.escape(name), text, re.M)
    return m.group(1) if m else None


class RawConn:
    """A plain TCP connection to the HTTP port with a response reader that
    needs no help from the caller (Content-Length bodies, HEAD without one,
    close-delimited bodies)."""

    def __init__(self, port, timeout=10, host="127.0.0.1"):
        self.sock = socket.create_connection((host, port), timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""
        self.eof = False
        self.reset = False

    def send(self, data):
        self.sock.sendall(data)

    def _fill(self, timeout=None):
        if self.eof:
            return False
        if timeout is not None:
            self.sock.settimeout(timeout)
        try:
            d = self.sock.recv(65536)
        except ConnectionResetError:
            self.eof = self.reset = True
            return False
        if not d:
            self.eof = True
            return False
        self.buf += d
        return True

    def read_response(self, head=False, timeout=10):
        """Reads one response; returns (status, headers dict, body) or None
        when the connection ended before a whole status line and headers
        arrived. `head`: the request was HEAD (no body follows)."""
        deadline = time.monotonic() + timeout
        while b"\r\n\r\n" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise socket.timeout("no response head within %ss" % timeout)
            if not self._fill(left):
                return None
        raw, self.buf = self.buf.split(b"\r\n\r\n", 1)
        lines = raw.decode("latin-1").split("\r\n")
        parts = lines[0].split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/1.") or not parts[1].isdigit():
            raise ValueError("bad status line %r" % lines[0])
        status = int(parts[1])
        hdrs = {}
        for line in lines[1:]:
            k, _, v = line.partition(":")
            hdrs[k.strip().lower()] = v.strip()
        if head or status in (204, 304) or 100 <= status < 200:
            return status, hdrs, b""
        if "content-length" in hdrs:
            n = int(hdrs["content-length"])
            while len(self.buf) < n:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise socket.timeout("body incomplete within %ss" % timeout)
                if not self._fill(left):
                    raise ValueError("connection ended inside a %d-byte body" % n)
            body, self.buf = self.buf[:n], self.buf[n:]
            return status, hdrs, body
        # Close-delimited.
        while self._fill(max(deadline - time.monotonic(), 0.01)):
            pass
        body, self.buf = self.buf, b""
        return status, hdrs, body

    def wait_closed(self, timeout):
        """Reads (and keeps) whatever arrives until the peer closes; returns
        the seconds it took, or None if still open after `timeout`."""
        t0 = time.monotonic()
        deadline = t0 + timeout
        while time.monotonic() < deadline:
            try:
                if not self._fill(max(min(0.2, deadline - time.monotonic()), 0.001)):
                    return time.monotonic() - t0
            except socket.timeout:
                pass
        return None

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


FLV_AUDIO, FLV_VIDEO, FLV_SCRIPT = 8, 9, 18


class Tag:
    __slots__ = ("type", "ts", "size", "t", "head")

    def __init__(self, type_, ts, size, t, head):
        self.type, self.ts, self.size, self.t, self.head = type_, ts, size, t, head

    @property
    def keyframe(self):
        return self.type == FLV_VIDEO and self.head and (self.head[0] >> 4) == 1

    @property
    def seq_header(self):
        """AVC/AAC sequence header (legacy FLV)."""
        if self.type == FLV_VIDEO:
            return len(self.head) > 1 and (self.head[0] & 0x0F) == 7 and self.head[1] == 0
        if self.type == FLV_AUDIO:
            return len(self.head) > 1 and (self.head[0] >> 4) == 10 and self.head[1] == 0
        return False

    @property
    def media(self):
        """Coded audio/video (not a sequence header, not script data)."""
        return self.type in (FLV_AUDIO, FLV_VIDEO) and not self.seq_header


class FlvPlayer(threading.Thread):
    """GETs http://127.0.0.1:PORT/PATH in a thread and parses the FLV byte
    stream strictly (header, PreviousTagSize of every tag). Fields, valid
    while it runs (read them, do not modify): status, headers, tags,
    flv_header, errors, closed, bytes, t_connect (monotonic time of the
    connect call), t_closed."""

    def __init__(self, port, path, timeout=10, stop_after=None, pause=None, rcvbuf=None):
        """`pause`: (n, seconds): after the n-th tag, stop reading for that
        long once, as a stalled player would (see t_pause_end). `rcvbuf`:
        SO_RCVBUF (fixes the kernel's receive buffer, which otherwise grows
        to megabytes and hides a stall from the server)."""
        super().__init__(daemon=True)
        self.port, self.path, self.timeout = port, path, timeout
        self.stop_after = stop_after
        self.pause, self.rcvbuf = pause, rcvbuf
        self.t_pause_end = None
        self.status = None
        self.headers = {}
        self.tags = []
        self.flv_header = None
        self.errors = []
        self.closed = False
        self.t_closed = None
        self.bytes = 0
        self.local_port = None
        self.t_connect = None
        self._stop_ev = threading.Event()
        self._ready = threading.Event()
        self.sock = None

    def run(self):
        try:
            self._run()
        except Exception as e:  # noqa: BLE001 - reported to the test
            self.errors.append("%s: %s" % (type(e).__name__, e))
        finally:
            self.t_closed = time.monotonic()
            self.closed = True
            self._ready.set()
            if self.sock:
                self.sock.close()

    def _run(self):
        self.t_connect = time.monotonic()
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if self.rcvbuf:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, self.rcvbuf)
        self.sock.settimeout(self.timeout)
        self.sock.connect(("127.0.0.1", self.port))
        self.local_port = self.sock.getsockname()[1]
        self.sock.sendall(("GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nUser-Agent: rtmpd-test\r\n"
                           "Accept: */*\r\n\r\n" % (self.path, self.port)).encode())
        self.sock.settimeout(0.2)
        buf = b""
        state = "head"
        need = 0
        while not self._stop_ev.is_set():
            try:
                d = self.sock.recv(262144)
            except socket.timeout:
                continue
            except ConnectionResetError:
                self.errors.append("connection reset")
                return
            now = time.monotonic()
            if not d:
                return
            self.bytes += len(d)
            buf += d
            while True:
                if state == "head":
                    if b"\r\n\r\n" not in buf:
                        break
                    raw, buf = buf.split(b"\r\n\r\n", 1)
                    lines = raw.decode("latin-1").split("\r\n")
                    self.status = int(lines[0].split(" ")[1])
                    for line in lines[1:]:
                        k, _, v = line.partition(":")
                        self.headers[k.strip().lower()] = v.strip()
                    self._ready.set()
                    if self.status != 200:
                        return
                    state = "flvhead"
                elif state == "flvhead":
                    if len(buf) < 13:
                        break
                    self.flv_header = buf[:13]
                    hsize = struct.unpack(">I", buf[5:9])[0]
                    if buf[:3] != b"FLV" or hsize != 9 or buf[9:13] != b"\0\0\0\0":
                        self.errors.append("bad FLV header %r" % buf[:13])
                        return
                    buf = buf[13:]
                    state = "tag"
                else:
                    if len(buf) < 11:
                        break
                    size = int.from_bytes(buf[1:4], "big")
                    need = 11 + size + 4
                    if len(buf) < need:
                        break
                    t = buf[0] & 0x1F
                    ts = int.from_bytes(buf[4:7], "big") | (buf[7] << 24)
                    prev = struct.unpack(">I", buf[11 + size:need])[0]
                    if t not in (FLV_AUDIO, FLV_VIDEO, FLV_SCRIPT):
                        self.errors.append("tag %d: unknown type %d" % (len(self.tags), t))
                    if buf[8:11] != b"\0\0\0":
                        self.errors.append("tag %d: stream id not 0" % len(self.tags))
                    if prev != 11 + size:
                        self.errors.append("tag %d: PreviousTagSize %d != %d" %
                                           (len(self.tags), prev, 11 + size))
                        return
                    self.tags.append(Tag(t, ts, size, now, bytes(buf[11:11 + min(size, 8)])))
                    buf = buf[need:]
                    if self.pause and self.t_pause_end is None and len(self.tags) >= self.pause[0]:
                        time.sleep(self.pause[1])
                        self.t_pause_end = time.monotonic()
                        now = self.t_pause_end
                    if self.stop_after and len(self.tags) >= self.stop_after:
                        return

    def wait_ready(self, timeout=10):
        """Waits for the response head (or the end); returns the status."""
        self._ready.wait(timeout)
        return self.status

    def stop(self):
        self._stop_ev.set()
        self.join(5)

    def video(self):
        return [t for t in list(self.tags) if t.type == FLV_VIDEO and t.media]

    def max_gap(self, since=None):
        """Largest gap in arrival time between consecutive audio/video tags
        from the first keyframe on (and, if given, after monotonic time
        `since`), including the gap from the last tag to now while it runs."""
        tags = list(self.tags)
        first = next((i for i, t in enumerate(tags) if t.keyframe and not t.seq_header), None)
        if first is None:
            return None
        media = [t.t for t in tags[first:] if t.media and (since is None or t.t >= since)]
        if not media:
            return None
        gaps = [b - a for a, b in zip(media, media[1:])]
        end = self.t_closed if self.closed else time.monotonic()
        gaps.append(end - media[-1])
        return max(gaps)


def flv_file_rate(path):
    """Average bit rate of an FLV file as the server counts it: payload bytes
    of all tags (audio, video, script) over the span of the timestamps plus
    one video frame. Returns (bits per second, duration in seconds)."""
    with open(path, "rb") as f:
        data = f.read()
    off = struct.unpack(">I", data[5:9])[0] + 4
    total = 0
    vts = []
    last = 0
    while off + 11 <= len(data):
        t = data[off] & 0x1F
        n = int.from_bytes(data[off + 1:off + 4], "big")
        ts = int.from_bytes(data[off + 4:off + 7], "big") | (data[off + 7] << 24)
        total += n
        last = max(last, ts)
        if t == FLV_VIDEO:
            vts.append(ts)
        off += 11 + n + 4
    frame = (vts[-1] - vts[0]) / (len(vts) - 1) if len(vts) > 1 else 0
    dur = (last + frame) / 1000.0
    return total * 8 / dur, dur
