#!/usr/bin/env bash
# The system packages Flowdash's tests use, installed from Debian's packages when missing.
#
# `make test` runs this first. It installs only when it may (as root, or with
# passwordless sudo); otherwise it stops at once with the one command to run.
# FLOWDASH_CHROMIUM and FLOWDASH_REDIS_SERVER name the binaries to look for (the tests
# use the same variables), which also lets this check be tried against paths that
# do not exist, as on a fresh machine.
set -euo pipefail

chromium="${FLOWDASH_CHROMIUM:-/usr/bin/chromium}"
redis="${FLOWDASH_REDIS_SERVER:-redis-server}"
packages=()
command -v "$chromium" >/dev/null 2>&1 || packages+=(chromium)
command -v "$redis" >/dev/null 2>&1 || packages+=(redis-server)
[ ${#packages[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -eq 0 ]; then
  as_root=()
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
  as_root=(sudo -n)
else
  echo "Flowdash's tests need ${packages[*]} (browser tests and the scale-out test). Run:" >&2
  echo "  sudo apt-get install -y ${packages[*]}" >&2
  exit 1
fi
echo "Installing ${packages[*]} from Debian's packages (needed by the tests)..."
export DEBIAN_FRONTEND=noninteractive
"${as_root[@]}" apt-get update -qq
"${as_root[@]}" apt-get install -y -qq "${packages[@]}" >/dev/null
for binary in "$chromium" "$redis"; do
  if ! command -v "$binary" >/dev/null 2>&1; then
    echo "$binary is still missing after installing ${packages[*]}." >&2
    echo "Point FLOWDASH_CHROMIUM / FLOWDASH_REDIS_SERVER at it, or install it by hand." >&2
    exit 1
  fi
done
