#!/usr/bin/env bash
# bench/evring.sh: the lifecycle event ring's microbenchmark (bench/evring.c):
# median ns to record in NORMAL, to drop (newest, oldest), the recovery check,
# and the drain's rate. Built with -O2, pinned to one CPU. Then the JavaScript side: ns to decode
# a record into an event (bench/events-decode.js), when the addon and dist/ are built.
#
#   bash bench/evring.sh            (env CPU=1, CC=cc)
#
# The targets (docs/design.md §13): record < 10 ns, drop < 50 ns, check < 100 ns.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CPU=${CPU:-1}
OUT="$ROOT/build/bench"
mkdir -p "$OUT"
"${CC:-cc}" -std=c11 -D_GNU_SOURCE -O2 -g -Wall -Wextra -Werror -I "$ROOT/csrc" -I /usr/include/node \
  -o "$OUT/evring" "$ROOT/bench/evring.c" "$ROOT/csrc/valk_evring.c"
echo "evring.sh: $("${CC:-cc}" --version | head -1); CPU $CPU; $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
if command -v taskset >/dev/null 2>&1; then taskset -c "$CPU" "$OUT/evring"; else "$OUT/evring"; fi
if [[ -f "$ROOT/dist/lib/events.js" && -f "$ROOT/build/Release/valk_aio.node" ]]; then
  if command -v taskset >/dev/null 2>&1; then taskset -c "$CPU" node "$ROOT/bench/events-decode.js"; else node "$ROOT/bench/events-decode.js"; fi
fi
