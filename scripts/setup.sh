#!/usr/bin/env bash
# Installs the Debian packages blitzshim needs (only the missing ones) and builds it.
# Usage: scripts/setup.sh [build-dir] [extra cmake args...]
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build}
shift || true

need=()
# libssl-dev: tests/integration/tls_openssl.c (its CMake configuration fails without it)
for p in build-essential cmake pkg-config libev-dev libcriterion-dev libssl-dev; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || need+=("$p")
done
# Extra packages requested by the caller (tests, benchmarks), e.g. BLITZ_EXTRA_PKGS="g++ curl".
for p in ${BLITZ_EXTRA_PKGS:-}; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || need+=("$p")
done
if [ ${#need[@]} -gt 0 ]; then
  echo "setup: installing ${need[*]}" >&2
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=${BLITZ_BUILD_TYPE:-RelWithDebInfo} "$@" >/dev/null
cmake --build "$BUILD" -j"$(nproc)"
