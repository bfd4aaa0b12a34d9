#!/usr/bin/env python3
"""/metrics is valid Prometheus text (format 0.0.4) and its numbers move the
way their types say.

Two streams run (live/x 720p, live/sub/y 360p) with an RTMP player and an
HTTP-FLV player on live/x. Two scrapes 3 s apart must each pass a strict
format check: every sample line parses (name{labels} value [timestamp],
label values quoted with only \\\\, \\" and \\n escapes), every family has
exactly one HELP and one TYPE line before its samples and its samples form
one group, types are counter or gauge (or summary/histogram with the right
suffixes), counter names end in _total, no series repeats. Between the
scrapes counters never decrease (and the traffic counters grow); per-stream
series carry app and stream labels; a few values match what is running.
"""

import math
import re
import time

from harness import (Server, TestFailure, check, ffmpeg_publish, log, main, media, stop_proc,
                     wait_publishing)
from http_helpers import FlvPlayer, request
from rtmp_client import Client, Pump

NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
LABEL = r"[a-zA-Z_][a-zA-Z0-9_]*"
TYPES = ("counter", "gauge", "summary", "histogram", "untyped")


class FormatError(Exception):
    pass


def parse_labels(s, i, lineno):
    """Parses `{...}` at s[i] (just after '{'); returns (labels, index after '}')."""
    labels = {}
    while True:
        while i < len(s) and s[i] in " \t":
            i += 1
        if i < len(s) and s[i] == "}":
            return labels, i + 1
        m = re.compile(LABEL).match(s, i)
        if not m:
            raise FormatError("line %d: bad label name at %r" % (lineno, s[i:i + 20]))
        name = m.group(0)
        if name.startswith("__"):
            raise FormatError("line %d: reserved label name %s" % (lineno, name))
        if name in labels:
            raise FormatError("line %d: label %s twice" % (lineno, name))
        i = m.end()
        while i < len(s) and s[i] in " \t":
            i += 1
        if s[i:i + 2] != '="':
            raise FormatError("line %d: expected =\" after label %s" % (lineno, name))
        i += 2
        val = []
        while True:
            if i >= len(s):
                raise FormatError("line %d: unterminated label value" % lineno)
            ch = s[i]
            if ch == "\\":
                nxt = s[i + 1:i + 2]
                if nxt not in ("\\", '"', "n"):
                    raise FormatError("line %d: bad escape \\%s in label value" % (lineno, nxt))
                val.append("\n" if nxt == "n" else nxt)
                i += 2
            elif ch == '"':
                i += 1
                break
            elif ch == "\n":
                raise FormatError("line %d: raw newline in label value" % lineno)
            else:
                val.append(ch)
                i += 1
        labels[name] = "".join(val)
        while i < len(s) and s[i] in " \t":
            i += 1
        if i < len(s) and s[i] == ",":
            i += 1
        elif i < len(s) and s[i] == "}":
            return labels, i + 1
        else:
            raise FormatError("line %d: expected , or } after a label" % lineno)


def parse_value(tok, lineno):
    if tok in ("NaN", "+Inf", "-Inf", "Inf"):
        return float(tok.replace("Inf", "inf").replace("NaN", "nan"))
    if not re.fullmatch(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?", tok):
        raise FormatError("line %d: bad value %r" % (lineno, tok))
    return float(tok)


def family_of(name, types):
    """The family a sample name belongs to (summary/histogram suffixes)."""
    if name in types:
        return name
    for suffix in ("_sum", "_count", "_bucket"):
        base = name[:-len(suffix)] if name.endswith(suffix) else None
        if base and types.get(base) in ("summary", "histogram"):
            if suffix == "_bucket" and types[base] != "histogram":
                continue
            return base
    return name


def parse_metrics(text):
    """Strict check of the text format; returns {(name, frozenset(labels)): value}
    and the families' types."""
    if not text.endswith("\n"):
        raise FormatError("the exposition does not end with a newline")
    helps, types = {}, {}
    seen_samples = set()      # families that had samples
    done = set()              # families whose group has ended
    current = None
    series = {}
    for lineno, line in enumerate(text.split("\n")[:-1], 1):
        if line.strip() == "":
            continue
        if line.startswith("#"):
            parts = line.split(None, 3)
            if len(parts) >= 3 and parts[1] in ("HELP", "TYPE"):
                name = parts[2]
                if not re.fullmatch(NAME, name):
                    raise FormatError("line %d: bad metric name %r" % (lineno, name))
                if name in seen_samples:
                    raise FormatError("line %d: %s %s after its samples" % (lineno, parts[1], name))
                if parts[1] == "HELP":
                    if name in helps:
                        raise FormatError("line %d: second HELP for %s" % (lineno, name))
                    doc = parts[3] if len(parts) > 3 else ""
                    if re.search(r"\\[^\\n]", doc.replace("\\\\", "")):
                        raise FormatError("line %d: bad escape in HELP of %s" % (lineno, name))
                    helps[name] = doc
                else:
                    if name in types:
                        raise FormatError("line %d: second TYPE for %s" % (lineno, name))
                    if len(parts) != 4 or parts[3] not in TYPES:
                        raise FormatError("line %d: bad TYPE line %r" % (lineno, line))
                    types[name] = parts[3]
                if current is not None and current != name:
                    done.add(current)
                current = name
            continue
        m = re.compile(NAME).match(line)
        if not m:
            raise FormatError("line %d: no metric name in %r" % (lineno, line))
        name = m.group(0)
        i = m.end()
        labels = {}
        if i < len(line) and line[i] == "{":
            labels, i = parse_labels(line, i + 1, lineno)
        rest = line[i:]
        if not rest or rest[0] not in " \t":
            raise FormatError("line %d: no space before the value in %r" % (lineno, line))
        toks = rest.split()
        if len(toks) not in (1, 2):
            raise FormatError("line %d: expected value [timestamp] in %r" % (lineno, line))
        value = parse_value(toks[0], lineno)
        if len(toks) == 2 and not re.fullmatch(r"-?\d+", toks[1]):
            raise FormatError("line %d: bad timestamp %r" % (lineno, toks[1]))
        fam = family_of(name, types)
        if fam in done:
            raise FormatError("line %d: samples of %s are not one group" % (lineno, fam))
        if current is not None and current != fam:
            done.add(current)
        current = fam
        if fam not in types or fam not in helps:
            raise FormatError("line %d: sample of %s before its HELP and TYPE" % (lineno, fam))
        t = types[fam]
        if t == "summary" and name == fam and "quantile" not in labels:
            raise FormatError("line %d: summary sample without quantile" % lineno)
        if t == "histogram" and name == fam:
            raise FormatError("line %d: histogram sample without _bucket/_sum/_count" % lineno)
        if t == "histogram" and name.endswith("_bucket") and "le" not in labels:
            raise FormatError("line %d: histogram bucket without le" % lineno)
        seen_samples.add(fam)
        key = (name, frozenset(labels.items()))
        if key in series:
            raise FormatError("line %d: series %s%s repeated" % (lineno, name, labels))
        series[key] = value
    for fam in types:
        if fam not in helps:
            raise FormatError("%s has a TYPE but no HELP" % fam)
    for fam in helps:
        if fam not in types:
            raise FormatError("%s has a HELP but no TYPE" % fam)
    return series, types


def self_test():
    """The checker must reject what Prometheus rejects."""
    ok = "# HELP a_total A.\n# TYPE a_total counter\na_total{x=\"1\"} 3\n"
    parse_metrics(ok)
    bad = {
        "no HELP": "# TYPE a gauge\na 1\n",
        "no TYPE": "# HELP a A.\na 1\n",
        "TYPE after sample": "# HELP a A.\na 1\n# TYPE a gauge\n",
        "two TYPEs": "# HELP a A.\n# TYPE a gauge\n# TYPE a gauge\na 1\n",
        "bad escape": "# HELP a A.\n# TYPE a gauge\na{x=\"\\t\"} 1\n",
        "unquoted label": "# HELP a A.\n# TYPE a gauge\na{x=1} 1\n",
        "bad value": "# HELP a A.\n# TYPE a gauge\na 1,5\n",
        "split group": "# HELP a A.\n# TYPE a gauge\na{x=\"1\"} 1\n# HELP b B.\n# TYPE b gauge\n"
                       "b 1\na{x=\"2\"} 1\n",
        "repeated series": "# HELP a A.\n# TYPE a gauge\na 1\na 2\n",
        "no final newline": "# HELP a A.\n# TYPE a gauge\na 1",
        "bad type": "# HELP a A.\n# TYPE a number\na 1\n",
    }
    for what, text in bad.items():
        try:
            parse_metrics(text)
        except FormatError:
            continue
        raise TestFailure("the format checker accepted: %s" % what)
    log("format checker self-test passed")


def scrape(srv):
    status, hdrs, body = request(srv.http_port, "GET", "/metrics")
    check(status == 200, "GET /metrics: 200 (%d)" % status)
    ctype = hdrs.get("content-type", "")
    check(ctype.startswith("text/plain") and "version=0.0.4" in ctype,
          "Content-Type text/plain; version=0.0.4 (%r)" % ctype)
    text = body.decode("utf-8")
    try:
        series, types = parse_metrics(text)
    except FormatError as e:
        raise TestFailure("/metrics is not valid Prometheus text: %s\n%s" % (e, text))
    check(True, "/metrics parses: %d families, %d series" % (len(types), len(series)))
    return series, types, text


def value(series, name, **labels):
    return series.get((name, frozenset(labels.items())))


def test():
    self_test()
    src = media("h264_720p_gop2.flv")
    small = media("h264_360p_gop1.flv")
    with Server(settings={"http": {"listen": ["127.0.0.1:0"]}}) as srv:
        pub = ffmpeg_publish(srv.url("x"), src)
        # ffmpeg would take "live/sub" for the app: name the parts.
        pub2 = ffmpeg_publish(srv.url("sub/y"), small,
                              extra=["-rtmp_app", "live", "-rtmp_playpath", "sub/y"])
        flv = None
        c = pump = None
        try:
            wait_publishing(srv, "x")
            wait_publishing(srv, "sub/y")
            c = Client("127.0.0.1", srv.port)
            c.handshake()
            c.connect("live")
            c.play(c.create_stream(), "x")
            pump = Pump(c)
            pump.start()
            flv = FlvPlayer(srv.http_port, "/live/x.flv")
            flv.start()
            check(flv.wait_ready() == 200, "the HTTP-FLV player plays")
            time.sleep(2)

            s1, types, text = scrape(srv)
            time.sleep(3)
            s2, types2, text2 = scrape(srv)
            check(types == types2, "both scrapes have the same families")

            for fam, t in types.items():
                check(t in ("counter", "gauge", "summary", "histogram"),
                      "%s is a %s" % (fam, t))
                check((t == "counter") == fam.endswith("_total"),
                      "%s: counter names end in _total and only they do" % fam)
                check(fam.startswith("rtmpd_"), "%s has the rtmpd_ prefix" % fam)

            counters = [k for k in s1 if types.get(k[0]) == "counter"]
            check(len(counters) >= 8, "%d counter series" % len(counters))
            for k in counters:
                check(k in s2, "counter %s%s is in both scrapes" % (k[0], dict(k[1])))
                check(s2[k] >= s1[k] >= 0, "counter %s%s never decreases (%s -> %s)" %
                      (k[0], dict(k[1]), s1[k], s2[k]))
            for name, labels in (("rtmpd_received_bytes_total", {}),
                                 ("rtmpd_sent_bytes_total", {}),
                                 ("rtmpd_connections_accepted_total", {}),
                                 ("rtmpd_stream_received_bytes_total", {"app": "live", "stream": "x"}),
                                 ("rtmpd_stream_sent_bytes_total", {"app": "live", "stream": "x"}),
                                 ("rtmpd_stream_received_bytes_total",
                                  {"app": "live", "stream": "sub/y"})):
                a, b = value(s1, name, **labels), value(s2, name, **labels)
                check(a is not None and b is not None and b > a,
                      "%s%s grows while streams run (%s -> %s)" % (name, labels, a, b))
            grow = value(s2, "rtmpd_stream_received_bytes_total", app="live", stream="x") - \
                value(s1, "rtmpd_stream_received_bytes_total", app="live", stream="x")
            check(2.5e6 / 8 * 3 * 0.7 < grow < 2.8e6 / 8 * 3 * 1.5,
                  "live/x received %d bytes in 3 s (about 2.7 Mb/s)" % grow)

            per_stream = [f for f in types if f.startswith("rtmpd_stream_")]
            check(len(per_stream) >= 5, "%d per-stream families" % len(per_stream))
            for f in per_stream:
                keys = [k for k in s2 if family_of(k[0], types) == f]
                check(keys, "%s has samples" % f)
                streams = set()
                for k in keys:
                    lab = dict(k[1])
                    check("app" in lab and "stream" in lab,
                          "%s%s carries app and stream labels" % (k[0], lab))
                    streams.add((lab["app"], lab["stream"]))
                check(streams == {("live", "x"), ("live", "sub/y")},
                      "%s covers both streams (%s)" % (f, sorted(streams)))

            for name, labels, want in (
                    ("rtmpd_stream_publishing", {"app": "live", "stream": "x"}, 1),
                    ("rtmpd_stream_publishing", {"app": "live", "stream": "sub/y"}, 1),
                    ("rtmpd_stream_subscribers", {"app": "live", "stream": "x"}, 2),
                    ("rtmpd_stream_subscribers", {"app": "live", "stream": "sub/y"}, 0),
                    ("rtmpd_clients", {"role": "publisher"}, 2),
                    ("rtmpd_clients", {"role": "player"}, 2),
                    ("rtmpd_connections", {"proto": "rtmp"}, 3),
                    ("rtmpd_streams", {}, 2)):
                v = value(s2, name, **labels)
                check(v == want, "%s%s = %s (got %s)" % (name, labels, want, v))
            http_conns = value(s2, "rtmpd_connections", proto="http")
            check(http_conns is not None and http_conns >= 2,
                  "rtmpd_connections{proto=\"http\"} counts the player and the scrape (%s)" %
                  http_conns)
            rate = value(s2, "rtmpd_stream_bitrate_bits_per_second", app="live", stream="x",
                         direction="in")
            check(rate is not None and 2.0e6 < rate < 3.5e6,
                  "live/x bit rate in is about 2.7 Mb/s (%s)" % rate)
            up1, up2 = value(s1, "rtmpd_uptime_seconds"), value(s2, "rtmpd_uptime_seconds")
            check(up1 is not None and 2.5 < up2 - up1 < 4.5,
                  "uptime advanced by about 3 s (%s -> %s)" % (up1, up2))
            bad = [(k[0], dict(k[1]), v) for k, v in s2.items() if not math.isfinite(v)]
            check(not bad, "every value is finite (%s)" % bad[:3])
            log("sample of the exposition:\n" + "\n".join(text2.splitlines()[:12]))
            check(not flv.errors and not flv.closed, "the HTTP-FLV player kept playing")
        finally:
            if flv:
                flv.stop()
            if pump:
                pump.__exit__(None, None, None)
            if c:
                c.close()
            stop_proc(pub)
            stop_proc(pub2)


main(test)
