#!/bin/sh
# Runs every test program of one build (make test calls it) and the script-level tests, then
# prints one closing line "N passed, N failed". Exit status 0 only when nothing failed.
#   tools/run_tests.sh build/release release
set -u
BUILD=${1:-build/release}
MODE=${2:-release}
ENGINE_ROOT=$(pwd)
export ENGINE_ROOT
passed=0
failed=0
failures=""

run() { # name, command...
    name=$1
    shift
    echo "== $name"
    if "$@"; then
        passed=$((passed + 1))
    else
        failed=$((failed + 1))
        failures="$failures $name"
    fi
}

for t in $(find "$BUILD/tests" -type f -name 'test_*' -perm -u+x | sort); do
    run "$t" "$t"
done

# Script-level tests: the course machinery (handout, grading honesty) and gdb support.
# They build other modes/copies themselves; skip them in the asan run (they test scripts).
if [ "$MODE" = release ]; then
    for s in tools/test_handout.sh tools/check_handout_honest.sh tools/test_gdb_lab.sh; do
        [ -f "$s" ] && run "$s" sh "$s"
    done
fi

echo
[ -n "$failures" ] && echo "failed:$failures"
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
