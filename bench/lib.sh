# bench/lib.sh: what the benchmark scripts share (sourced, not run).
# Machine and process CPU from /proc, waiting for a quiet machine, CPU pinning.

# Busy and total jiffies of the whole machine (first line of /proc/stat).
machine_ticks() { awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 + $9, $2 + $3 + $4 + $5 + $6 + $7 + $8 + $9; exit }' /proc/stat; }

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
