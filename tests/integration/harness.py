"""Shared helpers for rtmpd's integration tests.

Each test is a standalone script run by ctest. It starts its own rtmpd on a
free loopback port (the daemon is told to listen on port 0 and the port is
read from its log), drives it with real clients (ffmpeg, ffprobe, rtmpdump,
rtmpbench) and asserts on what the clients decoded.

Test media is encoded once with ffmpeg and cached in the build directory;
tests publish it with stream copy (-re -c copy), never encoding in real time.
"""

import fcntl
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

SOURCE_DIR = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD_DIR = os.environ.get("RTMPD_BUILD_DIR", os.path.join(SOURCE_DIR, "build"))
RTMPD = os.environ.get("RTMPD_BIN", os.path.join(BUILD_DIR, "rtmpd"))
RTMPBENCH = os.environ.get("RTMPBENCH_BIN", os.path.join(BUILD_DIR, "rtmpbench"))
MEDIA_DIR = os.path.join(BUILD_DIR, "media")


class TestFailure(Exception):
    pass


def log(msg):
    print("[%s] %s" % (time.strftime("%H:%M:%S"), msg), flush=True)


def check(cond, msg):
    """Fails the test with `msg` unless `cond` holds."""
    if not cond:
        raise TestFailure(msg)
    log("ok: " + msg)


# ---------------------------------------------------------------------------
# Media

MEDIA = {
    # name: (ffmpeg arguments producing it, duration)
    # 720p30 H.264 + AAC, keyframe every 2 s.
    "h264_720p_gop2.flv": [
        "-f", "lavfi", "-i", "testsrc2=size=1280x720:rate=30",
        "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100",
        "-t", "20", "-c:v", "libx264", "-preset", "veryfast", "-tune", "zerolatency",
        "-b:v", "2500k", "-maxrate", "2500k", "-bufsize", "5000k", "-pix_fmt", "yuv420p",
        "-g", "60", "-keyint_min", "60", "-sc_threshold", "0", "-bf", "0",
        "-c:a", "aac", "-b:a", "128k", "-ar", "44100", "-ac", "2", "-f", "flv",
    ],
    # Same with a keyframe every 4 s (late joiner tests).
    "h264_720p_gop4.flv": [
        "-f", "lavfi", "-i", "testsrc2=size=1280x720:rate=30",
        "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100",
        "-t", "24", "-c:v", "libx264", "-preset", "veryfast", "-tune", "zerolatency",
        "-b:v", "2500k", "-maxrate", "2500k", "-bufsize", "5000k", "-pix_fmt", "yuv420p",
        "-g", "120", "-keyint_min", "120", "-sc_threshold", "0", "-bf", "0",
        "-c:a", "aac", "-b:a", "128k", "-ar", "44100", "-ac", "2", "-f", "flv",
    ],
    # Small stream for tests that need many players cheaply.
    "h264_360p_gop1.flv": [
        "-f", "lavfi", "-i", "testsrc2=size=640x360:rate=30",
        "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100",
        "-t", "20", "-c:v", "libx264", "-preset", "veryfast", "-tune", "zerolatency",
        "-b:v", "600k", "-pix_fmt", "yuv420p", "-g", "30", "-keyint_min", "30",
        "-sc_threshold", "0", "-bf", "0",
        "-c:a", "aac", "-b:a", "64k", "-ar", "44100", "-ac", "2", "-f", "flv",
    ],
    # The same 360p stream with a keyframe every 2 s: the low rendition of
    # a group whose high rendition is h264_720p_gop2.flv (rendition tests).
    "h264_360p_gop2.flv": [
        "-f", "lavfi", "-i", "testsrc2=size=640x360:rate=30",
        "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100",
        "-t", "20", "-c:v", "libx264", "-preset", "veryfast", "-tune", "zerolatency",
        "-b:v", "600k", "-pix_fmt", "yuv420p", "-g", "60", "-keyint_min", "60",
        "-sc_threshold", "0", "-bf", "0",
        "-c:a", "aac", "-b:a", "64k", "-ar", "44100", "-ac", "2", "-f", "flv",
    ],
    # HEVC elementary stream (Annex B) for the Enhanced RTMP test. Each AU
    # starts with an AUD; VPS/SPS/PPS precede every keyframe (ffmpeg sets
    # repeat-headers=1 for libx265 when the output has no global header:
    # repeat-headers=0 would leave them out of the stream altogether).
    "hevc_360p.hevc": [
        "-f", "lavfi", "-i", "testsrc2=size=640x360:rate=30",
        "-t", "10", "-c:v", "libx265", "-preset", "ultrafast",
        "-x265-params", "keyint=30:min-keyint=30:bframes=0:aud=1:log-level=error",
        "-pix_fmt", "yuv420p", "-f", "hevc",
    ],
}


def media(name):
    """Path of a cached test media file, encoding it once if missing."""
    os.makedirs(MEDIA_DIR, exist_ok=True)
    path = os.path.join(MEDIA_DIR, name)
    lock_path = path + ".lock"
    with open(lock_path, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not os.path.exists(path):
            log("encoding test media %s (cached for later runs)" % name)
            tmp = path + ".tmp"
            cmd = ["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-y"]
            cmd += MEDIA[name] + [tmp]
            subprocess.run(cmd, check=True)
            os.rename(tmp, path)
    return path


# ---------------------------------------------------------------------------
# The server

DEFAULT_APP = {
    "name": "live",
}


def _conf_value(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v) if -2**31 <= v < 2**31 else "%dL" % v
    if isinstance(v, str):
        return json.dumps(v)
    if isinstance(v, (list, tuple)):
        if v and isinstance(v[0], dict):
            return "( " + ", ".join(_conf_value(x) for x in v) + " )"
        return "[ " + ", ".join(_conf_value(x) for x in v) + " ]"
    if isinstance(v, dict):
        return "{ " + " ".join("%s = %s;" % (k, _conf_value(x)) for k, x in v.items()) + " }"
    raise TypeError(v)


def write_config(path, settings):
    with open(path, "w") as f:
        for k, v in settings.items():
            f.write("%s = %s;\n" % (k, _conf_value(v)))


class Server:
    """An rtmpd on a free loopback port, with a generated config.

    `settings` are top-level config keys (dicts become groups); `apps`
    replaces the app list.
    """

    def __init__(self, settings=None, apps=None, listen="127.0.0.1:0", extra_args=()):
        self.dir = tempfile.mkdtemp(prefix="rtmpd-test-")
        self.conf = os.path.join(self.dir, "rtmpd.conf")
        # HTTP is off unless a test asks for it (the default port would clash).
        cfg = {"log": {"level": "info", "access_log": "stderr"}, "http": {"listen": []}}
        cfg.update(settings or {})
        cfg["apps"] = apps or [dict(DEFAULT_APP)]
        http = cfg.get("http")
        self.http_expected = bool(isinstance(http, dict) and http.get("listen"))
        write_config(self.conf, cfg)
        self.listen = listen
        self.extra_args = list(extra_args)
        self.proc = None
        self.port = None
        self.http_port = None
        self.log_lines = []
        self._log_lock = threading.Lock()
        self._port_event = threading.Event()

    def start(self):
        self.log_path = os.path.join(self.dir, "rtmpd.log")
        cmd = [RTMPD, "-c", self.conf, "-l", self.listen] + self.extra_args
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                     text=True, errors="replace")
        threading.Thread(target=self._read_log, daemon=True).start()
        if not self._port_event.wait(10):
            self.stop()
            raise TestFailure("rtmpd did not start listening: %s" % self.log_text())
        deadline = time.time() + 5
        while self.http_expected and self.http_port is None and time.time() < deadline:
            time.sleep(0.02)
        if self.http_expected and self.http_port is None:
            self.stop()
            raise TestFailure("rtmpd did not start listening for HTTP: %s" % self.log_text())
        log("rtmpd pid %d on port %d" % (self.proc.pid, self.port))
        return self

    def _read_log(self):
        with open(self.log_path, "w") as out:
            for line in self.proc.stderr:
                out.write(line)
                out.flush()
                with self._log_lock:
                    self.log_lines.append(line.rstrip("\n"))
                m = re.search(r"http listening on \S+ \(port (\d+)\)", line)
                if m and self.http_port is None:
                    self.http_port = int(m.group(1))
                    continue
                m = re.search(r"listening on \S+ \(port (\d+)\)", line)
                if m and self.port is None:
                    self.port = int(m.group(1))
                    self._port_event.set()

    def log_text(self):
        with self._log_lock:
            return "\n".join(self.log_lines)

    def wait_log(self, pattern, timeout=10, count=1):
        """Waits until `count` log lines match `pattern`; returns the last match."""
        deadline = time.time() + timeout
        rx = re.compile(pattern)
        while time.time() < deadline:
            with self._log_lock:
                n = 0
                for line in self.log_lines:
                    m = rx.search(line)
                    if m:
                        n += 1
                        if n == count:
                            return m
            time.sleep(0.05)
        raise TestFailure("no %slog line matching %r within %ss" %
                          ("" if count == 1 else "%d " % count, pattern, timeout))

    def log_matches(self, pattern):
        """The matches of `pattern` in the log lines so far."""
        rx = re.compile(pattern)
        with self._log_lock:
            return [m for m in (rx.search(line) for line in self.log_lines) if m]

    def log_count(self, pattern):
        """How many log lines so far match `pattern`."""
        return len(self.log_matches(pattern))

    def url(self, name, app="live"):
        return "rtmp://127.0.0.1:%d/%s/%s" % (self.port, app, name)

    def proc_status(self, field):
        """An integer field of /proc/PID/status (VmRSS in KiB,
        voluntary_ctxt_switches, ...), or 0 if it is not there."""
        with open("/proc/%d/status" % self.proc.pid) as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
        return 0

    def rss_kib(self):
        return self.proc_status("VmRSS")

    def cpu_seconds(self):
        """User + system CPU time the server has used (/proc/PID/stat)."""
        with open("/proc/%d/stat" % self.proc.pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def fd_count(self):
        return len(os.listdir("/proc/%d/fd" % self.proc.pid))

    def stop(self, timeout=10):
        """SIGTERM, then wait; returns the exit code."""
        if not self.proc:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise TestFailure("rtmpd did not stop within %ss of SIGTERM" % timeout)
        return self.proc.returncode

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        try:
            code = self.stop()
            if exc[0] is None and code not in (0, None):
                raise TestFailure("rtmpd exited with %s" % code)
        finally:
            if exc[0] is not None:
                sys.stderr.write("---- rtmpd log ----\n%s\n" % self.log_text()[-20000:])
            shutil.rmtree(self.dir, ignore_errors=True)
        return False


# ---------------------------------------------------------------------------
# Clients

def ffmpeg_publish(url, path, loop=True, extra=()):
    """Publishes a media file in real time with stream copy."""
    cmd = ["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-re"]
    if loop:
        cmd += ["-stream_loop", "-1"]
    cmd += ["-i", path, "-c", "copy"] + list(extra) + ["-f", "flv", url]
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def wait_publishing(server, name, timeout=10, count=1):
    """Waits until the server logged its `count`-th publish of live/`name`."""
    server.wait_log(r"live/%s: publishing" % re.escape(name), timeout, count)


def run(cmd, timeout=60, check_rc=True):
    """Runs a command, returns CompletedProcess (text)."""
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                       errors="replace", timeout=timeout)
    if check_rc and r.returncode != 0:
        raise TestFailure("%s exited %d: %s" % (cmd[0], r.returncode, r.stderr[-2000:]))
    return r


def ffprobe_streams(url, timeout=30):
    r = run(["ffprobe", "-v", "error", "-show_streams", "-of", "json", url], timeout)
    return json.loads(r.stdout)["streams"]


def framemd5(url, seconds, extra_in=(), timeout=60):
    """Decodes `seconds` of a stream; returns [(stream, pts, md5)]."""
    cmd = ["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error"] + list(extra_in)
    cmd += ["-i", url, "-t", str(seconds), "-f", "framemd5", "-"]
    r = run(cmd, timeout)
    frames = []
    for line in r.stdout.splitlines():
        if line.startswith("#") or not line.strip():
            continue
        parts = [p.strip() for p in line.split(",")]
        frames.append((int(parts[0]), int(parts[2]), parts[5]))
    return frames


def parse_framemd5(text):
    """Parses framemd5 output into [(stream, pts in seconds, md5)], using the
    time base of each stream from the "#tb" header lines."""
    tb = {}
    frames = []
    for line in text.splitlines():
        m = re.match(r"#tb (\d+): (\d+)/(\d+)", line)
        if m:
            tb[int(m.group(1))] = int(m.group(2)) / int(m.group(3))
            continue
        if line.startswith("#") or not line.strip():
            continue
        parts = [p.strip() for p in line.split(",")]
        s = int(parts[0])
        frames.append((s, int(parts[2]) * tb.get(s, 1.0), parts[5]))
    return frames


def ffmpeg_play(url, seconds, out, extra_in=()):
    """Starts an ffmpeg player in the background: it decodes `seconds` of
    `url` (output time) and writes per-frame checksums to the file `out`
    (parse it with parse_framemd5 once the player has exited); its stderr
    goes to out + ".err". Returns the Popen."""
    cmd = ["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-y"] + list(extra_in)
    cmd += ["-i", url, "-t", str(seconds), "-f", "framemd5", out]
    with open(out + ".err", "w") as err:
        return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=err)


def source_frames(path):
    """Video frame checksums of a media file in decode order, as a dict
    md5 -> frame index (to tell which source frame a player decoded)."""
    frames = framemd5(path, 3600, timeout=120)
    video = [md5 for s, pts, md5 in frames if s == 0]
    return {md5: i for i, md5 in enumerate(video)}


def stop_proc(p, sig=signal.SIGINT, timeout=10):
    if p.poll() is None:
        p.send_signal(sig)
        try:
            p.wait(timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def main(test):
    """Runs `test()`; prints the verdict and exits 0/1."""
    try:
        test()
    except TestFailure as e:
        print("FAIL: %s" % e, flush=True)
        sys.exit(1)
    print("PASS", flush=True)
    sys.exit(0)
