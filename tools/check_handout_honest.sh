#!/bin/sh
# check_handout_honest.sh: proves that the graded tests grade the exercises (used by CI).
#
#   sh tools/check_handout_honest.sh          (from anywhere inside the repository)
#   MODE=debug JOBS=4 sh tools/check_handout_honest.sh
#
# 1. Builds the reference (make all) and runs every graded test program with --grade: every
#    exercise must score 100% there, and have at least one test.
# 2. Writes the handout of all weeks into a temporary folder (make handout), builds it there
#    (make -C DIR all: the stubs must compile) and grades it: every test of every exercise
#    must fail on its stub (0 passed), so no test passes whatever the student writes.
# 3. Checks the pairing: each EXERCISE region has a graded TCase of the same id and each graded
#    TCase has a region.
# 4. For each week W that has exercises, `make handout WEEKS=W` stubs exactly week W's
#    exercises and leaves every file without a week-W exercise byte-identical.
# Exits 1 with one line per violation, 0 when all hold.
set -u

MODE=${MODE:-release}
JOBS=${JOBS:-2}
ROOT=$(git rev-parse --show-toplevel 2>/dev/null) || {
    echo "check_handout_honest: not inside a git work tree" >&2
    exit 2
}
cd "$ROOT" || exit 2
T=$(mktemp -d "${TMPDIR:-/tmp}/handout_honest.XXXXXX")
trap 'rm -rf "$T"' EXIT
VIOL=0
violation() { echo "VIOLATION: $*"; VIOL=$((VIOL + 1)); }
say() { echo "check_handout_honest: $*"; }

# Prints "id passed tests" for every exercise of the GRADE lines of the programs in $1/tests/graded,
# run from folder $1 (so fixture paths resolve there).
grades() {
    for b in "$1"/build/"$MODE"/tests/graded/test_week[0-9][0-9]; do
        [ -x "$b" ] || continue
        (cd "$1" && ENGINE_ROOT="$1" "$b" --grade > "$T/run.out" 2> "$T/run.err")
        if ! grep -q '^GRADE {' "$T/run.out"; then
            echo "CRASH $(basename "$b")"
            continue
        fi
        grep '^GRADE {' "$T/run.out" |
            grep -o '"[^"]*":{"passed":[0-9]*,"tests":[0-9]*}' |
            sed 's/"\([^"]*\)":{"passed":\([0-9]*\),"tests":\([0-9]*\)}/\1 \2 \3/'
    done
}

# The stubbed ids of a handout folder, from its HANDOUT.md ("| id | file:line | ... |").
stubbed_ids() { sed -n 's/^| \(w[0-9][0-9]\.[a-z0-9_]*\) | .*/\1/p' "$1/HANDOUT.md" | sort; }

# --- 1. the reference ------------------------------------------------------------------------
say "building the reference (MODE=$MODE)"
if ! make --no-print-directory MODE="$MODE" -j"$JOBS" all > "$T/build.log" 2>&1; then
    tail -n 30 "$T/build.log"
    violation "the reference does not build (make MODE=$MODE all)"
    exit 1
fi
grades "$ROOT" > "$T/ref.txt"

# --- 2. the full handout ---------------------------------------------------------------------
H=$T/full
if ! make --no-print-directory MODE="$MODE" handout HANDOUT_DIR="$H" > "$T/handout.log" 2>&1; then
    cat "$T/handout.log"
    violation "make handout failed"
    exit 1
fi
tail -n 1 "$T/handout.log"
stubbed_ids "$H" > "$T/ids.txt"
say "$(wc -l < "$T/ids.txt") exercise(s) in the reference"
say "building the handout in $H"
if ! make --no-print-directory -C "$H" MODE="$MODE" -j"$JOBS" all > "$T/hbuild.log" 2>&1; then
    tail -n 30 "$T/hbuild.log"
    violation "the handout does not build: every STUB must compile in place of its solution"
    exit 1
fi
grades "$H" > "$T/hand.txt"

grep '^CRASH' "$T/ref.txt" | while read -r _ prog; do
    echo "VIOLATION: reference $prog printed no GRADE line (crashed or not a grade_main program)"
done
grep '^CRASH' "$T/hand.txt" | while read -r _ prog; do
    echo "VIOLATION: handout $prog printed no GRADE line (a stub crashed the program?)"
done
VIOL=$((VIOL + $(grep -c '^CRASH' "$T/ref.txt") + $(grep -c '^CRASH' "$T/hand.txt")))

# --- 3. scores and pairing -------------------------------------------------------------------
while read -r id; do
    ref=$(awk -v id="$id" '$1 == id { print $2, $3 }' "$T/ref.txt")
    hand=$(awk -v id="$id" '$1 == id { print $2, $3 }' "$T/hand.txt")
    if [ -z "$ref" ]; then
        violation "$id has no graded tests: add a TCase named \"$id\" to" \
                  "tests/graded/test_week$(echo "$id" | cut -c2-3).c"
        continue
    fi
    set -- $ref
    [ "$1" -eq "$2" ] || violation "$id: the reference passes only $1 of its $2 tests"
    if [ -z "$hand" ]; then
        violation "$id: no results in the handout build"
        continue
    fi
    set -- $hand
    [ "$1" -eq 0 ] ||
        violation "$id: $1 of its $2 tests pass on the handout stub; every test must fail there"
done < "$T/ids.txt"
awk '$1 != "CRASH" { print $1 }' "$T/ref.txt" | sort -u | while read -r id; do
    grep -qx "$id" "$T/ids.txt" ||
        echo "VIOLATION: graded TCase \"$id\" has no EXERCISE($id) region in the sources"
done > "$T/orphans.txt"
cat "$T/orphans.txt"
VIOL=$((VIOL + $(wc -l < "$T/orphans.txt")))

# --- 4. one week at a time -------------------------------------------------------------------
for w in $(cut -c2-3 "$T/ids.txt" | sort -u); do
    n=$(echo "$w" | sed 's/^0//')
    HW=$T/week$w
    if ! make --no-print-directory MODE="$MODE" handout WEEKS="$n" HANDOUT_DIR="$HW" \
            > "$T/hw.log" 2>&1; then
        cat "$T/hw.log"
        violation "make handout WEEKS=$n failed"
        continue
    fi
    grep "^w$w\." "$T/ids.txt" > "$T/want_w.txt"
    stubbed_ids "$HW" > "$T/got_w.txt"
    cmp -s "$T/want_w.txt" "$T/got_w.txt" ||
        violation "make handout WEEKS=$n stubbed [$(tr '\n' ' ' < "$T/got_w.txt")]" \
                  "instead of week $w's [$(tr '\n' ' ' < "$T/want_w.txt")]"
    # Files holding a week-w exercise (from the full handout's list).
    sed -n "s/^| w$w\.[a-z0-9_]* | \([^|]*\):[0-9]* | .*/\1/p" "$H/HANDOUT.md" | sort -u \
        > "$T/wfiles.txt"
    (cd "$HW" && find . \( -type f -o -type l \) ! -path ./HANDOUT.md | sed 's|^\./||') |
        while read -r f; do
            grep -qxF "$f" "$T/wfiles.txt" && continue
            cmp -s "$ROOT/$f" "$HW/$f" ||
                echo "VIOLATION: make handout WEEKS=$n changed $f, which has no week-$w exercise"
        done > "$T/changed.txt"
    cat "$T/changed.txt"
    VIOL=$((VIOL + $(wc -l < "$T/changed.txt")))
done

if [ "$VIOL" -ne 0 ]; then
    say "$VIOL violation(s)"
    exit 1
fi
say "ok: the reference scores 100%, every exercise's tests all fail on its stub," \
    "and WEEKS=N stubs only week N"
