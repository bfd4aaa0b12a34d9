#!/usr/bin/env python3
"""Hostile AMF in commands does not disturb a healthy stream.

ctest: serial (latency is measured)

While rtmpbench publishes the 720p file to live/healthy and 4 players in the
same process check every frame, clients send commands (type 20, and type 17
with the 0x11 AMF3 switch) whose AMF is hostile. The session decodes
commands with max_depth 32 and max_values 4096 (src/session.c). What each
must produce:

- where the command name or transaction id cannot be decoded, there is no
  transaction to answer: rtmpd logs "undecodable command: REASON", counts a
  protocol error and goes on; the 17th protocol error (MAX_PROTOCOL_ERRORS
  16) closes the connection (access log "too many protocol errors");
- where a later value cannot be decoded, the command runs with the values
  before it, which gets the client an error it can read, and rtmpd logs
  "command 'NAME': undecodable value N: REASON" and counts a protocol error:
  publish -> onStatus error NetStream.Publish.BadName "publish needs a stream
  name."; connect without its command object -> _error
  NetConnection.Connect.Rejected "connect needs a command object." and a
  close (access log "connect without command object").

Inputs (REASON in parentheses): nesting 100,000 deep as AMF0 objects, strict
arrays, ECMA arrays, AMF3 arrays and AMF3 objects ("amf: nesting too deep");
strings, long strings, AMF3 strings, object keys and strict arrays whose
length or count exceeds the message ("amf: truncated value"); AMF3 string,
object and traits references and an AMF0 reference to an index never seen
("amf: reference to unknown index"); 5,000 values ("amf: too many values");
unsupported markers ("amf: unknown type marker"); a command that is a number,
and an empty command message ("command without a name"). An ECMA array whose
count says 2^32-1 but holds one member is fine (the count is a hint): that
connect succeeds.

Afterwards: rtmpd's descriptors are back to the count before the attacks,
RSS grew by at most 4 MiB (the largest command here is 500 KB, decoded into
an arena freed per message), and the healthy players got every frame in
order with latency p99 within max(baseline + 20 ms, 2 x baseline).
"""

import re

from hostile import (AMF_NULL, Hostile, Scenario, amf, amf_long_str, amf_nested, amf_num, amf_str,
                     check, expect_logged, log)
from harness import Server, main, media

MAX_PROTOCOL_ERRORS = 16
DEPTH = 100000

DEEP = "amf: nesting too deep"
TRUNC = "amf: truncated value"
REF = "amf: reference to unknown index"
LIMIT = "amf: too many values"
TYPE = "amf: unknown type marker"


def amf3_deep_array(depth):
    # 0x09 array, U29 dense count 1, empty associative part; innermost null.
    return b"\x11" + b"\x09\x03\x01" * depth + b"\x01"


def amf3_deep_object(depth):
    # 0x0a object, inline dynamic traits without sealed members, class "",
    # one dynamic member "a" holding the next object.
    return b"\x11" + b"\x0a\x0b\x01\x03a" * depth + b"\x01" + b"\x01" * depth


# (label, raw value, reason) for a value rtmpd must refuse to decode.
BAD_VALUES = [
    ("objects nested %d deep" % DEPTH, amf_nested(DEPTH, "object"), DEEP),
    ("strict arrays nested %d deep" % DEPTH, amf_nested(DEPTH, "array"), DEEP),
    ("ECMA arrays nested %d deep" % DEPTH, amf_nested(DEPTH, "ecma"), DEEP),
    ("AMF3 arrays nested %d deep" % DEPTH, amf3_deep_array(DEPTH), DEEP),
    ("AMF3 objects nested %d deep" % DEPTH, amf3_deep_object(DEPTH), DEEP),
    ("a string of 65535 bytes holding 5", b"\x02\xff\xffhello", TRUNC),
    ("a long string of 2^32-1 bytes holding 1", b"\x0c\xff\xff\xff\xffx", TRUNC),
    ("an AMF3 string of 2^28-1 bytes holding 3", b"\x11\x06\xff\xff\xff\xffabc", TRUNC),
    ("an object key of 65535 bytes holding 3", b"\x03\xff\xffkey\x05\x00\x00\x09", TRUNC),
    ("a strict array of 2^32-1 items holding 3", b"\x0a\xff\xff\xff\xff\x05\x05\x05", TRUNC),
    ("an AMF3 array of 2^28-1 items holding 3", b"\x11\x09\xff\xff\xff\xff\x01\x01\x01\x01",
     TRUNC),
    ("an AMF3 string reference to index 5", b"\x11\x06\x0a", REF),
    ("an AMF3 object reference to index 5", b"\x11\x0a\x0a", REF),
    ("an AMF3 traits reference to index 3", b"\x11\x0a\x0d", REF),
    ("an AMF0 reference to index 5", b"\x07\x00\x05", REF),
    ("a strict array of 5000 nulls", b"\x0a\x00\x00\x13\x88" + b"\x05" * 5000, LIMIT),
    ("an object of 5000 members", b"\x03" + b"\x00\x01k\x05" * 5000 + b"\x00\x00\x09", LIMIT),
    ("the AMF0 movieclip marker", b"\x04\x00", TYPE),
    ("the AMF0 unsupported marker", b"\x0d", TYPE),
    ("the AMF0 recordset marker", b"\x0e", TYPE),
    ("a stray object end", b"\x09", TYPE),
    ("marker 0xff", b"\xff", TYPE),
    ("an AMF3 int vector", b"\x11\x0d\x03\x00\x00\x00\x00\x01", TYPE),
    ("an AMF3 dictionary", b"\x11\x11\x03\x00\x01\x01", TYPE),
]


def send_cmd(c, payload, amf3):
    """A type 20 command, or a type 17 one (format byte 0) when `amf3`."""
    if amf3:
        c.raw_command(b"\x00" + payload, mtype=17)
    else:
        c.raw_command(payload)


def in_name(sc):
    """Bad values as the command name: logged, counted, not answered."""
    srv = sc.srv
    groups = [BAD_VALUES[i:i + 8] for i in range(0, len(BAD_VALUES), 8)]
    for gi, group in enumerate(groups):
        c = Hostile.connected(srv.port)
        patterns = []
        for k, (label, value, reason) in enumerate(group):
            send_cmd(c, value + amf_num(1) + AMF_NULL, amf3=k % 2 == 1)
            check(c.alive(), "a command named by %s: not answered, the connection goes on" % label)
            patterns.append(r"undecodable command: %s$" % re.escape(reason))
        bad = [m for m in c.pending if m.type in (17, 20) and m.amf()[0] == "_error"]
        check(not bad, "group %d: no reply to any of them (%d _error)" % (gi, len(bad)))
        expect_logged(srv, c, patterns)

    # A transaction id that cannot be decoded is the same case.
    c = Hostile.connected(srv.port)
    send_cmd(c, amf_str("createStream") + amf_nested(DEPTH, "array"), amf3=False)
    send_cmd(c, amf_num(3) + amf_num(4), amf3=False)
    c.raw_command(b"")
    check(c.alive(), "a bad transaction id, a numeric name, an empty command: not answered")
    expect_logged(srv, c, [r"undecodable command: amf: nesting too deep$",
                           r"command without a name: amf: unknown type marker$"])


def in_arguments(sc):
    """Bad values as publish's stream name: onStatus error, logged."""
    srv = sc.srv
    c = None
    for i, (label, value, reason) in enumerate(BAD_VALUES):
        if i % 12 == 0:
            if c:
                c.close()
            c = Hostile.connected(srv.port)
            msid = c.create_stream()
            n0 = i
        payload = amf_str("publish") + amf_num(0) + AMF_NULL + value + amf_str("live")
        c.raw_command((b"\x00" + payload) if i % 2 else payload, mtype=17 if i % 2 else 20,
                      csid=5, msid=msid)
        st = c.status()
        check(st is not None and st.get("level") == "error" and
              st.get("code") == "NetStream.Publish.BadName" and
              st.get("description") == "publish needs a stream name.",
              "publish with %s as the name: onStatus %s \"%s\"" %
              (label, st and st.get("code"), st and st.get("description")))
        if i % 12 == 11 or i == len(BAD_VALUES) - 1:
            patterns = [r"command 'publish': undecodable value 3: %s$" % re.escape(r)
                        for _, _, r in BAD_VALUES[n0:i + 1]]
            expect_logged(srv, c, patterns)
            c = None


def connect_object(sc):
    srv = sc.srv
    for label, value, reason in (BAD_VALUES[0], BAD_VALUES[8], BAD_VALUES[11], BAD_VALUES[15]):
        c = Hostile(srv.port)
        c.handshake()
        c.raw_command(amf_str("connect") + amf_num(1) + value)
        r = c.reply(1)
        check(r is not None and r[0] == "_error" and r[3].get("code") ==
              "NetConnection.Connect.Rejected" and
              r[3].get("description") == "connect needs a command object.",
              "connect with %s as its command object: _error %s \"%s\"" %
              (label, r and r[3].get("code"), r and r[3].get("description")))
        took = c.closed_within(5)
        check(took is not None, "  then the connection closes")
        expect_logged(srv, c, [r"command 'connect': undecodable value 2: %s$" % re.escape(reason)],
                      r"^connect without command object$")
    # The ECMA array count is a hint: 2^32-1 with one member is a fine object.
    c = Hostile(srv.port)
    c.handshake()
    obj = (b"\x08\xff\xff\xff\xff" + b"\x00\x03app" + amf("live") + b"\x00\x00\x09")
    c.raw_command(amf_str("connect") + amf_num(1) + obj)
    r = c.reply(1)
    check(r is not None and r[0] == "_result",
          "connect with an ECMA array claiming 2^32-1 members (holding 1): connected")
    check(c.alive(), "  and the connection works")
    c.close()


def strikes(sc):
    """The 17th protocol error closes the connection."""
    srv = sc.srv
    c = Hostile.connected(srv.port)
    for i in range(MAX_PROTOCOL_ERRORS):
        send_cmd(c, amf_nested(DEPTH, "object") + amf_num(1), amf3=i % 2 == 1)
    check(c.alive(), "after %d undecodable commands the connection still works" %
          MAX_PROTOCOL_ERRORS)
    send_cmd(c, b"\x02\xff\xffx", amf3=False)
    took = c.closed_within(5)
    check(took is not None, "the %dth undecodable command closes it (%.3f s)" %
          (MAX_PROTOCOL_ERRORS + 1, took if took is not None else -1))
    expect_logged(srv, c, [r"undecodable command: amf: truncated value$"],
                  r"^too many protocol errors$")
    # A long string name (not a command anyone knows) is just unknown.
    c = Hostile.connected(srv.port)
    c.raw_command(amf_long_str(b"N" * 70000) + amf_num(9) + AMF_NULL)
    r = c.reply(9)
    check(r is not None and r[0] == "_error" and r[3].get("description") == "Method not found.",
          "a 70000-byte command name: _error \"Method not found.\"")
    cid = expect_logged(srv, c, [r"unknown command 'N{20,}\.\.\.'$"])
    long_lines = [ln for ln in srv.log_lines if "[#%d]" % cid in ln and len(ln) > 400]
    check(not long_lines, "  and the log line echoes a bounded part of it")


def test():
    src = media("h264_720p_gop2.flv")
    with Server() as srv:
        sc = Scenario(srv, src, rss_slack_kib=4096)

        def attacks(sc):
            sc.suite.run("bad AMF as the command name (deep, lengths, references, markers)",
                         lambda: in_name(sc))
            sc.suite.run("bad AMF as publish's stream name", lambda: in_arguments(sc))
            sc.suite.run("bad AMF as connect's command object", lambda: connect_object(sc))
            sc.suite.run("17 undecodable commands close the connection", lambda: strikes(sc))
            log("protocol errors logged: %d" % srv.log_count(r"undecodable"))

        sc.run(attacks)


main(test)
