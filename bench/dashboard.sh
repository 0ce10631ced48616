#!/usr/bin/env bash
# bench/dashboard.sh: how long the dashboard takes to draw one memory snapshot (issue #16,
# docs/design.md §8: under one 60 Hz frame, 16.7 ms) at maxConnections 10,000 and 145,000 TCP
# buffers (PROFILE=big of bench/servers/valk-sse.js), and at 4,096 connection slots, the largest
# slab drawn slot by slot. For each profile: the server pinned to SERVER_CPUS, CONNS HTTP/2
# connections held open by h2load (each sending RPS requests a second, so slots change state)
# pinned to LOAD_CPUS, and Debian's chromium (playwright-core, bench/clients/dashboard-render.js)
# timing EVENTS snapshots with performance.now() in the page: JSON.parse, renderMemory(ev), and
# the forced style + layout after it; then, unpaused, the whole handling of an arrival (history,
# the timeline, the memory panels) with the layout, and each history redraw. Prints p50 / p95 /
# max and the max as a share of the frame.
#
#   bash bench/dashboard.sh     (env EVENTS=100 CONNS=2000 RPS=2 SERVER_CPUS=0 LOAD_CPUS=1)
#
# Every listener is on 127.0.0.1; every process is stopped by PID; h2load is bounded by -D.
# Raw outputs: bench/out/dashboard-<timestamp>/.
set -u -o pipefail
EVENTS=${EVENTS:-100}
CONNS=${CONNS:-2000}
RPS=${RPS:-2}
SERVER_CPUS=${SERVER_CPUS:-0}
LOAD_CPUS=${LOAD_CPUS:-1}
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT" || exit 2
die() { echo "dashboard.sh: $*" >&2; exit 2; }
# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"
ensure_tool dashboard.sh h2load nghttp2-client
ensure_tool dashboard.sh chromium chromium
check_addon dashboard.sh
bench_out dashboard.sh dashboard
pin_cpus dashboard.sh "h2load and chromium"
ulimit -n $(( CONNS + 1024 )) 2>/dev/null || ulimit -n "$(ulimit -Hn)"

LOAD_PID=""
cleanup() { stop_process "$LOAD_PID"; stop_process "${SERVER_PID:-}"; }
trap cleanup EXIT

# run_profile NAME MAX_CONNECTIONS: one server, its load, one timing.
run_profile() {
  local name=$1 max=$2 secs=$(( EVENTS / 10 + 40 ))
  start_server "$name" env PROFILE=big MAX_CONNECTIONS="$max" node bench/servers/valk-sse.js
  [[ -n $SERVER_PORT ]] || die "$name: the server did not start (see $OUT/$name.server.stderr)"
  "${PIN_LOAD[@]}" h2load -c "$CONNS" -m 1 --rps "$RPS" -D "$secs" "https://127.0.0.1:$SERVER_PORT/" \
    >"$OUT/$name.h2load.txt" 2>&1 &
  LOAD_PID=$!
  sleep 8 # the connections set up
  "${PIN_LOAD[@]}" timeout 120 node bench/clients/dashboard-render.js "https://127.0.0.1:$SERVER_PORT/debug/" "$EVENTS" \
    >"$OUT/$name.render.json" 2>"$OUT/$name.render.stderr" || die "$name: the browser run failed (see $OUT/$name.render.stderr)"
  stop_process "$LOAD_PID"; LOAD_PID=""
  stop_process "$SERVER_PID"; SERVER_PID=""
  node -e '
    const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
    const f = (s) => `${s.p50} / ${s.p95} / ${s.max}`;
    const pools = r.pools.map((p) => `${p.name} ${p.used}/${p.total}${p.agg ? " (agg)" : ""}`).join(", ");
    console.log(`| ${process.argv[2]} | ${r.conns.used}/${r.conns.total}${r.conns.detail ? "" : " (agg)"} | ${pools} | ${r.cells} | ${f(r.parse)} | ${f(r.render)} | ${f(r.total)} | ${(r.total.max / 16.7).toFixed(2)} | ${f(r.live)} | ${f(r.history)} (${r.history.n}) |${r.errors.length ? " page errors: " + r.errors.join("; ") : ""}`);
  ' "$OUT/$name.render.json" "$name" | tee -a "$OUT/summary.md"
}

{
  echo "dashboard.sh: $EVENTS snapshots a profile, $CONNS connections at $RPS req/s each, $PINNING"
  echo "addon sha256 $ADDON_SHA; times in ms (p50 / p95 / max); frame = 16.7 ms"
  echo
  echo "| profile | connection slots used/total | pools | cells drawn | parse | renderMemory | render + layout | max / frame | live arrival + layout | history redraw (n) |"
  echo "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"
} | tee "$OUT/summary.md"
run_profile big 10000
run_profile detail 4096
echo "raw: $OUT"
