#!/usr/bin/env bash
# Obtains llhttp, the HTTP/1.x parser Node itself uses, as Debian ships its C
# sources (package node-llhttp: llhttp.c, api.c, http.c, llhttp.h) into
# deps/llhttp/, for the gyp static_library target in binding.gyp. Nothing of it
# is committed.
#
# The package is downloaded (apt-get download: no root, nothing installed) and
# unpacked with dpkg-deb; the system's apt configuration is not changed.
#
# Exit codes: 0 ok (or already present), 1 failure (message on stderr).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
out="$here/llhttp"
work="$here/.llhttp-download"

die() { echo "deps/llhttp.sh: $*" >&2; exit 1; }

command -v apt-get >/dev/null || die "apt-get not found: this script needs a Debian-based machine"
command -v dpkg-deb >/dev/null || die "dpkg-deb not found"

candidate() { apt-cache policy node-llhttp 2>/dev/null | awk '/Candidate:/ {print $2}'; }
version=$(candidate)
if [ -z "$version" ] || [ "$version" = "(none)" ]; then
  if [ "$(id -u)" = 0 ]; then apt-get update -qq >/dev/null 2>&1 || true; fi
  version=$(candidate)
fi
[ -n "$version" ] && [ "$version" != "(none)" ] || die "no candidate version for node-llhttp in apt (is apt-get update possible?)"

if [ -f "$out/DEBIAN_VERSION" ] && [ "$(cat "$out/DEBIAN_VERSION")" = "$version" ] \
   && [ -f "$out/llhttp.c" ] && [ -f "$out/api.c" ] && [ -f "$out/http.c" ] && [ -f "$out/llhttp.h" ]; then
  exit 0
fi

rm -rf "$work"
mkdir -p "$work"
(cd "$work" && apt-get download "node-llhttp=$version" >"$work/download.log" 2>&1) \
  || die "apt-get download node-llhttp=$version failed: $(tail -3 "$work/download.log")"
deb=$(ls "$work"/node-llhttp_*.deb 2>/dev/null | head -1)
[ -n "$deb" ] || die "apt-get download left no .deb"
dpkg-deb -x "$deb" "$work/root" || die "dpkg-deb -x $deb failed"

src="$work/root/usr/share/llhttp"
inc="$work/root/usr/share/include/llhttp/llhttp.h"
for f in llhttp.c api.c http.c; do [ -f "$src/$f" ] || die "the package has no usr/share/llhttp/$f"; done
[ -f "$inc" ] || die "the package has no usr/share/include/llhttp/llhttp.h"

rm -rf "$out"
mkdir -p "$out"
cp "$src/llhttp.c" "$src/api.c" "$src/http.c" "$inc" "$out/"
cp "$work/root/usr/share/doc/node-llhttp/copyright" "$out/COPYRIGHT" 2>/dev/null || true
major=$(awk '/#define LLHTTP_VERSION_MAJOR/ {print $3}' "$out/llhttp.h")
minor=$(awk '/#define LLHTTP_VERSION_MINOR/ {print $3}' "$out/llhttp.h")
patch=$(awk '/#define LLHTTP_VERSION_PATCH/ {print $3}' "$out/llhttp.h")
echo "$version" > "$out/DEBIAN_VERSION"
rm -rf "$work"
echo "deps/llhttp.sh: llhttp $major.$minor.$patch (Debian node-llhttp $version) in deps/llhttp" >&2
