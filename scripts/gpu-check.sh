#!/usr/bin/env bash
# The GPU check: densi's wgpu path against the CPU, transformers and PyTorch on one machine, one table.
# Meant for an NVIDIA H100/H200 box with PyTorch + transformers and no network (under 8 minutes there);
# runs anywhere wgpu finds an adapter (lavapipe included, with short lengths). docs/kernels.md, "The GPU
# check", has the device-machine invocation and a lavapipe run.
#
#   scripts/gpu-check.sh                       results in gpu-check-results/<UTC time>/table.md
#   scripts/gpu-check.sh stage                 prepares .gpu-check/ and .whl/ for a machine without
#                                              cargo or network (docs/kernels.md: the device machine)
#
# Steps (each one's seconds go to steps.tsv and the table):
#   1. build densi in release (cargo), unless DENSI_BIN names a binary built beforehand;
#   2. `densi devices`;
#   3. `densi bench --backend gpu` at DENSI_CHECK_LENGTHS for --weights resident and f32, each in --dtype
#      f32 and f16 (f16 only where an adapter lists SHADER_F16), with the per-kernel timestamp timings
#      where the adapter has TIMESTAMP_QUERY;
#   4. `densi export` of the three example prompts on the CPU and on the GPU in the same four settings;
#   5. `import gguf`, else install it from the wheel in DENSI_CHECK_WHEELS to a temporary target;
#   6. scripts/gpu_check.py: the PyTorch baseline (eager and sdpa, float32, the same GGUF loaded into
#      transformers, the same lengths) and parity against transformers; writes table.md, results.json.
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

# `stage`: everything a machine without cargo or network needs, in folders .gitignore keeps out:
# .gpu-check/densi (release, stripped: 14 MiB instead of 86), the model in 38 MiB parts (the script
# joins them there; one transfer carries 64 MiB with the tracked tree's ~20 MiB), .whl/ the gguf wheel.
if [ "${1:-}" = stage ]; then
    stage=.gpu-check
    mkdir -p "$stage"
    cargo build --release --bin densi
    strip -o "$stage/densi" target/release/densi
    rm -f "$stage/$(basename "$model")".part-*
    split -b 38M "$model" "$stage/$(basename "$model").part-"
    compgen -G "$wheels/gguf-*.whl" >/dev/null || "$python" -m pip download -q gguf==0.19.0 --no-deps -d "$wheels"
    ls -l "$stage" "$wheels"
    exit 0
fi

mkdir -p "$out"
: >"$out/steps.tsv"
start=$(date +%s)
step_start=$start
log() { echo "[gpu-check +$(($(date +%s) - start))s] $*" >&2; }
# step NAME: the seconds since the previous step ended, recorded under NAME.
step() {
    local now
    now=$(date +%s)
    printf '%s\t%s\n' "$1" "$((now - step_start))" >>"$out/steps.tsv"
    step_start=$now
}

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
[ -x "$densi" ] || { echo "gpu-check: $densi is not an executable (DENSI_BIN)" >&2; exit 2; }
log "densi: $("$densi" --version)"
step build

log "densi devices"
"$densi" devices | tee "$out/devices.txt"
# `bos (auto)` there is the first token's context the exports get, for the transformers reference.
"$densi" info -m "$model" >"$out/info.txt"
# f16 needs SHADER_F16; without it, say so in the table rather than fail.
dtypes="f32"
if grep -q 'features:.*SHADER_F16' "$out/devices.txt"; then
    dtypes="f32 f16"
else
    echo "skipped: no adapter lists SHADER_F16 (densi devices)" >"$out/bench-resident-f16.txt"
    echo "skipped: no adapter lists SHADER_F16 (densi devices)" >"$out/bench-f32-f16.txt"
fi
step devices

for weights in resident f32; do
    for dtype in $dtypes; do
        log "densi bench --backend gpu --weights $weights --dtype $dtype --tokens $lengths"
        # A failure (a window too long for the adapter, say) is recorded in the table, not fatal.
        "$densi" bench --backend gpu --weights "$weights" --dtype "$dtype" --tokens "$lengths" \
            --repeats "$repeats" -m "$model" >"$out/bench-$weights-$dtype.txt" 2>"$out/bench-$weights-$dtype.err" ||
            { log "bench failed (see $out/bench-$weights-$dtype.err)"; tail -n 1 "$out/bench-$weights-$dtype.err" >>"$out/bench-$weights-$dtype.txt"; }
        cat "$out/bench-$weights-$dtype.txt"
    done
done
step bench

log "parity: the example prompts on the CPU and the GPU"
examples=(docs/examples/favorite_color.txt docs/examples/jason_wei.txt docs/examples/math_question.txt)
"$densi" export -q --backend cpu -m "$model" --format csv -o "$out/parity-cpu.csv" --force "${examples[@]}"
for weights in resident f32; do
    for dtype in $dtypes; do
        "$densi" export -q --backend gpu --weights "$weights" --dtype "$dtype" -m "$model" --format csv \
            -o "$out/parity-gpu-$weights-$dtype.csv" --force "${examples[@]}" 2>>"$out/parity-gpu-$weights-$dtype.err" ||
            log "GPU $weights $dtype export failed (see $out/parity-gpu-$weights-$dtype.err)"
    done
done
step parity-exports
find "$out" -name '*.err' -empty -delete

if ! "$python" -c 'import gguf' 2>/dev/null; then
    site=$(mktemp -d)
    compgen -G "$wheels/gguf-*.whl" >/dev/null ||
        { echo "gpu-check: $python cannot import gguf and $wheels holds no gguf-*.whl (DENSI_CHECK_WHEELS)" >&2; exit 2; }
    log "installing gguf from $wheels into $site"
    "$python" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target "$site" "$wheels"/gguf-*.whl
    export PYTHONPATH="$site${PYTHONPATH:+:$PYTHONPATH}"
    "$python" -c 'import gguf' || { echo "gpu-check: gguf still does not import after installing into $site" >&2; exit 2; }
    echo "gguf installed from $(basename "$wheels"/gguf-*.whl) into a temporary target" >"$out/gguf.txt"
fi
step gguf

log "PyTorch baseline and parity against transformers"
PYTHONUNBUFFERED=1 "$python" scripts/gpu_check.py --out "$out" --gguf "$model" --lengths "$lengths" \
    --device "$torch_device" --repeats "$repeats" --steps-start "$step_start" --total-start "$start"
log "done: $out/table.md"
