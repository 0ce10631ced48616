#!/usr/bin/env bash
# bench/hostile.sh: HTTP/2 attacks against valk-aio and against Node's own
# http2 server, in the same run. The attacks are test/attacks.ts (built on the
# raw client test/h2raw.ts); for each attack and each server:
#
#   - a fresh server process, pinned to CPU 0 (taskset):
#       valk      bench/servers/valk-hostile.js: valk-aio with every default
#                 (what `valk-aio start` runs), debug routes, an admin listener,
#                 static `/` and `/big`, JavaScript `/js` and `/js/big`
#       node      bench/servers/node-http2-hostile.js: http2.createSecureServer
#                 with Node's defaults, the same paths
#       valk-cli  (optional) `node dist/cli/main.js start --port P --admin-port A`
#                 with `--route /big=<64 KiB>`; it has no JavaScript path of its
#                 own but /health, so the attacks' `/js` is /health there and
#                 `/js/big` is /big
#   - the attack, pinned to CPU 1, for DURATION seconds, next to a probe process
#     (also CPU 1): well-behaved GETs every PROBE_MS over one connection each, on
#     `/` and `/health` of the server and, for valk-aio, `/health` of its admin
#     listener (probe failures: errors, timeouts after PROBE_TIMEOUT_MS, non-2xx);
#   - the server's VmRSS (/proc/PID/status) every 100 ms from just before the
#     attack until it exits, POST seconds after the attack included (a server
#     may keep growing on what it already read); a server whose RSS passes
#     RSS_LIMIT_MB is killed (SIGKILL) and reported as such;
#   - then SIGTERM (SIGKILL after 10 s); valk-aio prints its stop report (leaks).
#
# It prints a Markdown table (RSS at start, peak, growth, server CPU, each probe's
# ok/failed and p99, how the server stopped, what the attacker saw: GOAWAY codes,
# RST_STREAM codes, statuses, connections the server closed) and writes one JSON
# line per (attack, server) to RESULTS (the attacker's whole result object, the
# probes', the RSS numbers).
#
#   bash bench/hostile.sh                         # every attack, valk and node, DURATION=10: ~6 min
#   DURATION=5 bash bench/hostile.sh              # quicker
#   ATTACKS="hpackBomb madeYouReset" SERVERS=valk bash bench/hostile.sh
#   OPTS_hpackBomb='{"connections":4}' bash bench/hostile.sh   # override an attack's options (JSON)
#
# Environment (all optional):
#   DURATION=10       seconds each attack runs
#   ATTACKS="hpackBomb stuckStreams zeroWindowHeadersFlood continuationFlood settingsFlood
#            pingFlood zeroWindowReader slowloris-body slowloris-headers madeYouReset"
#   SERVERS="valk node"   (also: valk-cli)
#   OPTS_<attack>=JSON  merged over the attack's options below ('-' in the name becomes '_':
#                       OPTS_slowloris_body); see test/attacks.ts for every option
#   MYR_PROVOKE=window-update-overflow  madeYouReset's provoking frame (window-update-0,
#                       data-on-half-closed, oversized-data, window-update-overflow, headers-on-half-closed)
#   PROBE_MS=50         probe interval; PROBE_TIMEOUT_MS=2000
#   POST=2              seconds RSS is still sampled after the attack, before SIGTERM
#   RSS_LIMIT_MB=4096   a server past this RSS is killed
#   BIG_BYTES=1048576   size of /big and /js/big
#   IDLE_WAIT=10 IDLE_MAX=15   before each run wait (at most IDLE_WAIT s) for a quiet machine
#   SERVER_CPUS=0 LOAD_CPUS=1  taskset CPU lists (server / attacker + probe)
#   OUT=                raw outputs (default: a new mktemp -d /tmp/valk-hostile.XXXXXX)
#   RESULTS=            JSON lines file, appended to (default /tmp/valk-hostile-<UTC stamp>.jsonl)
#   ALLOW_SANITIZED=1   run even when the addon is a sanitizer build
#
# The attacks' options here (each also bounded by DURATION):
#   hpackBomb               path /js, 2 connections x 100 streams of 16 KiB HEADERS, each ~65 MB decoded
#   stuckStreams            path /js, 4 connections x 100 POST streams, 1024 bytes of DATA each, never ended
#   zeroWindowHeadersFlood  path /, window 0, SETTINGS never ACKed, 100 GETs, then 13-byte HEADERS frames while not reading
#   continuationFlood       path /, 16-byte CONTINUATION frames, reconnecting when closed
#   settingsFlood, pingFlood  not reading (ACKs back up), reconnecting when closed
#   zeroWindowReader        path /js/big, 2 connections x 100 streams, windows 0 forever
#   slowloris-body          path /js, 10 connections x 10 POSTs, 1 byte of DATA per second each
#   slowloris-headers       path /js, 10 connections, a 1-byte CONTINUATION per second each
#   madeYouReset            path /js, MYR_PROVOKE, reconnecting when closed
#
# Expects the package built (dist/lib/index.js, build/Release/valk_aio.node or
# $VALK_AIO_ADDON); builds nothing but the attack driver: test/h2raw.ts,
# test/attacks.ts and bench/clients/hostile-driver.ts are compiled with `npx tsc`
# into OUT/js (never into the repository). The addon is copied into OUT first and
# every valk-aio server loads that copy. One key pair (openssl, EC P-256) for all
# servers. Every listener is on 127.0.0.1; every process started is stopped by
# PID (trap on exit); every loop is bounded.
#
# Exit status: 0 when every run produced an attacker result; 1 otherwise; 2 on
# setup errors. The numbers are reported, never judged.
set -u -o pipefail

DURATION=${DURATION:-10}
ATTACKS=${ATTACKS:-"hpackBomb stuckStreams zeroWindowHeadersFlood continuationFlood settingsFlood pingFlood zeroWindowReader slowloris-body slowloris-headers madeYouReset"}
SERVERS=${SERVERS:-"valk node"}
MYR_PROVOKE=${MYR_PROVOKE:-window-update-overflow}
PROBE_MS=${PROBE_MS:-50}
PROBE_TIMEOUT_MS=${PROBE_TIMEOUT_MS:-2000}
POST=${POST:-2}
RSS_LIMIT_MB=${RSS_LIMIT_MB:-4096}
BIG_BYTES=${BIG_BYTES:-1048576}
IDLE_WAIT=${IDLE_WAIT:-10}
IDLE_MAX=${IDLE_MAX:-15}
SERVER_CPUS=${SERVER_CPUS:-0}
LOAD_CPUS=${LOAD_CPUS:-1}
ATTACK_GRACE=30   # seconds past DURATION before the attack process is killed

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT" || exit 2

die() { echo "hostile.sh: $*" >&2; exit 2; }

for v in DURATION PROBE_MS PROBE_TIMEOUT_MS POST RSS_LIMIT_MB BIG_BYTES IDLE_WAIT IDLE_MAX; do
  [[ ${!v} =~ ^[0-9]+$ ]] || die "$v must be a non-negative integer, got '${!v}'"
done
(( DURATION > 0 && PROBE_MS > 0 && RSS_LIMIT_MB > 0 )) || die "DURATION, PROBE_MS and RSS_LIMIT_MB must be > 0"
ALL_ATTACKS="hpackBomb stuckStreams zeroWindowHeadersFlood continuationFlood settingsFlood pingFlood zeroWindowReader slowloris-body slowloris-headers madeYouReset"
for a in $ATTACKS; do [[ " $ALL_ATTACKS " == *" $a "* ]] || die "unknown attack '$a' in ATTACKS (valid: $ALL_ATTACKS)"; done
for s in $SERVERS; do [[ $s == valk || $s == node || $s == valk-cli ]] || die "unknown server '$s' in SERVERS (valid: valk node valk-cli)"; done
[[ -n ${ATTACKS// /} && -n ${SERVERS// /} ]] || die "ATTACKS and SERVERS must not be empty"
command -v node >/dev/null 2>&1 || die "node not found"
command -v openssl >/dev/null 2>&1 || die "openssl not found"
[[ -x node_modules/.bin/tsc ]] || die "node_modules/.bin/tsc missing: run \`npm ci\` first"
for v in $(compgen -v OPTS_); do
  node -e 'JSON.parse(process.argv[1])' "${!v}" 2>/dev/null || die "$v is not valid JSON: ${!v}"
done

# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"
check_addon hostile.sh
pin_cpus hostile.sh "attacker and probes"
CLK_TCK=$(getconf CLK_TCK 2>/dev/null || echo 100)

STAMP=$(date -u +%Y%m%d-%H%M%S)
OUT=${OUT:-$(mktemp -d /tmp/valk-hostile.XXXXXX)} || die "mktemp failed"
mkdir -p "$OUT" || die "cannot create $OUT"
OUT=$(cd "$OUT" && pwd)
RESULTS=${RESULTS:-/tmp/valk-hostile-$STAMP.jsonl}
: >>"$RESULTS" || die "cannot write $RESULTS"
use_addon_copy "$OUT"
RUNS="$OUT/runs.jsonl"
: >"$RUNS"

# --- the attack driver, compiled outside the repository ------------------------
echo "hostile.sh: compiling test/h2raw.ts test/attacks.ts bench/clients/hostile-driver.ts into $OUT/js"
timeout 180 node_modules/.bin/tsc --strict --target ES2022 --module commonjs --moduleResolution node --esModuleInterop \
  --skipLibCheck --types node --outDir "$OUT/js" --rootDir "$ROOT" \
  test/h2raw.ts test/attacks.ts bench/clients/hostile-driver.ts >"$OUT/tsc.txt" 2>&1 \
  || die "tsc failed: $(head -c 2000 "$OUT/tsc.txt")"
DRIVER="$OUT/js/bench/clients/hostile-driver.js"
[[ -f $DRIVER ]] || die "tsc produced no $DRIVER"

# --- one key pair for every server ---------------------------------------------
KEY_FILE="$OUT/key.pem"
CERT_FILE="$OUT/cert.pem"
LD_PRELOAD='' openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout "$KEY_FILE" -out "$CERT_FILE" \
  -days 2 -subj /CN=localhost -addext 'subjectAltName=DNS:localhost,IP:127.0.0.1' >"$OUT/openssl.txt" 2>&1 \
  || die "openssl failed: $(cat "$OUT/openssl.txt")"
export KEY_FILE CERT_FILE BIG_BYTES

# --- process bookkeeping ---------------------------------------------------------
SERVER_PID=""
ATTACK_PID=""
PROBE_PID=""
SAMPLER_PID=""
kill_pid() {  # kill_pid <pid> <grace s>: TERM, wait, KILL; reaps it
  local pid=$1 grace=$2 i
  [[ -n $pid ]] || return 0
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null
    for (( i = 0; i < grace * 10; i++ )); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null
  fi
  wait "$pid" 2>/dev/null
  return 0
}
cleanup() {
  kill_pid "$ATTACK_PID" 2; ATTACK_PID=""
  kill_pid "$PROBE_PID" 2; PROBE_PID=""
  kill_pid "$SERVER_PID" 5; SERVER_PID=""
  kill_pid "$SAMPLER_PID" 1; SAMPLER_PID=""
}
trap cleanup EXIT
trap 'echo "hostile.sh: interrupted" >&2; exit 130' INT TERM

now_ms() { echo $(( ${EPOCHREALTIME/./} / 1000 )); }
rss_kb() {  # rss_kb <pid>: VmRSS in kB (empty when gone), bash only
  local k v _
  while read -r k v _; do [[ $k == VmRSS: ]] && { echo "$v"; return; }; done 2>/dev/null <"/proc/$1/status"
}
# rss_sampler <pid> <file> <limit kB>: "<epoch ms> <kB>" every 100 ms while pid
# lives; past the limit: SIGKILL to pid and "KILLED <kB> <epoch ms>".
rss_sampler() {
  local pid=$1 limit=$3 rss k v _ i
  for (( i = 0; i < 36000; i++ )); do   # bounded: 1 hour
    rss=""
    while read -r k v _; do [[ $k == VmRSS: ]] && { rss=$v; break; }; done 2>/dev/null <"/proc/$pid/status"
    [[ -n $rss ]] || break
    echo "$(( ${EPOCHREALTIME/./} / 1000 )) $rss"
    if (( rss > limit )); then
      kill -KILL "$pid" 2>/dev/null
      echo "KILLED $rss $(( ${EPOCHREALTIME/./} / 1000 ))"
      break
    fi
    sleep 0.1
  done >"$2"
}
free_ports() {  # two free TCP ports on 127.0.0.1
  node -e '
    const net = require("node:net");
    const a = net.createServer().listen(0, "127.0.0.1", () => {
      const b = net.createServer().listen(0, "127.0.0.1", () => {
        console.log(a.address().port, b.address().port); a.close(); b.close();
      });
    });'
}

# --- servers -------------------------------------------------------------------------
# start_server <server> <tag>: SERVER_PID, PORT, ADMIN_PORT (empty: none), P_JS,
# P_JSBIG, SERVER_CMD; returns 1 when it did not come up within 15 s.
start_server() {
  local name=$1 tag=$2 out="$OUT/$2.server.out" err="$OUT/$2.server.err" line i
  PORT="" ADMIN_PORT="" P_JS=/js P_JSBIG=/js/big
  case $name in
    valk) SERVER_CMD=(node bench/servers/valk-hostile.js 0 0) ;;
    node) SERVER_CMD=(node bench/servers/node-http2-hostile.js 0) ;;
    valk-cli)
      local ports
      read -r -a ports < <(free_ports)
      head -c 65536 /dev/zero | tr '\0' b >"$OUT/big64k.txt"
      SERVER_CMD=(node dist/cli/main.js start --port "${ports[0]}" --admin-port "${ports[1]}" --cert "$CERT_FILE" --key "$KEY_FILE"
        --route "/big=$(cat "$OUT/big64k.txt")")
      P_JS=/health P_JSBIG=/big ;;
  esac
  "${PIN_SERVER[@]}" "${SERVER_CMD[@]}" >"$out" 2>"$err" &
  SERVER_PID=$!
  for (( i = 0; i < 150; i++ )); do
    case $name in
      valk) read -r _ PORT ADMIN_PORT < <(grep -m1 -E '^READY [0-9]+ [0-9]+$' "$out") ;;
      node) read -r _ PORT < <(grep -m1 -E '^READY [0-9]+$' "$out") ;;
      valk-cli)
        PORT=$(sed -nE 's#^listening on https://127\.0\.0\.1:([0-9]+)/.*#\1#p' "$out" | head -n1)
        ADMIN_PORT=$(sed -nE 's#^dashboard: https://127\.0\.0\.1:([0-9]+)/.*#\1#p' "$out" | head -n1) ;;
    esac
    [[ -n $PORT ]] && break
    kill -0 "$SERVER_PID" 2>/dev/null || break
    sleep 0.1
  done
  [[ -n $PORT ]]
}

# attack_spec <attack>: FN (the function of test/attacks.ts) and DEF (its options, JSON)
attack_spec() {
  case $1 in
    hpackBomb) FN=hpackBomb DEF="{\"path\":\"$P_JS\",\"connections\":2,\"streamsPerConnection\":100}" ;;
    stuckStreams) FN=stuckStreams DEF="{\"path\":\"$P_JS\",\"connections\":4,\"streamsPerConnection\":100,\"dataBytes\":1024}" ;;
    zeroWindowHeadersFlood) FN=zeroWindowHeadersFlood DEF='{"path":"/","initialStreams":100}' ;;
    continuationFlood) FN=continuationFlood DEF='{"path":"/","reconnect":true}' ;;
    settingsFlood) FN=settingsFlood DEF='{"read":false,"reconnect":true}' ;;
    pingFlood) FN=pingFlood DEF='{"read":false,"reconnect":true}' ;;
    zeroWindowReader) FN=zeroWindowReader DEF="{\"path\":\"$P_JSBIG\",\"connections\":2,\"streams\":100}" ;;
    slowloris-body) FN=slowloris DEF="{\"variant\":\"body\",\"path\":\"$P_JS\",\"connections\":10,\"streamsPerConnection\":10,\"intervalMs\":1000}" ;;
    slowloris-headers) FN=slowloris DEF="{\"variant\":\"headers\",\"path\":\"$P_JS\",\"connections\":10,\"intervalMs\":1000}" ;;
    madeYouReset) FN=madeYouReset DEF="{\"path\":\"$P_JS\",\"provoke\":\"$MYR_PROVOKE\",\"reconnect\":true}" ;;
  esac
}

FAILED=0
# run_one <attack> <server>: one line appended to RUNS and RESULTS
run_one() {
  local attack=$1 name=$2 tag="$1-$2" meta
  meta="$OUT/$tag.meta.tsv"
  if ! start_server "$name" "$tag"; then
    echo "hostile.sh: $tag: the server did not come up (see $OUT/$tag.server.err)" >&2
    kill_pid "$SERVER_PID" 5; SERVER_PID=""
    FAILED=1
    return
  fi
  attack_spec "$attack"
  local ov_name="OPTS_${attack//-/_}" ov=""
  ov=${!ov_name:-}
  local busy
  busy=$(wait_idle)
  local targets="[{\"name\":\"/\",\"port\":$PORT,\"path\":\"/\"},{\"name\":\"/health\",\"port\":$PORT,\"path\":\"/health\"}"
  [[ -n $ADMIN_PORT ]] && targets+=",{\"name\":\"admin /health\",\"port\":$ADMIN_PORT,\"path\":\"/health\"}"
  targets+="]"
  local probe_json="{\"durationMs\":$(( DURATION * 1000 )),\"intervalMs\":$PROBE_MS,\"timeoutMs\":$PROBE_TIMEOUT_MS,\"targets\":$targets}"
  local base="{\"port\":$PORT,\"durationMs\":$(( DURATION * 1000 ))}"

  local rss0 cpu0 cpu1 t0 t1 tstop arc=0 prc=0
  rss0=$(rss_kb "$SERVER_PID")
  rss_sampler "$SERVER_PID" "$OUT/$tag.rss.txt" $(( RSS_LIMIT_MB * 1024 )) &
  SAMPLER_PID=$!
  cpu0=$(cpu_ticks "$SERVER_PID")
  t0=$(now_ms)
  timeout --kill-after=5 $(( DURATION + 20 )) "${PIN_LOAD[@]}" node "$DRIVER" probe "$probe_json" >"$OUT/$tag.probe.json" 2>"$OUT/$tag.probe.err" &
  PROBE_PID=$!
  timeout --kill-after=5 $(( DURATION + ATTACK_GRACE )) "${PIN_LOAD[@]}" node "$DRIVER" attack "$FN" "$DEF" "$ov" "$base" \
    >"$OUT/$tag.attack.json" 2>"$OUT/$tag.attack.err" &
  ATTACK_PID=$!
  wait "$ATTACK_PID" || arc=$?
  ATTACK_PID=""
  t1=$(now_ms)
  cpu1=$(cpu_ticks "$SERVER_PID")
  wait "$PROBE_PID" || prc=$?
  PROBE_PID=""
  # Keep sampling: a server may go on growing on what it already read.
  local i
  for (( i = 0; i < POST * 10; i++ )); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done
  tstop=$(now_ms)
  local stop_res
  if ! kill -0 "$SERVER_PID" 2>/dev/null; then
    wait "$SERVER_PID" 2>/dev/null; stop_res="died rc=$?"
    grep -q '^KILLED' "$OUT/$tag.rss.txt" 2>/dev/null && stop_res="killed at RSS limit"
  else
    stop_process "$SERVER_PID"; stop_res=$STOP_RES
  fi
  SERVER_PID=""
  wait "$SAMPLER_PID" 2>/dev/null
  SAMPLER_PID=""
  {
    printf 'run\t%s\n' "$STAMP"
    printf 'date\t%s\n' "$(date -u '+%Y-%m-%dT%H:%M:%SZ')"
    printf 'attack\t%s\nfn\t%s\nserver\t%s\nduration_s\t%s\n' "$attack" "$FN" "$name" "$DURATION"
    printf 'rss_start_kb\t%s\nrss_limit_kb\t%s\n' "$rss0" $(( RSS_LIMIT_MB * 1024 ))
    printf 't_attack0\t%s\nt_attack1\t%s\nt_stop\t%s\n' "$t0" "$t1" "$tstop"
    printf 'cpu0\t%s\ncpu1\t%s\nclk_tck\t%s\n' "$cpu0" "$cpu1" "$CLK_TCK"
    printf 'attack_rc\t%s\nprobe_rc\t%s\nstop_res\t%s\n' "$arc" "$prc" "$stop_res"
    printf 'rss_file\t%s\nattack_file\t%s\nattack_err\t%s\nprobe_file\t%s\nserver_out\t%s\nserver_err\t%s\n' \
      "$OUT/$tag.rss.txt" "$OUT/$tag.attack.json" "$OUT/$tag.attack.err" "$OUT/$tag.probe.json" "$OUT/$tag.server.out" "$OUT/$tag.server.err"
    printf 'server_cmd\t%s\n' "${PIN_SERVER[*]}${PIN_SERVER:+ }${SERVER_CMD[*]:0:8}"
    printf 'attack_cmd\t%s\n' "${PIN_LOAD[*]}${PIN_LOAD:+ }node hostile-driver.js attack $FN '$DEF' '$ov' '$base'"
    printf 'machine_busy_before\t%s\n' "$busy"
  } >"$meta"
  local line
  line=$(node bench/clients/hostile-report.js record "$meta") || { echo "hostile.sh: $tag: report failed" >&2; FAILED=1; return; }
  echo "$line" >>"$RUNS"
  echo "$line" >>"$RESULTS"
  (( arc == 0 )) && [[ -s $OUT/$tag.attack.json ]] || { FAILED=1; echo "hostile.sh: $tag: attack exit $arc (see $OUT/$tag.attack.err)" >&2; }
  node -e '
    const r = JSON.parse(process.argv[1]); const m = (k) => (k == null ? "?" : (k / 1024).toFixed(1));
    const p = Object.entries(r.probes || {}).map(([n, x]) => `${n} ${x.ok}/${x.failed}`).join(", ");
    console.log(`  ${r.attack.padEnd(22)} ${r.server.padEnd(8)} RSS ${m(r.rssKb.start)} -> peak ${m(r.rssKb.peak)} MiB` +
      `${r.killedAtLimit ? " KILLED AT LIMIT" : ""}; probes ${p}; stop ${r.serverStop}`);' "$line"
}

{
  echo "date:     $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
  echo "machine:  $(nproc 2>/dev/null || echo 1) CPU, $(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo 2>/dev/null), $(awk '/^MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo)"
  echo "node:     $(node -v)"
  echo "pinning:  $PINNING"
  echo "run:      DURATION=$DURATION s per attack, POST=$POST s, probes every $PROBE_MS ms (timeout $PROBE_TIMEOUT_MS ms), RSS limit $RSS_LIMIT_MB MiB"
  if git rev-parse --git-dir >/dev/null 2>&1; then
    echo "addon:    $ADDON (copied, sha256 $ADDON_SHA...), commit $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- csrc lib binding.gyp 2>/dev/null || echo ' + uncommitted changes in csrc/, lib/ or binding.gyp')"
  else
    echo "addon:    $ADDON (copied, sha256 $ADDON_SHA...), not a git checkout"
  fi
  echo "raw:      $OUT"
  echo "results:  $RESULTS"
} | tee "$OUT/header.txt"
echo

for attack in $ATTACKS; do
  for name in $SERVERS; do
    run_one "$attack" "$name"
  done
done

echo
node bench/clients/hostile-report.js table "$RUNS" | tee "$OUT/table.md"
exit $FAILED
