"""Hostile RTMP clients, and the bookkeeping of the hostile test suite.

Built on tests/integration (harness.py, rtmp_client.py). It gives a test:

- byte-level control: `Hostile` is an rtmp_client.Client that can also send
  arbitrary bytes at an arbitrary pace (`send_paced`), single chunks with any
  fmt / chunk stream id (any basic header form) / length / type / stream id /
  extended timestamp (`chunk()`), and commands whose AMF payload is raw bytes
  (`raw_command`); AMF builders for what a well-behaved encoder never sends
  (`amf_nested`, lying lengths, AMF3 references);
- `Healthy`: the stream that must not notice the attacks: rtmpbench
  publishing a media file and playing it with a few players in the same
  process, so every player checks every frame (order, bytes) and measures the
  latency rtmpd adds; one run for the baseline, one during the attacks;
- `Resources`: rtmpd's RSS, open file descriptors and CPU time from /proc;
- `Suite`: runs attacks one after the other, records each outcome (an attack
  that fails does not hide the next ones) and fails the test at the end if any
  failed;
- `offender_log` / `expect_logged`: what rtmpd logged about one client
  connection (found by the client's port in the access log line written
  when the connection closed, and the connection id in it);
- `Scenario`: the frame of every attack file (baseline run of the healthy
  stream, attacks during a second run, then the checks of the attacks, the
  healthy players, descriptors and RSS).
"""

import calendar
import json
import os
import re
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "integration"))

import harness  # noqa: E402
import rtmp_client as rc  # noqa: E402
from harness import RTMPBENCH, TestFailure, check  # noqa: E402,F401

_log_lock = threading.Lock()


def log(msg):
    """harness.log, one whole line at a time: attacks run in threads."""
    with _log_lock:
        sys.stdout.write("[%s] %s\n" % (time.strftime("%H:%M:%S"), msg))
        sys.stdout.flush()


# check() (harness) logs through harness.log: make it thread-safe too.
harness.log = log


def _sanitized():
    """rtmpd is a sanitizer build: RTMPD_SANITIZED=1 (scripts/test.sh sets
    it), or RTMPD_BUILD_DIR was configured with -DRTMPD_SANITIZE=ON."""
    if os.environ.get("RTMPD_SANITIZED") == "1":
        return True
    try:
        with open(os.path.join(harness.BUILD_DIR, "CMakeCache.txt")) as f:
            return "RTMPD_SANITIZE:BOOL=ON" in f.read()
    except OSError:
        return False


def _rss_checked():
    """RSS tells about rtmpd's memory, except under ASan with its default
    quarantine (256 MB of freed memory kept resident on purpose)."""
    if not SANITIZED:
        return True
    m = re.search(r"quarantine_size_mb=(\d+)", os.environ.get("ASAN_OPTIONS", ""))
    return bool(m) and int(m.group(1)) <= 16


# Under ASan/UBSan (scripts/test.sh step 2) everything is slower.
SANITIZED = _sanitized()
RSS_CHECKED = _rss_checked()


# ---------------------------------------------------------------------------
# Chunks

def basic_header(fmt, csid, form=None):
    """Basic header of `csid` in the smallest form, or in `form` (1, 2 or 3
    bytes) when given (a 3-byte header may name a csid below 320)."""
    if form is None:
        form = 1 if csid < 64 else 2 if csid < 320 else 3
    if form == 1:
        return bytes([(fmt << 6) | (csid & 0x3F)])
    if form == 2:
        return bytes([fmt << 6, (csid - 64) & 0xFF])
    return bytes([(fmt << 6) | 1, (csid - 64) & 0xFF, ((csid - 64) >> 8) & 0xFF])


def chunk(fmt, csid, ts=0, length=0, mtype=0, msid=0, payload=b"", ext=None, form=None):
    """One chunk with exactly these fields, nothing checked. `ts` is the
    timestamp (fmt 0) or delta (fmt 1, 2); at 0xffffff or more the field is
    0xffffff and the 4-byte value follows. On fmt 3, `ext` (an int) writes an
    extended timestamp field after the basic header."""
    out = basic_header(fmt, csid, form)
    if fmt <= 2:
        out += struct.pack(">I", min(ts, 0xFFFFFF))[1:]
    if fmt <= 1:
        out += struct.pack(">I", length)[1:] + bytes([mtype])
    if fmt == 0:
        out += struct.pack("<I", msid)
    if fmt <= 2 and ts >= 0xFFFFFF:
        out += struct.pack(">I", ts & 0xFFFFFFFF)
    if fmt == 3 and ext is not None:
        out += struct.pack(">I", ext & 0xFFFFFFFF)
    return out + payload


def message(csid, mtype, msid, ts, payload, chunk_size, first_fmt=0, ext3=True, form=None):
    """A whole message: a fmt `first_fmt` chunk then fmt 3 continuations.
    With an extended timestamp, continuations repeat it when `ext3` (the
    spec) and omit it otherwise (old librtmp)."""
    ext = ts >= 0xFFFFFF
    out = [chunk(first_fmt, csid, ts, len(payload), mtype, msid, payload[:chunk_size], form=form)]
    for off in range(chunk_size, len(payload), chunk_size):
        out.append(chunk(3, csid, ext=ts if ext and ext3 else None, form=form,
                         payload=payload[off:off + chunk_size]))
    return b"".join(out)


def set_chunk_size(n):
    """A Set Chunk Size message (any 32-bit value) on csid 2."""
    return chunk(0, 2, 0, 4, 1, 0, struct.pack(">I", n & 0xFFFFFFFF))


def abort(csid_payload):
    """An Abort message; `csid_payload` is the raw payload (normally 4 bytes)."""
    return chunk(0, 2, 0, len(csid_payload), 2, 0, csid_payload)


# ---------------------------------------------------------------------------
# Raw AMF0 / AMF3

def amf_num(x):
    return b"\x00" + struct.pack(">d", float(x))


def amf_str(s):
    b = s.encode() if isinstance(s, str) else s
    return b"\x02" + struct.pack(">H", len(b)) + b


def amf_long_str(s):
    b = s.encode() if isinstance(s, str) else s
    return b"\x0c" + struct.pack(">I", len(b)) + b


AMF_NULL = b"\x05"


def amf_nested(depth, kind="object", leaf=AMF_NULL):
    """`depth` nested containers around `leaf`: objects {a: {a: ...}},
    strict arrays [[...]] or ECMA arrays."""
    if kind == "object":
        return b"\x03\x00\x01a" * depth + leaf + b"\x00\x00\x09" * depth
    if kind == "array":
        return b"\x0a\x00\x00\x00\x01" * depth + leaf
    if kind == "ecma":
        return b"\x08\x00\x00\x00\x01\x00\x01a" * depth + leaf + b"\x00\x00\x09" * depth
    raise ValueError(kind)


def command_payload(name, txn, *values):
    """An AMF0 command: name, transaction id, then raw AMF `values`."""
    return amf_str(name) + amf_num(txn) + b"".join(values)


def amf(v):
    """AMF0 bytes of a Python value (rtmp_client's encoder)."""
    return rc.amf0_encode(v)


# ---------------------------------------------------------------------------
# The hostile client

class Hostile(rc.Client):
    """An RTMP client that sends whatever it is told to."""

    def __init__(self, port, timeout=10):
        self.created = time.time()  # to tell its access log line from an
        super().__init__("127.0.0.1", port, timeout)  # older one's on the same port
        self.local_port = self.sock.getsockname()[1]

    @classmethod
    def connected(cls, port, app="live", chunk_size=None):
        """Handshake and connect (and optionally Set Chunk Size)."""
        c = cls(port)
        c.handshake()
        c.connect(app)
        if chunk_size:
            c.set_chunk_size(chunk_size)
        return c

    def send_paced(self, data, bytes_per_s):
        """Sends `data` a byte at a time at `bytes_per_s`; stops (returns
        False) if the server closes the connection meanwhile."""
        for i in range(len(data)):
            try:
                self.sock.sendall(data[i:i + 1])
            except OSError:
                self.closed = True
                return False
            if self._closed_now(1.0 / bytes_per_s):
                return False
        return True

    def _closed_now(self, wait):
        """Waits up to `wait` seconds for the server to close (reading and
        discarding what it sends); True once closed."""
        if self.closed:
            return True
        self.sock.settimeout(max(wait, 0.001))
        try:
            d = self.sock.recv(65536)
        except socket.timeout:
            return False
        except OSError:
            self.closed, self.close_reason = True, "reset"
            return True
        if not d:
            self.closed, self.close_reason = True, "eof"
            return True
        self.received += len(d)
        try:
            for m in self.reader.feed(d):
                self.pending.append(m)
        except Exception:  # noqa: BLE001 -- the handshake bytes, before chunks
            pass
        return False

    def send_bytes(self, data):
        """Sends `data`; returns False if the server closed or reset first."""
        try:
            self.sock.settimeout(self.timeout)
            self.sock.sendall(data)
            return True
        except OSError:
            self.closed = True
            return False

    def raw_command(self, payload, mtype=20, csid=3, msid=0, ts=0):
        """A command message (type 20 AMF0, 17 AMF3) with a raw payload."""
        return self.send_bytes(message(csid, mtype, msid, ts, payload, self.out_chunk_size))

    def call(self, name, *args, msid=0, csid=3):
        """command() that tolerates a closed socket; returns the txn."""
        self.txn += 1
        payload = amf(name) + amf(self.txn) + b"".join(amf(a) for a in args)
        self.raw_command(payload, csid=csid, msid=msid)
        return self.txn

    def reply(self, txn, timeout=5):
        """The _result/_error to `txn` as decoded AMF values, or None."""
        try:
            return self.wait_result(txn, timeout)
        except rc.RTMPError:
            return None

    def status(self, timeout=5, code_prefix=""):
        """The next onStatus info object (whose code starts with
        `code_prefix`), or None."""
        def pred(m):
            info = rc.status_info(m)
            return info is not None and str(info.get("code", "")).startswith(code_prefix)
        try:
            return rc.status_info(self.wait(pred, timeout))
        except rc.RTMPError:
            return None

    def alive(self, timeout=5):
        """The connection still works: a call is answered."""
        if self.closed:
            return False
        # A transaction id no attack uses, so no earlier reply can match.
        self.txn = max(self.txn, 10 ** 9)
        txn = self.call("releaseStream", None, "probe")
        return self.reply(txn, timeout) is not None

    def closed_within(self, timeout):
        """Seconds until the server closed the connection, or None."""
        if self.closed:
            return 0.0
        try:
            return self.wait_closed(timeout)
        except Exception:  # noqa: BLE001 -- an undecodable byte stream
            return self._drain_until_closed(timeout)

    def _drain_until_closed(self, timeout):
        t0 = time.monotonic()
        while time.monotonic() - t0 < timeout:
            if self._closed_now(0.2):
                return time.monotonic() - t0
        return None


def open_idle(port, n, timeout=5):
    """`n` TCP connections that send nothing (half-open RTMP clients)."""
    out = []
    for _ in range(n):
        s = socket.create_connection(("127.0.0.1", port), timeout)
        out.append(s)
    return out


def closed_now(s):
    """True when the server has already closed `s` (EOF or reset queued).
    Never waits (a socket with a timeout would wait for readability)."""
    timeout = s.gettimeout()
    s.setblocking(False)
    try:
        return s.recv(65536, socket.MSG_PEEK) == b""
    except BlockingIOError:
        return False
    except OSError:
        return True
    finally:
        s.settimeout(timeout)


def socket_closed(s, timeout):
    """True when the server closed `s` (EOF or reset) within `timeout`."""
    s.settimeout(timeout)
    try:
        while True:
            d = s.recv(65536)
            if not d:
                return True
    except socket.timeout:
        return False
    except OSError:
        return True


# ---------------------------------------------------------------------------
# What rtmpd logged about a connection

def _stamp(line):
    """The UTC time at the start of an rtmpd log line, in seconds."""
    try:
        return calendar.timegm(time.strptime(line[:19], "%Y-%m-%dT%H:%M:%S")) + \
            int(line[20:23]) / 1000.0
    except ValueError:
        return 0.0


def offender_log(srv, client_port, timeout=10, since=0.0):
    """(connection id, close reason, [its log lines]) for the connection
    whose client port is `client_port` and which was opened after `since`
    (time.time(); a port is reused), once rtmpd has closed it (its access
    log line is written then)."""
    rx = re.compile(r"ACCESS id=(\d+) peer=127\.0\.0\.1:%d .*reason=\"([^\"]*)\"" % client_port)
    deadline = time.monotonic() + timeout
    m = None
    while m is None and time.monotonic() < deadline:
        with srv._log_lock:
            for ln in srv.log_lines:
                hit = rx.search(ln)
                if hit and _stamp(ln) >= since - 0.01:
                    m = hit
        if m is None:
            time.sleep(0.05)
    if m is None:
        raise TestFailure("no access log line for the client on port %d within %ss" %
                          (client_port, timeout))
    cid = m.group(1)
    tag = "[#%s] " % cid
    with srv._log_lock:
        lines = [ln for ln in srv.log_lines if tag in ln]
    return int(cid), m.group(2), lines


def expect_logged(srv, client, patterns, reason=None, timeout=10):
    """Closes `client` (if rtmpd has not) and checks that rtmpd logged, for
    that connection, a line matching each of `patterns` and (when given)
    closed it with an access-log reason matching `reason`. Returns the
    connection id."""
    client.close()
    cid, why, lines = offender_log(srv, client.local_port, timeout, client.created)
    want = {}
    for p in patterns:  # a pattern given k times must match k lines
        want[p] = want.get(p, 0) + 1
    for p, k in want.items():
        hit = [ln for ln in lines if re.search(p, ln)]
        check(len(hit) >= k, "  rtmpd logged for #%d: %r%s%s" % (
            cid, p, " (%d lines, want %d)" % (len(hit), k) if k > 1 or not hit else "",
            (" -> " + hit[0].split("] ", 1)[-1][:200]) if hit else " (lines: %s)" % lines[-5:]))
    if reason is not None:
        check(re.search(reason, why), "  access log of #%d: reason=%r (want %r)" %
              (cid, why, reason))
    return cid


# ---------------------------------------------------------------------------
# The healthy stream

class Healthy:
    """rtmpbench publishing `src` to `name` and playing it with `players`
    players in the same process, until finish()."""

    PROGRESS = re.compile(r"playing=(\d+)")

    def __init__(self, srv, src, name, players, out, warmup=2):
        url = srv.url(name)
        self.srv, self.name, self.players, self.out = srv, name, players, out
        self.proc = subprocess.Popen(
            [RTMPBENCH, "--publish", url, "--play", url, "--file", src, "-n", str(players),
             "--duration", "0", "--warmup", str(warmup), "--json", out],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.playing = 0
        self.stderr = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.proc.stderr:
            self.stderr.append(line.rstrip())
            m = self.PROGRESS.search(line)
            if m:
                self.playing = int(m.group(1))

    def wait_playing(self, timeout=15):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.playing >= self.players:
                return
            if self.proc.poll() is not None:
                break
            time.sleep(0.1)
        raise TestFailure("healthy stream: %d of %d players playing (rtmpbench: %s)" %
                          (self.playing, self.players, "\n".join(self.stderr[-10:])))

    def finish(self):
        """Stops rtmpbench (one SIGINT: stop and report); returns its JSON."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
        try:
            stdout, _ = self.proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise TestFailure("rtmpbench did not stop")
        log("rtmpbench (%s): %s" % (self.name, stdout.strip()))
        with open(self.out) as f:
            return json.load(f)

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def latency_bound(baseline_p99):
    """What p99 may become under attack: baseline + 20 ms or twice the
    baseline, whichever is larger. Under the sanitizers (3-5 times slower,
    and what they check is memory, not timing) four times that."""
    bound = max(baseline_p99 + 20.0, 2.0 * baseline_p99)
    return bound * (4 if SANITIZED else 1)


def check_healthy(res, label, baseline_p99=None):
    """The healthy players received every frame in order, byte for byte,
    without a stall, and (given a baseline) latency p99 stayed in bounds."""
    pub = res["publish"]
    check(pub["publishing"] == 1 and pub["detail"][0]["status"] == "ok",
          "%s: the healthy publisher published throughout (%s)" %
          (label, pub["detail"][0]["status"]))
    check(res["connected"] == res["slots"] and res["failed"] == 0 and res["closed"] == 0,
          "%s: all %d healthy players played to the end (connected %d, failed %d, closed %d)" %
          (label, res["slots"], res["connected"], res["failed"], res["closed"]))
    seq = res["sequence"]
    per_player = pub["frames"] - 2.5 * pub["frames"] / max(res["duration_s"], 1)
    least = min(p["checked"] for p in res["players_detail"])
    check(seq["enabled"] and seq["errors"] == 0 and seq["players_ok"] == res["players"],
          "%s: every frame in order and intact (%d checked, %d sequence errors, %d/%d players ok)"
          % (label, seq["checked"], seq["errors"], seq["players_ok"], res["players"]))
    check(least >= per_player,
          "%s: each player checked nearly all of the %d frames published (least %d)" %
          (label, pub["frames"], least))
    check(res["stalls"] == 0, "%s: no stall (%d, %.2f s)" % (label, res["stalls"], res["stall_s"]))
    p99 = res["latency_ms"]["p99"]
    check(p99 is not None, "%s: latency measured (p50 %s, p99 %s, max %s ms)" %
          (label, res["latency_ms"]["p50"], p99, res["latency_ms"]["max"]))
    if baseline_p99 is not None:
        bound = latency_bound(baseline_p99)
        check(p99 <= bound, "%s: latency p99 %.2f ms <= %.2f ms (baseline p99 %.2f ms)" %
              (label, p99, bound, baseline_p99))
    return p99


# ---------------------------------------------------------------------------
# rtmpd's resources

class Resources:
    def __init__(self, srv):
        self.srv = srv

    def rss_kib(self):
        return self.srv.rss_kib()

    def fds(self):
        return self.srv.fd_count()

    def cpu_s(self):
        return self.srv.cpu_seconds()

    def wait_fds(self, want, timeout=15):
        """Waits until rtmpd has `want` open descriptors; returns the count."""
        deadline = time.monotonic() + timeout
        n = self.fds()
        while n != want and time.monotonic() < deadline:
            time.sleep(0.1)
            n = self.fds()
        return n


# ---------------------------------------------------------------------------
# Running attacks

class Suite:
    """Runs attacks in order; each is a function of no argument that raises
    TestFailure (via check) when rtmpd misbehaves."""

    def __init__(self, srv):
        self.srv = srv
        self.results = []

    def run(self, name, fn):
        log("---- attack: %s" % name)
        t0 = time.monotonic()
        try:
            fn()
            ok, why = True, ""
        except TestFailure as e:
            ok, why = False, str(e)
        except Exception as e:  # noqa: BLE001 -- a crash of the attack is a failure too
            ok, why = False, "%s\n%s" % (e, traceback.format_exc())
        dt = time.monotonic() - t0
        self.results.append((name, ok, why, dt))
        log("---- %s: %s (%.1f s)%s" % (name, "ok" if ok else "FAILED", dt,
                                       "" if ok else ": " + why))
        if self.srv.proc.poll() is not None:
            raise TestFailure("rtmpd died (exit %s) during %s" % (self.srv.proc.returncode, name))
        return ok

    def summary(self):
        for name, ok, why, dt in self.results:
            log("%-55s %s %5.1fs%s" % (name, "ok    " if ok else "FAILED", dt,
                                       "" if ok else "  " + why.splitlines()[0]))
        failed = [r for r in self.results if not r[1]]
        if failed:
            raise TestFailure("%d of %d attacks misbehaved: %s" %
                              (len(failed), len(self.results), ", ".join(r[0] for r in failed)))


class Scenario:
    """The frame of every hostile test file: one server, a baseline run of
    the healthy stream, then the attacks while a second run of it plays,
    then the checks: every attack behaved, the healthy players noticed
    nothing (every frame in order, intact, no stall, latency p99 within
    latency_bound() of the baseline), rtmpd's descriptors are back to their
    count before the attacks and its RSS grew by at most `rss_slack_kib`.

    `attacks(sc)` runs the attacks with sc.suite.run(name, fn); it may use
    sc.srv and sc.res.
    """

    def __init__(self, srv, src, players=4, baseline_s=8, rss_slack_kib=8192):
        self.srv, self.src, self.players = srv, src, players
        # ASan's allocator holds freed memory in quarantine and redzones.
        self.baseline_s, self.rss_slack_kib = baseline_s, rss_slack_kib * (2 if SANITIZED else 1)
        self.res = Resources(srv)
        self.suite = Suite(srv)

    def run(self, attacks):
        srv = self.srv
        d = srv.dir
        base = Healthy(srv, self.src, "healthy", self.players, os.path.join(d, "base.json"))
        try:
            base.wait_playing()
            time.sleep(self.baseline_s)
        finally:
            r0 = base.finish()
        p99_0 = check_healthy(r0, "baseline")

        run = Healthy(srv, self.src, "healthy", self.players, os.path.join(d, "attack.json"))
        try:
            run.wait_playing()
            time.sleep(2.5)  # past the players' warm-up
            fd0, rss0 = self.res.fds(), self.res.rss_kib()
            log("before the attacks: rtmpd %d fds, RSS %d KiB" % (fd0, rss0))
            attacks(self)
            # Everything the attacks opened must be closed by now or soon.
            fd1 = self.res.wait_fds(fd0, 15)
            rss1 = self.res.rss_kib()
            log("after the attacks: rtmpd %d fds, RSS %d KiB (%+d KiB)" % (fd1, rss1, rss1 - rss0))
            time.sleep(1.0)
        finally:
            r1 = run.finish()
        failures = []
        for what, fn in (
                ("attacks", self.suite.summary),
                ("descriptors", lambda: check(fd1 == fd0, "file descriptors back to the "
                                              "baseline (%d -> %d)" % (fd0, fd1))),
                ("memory", lambda: check(rss1 - rss0 <= self.rss_slack_kib or not RSS_CHECKED,
                                         "RSS grew by %d KiB over the attacks (<= %d KiB%s)" %
                                         (rss1 - rss0, self.rss_slack_kib, "" if RSS_CHECKED
                                          else "; not enforced: ASan quarantine over 16 MB"))),
                ("healthy stream", lambda: check_healthy(r1, "under attack", p99_0))):
            try:
                fn()
            except TestFailure as e:
                log("FAILED (%s): %s" % (what, e))
                failures.append("%s: %s" % (what, e))
        if failures:
            raise TestFailure("; ".join(failures))
