#!/bin/sh
# `make demo`: runs every lab in its quick mode, each writing its PNG/JSON outputs under
# out/<lab>/. A lab's full run is the same command without --quick (see its README).
set -eu
BUILD=${1:-build/release}
start=$(date +%s)
for lab in $(ls -d "$BUILD"/labs/week* 2>/dev/null | sort); do
    name=$(basename "$lab")
    echo "=================================================================="
    echo "== $name --quick --out out/$name"
    echo "=================================================================="
    "$lab" --quick --out "out/$name"
    echo
done
echo "demo: done in $(( $(date +%s) - start )) s; outputs in out/"
ls out/*/*.png 2>/dev/null | sed 's/^/  /'
