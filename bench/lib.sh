# bench/lib.sh: what the benchmark scripts share (sourced, not run).
# Machine and process CPU from /proc, waiting for a quiet machine, CPU pinning,
# the addon copy a run loads, stopping a process by PID, installing the load
# tools and peers, starting the peers (h2o, nghttpd).

# Busy and total jiffies of the whole machine (first line of /proc/stat).
machine_ticks() { awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 + $9, $2 + $3 + $4 + $5 + $6 + $7 + $8 + $9; exit }' /proc/stat; }
# The same for one CPU (cpu_ticks_of 1: busy and total jiffies of CPU 1).
cpu_ticks_of() { awk -v c="cpu$1" '$1 == c { print $2 + $3 + $4 + $7 + $8 + $9, $2 + $3 + $4 + $5 + $6 + $7 + $8 + $9; exit }' /proc/stat; }

# Waits (at most IDLE_WAIT s) until the machine is < IDLE_MAX % busy over 1 s.
# Prints the last busy % seen.
wait_idle() {
  local deadline=$(( SECONDS + IDLE_WAIT )) a b at bt busy
  while :; do
    read -r a at < <(machine_ticks); sleep 1; read -r b bt < <(machine_ticks)
    busy=$(awk -v a="$a" -v b="$b" -v at="$at" -v bt="$bt" 'BEGIN { if (bt > at) printf "%.0f", 100 * (b - a) / (bt - at); else print 0 }')
    (( busy < IDLE_MAX || SECONDS >= deadline )) && break
  done
  echo "$busy"
}

# utime+stime of a process, in clock ticks.
cpu_ticks() { awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$1/stat" 2>/dev/null || echo 0; }

# wait_ready <server stdout file>: waits up to 15 s for the server's
# "READY <port>" line while SERVER_PID lives; prints the port (empty if none).
wait_ready() {
  local port=""
  for _ in $(seq 1 150); do
    port=$(awk '/^READY [0-9]+$/ { print $2; exit }' "$1")
    [[ -n $port ]] && break
    kill -0 "$SERVER_PID" 2>/dev/null || break
    sleep 0.1
  done
  echo "$port"
}

# pin_cpus PROG LOADNAME: PIN_SERVER and PIN_LOAD (taskset prefixes) from
# SERVER_CPUS / LOAD_CPUS, and PINNING, a sentence for the report. Unpinned,
# with a warning, on one CPU or without taskset.
pin_cpus() {
  local prog=$1 load=$2 ncpu
  ncpu=$(nproc 2>/dev/null || echo 1)
  if command -v taskset >/dev/null 2>&1 && (( ncpu >= 2 )); then
    PIN_SERVER=(taskset -c "$SERVER_CPUS")
    PIN_LOAD=(taskset -c "$LOAD_CPUS")
    PINNING="servers on CPU $SERVER_CPUS, $load on CPU $LOAD_CPUS"
    [[ $SERVER_CPUS == 0 && $LOAD_CPUS == 1 ]] || PINNING+=" (NOT the default 0/1)"
  else
    PIN_SERVER=()
    PIN_LOAD=()
    if (( ncpu < 2 )); then PINNING="UNPINNED (only $ncpu CPU)"
    else PINNING="UNPINNED (taskset not found; install util-linux)"; fi
    echo "$prog: WARNING: running $PINNING; server and $load share cores" >&2
  fi
}

# check_addon PROG: ADDON = $VALK_AIO_ADDON or the build's; it must exist and,
# unless ALLOW_SANITIZED=1, not be a sanitizer build. Calls the caller's die.
check_addon() {
  local prog=$1
  [[ -f dist/lib/index.js ]] || die "dist/lib/index.js missing: run \`npm run build\` first"
  ADDON=${VALK_AIO_ADDON:-build/Release/valk_aio.node}
  [[ -f $ADDON ]] || die "$ADDON missing: run \`npm run build\` first"
  if nm -D "$ADDON" 2>/dev/null | grep -qE '__(asan|ubsan|tsan)_' || ldd "$ADDON" 2>/dev/null | grep -qE 'lib(asan|ubsan|tsan)'; then
    [[ ${ALLOW_SANITIZED:-} == 1 ]] || die "$ADDON is a sanitizer build; rebuild with \`npm run build\` (or set ALLOW_SANITIZED=1)"
    echo "$prog: WARNING: $ADDON is a sanitizer build; numbers are not representative" >&2
  fi
}

# use_addon_copy DIR: copies ADDON into DIR and makes every server load that
# copy (VALK_AIO_ADDON), so a rebuild during the run cannot mix builds;
# ADDON_SHA is its short sha256.
use_addon_copy() {
  cp "$ADDON" "$1/valk_aio.node" || die "cannot copy $ADDON to $1"
  export VALK_AIO_ADDON="$1/valk_aio.node"
  ADDON_SHA=$(sha256sum "$VALK_AIO_ADDON" | cut -c1-16)
}

# stop_process PID: SIGTERM, up to 10 s, then SIGKILL; reaps it (it must be
# this shell's child: never call it in a $(...) subshell). Sets STOP_RC (its
# exit status), STOP_KILLED (1 when SIGKILL was needed) and STOP_RES
# ("rc=N" or "killed rc=N").
stop_process() {
  local pid=$1
  STOP_RC=0
  STOP_KILLED=0
  STOP_RES="rc=0"
  [[ -n $pid ]] || return 0
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$pid" 2>/dev/null; then kill -KILL "$pid" 2>/dev/null; STOP_KILLED=1; fi
  fi
  wait "$pid" 2>/dev/null || STOP_RC=$?
  STOP_RES="rc=$STOP_RC"
  (( STOP_KILLED )) && STOP_RES="killed $STOP_RES"
  return 0
}

# bench_cert: $OUT/key.pem and $OUT/cert.pem (P-256, CN 127.0.0.1) for the
# peers that read their key from files (h2o, nghttpd).
bench_cert() {
  [[ -f $OUT/key.pem ]] && return 0
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 \
    -subj /CN=127.0.0.1 -keyout "$OUT/key.pem" -out "$OUT/cert.pem" >/dev/null 2>&1 || die "openssl failed"
}

# free_port: a TCP port free on 127.0.0.1 now.
free_port() { node -e "const s=require('net').createServer().listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})"; }

# wait_port PORT TAG: waits up to 30 s (h2o tries to fetch an OCSP response
# first) for 127.0.0.1:PORT to accept while SERVER_PID lives; then writes
# "READY <port>" to $OUT/TAG.server for wait_ready.
wait_port() {
  local port=$1 tag=$2
  for _ in $(seq 1 300); do
    kill -0 "$SERVER_PID" 2>/dev/null || return 0
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && { echo "READY $port" >> "$OUT/$tag.server"; return 0; }
    sleep 0.1
  done
}

# start_h2o FILE TAG [TLS]: Debian's h2o serving FILE at / on a free port of
# 127.0.0.1, one thread (PIN_SERVER), over TLS (TLS 1, the default) or cleartext
# (0); SERVER_PID, and "READY <port>" in $OUT/TAG.server once it accepts connections.
start_h2o() {
  local file=$1 tag=$2 tls=${3:-1} port
  bench_cert
  port=$(free_port)
  {
    echo "num-threads: 1"; echo "access-log: /dev/null"; echo "error-log: $OUT/$tag.error"
    echo "listen:"; echo "  host: 127.0.0.1"; echo "  port: $port"
    if [[ $tls == 1 ]]; then
      echo "  ssl:"; echo "    certificate-file: $OUT/cert.pem"; echo "    key-file: $OUT/key.pem"
      echo "    ocsp-update-interval: 0"
    fi
    echo "hosts:"; echo "  default:"; echo "    paths:"; echo "      /:"; echo "        file.file: $file"
  } > "$OUT/$tag.conf"
  "${PIN_SERVER[@]}" h2o -c "$OUT/$tag.conf" > "$OUT/$tag.server" 2>&1 &
  SERVER_PID=$!
  wait_port "$port" "$tag"
}

# start_nghttpd DIR TAG: nghttpd (Debian's nghttp2-server) serving DIR over
# TLS on a free port of 127.0.0.1 (PIN_SERVER); like start_h2o.
start_nghttpd() {
  local dir=$1 tag=$2 port
  bench_cert
  port=$(free_port)
  "${PIN_SERVER[@]}" nghttpd -a 127.0.0.1 -d "$dir" "$port" "$OUT/key.pem" "$OUT/cert.pem" > "$OUT/$tag.server" 2>&1 &
  SERVER_PID=$!
  wait_port "$port" "$tag"
}

# install_tool PROG CMD PKG: whether CMD is there, after installing Debian's
# PKG with apt-get when it is missing and this runs as root (a fresh machine).
install_tool() {
  local prog=$1 cmd=$2 pkg=$3
  command -v "$cmd" >/dev/null 2>&1 && return 0
  if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
    echo "$prog: $cmd not found; installing $pkg with apt-get" >&2
    timeout 300 apt-get install -y "$pkg" >&2 \
      || { timeout 300 apt-get update >&2 && timeout 300 apt-get install -y "$pkg" >&2; }
  fi
  command -v "$cmd" >/dev/null 2>&1
}

# ensure_tool PROG CMD PKG: install_tool, or the caller's die.
ensure_tool() {
  install_tool "$@" || die "$2 not found: install it (Debian/Ubuntu: sudo apt-get install $3)"
}

# Numbers on stdin -> their median (nan for none).
median_lines() {
  sort -g | awk '{ a[NR] = $1 } END {
    if (NR == 0) { print "nan"; exit }
    if (NR % 2) print a[(NR + 1) / 2]; else printf "%.2f\n", (a[NR / 2] + a[NR / 2 + 1]) / 2 }'
}

# run_rounds FUNC R NAME...: FUNC NAME ROUND for each round 1..R and each NAME,
# in the given order in odd rounds and reversed in even ones.
run_rounds() {
  local fn=$1 rounds=$2 r i
  shift 2
  local names=("$@") seq_
  for (( r = 1; r <= rounds; r++ )); do
    if (( r % 2 )); then seq_=("${names[@]}"); else seq_=(); for (( i = ${#names[@]} - 1; i >= 0; i-- )); do seq_+=("${names[i]}"); done; fi
    for s in "${seq_[@]}"; do "$fn" "$s" "$r"; done
  done
}

# start_server TAG CMD...: CMD pinned (PIN_SERVER), its stdout and stderr in
# $OUT/TAG.server.stdout / .stderr; SERVER_PID, and SERVER_PORT once it printed
# "READY <port>" (empty when it did not within 15 s: see wait_ready).
start_server() {
  local tag=$1
  shift
  "${PIN_SERVER[@]}" "$@" >"$OUT/$tag.server.stdout" 2>"$OUT/$tag.server.stderr" &
  SERVER_PID=$!
  SERVER_PORT=$(wait_ready "$OUT/$tag.server.stdout")
}

# bench_out PROG NAME: STAMP, and OUT=bench/out/NAME-STAMP made, with the
# addon copied into it (use_addon_copy). Calls the caller's die.
bench_out() {
  STAMP=$(date -u +%Y%m%d-%H%M%S)
  OUT="$ROOT/bench/out/$2-$STAMP"
  mkdir -p "$OUT" || die "cannot create $OUT"
  use_addon_copy "$OUT"
}
