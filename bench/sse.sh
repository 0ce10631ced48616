#!/usr/bin/env bash
# bench/sse.sh: the memory diagnostics stream (Server-Sent Events over HTTP/2,
# GET /debug/diagnostics/memory), issue #5 §6. Three parts, one run:
#
#   1. snapshot + encode time on the AIO thread at maxConnections 10,000 and
#      tcpBufferPoolSize 145,000 (PROFILE=big of bench/servers/valk-sse.js),
#      with CONNS idle HTTP/2 connections held by a separate client process
#      and one SSE stream open: sse_snapshot_last_ns of every snapshot taken
#      in a P1_SECONDS window (read in-process every SAMPLE_MS), p50/p90/max,
#      and the event size. Target: max < 5 ms.
#   2. CLIENTS concurrent SSE clients (each on its own connection) for DURATION
#      seconds against the default config: events per second per client
#      (target: min >= 9/s at 100 ms), the server's RSS (/proc/PID/status
#      VmRSS) at the start and the end of the window (target: growth < 1 MB),
#      sse_events_skipped. Before it, the default config's event size with
#      one stream open (goal < 4 KB).
#   3. reconnection after a server restart, RESTARTS times: a client with
#      EventSource semantics (reconnect after `retry:`, Last-Event-ID) sees
#      the server process stopped (SIGTERM) and a new one started on the same
#      port; time from the new server listening to the client's next event
#      (target < 5 s), and the ids must continue right after Last-Event-ID.
#
#   bash bench/sse.sh                 (= npm run bench:sse), about 3 minutes
#   DURATION=10 RESTARTS=1 CONNS=2000 bash bench/sse.sh    a quick check
#
# Environment (all optional):
#   DURATION=60     part 2's window, seconds
#   CLIENTS=100     part 2's SSE clients (the default maxSseStreams is 100)
#   CONNS=5000      part 1's idle connections (of 10,000 slots)
#   PARALLEL=100    part 1: connections being set up at once
#   P1_SECONDS=10   part 1's window, seconds
#   SAMPLE_MS=25    part 1: how often the server reads its metrics in-process
#   RESTARTS=3      part 3's server restarts
#   PARTS="1 2 3"   which parts to run
#   IDLE_WAIT=60    before each measured part, wait (at most IDLE_WAIT s) for
#   IDLE_MAX=10     the machine to be < IDLE_MAX % busy over 1 s; then run anyway
#                   and say so
#   SERVER_CPUS=0   taskset CPU list of the servers
#   LOAD_CPUS=1     taskset CPU list of the clients
#   ALLOW_SANITIZED=1  run even when the addon is a sanitizer build
#
# Expects the package built (`npm run build`): dist/lib/index.js and
# build/Release/valk_aio.node (or $VALK_AIO_ADDON). Builds nothing. The addon
# is copied into the run's out directory first and every server loads that
# copy (VALK_AIO_ADDON). Servers pinned to CPU 0, clients to CPU 1 (taskset).
# Every listener is on 127.0.0.1; every process started is stopped by its PID
# (SIGTERM, SIGKILL after 10 s). The open-file limit is raised to what part 1
# needs (CONNS + 1024), up to the hard limit. Raw outputs go to
# bench/out/sse-<UTC timestamp>/ (summary.md, per-process stdout/stderr).
#
# Exit status: 0 when every target was met and nothing failed (all clients
# connected, every stream stayed open, clean stops with 0 leaks); 1 otherwise
# (the reasons are printed, FAIL: ...); 2 on setup errors.
set -u -o pipefail

DURATION=${DURATION:-60}
CLIENTS=${CLIENTS:-100}
CONNS=${CONNS:-5000}
PARALLEL=${PARALLEL:-100}
P1_SECONDS=${P1_SECONDS:-10}
SAMPLE_MS=${SAMPLE_MS:-25}
RESTARTS=${RESTARTS:-3}
PARTS=${PARTS:-"1 2 3"}
IDLE_WAIT=${IDLE_WAIT:-60}
IDLE_MAX=${IDLE_MAX:-10}
SERVER_CPUS=${SERVER_CPUS:-0}
LOAD_CPUS=${LOAD_CPUS:-1}

# Targets (issue #5 §6).
TARGET_SNAP_MS=5
TARGET_RATE=9
TARGET_RSS_KB=1024
TARGET_RECONNECT_MS=5000
GOAL_EVENT_BYTES=4096

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT" || exit 2
# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"

die() { echo "sse.sh: $*" >&2; exit 2; }
for v in DURATION CLIENTS CONNS PARALLEL P1_SECONDS SAMPLE_MS RESTARTS IDLE_WAIT IDLE_MAX; do
  [[ ${!v} =~ ^[0-9]+$ ]] || die "$v must be a non-negative integer, got '${!v}'"
done
(( DURATION > 0 && CLIENTS > 0 && CONNS > 0 && PARALLEL > 0 && P1_SECONDS > 0 && SAMPLE_MS > 0 )) \
  || die "DURATION, CLIENTS, CONNS, PARALLEL, P1_SECONDS and SAMPLE_MS must be > 0"
(( CONNS < 10000 )) || die "CONNS must be < 10000 (maxConnections of part 1; the SSE stream needs a slot)"
for p in $PARTS; do [[ $p == 1 || $p == 2 || $p == 3 ]] || die "unknown part '$p' in PARTS (valid: 1 2 3)"; done
[[ $SERVER_CPUS =~ ^[0-9]+([,-][0-9]+)*$ ]] || die "SERVER_CPUS must be a CPU list, got '$SERVER_CPUS'"
[[ $LOAD_CPUS =~ ^[0-9]+([,-][0-9]+)*$ ]] || die "LOAD_CPUS must be a CPU list, got '$LOAD_CPUS'"

# --- prerequisites -----------------------------------------------------------
command -v node >/dev/null 2>&1 || die "node not found"
check_addon sse.sh

# File descriptors: the idle-connection client holds CONNS sockets, the server
# as many plus its own.
NEED_FDS=$(( CONNS + 1024 ))
if (( $(ulimit -n) < NEED_FDS )); then
  HARD=$(ulimit -Hn)
  if [[ $HARD == unlimited ]] || (( HARD >= NEED_FDS )); then
    ulimit -n "$NEED_FDS" || die "cannot raise the open-file limit to $NEED_FDS"
  else
    ulimit -n "$HARD" 2>/dev/null
    [[ " $PARTS " == *" 1 "* ]] && die "open-file hard limit $HARD < $NEED_FDS (CONNS + 1024): lower CONNS or raise the limit"
  fi
fi

pin_cpus sse.sh clients

STAMP=$(date -u +%Y%m%d-%H%M%S)
OUT="$ROOT/bench/out/sse-$STAMP"
mkdir -p "$OUT" || die "cannot create $OUT"
use_addon_copy "$OUT"


# --- process bookkeeping -----------------------------------------------------
# Every process this script starts is in PIDS until stop_pid has reaped it.
declare -A PIDS=()
SERVER_PID=""  # read by lib.sh's wait_ready

# stop_pid <pid>: stop_process (bench/lib.sh), and the pid leaves PIDS.
stop_pid() {
  stop_process "$1"
  [[ -n $1 ]] && unset "PIDS[$1]"
  return 0
}
cleanup() {
  local pid
  for pid in "${!PIDS[@]}"; do stop_pid "$pid"; done
}
trap cleanup EXIT
trap 'echo "sse.sh: interrupted" >&2; exit 130' INT TERM

FAILS=()
fail() { FAILS+=("$*"); echo "  FAIL: $*"; }
NOTES=()
note() { NOTES+=("$*"); echo "  note: $*"; }

# start_server <tag> <port> [VAR=value...]: starts bench/servers/valk-sse.js
# pinned, sets SERVER_PID and PORT_UP (the port it listens on, empty when it
# did not come up).
PORT_UP=""
start_server() {
  local tag=$1 port=$2; shift 2
  env "$@" "${PIN_SERVER[@]}" node bench/servers/valk-sse.js "$port" >"$OUT/$tag.server.stdout" 2>"$OUT/$tag.server.stderr" &
  SERVER_PID=$!
  PIDS[$SERVER_PID]=server
  PORT_UP=$(wait_ready "$OUT/$tag.server.stdout")
}

# stop_server <tag> <pid>: stops it; checks exit status, SIGKILL and leaks.
stop_server() {
  local tag=$1 pid=$2 res rep lc lt
  stop_pid "$pid"; res=$STOP_RES
  [[ $res == *killed* ]] && fail "$tag: server needed SIGKILL"
  [[ $res == *rc=0* ]] || fail "$tag: server exit ${res##*rc=}"
  rep=$(grep -E '^\{"stop"' "$OUT/$tag.server.stdout" | tail -n 1)
  lc=$(sed -nE 's/.*"leakedConnections":([0-9]+).*/\1/p' <<<"$rep")
  lt=$(sed -nE 's/.*"leakedTcpBuffers":([0-9]+).*/\1/p' <<<"$rep")
  if [[ -z $lc || -z $lt ]]; then fail "$tag: no stop report"
  elif (( lc != 0 || lt != 0 )); then fail "$tag: leaks connections=$lc tcp buffers=$lt"
  fi
  [[ -s $OUT/$tag.server.stderr ]] && note "$tag: server stderr not empty ($(head -c 200 "$OUT/$tag.server.stderr" | tr '\n' ' '))"
  return 0
}

# wait_line <file> <regex> <timeout s> <pid>: waits until a line of file
# matches (0), the timeout passes or pid exits (1).
wait_line() {
  local f=$1 re=$2 deadline=$(( SECONDS + $3 )) pid=$4
  while (( SECONDS < deadline )); do
    grep -qE "$re" "$f" 2>/dev/null && return 0
    kill -0 "$pid" 2>/dev/null || { grep -qE "$re" "$f" 2>/dev/null && return 0; return 1; }
    sleep 0.05
  done
  return 1
}

# quiet <what>: waits for an idle machine, notes it when it did not get one.
quiet() {
  local busy
  busy=$(wait_idle)
  (( busy < IDLE_MAX )) || note "$1: machine ${busy}% busy before it (waited up to ${IDLE_WAIT} s)"
}

# read_kv <file>: KEY=VALUE lines (sse-analyze.js) into the associative array R.
declare -A R=()
read_kv() {
  local k v
  R=()
  while IFS='=' read -r k v; do [[ -n $k ]] && R[$k]=$v; done <"$1"
}

rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status" 2>/dev/null; }
lt() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a != "nan" && a + 0 < b + 0) }'; }   # a < b
ge() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a != "nan" && a + 0 >= b + 0) }'; }  # a >= b

SUMMARY="$OUT/summary.md"
row() { printf '| %s | %s | %s | %s |\n' "$@" >>"$SUMMARY"; }
verdict() { if "$@"; then echo met; else echo "**NOT met**"; fi; }

{
  echo "date:     $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
  echo "machine:  $(nproc 2>/dev/null || echo 1) CPU, $(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo 2>/dev/null)"
  echo "node:     $(node -v)"
  echo "pinning:  $PINNING"
  echo "parts:    $PARTS; CONNS=$CONNS P1_SECONDS=$P1_SECONDS SAMPLE_MS=$SAMPLE_MS; CLIENTS=$CLIENTS DURATION=$DURATION; RESTARTS=$RESTARTS"
  echo "fd limit: $(ulimit -n)"
  echo "addon:    $ADDON (copied, sha256 $ADDON_SHA...)"
  echo "raw:      ${OUT#"$ROOT"/}"
} | tee "$OUT/header.txt"
echo
{
  echo "| measure | value | target | verdict |"
  echo "|---|---:|---:|---|"
} >"$SUMMARY"

# --- part 1: snapshot time at 10,000 connection slots -------------------------
part1() {
  echo "part 1: snapshot + encode time, maxConnections 10000, tcpBufferPoolSize 145000, $CONNS idle connections, 1 SSE stream, ${P1_SECONDS} s"
  local port spid ipid
  start_server p1 0 PROFILE=big SAMPLE_MS="$SAMPLE_MS"
  port=$PORT_UP spid=$SERVER_PID
  if [[ -z $port ]]; then fail "part 1: server did not print READY (see $OUT/p1.server.stderr)"; stop_server p1 "$spid"; return; fi
  quiet "part 1 (fill)"
  env PORT="$port" CONNS="$CONNS" PARALLEL="$PARALLEL" "${PIN_LOAD[@]}" node bench/clients/idle-conns.js \
    >"$OUT/p1.idle.stdout" 2>"$OUT/p1.idle.stderr" &
  ipid=$!
  PIDS[$ipid]=idle
  if ! wait_line "$OUT/p1.idle.stdout" '"connected":' $(( CONNS / 20 + 60 )) "$ipid"; then
    fail "part 1: the idle connections were not all tried in time (see $OUT/p1.idle.stdout)"
  fi
  local done_line connected failed ms
  done_line=$(grep -E '"connected":' "$OUT/p1.idle.stdout" | tail -n 1)
  connected=$(sed -nE 's/.*"connected":([0-9]+).*/\1/p' <<<"$done_line")
  failed=$(sed -nE 's/.*"failed":([0-9]+).*/\1/p' <<<"$done_line")
  ms=$(sed -nE 's/.*"ms":([0-9]+).*/\1/p' <<<"$done_line")
  echo "  idle connections: ${connected:-?} connected, ${failed:-?} failed, in ${ms:-?} ms"
  [[ ${connected:-0} == "$CONNS" ]] || fail "part 1: only ${connected:-0} of $CONNS idle connections connected ($done_line)"
  quiet "part 1 (measure)"
  env PORT="$port" N=1 DURATION="$P1_SECONDS" "${PIN_LOAD[@]}" node bench/clients/sse-clients.js \
    >"$OUT/p1.sse.stdout" 2>"$OUT/p1.sse.stderr" &
  local cpid=$!
  PIDS[$cpid]=sse
  local res
  stop_pid_wait "$cpid" $(( P1_SECONDS + 40 )); res=$STOP_RES
  [[ $res == rc=0 ]] || fail "part 1: the SSE client failed ($res; see $OUT/p1.sse.stderr)"
  kill -USR2 "$spid" 2>/dev/null; sleep 0.3
  stop_pid "$ipid"; res=$STOP_RES; [[ $res == *rc=0* ]] || note "part 1: idle client exit ${res##*rc=}"
  local closed
  closed=$(sed -nE 's/.*"closed_by_server":([0-9]+).*/\1/p' "$OUT/p1.idle.stdout" | tail -n 1)
  [[ ${closed:-0} == 0 ]] || fail "part 1: the server closed $closed of the idle connections during the measurement"
  stop_server p1 "$spid"
  node bench/clients/sse-analyze.js snap "$OUT/p1.server.stdout" "$OUT/p1.sse.stdout" >"$OUT/p1.kv" || fail "part 1: analysis failed"
  read_kv "$OUT/p1.kv"
  printf '  snapshots in the window: %s (connections in use %s); snapshot+encode p50 %s ms, p90 %s ms, p99 %s ms, max %s ms (max of the whole run %s ms)\n' \
    "${R[SNAPS]}" "${R[CONNS_IN_USE]}" "${R[NS_P50_MS]}" "${R[NS_P90_MS]}" "${R[NS_P99_MS]}" "${R[NS_MAX_MS]}" "${R[NS_MAX_EVER_MS]}"
  printf '  event: %s bytes on the wire (JSON %s), max %s; events/s %s\n' "${R[EVENT_BYTES_MEDIAN]}" "${R[JSON_BYTES_MEDIAN]}" "${R[EVENT_BYTES_MAX]}" "${R[RATE_MIN]}"
  (( ${R[SNAPS]:-0} >= P1_SECONDS * 5 )) || fail "part 1: only ${R[SNAPS]} snapshots sampled in ${P1_SECONDS} s"
  lt "${R[NS_MAX_MS]}" "$TARGET_SNAP_MS" || fail "part 1: snapshot+encode max ${R[NS_MAX_MS]} ms >= $TARGET_SNAP_MS ms"
  row "1. snapshot+encode, 10k slots, ${R[CONNS_IN_USE]} in use: p50 / p90 / max" "${R[NS_P50_MS]} / ${R[NS_P90_MS]} / ${R[NS_MAX_MS]} ms (${R[SNAPS]} snapshots)" "< $TARGET_SNAP_MS ms" "$(verdict lt "${R[NS_MAX_MS]}" "$TARGET_SNAP_MS")"
  row "1. event size at 10k slots (wire / JSON)" "${R[EVENT_BYTES_MEDIAN]} / ${R[JSON_BYTES_MEDIAN]} B" "(bound 35,266 B)" "-"
}

# stop_pid_wait <pid> <timeout s>: waits for pid to exit by itself (stop_pid
# after the timeout); sets STOP_RES to "rc=N" or "timeout".
stop_pid_wait() {
  local pid=$1 deadline=$(( SECONDS + $2 )) rc=0
  while kill -0 "$pid" 2>/dev/null && (( SECONDS < deadline )); do sleep 0.1; done
  if kill -0 "$pid" 2>/dev/null; then stop_pid "$pid"; STOP_RES=timeout; return 0; fi
  wait "$pid" 2>/dev/null || rc=$?
  unset "PIDS[$pid]"
  STOP_RES="rc=$rc"
}

# --- part 2: CLIENTS SSE clients for DURATION s --------------------------------
part2() {
  echo "part 2: $CLIENTS SSE clients for $DURATION s, default config"
  local port spid cpid res
  start_server p2 0 PROFILE=default
  port=$PORT_UP spid=$SERVER_PID
  if [[ -z $port ]]; then fail "part 2: server did not print READY (see $OUT/p2.server.stderr)"; stop_server p2 "$spid"; return; fi
  # The default config's event size, one stream open.
  env PORT="$port" N=1 DURATION=2 "${PIN_LOAD[@]}" node bench/clients/sse-clients.js >"$OUT/p2.size.stdout" 2>"$OUT/p2.size.stderr"
  res=$?
  (( res == 0 )) || fail "part 2: the event-size client failed (exit $res)"
  node bench/clients/sse-analyze.js clients "$OUT/p2.size.stdout" >"$OUT/p2.size.kv"
  read_kv "$OUT/p2.size.kv"
  local size1=${R[EVENT_BYTES_MAX]} json1=${R[JSON_BYTES_MAX]}
  echo "  default config, 1 stream: event $size1 bytes on the wire (JSON $json1)"

  quiet "part 2"
  env PORT="$port" N="$CLIENTS" DURATION="$DURATION" "${PIN_LOAD[@]}" node bench/clients/sse-clients.js \
    >"$OUT/p2.sse.stdout" 2>"$OUT/p2.sse.stderr" &
  cpid=$!
  PIDS[$cpid]=sse
  local rss0="" rss1="" t t0
  : >"$OUT/p2.rss.tsv"
  if wait_line "$OUT/p2.sse.stdout" '"started":' 60 "$cpid"; then
    rss0=$(rss_kb "$spid")
    kill -USR2 "$spid" 2>/dev/null  # heap figures at the start
    t=$SECONDS t0=$SECONDS
    printf 's\tVmRSS_kB\n0\t%s\n' "$rss0" >>"$OUT/p2.rss.tsv"
    while kill -0 "$cpid" 2>/dev/null && ! grep -q '"ended":' "$OUT/p2.sse.stdout"; do
      sleep 0.1
      if (( SECONDS - t >= 1 )); then t=$SECONDS; printf '%s\t%s\n' "$(( t - t0 ))" "$(rss_kb "$spid")" >>"$OUT/p2.rss.tsv"; fi
    done
    rss1=$(rss_kb "$spid")
    printf 'end\t%s\n' "$rss1" >>"$OUT/p2.rss.tsv"
    kill -USR2 "$spid" 2>/dev/null
  else
    fail "part 2: the $CLIENTS streams did not all get an event (see $OUT/p2.sse.stderr)"
  fi
  stop_pid_wait "$cpid" 30; res=$STOP_RES
  [[ $res == rc=0 ]] || fail "part 2: SSE clients exit: $res (a stream failed, ended or errored; see $OUT/p2.sse.stdout)"
  sleep 0.3
  local m skipped refused
  m=$(grep -E '^\{"metrics"' "$OUT/p2.server.stdout" | tail -n 1)
  skipped=$(sed -nE 's/.*"skipped":([0-9]+).*/\1/p' <<<"$m")
  refused=$(sed -nE 's/.*"refused":([0-9]+).*/\1/p' <<<"$m")
  # V8's heap at the start and the end (the two SIGUSR2 lines): how much of the
  # RSS change is JavaScript's heap (GC timing) rather than native memory.
  local heap
  heap=$(grep -E '^\{"metrics"' "$OUT/p2.server.stdout" | tail -n 2 | sed -nE 's/.*"heap_total":([0-9]+),"heap_used":([0-9]+).*/\1 \2/p' \
    | awk 'NR == 1 { t0 = $1; u0 = $2 } NR == 2 { printf "heapTotal %+d kB, heapUsed %+d kB", ($1 - t0) / 1024, ($2 - u0) / 1024 }')
  stop_server p2 "$spid"
  node bench/clients/sse-analyze.js clients "$OUT/p2.sse.stdout" >"$OUT/p2.kv"
  read_kv "$OUT/p2.kv"
  local growth=nan
  [[ -n $rss0 && -n $rss1 ]] && growth=$(( rss1 - rss0 ))
  printf '  events/s per client: min %s, median %s, max %s; id gaps %s; failed clients %s\n' \
    "${R[RATE_MIN]}" "${R[RATE_MEDIAN]}" "${R[RATE_MAX]}" "${R[ID_GAPS]}" "${R[FAILED]}"
  printf '  longest wait between two events: worst client %s ms, median client %s ms (those waits ended within %s ms of each other, around %s s into the window)\n' \
    "${R[GAP_MAX_MS]}" "${R[GAP_MEDIAN_MS]}" "${R[GAP_AT_SPREAD_MS]}" "${R[GAP_AT_S]}"
  printf '  delivery latency (receipt - the snapshot'"'"'s ts): p50 %s ms, p99 %s ms, max %s ms\n' "${R[LAT_P50_MS]}" "${R[LAT_P99_MS]}" "${R[LAT_MAX_MS]}"
  printf '  server RSS: %s kB at the start, %s kB at the end: growth %s kB (V8 over the same window: %s); sse_events_skipped %s, refused %s; event %s bytes (JSON %s)\n' \
    "${rss0:-?}" "${rss1:-?}" "$growth" "${heap:-n/a}" "${skipped:-?}" "${refused:-?}" "${R[EVENT_BYTES_MAX]}" "${R[JSON_BYTES_MAX]}"
  ge "${R[RATE_MIN]}" "$TARGET_RATE" || fail "part 2: slowest client ${R[RATE_MIN]} events/s < $TARGET_RATE"
  lt "$growth" "$TARGET_RSS_KB" || fail "part 2: server RSS grew $growth kB in $DURATION s (target < $TARGET_RSS_KB kB)"
  [[ ${R[FAILED]} == 0 ]] || fail "part 2: ${R[FAILED]} clients failed"
  [[ ${R[ID_BACKWARDS]} == 0 ]] || fail "part 2: ids went backwards ${R[ID_BACKWARDS]} times"
  lt "$size1" "$GOAL_EVENT_BYTES" || fail "default config event $size1 bytes >= $GOAL_EVENT_BYTES"
  row "default config event size, 1 stream (wire / JSON)" "$size1 / $json1 B" "< $GOAL_EVENT_BYTES B" "$(verdict lt "$size1" "$GOAL_EVENT_BYTES")"
  row "default config event size, $CLIENTS streams open (wire / JSON)" "${R[EVENT_BYTES_MAX]} / ${R[JSON_BYTES_MAX]} B" "< $GOAL_EVENT_BYTES B" "$(verdict lt "${R[EVENT_BYTES_MAX]}" "$GOAL_EVENT_BYTES")"
  row "2. events/s per client, $CLIENTS clients, $DURATION s: min / median" "${R[RATE_MIN]} / ${R[RATE_MEDIAN]}" ">= $TARGET_RATE" "$(verdict ge "${R[RATE_MIN]}" "$TARGET_RATE")"
  row "2. longest wait between two events: worst / median client" "${R[GAP_MAX_MS]} / ${R[GAP_MEDIAN_MS]} ms" "-" "-"
  row "2. delivery latency (receipt - snapshot ts): p50 / p99 / max" "${R[LAT_P50_MS]} / ${R[LAT_P99_MS]} / ${R[LAT_MAX_MS]} ms" "-" "-"
  row "2. server RSS start -> end (VmRSS)" "${rss0:-?} -> ${rss1:-?} kB (growth $growth kB; ${heap:-n/a})" "< $TARGET_RSS_KB kB" "$(verdict lt "$growth" "$TARGET_RSS_KB")"
  row "2. sse_events_skipped / id gaps seen by clients" "${skipped:-?} / ${R[ID_GAPS]}" "-" "-"
}

# --- part 3: reconnection after a restart ---------------------------------------
part3() {
  echo "part 3: EventSource-style client, server restarted $RESTARTS times on the same port"
  local port spid cpid r res listening stopped before port_new
  start_server p3-0 0 PROFILE=default
  port=$PORT_UP spid=$SERVER_PID
  if [[ -z $port ]]; then fail "part 3: server did not print READY"; stop_server p3-0 "$spid"; return; fi
  quiet "part 3"
  env PORT="$port" "${PIN_LOAD[@]}" node bench/clients/sse-reconnect.js >"$OUT/p3.client.stdout" 2>"$OUT/p3.client.stderr" &
  cpid=$!
  PIDS[$cpid]=reconnect
  local worst=0 all_ok=1
  : >"$OUT/p3.restarts.tsv"
  for (( r = 1; r <= RESTARTS; r++ )); do
    # Let the client get events from this server (about 2 s).
    before=$(grep -c '"ev":' "$OUT/p3.client.stdout")
    local deadline=$(( SECONDS + 10 ))
    while (( $(grep -c '"ev":' "$OUT/p3.client.stdout") < before + 20 && SECONDS < deadline )); do sleep 0.1; done
    (( $(grep -c '"ev":' "$OUT/p3.client.stdout") >= before + 20 )) || fail "part 3: restart $r: the client got no events before the stop"
    stop_server "p3-$(( r - 1 ))" "$spid"
    stopped=$(date +%s%3N)
    start_server "p3-$r" "$port" PROFILE=default
    port_new=$PORT_UP spid=$SERVER_PID
    if [[ $port_new != "$port" ]]; then fail "part 3: restart $r: the new server did not listen on $port (see $OUT/p3-$r.server.stderr)"; all_ok=0; break; fi
    listening=$(sed -nE 's/^\{"listening":([0-9]+).*/\1/p' "$OUT/p3-$r.server.stdout")
    # Wait for the client's next events from the new server (target 5 s; give it 15).
    deadline=$(( SECONDS + 15 ))
    while (( SECONDS < deadline )); do
      node bench/clients/sse-analyze.js reconnect "$OUT/p3.client.stdout" "$listening" "$stopped" >"$OUT/p3-$r.kv"
      read_kv "$OUT/p3-$r.kv"
      (( ${R[EVENTS_AFTER]:-0} >= 3 )) && break
      sleep 0.2
    done
    printf '  restart %d: stopped, new server listening %s ms later; first event %s ms after it (%s attempts); ids: last before %s, Last-Event-ID sent %s, first after %s: %s\n' \
      "$r" "$(( listening - stopped ))" "${R[RECONNECT_MS]}" "${R[ATTEMPTS]}" "${R[LAST_ID_BEFORE]}" "${R[SENT_LAST_EVENT_ID]}" "${R[FIRST_ID_AFTER]}" \
      "$( [[ ${R[IDS_OK]} == 1 ]] && echo continue || echo WRONG)"
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$r" "$(( listening - stopped ))" "${R[RECONNECT_MS]}" "${R[GAP_MS]}" "${R[LAST_ID_BEFORE]}" \
      "${R[SENT_LAST_EVENT_ID]}" "${R[FIRST_ID_AFTER]}" "${R[IDS_OK]}" >>"$OUT/p3.restarts.tsv"
    if [[ ${R[RECONNECT_MS]} == nan ]]; then fail "part 3: restart $r: no event within 15 s of the new server listening"; all_ok=0; worst=nan; continue; fi
    lt "${R[RECONNECT_MS]}" "$TARGET_RECONNECT_MS" || fail "part 3: restart $r: next event ${R[RECONNECT_MS]} ms after the restart (target < $TARGET_RECONNECT_MS)"
    [[ ${R[IDS_OK]} == 1 ]] || { fail "part 3: restart $r: ids do not continue after Last-Event-ID (last ${R[LAST_ID_BEFORE]}, sent ${R[SENT_LAST_EVENT_ID]}, first ${R[FIRST_ID_AFTER]})"; all_ok=0; }
    [[ $worst != nan ]] && (( R[RECONNECT_MS] > worst )) && worst=${R[RECONNECT_MS]}
  done
  stop_pid "$cpid"; res=$STOP_RES; [[ $res == *rc=0* ]] || note "part 3: client exit ${res##*rc=}"
  stop_server "p3-$(( r > RESTARTS ? RESTARTS : r ))" "$spid"
  local list
  list=$(awk -F'\t' '{ printf "%s%s", (NR > 1 ? ", " : ""), $3 }' "$OUT/p3.restarts.tsv")
  row "3. restart -> next event, $RESTARTS restarts (each / worst)" "$list / $worst ms" "< $TARGET_RECONNECT_MS ms" "$(verdict lt "$worst" "$TARGET_RECONNECT_MS")"
  row "3. ids continue after Last-Event-ID" "$( (( all_ok )) && echo "yes, every restart" || echo no)" "yes" "$( (( all_ok )) && echo met || echo '**NOT met**')"
}

for p in $PARTS; do "part$p"; echo; done

{
  echo
  if (( ${#NOTES[@]} )); then echo "Notes:"; for n in "${NOTES[@]}"; do echo "- $n"; done; echo; fi
  if (( ${#FAILS[@]} )); then echo "FAILED:"; for f in "${FAILS[@]}"; do echo "- $f"; done; fi
} >>"$SUMMARY"
cat "$SUMMARY"
if (( ${#FAILS[@]} )); then
  echo "sse.sh: FAIL (${#FAILS[@]}): see above; raw outputs in ${OUT#"$ROOT"/}" >&2
  exit 1
fi
echo "sse.sh: OK (raw outputs in ${OUT#"$ROOT"/})"
