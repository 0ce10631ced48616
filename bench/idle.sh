#!/usr/bin/env bash
# bench/idle.sh: what an idle HTTP/2 connection costs a server. valk-aio,
# Node's own http2, h2o and nghttpd in the same run: each server starts, its
# VmRSS is read, CONNS idle TLS + HTTP/2 connections are opened
# (bench/clients/idle-conns.js: each counts once the server's SETTINGS came)
# and held; after SETTLE seconds VmRSS is read again. Printed: RSS per idle
# connection, (after - before) / CONNS, and the ratio to h2o's.
#
#   bash bench/idle.sh                       (or: npm run bench:idle)
#
# Environment (all optional):
#   CONNS=2000 PARALLEL=100    connections, and how many are set up at once
#   SERVERS="valk node h2o nghttpd"   (h2o, nghttpd: Debian's h2o and
#                              nghttp2-server; left out, with a note, when not installed)
#   SETTLE=2                   seconds between the last connection and the reading
#   SERVER_CPUS=0 LOAD_CPUS=1  taskset CPU lists
#
# Every listener is on 127.0.0.1; every process is stopped by PID. Exit status
# 0 when every server took every connection (and valk-aio leaked nothing), 1
# otherwise, 2 on setup errors. Raw outputs: bench/out/idle-<timestamp>/.
set -u -o pipefail
CONNS=${CONNS:-2000}
PARALLEL=${PARALLEL:-100}
SERVERS=${SERVERS:-"valk node h2o nghttpd"}
SETTLE=${SETTLE:-2}
SERVER_CPUS=${SERVER_CPUS:-0}
LOAD_CPUS=${LOAD_CPUS:-1}

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT" || exit 2
die() { echo "idle.sh: $*" >&2; exit 2; }
# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"
check_addon idle.sh
OUT="$ROOT/bench/out/idle-$(date -u +%Y%m%d-%H%M%S)"
mkdir -p "$OUT/htdocs" || die "cannot create $OUT"
echo ok > "$OUT/htdocs/index.html"
use_addon_copy "$OUT"
pin_cpus idle.sh idle-conns.js
SERVER_PID=""
CLIENT_PID=""
trap 'stop_process "$CLIENT_PID"; stop_process "$SERVER_PID"' EXIT
for peer in h2o nghttpd; do
  pkg=$peer; [[ $peer == nghttpd ]] && pkg=nghttp2-server
  if [[ " $SERVERS " == *" $peer "* ]] && ! install_tool idle.sh "$peer" "$pkg"; then
    echo "idle.sh: $peer not installed (apt-get install -y h2o nghttp2-server): left out" >&2
    SERVERS=${SERVERS//$peer/}
  fi
done

rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status" 2>/dev/null || echo 0; }

echo "idle.sh: $CONNS idle connections each; $PINNING; addon $ADDON_SHA; raw: $OUT"
status=0
declare -A PER
for server in $SERVERS; do
  tag=$server
  case $server in
    valk) "${PIN_SERVER[@]}" node bench/servers/valk-static.js 0 $(( CONNS + 100 )) > "$OUT/$tag.server" 2>&1 & SERVER_PID=$! ;;
    node) "${PIN_SERVER[@]}" node bench/servers/node-http2-static.js 0 > "$OUT/$tag.server" 2>&1 & SERVER_PID=$! ;;
    h2o) start_h2o "$OUT/htdocs/index.html" "$tag" ;;
    nghttpd) start_nghttpd "$OUT/htdocs" "$tag" ;;
    *) die "unknown server '$server'" ;;
  esac
  port=$(wait_ready "$OUT/$tag.server")
  [[ -n $port ]] || { cat "$OUT/$tag.server" >&2; die "$server did not start"; }
  sleep 1
  before=$(rss_kb "$SERVER_PID")
  env PORT="$port" CONNS="$CONNS" PARALLEL="$PARALLEL" "${PIN_LOAD[@]}" node bench/clients/idle-conns.js > "$OUT/$tag.clients" 2>&1 &
  CLIENT_PID=$!
  for _ in $(seq 1 600); do
    grep -q '"connected"' "$OUT/$tag.clients" && break
    kill -0 "$CLIENT_PID" 2>/dev/null || break
    sleep 0.1
  done
  sleep "$SETTLE"
  after=$(rss_kb "$SERVER_PID")
  connected=$(sed -n 's/.*"connected":\([0-9]*\).*/\1/p' "$OUT/$tag.clients" | tail -1)
  stop_process "$CLIENT_PID"; CLIENT_PID=""
  stop_process "$SERVER_PID"; SERVER_PID=""
  if [[ ${connected:-0} != "$CONNS" ]]; then
    echo "  $server: FAILED ($(tail -1 "$OUT/$tag.clients"))"; status=1; continue
  fi
  if [[ $server == valk ]] && ! grep -q '"leakedConnections":0' "$OUT/$tag.server"; then
    echo "  $server: leaks: $(tail -1 "$OUT/$tag.server")"; status=1
  fi
  PER[$server]=$(awk -v a="$after" -v b="$before" -v n="$CONNS" 'BEGIN { printf "%.1f", (a - b) * 1.024 / n }')
  printf '  %-8s VmRSS %7d -> %7d KiB: %6s KB per idle connection\n' "$server" "$before" "$after" "${PER[$server]}"
done
echo
echo "| server | RSS per idle connection (KB) | vs h2o |"
echo "|---|---:|---:|"
for server in $SERVERS; do
  [[ -n ${PER[$server]:-} ]] || continue
  awk -v s="$server" -v v="${PER[$server]}" -v h="${PER[h2o]:-0}" \
    'BEGIN { r = h > 0 ? sprintf("%.2fx", v / h) : "n/a"; printf "| %s | %s | %s |\n", s, v, r }'
done
exit $status
