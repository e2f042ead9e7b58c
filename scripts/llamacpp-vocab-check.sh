#!/usr/bin/env bash
# llama.cpp's tokenizer test vectors against densi's tokenizer.
#
# Fetches the llama-cpp-python 0.3.36 sdist from PyPI (pip; ~77 MB), unpacks its
# vendor/llama.cpp/models/ggml-vocab-*.gguf vocab-only files with their .gguf.inp / .gguf.out
# (inputs and the expected token ids, made by llama.cpp from the Hugging Face tokenizers) into a
# cache directory (not committed: ~60 MB), then runs tests/engine/tokenizer_llamacpp_vocab.rs on
# them with DENSI_LLAMACPP_VOCAB_DIR pointing there.
#
# Usage: scripts/llamacpp-vocab-check.sh            fetch (once) and run the test
#        scripts/llamacpp-vocab-check.sh --fetch    only fetch; prints the directory
# Cache: $DENSI_LLAMACPP_VOCAB_DIR, default ${XDG_CACHE_HOME:-~/.cache}/densi/llamacpp-vocab-0.3.36
set -euo pipefail

VERSION="0.3.36"
SDIST_SHA256="832db0699007f1be95a7e41ef12e88926b02ba836461e36a36372db2760c1a2e"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DIR="${DENSI_LLAMACPP_VOCAB_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/densi/llamacpp-vocab-$VERSION}"
PY="${PYTHON:-python3}"

die() { echo "llamacpp-vocab-check: error: $*" >&2; exit 1; }

if [[ ! -f "$DIR/.complete" ]]; then
    WORK="$(mktemp -d "${TMPDIR:-/tmp}/densi-lcp.XXXXXX")"
    trap 'rm -rf "$WORK"' EXIT
    echo "llamacpp-vocab-check: downloading llama-cpp-python==$VERSION (sdist) ..." >&2
    # Only the sdist is wanted; pip still prepares its metadata (build dependencies as wheels).
    if ! "$PY" -m pip download --quiet --no-deps --no-binary llama-cpp-python "llama-cpp-python==$VERSION" \
        -d "$WORK" >"$WORK/pip.log" 2>&1; then
        cat "$WORK/pip.log" >&2
        die "pip download llama-cpp-python==$VERSION failed (log above)"
    fi
    SDIST="$WORK/llama_cpp_python-$VERSION.tar.gz"
    [[ -f "$SDIST" ]] || die "no $SDIST after pip download"
    got="$(sha256sum "$SDIST" | cut -d' ' -f1)"
    [[ "$got" == "$SDIST_SHA256" ]] || die "sha256 of the sdist is $got, expected $SDIST_SHA256"
    mkdir -p "$WORK/x" "$DIR"
    tar -xzf "$SDIST" -C "$WORK/x" --wildcards "llama_cpp_python-$VERSION/vendor/llama.cpp/models/ggml-vocab-*"
    cp "$WORK/x/llama_cpp_python-$VERSION/vendor/llama.cpp/models/"ggml-vocab-* "$DIR/"
    touch "$DIR/.complete"
fi
echo "llamacpp-vocab-check: vocab files in $DIR" >&2
if [[ "${1:-}" == "--fetch" ]]; then
    echo "$DIR"
    exit 0
fi
cd "$ROOT"
DENSI_LLAMACPP_VOCAB_DIR="$DIR" cargo test --test engine llamacpp_vocab -- --nocapture
