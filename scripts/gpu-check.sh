#!/usr/bin/env bash
# The GPU check: densi's wgpu path against the CPU, transformers and PyTorch on one machine, one table.
# Meant for an NVIDIA H100/H200 box with PyTorch + transformers and no network (under 8 minutes there);
# runs anywhere wgpu finds an adapter (lavapipe included, with short lengths).
#
#   scripts/gpu-check.sh                       results in gpu-check-results/<UTC time>/table.md
#
# Steps: 1. build densi in release (cargo), unless DENSI_BIN names a binary built beforehand;
#        2. `densi devices`;
#        3. `densi bench --backend gpu` at DENSI_CHECK_LENGTHS in f32 and f16 (per-kernel timestamp
#           timings where the adapter has TIMESTAMP_QUERY);
#        4. `densi export` of the three example prompts on the CPU and the GPU (f32, f16);
#        5. scripts/gpu_check.py: the PyTorch baseline (eager and sdpa, float32, the same GGUF loaded
#           into transformers, the same lengths) and parity against transformers; writes table.md.
#
# Environment (all optional):
#   DENSI_MODEL              the GGUF [models/SmolLM2-135M-Instruct.Q4_1.gguf]; if it is missing and
#                            MODEL.part-* exist (split -b to fit a 64 MiB transfer), they are joined first
#   DENSI_BIN                a prebuilt densi (machines without cargo) [cargo build --release]
#   DENSI_CHECK_LENGTHS      comma-separated token counts [128,512,1024,4096]
#   DENSI_CHECK_REPEATS      timed runs per length [5]
#   DENSI_CHECK_OUT          results folder [gpu-check-results/<UTC time>]
#   DENSI_CHECK_WHEELS       folder with a gguf wheel, installed to a temporary target when `import gguf`
#                            fails [.whl]; prepare with `pip download gguf==0.19.0 --no-deps -d .whl`
#   DENSI_CHECK_TORCH_DEVICE PyTorch device [cuda; cpu when CUDA is absent]
#   DENSI_CHECK_PYTHON       the Python with torch + transformers [python3]
set -euo pipefail
cd "$(dirname "$0")/.."

model=${DENSI_MODEL:-models/SmolLM2-135M-Instruct.Q4_1.gguf}
lengths=${DENSI_CHECK_LENGTHS:-128,512,1024,4096}
repeats=${DENSI_CHECK_REPEATS:-5}
out=${DENSI_CHECK_OUT:-gpu-check-results/$(date -u +%Y%m%dT%H%M%SZ)}
wheels=${DENSI_CHECK_WHEELS:-.whl}
torch_device=${DENSI_CHECK_TORCH_DEVICE:-cuda}
python=${DENSI_CHECK_PYTHON:-python3}
mkdir -p "$out"
start=$(date +%s)
log() { echo "[gpu-check +$(($(date +%s) - start))s] $*" >&2; }

if [ ! -f "$model" ] && compgen -G "$model.part-*" >/dev/null; then
    log "joining $model from its parts"
    cat "$model".part-* >"$model.joining" && mv "$model.joining" "$model"
fi
[ -f "$model" ] || { echo "gpu-check: no model at $model (set DENSI_MODEL)" >&2; exit 2; }

if [ -n "${DENSI_BIN:-}" ]; then
    densi=$DENSI_BIN
elif command -v cargo >/dev/null; then
    log "cargo build --release"
    cargo build --release --bin densi
    densi=target/release/densi
else
    echo "gpu-check: no cargo here; build densi elsewhere and set DENSI_BIN" >&2
    exit 2
fi
log "densi: $("$densi" --version)"

log "densi devices"
"$densi" devices | tee "$out/devices.txt"

for dtype in f32 f16; do
    log "densi bench --backend gpu --dtype $dtype --tokens $lengths"
    # A failure (no SHADER_F16, a window too long for the adapter) is recorded in the table, not fatal.
    "$densi" bench --backend gpu --dtype "$dtype" --tokens "$lengths" --repeats "$repeats" -m "$model" \
        >"$out/bench-$dtype.txt" 2>"$out/bench-$dtype.err" || cat "$out/bench-$dtype.err" >>"$out/bench-$dtype.txt"
    cat "$out/bench-$dtype.txt"
done

log "parity: the example prompts on the CPU and the GPU"
examples=(docs/examples/favorite_color.txt docs/examples/jason_wei.txt docs/examples/math_question.txt)
"$densi" export -q --backend cpu -m "$model" --format csv -o "$out/parity-cpu.csv" --force "${examples[@]}"
for dtype in f32 f16; do
    "$densi" export -q --backend gpu --dtype "$dtype" -m "$model" --format csv -o "$out/parity-gpu-$dtype.csv" \
        --force "${examples[@]}" 2>>"$out/parity-gpu-$dtype.err" || log "GPU $dtype export failed (see $out/parity-gpu-$dtype.err)"
done

if ! "$python" -c 'import gguf' 2>/dev/null; then
    site=$(mktemp -d)
    log "installing gguf from $wheels into $site"
    "$python" -m pip install -q --no-index --no-deps --target "$site" "$wheels"/gguf-*.whl
    export PYTHONPATH="$site${PYTHONPATH:+:$PYTHONPATH}"
fi
log "PyTorch baseline and parity against transformers"
PYTHONUNBUFFERED=1 "$python" scripts/gpu_check.py --out "$out" --gguf "$model" --lengths "$lengths" \
    --device "$torch_device" --repeats "$repeats"
log "done: $out/table.md"
