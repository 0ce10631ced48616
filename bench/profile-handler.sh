#!/usr/bin/env bash
# bench/profile-handler.sh: where the JavaScript-handler path spends its time.
# One valk-aio server (MODE=handler by default), one measured h2load run, and
# per-thread kernel counters of the server taken with `perf stat` during it:
# CPU time, context switches, wake-ups, eventfd writes (uv_async_send that
# really wrote: 8-byte write(2)s), socket writes, epoll_wait calls. Printed
# per request. Optional: PERF_RECORD=1 also samples call stacks (perf record)
# and prints the top symbols per thread.
#
#   bash bench/profile-handler.sh
#
# Environment: N=200000 C=100 M=10 WARMUP=20000 MODE=handler
#   PIN_SERVER="0" (taskset list for the server; "0,1" = both cores), PIN_LOAD="1"
#   PERF_RECORD=0|1
# Listens on 127.0.0.1; the server is stopped by PID. Outputs in bench/out/profile-<stamp>/.
set -u -o pipefail
N=${N:-200000}
C=${C:-100}
M=${M:-10}
WARMUP=${WARMUP:-20000}
export MODE=${MODE:-handler}
PIN_SERVER=${PIN_SERVER:-0}
PIN_LOAD=${PIN_LOAD:-1}
PERF_RECORD=${PERF_RECORD:-0}

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT" || exit 2
die() { echo "profile-handler.sh: $*" >&2; exit 2; }
command -v perf >/dev/null || die "perf not found"
# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"
check_addon profile-handler.sh
OUT="$ROOT/bench/out/profile-$(date -u +%Y%m%d-%H%M%S)"
mkdir -p "$OUT" || die "cannot create $OUT"
use_addon_copy "$OUT"
IDLE_WAIT=${IDLE_WAIT:-60}
IDLE_MAX=${IDLE_MAX:-10}

SERVER_PID=""
cleanup() {
  stop_process "$SERVER_PID"
  SERVER_PID=""
}
trap cleanup EXIT

taskset -c "$PIN_SERVER" node bench/servers/valk-static.js 0 >"$OUT/server.stdout" 2>"$OUT/server.stderr" &
SERVER_PID=$!
port=$(wait_ready "$OUT/server.stdout")
[[ -n $port ]] || { echo "profile-handler.sh: no READY" >&2; exit 1; }
url="https://127.0.0.1:$port/"
(( WARMUP > 0 )) && taskset -c "$PIN_LOAD" h2load -n "$WARMUP" -c "$C" -m "$M" "$url" >"$OUT/warmup.txt" 2>&1
idle=$(wait_idle)
echo "machine busy before the run: ${idle}%"

EVENTS=task-clock,context-switches,sched:sched_wakeup,syscalls:sys_enter_epoll_wait,syscalls:sys_enter_write,syscalls:sys_enter_writev,syscalls:sys_enter_read
perf stat --per-thread -e "$EVENTS" -p "$SERVER_PID" -o "$OUT/perf-stat.txt" &
PERF_PID=$!
# eventfd writes separately: write(2) of exactly 8 bytes.
perf stat --per-thread -e syscalls:sys_enter_write --filter 'count == 8' -p "$SERVER_PID" -o "$OUT/perf-eventfd.txt" &
PERF2_PID=$!
if (( PERF_RECORD )); then
  perf record -g -F 2999 -p "$SERVER_PID" -o "$OUT/perf.data" >/dev/null 2>&1 &
  PERF3_PID=$!
fi
sleep 0.5
taskset -c "$PIN_LOAD" h2load -n "$N" -c "$C" -m "$M" "$url" >"$OUT/h2load.txt" 2>&1
kill -INT "$PERF_PID" "$PERF2_PID" 2>/dev/null
(( PERF_RECORD )) && kill -INT "$PERF3_PID" 2>/dev/null
wait "$PERF_PID" "$PERF2_PID" 2>/dev/null
(( PERF_RECORD )) && wait "$PERF3_PID" 2>/dev/null
cleanup

grep -E '^finished in|^requests:|^time for request:' "$OUT/h2load.txt"
echo
# Per thread: name-tid, then events; divide by N.
awk -v n="$N" '
  /^ *[^ ]+-[0-9]+ +[0-9.,]+ +(msec +)?[a-z_:-]+/ {
    th = $1; v = $2; gsub(",", "", v); ev = ($3 == "msec") ? $4 : $3
    val[th, ev] = v; threads[th] = 1; evs[ev] = 1
  }
  END {
    printf "%-22s %10s %8s %8s %8s %8s %8s %8s\n", "thread (per request)", "cpu_us", "cswitch", "wakeup", "epoll", "write", "writev", "read"
    for (t in threads) {
      if (val[t, "task-clock"] + 0 < 1) continue
      printf "%-22s %10.2f %8.3f %8.3f %8.3f %8.3f %8.3f %8.3f\n", t, val[t, "task-clock"] * 1000 / n,
        val[t, "context-switches"] / n, val[t, "sched:sched_wakeup"] / n, val[t, "syscalls:sys_enter_epoll_wait"] / n,
        val[t, "syscalls:sys_enter_write"] / n, val[t, "syscalls:sys_enter_writev"] / n, val[t, "syscalls:sys_enter_read"] / n
    }
  }' "$OUT/perf-stat.txt"
echo "eventfd writes (8-byte write(2)) per request, by thread:"
awk -v n="$N" '/^ *[^ ]+-[0-9]+ +[0-9,]+ +syscalls/ { v = $2; gsub(",", "", v); if (v > 0) printf "  %-22s %8.3f\n", $1, v / n }' "$OUT/perf-eventfd.txt"
if (( PERF_RECORD )); then
  perf report -i "$OUT/perf.data" --no-children --sort comm,dso,sym --stdio 2>/dev/null | grep -v '^#' | grep -v '^$' | grep '%' | head -60 >"$OUT/perf-top.txt"
  echo; echo "top symbols (perf record, self time):"; cat "$OUT/perf-top.txt"
fi
echo "raw: ${OUT#"$ROOT"/}"
