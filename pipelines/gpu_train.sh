#!/usr/bin/env bash
# Train remaster-x1, -x2 and -x4 side by side on one lent GPU machine (issue 14), then fine-tune
# each for temporal consistency and feature reuse; everything small comes back under $OUT.
#
#   bash pipelines/gpu_train.sh            (on the device machine, from the repository root)
#
# The machine has torch, OpenCV and scikit-image but not PyAV or scikit-video: their wheels travel
# in .whl/ (git-ignored). CPU workers make the batches (vidstyle.train.loader.prefetched); the
# step counts of the recipes were sized for about BASE_MINUTES on an H200, and --minutes caps them.
# After the run, on the CPU machine: pipelines/lowrank_fusion.py on each temporal output.
set -u
BASE_MINUTES=${BASE_MINUTES:-4.5}
TEMPORAL_MINUTES=${TEMPORAL_MINUTES:-1.5}
OUT=${OUT:-/tmp/gpu_out}
WORK=/tmp/gpu_train
mkdir -p "$OUT" "$WORK"
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1
python3 -c "import av, torch; from vidstyle.train import data; print(len(data.training_frames()), 'training frames;', torch.cuda.get_device_name(), torch.__version__, av.__version__)" || exit 1
nproc

chain() {  # scale, data workers
    local s=$1 workers=$2
    python3 pipelines/train_remaster.py --recipe pipelines/recipes/remaster-x$s.toml --out "$WORK/rx$s" \
        --device cuda --workers "$workers" --threads 1 --minutes "$BASE_MINUTES" --no-progress > "$WORK/rx$s.log" 2>&1
    echo "x$s base: exit $?"; tail -n 2 "$WORK/rx$s.log"
    python3 pipelines/train_temporal.py --recipe pipelines/recipes/temporal-x$s.toml --out "$WORK/tx$s" \
        --init "$WORK/rx$s/remaster-x$s.safetensors" --device cuda --workers "$workers" --threads 1 \
        --minutes "$TEMPORAL_MINUTES" --no-progress > "$WORK/tx$s.log" 2>&1
    echo "x$s temporal: exit $?"; tail -n 2 "$WORK/tx$s.log"
}

pack() {  # weights, cards and logs in one file; the base checkpoints one file each (for --resume)
    tar czf "$OUT/gpu_train.tgz" -C "$WORK" --exclude=checkpoint.pt . 2>/dev/null
    for s in 1 2 4; do
        [ -f "$WORK/rx$s/checkpoint.pt" ] && cp "$WORK/rx$s/checkpoint.pt" "$OUT/checkpoint_rx$s.pt"
    done
}

chain 1 3 & chain 2 4 & chain 4 6 &
while [ -n "$(jobs -r)" ]; do sleep 30; pack; grep -h "seconds_per_step\|step [0-9]* held-out" "$WORK"/*.log 2>/dev/null | tail -n 3; done
wait
pack
nvidia-smi --query-gpu=name,memory.used,utilization.gpu --format=csv
ls -la "$OUT"
