#!/bin/sh
# The gdb test of `make test`: builds the week-2 lab in debug mode, then runs tools/test_gdb.sh,
# which stops gdb at tensor_matmul inside the lab and checks what the Tensor printer shows.
set -eu
make --no-print-directory MODE=debug build/debug/labs/week02_foundations >/dev/null
out=$(mktemp -d "${TMPDIR:-/tmp}/gdb_lab.XXXXXX")
trap 'rm -rf "$out"' EXIT
sh tools/test_gdb.sh build/debug build/debug/labs/week02_foundations tensor_matmul '*a' \
    '^\$1 = Tensor "[^"]*" f32 shape=\(1024, 8\) stride=\(8, 1\) op=none' --quick --out "$out"
