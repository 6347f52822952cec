#!/usr/bin/env bash
# The MNIST target of docs/results.md: an experiment preset (default mnist_infogan) over several seeds, each run scored on
# three draws of 10,000 noise vectors (`gan eval draws=3`), then two `gan report` tables: the runs' own
# final evaluations (report.md) and the draws (report_eval_draws3.md), the one to judge the target by.
# A run takes about an hour on 2 CPU cores, minutes on a GPU.
# Usage: ROOT=<folder holding MNIST/raw> bash benchmarks/mnist_dcgan.sh [OUT]   (EXPERIMENT=mnist_dcgan; extra train options: ARGS=...)
set -euo pipefail
OUT=${1:-outputs/bench/mnist_dcgan}
ROOT=${ROOT:-data}  # MNIST is downloaded there when missing
SEEDS=${SEEDS:-0,1,2}
DRAWS=${DRAWS:-3}
N=${N:-10000}  # samples per draw
EXPERIMENT=${EXPERIMENT:-mnist_infogan}  # a preset in conf/experiment/
ARGS=${ARGS:-}
GAN=${GAN:-gan}

mkdir -p "$OUT"
set -f  # ARGS may hold brackets (+reg=[ema]): no filename expansion while it is split
echo "training seeds $SEEDS into $OUT (progress in $OUT/train.log)"
# shellcheck disable=SC2086  # ARGS is a list of overrides
"$GAN" train -m "experiment=$EXPERIMENT" "data.root=$ROOT" "seed=$SEEDS" $ARGS "hydra.sweep.dir=$OUT" > "$OUT/train.log" 2>&1 || {
    tail -n 5 "$OUT/train.log" >&2
    echo "the sweep stopped (above: the end of $OUT/train.log); fix what it says, then rerun this script" >&2
    exit 1
}
set +f
for run in "$OUT"/*/; do
    run=${run%/}
    [ -f "$run/checkpoints/last.pt" ] || continue
    # quoted: the run folders' names (seed=0) hold '=', which Hydra would otherwise parse
    "$GAN" eval "ckpt='$run'" "draws=$DRAWS" "n=$N" "data_root='$ROOT'" "out='$run/eval_draws$DRAWS'"
done
"$GAN" report "$OUT"
"$GAN" report "$OUT" --eval "eval_draws$DRAWS"
