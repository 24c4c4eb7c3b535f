#!/bin/sh
# Builds tests/llama_ref/llama_ref.c, the driver over real llama.cpp, against the prebuilt
# libraries of npm's node-llama-cpp (tools/npm, installed into build/npm by tools/deps.sh).
# llama.h and ggml's headers come from the llama.cpp source bundle shipped in that package
# (node_modules/node-llama-cpp/llama/gitRelease.bundle), cloned into build/llama_ref/src at
# build time: no llama.cpp file is kept in the repository.
#
#   sh tests/llama_ref/build.sh            prints the driver's path on stdout, exit status 0
#
# Exit status 3 (and the reason on stdout, starting "SKIPPED:") when the npm package, git or
# a C compiler is missing: callers then skip, unless they require it. Exit status 1 when the
# build itself fails. Rebuilds only when the driver's source or the bundle is newer than the
# binary. Safe to run twice at once (temporary names, then rename).
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
NM="$ROOT/build/npm/node_modules"
BINS="$NM/@node-llama-cpp/linux-x64/bins/linux-x64"
BUNDLE="$NM/node-llama-cpp/llama/gitRelease.bundle"
OUT="$ROOT/build/llama_ref"
SRC="$ROOT/tests/llama_ref/llama_ref.c"
EXE="$OUT/llama_ref"
CC=${CC:-cc}

skip() {
    echo "SKIPPED: $1"
    exit 3
}

[ "$(uname -s)-$(uname -m)" = Linux-x86_64 ] ||
    skip "llama.cpp's prebuilt libraries are used for linux-x64 only (this is $(uname -sm))"
[ -f "$BUNDLE" ] || skip "node-llama-cpp is not installed ($BUNDLE missing; hint: make deps)"
lib=$(ls "$BINS"/libllama.*so 2>/dev/null | head -n 1)
[ -n "$lib" ] || skip "no prebuilt libllama under $BINS (hint: make deps)"
ggml=$(ls "$BINS"/libggml.*so 2>/dev/null | head -n 1)
[ -n "$ggml" ] && [ -f "$BINS/libggml-base.so" ] || skip "no prebuilt libggml under $BINS"
command -v git >/dev/null 2>&1 || skip "git is missing (needed to read llama.h from the bundle)"
command -v "$CC" >/dev/null 2>&1 || skip "no C compiler ($CC)"

if [ -x "$EXE" ] && [ "$EXE" -nt "$SRC" ] && [ "$EXE" -nt "$BUNDLE" ]; then
    echo "$EXE"
    exit 0
fi
mkdir -p "$OUT"

# The headers: a checkout of just include/ and ggml/include/ from the bundle.
if [ ! -f "$OUT/src/include/llama.h" ] || [ "$BUNDLE" -nt "$OUT/src/include/llama.h" ]; then
    tmp="$OUT/src.tmp.$$"
    rm -rf "$tmp"
    if ! git clone -q -n "$BUNDLE" "$tmp" >&2 ||
       ! git -C "$tmp" checkout -q HEAD -- include ggml/include >&2; then
        rm -rf "$tmp"
        echo "llama_ref/build.sh: could not read the headers from $BUNDLE" >&2
        exit 1
    fi
    rm -rf "$OUT/src"
    mv "$tmp" "$OUT/src" 2>/dev/null || rm -rf "$tmp"
fi

# -rpath: the driver finds libllama and libggml where npm put them, with no LD_LIBRARY_PATH.
tmp_exe="$EXE.tmp.$$"
if ! "$CC" -std=c11 -D_GNU_SOURCE -O2 -g -Wall -Wextra -Wshadow -Wstrict-prototypes \
        -Wmissing-prototypes -Wvla -Werror \
        -I"$OUT/src/include" -I"$OUT/src/ggml/include" -DLLAMA_REF_BINS="\"$BINS\"" \
        "$SRC" -o "$tmp_exe" "$lib" "$ggml" "$BINS/libggml-base.so" -Wl,-rpath,"$BINS" >&2
then
    rm -f "$tmp_exe"
    echo "llama_ref/build.sh: compiling $SRC failed" >&2
    exit 1
fi
mv -f "$tmp_exe" "$EXE"
echo "$EXE"
