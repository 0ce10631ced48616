#!/usr/bin/env bash
# bench/bulk.sh: large response bodies. valk-aio (a JavaScript handler
# answering a Buffer, and a static route) against Node's own http2 answering
# the same bytes, each body size in the same run; h2load measures throughput,
# /proc the server's CPU time, and the ratios are printed.
#
#   bash bench/bulk.sh                      (or: npm run bench:bulk)
#   MODE=up bash bench/bulk.sh              uploads: each request POSTs the body
#                                           (h2load -d), the answer is its length
#
# Environment (all optional):
#   SIZES="262144 16777216"   body sizes in bytes (256 KiB, 16 MiB)
#   BYTES=1073741824          bytes to download per run (N = BYTES / size, at least 40)
#   C=10 M=10                 h2load clients and streams per client
#   ROUNDS=3                  rounds: each runs every server once, in turn (interleaved,
#                             so the VM's drift hits all alike); the table shows medians
#   MODE=down                 down: downloads; up: uploads to a handler (buffered, streamed)
#                             against Node counting its stream's data, same windows
#   SERVERS="valk-handler valk-static node h2o"   (MODE=up: "valk-handler-up valk-stream-up
#                             node-up node-buffer-up", the last collecting the body as
#                             req.body does; h2o: Debian's h2o, 1 thread, the body
#                             as a file; left out, with a note, when h2o is not installed)
#   SERVER_CPUS=0 LOAD_CPUS=1 taskset CPU lists
#   IDLE_WAIT=30 IDLE_MAX=10  wait for a quiet machine first
#   H2LOAD_TIMEOUT=180        seconds before an h2load run is killed
#
# Every listener is on 127.0.0.1; every server is stopped by PID. Exit status
# 0 when every run completed with 2xx only (and valk-aio leaked nothing), 1
# otherwise, 2 on setup errors. Raw outputs: bench/out/bulk-<timestamp>/.
set -u -o pipefail
SIZES=${SIZES:-"262144 16777216"}
BYTES=${BYTES:-1073741824}
C=${C:-10}
M=${M:-10}
MODE=${MODE:-down}
case $MODE in
  down) SERVERS=${SERVERS:-"valk-handler valk-static node h2o"}; BASE=node ;;
  up) SERVERS=${SERVERS:-"valk-handler-up valk-stream-up node-up node-buffer-up"}; BASE=node-up ;;
  *) echo "bulk.sh: MODE must be down or up" >&2; exit 2 ;;
esac
SERVER_CPUS=${SERVER_CPUS:-0}
LOAD_CPUS=${LOAD_CPUS:-1}
IDLE_WAIT=${IDLE_WAIT:-30}
IDLE_MAX=${IDLE_MAX:-10}
H2LOAD_TIMEOUT=${H2LOAD_TIMEOUT:-180}
ROUNDS=${ROUNDS:-3}

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT" || exit 2
die() { echo "bulk.sh: $*" >&2; exit 2; }
# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"
ensure_tool bulk.sh h2load nghttp2-client
check_addon bulk.sh
OUT="$ROOT/bench/out/bulk-$(date -u +%Y%m%d-%H%M%S)"
mkdir -p "$OUT" || die "cannot create $OUT"
use_addon_copy "$OUT"
pin_cpus bulk.sh h2load
HZ=$(getconf CLK_TCK)
SERVER_PID=""
trap 'stop_process "$SERVER_PID"' EXIT

if [[ " $SERVERS " == *" h2o "* ]] && ! install_tool bulk.sh h2o h2o; then
  echo "bulk.sh: h2o not installed (apt-get install -y h2o): left out" >&2
  SERVERS=${SERVERS//h2o/}
fi

echo "bulk.sh: MODE=$MODE; $PINNING; h2load -c $C -m $M; $ROUNDS rounds; addon $ADDON_SHA; raw: $OUT"
status=0
declare -A MBS CPU
# median of a space-separated list of numbers
median() { tr ' ' '\n' <<< "$1" | grep . | sort -g | awk '{ v[NR] = $1 } END { print NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
for round in $(seq 1 "$ROUNDS"); do
for size in $SIZES; do
  n=$(( BYTES / size )); (( n < 40 )) && n=40
  for server in $SERVERS; do
    tag="$server-$size"
    raw="$OUT/$tag-r$round"
    if [[ $server == h2o ]]; then
      [[ -f $OUT/body-$size ]] || head -c "$size" /dev/zero | tr '\0' x > "$OUT/body-$size"
      start_h2o "$OUT/body-$size" "$tag-r$round"
    else
      "${PIN_SERVER[@]}" node bench/servers/bulk.js "$server" "$size" > "$raw.server" 2>&1 &
      SERVER_PID=$!
    fi
    port=$(wait_ready "$raw.server")
    [[ -n $port ]] || { cat "$raw.server" >&2; die "$server did not start"; }
    data=()
    if [[ $MODE == up ]]; then
      [[ -f $OUT/upload-$size ]] || head -c "$size" /dev/zero | tr '\0' u > "$OUT/upload-$size"
      data=(-d "$OUT/upload-$size")
    fi
    busy=$(wait_idle)
    read -r lb0 lt0 < <(cpu_ticks_of "${LOAD_CPUS%%[,-]*}")
    t0=$(cpu_ticks "$SERVER_PID"); s0=$(date +%s.%N)
    timeout "$H2LOAD_TIMEOUT" "${PIN_LOAD[@]}" h2load "${data[@]}" -n "$n" -c "$C" -m "$M" "https://127.0.0.1:$port/" > "$raw.h2load" 2>&1
    rc=$?
    s1=$(date +%s.%N); t1=$(cpu_ticks "$SERVER_PID")
    read -r lb1 lt1 < <(cpu_ticks_of "${LOAD_CPUS%%[,-]*}")
    load=$(( lt1 > lt0 ? 100 * (lb1 - lb0) / (lt1 - lt0) : 0 ))
    stop_process "$SERVER_PID"; SERVER_PID=""
    ok=$(awk '/^status codes:/ { print $3 }' "$raw.h2load")
    if [[ $rc != 0 || $ok != "$n" ]]; then echo "  $tag: FAILED (h2load rc=$rc, 2xx $ok of $n)"; status=1; continue; fi
    if [[ $server == valk-* ]] && ! grep -q '"leakedConnections":0,"leakedTcpBuffers":0,"leakedArenas":0' "$raw.server"; then
      echo "  $tag: leaks: $(tail -1 "$raw.server")"; status=1
    fi
    read -r mbs cpu_us_mib < <(awk -v n="$n" -v sz="$size" -v s0="$s0" -v s1="$s1" -v t0="$t0" -v t1="$t1" -v hz="$HZ" \
      'BEGIN { mib = n * sz / 1048576; printf "%.1f %.0f\n", mib / (s1 - s0), (t1 - t0) / hz * 1e6 / mib }')
    MBS[$tag]="${MBS[$tag]:-} $mbs"; CPU[$tag]="${CPU[$tag]:-} $cpu_us_mib"
    printf '  r%d %-14s %9d B x %6d: %8s MiB/s  server CPU %6s us/MiB  load CPU busy %3d%%  (machine busy before: %s%%)\n' "$round" "$server" "$size" "$n" "$mbs" "$cpu_us_mib" "$load" "$busy"
  done
done
done
for tag in "${!MBS[@]}"; do MBS[$tag]=$(median "${MBS[$tag]}"); CPU[$tag]=$(median "${CPU[$tag]}"); done
echo
echo "Medians of $ROUNDS rounds:"
echo "| body ($MODE) | server | MiB/s | server CPU µs per MiB | throughput vs $BASE | CPU per byte vs $BASE | CPU per byte vs h2o |"
echo "|---|---|---:|---:|---:|---:|---:|"
for size in $SIZES; do
  for server in $SERVERS; do
    tag="$server-$size"; [[ -n ${MBS[$tag]:-} ]] || continue
    base="$BASE-$size"
    awk -v s="$size" -v srv="$server" -v m="${MBS[$tag]}" -v c="${CPU[$tag]}" -v bm="${MBS[$base]:-0}" -v bc="${CPU[$base]:-0}" \
      -v hc="${CPU[h2o-$size]:-0}" \
      'BEGIN { r1 = bm > 0 ? sprintf("%.2fx", m / bm) : "n/a"; r2 = bc > 0 ? sprintf("%.2fx", c / bc) : "n/a";
               r3 = hc > 0 ? sprintf("%.2fx", c / hc) : "n/a";
               printf "| %d KiB | %s | %s | %s | %s | %s | %s |\n", s / 1024, srv, m, c, r1, r2, r3 }'
  done
done
exit $status
