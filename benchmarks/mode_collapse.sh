#!/usr/bin/env bash
# The mode-collapse benchmark: ring2d with the MLP, the plain nonsat baseline and remedies, over
# 5 seeds each, then one `gan report` table (modes covered, high-quality share: mean ± std).
# Two sweeps run at a time, one CPU thread each. Usage: bash benchmarks/mode_collapse.sh [OUT]
set -euo pipefail
OUT=${1:-outputs/bench/ring2d}
SEEDS=${SEEDS:-0,1,2,3,4}
STEPS=${STEPS:-20000}  # ring2d's default
GAN=${GAN:-gan}

run() {  # run NAME OVERRIDES...: one setting over all seeds, into OUT/NAME
    local name=$1
    shift
    OMP_NUM_THREADS=1 "$GAN" train -m data=ring2d model=mlp "seed=$SEEDS" "steps=$STEPS" "$@" "hydra.sweep.dir=$OUT/$name" > "$OUT/$name.log" 2>&1
}

mkdir -p "$OUT"
run baseline & run r1_ema '+reg=[r1,ema]' & wait
run minibatch_std '+reg=[minibatch_std]' & run feature_matching '+reg=[feature_matching]' & wait
run wgan_gp loss=wgan_gp & wait
"$GAN" report "$OUT"
