#!/usr/bin/env bash
# bench/adapters.sh: what the framework adapters cost (issue #15). The same
# JSON answer (GET /users/42, bench/servers/apps.js) from:
#   valk-native   valk-aio's own handler
#   valk-hono     valk-aio + Hono through listen({ fetch: app.fetch })
#   valk-express  valk-aio + Express 5 through listen({ requestListener: app })
#   node-hono     Node's http2.createSecureServer + Hono (@hono/node-server's getRequestListener)
#   node-express  Node's http2.createSecureServer (allowHTTP1) + Express 5 on the
#                 compatibility API (bench/servers/node-http2-adapter.js says how)
#   node-native   Node's http2 core API ('stream' event), for reference
# measured with h2load over TLS in the same run, each server started afresh,
# order alternating by round. Prints req/s and the server's CPU per request
# (utime+stime from /proc/PID/stat) for each, and the ratios valk+X / node+X
# and valk+X / valk-native.
#
#   bash bench/adapters.sh
#
# Environment (all optional):
#   N=100000  requests per measured run     C=100  connections     M=10  streams per connection
#   R=3       rounds                        WARMUP=10000  unmeasured requests per server start
#   SERVERS="valk-native valk-hono node-hono valk-express node-express node-native"
#   SERVER_CPUS=0 LOAD_CPUS=1  taskset CPU lists (servers, h2load)
#   H2LOAD_TIMEOUT=300  IDLE_WAIT=30  IDLE_MAX=10   as in bench/static.sh
#
# Expects `npm run build` done and the dev dependencies installed (hono,
# express, @hono/node-server). Every listener is on 127.0.0.1; every process
# started is stopped by PID. Raw outputs go to bench/out/adapters-<timestamp>/.
# Exit status 0 when every run answered every request with a 2xx and valk-aio
# reported no leak; 1 otherwise; 2 on setup errors.
set -u -o pipefail

N=${N:-100000}
C=${C:-100}
M=${M:-10}
R=${R:-3}
WARMUP=${WARMUP:-10000}
H2LOAD_TIMEOUT=${H2LOAD_TIMEOUT:-300}
IDLE_WAIT=${IDLE_WAIT:-30}
IDLE_MAX=${IDLE_MAX:-10}
SERVERS=${SERVERS:-"valk-native valk-hono node-hono valk-express node-express node-native"}
SERVER_CPUS=${SERVER_CPUS:-0}
LOAD_CPUS=${LOAD_CPUS:-1}
PATH_=/users/42

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT" || exit 2
# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"
die() { echo "adapters.sh: $*" >&2; exit 2; }

for v in N C M R WARMUP H2LOAD_TIMEOUT IDLE_WAIT IDLE_MAX; do
  [[ ${!v} =~ ^[0-9]+$ ]] || die "$v must be a non-negative integer, got '${!v}'"
done
(( N > 0 && C > 0 && M > 0 && R > 0 )) || die "N, C, M and R must be > 0"
for s in $SERVERS; do
  [[ $s =~ ^(valk|node)-(native|hono|express)$ ]] || die "unknown server '$s' (valid: valk-native valk-hono valk-express node-native node-hono node-express)"
done
ensure_tool adapters.sh h2load nghttp2-client
check_addon adapters.sh
for m in hono express @hono/node-server; do
  [[ -d node_modules/$m ]] || die "node_modules/$m missing: run \`npm ci\` (dev dependencies)"
done
pin_cpus adapters.sh h2load
CLK_TCK=$(getconf CLK_TCK 2>/dev/null || echo 100)

bench_out adapters.sh adapters

SERVER_PID=""
cleanup() { stop_process "$SERVER_PID"; SERVER_PID=""; }
trap cleanup EXIT
trap 'echo "adapters.sh: interrupted" >&2; exit 130' INT TERM

# run_one NAME ROUND: one line in $OUT/runs.tsv: name round rps cpu_us_per_req succeeded 2xx ok note
BAD=0
run_one() {
  local name=$1 round=$2 kind=${1%%-*} app=${1#*-} script tag note="" ok=1 port
  script=bench/servers/valk-adapter.js; [[ $kind == node ]] && script=bench/servers/node-http2-adapter.js
  tag="$name-r$round"
  APP=$app start_server "$tag" node "$script" 0
  port=$SERVER_PORT
  if [[ -z $port ]]; then
    echo "adapters.sh: $tag: no READY (see $OUT/$tag.server.stderr)" >&2
    cleanup
    printf '%s\t%s\tnan\tnan\tnan\tnan\t0\tno READY\n' "$name" "$round" >>"$OUT/runs.tsv"
    BAD=1
    return
  fi
  local url="https://127.0.0.1:$port$PATH_" idle
  idle=$(wait_idle)
  (( idle < IDLE_MAX )) || note+="machine ${idle}% busy before the run; "
  if (( WARMUP > 0 )); then
    timeout "$H2LOAD_TIMEOUT" "${PIN_LOAD[@]}" h2load -n "$WARMUP" -c "$C" -m "$M" "$url" >"$OUT/$tag.warmup.txt" 2>&1 || note+="warm-up exit $?; "
  fi
  local s0 s1 rc=0
  s0=$(cpu_ticks "$SERVER_PID")
  timeout "$H2LOAD_TIMEOUT" "${PIN_LOAD[@]}" h2load -n "$N" -c "$C" -m "$M" "$url" >"$OUT/$tag.h2load.txt" 2>&1 || rc=$?
  s1=$(cpu_ticks "$SERVER_PID")
  (( rc == 0 )) || { note+="h2load exit $rc; "; ok=0; }
  stop_process "$SERVER_PID"
  SERVER_PID=""
  (( STOP_KILLED )) && { note+="server needed SIGKILL; "; ok=0; }
  (( STOP_RC != 0 )) && { note+="server exit $STOP_RC; "; ok=0; }
  [[ -s $OUT/$tag.server.stderr ]] && { note+="server stderr not empty; "; ok=0; }
  if [[ $kind == valk ]]; then
    local rep
    rep=$(grep -E '^\{.*"leakedConnections"' "$OUT/$tag.server.stdout" | tail -n 1)
    if [[ $rep == *'"leakedConnections":0,"leakedTcpBuffers":0'* ]]; then note+="leaks 0/0; "
    else note+="stop report: ${rep:-none}; "; ok=0; fi
  fi
  local f="$OUT/$tag.h2load.txt" rps succ s2xx cpu
  rps=$(sed -nE 's/^finished in .*, ([0-9.]+) req\/s.*/\1/p' "$f")
  succ=$(sed -nE 's/^requests: .* ([0-9]+) succeeded.*/\1/p' "$f")
  s2xx=$(sed -nE 's/^status codes: ([0-9]+) 2xx.*/\1/p' "$f")
  cpu=$(awk -v a="$s0" -v b="$s1" -v hz="$CLK_TCK" -v n="$N" 'BEGIN { printf "%.1f", 1e6 * (b - a) / hz / n }')
  : "${rps:=nan}" "${succ:=nan}" "${s2xx:=nan}"
  [[ $succ == "$N" && $s2xx == "$N" ]] || { note+="succeeded=$succ 2xx=$s2xx of $N; "; ok=0; }
  (( ok )) || BAD=1
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$name" "$round" "$rps" "$cpu" "$succ" "$s2xx" "$ok" "${note%; }" >>"$OUT/runs.tsv"
  printf '  %-13s round %d: %10s req/s  server CPU %7s us/request  %s\n' "$name" "$round" "$rps" "$cpu" "${note%; }"
}

read -r -a ORDER <<<"$SERVERS"
CMDLINE="taskset -c $LOAD_CPUS h2load -n $N -c $C -m $M https://127.0.0.1:PORT$PATH_"
{
  echo "date:     $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
  echo "machine:  $(nproc 2>/dev/null || echo 1) CPU, $(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo 2>/dev/null)"
  echo "node:     $(node -v); hono $(node -p "require('./node_modules/hono/package.json').version" 2>/dev/null), express $(node -p "require('./node_modules/express/package.json').version"), @hono/node-server $(node -p "require('./node_modules/@hono/node-server/package.json').version" 2>/dev/null)"
  echo "pinning:  $PINNING"
  echo "load:     $CMDLINE  (warm-up $WARMUP requests per start; R=$R rounds, order alternating)"
  echo "servers:  ${ORDER[*]}"
  echo "addon:    $ADDON (copied, sha256 $ADDON_SHA...); raw outputs in ${OUT#"$ROOT"/}"
} | tee "$OUT/header.txt"
echo
: >"$OUT/runs.tsv"
run_rounds run_one "$R" "${ORDER[@]}"

echo
{
  printf '| server | req/s (median of %d) | server CPU per request (median) |\n|---|---:|---:|\n' "$R"
  for s in "${ORDER[@]}"; do
    rps=$(awk -F'\t' -v s="$s" '$1 == s && $3 != "nan" { print $3 }' "$OUT/runs.tsv" | median_lines)
    cpu=$(awk -F'\t' -v s="$s" '$1 == s && $4 != "nan" { print $4 }' "$OUT/runs.tsv" | median_lines)
    printf '| %s | %.0f | %s µs |\n' "$s" "$rps" "$cpu"
    eval "RPS_${s//-/_}=\$rps; CPU_${s//-/_}=\$cpu"
  done
  echo
  for app in hono express native; do
    v="RPS_valk_$app"; n="RPS_node_$app"; vc="CPU_valk_$app"; nc="CPU_node_$app"
    [[ -n ${!v:-} && -n ${!n:-} ]] || continue
    awk -v app="$app" -v v="${!v}" -v n="${!n}" -v vc="${!vc}" -v nc="${!nc}" 'BEGIN {
      if (v + 0 > 0 && n + 0 > 0) printf "valk+%s / node+%s: req/s %.2fx, CPU per request %.2fx (%s)\n", app, app, v / n, vc / nc, (v > n ? "valk ahead" : "NOT ahead") }'
  done
  for app in hono express; do
    v="RPS_valk_$app"; vc="CPU_valk_$app"
    [[ -n ${!v:-} && -n ${RPS_valk_native:-} ]] || continue
    awk -v app="$app" -v v="${!v}" -v n="$RPS_valk_native" -v vc="${!vc}" -v nc="$CPU_valk_native" 'BEGIN {
      if (v + 0 > 0 && n + 0 > 0) printf "valk+%s / valk-native: req/s %.2fx, CPU per request %.2fx (+%.1f µs a request)\n", app, v / n, vc / nc, vc - nc }'
  done
} | tee "$OUT/summary.md"

if (( BAD )); then
  echo "adapters.sh: FAIL: some run had failures, non-2xx answers, leaks or an unclean stop (see $OUT/runs.tsv)" >&2
  exit 1
fi
echo "adapters.sh: OK (raw outputs in ${OUT#"$ROOT"/})"
