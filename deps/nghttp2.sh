#!/usr/bin/env bash
# Obtains Debian's patched nghttp2 source (the version this machine's
# libnghttp2-dev carries) into deps/nghttp2/, for the gyp static_library
# target in binding.gyp. Nothing of it is committed.
#
# apt runs with a private state directory (deps/.apt/) holding its own
# deb-src list, so the system's apt configuration is never changed.
#
# Exit codes: 0 ok (or already present), 1 failure (message on stderr).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
out="$here/nghttp2"
state="$here/.apt"

die() { echo "deps/nghttp2.sh: $*" >&2; exit 1; }

command -v apt-get >/dev/null || die "apt-get not found: this script needs a Debian-based machine"

# Which version does the system's libnghttp2-dev carry?
candidate() { apt-cache policy libnghttp2-dev 2>/dev/null | awk '/Candidate:/ {print $2}'; }
version=$(candidate)
if [ -z "$version" ] || [ "$version" = "(none)" ]; then
  apt-get update -qq >/dev/null 2>&1 || true
  version=$(candidate)
fi
[ -n "$version" ] && [ "$version" != "(none)" ] || die "no candidate version for libnghttp2-dev in apt (is apt-get update possible?)"

if [ -f "$out/DEBIAN_VERSION" ] && [ "$(cat "$out/DEBIAN_VERSION")" = "$version" ] \
   && [ -f "$out/lib/includes/nghttp2/nghttp2ver.h" ]; then
  exit 0
fi

command -v dpkg-source >/dev/null || {
  [ "$(id -u)" = 0 ] || die "dpkg-dev is missing and we are not root to install it"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dpkg-dev >/dev/null || die "apt-get install dpkg-dev failed"
}

# Private apt state with deb-src entries derived from the system's suites.
rm -rf "$state"
mkdir -p "$state/lists/partial" "$state/cache/archives/partial" "$state/etc" "$state/src"
. /etc/os-release
codename=${VERSION_CODENAME:-bookworm}
keyring=/usr/share/keyrings/debian-archive-keyring.gpg
cat > "$state/etc/sources.list" <<SRC
deb-src [signed-by=$keyring] http://deb.debian.org/debian $codename main
deb-src [signed-by=$keyring] http://deb.debian.org/debian $codename-updates main
deb-src [signed-by=$keyring] http://deb.debian.org/debian-security $codename-security main
SRC
opts=(-o "Dir::State=$state" -o "Dir::State::Lists=$state/lists"
      -o "Dir::State::status=/var/lib/dpkg/status" -o "Dir::Cache=$state/cache"
      -o "Dir::Etc::SourceList=$state/etc/sources.list" -o "Dir::Etc::SourceParts=/dev/null"
      -o "APT::Sandbox::User=root" -qq)

apt-get "${opts[@]}" update >/dev/null 2>"$state/update.err" \
  || die "apt-get update (private deb-src state) failed: $(tail -3 "$state/update.err")"

cd "$state/src"
if ! apt-get "${opts[@]}" source "nghttp2=$version" >"$state/source.log" 2>&1; then
  echo "deps/nghttp2.sh: source for nghttp2=$version not found; taking the newest nghttp2 source" >&2
  apt-get "${opts[@]}" source nghttp2 >"$state/source.log" 2>&1 \
    || die "apt-get source nghttp2 failed: $(tail -3 "$state/source.log")"
  version=$(ls nghttp2_*.dsc | sed -E 's/^nghttp2_(.*)\.dsc$/\1/' | head -1)
fi
srcdir=$(find . -maxdepth 1 -type d -name 'nghttp2-*' | head -1)
[ -n "$srcdir" ] && [ -d "$srcdir/lib" ] || die "unpacked source has no lib/ directory"

# Generate nghttp2ver.h the way its configure script would.
upstream=${version%%-*}
upstream=${upstream#*:}
IFS=. read -r maj min pat <<<"$upstream"
num=$(printf '0x%02x%02x%02x' "$maj" "$min" "${pat%%[!0-9]*}")

rm -rf "$out"
mkdir -p "$out"
cp -r "$srcdir/lib" "$out/lib"
cp "$srcdir/COPYING" "$out/" 2>/dev/null || true
sed -e "s/@PACKAGE_VERSION@/$upstream/" -e "s/@PACKAGE_VERSION_NUM@/$num/" \
  "$out/lib/includes/nghttp2/nghttp2ver.h.in" > "$out/lib/includes/nghttp2/nghttp2ver.h"
grep -h '^Patches\|applying' "$state/source.log" | sed 's/^/  /' > "$out/PATCHES" || true
echo "$version" > "$out/DEBIAN_VERSION"
rm -rf "$state"
echo "deps/nghttp2.sh: nghttp2 $version (Debian source, $(wc -l < "$out/PATCHES") patches) in deps/nghttp2" >&2
