#!/usr/bin/env bash
# MPNet-12 early exit on all of Rotten Tomatoes, (a) and the anchored recipe (g) with `mlp` exits, one process per
# seed side by side on one GPU; each run saves its exits' validation and test logits (--save-logits). The
# all-mpnet-base-v2 checkpoint must already be in the cache (`hf_notlike.resources.mpnet_path()`; set
# HF_NOTLIKE_CACHE where it lies). Resumable: rerun the same command to finish an interrupted protocol.
#
#   bash examples/gpu_mpnet_early_exit.sh RESULTS_DIR [SNAPSHOT_DIR] [DEADLINE_SECONDS] [-- EXTRA OPTIONS]
#
# RESULTS_DIR receives one JSON (and one logits file) per finished run; SNAPSHOT_DIR (optional) receives
# results.tgz (the results and logs) every 30 s and at the end; DEADLINE_SECONDS stops whatever still runs then.
# EXTRA OPTIONS go to every examples/train_early_exit.py process and win over the defaults below (e.g.
# `-- --anchor-epochs 3`); SEEDS (default "1 2 3") picks the seeds.
set -u
cd "$(dirname "$0")/.."
RESULTS=${1:?usage: bash examples/gpu_mpnet_early_exit.sh RESULTS_DIR [SNAPSHOT_DIR] [DEADLINE_SECONDS] [-- OPTIONS]}
SNAP=${2:-}
DEADLINE=${3:-0}
shift $(( $# < 3 ? $# : 3 ))
[ "${1:-}" = "--" ] && shift
W=outputs/gpu_work/$(basename "$RESULTS")
mkdir -p "$W/logs" "$RESULTS"
export TOKENIZERS_PARALLELISM=false PYTHONUNBUFFERED=1
pids=()
for s in ${SEEDS:-1 2 3}; do
  HF_DATASETS_CACHE=$W/datasets_cache$s python examples/train_early_exit.py --model mpnet --variants a g \
    --datasets rt --train-size 0 --max-drop 1 --seeds $s --epochs 2 --anchor-epochs 2 --augment-copies 2 \
    --exit-head mlp --learning-rate 3e-5 --head-learning-rate 5e-4 --backbone-lr 3e-5 --exit-lr-multiplier 67 \
    --anchor-weight 0.5 --anchor-temperature 2 --save-steps 1000 --threads 4 --timing-examples 32 --repeats 1 \
    --device cuda --save-logits --no-copy-plots --output-dir "$W" --results-dir "$RESULTS" "$@" \
    > "$W/logs/seed$s.log" 2>&1 & pids+=($!)
done

SNAPSHOT_PATHS=("$RESULTS" "$W/logs")
progress() { echo "$(ls "$RESULTS"/*/*.json 2>/dev/null | wc -l) results"; }
INTERVAL=30
source examples/gpu_common.sh
wait_for_runs
