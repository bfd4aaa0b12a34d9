#!/usr/bin/env python3
"""rtmpbench --floor: a fan-out's socket writes with no server.

The fan-out floor that scripts/bench.sh compares each server with is only
a floor if it makes exactly the writes it claims and delivers every byte.
Twenty sockets, the 360p test file replayed for 4 s (the last 3 measured):

- merge 0: one write per socket for every batch of messages that came due
  together (writes == batches x players exactly), no short write, every
  byte written is read by the reading process, and the rate is the file's
  bit rate times the players (within the file's own variation over 3 s);
- a 40 ms window: 25 writes per socket per second (within one step of the
  schedule), steps of 5000 us, every byte read;
- --floor without --file is refused with a message, exit status 1.
"""

import json
import os
import subprocess
import tempfile

from harness import RTMPBENCH, check, log, main, media

PLAYERS = 20


def floor(src, merge_ms, out):
    cmd = [RTMPBENCH, "--floor", "-n", str(PLAYERS), "--file", src, "--merge-ms", str(merge_ms),
           "--duration", "4", "--warmup", "1", "--json", out]
    log("running: %s" % " ".join(cmd))
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    log("rtmpbench: %s%s" % (p.stdout.strip(), p.stderr.strip()))
    check(p.returncode == 0, "rtmpbench --floor --merge-ms %d exited 0 (%d)" % (merge_ms, p.returncode))
    with open(out) as f:
        return json.load(f)["floor"]


def common(fl, merge_ms):
    check(fl["players"] == PLAYERS and fl["merge_ms"] == merge_ms and 2.5 <= fl["window_s"] <= 3.5,
          "the report is for %d sockets, merge %d ms, a ~3 s window (%.2f s)" %
          (fl["players"], fl["merge_ms"], fl["window_s"]))
    check(fl["total_written"] > 0 and fl["total_received"] == fl["total_written"],
          "every byte written was read (%d written, %d read)" %
          (fl["total_written"], fl["total_received"]))
    check(fl["short_writes"] == 0 and fl["lagged"] == 0,
          "no write was short and no socket fell behind (%d, %d)" %
          (fl["short_writes"], fl["lagged"]))
    expect = PLAYERS * fl["file_bitrate_kbps"] / 1000.0
    check(0.75 * expect <= fl["mbps"] <= 1.35 * expect,
          "%.1f Mb/s written: the file's %.0f kb/s to %d sockets (%.1f Mb/s)" %
          (fl["mbps"], fl["file_bitrate_kbps"], PLAYERS, expect))
    check(fl["cpu_percent"] > 0 and fl["cpu_s"] > 0,
          "the writer's CPU was measured (%.2f %%)" % fl["cpu_percent"])


def test():
    src = media("h264_360p_gop1.flv")
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "floor.json")

        fl = floor(src, 0, out)
        common(fl, 0)
        check(fl["batches"] > 0 and fl["writes"] == fl["batches"] * PLAYERS,
              "merge 0: one write per socket per batch of messages due together "
              "(%d writes = %d batches x %d; %d messages)" %
              (fl["writes"], fl["batches"], PLAYERS, fl["messages"]))

        fl = floor(src, 40, out)
        common(fl, 40)
        expect = PLAYERS * fl["window_s"] * 1000 / 40
        check(fl["step_us"] == 5000 and abs(fl["writes"] - expect) <= PLAYERS * 5000 / 40000 + 1,
              "40 ms window: %d writes in %.2f s, one per socket per window (%.0f), steps of %d us" %
              (fl["writes"], fl["window_s"], expect, fl["step_us"]))

        p = subprocess.run([RTMPBENCH, "--floor", "-n", "2"], capture_output=True, text=True,
                           timeout=10)
        check(p.returncode == 1 and "--floor needs --file" in p.stderr,
              "--floor without --file is refused (status %d: %s)" %
              (p.returncode, p.stderr.strip()))


main(test)
