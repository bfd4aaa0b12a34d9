#!/usr/bin/env python3
"""The command line: rtmpd -t, -V, -h and bad -l addresses.

- `rtmpd -t -c FILE` exits 0 and says the file is valid for the shipped
  conf/rtmpd.conf (and for an empty file); for an unknown key, a value of
  the wrong type, an out-of-range value (and the other errors
  docs/configuration.md lists) it exits 1 with one line on stderr naming
  the file, the line and the key;
- `rtmpd -V` prints the version of the build (CMakeLists.txt);
- `rtmpd -h` prints the usage (exit 0), an unknown option prints it on
  stderr (exit 1);
- a bad -l address, or one already in use, makes rtmpd exit 1 at once with
  a message naming the address, and `rtmpd -t` with a bad -l address fails
  the check too;
- `rtmpd -t` also fails what a start would fail on with valid keys: two
  listeners (listen, http.listen, -l) on the same port and overlapping
  addresses, an access log that cannot be opened (one that can is created,
  as a start would).
"""

import os
import re
import socket
import subprocess
import tempfile

from harness import RTMPD, SOURCE_DIR, check, log, main, write_config


def rtmpd(args, cwd=None, timeout=10):
    """Runs rtmpd; returns (exit code, stdout, stderr). A server that starts
    instead of exiting is killed after `timeout` (exit code None)."""
    p = subprocess.Popen([RTMPD] + list(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True, errors="replace", cwd=cwd)
    try:
        out, err = p.communicate(timeout=timeout)
        return p.returncode, out, err
    except subprocess.TimeoutExpired:
        p.kill()
        out, err = p.communicate()
        return None, out, err


# name, file content, line, key, what the message must say
BAD_CONFIGS = [
    ("unknown key in a section",
     'listen = [ "127.0.0.1:1935" ];\nlimits = {\n  max_conections = 5;\n};\n',
     3, "limits.max_conections", "unknown key"),
    ("unknown top-level key",
     '# a comment\nlisten = [ "127.0.0.1:1935" ];\nlistne = [ "127.0.0.1:1936" ];\n',
     3, "listne", "unknown key"),
    ("unknown key in an app",
     'apps = (\n  { name = "live";\n    gop_cahce = { enabled = true; };\n  }\n);\n',
     3, "apps[0].gop_cahce", "unknown key"),
    ("string for an integer",
     'limits = {\n  max_connections = "100";\n};\n',
     2, "limits.max_connections", "integer"),
    ("integer for a boolean",
     'apps = (\n  { name = "live"; },\n  { name = "studio";\n    publish_notify = 1; }\n);\n',
     4, "apps[1].publish_notify", "boolean"),
    ("float for an integer",
     '\nrtmp = {\n  chunk_size = 4096.0;\n};\n',
     3, "rtmp.chunk_size", "integer"),
    ("value below its range",
     '\n\nrtmp = { chunk_size = 127; };\n',
     3, "rtmp.chunk_size", "127 is out of range 128..16777215"),
    ("value above its range",
     'limits = {\n  handshake_timeout_ms = 10000;\n  idle_timeout_ms = 86400001;\n};\n',
     3, "limits.idle_timeout_ms", "out of range"),
    ("integer that does not fit in 32 bits",
     'rtmp = {\n  chunk_size = 5000000000;\n};\n',
     2, "rtmp.chunk_size", "32 bits"),
    ("bad size string",
     'limits = {\n  max_pending_bytes = "8 M";\n};\n',
     2, "limits.max_pending_bytes", "bad size"),
    ("rule between two keys",
     'apps = (\n  { name = "live";\n    queue = { max_ms = 5000;\n      drop_ms = 6000; };\n  }\n);\n',
     4, "apps[0].queue.drop_ms", "must not exceed"),
    ("unbracketed IPv6 listen address",
     'listen = [ "0.0.0.0:1935",\n  "::1:1935" ];\n',
     2, "listen[1]", "bracket"),
    ("ladder args with more words than rtmpd passes to ffmpeg",
     'apps = (\n  { name = "live";\n    ladder = ( { suffix = "lo";\n      args = "%s"; } );\n'
     '  }\n);\n' % " ".join(["-an"] * 86),
     4, "apps[0].ladder[0].args", "too many words (86, at most 85)"),
]

# What a start would fail on although every key is valid: -t fails too,
# with one line naming the file (no line number: it is about two keys, or
# the system). (name, file content, extra arguments, what the line says)
START_FAILURES = [
    ("the same port on overlapping addresses in listen and http.listen",
     'listen = [ "127.0.0.1:19350" ];\nhttp = { listen = [ "0.0.0.0:19350" ]; };\n', [],
     'listen[0] "127.0.0.1:19350" and http.listen[0] "0.0.0.0:19350" cannot both listen (same port, overlapping addresses)'),
    ("an -l address that http.listen also has",
     'http = { listen = [ "127.0.0.1:18080" ]; };\n', ["-l", "127.0.0.1:18080"],
     'listen[0] "127.0.0.1:18080" and http.listen[0] "127.0.0.1:18080" cannot both listen (same port, overlapping addresses)'),
    ("an access log that cannot be opened",
     'log = { access_log = "/nonexistent-dir/access.log"; };\n', [],
     'log.access_log "/nonexistent-dir/access.log": No such file or directory'),
]


def test():
    shipped = os.path.join(SOURCE_DIR, "conf", "rtmpd.conf")
    with tempfile.TemporaryDirectory() as d:
        # Valid files.
        code, out, err = rtmpd(["-t", "-c", shipped])
        check(code == 0, "rtmpd -t -c conf/rtmpd.conf exits 0 (%s, stderr %r)" % (code, err))
        check(out.strip() == "rtmpd: configuration %s is valid" % shipped,
              "and prints 'rtmpd: configuration FILE is valid' (%r)" % out.strip())
        check(err == "", "and nothing on stderr (%r)" % err)
        empty = os.path.join(d, "empty.conf")
        open(empty, "w").close()
        code, out, err = rtmpd(["-t", "-c", empty])
        check(code == 0 and "is valid" in out, "an empty file is valid (%s, %r %r)" %
              (code, out, err))
        code, out, err = rtmpd(["-t"], cwd=SOURCE_DIR)
        check(code == 0 and "conf/rtmpd.conf is valid" in out,
              "without -c, rtmpd -t checks conf/rtmpd.conf (%s, %r %r)" % (code, out, err))

        # Invalid files: exit 1, one line naming file, line and key.
        for i, (what, text, line, key, says) in enumerate(BAD_CONFIGS):
            path = os.path.join(d, "bad%d.conf" % i)
            with open(path, "w") as f:
                f.write(text)
            code, out, err = rtmpd(["-t", "-c", path])
            log("%s: exit %s, stderr %r" % (what, code, err))
            check(code == 1, "%s: exit 1 (got %s)" % (what, code))
            check(out == "", "%s: nothing on stdout (%r)" % (what, out))
            lines = err.splitlines()
            check(len(lines) == 1, "%s: exactly one line on stderr (%d)" % (what, len(lines)))
            prefix = "rtmpd: %s:%d: %s: " % (path, line, key)
            check(lines[0].startswith(prefix), "%s: the line starts with %r" % (what, prefix))
            check(says in lines[0][len(prefix):], "%s: and says %r" % (what, says))
        code, out, err = rtmpd(["-t", "-c", os.path.join(d, "missing.conf")])
        check(code == 1 and "missing.conf" in err and "cannot read" in err,
              "a missing file: exit 1, 'FILE: cannot read' (%s, %r)" % (code, err))

        for i, (what, text, extra, says) in enumerate(START_FAILURES):
            path = os.path.join(d, "nostart%d.conf" % i)
            with open(path, "w") as f:
                f.write(text)
            code, out, err = rtmpd(["-t", "-c", path] + extra)
            log("%s: exit %s, stderr %r" % (what, code, err))
            check(code == 1 and out == "" and err == "rtmpd: %s: %s\n" % (path, says),
                  "%s: -t exits 1 with 'rtmpd: FILE: %s' (%s, %r)" % (what, says, code, err))
        logfile = os.path.join(d, "access.log")
        path = os.path.join(d, "log.conf")
        with open(path, "w") as f:
            f.write('log = { access_log = "%s"; };\n' % logfile)
        code, out, err = rtmpd(["-t", "-c", path])
        check(code == 0 and os.path.exists(logfile), "an access log that can be opened is valid "
              "(and created, as a start would) (%s, %r)" % (code, err))

        # -V and -h.
        with open(os.path.join(SOURCE_DIR, "CMakeLists.txt")) as f:
            version = re.search(r"project\(rtmpd VERSION ([0-9.]+)", f.read()).group(1)
        code, out, err = rtmpd(["-V"])
        check(code == 0 and out.strip() == "rtmpd %s" % version,
              "rtmpd -V prints 'rtmpd %s' and exits 0 (%s, %r)" % (version, code, out))
        code, out, err = rtmpd(["-h"])
        check(code == 0 and out.startswith("usage: rtmpd"), "rtmpd -h prints the usage, exit 0 "
              "(%s, %r)" % (code, out[:60]))
        for opt in ("-c FILE", "-l ADDR:PORT", "-t", "-V", "-h"):
            check(re.search(r"^\s+%s\s" % re.escape(opt), out, re.M) is not None,
                  "the usage explains %s" % opt)
        code, out, err = rtmpd(["-x"])
        check(code == 1 and "usage: rtmpd" in err and out == "",
              "an unknown option: usage on stderr, exit 1 (%s)" % code)
        code, out, err = rtmpd(["-t", "-c", shipped, "extra"])
        check(code == 1 and "extra" in err, "a stray argument is refused, exit 1 (%s, %r)" %
              (code, err[:80]))

        # Bad -l addresses: the server must not start.
        conf = os.path.join(d, "ok.conf")
        # -l replaces this address (never bound unless -l were ignored).
        write_config(conf, {"listen": ["127.0.0.1:1"], "http": {"listen": []}})
        bad_listen = ["nonsense", "127.0.0.1:99999", "127.0.0.1:", "localhost:0", "256.1.1.1:0",
                      "[::1]0", "[::1:0", "127.0.0.1:0x10",
                      # as in the configuration, IPv6 needs brackets ("[v6addr]:port")
                      "::1:0"]
        # Every bad address is tried (with and without -t) before the verdict.
        problems = []
        for addr in bad_listen:
            code, out, err = rtmpd(["-c", conf, "-l", addr], timeout=5)
            log("-l %s: exit %s, stderr %r" % (addr, code, err.strip()))
            if code != 1:
                problems.append("rtmpd -l %s: exit %s (%s)" % (
                    addr, code, "it started: " + err.strip().replace("\n", " | ")
                    if code is None else err.strip()))
            elif addr not in err or "listening on" in err:
                problems.append("rtmpd -l %s: message does not name the address: %r" % (addr, err))
        # An address in use.
        holder = socket.socket()
        holder.bind(("127.0.0.1", 0))
        holder.listen(1)
        addr = "127.0.0.1:%d" % holder.getsockname()[1]
        try:
            code, out, err = rtmpd(["-c", conf, "-l", addr], timeout=5)
        finally:
            holder.close()
        log("-l %s (in use): exit %s, stderr %r" % (addr, code, err.strip()))
        check(code == 1 and addr in err and "in use" in err,
              "-l ADDR in use: exit 1, the message names the address and says it is in use")
        # -t checks the -l addresses too: they replace the configured ones,
        # so "valid" must mean that rtmpd would start.
        for addr in bad_listen:
            code, out, err = rtmpd(["-t", "-c", conf, "-l", addr], timeout=5)
            if code != 1 or addr not in err:
                problems.append("rtmpd -t -l %s: exit %s, %r" % (addr, code, (out + err).strip()))
        for p in problems:
            log("problem: " + p)
        check(not problems, "every bad -l address is refused with exit 1 and a message naming it, "
              "at start and by -t (%d problems: %s)" % (len(problems), "; ".join(problems)))


main(test)
