#!/usr/bin/env bash
# bench/http1.sh: HTTP/1.1, one small response, with wrk: valk-aio (a static route and a
# JavaScript handler) against Node's https/http, h2o and nginx (1 worker), over TLS and
# over cleartext, each in the same run; server CPU per request from /proc and the ratios.
#
#   bash bench/http1.sh
#
# Environment (all optional):
#   D=20 C=100          wrk -t1 -c$C -d${D}s (the issue's command)
#   TLS_MODES="1 0"     1: https:// (ALPN http/1.1), 0: http://
#   SERVERS="valk-static valk-handler node h2o nginx"
#   SERVER_CPUS=0 LOAD_CPUS=1   taskset CPU lists
#   IDLE_WAIT=30 IDLE_MAX=10    wait for a quiet machine first
#
# Every listener is on 127.0.0.1; every server is stopped by PID. h2o and nginx
# (Debian's nginx-light) are installed when missing and this runs as root, else left out.
# Exit 0 when every run completed without errors or non-2xx, 1 otherwise, 2 on setup errors.
# Raw outputs: bench/out/http1-<timestamp>/.
set -u -o pipefail
D=${D:-20}
C=${C:-100}
TLS_MODES=${TLS_MODES:-"1 0"}
SERVERS=${SERVERS:-"valk-static valk-handler node h2o nginx"}
SERVER_CPUS=${SERVER_CPUS:-0}
LOAD_CPUS=${LOAD_CPUS:-1}
IDLE_WAIT=${IDLE_WAIT:-30}
IDLE_MAX=${IDLE_MAX:-10}

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT" || exit 2
die() { echo "http1.sh: $*" >&2; exit 2; }
# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"
ensure_tool http1.sh wrk wrk
check_addon http1.sh
OUT="$ROOT/bench/out/http1-$(date -u +%Y%m%d-%H%M%S)"
mkdir -p "$OUT" || die "cannot create $OUT"
use_addon_copy "$OUT"
pin_cpus http1.sh wrk
HZ=$(getconf CLK_TCK)
SERVER_PID=""
trap 'stop_process "$SERVER_PID"' EXIT
for tool in h2o:h2o nginx:nginx-light; do
  cmd=${tool%%:*}
  if [[ " $SERVERS " == *" $cmd "* ]] && ! install_tool http1.sh "$cmd" "${tool#*:}"; then
    echo "http1.sh: $cmd not installed: left out" >&2
    SERVERS=${SERVERS//$cmd/}
  fi
done
BODY='hello from valk-aio\n'
printf "$BODY" > "$OUT/body"

# Server CPU ticks of a process and its children (nginx's worker).
tree_ticks() {
  local t
  t=$(cpu_ticks "$1")
  for child in $(pgrep -P "$1" 2>/dev/null); do t=$(( t + $(cpu_ticks "$child") )); done
  echo "$t"
}

start_nginx() { # TLS TAG
  local tls=$1 tag=$2 port ssl=""
  bench_cert
  port=$(free_port)
  [[ $tls == 1 ]] && ssl=" ssl"
  mkdir -p "$OUT/$tag"
  cat > "$OUT/$tag.conf" <<CONF
daemon off;
master_process on;
worker_processes 1;
pid $OUT/$tag/nginx.pid;
error_log $OUT/$tag/error.log;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path $OUT/$tag;
  keepalive_requests 100000;
  server {
    listen 127.0.0.1:$port$ssl;
    $( [[ $tls == 1 ]] && echo "ssl_certificate $OUT/cert.pem; ssl_certificate_key $OUT/key.pem;" )
    location / { default_type text/plain; return 200 "hello from valk-aio\n"; }
  }
}
CONF
  "${PIN_SERVER[@]}" nginx -c "$OUT/$tag.conf" -p "$OUT/$tag" > "$OUT/$tag.server" 2>&1 &
  SERVER_PID=$!
  wait_port "$port" "$tag"
}

echo "http1.sh: wrk -t1 -c$C -d${D}s; $PINNING; addon $ADDON_SHA; raw: $OUT"
status=0
declare -A RPS CPU
for tls in $TLS_MODES; do
  scheme=https; [[ $tls == 0 ]] && scheme=http
  for server in $SERVERS; do
    tag="$server-tls$tls"
    case $server in
      h2o) start_h2o "$OUT/body" "$tag" "$tls" ;;
      nginx) start_nginx "$tls" "$tag" ;;
      *) TLS=$tls "${PIN_SERVER[@]}" node bench/servers/http1.js "$server" > "$OUT/$tag.server" 2>&1 &
         SERVER_PID=$! ;;
    esac
    port=$(wait_ready "$OUT/$tag.server")
    [[ -n $port ]] || { cat "$OUT/$tag.server" >&2; die "$server did not start"; }
    "${PIN_LOAD[@]}" wrk -t1 -c"$C" -d1s "$scheme://127.0.0.1:$port/" > /dev/null 2>&1 # warm-up
    busy=$(wait_idle)
    t0=$(tree_ticks "$SERVER_PID")
    timeout $(( D + 30 )) "${PIN_LOAD[@]}" wrk -t1 -c"$C" -d"${D}s" "$scheme://127.0.0.1:$port/" > "$OUT/$tag.wrk" 2>&1
    rc=$?
    t1=$(tree_ticks "$SERVER_PID")
    stop_process "$SERVER_PID"; SERVER_PID=""
    reqs=$(awk '/requests in/ { print $1 }' "$OUT/$tag.wrk")
    rps=$(awk '/^Requests\/sec:/ { print $2 }' "$OUT/$tag.wrk")
    if [[ $rc != 0 || -z $reqs ]] || grep -qE "Non-2xx|Socket errors" "$OUT/$tag.wrk"; then
      echo "  $tag: FAILED (wrk rc=$rc): $(grep -E 'Non-2xx|Socket errors' "$OUT/$tag.wrk")"; status=1; continue
    fi
    if [[ $server == valk-* ]] && ! grep -q '"leakedConnections":0,"leakedTcpBuffers":0' "$OUT/$tag.server"; then
      echo "  $tag: leaks: $(tail -1 "$OUT/$tag.server")"; status=1
    fi
    cpu_us=$(awk -v t=$(( t1 - t0 )) -v hz="$HZ" -v n="$reqs" 'BEGIN { printf "%.2f", t / hz * 1e6 / n }')
    RPS[$tag]=$rps; CPU[$tag]=$cpu_us
    printf '  %-22s %10s req/s  server CPU %6s us/request  (machine busy before: %s%%)\n' "$tag" "$rps" "$cpu_us" "$busy"
  done
done
echo
echo "| listener | server | req/s | server CPU µs per request | CPU per request vs Node | vs h2o | vs nginx |"
echo "|---|---|---:|---:|---:|---:|---:|"
for tls in $TLS_MODES; do
  for server in $SERVERS; do
    tag="$server-tls$tls"; [[ -n ${RPS[$tag]:-} ]] || continue
    awk -v l="$( [[ $tls == 1 ]] && echo TLS || echo cleartext )" -v s="$server" -v r="${RPS[$tag]}" -v c="${CPU[$tag]}" \
      -v n="${CPU[node-tls$tls]:-0}" -v h="${CPU[h2o-tls$tls]:-0}" -v x="${CPU[nginx-tls$tls]:-0}" \
      'function ratio(a, b) { return b > 0 ? sprintf("%.2fx", a / b) : "n/a" }
       BEGIN { printf "| %s | %s | %s | %s | %s | %s | %s |\n", l, s, r, c, ratio(c, n), ratio(c, h), ratio(c, x) }'
  done
done
exit $status
