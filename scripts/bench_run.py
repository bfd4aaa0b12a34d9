#!/usr/bin/env python3
"""Runs one measured load (or reference) process for scripts/bench.sh.

  bench_run.py load  --server-pid PID --out RUN.json [--players N] [--churn]
                     [--settle S] [--label L] -- rtmpbench ... --json BENCH.json
  bench_run.py iperf --out FLOOR.json --rate-mbps R --seconds T --port P
                     --client-cpu C

`load` starts the given command (rtmpbench, already wrapped in taskset by the
caller), reads its progress lines (one a second on stderr) and, at each line,
samples the server process (/proc/PID/stat utime+stime, /proc/PID/status
VmRSS), rtmpbench itself and the per-CPU counters of /proc/stat. The
measured window runs from `settle` seconds after every player slot was
launched and connected (so the connect ramp and the GOP-cache bursts of the
last joiners are excluded) to the last progress line. It writes the window's
figures, every sample and rtmpbench's own JSON into RUN.json.

`iperf` runs the iperf3 client (the server must already listen on --port),
pinned to --client-cpu, samples its /proc the same way over the middle of
the test and writes iperf3's JSON plus the derived sender CPU per Gb/s.

Exit status: 0 when the command ran and a result was written, 1 otherwise
(with the reason on stderr).
"""

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import time

CLK_TCK = os.sysconf("SC_CLK_TCK")

PROGRESS = re.compile(
    r"^\[\s*(?P<t>[\d.]+)s\] players=(?P<active>\d+)/(?P<nsess>\d+) playing=(?P<playing>\d+) "
    r"failed=(?P<failed>\d+) closed=(?P<closed>\d+) mbps=(?P<mbps>[\d.]+) fps=(?P<fps>[\d.]+) "
    r"latency_ms p50=(?P<p50>\S+) p99=(?P<p99>\S+)")


def die(msg):
    sys.stderr.write("bench_run: %s\n" % msg)
    sys.exit(1)


def proc_cpu_ticks(pid):
    """(utime, stime) in clock ticks of a process, or None when it is gone."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            data = f.read()
    except OSError:
        return None
    fields = data[data.rindex(")") + 2:].split()
    # fields[0] is field 3 (state); utime and stime are fields 14 and 15.
    return int(fields[11]), int(fields[12])


def proc_status(pid):
    """VmRSS/VmHWM (KiB) and context switches of a process, or None."""
    out = {}
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                k, _, v = line.partition(":")
                if k in ("VmRSS", "VmHWM"):
                    out[k] = int(v.split()[0])
                elif k in ("voluntary_ctxt_switches", "nonvoluntary_ctxt_switches"):
                    out[k] = int(v)
    except OSError:
        return None
    return out


def cpu_stat():
    """Per-CPU jiffies from /proc/stat: {"cpu0": [user, nice, system, idle, iowait, irq, softirq, steal]}."""
    out = {}
    with open("/proc/stat") as f:
        for line in f:
            if line.startswith("cpu"):
                parts = line.split()
                out[parts[0]] = [int(x) for x in parts[1:9]]
    return out


def loadavg():
    with open("/proc/loadavg") as f:
        return f.read().split()[:3]


def ksoftirqd_pids():
    """{"ksoftirqd/0": pid, ...}: the per-CPU softirq threads. Softirq work that
    overflows from a process's own context (heavy loopback traffic) runs there,
    so it is not in the process's own utime/stime."""
    out = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open("/proc/%s/comm" % d) as f:
                    comm = f.read().strip()
            except OSError:
                continue
            if comm.startswith("ksoftirqd/"):
                out[comm] = int(d)
    return out


KSOFTIRQD = ksoftirqd_pids()


def sample(server_pid, bench_pid):
    s = {"mono": time.monotonic(), "cpu": cpu_stat()}
    s["ksoftirqd"] = {k: proc_cpu_ticks(p) for k, p in KSOFTIRQD.items()}
    for name, pid in (("server", server_pid), ("bench", bench_pid)):
        if pid:
            ticks = proc_cpu_ticks(pid)
            st = proc_status(pid)
            s[name] = None if ticks is None else {"utime": ticks[0], "stime": ticks[1], **(st or {})}
    return s


def cpu_busy_pct(c0, c1, wall):
    """Busy share of one CPU between two /proc/stat rows, with its breakdown."""
    d = [b - a for a, b in zip(c0, c1)]
    total = sum(d) or 1
    names = ["user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal"]
    pct = {n: 100.0 * x / total for n, x in zip(names, d)}
    pct["busy"] = 100.0 - pct["idle"] - pct["iowait"]
    return {k: round(v, 1) for k, v in pct.items()}


def proc_window(a, b, wall):
    if not a or not b:
        return None
    ut = (b["utime"] - a["utime"]) / CLK_TCK
    st = (b["stime"] - a["stime"]) / CLK_TCK
    return {
        "cpu_pct": round(100.0 * (ut + st) / wall, 1),
        "user_pct": round(100.0 * ut / wall, 1),
        "sys_pct": round(100.0 * st / wall, 1),
        "rss_kib": b.get("VmRSS"),
        "hwm_kib": b.get("VmHWM"),
        "ctxt_vol_per_s": round((b.get("voluntary_ctxt_switches", 0) -
                                 a.get("voluntary_ctxt_switches", 0)) / wall, 1),
        "ctxt_invol_per_s": round((b.get("nonvoluntary_ctxt_switches", 0) -
                                   a.get("nonvoluntary_ctxt_switches", 0)) / wall, 1),
    }


def num(v):
    try:
        return float(v)
    except ValueError:
        return None


# ---------------------------------------------------------------------------

def cmd_load(a):
    if not a.cmd:
        die("load: no command given after --")
    if not os.path.exists("/proc/%d" % a.server_pid):
        die("load: server pid %d is not running" % a.server_pid)
    result = {
        "label": a.label,
        "command": a.cmd,
        "players": a.players,
        "churn": a.churn,
        "settle_s": a.settle,
        "loadavg_before": loadavg(),
    }
    start = sample(a.server_pid, None)
    stderr_log = open(a.stderr_log, "w") if a.stderr_log else None
    proc = subprocess.Popen(a.cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, errors="replace")
    samples = []
    warnings = []
    server_died = False
    try:
        for line in proc.stderr:
            if stderr_log:
                stderr_log.write(line)
                stderr_log.flush()
            m = PROGRESS.match(line)
            if not m:
                if line.strip():
                    warnings.append(line.strip())
                continue
            s = sample(a.server_pid, proc.pid)
            if s.get("server") is None:
                server_died = True
            s["progress"] = {k: (num(v) if k in ("t", "mbps", "fps", "p50", "p99") else int(v))
                             for k, v in m.groupdict().items()}
            samples.append(s)
        proc.wait()
    except KeyboardInterrupt:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        raise
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if stderr_log:
            stderr_log.close()
    summary = proc.stdout.read().strip()
    result["exit_status"] = proc.returncode
    result["summary_line"] = summary
    result["bench_stderr"] = warnings[:40]
    result["server_alive_after"] = os.path.exists("/proc/%d" % a.server_pid) and not server_died
    result["loadavg_after"] = loadavg()
    if proc.returncode != 0:
        write(a.out, result)
        die("load %s: rtmpbench exited %d: %s" % (a.label, proc.returncode,
                                                  " | ".join(warnings[-5:])))
    bench = None
    if a.bench_json:
        try:
            with open(a.bench_json) as f:
                bench = json.load(f)
        except (OSError, ValueError) as e:
            die("load %s: cannot read rtmpbench's JSON %s: %s" % (a.label, a.bench_json, e))
        bench.pop("players_detail", None)  # one entry per session: too big to keep
    result["rtmpbench"] = bench
    if not samples:
        write(a.out, result)
        die("load %s: rtmpbench printed no progress line" % a.label)

    # The window: from `settle` s after every slot was launched and (unless
    # churning) had finished connecting, to the last progress line.
    ready = None
    for s in samples:
        p = s["progress"]
        if a.players == 0:
            ready = s
            break
        launched = p["nsess"] >= a.players
        settled = a.churn or p["active"] - p["playing"] == 0
        if launched and settled:
            ready = s
            break
    window = None
    if ready is not None:
        t0 = next((s for s in samples if s["mono"] >= ready["mono"] + a.settle - 0.05), None)
        t1 = samples[-1]
        if t0 is not None and t1["mono"] - t0["mono"] >= 0.9:
            window = (t0, t1)
    if window is None:
        result["window"] = None
        result["error"] = ("no measurable window: players never all connected "
                           "(or the run is too short for --settle)")
    else:
        s0, s1 = window
        wall = s1["mono"] - s0["mono"]
        inside = [s for s in samples if s0["mono"] < s["mono"] <= s1["mono"]]
        mb = [s["progress"]["mbps"] for s in inside]
        w = {
            "t0_s": s0["progress"]["t"],
            "t1_s": s1["progress"]["t"],
            "seconds": round(wall, 2),
            "ready_at_s": ready["progress"]["t"],
            "server": proc_window(s0.get("server"), s1.get("server"), wall),
            "rtmpbench": proc_window(s0.get("bench"), s1.get("bench"), wall),
            "mbps": round(sum(mb) / len(mb), 1) if mb else None,
            "playing_end": s1["progress"]["playing"],
            "active_end": s1["progress"]["active"],
            "cpus": {c: cpu_busy_pct(s0["cpu"][c], s1["cpu"][c], wall)
                     for c in s0["cpu"] if c != "cpu"},
            "ksoftirqd_pct": {k: round(100.0 * (sum(s1["ksoftirqd"][k]) - sum(v)) / CLK_TCK / wall, 1)
                              for k, v in s0["ksoftirqd"].items()
                              if v and s1["ksoftirqd"].get(k)},
        }
        result["window"] = w
    result["samples"] = [{
        "t": s["progress"]["t"], "mono": round(s["mono"] - start["mono"], 3),
        "active": s["progress"]["active"], "playing": s["progress"]["playing"],
        "failed": s["progress"]["failed"], "closed": s["progress"]["closed"],
        "mbps": s["progress"]["mbps"], "lat_p50": s["progress"]["p50"],
        "lat_p99": s["progress"]["p99"],
        "server_ticks": (s["server"]["utime"] + s["server"]["stime"]) if s.get("server") else None,
        "server_rss_kib": s["server"].get("VmRSS") if s.get("server") else None,
    } for s in samples]
    write(a.out, result)
    if not result["server_alive_after"]:
        die("load %s: the server (pid %d) died during the run" % (a.label, a.server_pid))
    return 0


# ---------------------------------------------------------------------------

def cmd_iperf(a):
    cmd = ["taskset", "-c", str(a.client_cpu), "iperf3", "-c", "127.0.0.1", "-p", str(a.port),
           "-b", "%dM" % round(a.rate_mbps), "-l", "128K", "-t", str(a.seconds), "--json"]
    result = {"command": cmd, "rate_mbps": a.rate_mbps, "loadavg_before": loadavg()}
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    # Sample the client over the middle of the test (skip the first second:
    # connection setup and the rate limiter's start).
    time.sleep(1.0)
    s0 = sample(proc.pid, None)
    time.sleep(max(0.5, a.seconds - 1.5))
    s1 = sample(proc.pid, None)
    out, err = proc.communicate(timeout=a.seconds + 30)
    result["exit_status"] = proc.returncode
    if proc.returncode != 0:
        write(a.out, result)
        die("iperf3 client exited %d: %s %s" % (proc.returncode, err.strip()[-500:], out[-500:]))
    try:
        j = json.loads(out)
    except ValueError:
        die("iperf3 printed no JSON: %s" % out[-500:])
    end = j.get("end", {})
    sent_bps = end.get("sum_sent", {}).get("bits_per_second")
    cpu = end.get("cpu_utilization_percent", {})
    wall = s1["mono"] - s0["mono"]
    sampled = proc_window(s0.get("server"), s1.get("server"), wall)
    gbps = (sent_bps or 0) / 1e9
    result.update({
        "sent_mbps": round((sent_bps or 0) / 1e6, 1),
        "iperf3_cpu": cpu,
        "sender_cpu_pct": cpu.get("host_total"),
        "receiver_cpu_pct": cpu.get("remote_total"),
        "sender_cpu_pct_sampled": sampled["cpu_pct"] if sampled else None,
        "sender_cpu_pct_per_gbps": round(cpu["host_total"] / gbps, 2) if gbps and "host_total" in cpu else None,
        "sender_cpu_pct_per_gbps_sampled": round(sampled["cpu_pct"] / gbps, 2) if gbps and sampled else None,
        "retransmits": end.get("sum_sent", {}).get("retransmits"),
        "loadavg_after": loadavg(),
    })
    write(a.out, result)
    return 0


def write(path, obj):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(obj, f, indent=1)
    os.rename(tmp, path)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="mode", required=True)
    ld = sub.add_parser("load")
    ld.add_argument("--server-pid", type=int, required=True)
    ld.add_argument("--out", required=True)
    ld.add_argument("--label", default="")
    ld.add_argument("--players", type=int, default=0)
    ld.add_argument("--churn", action="store_true")
    ld.add_argument("--settle", type=float, default=2.0)
    ld.add_argument("--bench-json")
    ld.add_argument("--stderr-log")
    ld.add_argument("cmd", nargs=argparse.REMAINDER)
    ip = sub.add_parser("iperf")
    ip.add_argument("--out", required=True)
    ip.add_argument("--rate-mbps", type=float, required=True)
    ip.add_argument("--seconds", type=int, default=5)
    ip.add_argument("--port", type=int, required=True)
    ip.add_argument("--client-cpu", type=int, default=0)
    a = ap.parse_args()
    if a.mode == "load":
        if a.cmd and a.cmd[0] == "--":
            a.cmd = a.cmd[1:]
        return cmd_load(a)
    return cmd_iperf(a)


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(130)
