#!/usr/bin/env bash
# Installs the system packages the native build needs, then the vendored
# nghttp2 and llhttp sources (deps/nghttp2.sh, deps/llhttp.sh). Run by
# `npm ci` (the "install" script) and by .ci/run.
# Needs root for apt-get; says so clearly when it is not and something is missing.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)

need=()
command -v dpkg-source >/dev/null || need+=(dpkg-dev)
command -v make >/dev/null || need+=(make)
command -v g++ >/dev/null || need+=(g++)
command -v python3 >/dev/null || need+=(python3)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "deps/setup.sh: missing ${need[*]}; run as root or: sudo apt-get install -y ${need[*]}" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq "${need[@]}" >/dev/null || { echo "deps/setup.sh: apt-get install ${need[*]} failed" >&2; exit 1; }
fi

[ -f /usr/include/node/node.h ] || [ -n "${npm_config_nodedir:-}" ] || \
  echo "deps/setup.sh: warning: /usr/include/node has no node.h; node-gyp will fetch headers" >&2

bash "$here/nghttp2.sh"
bash "$here/llhttp.sh"
