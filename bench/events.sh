#!/usr/bin/env bash
# bench/events.sh: the static route's cost with lifecycle event recording on (a reader attached,
# EVENTS=1) against off, in the same run: h2load -n $N -c $C -m $M against bench/servers/valk-static.js,
# ROUNDS rounds, the order alternating; req/s and server CPU per request (from /proc), medians, and
# the ratios of each round's adjacent pair. docs/design.md §13: recording on must stay within 3% of
# off. The reader reads a batch at a time (sys.eventBatches()); EVENTS_BATCH=0: one at a time.
#
#   bash bench/events.sh        (env N=200000 C=100 M=10 ROUNDS=3 SERVER_CPUS=0 LOAD_CPUS=1)
#
# Also Node's main thread's own CPU per request (/proc/PID/task/PID): the reader's cost, apart from
# the AIO thread's and from the run-to-run noise of the whole process.
# Every listener is on 127.0.0.1; every server is stopped by PID. Raw outputs: bench/out/events-<timestamp>/.
set -u -o pipefail
N=${N:-200000}
C=${C:-100}
M=${M:-10}
ROUNDS=${ROUNDS:-3}
SERVER_CPUS=${SERVER_CPUS:-0}
LOAD_CPUS=${LOAD_CPUS:-1}
IDLE_WAIT=${IDLE_WAIT:-30}
IDLE_MAX=${IDLE_MAX:-10}
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT" || exit 2
die() { echo "events.sh: $*" >&2; exit 2; }
# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"
ensure_tool events.sh h2load nghttp2-client
check_addon events.sh
OUT="$ROOT/bench/out/events-$(date -u +%Y%m%d-%H%M%S)"
mkdir -p "$OUT" || die "cannot create $OUT"
use_addon_copy "$OUT"
pin_cpus events.sh h2load
HZ=$(getconf CLK_TCK)
SERVER_PID=""
trap 'stop_process "$SERVER_PID"' EXIT
echo "events.sh: h2load -n $N -c $C -m $M, $ROUNDS rounds; $PINNING; addon $ADDON_SHA; raw: $OUT"

run() { # EVENTS ROUND
  local ev=$1 r=$2 tag="ev$1-r$2" port t0 t1 m0 m1 rps
  wait_idle >/dev/null
  EVENTS=$ev "${PIN_SERVER[@]}" node bench/servers/valk-static.js 0 1000 >"$OUT/$tag.server.txt" 2>&1 &
  SERVER_PID=$!
  port=$(wait_ready "$OUT/$tag.server.txt")
  [[ -n $port ]] || die "server did not start ($tag)"
  "${PIN_LOAD[@]}" h2load -n 20000 -c "$C" -m "$M" "https://127.0.0.1:$port/" >/dev/null 2>&1 # warm-up
  t0=$(cpu_ticks "$SERVER_PID")
  m0=$(cpu_ticks "$SERVER_PID/task/$SERVER_PID") # Node's main thread: the reader (and nothing else here)
  "${PIN_LOAD[@]}" h2load -n "$N" -c "$C" -m "$M" "https://127.0.0.1:$port/" >"$OUT/$tag.h2load.txt" 2>&1
  t1=$(cpu_ticks "$SERVER_PID")
  m1=$(cpu_ticks "$SERVER_PID/task/$SERVER_PID")
  stop_process "$SERVER_PID"
  SERVER_PID=""
  rps=$(awk '/^finished in/ { for (i = 1; i <= NF; i++) if ($i ~ /req\/s/) { gsub(/,/, "", $(i-1)); print $(i-1) } }' "$OUT/$tag.h2load.txt")
  grep -q "succeeded, 0 failed, 0 errored" "$OUT/$tag.h2load.txt" || rps="failed"
  echo "$ev $r $rps $(awk -v t=$((t1 - t0)) -v m=$((m1 - m0)) -v hz="$HZ" -v n="$N" 'BEGIN { printf "%.3f %.3f", t / hz * 1e6 / n, m / hz * 1e6 / n }')" | tee -a "$OUT/results.txt"
}

for r in $(seq 1 "$ROUNDS"); do
  if (( r % 2 )); then run 0 "$r"; run 1 "$r"; else run 1 "$r"; run 0 "$r"; fi
done
awk '
  { rps[$1] = rps[$1] " " $3; cpu[$1] = cpu[$1] " " $4; js[$1] = js[$1] " " $5; R[$1, $2] = $3; U[$1, $2] = $4; if ($2 > n) n = $2 }
  function med(list,   a, k, i, j, t) { k = split(list, a, " "); for (i = 1; i <= k; i++) for (j = i + 1; j <= k; j++) if (a[j] + 0 < a[i] + 0) { t = a[i]; a[i] = a[j]; a[j] = t }; return a[int((k + 1) / 2)] }
  END {
    for (r = 1; r <= n; r++) { pr = pr " " R[1, r] / R[0, r]; pc = pc " " U[1, r] / U[0, r] }
    printf "recording off: %s req/s (median), %.3f us server CPU per request\n", med(rps[0]), med(cpu[0])
    printf "recording on:  %s req/s (median), %.3f us server CPU per request\n", med(rps[1]), med(cpu[1])
    printf "on / off, the same round (adjacent runs), median of %d: req/s %.3f, CPU per request %.3f\n", n, med(pr), med(pc)
    printf "  per round, req/s:%s\n  per round, CPU:%s\n", pr, pc
    printf "Node main thread (the reader) CPU per request: off %.3f us, on %.3f us (medians)\n", med(js[0]), med(js[1])
  }' "$OUT/results.txt"
