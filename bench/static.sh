#!/usr/bin/env bash
# bench/static.sh: valk-aio vs Node's http2 on one small static response,
# HTTP/2 over TLS, measured with h2load in the same run, ratios printed.
#
#   bash bench/static.sh            (or: npm run bench)
#
# Environment (all optional):
#   N=200000   requests per measured h2load run
#   C=100      h2load clients (connections)
#   M=10       h2load max concurrent streams per connection
#   T=         h2load threads (-t); unset = h2load's default (1)
#   R=3        rounds; each round runs both servers, order alternating
#   WARMUP=20000   requests of an unmeasured warm-up run per server start (0 = none)
#   MAX_CONNECTIONS=1000   valk-aio's maxConnections
#   H2LOAD_TIMEOUT=180     seconds before an h2load run is killed
#   SERVERS="valk node"    which servers to run
#   IDLE_WAIT=60   seconds to wait, before each run, for the rest of the machine
#                  to go quiet (< IDLE_MAX % busy over 1 s); then it runs anyway
#   IDLE_MAX=10    and says so in the run's note
#   ALLOW_SANITIZED=1  run even when the addon is a sanitizer build
#   SERVER_CPUS=0  taskset CPU list for the servers (default 0; e.g. 0,1 to let
#                  valk-aio's AIO thread and Node's thread run on separate cores)
#   LOAD_CPUS=1    taskset CPU list for h2load (default 1)
#   TLS=1          0: both servers cleartext, HTTP/2 with prior knowledge (h2load http://)
#
#   LATENCY=1      1: measured runs write h2load --log-file (one line per request:
#                  start µs, status, µs until the end of the response) and p50/p99
#                  of those durations (nearest rank) are printed next to req/s;
#                  0: no log, p50/p99 n/a. The log costs h2load a write(2) per
#                  request: where h2load is the limit (valk-aio at -m 10) req/s
#                  are 10-35% lower with it; Node's runs, server-bound, are not.
#
# Expects the package built (`npm run build`): dist/lib/index.js and
# build/Release/valk_aio.node (or $VALK_AIO_ADDON). Builds nothing. The addon is
# copied into the run's out directory first and both servers load that copy
# (VALK_AIO_ADDON), so a rebuild during the run cannot mix builds; its sha256
# is in header.txt.
#
# Servers are pinned to CPU 0 and h2load to CPU 1 (taskset). Every listener is
# on 127.0.0.1; every process started is stopped by PID (SIGTERM, then SIGKILL
# after 10 s). Raw outputs go to bench/out/static-<timestamp>/.
#
# Exit status: 0 when every run completed with every request a 2xx, no failed,
# errored or timed-out request, servers stopped cleanly and valk-aio reported
# 0 leaked connections and 0 leaked TCP buffers; 1 otherwise; 2 on setup errors.
set -u -o pipefail

N=${N:-200000}
C=${C:-100}
M=${M:-10}
T=${T:-}
R=${R:-3}
WARMUP=${WARMUP:-20000}
H2LOAD_TIMEOUT=${H2LOAD_TIMEOUT:-180}
IDLE_WAIT=${IDLE_WAIT:-60}
IDLE_MAX=${IDLE_MAX:-10}
SERVERS=${SERVERS:-"valk node"}
# MODE=handler: valk-aio answers from a JavaScript handler instead of a static
# route (Node's http2 server runs JavaScript either way). Goal: 3x, static 4x.
export MODE=${MODE:-static}
GOAL=4; [[ $MODE == handler ]] && GOAL=3
export MAX_CONNECTIONS=${MAX_CONNECTIONS:-1000}

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT" || exit 2
# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"

die() { echo "static.sh: $*" >&2; exit 2; }
[[ $MODE == static || $MODE == handler ]] || die "MODE must be static or handler, got '$MODE'"

LATENCY=${LATENCY:-1}
TLS=${TLS:-1}
[[ $TLS == 0 || $TLS == 1 ]] || die "TLS must be 0 or 1, got '$TLS'"
export TLS
SCHEME=https; [[ $TLS == 0 ]] && SCHEME=http
[[ $LATENCY == 0 || $LATENCY == 1 ]] || die "LATENCY must be 0 or 1, got '$LATENCY'"
SERVER_CPUS=${SERVER_CPUS:-0}
LOAD_CPUS=${LOAD_CPUS:-1}
[[ $SERVER_CPUS =~ ^[0-9]+([,-][0-9]+)*$ ]] || die "SERVER_CPUS must be a CPU list such as 0 or 0,1, got '$SERVER_CPUS'"
[[ $LOAD_CPUS =~ ^[0-9]+([,-][0-9]+)*$ ]] || die "LOAD_CPUS must be a CPU list such as 1, got '$LOAD_CPUS'"
for v in N C M R WARMUP H2LOAD_TIMEOUT MAX_CONNECTIONS IDLE_WAIT IDLE_MAX; do
  [[ ${!v} =~ ^[0-9]+$ ]] || die "$v must be a non-negative integer, got '${!v}'"
done
[[ -z $T || $T =~ ^[1-9][0-9]*$ ]] || die "T must be a positive integer, got '$T'"
(( N > 0 && C > 0 && M > 0 && R > 0 )) || die "N, C, M and R must be > 0"
for s in $SERVERS; do [[ $s == valk || $s == node ]] || die "unknown server '$s' in SERVERS (valid: valk node)"; done
[[ -n ${SERVERS// /} ]] || die "SERVERS is empty"

# --- prerequisites -----------------------------------------------------------
ensure_tool static.sh h2load nghttp2-client
command -v node >/dev/null 2>&1 || die "node not found"
check_addon static.sh

pin_cpus static.sh h2load
CLK_TCK=$(getconf CLK_TCK 2>/dev/null || echo 100)

STAMP=$(date -u +%Y%m%d-%H%M%S)
OUT="$ROOT/bench/out/static-$STAMP"
mkdir -p "$OUT" || die "cannot create $OUT"
use_addon_copy "$OUT"

H2LOAD_ARGS=(-n "$N" -c "$C" -m "$M")
[[ -n $T ]] && H2LOAD_ARGS+=(-t "$T")

# --- process bookkeeping -----------------------------------------------------
SERVER_PID=""
cleanup() {
  stop_process "$SERVER_PID"
  SERVER_PID=""
}
trap cleanup EXIT
trap 'echo "static.sh: interrupted" >&2; exit 130' INT TERM

server_script() {
  case $1 in
    valk) echo bench/servers/valk-static.js ;;
    node) echo bench/servers/node-http2-static.js ;;
    *) die "unknown server '$1' (valid: valk node)" ;;
  esac
}

# machine_ticks, wait_idle, cpu_ticks

# Latency "123.45us" / "1.23ms" / "1.02s" -> microseconds.
to_us() {
  awk -v v="$1" 'BEGIN {
    if (v ~ /us$/) { sub(/us$/, "", v); printf "%.2f", v }
    else if (v ~ /ms$/) { sub(/ms$/, "", v); printf "%.2f", v * 1000 }
    else if (v ~ /s$/) { sub(/s$/, "", v); printf "%.2f", v * 1000000 }
    else printf "nan" }'
}
fmt_ms() { awk -v u="$1" 'BEGIN { if (u == "nan" || u == "") print "n/a"; else printf "%.2f ms", u / 1000 }'; }

# p50 and p99 (nearest rank) of the durations (column 3, µs) of an h2load
# --log-file, successful requests only (status -1 = failed stream): "p50 p99".
percentiles() {
  awk -F'\t' '$2 != -1 { print $3 }' "$1" 2>/dev/null | sort -n | awk '{ a[NR] = $1 } END {
    if (NR == 0) { print "nan nan"; exit }
    i50 = int(NR * 0.50); if (i50 < NR * 0.50) i50++; if (i50 < 1) i50 = 1
    i99 = int(NR * 0.99); if (i99 < NR * 0.99) i99++; if (i99 < 1) i99 = 1
    printf "%s %s\n", a[i50], a[i99] }'
}

median() {  # numbers on stdin -> median
  sort -g | awk '{ a[NR] = $1 } END {
    if (NR == 0) { print "nan"; exit }
    if (NR % 2) print a[(NR + 1) / 2]; else printf "%.2f\n", (a[NR / 2] + a[NR / 2 + 1]) / 2 }'
}

# --- one run -----------------------------------------------------------------
# run_one <server> <round>: appends one line to $OUT/runs.tsv:
# server round rps failed errored timeout succeeded 2xx mean_us max_us p50_us p99_us srv_cpu% h2load_cpu% ok note
BAD=0
run_one() {
  local name=$1 round=$2 script tag port="" line note="" ok=1
  script=$(server_script "$name")
  tag="$name-r$round"
  local sout="$OUT/$tag.server.stdout" serr="$OUT/$tag.server.stderr"

  "${PIN_SERVER[@]}" node "$script" 0 >"$sout" 2>"$serr" &
  SERVER_PID=$!
  port=$(wait_ready "$sout")
  if [[ -z $port ]]; then
    echo "static.sh: $tag: server did not print READY within 15 s (stderr: $serr)" >&2
    cleanup
    printf '%s\t%s\tnan\tnan\tnan\tnan\tnan\tnan\tnan\tnan\tnan\tnan\tnan\tnan\t0\tno READY\n' "$name" "$round" >>"$OUT/runs.tsv"
    BAD=1
    return
  fi
  local url="$SCHEME://127.0.0.1:$port/"
  local idle
  idle=$(wait_idle)
  (( idle < IDLE_MAX )) || note+="machine ${idle}% busy before the run; "

  if (( WARMUP > 0 )); then
    timeout "$H2LOAD_TIMEOUT" "${PIN_LOAD[@]}" h2load -n "$WARMUP" -c "$C" -m "$M" ${T:+-t "$T"} "$url" \
      >"$OUT/$tag.warmup.txt" 2>&1 || note+="warm-up exit $?; "
  fi

  local t0 t1 s0 s1 rc=0 h2cpu
  local m0 m1
  m0=$(machine_ticks | cut -d' ' -f1)
  s0=$(cpu_ticks "$SERVER_PID")
  t0=$(date +%s.%N)
  # bash's `time` reports h2load's own user+sys CPU (taskset execs h2load).
  local TIMEFORMAT='%R %U %S'
  local logarg=()
  (( LATENCY )) && logarg=(--log-file="$OUT/$tag.h2load.log")
  { time timeout "$H2LOAD_TIMEOUT" "${PIN_LOAD[@]}" h2load "${H2LOAD_ARGS[@]}" "${logarg[@]}" "$url" >"$OUT/$tag.h2load.txt" 2>&1; } 2>"$OUT/$tag.h2load.time" || rc=$?
  t1=$(date +%s.%N)
  s1=$(cpu_ticks "$SERVER_PID")
  m1=$(machine_ticks | cut -d' ' -f1)
  [[ $rc -eq 0 ]] || { note+="h2load exit $rc; "; ok=0; }
  local srvcpu h2load_cpu
  srvcpu=$(awk -v a="$s0" -v b="$s1" -v t0="$t0" -v t1="$t1" -v hz="$CLK_TCK" \
    'BEGIN { if (t1 > t0) printf "%.0f", 100 * (b - a) / hz / (t1 - t0); else print "nan" }')
  h2load_cpu=$(awk '{ if ($1 > 0) printf "%.0f", 100 * ($2 + $3) / $1; else print "nan" }' "$OUT/$tag.h2load.time" 2>/dev/null)
  # CPU used by everything else (other processes, softirq not charged to a
  # process), in % of one core, during the measured run.
  local other_cpu
  other_cpu=$(awk -v m0="$m0" -v m1="$m1" -v s0="$s0" -v s1="$s1" -v t0="$t0" -v t1="$t1" -v hz="$CLK_TCK" \
    -v h="$(awk '{ print $2 + $3 }' "$OUT/$tag.h2load.time" 2>/dev/null)" \
    'BEGIN { if (t1 > t0) { o = 100 * (((m1 - m0) - (s1 - s0)) / hz - h) / (t1 - t0); printf "%.0f", (o < 0 ? 0 : o) } else print "nan" }')
  note+="other cpu ${other_cpu}%; "

  # Stop the server: SIGTERM, wait up to 10 s, then SIGKILL.
  stop_process "$SERVER_PID"
  local killed=$STOP_KILLED src=$STOP_RC
  SERVER_PID=""
  (( killed )) && { note+="server needed SIGKILL; "; ok=0; }
  (( src != 0 )) && { note+="server exit $src; "; ok=0; }
  [[ -s $serr ]] && note+="server stderr not empty; "

  if [[ $name == valk ]]; then
    local rep lc lt
    rep=$(grep -E '^\{.*"leakedConnections"' "$sout" | tail -n 1)
    lc=$(sed -nE 's/.*"leakedConnections":([0-9]+).*/\1/p' <<<"$rep")
    lt=$(sed -nE 's/.*"leakedTcpBuffers":([0-9]+).*/\1/p' <<<"$rep")
    if [[ -z $lc || -z $lt ]]; then note+="no stop report; "; ok=0
    elif (( lc != 0 || lt != 0 )); then note+="LEAKS conn=$lc tcpbuf=$lt; "; ok=0
    else note+="leaks 0/0; "
    fi
  fi

  local f="$OUT/$tag.h2load.txt" rps failed errored tmo succ s2xx mean max
  rps=$(sed -nE 's/^finished in .*, ([0-9.]+) req\/s.*/\1/p' "$f")
  failed=$(sed -nE 's/^requests: .* ([0-9]+) failed.*/\1/p' "$f")
  errored=$(sed -nE 's/^requests: .* ([0-9]+) errored.*/\1/p' "$f")
  tmo=$(sed -nE 's/^requests: .* ([0-9]+) timeout.*/\1/p' "$f")
  succ=$(sed -nE 's/^requests: .* ([0-9]+) succeeded.*/\1/p' "$f")
  s2xx=$(sed -nE 's/^status codes: ([0-9]+) 2xx.*/\1/p' "$f")
  # time for request:   min   max   mean   sd   +/- sd
  read -r _ _ _ _ max mean _ < <(grep -E '^time for request:' "$f") || true
  mean=$(to_us "${mean:-}"); max=$(to_us "${max:-}")
  local p50=nan p99=nan
  if (( LATENCY )); then
    read -r p50 p99 < <(percentiles "$OUT/$tag.h2load.log")
    gzip -f "$OUT/$tag.h2load.log" 2>/dev/null
  fi
  : "${rps:=nan}" "${failed:=nan}" "${errored:=nan}" "${tmo:=nan}" "${succ:=nan}" "${s2xx:=nan}"
  [[ $rps == nan ]] && { note+="no h2load summary; "; ok=0; }
  [[ $failed == 0 && $errored == 0 && $tmo == 0 ]] || ok=0
  [[ $succ == "$N" && $s2xx == "$N" ]] || { note+="succeeded=$succ 2xx=$s2xx of $N; "; ok=0; }
  (( ok )) || BAD=1

  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' \
    "$name" "$round" "$rps" "$failed" "$errored" "$tmo" "$succ" "$s2xx" "$mean" "$max" "${p50:-nan}" "${p99:-nan}" \
    "${srvcpu:-nan}" "${h2load_cpu:-nan}" "$ok" "${note%; }" >>"$OUT/runs.tsv"
  printf '  %-5s round %d: %10s req/s  failed %s errored %s timeout %s  p50 %s p99 %s mean %s max %s  cpu server %s%% h2load %s%%  %s\n' \
    "$name" "$round" "$rps" "$failed" "$errored" "$tmo" "$(fmt_ms "${p50:-nan}")" "$(fmt_ms "${p99:-nan}")" "$(fmt_ms "$mean")" "$(fmt_ms "$max")" \
    "${srvcpu:-?}" "${h2load_cpu:-?}" "${note%; }"
}

# --- main --------------------------------------------------------------------
LOGOPT=""; (( LATENCY )) && LOGOPT=" --log-file=FILE"
CMDLINE="taskset -c $LOAD_CPUS h2load ${H2LOAD_ARGS[*]}$LOGOPT $SCHEME://127.0.0.1:PORT/"
(( ${#PIN_LOAD[@]} )) || CMDLINE="h2load ${H2LOAD_ARGS[*]}$LOGOPT $SCHEME://127.0.0.1:PORT/"
{
  echo "date:     $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
  echo "machine:  $(nproc 2>/dev/null || echo 1) CPU, $(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo 2>/dev/null)"
  echo "node:     $(node -v), openssl $(node -p process.versions.openssl)"
  echo "versions: $(node -e "const i=require('./dist/lib/index.js').nativeInfo(); console.log('nghttp2 ' + i.nghttp2Version + ', openssl ' + i.opensslVersion)" 2>&1)"
  echo "h2load:   $(h2load --version 2>&1 | head -n 1)"
  echo "pinning:  $PINNING"
  echo "load:     $CMDLINE  (warm-up ${WARMUP} requests per start; R=$R rounds, order alternating)"
  echo "tls:      $( [[ $TLS == 0 ]] && echo "none: cleartext HTTP/2, prior knowledge (h2load http://)" || echo "TLS, ALPN h2" )"
  echo "mode:     valk-aio answers from a $MODE $( [[ $MODE == handler ]] && echo "(JavaScript handler on Node's thread)" || echo "route (on the AIO thread)" )"
  echo "valk:     maxConnections=$MAX_CONNECTIONS"
  echo "addon:    $ADDON (copied, sha256 $ADDON_SHA...)"
  echo "raw:      ${OUT#"$ROOT"/}"
} | tee "$OUT/header.txt"
echo

: >"$OUT/runs.tsv"
read -r -a ORDER <<<"$SERVERS"
for (( r = 1; r <= R; r++ )); do
  if (( r % 2 )); then seq_=("${ORDER[@]}"); else seq_=(); for (( i = ${#ORDER[@]} - 1; i >= 0; i-- )); do seq_+=("${ORDER[i]}"); done; fi
  for s in "${seq_[@]}"; do run_one "$s" "$r"; done
done

echo
{
  printf '| server | req/s (median of %d) | failed | errored | p50 latency (median) | p99 latency (median) | mean latency (median) | max latency (worst) | server CPU | h2load CPU |\n' "$R"
  printf '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n'
  for s in "${ORDER[@]}"; do
    med_rps=$(awk -F'\t' -v s="$s" '$1 == s && $3 != "nan" { print $3 }' "$OUT/runs.tsv" | median)
    sum_failed=$(awk -F'\t' -v s="$s" '$1 == s { if ($4 == "nan") n = "n/a"; else t += $4 } END { print (n == "" ? t + 0 : n) }' "$OUT/runs.tsv")
    sum_err=$(awk -F'\t' -v s="$s" '$1 == s { if ($5 == "nan") n = "n/a"; else t += $5 } END { print (n == "" ? t + 0 : n) }' "$OUT/runs.tsv")
    med_mean=$(awk -F'\t' -v s="$s" '$1 == s && $9 != "nan" { print $9 }' "$OUT/runs.tsv" | median)
    max_max=$(awk -F'\t' -v s="$s" '$1 == s && $10 != "nan" { if ($10 > m) m = $10 } END { print (m == "" ? "nan" : m) }' "$OUT/runs.tsv")
    med_p50=$(awk -F'\t' -v s="$s" '$1 == s && $11 != "nan" { print $11 }' "$OUT/runs.tsv" | median)
    med_p99=$(awk -F'\t' -v s="$s" '$1 == s && $12 != "nan" { print $12 }' "$OUT/runs.tsv" | median)
    med_scpu=$(awk -F'\t' -v s="$s" '$1 == s && $13 != "nan" { print $13 }' "$OUT/runs.tsv" | median)
    med_hcpu=$(awk -F'\t' -v s="$s" '$1 == s && $14 != "nan" { print $14 }' "$OUT/runs.tsv" | median)
    printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s%% | %s%% |\n' "$s" "$(printf '%.0f' "$med_rps" 2>/dev/null || echo n/a)" \
      "$sum_failed" "$sum_err" "$(fmt_ms "$med_p50")" "$(fmt_ms "$med_p99")" "$(fmt_ms "$med_mean")" "$(fmt_ms "$max_max")" \
      "$(printf '%.0f' "$med_scpu")" "$(printf '%.0f' "$med_hcpu")"
    eval "MED_RPS_$s=\$med_rps; MED_MEAN_$s=\$med_mean; MED_P50_$s=\$med_p50; MED_P99_$s=\$med_p99"
  done
  if [[ " $SERVERS " == *" valk "* && " $SERVERS " == *" node "* ]]; then
    echo
    awk -v mode="$MODE" -v goal="$GOAL" -v v="${MED_RPS_valk:-nan}" -v n="${MED_RPS_node:-nan}" -v lv="${MED_MEAN_valk:-nan}" -v ln="${MED_MEAN_node:-nan}" \
      -v p50v="${MED_P50_valk:-nan}" -v p50n="${MED_P50_node:-nan}" -v p99v="${MED_P99_valk:-nan}" -v p99n="${MED_P99_node:-nan}" 'BEGIN {
      if (v + 0 > 0 && n + 0 > 0) printf "ratio valk/node req/s: %.2fx  (goal for the %s path: >= %dx Node'"'"'s http2: %s)\n", v / n, mode, goal, (v / n >= goal ? "met" : "NOT met")
      else print "ratio valk/node req/s: n/a"
      if (p50v + 0 > 0 && p50n + 0 > 0) printf "ratio node/valk p50 latency: %.2fx\n", p50n / p50v
      if (p99v + 0 > 0 && p99n + 0 > 0) printf "ratio node/valk p99 latency: %.2fx\n", p99n / p99v
      if (lv + 0 > 0 && ln + 0 > 0) printf "ratio node/valk mean latency: %.2fx\n", ln / lv }'
  fi
} | tee "$OUT/summary.md"

if (( BAD )); then
  echo "static.sh: FAIL: some run had failed/errored/timed-out requests, non-2xx responses, leaks or an unclean stop (see $OUT/runs.tsv)" >&2
  exit 1
fi
echo "static.sh: OK (raw outputs in ${OUT#"$ROOT"/})"
