#!/bin/sh
# test_gdb.sh: checks the gdb support (tools/gdb/tensor_printer.py, loaded by .gdbinit).
#
#   sh tools/test_gdb.sh BUILD_DIR [BINARY BREAKPOINT EXPR REGEX [ARGS...]]
#
# 1. Self-test: compiles a tiny program that fills Tensor structs by hand (a matrix, its
#    transposed view, an int32 vector, a 10-element vector), stops in gdb and compares the
#    printer's and tprint's output with the expected lines exactly.
# 2. A real program: runs `gdb -batch -x .gdbinit` on BINARY (default
#    BUILD_DIR/labs/week02_foundations), breaks at BREAKPOINT (default tensor_matmul), prints
#    EXPR (default `*a`; an EXPR starting with tprint, tgraph or tnonfinite is run as that
#    command) and greps the output for the extended regex REGEX (default: a Tensor line with a
#    2-D shape). ARGS are passed to the program. When the default lab is not built this part
#    is skipped with a message.
# Run it from the repository root. Exit status: 0 pass, 1 fail, 77 skip (no gdb, or a gdb
# without Python).
set -u

BUILD=${1:-build/debug}
BIN=${2:-$BUILD/labs/week02_foundations}
BRK=${3:-tensor_matmul}
EXPR=${4:-*a}
REGEX=${5:-'^\$1 = Tensor "[^"]*" f32 shape=\([0-9]+, [0-9]+\) stride=\([0-9]+, [0-9]+\) op=[a-z_]+'}
EXPLICIT=${2:+yes}
if [ $# -gt 5 ]; then shift 5; else set --; fi

if [ ! -f .gdbinit ] || [ ! -f tools/gdb/tensor_printer.py ]; then
    echo "test_gdb: run it from the repository root" >&2
    exit 1
fi
command -v gdb >/dev/null 2>&1 || { echo "test_gdb: skip: gdb is not installed"; exit 77; }
if ! gdb -batch -nx -ex 'python print("py-ok")' 2>/dev/null | grep -q py-ok; then
    echo "test_gdb: skip: this gdb has no Python support (the printer needs it)"
    exit 77
fi

T=$(mktemp -d "${TMPDIR:-/tmp}/test_gdb.XXXXXX")
trap 'rm -rf "$T"' EXIT
FAILS=0
fail() { echo "NOT OK: $*"; FAILS=$((FAILS + 1)); }
ok() { echo "ok: $*"; }
GDB="timeout 300 gdb -batch -nx -x .gdbinit -ex 'set pagination off'"

# --- 1. self-test on hand-made tensors -------------------------------------------------------
cat > "$T/prog.c" <<'EOF'
#include "core/tensor.h"

#include <string.h>

static float inspect(Tensor *a, Tensor *b, Tensor *c)
{
    return a->data[0] + (float)b->idata[0] + c->data[0];
}

int main(void)
{
    float buf[6] = {1, 2, 3, 4, 5, 6}, g[6] = {0.5f, 0, 0, 0, 0, -1};
    float ten[10] = {0, 0.25f, 2, 3, 4, 5, 6, 7, 8, 9};
    int32_t ids[3] = {7, 8, -9};
    Tensor w = {.dtype = DT_F32, .ndim = 2, .shape = {2, 3}, .stride = {3, 1}, .data = buf,
                .grad = g, .op = OP_MATMUL};
    strcpy(w.name, "weights");
    Tensor wt = w; // the transposed view of w: same storage, strides swapped
    wt.shape[0] = 3, wt.shape[1] = 2, wt.stride[0] = 1, wt.stride[1] = 3;
    wt.base = &w, wt.grad = NULL, wt.op = OP_TRANSPOSE;
    strcpy(wt.name, "weights_T");
    Tensor ix = {.dtype = DT_I32, .ndim = 1, .shape = {3}, .stride = {1}, .idata = ids};
    strcpy(ix.name, "ids");
    Tensor v = {.dtype = DT_F32, .ndim = 1, .shape = {10}, .stride = {1}, .data = ten,
                .op = OP_LAYERNORM};
    strcpy(v.name, "node_7");
    Tensor *pw = &w;
    return inspect(&wt, &ix, &v) > 0 && pw ? 0 : 1;
}
EOF
if ! command -v cc >/dev/null 2>&1; then
    echo "skip: self-test (no C compiler)"
elif ! cc -std=c11 -I. -O0 -g "$T/prog.c" -o "$T/prog" 2> "$T/cc.err"; then
    fail "self-test program does not compile against core/tensor.h"
    cat "$T/cc.err"
else
    eval "$GDB -ex 'break inspect' -ex run -ex 'print *a' -ex 'print *b' -ex 'print *c' \
        -ex up -ex 'tprint pw' -ex 'tprint w' -ex 'print pw' \
        -ex 'enable pretty-printer global engine;tensor-pointer' -ex 'print pw' \"$T/prog\"" \
        > "$T/gdb.out" 2>&1
    grep -E '^(\$[0-9]+ = |Tensor )' "$T/gdb.out" | sed 's/0x[0-9a-f]*/ADDR/' > "$T/got"
    cat > "$T/want" <<'EOF'
$1 = Tensor "weights_T" f32 shape=(3, 2) stride=(1, 3) op=transpose grad=no view=yes data=[1, 4, 2, 5, 3, 6]
$2 = Tensor "ids" i32 shape=(3,) stride=(1,) op=none grad=no view=no data=[7, 8, -9]
$3 = Tensor "node_7" f32 shape=(10,) stride=(1,) op=layernorm grad=no view=no data=[0, 0.25, 2, 3, 4, 5, 6, 7, ...]
Tensor "weights" f32 shape=(2, 3) stride=(3, 1) op=matmul grad=yes view=no data=[1, 2, 3, 4, 5, 6] grad_values=[0.5, 0, 0, 0, 0, -1]
Tensor "weights" f32 shape=(2, 3) stride=(3, 1) op=matmul grad=yes view=no data=[1, 2, 3, 4, 5, 6] grad_values=[0.5, 0, 0, 0, 0, -1]
$4 = (Tensor *) ADDR
$5 = (Tensor *) ADDR -> Tensor "weights" f32 shape=(2, 3) stride=(3, 1) op=matmul grad=yes view=no data=[1, 2, 3, 4, 5, 6]
EOF
    if diff -u "$T/want" "$T/got"; then
        ok "self-test: printer, tprint and the pointer printer"
    else
        fail "self-test: printer output differs (full gdb output below)"
        cat "$T/gdb.out"
    fi
fi

# --- 2. a real program -----------------------------------------------------------------------
if [ ! -x "$BIN" ]; then
    if [ -n "$EXPLICIT" ]; then
        fail "$BIN not found"
    else
        echo "skip: $BIN is not built (make MODE=debug all); pass BINARY to check another program"
    fi
else
    case $EXPR in
        tprint* | tgraph* | tnonfinite* | print* | "p "*) CMD=$EXPR ;;
        *) CMD="print $EXPR" ;;
    esac
    ARGS=""
    for a in "$@"; do ARGS="$ARGS '$a'"; done
    eval "$GDB -ex \"break $BRK\" -ex run -ex \"$CMD\" --args \"$BIN\" $ARGS" \
        > "$T/lab.out" 2>&1
    if grep -Eq -- "$REGEX" "$T/lab.out"; then
        ok "$(basename "$BIN"): at $BRK, '$CMD' matches $REGEX"
        grep -E -- "$REGEX" "$T/lab.out" | head -n 3
    else
        fail "$(basename "$BIN"): at $BRK, '$CMD' does not match $REGEX; gdb said:"
        tail -n 30 "$T/lab.out"
    fi
fi

if [ $FAILS -ne 0 ]; then
    echo "test_gdb: $FAILS check(s) failed"
    exit 1
fi
echo "test_gdb: passed"
