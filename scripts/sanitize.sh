#!/usr/bin/env bash
# Builds the addon with AddressSanitizer + UndefinedBehaviorSanitizer in a
# scratch directory (build/ is left alone) and runs the native test suites
# against it. Any ASan or UBSan report fails the run.
#   bash scripts/sanitize.sh            # address,undefined
#   SANITIZE=thread bash scripts/sanitize.sh
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
sanitize=${SANITIZE:-address,undefined}
work=$(mktemp -d /tmp/valk-sanitize.XXXXXX)
trap 'rm -rf "$work"' EXIT

cp -r "$root/binding.gyp" "$root/package.json" "$root/csrc" "$work/"
mkdir -p "$work/deps" && cp -r "$root/deps/nghttp2" "$root/deps/llhttp" "$work/deps/"
ln -s "$root/node_modules" "$work/node_modules"
(cd "$work" && npx node-gyp rebuild -- -Dvalk_sanitize="$sanitize" >"$work/build.log" 2>&1) \
  || { tail -30 "$work/build.log"; exit 1; }

case "$sanitize" in
  *address*) preload=$(gcc -print-file-name=libasan.so) ;;
  *thread*) preload=$(gcc -print-file-name=libtsan.so) ;;
  *) preload=$(gcc -print-file-name=libubsan.so) ;;
esac
log="$work/test.log"
set +e
VALK_AIO_ADDON="$work/build/Release/valk_aio.node" LD_PRELOAD="$preload" \
  ASAN_OPTIONS=detect_leaks=0:abort_on_error=1 \
  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  TSAN_OPTIONS=halt_on_error=1 \
  npx --prefix "$root" vitest run --root "$root" test/slab.test.ts test/native.test.ts test/system.test.ts test/admission.test.ts test/backpressure.test.ts test/handler.test.ts test/metrics.test.ts test/sse.test.ts test/admin.test.ts test/client.test.ts test/hostile.test.ts test/errors.test.ts test/bodies.test.ts test/cleartext.test.ts test/http1.test.ts test/events.test.ts test/drain.test.ts test/queue-states.test.ts test/trailers.test.ts 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e
if grep -qE "runtime error|ERROR: (Address|Thread)Sanitizer|WARNING: ThreadSanitizer" "$log"; then
  echo "sanitize.sh: sanitizer reports above" >&2
  exit 1
fi
exit "$status"
