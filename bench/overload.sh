#!/usr/bin/env bash
# bench/overload.sh: the overload scenario (docs/design.md §3; cases T10 and
# A11 of §11). Far more clients than the server admits (CLIENTS=500 against
# maxConnections 100), for DURATION seconds, driven by h2load and by hey,
# against three servers in the same run:
#
#   valk        valk-aio, maxConnections MAXCONN, static route `/`
#               (bench/servers/valk-overload.js)
#   node        Node's http2.createSecureServer, no connection limit
#               (bench/servers/node-http2-overload.js ... 0)
#   node-limit  the same with server.maxConnections = MAXCONN
#               (bench/servers/node-http2-overload.js ... MAXCONN)
#
# Each server prints a once-per-second JSON sample (cumulative 2xx, bytes,
# open connections, refusals, RSS); from those this script computes goodput
# (2xx responses/s, server side) in WINDOW-second windows from the moment the
# load tool starts, the ratio last window / first window (the failure this
# guards against is throughput collapsing over time), peak open connections,
# refusals and peak RSS, next to the load tool's own summary. It prints a
# Markdown table and the exact command lines.
#
#   bash bench/overload.sh                 # DURATION=60: 6 runs of 60 s, ~8 min
#   DURATION=10 WINDOW=2 bash bench/overload.sh   # quick end-to-end check
#
# Environment (all optional):
#   DURATION=60    seconds of load per run (h2load -D, hey -z)
#   CLIENTS=500    connections (h2load -c) / workers (hey -c)
#   MAXCONN=100    valk-aio maxConnections and node-limit's server.maxConnections
#   STREAMS=10     h2load -m (max concurrent streams per connection)
#   WINDOW=10      goodput window, seconds; DURATION/WINDOW windows (>= 2 for a ratio)
#   SERVERS="valk node node-limit"   which servers
#   TOOLS="h2load hey"               which load tools
#   IDLE_WAIT=30   seconds to wait, before each run, for the machine to go
#   IDLE_MAX=15    quiet (< IDLE_MAX % busy over 1 s); then it runs anyway and says so
#   OTHER_MAX=10   a goodput window is marked (†) as disturbed when the rest of
#                  the machine (not the server, not the load tool) used more
#                  than OTHER_MAX % of a core during it (sampled every second)
#   TOOL_GRACE=20  seconds past DURATION before a load tool is killed (h2load
#                  can run on past -D when clients were still connecting at the
#                  end; it is then killed and its summary is missing)
#   OUT=           directory for raw outputs (default: a new mktemp -d under /tmp)
#   ALLOW_SANITIZED=1  run even when the addon is a sanitizer build
#
# Expects the package built (dist/lib/index.js, build/Release/valk_aio.node or
# $VALK_AIO_ADDON); builds nothing. The addon is copied into OUT first and every
# server loads that copy (VALK_AIO_ADDON), so a rebuild during the run cannot
# mix builds. Servers are pinned to CPU 0, load tools to CPU 1 (taskset). Every
# listener is on 127.0.0.1; every process started is stopped by PID.
#
# Exit status: 0 when every valk-aio run met the bar (last window >= 90% of the
# first, sampled open connections never above MAXCONN, stop report 0 leaked
# connections and 0 leaked TCP buffers, clean exit); 1 otherwise; 2 on setup
# errors. The Node servers' numbers are reported, never judged.
set -u -o pipefail

DURATION=${DURATION:-60}
CLIENTS=${CLIENTS:-500}
MAXCONN=${MAXCONN:-100}
STREAMS=${STREAMS:-10}
WINDOW=${WINDOW:-10}
SERVERS=${SERVERS:-"valk node node-limit"}
TOOLS=${TOOLS:-"h2load hey"}
IDLE_WAIT=${IDLE_WAIT:-30}
IDLE_MAX=${IDLE_MAX:-15}
TOOL_GRACE=${TOOL_GRACE:-20}
OTHER_MAX=${OTHER_MAX:-10}

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT" || exit 2

die() { echo "overload.sh: $*" >&2; exit 2; }

for v in DURATION CLIENTS MAXCONN STREAMS WINDOW IDLE_WAIT IDLE_MAX TOOL_GRACE OTHER_MAX; do
  [[ ${!v} =~ ^[0-9]+$ ]] || die "$v must be a non-negative integer, got '${!v}'"
done
(( DURATION > 0 && CLIENTS > 0 && MAXCONN > 0 && STREAMS > 0 && WINDOW > 0 )) \
  || die "DURATION, CLIENTS, MAXCONN, STREAMS and WINDOW must be > 0"
(( WINDOW <= DURATION )) || die "WINDOW ($WINDOW) must be <= DURATION ($DURATION)"
NWIN=$(( DURATION / WINDOW ))
(( NWIN >= 2 )) || echo "overload.sh: WARNING: DURATION/WINDOW = $NWIN window; last/first is trivially 1 (try WINDOW=$(( DURATION / 5 > 0 ? DURATION / 5 : 1 )))" >&2
for s in $SERVERS; do [[ $s == valk || $s == node || $s == node-limit ]] || die "unknown server '$s' in SERVERS (valid: valk node node-limit)"; done
for t in $TOOLS; do [[ $t == h2load || $t == hey ]] || die "unknown tool '$t' in TOOLS (valid: h2load hey)"; done
[[ -n ${SERVERS// /} && -n ${TOOLS// /} ]] || die "SERVERS and TOOLS must not be empty"

# --- prerequisites -----------------------------------------------------------
# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"
for t in $TOOLS; do
  case $t in
    h2load) ensure_tool overload.sh h2load nghttp2-client ;;
    hey) ensure_tool overload.sh hey hey ;;
  esac
done
command -v node >/dev/null 2>&1 || die "node not found"
check_addon overload.sh
SERVER_CPUS=0
LOAD_CPUS=1
pin_cpus overload.sh "load tools"
CLK_TCK=$(getconf CLK_TCK 2>/dev/null || echo 100)

OUT=${OUT:-$(mktemp -d /tmp/valk-overload.XXXXXX)} || die "mktemp failed"
mkdir -p "$OUT" || die "cannot create $OUT"
OUT=$(cd "$OUT" && pwd)
use_addon_copy "$OUT"

# --- process bookkeeping -----------------------------------------------------
SERVER_PID=""
LOAD_PID=""
SAMPLER_PID=""
stop_pid() {  # stop_pid <pid> <grace seconds>: TERM, wait, KILL; prints "killed" if it needed KILL
  local pid=$1 grace=$2 i
  [[ -n $pid ]] || return 0
  kill -0 "$pid" 2>/dev/null || return 0
  kill -TERM "$pid" 2>/dev/null
  for (( i = 0; i < grace * 10; i++ )); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null && echo killed
  return 0
}
cleanup() {
  stop_pid "$SAMPLER_PID" 2 >/dev/null; [[ -n $SAMPLER_PID ]] && wait "$SAMPLER_PID" 2>/dev/null
  SAMPLER_PID=""
  stop_pid "$LOAD_PID" 5 >/dev/null; [[ -n $LOAD_PID ]] && wait "$LOAD_PID" 2>/dev/null
  LOAD_PID=""
  stop_pid "$SERVER_PID" 15 >/dev/null; [[ -n $SERVER_PID ]] && wait "$SERVER_PID" 2>/dev/null
  SERVER_PID=""
}
trap cleanup EXIT
trap 'echo "overload.sh: interrupted" >&2; exit 130' INT TERM

server_cmd() {  # server_cmd <server>: the node command line (port 0 = free port)
  case $1 in
    valk) echo "node bench/servers/valk-overload.js 0 $MAXCONN" ;;
    node) echo "node bench/servers/node-http2-overload.js 0 0" ;;
    node-limit) echo "node bench/servers/node-http2-overload.js 0 $MAXCONN" ;;
  esac
}
tool_args() {  # tool_args <tool> <url>
  case $1 in
    h2load) echo "h2load -c $CLIENTS -m $STREAMS -D $DURATION $2" ;;
    hey) echo "hey -h2 -c $CLIENTS -z ${DURATION}s $2" ;;
  esac
}

# machine_ticks, wait_idle, cpu_ticks
# CPU seconds (user + sys) of this shell's waited-for children so far (bash `times`).
# Sets CHILD_CPU; `times` must run in this shell, not in a $(...) subshell.
children_cpu() {
  times >"$OUT/.times"
  CHILD_CPU=$(awk 'NR == 2 { t = 0; for (i = 1; i <= 2; i++) { split($i, a, /[ms]/); t += a[1] * 60 + a[2] } printf "%.2f", t }' "$OUT/.times")
}
now_ms() { date +%s%3N; }

# cpu_sampler <server pid> <timeout pid> <file>: once a second, one line
#   <epoch µs> <machine busy ticks> <server ticks> <load tool ticks>
# read from /proc in bash alone (no forks, so it barely shows up as "other").
# The load tool is the child of `timeout` (taskset execs it).
proc_ticks() {  # proc_ticks <pid>: utime+stime into TICKS (0 when gone)
  local line f
  TICKS=0
  [[ -n $1 ]] && read -r line 2>/dev/null <"/proc/$1/stat" || return 0
  line=${line##*) }
  read -r -a f <<<"$line"
  TICKS=$(( f[11] + f[12] ))
}
cpu_sampler() {
  local spid=$1 tpid=$2 kid="" busy st=0 tt=0 _c u n sy idl io irq sirq steal
  while :; do
    read -r _c u n sy idl io irq sirq steal _ </proc/stat
    busy=$(( u + n + sy + irq + sirq + steal ))
    [[ -n $kid ]] || read -r kid _ 2>/dev/null <"/proc/$tpid/task/$tpid/children"
    # Ticks only grow; a process gone (0) keeps its last value.
    proc_ticks "$spid"; (( TICKS > st )) && st=$TICKS
    proc_ticks "$kid"; (( TICKS > tt )) && tt=$TICKS
    echo "${EPOCHREALTIME/./} $busy $st $tt"
    sleep 1
  done >"$3"
}

# --- one run -----------------------------------------------------------------
# run_one <server> <tool>: appends one line to $OUT/runs.tsv:
# server tool tag port L0 L1 tool_rc server_rc killed srv_cpu% tool_cpu% other_cpu% note server_cmd tool_cmd
run_one() {
  local name=$1 tool=$2 tag="$2-$1" port="" note="" cmd
  cmd=$(server_cmd "$name")
  local sout="$OUT/$tag.server.jsonl" serr="$OUT/$tag.server.stderr" tout="$OUT/$tag.$tool.txt"
  # shellcheck disable=SC2086
  "${PIN_SERVER[@]}" $cmd >"$sout" 2>"$serr" &
  SERVER_PID=$!
  port=$(wait_ready "$sout")
  if [[ -z $port ]]; then
    echo "overload.sh: $tag: server did not print READY within 15 s (stderr: $serr)" >&2
    cleanup
    printf '%s\t%s\t%s\t\t0\t0\t-1\t-1\t0\tnan\tnan\tnan\tno READY\t%s\t\n' "$name" "$tool" "$tag" "$cmd" >>"$OUT/runs.tsv"
    return
  fi
  local url="https://127.0.0.1:$port/" targs idle
  targs=$(tool_args "$tool" "$url")
  idle=$(wait_idle)
  (( idle < IDLE_MAX )) || note+="machine ${idle}% busy before the run; "

  local L0 L1 s0 s1 t0 t1 m0 m1 c0 c1 trc=0
  children_cpu; c0=$CHILD_CPU
  m0=$(machine_ticks | cut -d' ' -f1)
  s0=$(cpu_ticks "$SERVER_PID")
  t0=$(date +%s.%N)
  L0=$(now_ms)
  # shellcheck disable=SC2086
  timeout --kill-after=10 $(( DURATION + TOOL_GRACE )) "${PIN_LOAD[@]}" $targs >"$tout" 2>&1 &
  LOAD_PID=$!
  cpu_sampler "$SERVER_PID" "$LOAD_PID" "$OUT/$tag.cpu.txt" &
  SAMPLER_PID=$!
  wait "$LOAD_PID" || trc=$?
  LOAD_PID=""
  L1=$(now_ms)
  t1=$(date +%s.%N)
  s1=$(cpu_ticks "$SERVER_PID")
  m1=$(machine_ticks | cut -d' ' -f1)
  children_cpu; c1=$CHILD_CPU
  if (( trc == 124 || trc == 137 )); then note+="$tool did not stop by itself: killed by timeout after $(( DURATION + TOOL_GRACE )) s (exit $trc); "
  elif (( trc != 0 )); then note+="$tool exit $trc; "; fi
  local srvcpu toolcpu othercpu
  srvcpu=$(awk -v a="$s0" -v b="$s1" -v t0="$t0" -v t1="$t1" -v hz="$CLK_TCK" \
    'BEGIN { if (t1 > t0) printf "%.0f", 100 * (b - a) / hz / (t1 - t0); else print "nan" }')
  # The load tool's CPU: what this shell's children used meanwhile (the tool,
  # via timeout, plus a few date/awk calls). Everything else on the machine
  # (other processes, softirq not charged to a process) is "other", in % of one
  # core; it is how a run disturbed by the rest of the machine shows.
  toolcpu=$(awk -v a="$c0" -v b="$c1" -v t0="$t0" -v t1="$t1" 'BEGIN { if (t1 > t0) printf "%.0f", 100 * (b - a) / (t1 - t0); else print "nan" }')
  othercpu=$(awk -v m0="$m0" -v m1="$m1" -v s0="$s0" -v s1="$s1" -v c0="$c0" -v c1="$c1" -v t0="$t0" -v t1="$t1" -v hz="$CLK_TCK" \
    'BEGIN { if (t1 > t0) { o = 100 * (((m1 - m0) - (s1 - s0)) / hz - (c1 - c0)) / (t1 - t0); printf "%.0f", (o < 0 ? 0 : o) } else print "nan" }')
  # Two more samples after the load, so every window ends inside the samples.
  sleep 2.2
  stop_pid "$SAMPLER_PID" 2 >/dev/null; wait "$SAMPLER_PID" 2>/dev/null
  SAMPLER_PID=""

  local killed src=0 pid=$SERVER_PID
  killed=$(stop_pid "$pid" 15)
  wait "$pid" 2>/dev/null || src=$?
  SERVER_PID=""
  [[ $killed == killed ]] && note+="server needed SIGKILL; "
  (( src == 0 )) || note+="server exit $src; "
  [[ -s $serr ]] && note+="server stderr: $(head -c 200 "$serr" | tr '\n\t' '  '); "

  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' \
    "$name" "$tool" "$tag" "$port" "$L0" "$L1" "$trc" "$src" "$([[ $killed == killed ]] && echo 1 || echo 0)" \
    "$srvcpu" "$toolcpu" "$othercpu" "${note%; }" "${PIN_SERVER[*]}${PIN_SERVER:+ }$cmd" "${PIN_LOAD[*]}${PIN_LOAD:+ }$targs" >>"$OUT/runs.tsv"
  printf '  %-10s %-6s done in %5.1f s: %s exit %s, server exit %s; CPU server %s%% %s %s%% other %s%%%s\n' \
    "$name" "$tool" "$(awk -v a="$L0" -v b="$L1" 'BEGIN { print (b - a) / 1000 }')" "$tool" "$trc" "$src" "$srvcpu" "$tool" "$toolcpu" "$othercpu" \
    "${note:+  (${note%; })}"
}

# --- analysis (Node: JSON samples in, Markdown out) -----------------------------
cat >"$OUT/analyze.js" <<'EOF'
'use strict';
// node analyze.js OUT DURATION WINDOW MAXCONN CLK_TCK OTHER_MAX: reads OUT/runs.tsv and the
// server samples, prints the Markdown report, exits 1 if a valk-aio check failed.
const fs = require('node:fs');
const path = require('node:path');
const [out, DURATION, WINDOW, MAXCONN, HZ, OTHER_MAX] = [process.argv[2], ...process.argv.slice(3).map(Number)];
const NWIN = Math.floor(DURATION / WINDOW);
const MiB = 1024 * 1024;

const runs = fs.readFileSync(path.join(out, 'runs.tsv'), 'utf8').split('\n').filter(Boolean).map((l) => {
  const f = l.split('\t');
  return { server: f[0], tool: f[1], tag: f[2], port: f[3], L0: +f[4], L1: +f[5], toolRc: +f[6],
    serverRc: +f[7], killed: f[8] === '1', srvCpu: f[9], toolCpu: f[10], otherCpu: f[11], note: f[12],
    serverCmd: f[13], toolCmd: f[14] };
});

function readLines(file) {
  try { return fs.readFileSync(file, 'utf8').split('\n'); } catch { return []; }
}

// Cumulative counter at time t (ms epoch), linear between the samples around it.
function at(samples, key, t) {
  if (samples.length === 0) return NaN;
  if (t <= samples[0].now) return samples[0][key];
  for (let i = 1; i < samples.length; i++) {
    const a = samples[i - 1], b = samples[i];
    if (t <= b.now) return b.now === a.now ? b[key] : a[key] + (b[key] - a[key]) * (t - a.now) / (b.now - a.now);
  }
  return samples[samples.length - 1][key];
}

function h2loadSummary(text) {
  const fin = /finished in ([0-9.]+\w+), ([0-9.]+) req\/s, ([0-9.]+\w+\/s)/.exec(text);
  const req = /requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored, (\d+) timeout/.exec(text);
  const st = /status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx/.exec(text);
  if (!fin && !req) return { text: 'no h2load summary', rps: NaN };
  const parts = [];
  if (fin) parts.push(`${Math.round(+fin[2])} req/s`);
  if (req) parts.push(`${req[1]} total, ${req[4]} succeeded, ${req[5]} failed, ${req[6]} errored, ${req[7]} timeout`);
  if (st && +st[3] + +st[4] > 0) parts.push(`4xx ${st[3]} 5xx ${st[4]}`);
  return { text: parts.join('; '), rps: fin ? +fin[2] : NaN };
}

function heySummary(text) {
  const rps = /Requests\/sec:\s+([0-9.]+)/.exec(text);
  const secs = /Total:\s+([0-9.]+) secs/.exec(text);
  let total = 0, ok = 0, errors = 0;
  const codes = [];
  const sc = text.split('Status code distribution:')[1];
  if (sc) {
    for (const m of sc.split(/\n\s*\n|Error distribution:/)[0].matchAll(/\[(\d+)\]\s+(\d+) responses/g)) {
      total += +m[2];
      if (m[1].startsWith('2')) ok += +m[2];
      codes.push(`[${m[1]}] ${m[2]}`);
    }
  }
  const kinds = [];
  const ed = text.split('Error distribution:')[1];
  if (ed) {
    for (const m of ed.matchAll(/\[(\d+)\]\s+(.*)/g)) {
      errors += +m[1];
      // The error text without the URL, shortened: "Get \"https://...\": read: connection reset by peer".
      const msg = m[2].replace(/^\w+ "https?:\/\/[^"]*":\s*/, '').slice(0, 60);
      kinds.push({ n: +m[1], msg });
    }
  }
  // hey keeps at most 1,000,000 results for its status code distribution
  // (maxRes); Requests/sec counts them all, so the total is req/s x Total.
  const capped = total >= 1000000;
  total += errors;
  if (!rps && total === 0) return { text: 'no hey summary', rps: NaN };
  if (rps && secs) total = Math.round(+rps[1] * +secs[1]);
  kinds.sort((a, b) => b.n - a.n);
  const parts = [`${rps ? Math.round(+rps[1]) : '?'} req/s`,
    `${total} total, ${ok}${capped ? ' (hey caps its status counts at 1,000,000)' : ''} 2xx`, `${errors} errors`];
  if (kinds.length) parts.push('errors: ' + kinds.slice(0, 2).map((k) => `${k.n}× ${k.msg}`).join(' | ') + (kinds.length > 2 ? ` | +${kinds.length - 2} kinds` : ''));
  if (codes.some((c) => !c.startsWith('[2'))) parts.push('codes ' + codes.join(' '));
  return { text: parts.join('; '), rps: rps ? +rps[1] : NaN };
}

const esc = (s) => String(s).replace(/\|/g, '\\|');
const fmt = (x, d = 0) => (Number.isFinite(x) ? x.toFixed(d) : 'n/a');

let bad = false;
const checks = [];
const results = [];
for (const r of runs) {
  const lines = readLines(path.join(out, `${r.tag}.server.jsonl`));
  const samples = [];
  let stop = null;
  for (const l of lines) {
    if (!l.startsWith('{')) continue;
    try {
      const o = JSON.parse(l);
      if (o.sample) samples.push(o.sample);
      if (o.stop) stop = o.stop;
    } catch { /* a torn last line */ }
  }
  samples.sort((a, b) => a.now - b.now);
  // Per-second CPU of the machine, the server and the load tool -> "other" per window.
  const cpu = readLines(path.join(out, `${r.tag}.cpu.txt`)).map((l) => l.trim().split(/\s+/).map(Number))
    .filter((f) => f.length === 4 && f.every(Number.isFinite))
    .map(([us, busy, srv, tool]) => ({ now: us / 1000, busy, srv, tool }));
  // Process ticks only grow: a process gone reads 0, keep its last value.
  for (let i = 1; i < cpu.length; i++) {
    cpu[i].srv = Math.max(cpu[i].srv, cpu[i - 1].srv);
    cpu[i].tool = Math.max(cpu[i].tool, cpu[i - 1].tool);
  }
  for (const c of cpu) c.other = c.busy - c.srv - c.tool;
  const win = [], other = [];
  for (let i = 0; i < NWIN; i++) {
    const a = r.L0 + i * WINDOW * 1000, b = a + WINDOW * 1000;
    win.push((at(samples, 'ok', b) - at(samples, 'ok', a)) / WINDOW);
    other.push(cpu.length >= 2 ? Math.max(0, 100 * (at(cpu, 'other', b) - at(cpu, 'other', a)) / HZ / WINDOW) : NaN);
  }
  const inLoad = samples.filter((s) => s.now >= r.L0 && s.now <= r.L1 + 1500);
  const peakActive = samples.reduce((m, s) => Math.max(m, s.active), 0);
  const peakExact = samples.reduce((m, s) => Math.max(m, s.peak_active ?? 0), 0);
  const last = samples[samples.length - 1] || {};
  const peakRss = samples.reduce((m, s) => Math.max(m, s.rss), 0);
  const text = readLines(path.join(out, `${r.tag}.${r.tool}.txt`)).join('\n');
  const tool = r.tool === 'h2load' ? h2loadSummary(text) : heySummary(text);
  const ratio = win.length && win[0] > 0 ? win[win.length - 1] / win[0] : NaN;
  const mean = win.length ? win.reduce((a, b) => a + b, 0) / win.length : NaN;
  const maxGap = inLoad.reduce((m, s, i) => (i ? Math.max(m, s.now - inLoad[i - 1].now) : m), 0);
  results.push({ r, samples, win, other, ratio, mean, peakActive, peakExact, last, peakRss, tool, stop, maxGap });

  if (r.server === 'valk') {
    const fails = [];
    if (!(ratio >= 0.9)) fails.push(`last/first ${fmt(ratio, 2)} < 0.90`);
    if (peakActive > MAXCONN) fails.push(`sampled active ${peakActive} > ${MAXCONN}`);
    if (!stop) fails.push('no stop report');
    else {
      const leaks = ['leakedConnections', 'leakedTcpBuffers', 'leakedArenas', 'leakedGracefulSlots'].filter((k) => stop[k] !== 0);
      if (leaks.length) fails.push(`LEAKS ${leaks.map((k) => `${k}=${stop[k]}`).join(' ')}`);
      if (stop.footprint !== undefined && peakRss > stop.footprint) fails.push(`peak RSS ${peakRss} > estimateFootprint() ${stop.footprint}`);
    }
    if (r.serverRc !== 0) fails.push(`server exit ${r.serverRc}`);
    if (r.killed) fails.push('server needed SIGKILL');
    if (samples.length === 0) fails.push('no samples');
    const disturbed = [0, other.length - 1].filter((i) => other[i] > OTHER_MAX).map((i) => `w${i + 1}`);
    if (disturbed.length && fails.length) fails.push(`NOTE: ${disturbed.join(' and ')} disturbed by other processes, rerun`);
    checks.push(`- valk × ${r.tool}: ${fails.length ? 'FAIL: ' + fails.join(', ') : 'PASS'} ` +
      `(last/first ${fmt(ratio, 2)}; max sampled active ${peakActive} of ${samples.length} samples, limit ${MAXCONN}; ` +
      `stop report ${stop ? JSON.stringify(stop) : 'missing'})`);
    if (fails.length) bad = true;
  }
}

const wcols = Array.from({ length: NWIN }, (_, i) => `w${i + 1}`);
console.log(`Goodput = 2xx responses/s counted by the server, in ${WINDOW}-s windows from the load tool's start (w1..w${NWIN}).`);
console.log('');
console.log(`| server | tool | ${wcols.join(' | ')} | last/first | peak active | accepted | rejected | peak RSS MiB | CPU % server/tool/other | tool summary |`);
console.log(`|---|---|${wcols.map(() => '---:').join('|')}|---:|---:|---:|---:|---:|---:|---|`);
for (const x of results) {
  const pa = x.peakExact > x.peakActive ? `${x.peakActive} (exact ${x.peakExact})` : `${x.peakActive}`;
  const cells = x.win.map((w, i) => fmt(w) + (x.other[i] > OTHER_MAX ? ` †${fmt(x.other[i])}%` : ''));
  console.log(`| ${x.r.server} | ${x.r.tool} | ${cells.join(' | ')} | ${fmt(x.ratio, 2)} | ${pa} | ` +
    `${x.last.accepted ?? 'n/a'} | ${x.last.rejected ?? 'n/a'} | ${fmt(x.peakRss / MiB, 1)} | ${x.r.srvCpu}/${x.r.toolCpu}/${x.r.otherCpu} | ${esc(x.tool.text)} |`);
}
console.log('');
console.log(`† N% = a disturbed window: the rest of the machine (neither the server nor the load tool) used N% of a core (> ${OTHER_MAX}%) during it.`);
console.log('CPU % = of one core over the whole run; the server is pinned to CPU 0, the load tool to CPU 1.');
console.log('');
console.log('valk-aio vs Node (mean goodput over all windows; last window):');
for (const tool of [...new Set(results.map((x) => x.r.tool))]) {
  const v = results.find((x) => x.r.tool === tool && x.r.server === 'valk');
  if (!v) continue;
  for (const peer of ['node', 'node-limit']) {
    const p = results.find((x) => x.r.tool === tool && x.r.server === peer);
    if (!p) continue;
    const lw = (x) => x.win[x.win.length - 1];
    console.log(`- ${tool}: valk/${peer} = ${fmt(v.mean / p.mean, 2)}x mean (${fmt(v.mean)} vs ${fmt(p.mean)} req/s); ` +
      `${fmt(lw(v) / lw(p), 2)}x last window (${fmt(lw(v))} vs ${fmt(lw(p))})`);
  }
}
console.log('');
console.log(`valk-aio checks (last window >= 90% of the first, sampled active <= ${MAXCONN}, 0 leaks, clean stop):`);
console.log(checks.length ? checks.join('\n') : '- (valk not run)');
console.log('');
console.log('Runs:');
for (const x of results) {
  const bytesKind = x.r.server === 'valk' ? 'wire bytes sent' : 'body bytes';
  console.log(`- ${x.r.tag}: ${x.samples.length} samples (largest gap during load ${x.maxGap} ms); ` +
    `${x.last.ok ?? 'n/a'} 2xx, ${x.last.bytes ?? 'n/a'} ${bytesKind}` +
    (x.last.rejected_limit !== undefined ? `; rejected limit/load/per-ip ${x.last.rejected_limit}/${x.last.rejected_load}/${x.last.rejected_per_ip}` : '') +
    (x.last.sessions !== undefined ? `; sessions ${x.last.sessions}, tls errors ${x.last.tls_errors}` : '') +
    `; load ${((x.r.L1 - x.r.L0) / 1000).toFixed(1)} s, tool exit ${x.r.toolRc}` + (x.r.note ? `; ${x.r.note}` : ''));
}
console.log('');
console.log('Command lines (PORT = the port the server printed):');
for (const x of results) {
  console.log(`- ${x.r.tag}: server \`${x.r.serverCmd}\`; load \`${x.r.toolCmd.replace(/127\.0\.0\.1:\d+/, '127.0.0.1:PORT')}\``);
}
process.exit(bad ? 1 : 0);
EOF

# --- main --------------------------------------------------------------------
HEY_VER=$(dpkg-query -W -f '${Version}' hey 2>/dev/null || echo unknown)
{
  echo "date:     $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
  echo "machine:  $(nproc 2>/dev/null || echo 1) CPU, $(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo 2>/dev/null)"
  echo "node:     $(node -v), openssl $(node -p process.versions.openssl)"
  echo "tools:    $(h2load --version 2>&1 | head -n 1), hey (Debian package) $HEY_VER"
  echo "pinning:  $PINNING"
  echo "scenario: CLIENTS=$CLIENTS DURATION=${DURATION}s MAXCONN=$MAXCONN STREAMS=$STREAMS WINDOW=${WINDOW}s; servers: $SERVERS; tools: $TOOLS"
  echo "addon:    $ADDON (copied, sha256 $ADDON_SHA...)"
  echo "raw:      $OUT"
} | tee "$OUT/header.txt"
echo

: >"$OUT/runs.tsv"
read -r -a TOOL_LIST <<<"$TOOLS"
read -r -a SERVER_LIST <<<"$SERVERS"
for t in "${TOOL_LIST[@]}"; do
  for s in "${SERVER_LIST[@]}"; do run_one "$s" "$t"; done
done
echo

rc=0
node "$OUT/analyze.js" "$OUT" "$DURATION" "$WINDOW" "$MAXCONN" "$CLK_TCK" "$OTHER_MAX" | tee "$OUT/summary.md" || rc=$?
echo
if (( rc != 0 )); then
  echo "overload.sh: FAIL: a valk-aio check failed (raw outputs in $OUT)" >&2
  exit 1
fi
echo "overload.sh: OK (raw outputs in $OUT)"
