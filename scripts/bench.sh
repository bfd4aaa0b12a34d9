#!/usr/bin/env bash
# Benchmarks rtmpd against nginx-rtmp (Debian's nginx + libnginx-mod-rtmp)
# and against the kernel's own cost of moving the same bytes (iperf3 over
# loopback) and of making the same fan-out's writes with no server
# (rtmpbench --floor), on this machine, in one run. Never a pass/fail test:
# it prints measurements and ratios.
#
#   scripts/bench.sh                full run: 1 stream x 100/500/2000 players,
#                                   100 streams x 10 players, churn; 30 s windows
#   scripts/bench.sh --quick        smaller and shorter (<= 3 min on 2 cores)
#   scripts/bench.sh --write-docs   full run, then rewrite docs/benchmarks.md
#   --no-build                      skip scripts/bootstrap.sh (binaries must exist)
#   --only LIST                     run only these scenarios (comma separated ids:
#                                   one_100,one_500,one_2000,multi_100x10,churn)
#   --repeat N                      N rounds of every run (default 1); the table
#                                   shows medians (and the CPU range): use it on
#                                   a shared, noisy machine
#
# Environment: BUILD_DIR (default build), RTMPD_BIN and RTMPBENCH_BIN (the
# binaries to measure; default BUILD_DIR/rtmpd, BUILD_DIR/rtmpbench; with
# --no-build, e.g. a build of a given commit), BENCH_SERVER_CPU (0) and
# BENCH_LOAD_CPU (1): the CPUs the server and the load are pinned to,
# BENCH_KEEP_TMP=1 keeps the temporary directory (configs).
#
# Output: the markdown table on stdout; build/bench/results.json (everything
# measured), build/bench/table.md, and per-run logs in build/bench/runs/.
# Each server is started, loaded and stopped one after the other, pinned to
# BENCH_SERVER_CPU; rtmpbench runs pinned to BENCH_LOAD_CPU. Everything this
# script starts is stopped by PID on exit or Ctrl-C (never by name).
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
build_dir=${BUILD_DIR:-$here/build}
out_dir=$build_dir/bench
server_cpu=${BENCH_SERVER_CPU:-0}
load_cpu=${BENCH_LOAD_CPU:-1}
invocation="scripts/bench.sh${*:+ $*}"

mode=full
write_docs=0
do_build=1
only=""
repeat=1
while (($#)); do
  case "$1" in
    --quick) mode=quick ;;
    --write-docs) write_docs=1 ;;
    --no-build) do_build=0 ;;
    --only) shift; only=${1:-} ;;
    --only=*) only=${1#--only=} ;;
    --repeat) shift; repeat=${1:-} ;;
    --repeat=*) repeat=${1#--repeat=} ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "bench: unknown option '$1' (see --help)" >&2; exit 2 ;;
  esac
  shift
done
[[ $repeat =~ ^[1-9][0-9]*$ ]] || { echo "bench: --repeat needs a positive integer" >&2; exit 2; }
if ((write_docs)) && [ "$mode" = quick ]; then
  echo "bench: --write-docs needs the full run (the docs must not carry --quick numbers)" >&2
  exit 2
fi

say() { printf '[%s] bench: %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
fail() { printf '[%s] bench: error: %s\n' "$(date +%H:%M:%S)" "$*" >&2; exit 1; }

# --- parameters -------------------------------------------------------------

# Scenarios: id players streams churn_s. Durations: each run lasts the
# connect ramp (players / rate) + settle + window (+ slack); the measured
# window starts `settle` seconds after the last player connected.
if [ "$mode" = quick ]; then
  scenarios=("one_100 100 1 0" "one_500 500 1 0" "multi_100x10 1000 100 0" "churn 200 1 3")
  rate=500; settle=2; window=4; warmup=2; idle_s=2.2; floor_s=3
else
  scenarios=("one_100 100 1 0" "one_500 500 1 0" "one_2000 2000 1 0"
             "multi_100x10 1000 100 0" "churn 500 1 10")
  rate=200; settle=3; window=30; warmup=3; idle_s=3; floor_s=10
fi
floor_players=2000   # iperf3 runs at the 2000-player scenario's total bit rate
# The merge-window variant of rtmpd: 40 ms is the widest window that keeps
# the server-added latency p99 within the 50 ms target (it is ~ the window).
merge_ms=${BENCH_MERGE_MS:-40}
servers=("rtmpd" "rtmpd_merge${merge_ms}" "nginx_rtmp")
if [ -n "$only" ]; then
  kept=()
  for s in "${scenarios[@]}"; do
    case ",$only," in *",${s%% *},"*) kept+=("$s") ;; esac
  done
  ((${#kept[@]})) || fail "--only '$only' matches no scenario"
  scenarios=("${kept[@]}")
fi

# --- dependencies and build -------------------------------------------------

bench_packages=(nginx libnginx-mod-rtmp iperf3 util-linux iproute2 python3)
missing=()
for p in "${bench_packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
if ((${#missing[@]})); then
  say "installing ${missing[*]}"
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq || fail "apt-get update failed"
  $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" ||
    fail "apt-get install ${missing[*]} failed"
fi

if ((do_build)); then
  say "building (scripts/bootstrap.sh)"
  BUILD_DIR=$build_dir "$here/scripts/bootstrap.sh" >&2 || fail "scripts/bootstrap.sh failed"
fi

rtmpd=${RTMPD_BIN:-$build_dir/rtmpd}
rtmpbench=${RTMPBENCH_BIN:-$build_dir/rtmpbench}
rtmp_module=/usr/lib/nginx/modules/ngx_rtmp_module.so
[ -x "$rtmpd" ] || fail "$rtmpd is missing (run without --no-build)"
[ -x "$rtmpbench" ] || fail "$rtmpbench is missing (run without --no-build)"
[ -f "$rtmp_module" ] || fail "$rtmp_module is missing (libnginx-mod-rtmp)"
for t in nginx iperf3 taskset ffmpeg ss python3 flock; do
  command -v "$t" >/dev/null || fail "'$t' is not installed"
done
ncpu=$(nproc)
((ncpu >= 2)) || fail "needs 2 CPUs (server and load pinned apart); this machine has $ncpu"
for c in "$server_cpu" "$load_cpu"; do
  taskset -c "$c" true 2>/dev/null || fail "cannot pin to CPU $c (taskset -c $c)"
done

# 2000 players need ~2000 fds in rtmpbench and as many in the server.
max_players=0
for s in "${scenarios[@]}"; do
  read -r _ n _ _ <<<"$s"
  ((n > max_players)) && max_players=$n
done
need_fds=$((max_players * 2 + 256))
hard=$(ulimit -Hn)
if [ "$hard" != unlimited ] && ((hard < need_fds)); then
  ulimit -Hn "$need_fds" 2>/dev/null || fail "ulimit -n: hard limit $hard < $need_fds and cannot be raised"
  hard=$need_fds
fi
ulimit -n "$hard" 2>/dev/null || fail "cannot raise ulimit -n to $hard"
nofile=$(ulimit -n)
[ "$nofile" = unlimited ] && nofile=1048576

# --- process bookkeeping ----------------------------------------------------

stop_pid() {  # stop_pid PID: SIGTERM, wait up to 10 s, then SIGKILL; sets stop_status
  local pid=$1 i
  stop_status=""
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 100; i++)); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
      say "pid $pid did not stop within 10 s of SIGTERM: SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
      stop_status=killed
    fi
  fi
  local rc=0
  wait "$pid" 2>/dev/null || rc=$?
  [ -n "$stop_status" ] || stop_status=$rc
  local keep=()
  for p in "${pids[@]}"; do [ "$p" = "$pid" ] || keep+=("$p"); done
  pids=(${keep[@]+"${keep[@]}"})
}

# shellcheck disable=SC2317  # run by the EXIT trap
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  for pid in ${pids[@]+"${pids[@]}"}; do
    kill -0 "$pid" 2>/dev/null && say "stopping pid $pid"
    stop_pid "$pid"
  done
  if [ -z "${tmp:-}" ]; then
    :
  elif [ "${BENCH_KEEP_TMP:-0}" = 1 ]; then
    say "kept $tmp"
  else
    rm -rf "$tmp"
  fi
  exit "$rc"
}

tmp=$(mktemp -d /tmp/rtmpd-bench.XXXXXX) || fail "mktemp failed"
pids=()
trap cleanup EXIT
trap 'say "interrupted"; exit 130' INT TERM

# Measure a snapshot of the binaries: a rebuild of build/ by someone else
# during the run must not change what later runs measure.
mkdir -p "$tmp/bin"
cp "$rtmpd" "$tmp/bin/rtmpd" && cp "$rtmpbench" "$tmp/bin/rtmpbench" ||
  fail "cannot copy the binaries to $tmp/bin"
rtmpd_sha=$(sha256sum "$tmp/bin/rtmpd" | cut -c1-16)
rtmpd=$tmp/bin/rtmpd
rtmpbench=$tmp/bin/rtmpbench
git_rev=$(git -C "$here" describe --always --dirty 2>/dev/null || echo unknown)

# --- test media (encoded once, cached) ---------------------------------------

# The recipe of tests/integration/harness.py MEDIA["h264_720p_gop2.flv"]
# (720p30 x264 ~2.5 Mb/s, AAC 128 kb/s, keyframe every 2 s, no B-frames),
# 40 s long instead of 20.
media_dir=$build_dir/media
media=$media_dir/bench_720p30_gop2_40s.flv
mkdir -p "$media_dir"
(
  flock 9
  if [ ! -s "$media" ]; then
    say "encoding $media (once; cached for later runs)"
    ffmpeg -nostdin -hide_banner -loglevel error -y \
      -f lavfi -i testsrc2=size=1280x720:rate=30 \
      -f lavfi -i sine=frequency=440:sample_rate=44100 \
      -t 40 -c:v libx264 -preset veryfast -tune zerolatency \
      -b:v 2500k -maxrate 2500k -bufsize 5000k -pix_fmt yuv420p \
      -g 60 -keyint_min 60 -sc_threshold 0 -bf 0 \
      -c:a aac -b:a 128k -ar 44100 -ac 2 -f flv "$media.tmp" ||
      { rm -f "$media.tmp"; exit 1; }
    mv "$media.tmp" "$media"
  fi
) 9>"$media.lock" || fail "ffmpeg could not encode $media"

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

listening() {  # listening PORT: true when a TCP socket listens on 127.0.0.1:PORT
  [ -n "$(ss -Hltn "sport = :$1" 2>/dev/null)" ]
}

# wait_listening PORT PID: waits up to 10 s for PORT to listen; false when it
# does not, or when PID exits first.
wait_listening() {
  local port=$1 pid=$2 i
  for ((i = 0; i < 100; i++)); do
    listening "$port" && return 0
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  listening "$port"
}

# start_server KIND DIR: starts rtmpd / rtmpd_mergeN / nginx_rtmp pinned to
# server_cpu; sets server_pid and server_port, server_log.
start_server() {
  local kind=$1 dir=$2 i
  mkdir -p "$dir"
  server_pid="" server_port=""
  case "$kind" in
    rtmpd*)
      local merge=0
      [[ $kind == rtmpd_merge* ]] && merge=${kind#rtmpd_merge}
      # The defaults, with queue.merge_ms set, and the HTTP listener off (its
      # default 127.0.0.1:8080 would collide with other rtmpd instances on
      # this machine); builds without an http section reject that key, so
      # they get the file without it.
      local base="log = { level = \"info\"; access_log = \"stderr\"; };
apps = ( { name = \"live\"; queue = { merge_ms = $merge; }; } );"
      printf '# generated by scripts/bench.sh: the defaults, queue.merge_ms = %s, no HTTP\n%s\nhttp = { listen = [ ]; };\n' \
        "$merge" "$base" >"$dir/rtmpd.conf"
      if ! "$rtmpd" -t -c "$dir/rtmpd.conf" >/dev/null 2>"$dir/check.log"; then
        printf '# generated by scripts/bench.sh: the defaults, queue.merge_ms = %s\n%s\n' \
          "$merge" "$base" >"$dir/rtmpd.conf"
        "$rtmpd" -t -c "$dir/rtmpd.conf" >/dev/null 2>"$dir/check.log" ||
          fail "rtmpd -t rejects the generated config: $(cat "$dir/check.log")"
      fi
      server_log=$dir/rtmpd.log
      : >"$server_log"
      taskset -c "$server_cpu" "$rtmpd" -c "$dir/rtmpd.conf" -l 127.0.0.1:0 \
        </dev/null >/dev/null 2>"$server_log" &
      server_pid=$!
      pids+=("$server_pid")
      for ((i = 0; i < 100; i++)); do
        server_port=$(sed -n 's/.*listening on [^ ]* (port \([0-9]*\)).*/\1/p' "$server_log" 2>/dev/null | head -1 || true)
        [ -n "$server_port" ] && break
        kill -0 "$server_pid" 2>/dev/null || break
        sleep 0.1
      done
      ;;
    nginx_rtmp)
      server_port=$(free_port)
      mkdir -p "$dir/logs"
      cat >"$dir/nginx.conf" <<EOF
# generated by scripts/bench.sh: a private nginx-rtmp instance
load_module $rtmp_module;
daemon off;
master_process off;
worker_processes 1;
worker_rlimit_nofile $nofile;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
events { worker_connections $((max_players * 2 + 1024)); }
rtmp {
    access_log $dir/rtmp_access.log;
    server {
        listen 127.0.0.1:$server_port;
        chunk_size 4096;
        application live { live on; }
    }
}
EOF
      nginx -t -p "$dir" -c "$dir/nginx.conf" -e "$dir/error.log" >"$dir/check.log" 2>&1 ||
        fail "nginx -t rejects the generated config: $(cat "$dir/check.log")"
      server_log=$dir/error.log
      taskset -c "$server_cpu" nginx -p "$dir" -c "$dir/nginx.conf" -e "$dir/error.log" \
        </dev/null >"$dir/stdout.log" 2>&1 &
      server_pid=$!
      pids+=("$server_pid")
      wait_listening "$server_port" "$server_pid" || server_port=""
      ;;
    *) fail "unknown server kind $kind" ;;
  esac
  if [ -z "$server_port" ] || ! kill -0 "$server_pid" 2>/dev/null; then
    fail "$kind did not start listening within 10 s; log: $(tail -5 "$server_log" 2>/dev/null)"
  fi
}

# --- the physical floor: iperf3 over loopback ---------------------------------

# measure_floors ROUND: iperf3 at the 2000-player rate and at each scenario's
# own rate (CPU per Gb/s depends on the rate, so each row is compared with
# the floor nearest its rate). Run once per round, like the servers: the
# floor moves with the machine's noise too, and the report takes medians.
measure_floors() {
  local round=$1 np rate_mbps port fdir ipid bitrate_kbps floor_list s n
  bitrate_kbps=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["publish"]["file_bitrate_kbps"])' \
    "$out_dir/runs/${scenarios[0]%% *}__rtmpd__r1/idle.bench.json") ||
    fail "cannot read the media bit rate from rtmpbench's JSON"
  # --quick has no 2000-player scenario: only the scenarios' own rates (time limit)
  floor_list=()
  [ "$mode" = quick ] || floor_list=("$floor_players")
  for s in "${scenarios[@]}"; do
    read -r _ n _ _ <<<"$s"
    [[ " ${floor_list[*]} " == *" $n "* ]] || floor_list+=("$n")
  done
  for np in "${floor_list[@]}"; do
    rate_mbps=$(python3 -c "print(round($np * $bitrate_kbps / 1000.0))")
    port=$(free_port)
    fdir=$out_dir/runs/floor_${np}__r${round}
    mkdir -p "$fdir"
    say "floor r$round: iperf3 at $rate_mbps Mb/s ($np players' worth), 128 KiB writes, receiver cpu $load_cpu, sender cpu $server_cpu, ${floor_s} s"
    taskset -c "$load_cpu" iperf3 -s -1 -p "$port" -B 127.0.0.1 >"$fdir/iperf3_server.log" 2>&1 </dev/null &
    ipid=$!
    pids+=("$ipid")
    wait_listening "$port" "$ipid" || fail "iperf3 -s did not listen on port $port: $(cat "$fdir/iperf3_server.log")"
    python3 "$here/scripts/bench_run.py" iperf --out "$fdir/floor.json" --rate-mbps "$rate_mbps" \
      --seconds "$floor_s" --port "$port" --client-cpu "$server_cpu" ||
      fail "the iperf3 floor run failed"
    python3 - "$fdir/floor.json" "$np" "$round" <<'PY'
import json, sys
j = json.load(open(sys.argv[1]))
j["players_equivalent"] = int(sys.argv[2])
j["round"] = int(sys.argv[3])
json.dump(j, open(sys.argv[1], "w"), indent=1)
PY
    stop_pid "$ipid"
  done
}

# --- the fan-out floor: the same writes without a server ------------------------

# measure_fanout ROUND: for each scenario's player count, `rtmpbench --floor`
# makes the socket writes a fan-out of the test media to that many players
# implies, with no server: one per player per message (merge 0) and one per
# player per merge window (--quick: only at the largest one-stream scenario). Its writer runs on the server's CPU, its reader on
# the load's, like the servers and rtmpbench.
measure_fanout() {
  local round=$1 n w fdir s streams churn top=0 done_list=()
  for s in "${scenarios[@]}"; do
    read -r _ n streams churn <<<"$s"
    ((streams == 1 && churn == 0 && n > top)) && top=$n
  done
  for s in "${scenarios[@]}"; do
    read -r _ n _ _ <<<"$s"
    [[ " ${done_list[*]} " == *" $n "* ]] && continue
    # --quick: only the player count the targets are read at (time limit)
    [ "$mode" = quick ] && ((top > 0 && n != top)) && continue
    done_list+=("$n")
    for w in 0 "$merge_ms"; do
      fdir=$out_dir/runs/fanout_${n}_m${w}__r${round}
      mkdir -p "$fdir"
      say "fan-out floor r$round: $n sockets, merge $w ms, writer cpu $server_cpu, reader cpu $load_cpu, ${floor_s} s"
      taskset -c "$server_cpu" "$rtmpbench" --floor -n "$n" --file "$media" --merge-ms "$w" \
        --warmup 2 --duration $((floor_s + 2)) --reader-cpu "$load_cpu" \
        --json "$fdir/fanout.json" >"$fdir/fanout.out" 2>&1 ||
        fail "the fan-out floor run failed: $(tail -3 "$fdir/fanout.out")"
      python3 - "$fdir/fanout.json" "$round" <<'PY'
import json, sys
j = json.load(open(sys.argv[1]))
j["round"] = int(sys.argv[2])
json.dump(j, open(sys.argv[1], "w"), indent=1)
PY
    done
  done
}

# --- the runs ---------------------------------------------------------------

rm -rf "$out_dir/runs"
mkdir -p "$out_dir/runs"
meta=$out_dir/runs/meta.json
python3 - "$meta" <<EOF || fail "cannot write $meta"
import json, sys
json.dump({
  "mode": "$mode", "command": "$invocation", "server_cpu": $server_cpu, "load_cpu": $load_cpu,
  "rate": $rate, "settle_s": $settle, "window_s": $window, "warmup_s": $warmup,
  "merge_ms": $merge_ms, "media": "$media", "nofile": "$nofile", "repeat": $repeat,
  "rtmpd_version": "$("$rtmpd" -V 2>&1 | head -1)", "rtmpd_sha256_16": "$rtmpd_sha", "git": "$git_rev",
  "started": __import__("time").strftime("%Y-%m-%d %H:%M:%S %z"),
}, open(sys.argv[1], "w"), indent=1)
EOF

# How busy are the two CPUs before we start? (Others' work on them makes
# every number noisier; it is recorded, and each run notes it again.)
busy=$(python3 - "$server_cpu" "$load_cpu" <<'EOF'
import sys, time
def rd():
    out = {}
    for line in open("/proc/stat"):
        p = line.split()
        if p[0].startswith("cpu") and p[0] != "cpu":
            out[p[0]] = [int(x) for x in p[1:9]]
    return out
a = rd(); time.sleep(1.0); b = rd()
res = []
for c in sys.argv[1:]:
    d = [y - x for x, y in zip(a["cpu" + c], b["cpu" + c])]
    res.append("%d" % round(100.0 * (sum(d) - d[3] - d[4]) / (sum(d) or 1)))
print(" ".join(res))
EOF
) || fail "cannot read /proc/stat"
read -r busy_server busy_load <<<"$busy"
if ((busy_server > 20 || busy_load > 20)); then
  say "warning: before starting, CPU $server_cpu is ${busy_server}% busy and CPU $load_cpu ${busy_load}% busy with other work: expect noisy numbers"
fi
python3 - "$meta" "$busy_server" "$busy_load" "$(cut -d' ' -f1-3 /proc/loadavg)" <<'EOF'
import json, sys
m = json.load(open(sys.argv[1]))
m["busy_before_pct"] = {"server_cpu": int(sys.argv[2]), "load_cpu": int(sys.argv[3])}
m["loadavg_start"] = sys.argv[4].split()
json.dump(m, open(sys.argv[1], "w"), indent=1)
EOF

start_time=$SECONDS
for ((round = 1; round <= repeat; round++)); do
declare -A idle_run=()   # kind_streams -> the run of this round that measured the idle RSS
for s in "${scenarios[@]}"; do
  read -r sid n streams churn <<<"$s"
  ramp=$(((n + rate - 1) / rate))
  s_settle=$settle
  ((churn > 0)) && s_settle=$((churn > settle ? churn : settle))
  duration=$((ramp + s_settle + window + 1))
  for kind in "${servers[@]}"; do
    run=${sid}__${kind}__r${round}
    rdir=$out_dir/runs/$run
    mkdir -p "$rdir"
    start_server "$kind" "$tmp/$run"
    url=rtmp://127.0.0.1:$server_port/live/s
    say "$run: $kind pid $server_pid port $server_port (cpu $server_cpu); load $n players x $streams stream(s)$( ((churn > 0)) && echo ", churn $churn s"), ${duration} s (cpu $load_cpu), load average $(cut -d' ' -f1-3 /proc/loadavg)"

    # The idle server: publisher(s) only, for the RSS baseline. A fresh
    # server of one kind with the same streams idles at the same RSS (within
    # ~0.1 MiB across runs), so a round measures it once per kind and stream
    # count and later scenarios reuse it (idle.json says from which run).
    idle_key=${kind}_${streams}
    if [ -n "${idle_run[$idle_key]:-}" ]; then
      python3 - "$out_dir/runs/${idle_run[$idle_key]}" "$rdir" "${idle_run[$idle_key]}" <<'PY' ||
import json, os, shutil, sys
src, dst, name = sys.argv[1:4]
shutil.copy(os.path.join(src, "idle.bench.json"), os.path.join(dst, "idle.bench.json"))
j = json.load(open(os.path.join(src, "idle.json")))
j["reused_from"] = name
json.dump(j, open(os.path.join(dst, "idle.json"), "w"), indent=1)
PY
        fail "$run: cannot reuse the idle run ${idle_run[$idle_key]}"
    else
      python3 "$here/scripts/bench_run.py" load --server-pid "$server_pid" --label "$run idle" \
        --out "$rdir/idle.json" --players 0 --settle 0 --bench-json "$rdir/idle.bench.json" \
        --stderr-log "$rdir/idle.bench.log" -- \
        taskset -c "$load_cpu" "$rtmpbench" --publish "$url" --file "$media" --streams "$streams" \
        --duration "$idle_s" --json "$rdir/idle.bench.json" >/dev/null ||
        fail "$run: the idle (publisher only) run failed; see $rdir/idle.bench.log and $server_log"
      idle_run[$idle_key]=$run
    fi

    args=(--publish "$url" --play "$url" --file "$media" -n "$n" --streams "$streams"
          --rate "$rate" --duration "$duration" --warmup "$warmup" --json "$rdir/bench.json")
    run_opts=(--players "$n" --settle "$s_settle")
    if ((churn > 0)); then
      args+=(--churn "$churn")
      run_opts+=(--churn)
    fi
    python3 "$here/scripts/bench_run.py" load --server-pid "$server_pid" --label "$run" \
      --out "$rdir/run.json" "${run_opts[@]}" --bench-json "$rdir/bench.json" --stderr-log "$rdir/bench.log" -- \
      taskset -c "$load_cpu" "$rtmpbench" "${args[@]}" >/dev/null ||
      fail "$run: the load run failed; see $rdir/bench.log and $server_log"

    stop_pid "$server_pid"
    echo "$stop_status" >"$rdir/server_exit"
    cp "$tmp/$run"/*.conf "$rdir/" 2>/dev/null || true
    cp "$server_log" "$rdir/server.log" 2>/dev/null || true
    [ -f "$tmp/$run/rtmp_access.log" ] && cp "$tmp/$run/rtmp_access.log" "$rdir/"
    [ "$stop_status" = 0 ] || say "$run: $kind exited with status $stop_status on SIGTERM"
    say "$run: $(python3 "$here/scripts/bench_report.py" --brief "$rdir" 2>&1)"
  done
done
measure_floors "$round"
measure_fanout "$round"
done

# --- report -----------------------------------------------------------------

say "all runs done in $((SECONDS - start_time)) s"
report_args=(--runs "$out_dir/runs" --json "$out_dir/results.json" --table "$out_dir/table.md")
((write_docs)) && report_args+=(--docs "$here/docs/benchmarks.md")
python3 "$here/scripts/bench_report.py" "${report_args[@]}" || fail "the report failed"
say "results: $out_dir/results.json, table: $out_dir/table.md"
((write_docs)) && say "wrote docs/benchmarks.md"
exit 0
