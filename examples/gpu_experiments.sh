#!/usr/bin/env bash
# The long experiments of early exit on the models people already have and of cartography on real data, run side
# by side on one GPU: every process is one torch thread on the CPU side, trains and evaluates on the
# GPU, and writes one JSON per finished run (resumable: rerun the same command to finish an interrupted protocol).
# Early-exit wall-clock timing runs on the CPU inside train_early_exit.py (interleaved against the stock model).
#
#   bash examples/gpu_experiments.sh [SNAPSHOT_DIR] [DEADLINE_SECONDS]
#
# SNAPSHOT_DIR (optional) receives results.tgz (outputs/results of these experiments + logs) every 20 s and at the
# end; DEADLINE_SECONDS (default: none) stops whatever still runs at that time (finished runs are kept).
set -u
cd "$(dirname "$0")/.."
SNAP=${1:-}
DEADLINE=${2:-0}
W=outputs/gpu_work
mkdir -p $W/logs
export OMP_NUM_THREADS=1 TOKENIZERS_PARALLELISM=false PYTHONUNBUFFERED=1
CO=outputs/results/cartography_ood_gpu
pids=()

# early exit: (a)-(e) on all of Rotten Tomatoes and all of 20 Newsgroups, three seeds, one process per (dataset, seed)
for s in 1 2 3; do
  python examples/train_early_exit.py --variants a b c d e --datasets rt --train-size 0 --max-drop 1 --seeds $s \
    --device cuda --epochs 2 --exit-epochs 2 --output-dir $W/ee > $W/logs/ee_rt_$s.log 2>&1 & pids+=($!)
  python examples/train_early_exit.py --variants a b c d e --datasets 20ng --train-size 0 --max-drop 1 --seeds $s \
    --device cuda --epochs 3 --exit-epochs 2 --output-dir $W/ee > $W/logs/ee_20ng_$s.log 2>&1 & pids+=($!)
done

# cartography: the protocol on all of RT (three seeds, one process each), then two other training set-ups on the
# regions that matter (ambiguous, random, ambiguous + easy) to see whether the ambiguous-only result depends on them
for s in 0 1 2; do
  ( python examples/cartography_ood.py protocol --seeds $s --device cuda --results-dir $CO --work-dir $W/co$s \
      --mixtures 0.23+0.10,0.165+0.165,0.28+0.05 --eval-batch-size 256
    for setup in "--learning-rate 5e-5|lr5e-5" "--epochs 6|epochs6"; do
      python examples/cartography_ood.py protocol --seeds $s --device cuda ${setup%%|*} --results-dir $CO/${setup##*|} \
        --work-dir $W/co$s --regions ambiguous,random --mixtures 0.23+0.10 --first-epochs "" --balanced "" \
        --eval-batch-size 256
    done ) > $W/logs/co_$s.log 2>&1 & pids+=($!)
done

# cartography: label-error detection, 10% flipped, all of RT (three seeds) and all of 20 Newsgroups
( for s in 0 1 2; do
    python examples/cartography_ood.py label-noise --dataset rotten_tomatoes --seed $s --device cuda --results-dir $CO \
      --work-dir $W/noise --eval-batch-size 256
  done
  python examples/cartography_ood.py label-noise --dataset 20newsgroups --max-length 128 --seed 0 --device cuda \
    --results-dir $CO --work-dir $W/noise --eval-batch-size 256 ) > $W/logs/noise.log 2>&1 & pids+=($!)

SNAPSHOT_PATHS=(outputs/results/early_exit outputs/results/cartography_ood_gpu $W/logs)
progress() {
  echo "$(ls outputs/results/early_exit/*/*.json $CO/seed*/*.json $CO/*/seed*/*.json $CO/label_noise/*.json 2>/dev/null | wc -l) results"
}
stop_runs() { pkill -f "examples/(train_early_exit|cartography_ood)" 2>/dev/null; }
source examples/gpu_common.sh
wait_for_runs
