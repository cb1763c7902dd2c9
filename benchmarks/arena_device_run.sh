#!/usr/bin/env bash
# README's arena tables in one go on a machine with 16 CPU cores and a GPU: the toy arenas
# (ring, grid, 25gaussians; every objective, 5 seeds) on CPUs 0-12 and the MNIST arena (main
# objectives, 3 seeds) on the GPU with CPUs 13-15, at the same time; then everything packed
# into OUT as at most 8 files (one .tgz per arena, the markdown, the logs).
#
#   bash benchmarks/arena_device_run.sh DATA_DIR OUT        # DATA_DIR holds mnist/
#
# Environment overrides (for a tiny check elsewhere): TOY_CPUS TOY_JOBS TOY_ARGS MNIST_CPUS
# MNIST_JOBS MNIST_ARGS MNIST_DEVICE LIMIT_S (cap on each arena's wall time) WORK (scratch).
set -u
DATA_DIR=${1:?usage: arena_device_run.sh DATA_DIR OUT}
OUT=${2:?usage: arena_device_run.sh DATA_DIR OUT}
WORK=${WORK:-/tmp/gankit-arena}
LIMIT_S=${LIMIT_S:-420}
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 \
    OPENBLAS_NUM_THREADS=1 PYTHONUNBUFFERED=1 MPLBACKEND=Agg
mkdir -p "$WORK" "$OUT"
log() { echo "[$(date -u +%H:%M:%S)] $*" | tee -a "$WORK/run.log"; }
log "start: $(nproc --all) CPUs; torch, CUDA: $(python3 -c 'import torch; print(torch.__version__, torch.cuda.is_available())' 2>&1)"
{ lscpu | grep -E 'Model name|Thread|Core|Socket'; nvidia-smi --query-gpu=name,memory.used,memory.total --format=csv; } \
    >>"$WORK/run.log" 2>&1

# A run stops at its own budget; `timeout` only guards the whole arena (SIGINT: the arena stops
# its workers; what finished is collected below with --collect-only).
timeout -s INT -k 30 "$LIMIT_S" python3 benchmarks/arena_mnist.py --data-dir "$DATA_DIR" \
    --device "${MNIST_DEVICE:-cuda}" --cpus "${MNIST_CPUS:-13-15}" --jobs "${MNIST_JOBS:-3}" \
    --out "$WORK/mnist" ${MNIST_ARGS:-} >"$WORK/mnist.log" 2>&1 &
mnist_pid=$!
timeout -s INT -k 30 "$LIMIT_S" python3 benchmarks/arena_toy.py --cpus "${TOY_CPUS:-0-12}" \
    --jobs "${TOY_JOBS:-13}" --out "$WORK/toy" ${TOY_ARGS:-} >"$WORK/toy.log" 2>&1
log "toy arenas exit $?"
wait "$mnist_pid"
log "mnist arena exit $?"

# Salvage: an arena cut short has no results.json; rebuild it from its run folders.
for d in ring grid 25gaussians; do
    if [ ! -f "$WORK/toy/$d/results.json" ] && [ -d "$WORK/toy/$d/runs" ]; then
        log "collecting interrupted $d"
        python3 benchmarks/arena_toy.py ${TOY_ARGS:-} --data "$d" --out "$WORK/toy" --collect-only \
            --no-screenshot >>"$WORK/toy.log" 2>&1
    fi
done
if [ ! -f "$WORK/mnist/mnist/results.json" ] && [ -d "$WORK/mnist/mnist/runs" ]; then
    log "collecting interrupted mnist"
    python3 benchmarks/arena_mnist.py --data-dir "$DATA_DIR" --device "${MNIST_DEVICE:-cuda}" \
        --out "$WORK/mnist" --collect-only --no-screenshot ${MNIST_ARGS:-} >>"$WORK/mnist.log" 2>&1
fi

arenas=$(for a in "$WORK"/toy/ring "$WORK"/toy/grid "$WORK"/toy/25gaussians "$WORK"/mnist/mnist; do
    [ -f "$a/results.json" ] && echo "$a"; done)
# shellcheck disable=SC2086
python3 benchmarks/arena_tables.py $arenas >"$OUT/arena_section.md" 2>>"$WORK/run.log"
cp "$WORK/toy/arena_toy.md" "$WORK/mnist/arena_mnist.md" "$OUT/" 2>/dev/null

# One archive per arena: results, report (pictures embedded), summary figure, each run's config,
# metrics and status; not checkpoints, tensorboard files or the pictures already in the report.
for a in $arenas; do
    name=arena-$(basename "$a").tgz
    skip=(--exclude=checkpoints --exclude=tensorboard --exclude='step-*.png' --exclude=latest.png
        --exclude=metrics.png)
    tar czf "$OUT/$name" -C "$(dirname "$a")" "${skip[@]}" "$(basename "$a")"
    if [ "$(stat -c %s "$OUT/$name")" -gt 15000000 ]; then  # 16 MiB per file comes back
        log "$name too large; packing it without report.html"
        tar czf "$OUT/$name" -C "$(dirname "$a")" "${skip[@]}" --exclude=report.html "$(basename "$a")"
    fi
done
log "done"
tar czf "$OUT/logs.tgz" -C "$WORK" run.log toy.log mnist.log
ls -la "$OUT"
