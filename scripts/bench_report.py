#!/usr/bin/env python3
"""Turns the runs of scripts/bench.sh into results, a table and the docs.

  bench_report.py --runs DIR --json OUT.json --table OUT.md [--docs docs/benchmarks.md]
                  [--rtmpd build/rtmpd]
  bench_report.py --brief RUNDIR      one line about one run (progress output)

DIR holds meta.json, one directory per run (SCENARIO__SERVER: idle.json,
run.json, bench.json, server.log, server_exit) and floor_N/floor.json (iperf3).
The table goes to stdout as well.
"""

import argparse
import json
import math
import os
import platform
import re
import subprocess
import sys
import time

SERVER_NAMES = {
    "rtmpd": "rtmpd (merge_ms=0)",
    "nginx_rtmp": "nginx-rtmp",
}

SCENARIO_NAMES = {
    "one_100": "1 stream × 100",
    "one_500": "1 stream × 500",
    "one_2000": "1 stream × 2000",
    "multi_100x10": "100 streams × 10",
    "churn": "churn",
}


def server_name(kind):
    if kind in SERVER_NAMES:
        return SERVER_NAMES[kind]
    m = re.match(r"rtmpd_merge(\d+)$", kind)
    return "rtmpd (merge_ms=%s)" % m.group(1) if m else kind


def load(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def cmd_out(cmd):
    try:
        r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                           timeout=10)
        return r.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None


def rnd(v, d=1):
    return None if v is None else round(v, d)


# ---------------------------------------------------------------------------

def server_log_stats(path, kind):
    """Facts from the server's log that explain a run (drops, errors)."""
    out = {}
    try:
        with open(path, errors="replace") as f:
            text = f.read()
    except OSError:
        return out
    if kind.startswith("rtmpd"):
        sent = dropped = 0
        for m in re.finditer(r"stopped playing \((\d+) frames sent, (\d+) dropped\)", text):
            sent += int(m.group(1))
            dropped += int(m.group(2))
        out["frames_sent"] = sent
        out["frames_dropped"] = dropped
        out["players_behind"] = len(re.findall(r"player behind by", text))
        out["errors"] = len(re.findall(r"\berror\b", text, re.I))
        out["warnings"] = len(re.findall(r"\bwarn", text, re.I))
    else:
        out["errors"] = len(re.findall(r"\[(error|crit|alert|emerg)\]", text))
        out["warnings"] = len(re.findall(r"\[warn\]", text))
    return out


def row_from_run(rdir):
    name = os.path.basename(rdir)
    parts = name.split("__")
    sid, kind = parts[0], parts[1] if len(parts) > 1 else ""
    rnd_no = int(parts[2][1:]) if len(parts) > 2 and parts[2][1:].isdigit() else 1
    run = load(os.path.join(rdir, "run.json"))
    idle = load(os.path.join(rdir, "idle.json"))
    bench = load(os.path.join(rdir, "bench.json")) or {}
    if bench:
        bench.pop("players_detail", None)
    if not run:
        return {"run": name, "scenario": sid, "server": kind, "server_name": server_name(kind),
                "round": rnd_no,
                "error": "no result (the run failed or was interrupted)",
                "notes": ["no result (the run failed or was interrupted)"]}
    w = run.get("window") or {}
    srv = w.get("server") or {}
    lb = w.get("rtmpbench") or {}
    idle_rss = None
    if idle and idle.get("samples"):
        idle_rss = idle["samples"][-1].get("server_rss_kib")
    players = w.get("playing_end")
    rss = srv.get("rss_kib")
    per_player = None
    if rss is not None and idle_rss is not None and players:
        per_player = (rss - idle_rss) / players
    mbps = w.get("mbps")
    cpu = srv.get("cpu_pct")
    cpus = w.get("cpus") or {}
    try:
        exit_status = open(os.path.join(rdir, "server_exit")).read().strip()
    except OSError:
        exit_status = None
    row = {
        "run": name,
        "scenario": sid,
        "server": kind,
        "round": rnd_no,
        "server_name": server_name(kind),
        "players": run.get("players"),
        "streams": None,
        "churn": run.get("churn"),
        "loadavg_before": run.get("loadavg_before"),
        "loadavg_after": run.get("loadavg_after"),
        "window_s": w.get("seconds"),
        "window_from_s": w.get("t0_s"),
        "window_to_s": w.get("t1_s"),
        "cpu_pct": cpu,
        "cpu_user_pct": srv.get("user_pct"),
        "cpu_sys_pct": srv.get("sys_pct"),
        "server_ctxt_vol_per_s": srv.get("ctxt_vol_per_s"),
        "server_ctxt_invol_per_s": srv.get("ctxt_invol_per_s"),
        "rss_kib": rss,
        "rss_idle_kib": idle_rss,
        "rss_hwm_kib": srv.get("hwm_kib"),
        "players_connected_end": players,
        "rss_per_player_kib": rnd(per_player, 2),
        "mbps_window": mbps,
        "mbps_run": bench.get("mbps"),
        "expected_mbps": bench.get("expected_mbps"),
        "delivered_ratio": rnd(mbps / bench["expected_mbps"], 3) if mbps and bench.get("expected_mbps") else None,
        "cpu_pct_per_gbps": rnd(cpu / (mbps / 1000.0), 2) if cpu is not None and mbps else None,
        "latency_ms": bench.get("latency_ms"),
        "ttff_ms": bench.get("ttff_ms"),
        "sessions": bench.get("players"),
        "connected": bench.get("connected"),
        "failed": bench.get("failed"),
        "closed": bench.get("closed"),
        "stalls": bench.get("stalls"),
        "stall_s": bench.get("stall_s"),
        "sequence": bench.get("sequence"),
        "publish": {k: v for k, v in (bench.get("publish") or {}).items() if k != "detail"},
        "rtmpbench_cpu_pct_window": lb.get("cpu_pct"),
        "rtmpbench_self": bench.get("rtmpbench"),
        "cpu_busy_server_core_pct": (cpus.get("cpu%d" % META.get("server_cpu", 0)) or {}).get("busy"),
        "cpu_busy_load_core_pct": (cpus.get("cpu%d" % META.get("load_cpu", 1)) or {}).get("busy"),
        "cpus": cpus,
        "ksoftirqd_server_core_pct": (w.get("ksoftirqd_pct") or {}).get(
            "ksoftirqd/%d" % META.get("server_cpu", 0)),
        "server_exit": exit_status,
        "server_alive_after": run.get("server_alive_after"),
        "server_log": server_log_stats(os.path.join(rdir, "server.log"), kind),
        "rtmpbench_messages": run.get("bench_stderr"),
        "summary_line": run.get("summary_line"),
        "command": run.get("command"),
        "error": run.get("error"),
        "samples": run.get("samples"),
    }
    cmd = run.get("command") or []
    if "--streams" in cmd:
        row["streams"] = int(cmd[cmd.index("--streams") + 1])
    # Latency inside the CPU window, from rtmpbench's per-second progress
    # lines (each line's p50/p99 covers the previous second): a rough view,
    # not a true percentile over the window.
    secs = [x for x in (run.get("samples") or [])
            if w.get("t0_s") is not None and w["t0_s"] < x["t"] <= w["t1_s"] and x.get("lat_p99") is not None]
    if secs:
        p50s = sorted(x["lat_p50"] for x in secs)
        p99s = sorted(x["lat_p99"] for x in secs)
        row["latency_window_ms"] = {"seconds": len(secs), "median_of_p50": p50s[len(p50s) // 2],
                                    "median_of_p99": p99s[len(p99s) // 2], "max_of_p99": p99s[-1]}
    row["notes"] = notes(row)
    return row


def notes(r):
    n = []
    if r.get("error"):
        n.append(r["error"])
    if r.get("failed"):
        n.append("%d failed" % r["failed"])
    if r.get("closed"):
        n.append("%d closed by server" % r["closed"])
    seq = r.get("sequence") or {}
    if seq.get("errors"):
        n.append("%d sequence errors" % seq["errors"])
    if r.get("stalls"):
        n.append("%d stalls (%.1f s)" % (r["stalls"], r.get("stall_s") or 0))
    lb = r.get("rtmpbench_cpu_pct_window")
    if lb is not None and lb >= 90:
        n.append("rtmpbench at %.0f%% CPU: load-bound (players read late; the server waits "
                 "on TCP flow control)" % lb)
    core = r.get("cpu_busy_server_core_pct")
    if core is not None and r.get("cpu_pct") is not None and core - r["cpu_pct"] > 15:
        n.append("server core %.0f%% busy, %.0f%% not the server's" % (core, core - r["cpu_pct"]))
    if core is not None and core >= 97 and not any("not the server's" in x for x in n):
        n.append("server core saturated")
    ks = r.get("ksoftirqd_server_core_pct")
    if ks is not None and ks >= 5:
        n.append("ksoftirqd on the server core %.0f%%" % ks)
    log = r.get("server_log") or {}
    if log.get("frames_dropped"):
        n.append("%d frames dropped" % log["frames_dropped"])
    if r.get("server_exit") not in (None, "0"):
        n.append("server exit %s on SIGTERM" % r["server_exit"])
    if r.get("server_alive_after") is False:
        n.append("server died")
    return n


def pick_floor(floors, mbps):
    """The floor measured at the rate closest (in log) to `mbps`."""
    best = None
    for f in floors:
        if not f.get("sent_mbps") or not mbps:
            continue
        d = abs(math.log(f["sent_mbps"] / mbps))
        if d > math.log(2):  # CPU per Gb/s depends on the rate: compare within 2x only
            continue
        if best is None or d < best[0]:
            best = (d, f)
    return best[1] if best else None


META = {}


NUMERIC = [
    "window_s", "cpu_pct", "cpu_user_pct", "cpu_sys_pct", "server_ctxt_vol_per_s",
    "server_ctxt_invol_per_s", "rss_kib", "rss_idle_kib", "rss_hwm_kib", "players_connected_end",
    "rss_per_player_kib", "mbps_window", "mbps_run", "expected_mbps", "delivered_ratio",
    "cpu_pct_per_gbps", "sessions", "connected", "failed", "closed", "stalls", "stall_s",
    "rtmpbench_cpu_pct_window", "cpu_busy_server_core_pct", "cpu_busy_load_core_pct",
    "ksoftirqd_server_core_pct", "cpu_vs_nginx",
]
DISTS = ["latency_ms", "ttff_ms", "latency_window_ms"]


def median(xs):
    xs = sorted(x for x in xs if x is not None)
    if not xs:
        return None
    m = len(xs) // 2
    return xs[m] if len(xs) % 2 else (xs[m - 1] + xs[m]) / 2.0


def aggregate(group):
    """One row from the rounds of one (scenario, server): medians."""
    group = sorted(group, key=lambda r: r.get("round", 1))
    ok = [r for r in group if r.get("cpu_pct") is not None] or group
    row = {k: v for k, v in ok[0].items() if k not in ("samples", "run", "round")}
    row["rounds"] = len(group)
    row["run"] = "%s__%s" % (row["scenario"], row["server"])
    if len(group) == 1:
        return row
    for k in NUMERIC:
        v = median(r.get(k) for r in ok)
        row[k] = rnd(v, 3) if isinstance(v, float) else v
    for k in DISTS:
        ds = [r.get(k) for r in ok if r.get(k)]
        if ds:
            row[k] = {sk: median(d.get(sk) for d in ds) for sk in ds[0]}
    cpus = [r["cpu_pct"] for r in ok if r.get("cpu_pct") is not None]
    row["cpu_pct_range"] = [min(cpus), max(cpus)] if cpus else None
    row["loadavg_before"] = None
    seq = [r.get("sequence") or {} for r in ok]
    row["sequence"] = {"errors": sum(x.get("errors") or 0 for x in seq),
                       "checked": sum(x.get("checked") or 0 for x in seq)}
    row["notes"] = ["r%d: %s" % (r.get("round", 1), n) for r in group for n in (r.get("notes") or [])]
    row["per_round"] = [{k: r.get(k) for k in (
        "round", "cpu_pct", "cpu_vs_nginx", "rss_per_player_kib", "mbps_window", "latency_ms",
        "ttff_ms", "cpu_busy_server_core_pct", "loadavg_before", "notes")} for r in group]
    return row


FLOOR_NUMERIC = ["sent_mbps", "sender_cpu_pct", "sender_cpu_pct_per_gbps",
                 "sender_cpu_pct_per_gbps_sampled", "receiver_cpu_pct"]


def aggregate_floors(floors):
    """One floor per rate: the medians of its rounds, with the range."""
    by = {}
    for f in floors:
        by.setdefault(f.get("players_equivalent") or 0, []).append(f)
    out = []
    for n in sorted(by):
        group = by[n]
        row = dict(group[0])
        row.pop("round", None)
        row["rounds"] = len(group)
        if len(group) > 1:
            for k in FLOOR_NUMERIC:
                v = median(f.get(k) for f in group)
                row[k] = rnd(v, 3) if isinstance(v, float) else v
            per = [f.get("sender_cpu_pct_per_gbps") for f in group
                   if f.get("sender_cpu_pct_per_gbps") is not None]
            row["sender_cpu_pct_per_gbps_range"] = [min(per), max(per)] if per else None
            row["per_round"] = [{k: f.get(k) for k in ["round"] + FLOOR_NUMERIC} for f in group]
        out.append(row)
    return out


FANOUT_NUMERIC = ["cpu_percent", "writes_per_s", "mbps"]


def aggregate_fanout(runs):
    """One fan-out floor per (players, merge_ms): medians of its rounds."""
    by = {}
    for f in runs:
        by.setdefault((f["players"], f["merge_ms"]), []).append(f)
    out = []
    for key in sorted(by):
        group = by[key]
        row = {k: v for k, v in group[0].items() if k != "round"}
        row["rounds"] = len(group)
        for k in FANOUT_NUMERIC:
            v = median(f.get(k) for f in group)
            row[k] = rnd(v, 3) if isinstance(v, float) else v
        cpus = [f["cpu_percent"] for f in group if f.get("cpu_percent") is not None]
        row["cpu_percent_range"] = [min(cpus), max(cpus)] if cpus else None
        row["short_writes"] = sum(f.get("short_writes") or 0 for f in group)
        row["lagged"] = sum(f.get("lagged") or 0 for f in group)
        row["verified"] = all(f.get("total_written") == f.get("total_received") for f in group)
        out.append(row)
    return out


def pick_fanout(fanout, row):
    """The fan-out floor with the row's players and write pattern: nginx-rtmp
    and rtmpd with merge_ms = 0 write per message, rtmpd_mergeW per window."""
    w = 0
    if row["server"].startswith("rtmpd_merge"):
        w = int(row["server"][len("rtmpd_merge"):] or 0)
    return next((f for f in fanout if f["players"] == row.get("players") and f["merge_ms"] == w),
                None)


def build(runs_dir, rtmpd_bin):
    global META
    META = load(os.path.join(runs_dir, "meta.json")) or {}
    raw, floors, fanout = [], [], []
    for name in sorted(os.listdir(runs_dir)):
        p = os.path.join(runs_dir, name)
        if not os.path.isdir(p):
            continue
        if name.startswith("floor_"):
            f = load(os.path.join(p, "floor.json"))
            if f:
                floors.append(f)
        elif name.startswith("fanout_"):
            f = load(os.path.join(p, "fanout.json"))
            if f and f.get("floor"):
                fanout.append(dict(f["floor"], round=f.get("round", 1)))
        elif "__" in name:
            raw.append(row_from_run(p))
    order_s = list(SCENARIO_NAMES)

    def key(r):
        s = order_s.index(r["scenario"]) if r["scenario"] in order_s else 99
        k = 0 if r["server"] == "rtmpd" else 2 if r["server"] == "nginx_rtmp" else 1
        return (s, k, r["server"])
    # CPU ratio to nginx-rtmp within each round (same minutes, same noise).
    for r in raw:
        ng = next((x for x in raw if x["scenario"] == r["scenario"] and x["server"] == "nginx_rtmp"
                   and x.get("round") == r.get("round")), None)
        r["cpu_vs_nginx"] = (rnd(r["cpu_pct"] / ng["cpu_pct"], 2)
                             if ng and r.get("cpu_pct") is not None and ng.get("cpu_pct") else None)
    groups = {}
    for r in sorted(raw, key=key):
        groups.setdefault((r["scenario"], r["server"]), []).append(r)
    rows = [aggregate(g) for g in groups.values()]
    floors = aggregate_floors(floors)
    for r in rows:
        f = pick_floor(floors, r.get("mbps_window"))
        r["floor_mbps"] = f.get("sent_mbps") if f else None
        fl = f.get("sender_cpu_pct_per_gbps") if f else None
        r["floor_cpu_pct_per_gbps"] = fl
        r["cpu_vs_floor"] = rnd(r["cpu_pct_per_gbps"] / fl, 2) if fl and r.get("cpu_pct_per_gbps") else None
    fanout = aggregate_fanout(fanout)
    for r in rows:
        f = pick_fanout(fanout, r)
        r["fanout_cpu_pct"] = f.get("cpu_percent") if f else None
        r["cpu_vs_fanout"] = (rnd(r["cpu_pct"] / f["cpu_percent"], 2)
                              if f and f.get("cpu_percent") and r.get("cpu_pct") is not None
                              else None)
    machine = machine_info(rtmpd_bin)
    return {
        "generated": time.strftime("%Y-%m-%d %H:%M:%S %z"),
        "meta": META,
        "machine": machine,
        "runs": rows,
        "floor": floors,
        "fanout": fanout,
        "targets": targets(rows, fanout),
        "rounds": raw,
    }


def machine_info(rtmpd_bin):
    model = None
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    debian = None
    try:
        debian = open("/etc/debian_version").read().strip()
    except OSError:
        pass
    pretty = None
    try:
        for line in open("/etc/os-release"):
            if line.startswith("PRETTY_NAME="):
                pretty = line.split("=", 1)[1].strip().strip('"')
    except OSError:
        pass
    mem = None
    try:
        for line in open("/proc/meminfo"):
            if line.startswith("MemTotal:"):
                mem = int(line.split()[1])
    except OSError:
        pass
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    git = cmd_out(["git", "-C", here, "describe", "--always", "--dirty"])
    return {
        "nproc": os.cpu_count(),
        "cpu_model": model,
        "mem_total_kib": mem,
        "kernel": platform.release(),
        "os": pretty,
        "debian_version": debian,
        "nginx": cmd_out(["nginx", "-v"]),
        "libnginx_mod_rtmp": cmd_out(["dpkg-query", "-W", "-f=${Version}", "libnginx-mod-rtmp"]),
        "rtmpd": META.get("rtmpd_version") or (cmd_out([rtmpd_bin, "-V"]) if rtmpd_bin else None),
        "rtmpd_git": META.get("git") or git,
        "rtmpd_sha256_16": META.get("rtmpd_sha256_16"),
        "iperf3": (cmd_out(["iperf3", "--version"]) or "").split("\n")[0],
        "loadavg_end": open("/proc/loadavg").read().split()[:3],
    }


# ---------------------------------------------------------------------------
# Targets (docs/benchmarks.md): one stream, 2000 players (or the largest
# single-stream scenario of the run).

def targets(rows, fanout=()):
    singles = [r for r in rows if r["scenario"].startswith("one_")]
    if not singles:
        return None
    n = max(r["players"] or 0 for r in singles)
    sc = [r for r in singles if r["players"] == n]
    ng = next((r for r in sc if r["server"] == "nginx_rtmp"), None)
    m0 = next((r for r in sc if r["server"] == "rtmpd"), None)
    mw = next((r for r in sc if r["server"].startswith("rtmpd_merge")), None)
    out = {"scenario": sc[0]["scenario"], "players": n, "checks": []}
    # What the kernel alone costs for nginx-rtmp's delivered rate, as a
    # fraction of nginx-rtmp's CPU: no server can have a lower CPU ratio.
    if ng and ng.get("floor_cpu_pct_per_gbps") and ng.get("mbps_window") and ng.get("cpu_pct"):
        floor_cpu = ng["floor_cpu_pct_per_gbps"] * ng["mbps_window"] / 1000.0
        out["floor_cpu_pct"] = round(floor_cpu, 1)
        out["floor_vs_nginx"] = round(floor_cpu / ng["cpu_pct"], 2)
    # What the writes of the window alone cost, with no server at all.
    fw = next((f for f in fanout if f["players"] == n and mw and f["merge_ms"] ==
               int(mw["server"][len("rtmpd_merge"):] or 0)), None)
    if ng and fw and fw.get("cpu_percent") and ng.get("cpu_pct"):
        out["fanout_merge_ms"] = fw["merge_ms"]
        out["fanout_cpu_pct"] = fw["cpu_percent"]
        out["fanout_vs_nginx"] = round(fw["cpu_percent"] / ng["cpu_pct"], 2)
    # The same for a write per player per message (merge_ms = 0), and how long
    # one message's writes to all n players take at that floor: the player
    # written last waits that long before any queueing or transit.
    f0 = next((f for f in fanout if f["players"] == n and f["merge_ms"] == 0), None)
    if f0 and f0.get("cpu_percent") and f0.get("writes_per_s"):
        out["fanout0_cpu_pct"] = f0["cpu_percent"]
        out["fanout0_message_ms"] = round(f0["cpu_percent"] * 10.0 * n / f0["writes_per_s"], 1)
        if ng and ng.get("cpu_pct"):
            out["fanout0_vs_nginx"] = round(f0["cpu_percent"] / ng["cpu_pct"], 2)
        # ... and per Gb/s against the iperf3 floor, as the rows' ×floor.
        floor = (m0 or {}).get("floor_cpu_pct_per_gbps")
        if floor and f0.get("mbps"):
            out["fanout0_vs_floor"] = round(f0["cpu_percent"] / (f0["mbps"] / 1000.0) / floor, 2)

    def add(what, row, value, limit, unit, fmt="%.2f"):
        ok = None if value is None else value <= limit
        out["checks"].append({
            "target": what, "server": row["server_name"] if row else None,
            "value": value, "limit": limit, "unit": unit, "met": ok,
            "text": "-" if value is None else (fmt % value) + unit,
        })

    def lat99(r):
        return ((r or {}).get("latency_ms") or {}).get("p99")

    def ttff99(r):
        return ((r or {}).get("ttff_ms") or {}).get("p99")

    if mw:
        add("CPU ≤ 0.33 × nginx-rtmp (merge window on)", mw, mw.get("cpu_vs_nginx"), 0.33, "×")
        add("latency p99 ≤ 50 ms (merge window on)", mw, lat99(mw), 50, " ms", "%.1f")
    if m0:
        add("CPU ≤ 0.7 × nginx-rtmp (merge_ms = 0)", m0, m0.get("cpu_vs_nginx"), 0.7, "×")
        add("latency p99 ≤ 15 ms (merge_ms = 0)", m0, lat99(m0), 15, " ms", "%.1f")
    for r in (m0, mw):
        if r:
            add("RSS per player ≤ 32 KiB", r, r.get("rss_per_player_kib"), 32, " KiB", "%.1f")
    for r in (m0, mw):
        if r:
            add("TTFF p99 ≤ 100 ms (GOP cache)", r, ttff99(r), 100, " ms", "%.1f")
    for r in (m0, mw):
        if r:
            add("CPU per Gb/s ≤ 2 × iperf3 floor", r, r.get("cpu_vs_floor"), 2, "×")
    return out


# ---------------------------------------------------------------------------
# Rendering

def f1(v, d=1):
    return "-" if v is None else "%.*f" % (d, v)


def cpu_cell(r):
    s = f1(r.get("cpu_pct"))
    rg = r.get("cpu_pct_range")
    if r.get("rounds", 1) > 1 and rg:
        s += " (%s–%s)" % (f1(rg[0]), f1(rg[1]))
    return s


def pair(d, a="p50", b="p99"):
    if not d or d.get(a) is None:
        return "-"
    return "%s / %s" % (f1(d.get(a)), f1(d.get(b)))


def table_md(res):
    rows = res["runs"]
    out = []
    out.append("| scenario | server | players | CPU % | ×nginx | RSS MiB | KiB/player | "
               "Mb/s (of expected) | latency p50 / p99 ms | TTFF p50 / p99 ms | "
               "CPU %/Gb/s | ×floor | ×fan-out | notes |")
    out.append("|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|---|")
    for r in rows:
        sc = SCENARIO_NAMES.get(r["scenario"], r["scenario"])
        if r["scenario"] == "churn" and r.get("churn"):
            cmd = r.get("command") or []
            c = cmd[cmd.index("--churn") + 1] if "--churn" in cmd else "?"
            sc = "churn (%s, ~%s s sessions)" % (r["players"], c)
        mb = "-"
        if r.get("mbps_window") is not None:
            mb = "%.0f" % r["mbps_window"]
            if r.get("delivered_ratio") is not None:
                mb += " (%.0f%%)" % (100 * r["delivered_ratio"])
        rss = "-" if r.get("rss_kib") is None else "%.1f" % (r["rss_kib"] / 1024.0)
        out.append("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
            sc, r.get("server_name", r["server"]),
            f1(r.get("players_connected_end"), 0),
            cpu_cell(r), f1(r.get("cpu_vs_nginx"), 2),
            rss, f1(r.get("rss_per_player_kib")), mb,
            pair(r.get("latency_ms")), pair(r.get("ttff_ms")),
            f1(r.get("cpu_pct_per_gbps")), f1(r.get("cpu_vs_floor"), 2),
            f1(r.get("cpu_vs_fanout"), 2),
            "; ".join(r.get("notes") or []) or ""))
    reps = max([r.get("rounds", 1) for r in rows] or [1])
    if reps > 1:
        out.append("")
        out.append("Each row is the median of %d rounds (the rounds run one after the other, all "
                   "servers in each); CPU shows the range in brackets, ×nginx is the median of "
                   "the per-round ratios, notes are tagged by round." % reps)
    out.append("")
    for f in res["floor"]:
        rng = f.get("sender_cpu_pct_per_gbps_range")
        rounds = (" (median of %d rounds, range %s–%s)" % (f["rounds"], f1(rng[0], 2), f1(rng[1], 2))
                  if rng and f.get("rounds", 1) > 1 else "")
        out.append("Floor (iperf3, loopback, 1 TCP stream, 128 KiB writes, %s players' worth): "
                   "%.0f Mb/s sent, sender %s %% CPU = **%s %% CPU per Gb/s**%s "
                   "(sampled from /proc: %s %%/Gb/s); receiver %s %% CPU." % (
                       f.get("players_equivalent"), f.get("sent_mbps") or 0,
                       f1(f.get("sender_cpu_pct")), f1(f.get("sender_cpu_pct_per_gbps"), 2),
                       rounds, f1(f.get("sender_cpu_pct_per_gbps_sampled"), 2),
                       f1(f.get("receiver_cpu_pct"))))
    for f in res.get("fanout") or []:
        rng = f.get("cpu_percent_range")
        rounds = (" (median of %d rounds, range %s–%s)" % (f["rounds"], f1(rng[0]), f1(rng[1]))
                  if rng and f.get("rounds", 1) > 1 else "")
        how = ("a write per player per message" if not f["merge_ms"]
               else "a write per player per %d ms window" % f["merge_ms"])
        bad = []
        if f.get("short_writes"):
            bad.append("%d short writes" % f["short_writes"])
        if f.get("lagged"):
            bad.append("%d players skipped ahead: the floor did not keep up" % f["lagged"])
        if not f.get("verified"):
            bad.append("bytes received differ from bytes written")
        out.append("Fan-out floor (`rtmpbench --floor`, %d sockets, %s): %.0f writes/s, %.0f Mb/s, "
                   "writer **%s %% CPU**%s%s." % (
                       f["players"], how, f.get("writes_per_s") or 0, f.get("mbps") or 0,
                       f1(f.get("cpu_percent")), rounds, "; " + ", ".join(bad) if bad else ""))
    t = res.get("targets")
    if t:
        out.append("")
        out.append("Targets (1 stream × %d players):" % t["players"])
        out.append("")
        out.append("| target | server | measured | met |")
        out.append("|---|---|--:|:-:|")
        for c in t["checks"]:
            met = "-" if c["met"] is None else ("yes" if c["met"] else "**no**")
            out.append("| %s | %s | %s | %s |" % (c["target"], c["server"], c["text"], met))
        if t.get("floor_vs_nginx") is not None:
            out.append("")
            out.append("The iperf3 floor for nginx-rtmp's delivered rate is %.1f %% CPU, %.2f × "
                       "nginx-rtmp's CPU: the lowest CPU ratio any server could reach here." % (
                           t["floor_cpu_pct"], t["floor_vs_nginx"]))
        if t.get("fanout_vs_nginx") is not None:
            out.append("")
            out.append("The writes a %d ms window implies for %d players cost %s %% CPU with no "
                       "server at all (fan-out floor), %.2f × nginx-rtmp's CPU: the lowest CPU "
                       "ratio a server writing once per player per window could reach here." % (
                           t["fanout_merge_ms"], t["players"], f1(t["fanout_cpu_pct"]),
                           t["fanout_vs_nginx"]))
        if t.get("fanout0_message_ms") is not None:
            out.append("")
            vs = ""
            if t.get("fanout0_vs_nginx") is not None:
                vs = (", %.2f × nginx-rtmp's CPU (the lowest CPU ratio a server writing once per "
                      "player per message could reach here)" % t["fanout0_vs_nginx"])
            out.append("A write per player per message costs %s %% CPU with no server at all%s. "
                       "At that cost one message's writes to all %d players take %.1f ms on "
                       "average: with `merge_ms = 0` the player written last gets each message "
                       "that much later before any queueing or transit, and the 99th percentile "
                       "player %.1f ms.%s" % (
                           f1(t["fanout0_cpu_pct"]), vs, t["players"], t["fanout0_message_ms"],
                           0.99 * t["fanout0_message_ms"],
                           "" if t.get("fanout0_vs_floor") is None else
                           " Per Gb/s these writes cost %.2f × the iperf3 floor." %
                           t["fanout0_vs_floor"]))
    loads = [(r["run"], r.get("loadavg_before")) for r in res.get("rounds") or rows
             if r.get("loadavg_before")]
    meta = res.get("meta") or {}
    if loads:
        la = [float(l[1][0]) for l in loads]
        out.append("")
        s = "Load average (1 min) before the runs: %.2f to %.2f" % (min(la), max(la))
        bb = meta.get("busy_before_pct")
        if bb:
            s += ("; before starting, other work kept CPU %s %s%% busy and CPU %s %s%% busy" % (
                meta.get("server_cpu"), bb.get("server_cpu"), meta.get("load_cpu"), bb.get("load_cpu")))
        out.append(s + ".")
    return "\n".join(out) + "\n"


def docs_md(res, table):
    m = res["machine"]
    meta = res["meta"]
    floor = res["floor"]
    t = res.get("targets") or {}
    fl2000 = next((f for f in floor if f.get("players_equivalent") == 2000), None)
    lines = []
    lines.append("# Benchmarks")
    lines.append("")
    lines.append("Measured by `scripts/bench.sh` (this file is rewritten by `scripts/bench.sh "
                 "--write-docs`; do not edit the numbers by hand). rtmpd and nginx-rtmp are "
                 "started one after the other on the same machine, each pinned to one CPU, and "
                 "loaded by `rtmpbench` pinned to another; an iperf3 run over loopback gives the "
                 "kernel's own cost of moving the same bytes, and `rtmpbench --floor` the cost of "
                 "making the same fan-out's socket writes with no server. The numbers are "
                 "measurements, "
                 "never pass/fail: compare the ratios, which are taken within one run.")
    lines.append("")
    lines.append("## How to run")
    lines.append("")
    lines.append("```sh")
    lines.append("scripts/bench.sh --quick        # ~2.5 minutes: 100 and 500 players, 100x10, short churn")
    lines.append("scripts/bench.sh                # full run (~15 minutes): adds 2000 players, 30 s windows")
    lines.append("scripts/bench.sh --write-docs   # full run, then rewrite this file")
    lines.append("scripts/bench.sh --repeat 3     # 3 rounds, medians (~43 minutes; the floors too): for a noisy machine")
    lines.append("scripts/bench.sh --only one_2000,churn   # some scenarios only")
    lines.append("RTMPD_BIN=/path/rtmpd scripts/bench.sh --no-build   # measure another build")
    lines.append("```")
    lines.append("")
    lines.append("It builds (`scripts/bootstrap.sh`), installs the benchmark-only packages if "
                 "missing (nginx, libnginx-mod-rtmp, iperf3), encodes the test media once "
                 "(`build/media/bench_720p30_gop2_40s.flv`: 720p30 x264 2.5 Mb/s + AAC 128 kb/s, "
                 "keyframe every 2 s, no B-frames, 40 s, looped by the publisher), prints the "
                 "table and writes `build/bench/results.json` (everything, including per-second "
                 "samples), `build/bench/table.md` and per-run logs under `build/bench/runs/`.")
    lines.append("")
    lines.append("## Latest run")
    lines.append("")
    lines.append("Command: `%s` (%s mode), %s." % (meta.get("command"), meta.get("mode"),
                                                   meta.get("started")))
    lines.append("")
    lines.append("| | |")
    lines.append("|---|---|")
    lines.append("| machine | %s CPUs, %s, %.1f GiB RAM |" % (
        m.get("nproc"), m.get("cpu_model"), (m.get("mem_total_kib") or 0) / 1048576.0))
    lines.append("| kernel | Linux %s |" % m.get("kernel"))
    lines.append("| OS | %s (Debian %s) |" % (m.get("os"), m.get("debian_version")))
    lines.append("| rtmpd | %s (git %s, binary sha256 %s…) |" % (
        m.get("rtmpd"), m.get("rtmpd_git"), m.get("rtmpd_sha256_16")))
    lines.append("| nginx-rtmp | %s, libnginx-mod-rtmp %s |" % (
        (m.get("nginx") or "").replace("nginx version: ", ""), m.get("libnginx_mod_rtmp")))
    lines.append("| iperf3 | %s |" % m.get("iperf3"))
    lines.append("| pinning | server on CPU %s, rtmpbench (and the iperf3 receiver) on CPU %s |" % (
        meta.get("server_cpu"), meta.get("load_cpu")))
    lines.append("| runs | connect rate %s players/s; window starts %s s after the last player "
                 "connected and lasts ~%s s; latency excludes each player's first %s s |" % (
                     meta.get("rate"), meta.get("settle_s"), meta.get("window_s"),
                     meta.get("warmup_s")))
    lines.append("")
    lines.append(table)
    if t and t.get("checks"):
        lines.append("### Ratios (1 stream × %d players)" % t["players"])
        lines.append("")
        for c in t["checks"]:
            if "nginx" in c["target"]:
                lines.append("- CPU, %s / nginx-rtmp: **%s** (target ≤ %s)." % (
                    c["server"], c["text"], c["limit"]))
            elif "floor" in c["target"]:
                lines.append("- CPU per Gb/s, %s / iperf3 floor: **%s** (target ≤ %s)." % (
                    c["server"], c["text"], c["limit"]))
        lines.append("")
    lines.append("The targets rtmpd must eventually meet (one stream, 2000 players): CPU ≤ 0.33 × "
                 "nginx-rtmp's with latency p99 ≤ 50 ms with a merge window; CPU ≤ 0.7 × "
                 "nginx-rtmp's with p99 ≤ 15 ms with `queue.merge_ms = 0`; RSS per player ≤ "
                 "32 KiB; TTFF p99 ≤ 100 ms with the GOP cache; CPU per Gb/s within 2 × the "
                 "iperf3 floor.")
    lines.append("")
    lines.append("## How to read this")
    lines.append("")
    lines.append("- **CPU %** is the server process's user + system time (`/proc/PID/stat`) over "
                 "the measured window, as a percentage of one core. The window starts after "
                 "every player connected and received its first frames (the connect ramp and the "
                 "GOP-cache bursts are excluded) and ends with the run. On loopback the sender "
                 "also pays for most of the receiving TCP stack (softirq in its own context), so "
                 "this is mostly kernel time for both servers. **×nginx** is rtmpd's CPU divided "
                 "by nginx-rtmp's in the same scenario and the same run.")
    lines.append("- **RSS** is VmRSS at the end of the window; **KiB/player** is (RSS − RSS of "
                 "a fresh server of the same kind with only the publisher(s) connected) / players "
                 "connected. Each scenario starts a fresh server; the publisher-only RSS is "
                 "measured once per round for each server and stream count (it varies by "
                 "~0.1 MiB between fresh servers).")
    lines.append("- **Mb/s** is the payload the players received during the window (rtmpbench's "
                 "per-second progress), and in brackets its share of players × the file's bit "
                 "rate. Under 100% means the server (or rtmpbench) did not keep up, or dropped "
                 "frames; with churn, a server with a GOP cache delivers more than 100% (each "
                 "new player gets a burst).")
    lines.append("- **latency** is rtmpbench's: publisher `send` of a frame's last byte to "
                 "the player's kernel receiving it (the socket's receive timestamp), through "
                 "the server, over the whole run except each player's first seconds (the "
                 "cached GOP is old by design). The time the frame then waits for rtmpbench to "
                 "read it is not counted. When rtmpbench is near 100% of its core (noted in "
                 "the table) its players read late, their socket buffers fill and the server "
                 "is held back by TCP flow control: the server's CPU, Mb/s and latency are "
                 "then partly the load generator's.")
    lines.append("- **TTFF** is time to first frame: TCP connect start to the first complete "
                 "video keyframe. rtmpd sends the cached GOP at once; nginx-rtmp (no GOP cache) "
                 "makes a player wait for the next keyframe, up to the 2 s GOP.")
    lines.append("- **CPU %/Gb/s** is CPU % divided by the delivered Gb/s; **×floor** divides it "
                 "by iperf3's sender CPU per Gb/s over loopback at a similar total rate with "
                 "128 KiB writes on one connection: the cost of just moving these bytes through "
                 "the kernel, which no server can beat. Thousands of sockets with smaller writes "
                 "cost more per byte than one socket, so ×floor ≈ 1 is out of reach; 2 is the "
                 "target.")
    lines.append("- **×fan-out** divides CPU % by the fan-out floor's at the same player count: "
                 "`rtmpbench --floor` (docs/rtmpbench.md) makes the socket writes the fan-out "
                 "implies and nothing else, writer on the server's CPU and reader on the load's: "
                 "one write per player per message for nginx-rtmp and rtmpd with "
                 "`merge_ms = 0`, one per player per window for rtmpd with a window. It is what "
                 "that write pattern costs in the kernel; what a server spends above it is its "
                 "own work (a server that coalesces more than the pattern, as rtmpd does when "
                 "its loop is busy, can come in under it).")
    lines.append("- With thousands of players, a server's CPU depends on how much it writes per "
                 "system call: a server that falls behind writes bigger batches, spends less CPU "
                 "per byte and shows a higher latency; one that keeps up writes about one frame "
                 "per call. Read CPU together with latency, never alone.")
    lines.append("- The machine is shared: the load average before each run and each core's "
                 "total busy time are in `results.json` (`loadavg_before`, `cpus`), and the "
                 "notes column flags runs where more than 15% of the server's core went to "
                 "other processes. Between two full runs on this shared machine the same row "
                 "moved by up to ~15%: use `--repeat 3` (medians) before trusting a smaller "
                 "difference.")
    lines.append("")
    if fl2000:
        lines.append("The floor at the 2000-player rate (%.0f Mb/s) is %s %% of a core per Gb/s "
                     "(%s %% for %.0f Mb/s)." % (fl2000.get("sent_mbps") or 0,
                                                  f1(fl2000.get("sender_cpu_pct_per_gbps"), 2),
                                                  f1(fl2000.get("sender_cpu_pct")),
                                                  fl2000.get("sent_mbps") or 0))
        lines.append("")
    return "\n".join(lines)


def brief(rdir):
    r = row_from_run(rdir)
    lat = r.get("latency_ms") or {}
    tt = r.get("ttff_ms") or {}
    s = ("cpu %s%% rss %s MiB (%s KiB/player) %s/%s Mb/s latency p50 %s p99 %s ms ttff p99 %s ms "
         "players %s rtmpbench %s" % (
             f1(r.get("cpu_pct")), f1((r.get("rss_kib") or 0) / 1024.0),
             f1(r.get("rss_per_player_kib")), f1(r.get("mbps_window"), 0),
             f1(r.get("expected_mbps"), 0), f1(lat.get("p50")), f1(lat.get("p99")),
             f1(tt.get("p99")), r.get("players_connected_end"),
             f1(r.get("rtmpbench_cpu_pct_window"), 0) + "%"))
    if r.get("notes"):
        s += " [" + "; ".join(r["notes"]) + "]"
    return s


def main():
    global META
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs")
    ap.add_argument("--json")
    ap.add_argument("--table")
    ap.add_argument("--docs")
    ap.add_argument("--rtmpd")
    ap.add_argument("--brief")
    a = ap.parse_args()
    if a.brief:
        META = load(os.path.join(os.path.dirname(a.brief), "meta.json")) or {}
        print(brief(a.brief))
        return 0
    if not a.runs:
        ap.error("--runs is required")
    res = build(a.runs, a.rtmpd)
    table = table_md(res)
    if a.json:
        with open(a.json, "w") as f:
            json.dump(res, f, indent=1)
    if a.table:
        with open(a.table, "w") as f:
            f.write(table)
    if a.docs:
        with open(a.docs, "w") as f:
            f.write(docs_md(res, table))
    sys.stdout.write(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
