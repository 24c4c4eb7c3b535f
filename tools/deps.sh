#!/bin/sh
# Installs the Debian packages the engine needs, only those missing.
# As root it runs apt-get; otherwise through sudo when available; otherwise it prints the exact
# command and fails. `make deps`, `make test` and `make demo` all call it first.
set -eu

# Build and test tools, libraries, and the real data sets (Debian packages, nothing downloaded
# at run time). Keep in step with README.md.
PKGS="gcc make pkg-config libopenblas-dev check libsubunit-dev libstb-dev libjansson-dev
zlib1g-dev gdb valgrind openmpi-bin libopenmpi-dev
dataset-fashion-mnist dict-foldoc dict-jargon dict-devil fortunes wordnet-base"

missing=""
for p in $PKGS; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing="$missing $p"
    fi
done
[ -z "$missing" ] && exit 0

echo "deps: installing:$missing"
if [ "$(id -u)" = 0 ]; then
    SUDO=""
elif command -v sudo >/dev/null 2>&1; then
    SUDO="sudo"
else
    echo "deps: not root and no sudo; run this as root, then retry:" >&2
    echo "    apt-get update && apt-get install -y --no-install-recommends$missing" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q >/dev/null
# --no-install-recommends: the dict-* packages would otherwise pull in the dictd server.
$SUDO apt-get install -y -q --no-install-recommends $missing
