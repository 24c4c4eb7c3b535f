#!/bin/sh
# Runs every benchmark of one build, side by side with its peer when there is one (make bench
# calls it), and passes their output along unchanged: each prints a table and one line
# `BENCH {...}` of JSON for scripts. Exit status 0 only when every one of them succeeded.
#
#   tools/run_bench.sh build/release            the full run
#   tools/run_bench.sh build/release --quick    a smoke run: extra arguments go to every
#                                               benchmark and every peer script
#
# For each executable BUILD/bench/<name>, in name order:
#   1. run it;
#   2. if bench/peers/<name>.py exists, run it with /usr/bin/python3 (the Debian interpreter,
#      which sees the Debian packages the peers use, e.g. python3-torch), or say why not.
# Nothing here changes the environment: OPENBLAS_CORETYPE, OPENBLAS_NUM_THREADS and
# OMP_WAIT_POLICY reach every program as they are.
set -u
BUILD=${1:-build/release}
[ $# -gt 0 ] && shift
ROOT=$(cd "$(dirname "$0")/.." && pwd)
PYTHON=/usr/bin/python3
ran=0
failed=0
failures=""

run() { # label, command...
    label=$1
    shift
    echo "== $label"
    ran=$((ran + 1))
    "$@"
    rc=$?
    if [ "$rc" != 0 ]; then
        echo "run_bench: $label failed (exit status $rc)"
        failed=$((failed + 1))
        failures="$failures $label"
    fi
    echo
}

if [ ! -d "$BUILD/bench" ]; then
    echo "run_bench: no $BUILD/bench directory; hint: build first with \`make\` (or \`make bench\`)"
    exit 1
fi
benches=$(find "$BUILD/bench" -maxdepth 1 -type f -perm -u+x | sort)
if [ -z "$benches" ]; then
    echo "run_bench: no benchmark executables in $BUILD/bench; hint: build first with \`make\`"
    exit 1
fi

for b in $benches; do
    name=$(basename "$b")
    run "$name" "$b" "$@"
    peer="$ROOT/bench/peers/$name.py"
    if [ -f "$peer" ]; then
        if [ -x "$PYTHON" ]; then
            run "peers/$name.py" "$PYTHON" "$peer" "$@"
        else
            echo "== peers/$name.py: skipped, $PYTHON is missing (hint: make deps)"
            echo
        fi
    fi
done

[ -n "$failures" ] && echo "failed:$failures"
echo "run_bench: $ran ran, $failed failed"
[ "$failed" = 0 ]
