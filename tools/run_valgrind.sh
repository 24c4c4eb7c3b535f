#!/bin/sh
# `make valgrind`: the week-2 lab (debug build: valgrind cannot run -march=native code) under
# memcheck; fails on any error or leak.
set -eu
BUILD=${1:-build/debug}
out=$(mktemp -d "${TMPDIR:-/tmp}/valgrind.XXXXXX")
trap 'rm -rf "$out"' EXIT
valgrind --error-exitcode=1 --leak-check=full --errors-for-leak-kinds=definite,indirect \
    --show-leak-kinds=definite,indirect "$BUILD/labs/week02_foundations" --quick --steps 50 \
    --out "$out"
