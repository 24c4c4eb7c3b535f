#!/bin/sh
# test_handout.sh: tests tools/handout.c on a small synthetic git repository.
#
#   sh tools/test_handout.sh [HANDOUT_BINARY]     (default: build/release/tools/handout)
#
# The repository is made in a temporary folder: one source file with two exercises (weeks 2
# and 3), an executable script, an ignored build/ folder and an untracked file. The test
# checks, byte for byte, the summary line, the rewritten source and HANDOUT.md; that file
# modes are kept; that --weeks 3 leaves week 2's solution intact; and that every kind of
# malformed marker is refused with file:line and writes nothing.
#
# The end-to-end check on the real repository (build the handout, grade it) is
# tools/check_handout_honest.sh.
set -u

BIN=${1:-build/release/tools/handout}
case $BIN in /*) ;; *) BIN=$(pwd)/$BIN ;; esac
if [ ! -x "$BIN" ]; then
    echo "test_handout: $BIN not found; hint: make all (or pass the binary)" >&2
    exit 1
fi
command -v git >/dev/null 2>&1 || { echo "test_handout: skip: git not installed"; exit 77; }

T=$(mktemp -d "${TMPDIR:-/tmp}/test_handout.XXXXXX")
trap 'rm -rf "$T"' EXIT
FAILS=0
fail() { echo "NOT OK: $*"; FAILS=$((FAILS + 1)); }
ok() { echo "ok: $*"; }

# Compares file $1 with the expected text on stdin; shows a diff on mismatch.
same() {
    cat > "$T/want"
    if diff -u "$T/want" "$1" > "$T/diff"; then ok "$2"; else fail "$2"; cat "$T/diff"; fi
}

# --- the synthetic repository ----------------------------------------------------------------
R=$T/repo
mkdir -p "$R/src" "$R/build" "$R/tools"
cat > "$R/src/ex.c" <<'EOF'
#include "core/exercise.h"

float twice(float x)
{
    // EXERCISE(w02.twice): return 2 * x.
    // Use one multiplication.
    // STUB: exercise_stub("w02.twice"); return 0;
    float y = 2 * x;
    return y;
    // END EXERCISE
}

int sign(int x)
{
    if (x == 0) return 0;
        // EXERCISE(w03.sign): return -1 for x < 0, else 1 | no branches needed.
        // STUB: exercise_stub("w03.sign");
        // STUB: return 0;
        return x < 0 ? -1 : 1;
        // END EXERCISE
}
EOF
printf '#!/bin/sh\necho hi\n' > "$R/tools/run.sh"
chmod 755 "$R/tools/run.sh"
printf 'not a source: // EXERCISE(w02.nope): ignored outside .c/.h\n' > "$R/notes.txt"
printf '/build/\n/handout/\n' > "$R/.gitignore"
echo "object" > "$R/build/ex.o"
(cd "$R" && git init -q . && git add .gitignore src tools notes.txt) || { echo "git init failed"; exit 1; }
echo "untracked but not ignored" > "$R/draft.txt"

# --- all weeks -------------------------------------------------------------------------------
(cd "$R/src" && "$BIN" --out "$T/h_all" > "$T/out" 2> "$T/err")
rc=$?
[ $rc -eq 0 ] || { fail "handout exit status $rc"; cat "$T/err"; }
echo "handout: 5 files copied to $T/h_all; 2 exercises stubbed in 1 file (weeks: all)" |
    same "$T/out" "summary line (all weeks)"
same "$T/h_all/src/ex.c" "stubbed source (all weeks)" <<'EOF'
#include "core/exercise.h"

float twice(float x)
{
    // EXERCISE(w02.twice): return 2 * x.
    // Use one multiplication.
    exercise_stub("w02.twice"); return 0;
}

int sign(int x)
{
    if (x == 0) return 0;
        // EXERCISE(w03.sign): return -1 for x < 0, else 1 | no branches needed.
        exercise_stub("w03.sign");
        return 0;
}
EOF
same "$T/h_all/HANDOUT.md" "HANDOUT.md (all weeks)" <<'EOF'
# Handout

Written by `make handout` (weeks: all). Each exercise below is a region whose reference
solution was replaced by a stub; its instructions are the comment lines above the stub.
Build with `make`, then check your work with `make grade WEEK=N`.

| exercise | where | what to do |
|---|---|---|
| w02.twice | src/ex.c:5 | return 2 * x. |
| w03.sign | src/ex.c:13 | return -1 for x < 0, else 1 \| no branches needed. |
EOF
[ -x "$T/h_all/tools/run.sh" ] && ok "executable mode kept" || fail "tools/run.sh lost its x bit"
[ -x "$T/h_all/src/ex.c" ] && fail "src/ex.c became executable" || ok "plain mode kept"
cmp -s "$R/notes.txt" "$T/h_all/notes.txt" && ok "non-source copied unchanged" ||
    fail "notes.txt changed"
[ -e "$T/h_all/build" ] && fail "build/ was copied" || ok "ignored build/ not copied"
[ -f "$T/h_all/draft.txt" ] && ok "untracked, not ignored file copied" || fail "draft.txt missing"
[ -f "$T/h_all/.gitignore" ] && ok ".gitignore copied" || fail ".gitignore missing"

# A second run into the same folder (a previous handout) is allowed; a foreign folder is not.
(cd "$R" && "$BIN" --out "$T/h_all" > /dev/null 2>&1) && ok "rerun over a previous handout" ||
    fail "rerun over a previous handout refused"
mkdir -p "$T/foreign" && echo x > "$T/foreign/keep"
if (cd "$R" && "$BIN" --out "$T/foreign" > /dev/null 2> "$T/err"); then
    fail "non-empty foreign --out accepted"
else
    grep -q "is not empty" "$T/err" && ok "non-empty foreign --out refused" ||
        { fail "wrong message for a foreign --out"; cat "$T/err"; }
fi

# --- --weeks 3: week 2 keeps its solution ----------------------------------------------------
(cd "$R" && "$BIN" --out "$T/h3" --weeks 3 > "$T/out" 2> "$T/err") || fail "--weeks 3 failed"
echo "handout: 5 files copied to $T/h3; 1 exercise stubbed in 1 file (weeks: 3)" |
    same "$T/out" "summary line (--weeks 3)"
same "$T/h3/src/ex.c" "--weeks 3 stubs only w03.sign" <<'EOF'
#include "core/exercise.h"

float twice(float x)
{
    // EXERCISE(w02.twice): return 2 * x.
    // Use one multiplication.
    // STUB: exercise_stub("w02.twice"); return 0;
    float y = 2 * x;
    return y;
    // END EXERCISE
}

int sign(int x)
{
    if (x == 0) return 0;
        // EXERCISE(w03.sign): return -1 for x < 0, else 1 | no branches needed.
        exercise_stub("w03.sign");
        return 0;
}
EOF
grep -q "w02.twice" "$T/h3/HANDOUT.md" && fail "HANDOUT.md lists w02 under --weeks 3" ||
    ok "HANDOUT.md lists only week 3"

# --weeks with no exercise: every file identical.
(cd "$R" && "$BIN" --out "$T/h9" --weeks 9 > "$T/out" 2>&1) || fail "--weeks 9 failed"
cmp -s "$R/src/ex.c" "$T/h9/src/ex.c" && ok "--weeks 9 copies the source unchanged" ||
    fail "--weeks 9 changed src/ex.c"
(cd "$R" && "$BIN" --out "$T/hx" --weeks "two" > /dev/null 2>&1)
[ $? -eq 2 ] && ok "bad --weeks is a usage error" || fail "bad --weeks accepted"

# --- malformed markers -----------------------------------------------------------------------
# Each case: a file body and the exact error line expected on stderr.
bad_case() {
    name=$1 want=$2
    rm -rf "$T/bad" "$T/hbad"
    mkdir -p "$T/bad"
    cat > "$T/bad/m.c"
    (cd "$T/bad" && git init -q . && git add m.c)
    if (cd "$T/bad" && "$BIN" --out "$T/hbad" > "$T/out" 2> "$T/err"); then
        fail "$name: accepted"
        return
    fi
    if [ "$(head -n 1 "$T/err")" = "handout: $want" ]; then ok "$name: refused with file:line"
    else fail "$name: wrong message"; echo "  want: handout: $want"; echo "  got:  $(head -n 1 "$T/err")"
    fi
    [ -e "$T/hbad" ] && fail "$name: the output folder was written" || true
}

bad_case "EXERCISE without END" "m.c:2: exercise w02.a has no \`// END EXERCISE\` line before\
 the end of the file; hint: close the region after the reference solution" <<'EOF'
int f(void) {
    // EXERCISE(w02.a): do it
    // STUB: return 0;
    return 1;
}
EOF
bad_case "nested EXERCISE" "m.c:4: EXERCISE inside exercise w02.a opened at line 2; hint:\
 exercises cannot nest, close the first with \`// END EXERCISE\`" <<'EOF'
int f(void) {
    // EXERCISE(w02.a): do it
    // STUB: return 0;
    // EXERCISE(w02.b): and this
    // STUB: return 0;
    return 1;
    // END EXERCISE
    // END EXERCISE
}
EOF
bad_case "missing STUB" "m.c:3: exercise w02.a (line 2) has no \`// STUB: code\` line after its\
 instructions; hint: the instructions are \`//\` lines followed by the STUB line" <<'EOF'
int f(void) {
    // EXERCISE(w02.a): do it
    return 1;
    // END EXERCISE
}
EOF
bad_case "STUB-less region" "m.c:3: exercise w02.a (line 2) has no \`// STUB: code\` line;\
 hint: the stub compiles in the handout and makes the graded tests fail" <<'EOF'
int f(void) {
    // EXERCISE(w02.a): do it
    // END EXERCISE
}
EOF
bad_case "bad id" "m.c:2: malformed EXERCISE marker; hint: write \`// EXERCISE(wNN.name):\
 instructions\` with NN the two-digit week and name in [a-z0-9_]" <<'EOF'
int f(void) {
    // EXERCISE(w2.a): one-digit week
    // STUB: return 0;
    return 1;
    // END EXERCISE
}
EOF
bad_case "STUB outside" "m.c:2: STUB line outside an exercise; hint: it belongs after the\
 \`// EXERCISE(wNN.name): ...\` instruction lines" <<'EOF'
int f(void) {
    // STUB: return 0;
    return 1;
}
EOF
bad_case "END without EXERCISE" "m.c:3: END EXERCISE without an open EXERCISE; hint: remove it\
 or add the \`// EXERCISE(wNN.name): ...\` line it closes" <<'EOF'
int f(void) {
    return 1;
    // END EXERCISE
}
EOF
bad_case "duplicate id" "m.c:7: exercise id w02.a is already used at m.c:2; hint: each id\
 names one region and one graded TCase" <<'EOF'
int f(void) {
    // EXERCISE(w02.a): do it
    // STUB: return 0;
    return 1;
    // END EXERCISE
    int x = 0;
    // EXERCISE(w02.a): again
    // STUB: return 0;
    return x;
    // END EXERCISE
}
EOF

# --- end to end: a small engine with graded exercises, through check_handout_honest.sh ------
# A copy of this repository's Makefile and a few core files, plus a sample exercise file and
# its graded test that exist only in this temporary repository. The honesty check must pass on
# it, and fail on a variant with a test that passes on the stub and a TCase without a region.
SRC=$(git rev-parse --show-toplevel 2>/dev/null)
if [ "${HANDOUT_E2E:-1}" = 0 ] || [ -z "$SRC" ] || [ ! -f "$SRC/Makefile" ]; then
    echo "skip: end-to-end part (run it from inside the engine repository)"
else
    E=$T/engine
    mkdir -p "$E/core" "$E/nn" "$E/tests/graded" "$E/tools"
    cp "$SRC/Makefile" "$SRC/.gitignore" "$E/"
    for f in err io exercise; do cp "$SRC/core/$f.c" "$SRC/core/$f.h" "$E/core/"; done
    cp "$SRC/tests/test_util.c" "$SRC/tests/test_util.h" "$SRC/tests/grade_report.c" \
        "$SRC/tests/grade_report.h" "$E/tests/"
    cp "$SRC/tools/handout.c" "$SRC/tools/grade.sh" "$SRC/tools/check_handout_honest.sh" \
        "$E/tools/"
    # Until the Makefile links tests/grade_report.c into the tests, link it in this copy.
    grep -q grade_report "$E/Makefile" ||
        sed -i 's|^TEST_UTIL_OBJ := .*|& $(BUILD)/obj/tests/grade_report.o|' "$E/Makefile"
    cat > "$E/nn/sample.h" <<'EOF'
#ifndef NN_SAMPLE_H
#define NN_SAMPLE_H
float nn_twice(float x);
float nn_clamp01(float x);
#endif
EOF
    cat > "$E/nn/sample.c" <<'EOF'
#include "nn/sample.h"

#include "core/exercise.h"

float nn_twice(float x)
{
    // EXERCISE(w02.twice): return 2 x.
    // STUB: exercise_stub("w02.twice"); (void)x; return -1.0f;
    return 2.0f * x;
    // END EXERCISE
}

float nn_clamp01(float x)
{
    // EXERCISE(w02.clamp): clamp x to [0, 1].
    // STUB: exercise_stub("w02.clamp"); (void)x; return -1.0f;
    return x < 0 ? 0 : x > 1 ? 1 : x;
    // END EXERCISE
}
EOF
    cat > "$E/tests/graded/test_week02.c" <<'EOF'
#include "nn/sample.h"
#include "tests/grade_report.h"

START_TEST(test_twice_values) { ck_assert_float_eq(nn_twice(3.0f), 6.0f); }
END_TEST
START_TEST(test_twice_zero) { ck_assert_float_eq(nn_twice(0.0f), 0.0f); }
END_TEST
START_TEST(test_clamp_inside) { ck_assert_float_eq(nn_clamp01(0.25f), 0.25f); }
END_TEST
START_TEST(test_clamp_outside)
{
    ck_assert_float_eq(nn_clamp01(-2.0f), 0.0f);
    ck_assert_float_eq(nn_clamp01(7.0f), 1.0f);
}
END_TEST
//EXTRA_TESTS

static Suite *week02_suite(void)
{
    Suite *s = suite_create("week02");
    TCase *tc = tcase_create("w02.twice");
    tcase_add_test(tc, test_twice_values);
    tcase_add_test(tc, test_twice_zero);
    suite_add_tcase(s, tc);
    tc = tcase_create("w02.clamp");
    tcase_add_test(tc, test_clamp_inside);
    tcase_add_test(tc, test_clamp_outside);
    //EXTRA_TCASES
    suite_add_tcase(s, tc);
    return s;
}

int main(int argc, char **argv) { return grade_main(week02_suite(), argc, argv); }
EOF
    (cd "$E" && git init -q . && git add .) || { echo "git init failed"; exit 1; }
    if (cd "$E" && sh tools/check_handout_honest.sh > "$T/honest.out" 2>&1); then
        ok "end to end: the honesty check passes on an honest sample"
    else
        fail "end to end: the honesty check failed on an honest sample"
        cat "$T/honest.out"
    fi
    # The reference table, byte for byte (its GRADE line is what grade.sh and CI parse).
    (cd "$E" && sh tools/grade.sh build/release 2 2> /dev/null |
        grep -v '^$' > "$T/out")
    same "$T/out" "grade.sh table on the reference" <<'EOF'
week 02: graded exercises
| exercise  | tests passed | points      |
|-----------|--------------|-------------|
| w02.twice |     2 / 2    |  10.0 / 10  |
| w02.clamp |     2 / 2    |  10.0 / 10  |
|-----------|--------------|-------------|
| total     |     4 / 4    |  20.0 / 20  |
GRADE {"week":2,"points":20.00,"total":20,"exercises":{"w02.twice":{"passed":2,"tests":2},"w02.clamp":{"passed":2,"tests":2}}}
grade summary
  week 02:   20.0 / 20
grand total: 20.0 / 20 points (100%)
EOF
    # Dishonest variant: a w02.clamp test that passes whatever nn_clamp01 returns, and a
    # TCase named after no exercise.
    sed -i -e 's|^//EXTRA_TESTS$|START_TEST(test_clamp_same) { ck_assert(nn_clamp01(2) == nn_clamp01(2)); }\nEND_TEST|' \
        -e 's|^    //EXTRA_TCASES$|    tcase_add_test(tc, test_clamp_same);\n    suite_add_tcase(s, tc);\n    tc = tcase_create("w02.orphan");\n    tcase_add_test(tc, test_clamp_inside);|' \
        "$E/tests/graded/test_week02.c"
    if (cd "$E" && sh tools/check_handout_honest.sh > "$T/honest.out" 2>&1); then
        fail "end to end: the honesty check passed a dishonest sample"
        cat "$T/honest.out"
    else
        grep -q 'VIOLATION: w02.clamp: 1 of its 3 tests pass on the handout stub' \
            "$T/honest.out" && ok "end to end: a test passing on the stub is caught" ||
            { fail "end to end: a passing test was not reported"; cat "$T/honest.out"; }
        grep -q 'VIOLATION: graded TCase "w02.orphan" has no EXERCISE(w02.orphan) region' \
            "$T/honest.out" && ok "end to end: a TCase without a region is caught" ||
            { fail "end to end: the orphan TCase was not reported"; cat "$T/honest.out"; }
    fi
fi

if [ $FAILS -ne 0 ]; then
    echo "test_handout: $FAILS check(s) failed"
    exit 1
fi
echo "test_handout: all checks passed"
