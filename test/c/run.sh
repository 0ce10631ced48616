#!/usr/bin/env bash
# Builds and runs the standalone C unit tests: every test/c/test_*.c is one
# program. Its line "// sources: a.c b.c" names the csrc/ files it links, and
# "// deps: llhttp" the third-party sources under deps/ (built apart, without
# -Werror: not our code); the uv_stub.c shim stands in for the few libuv calls those files make (the real
# libuv lives inside the node binary, which a plain program cannot link).
# Usage: test/c/run.sh [test_name ...]   (env CC, VALK_C_SANITIZE=0 to skip ASan/UBSan)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
out="${VALK_C_OUT:-$root/build/ctest}"
cc="${CC:-cc}"
mkdir -p "$out"
flags=(-std=c11 -D_GNU_SOURCE -O1 -g -Wall -Wextra -Werror -pthread
       -I "$root/csrc" -I "$here" -I /usr/include/node -I "$root/deps/nghttp2/lib/includes" -I "$root/deps/llhttp")
if [[ "${VALK_C_SANITIZE:-1}" != 0 ]]; then
  flags+=(-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all)
fi
tests=("$@")
if [[ ${#tests[@]} -eq 0 ]]; then
  for f in "$here"/test_*.c; do tests+=("$(basename "$f" .c)"); done
fi
fail=0
for t in "${tests[@]}"; do
  src="$here/$t.c"
  deps=$(sed -n 's|^// sources: ||p' "$src" | head -1)
  # "// sanitize: thread" builds that test with ThreadSanitizer instead of ASan+UBSan.
  san=$(sed -n 's|^// sanitize: ||p' "$src" | head -1)
  tflags=("${flags[@]}")
  if [[ $san == thread ]]; then
    tflags=(-std=c11 -D_GNU_SOURCE -O1 -g -Wall -Wextra -Werror -pthread -I "$root/csrc" -I "$here"
            -I /usr/include/node -I "$root/deps/nghttp2/lib/includes" -fsanitize=thread -fno-omit-frame-pointer)
  fi
  files=()
  for d in $deps; do files+=("$root/csrc/$d"); done
  for lib in $(sed -n 's|^// deps: ||p' "$src" | head -1); do
    case $lib in
      llhttp) for f in llhttp api http; do
          "$cc" -std=gnu11 -O1 -g -fPIC -w -c -I "$root/deps/llhttp" -o "$out/llhttp_$f.o" "$root/deps/llhttp/$f.c"
          files+=("$out/llhttp_$f.o")
        done ;;
      *) echo "run.sh: $t: unknown deps '$lib'" >&2; exit 2 ;;
    esac
  done
  "$cc" "${tflags[@]}" -o "$out/$t" "$src" "$here/uv_stub.c" "${files[@]}" -lm
  if env -u LD_PRELOAD TSAN_OPTIONS="halt_on_error=1 exitcode=66" "$out/$t"; then echo "ok $t"; else echo "FAIL $t"; fail=1; fi
done
exit $fail
