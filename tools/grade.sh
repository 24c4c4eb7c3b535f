#!/bin/sh
# grade.sh: runs the graded exercise tests and prints the score tables (`make grade`).
#
#   sh tools/grade.sh BUILD [WEEK]      e.g. sh tools/grade.sh build/release 2
#
# Runs BUILD/tests/graded/test_weekNN --grade for week WEEK (2 or 02), or for every graded test
# program that exists, prints each week's table (tests/grade_report.h) and a grand total over
# the weeks. Exit status: 0 when every program produced its GRADE line (whatever the score),
# 1 when a program is missing or crashed before printing it.
set -u

BUILD=${1:-}
WEEK=${2:-}
if [ -z "$BUILD" ]; then
    echo "usage: sh tools/grade.sh BUILD [WEEK]" >&2
    exit 2
fi
DIR=$BUILD/tests/graded

if [ -n "$WEEK" ]; then
    case $WEEK in
        *[!0-9]* | "") echo "grade: WEEK must be a number (got '$WEEK')" >&2; exit 2 ;;
    esac
    n=$(echo "$WEEK" | sed 's/^0*//')
    BINS=$(printf '%s/test_week%02d' "$DIR" "${n:-0}")
    if [ ! -x "$BINS" ]; then
        echo "grade: no graded tests for week $WEEK: $BINS not found;" \
             "hint: is there a tests/graded/$(basename "$BINS").c? then run make all" >&2
        exit 1
    fi
else
    BINS=$(ls "$DIR"/test_week[0-9][0-9] 2>/dev/null)
    if [ -z "$BINS" ]; then
        echo "grade: no graded test programs in $DIR; hint: make all builds tests/graded/*.c" >&2
        exit 1
    fi
fi

OUT=$(mktemp "${TMPDIR:-/tmp}/grade.XXXXXX")
trap 'rm -f "$OUT"' EXIT
SUM_P=0 SUM_T=0 BAD=0 SUMMARY=""
for b in $BINS; do
    "$b" --grade > "$OUT"
    rc=$?
    cat "$OUT"
    line=$(grep '^GRADE {' "$OUT" | tail -n 1)
    if [ -z "$line" ]; then
        echo "grade: $b exited with status $rc before printing its GRADE line" \
             "(a crash outside a forked test?); its week counts as 0" >&2
        BAD=1
        continue
    fi
    # GRADE {"week":2,"points":15.00,"total":20,...}
    p=$(echo "$line" | sed 's/.*"points":\([0-9.]*\).*/\1/')
    t=$(echo "$line" | sed 's/.*"total":\([0-9]*\).*/\1/')
    w=$(echo "$line" | sed 's/.*"week":\(-\{0,1\}[0-9]*\).*/\1/')
    SUM_P=$(awk -v a="$SUM_P" -v b="$p" 'BEGIN { printf "%.2f", a + b }')
    SUM_T=$((SUM_T + t))
    SUMMARY="$SUMMARY$(printf '  week %02d: %6.1f / %d' "$w" "$p" "$t")
"
done

echo
echo "grade summary"
printf '%s' "$SUMMARY"
awk -v p="$SUM_P" -v t="$SUM_T" 'BEGIN {
    printf "grand total: %.1f / %d points (%.0f%%)\n", p, t, (t > 0 ? 100 * p / t : 0) }'
exit $BAD
