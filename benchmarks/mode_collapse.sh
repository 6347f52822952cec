#!/usr/bin/env bash
# The mode-collapse benchmark: ring2d with the MLP, the plain nonsat baseline and remedies, over
# 5 seeds each, then one `gan report` table (modes covered, high-quality share: mean ± std).
# Two sweeps run at a time, one CPU thread each. Usage: bash benchmarks/mode_collapse.sh [OUT]
set -euo pipefail
OUT=${1:-outputs/bench/ring2d}
SEEDS=${SEEDS:-0,1,2,3,4}
STEPS=${STEPS:-20000}  # ring2d's default
LONG_STEPS=${LONG_STEPS:-60000}  # R1 + EMA again, for long enough to pass 90% high quality; 0 skips it
GAN=${GAN:-gan}

run() {  # run NAME OVERRIDES...: one setting over all seeds, into OUT/NAME
    local name=$1
    shift
    OMP_NUM_THREADS=1 "$GAN" train -m data=ring2d model=mlp "seed=$SEEDS" "steps=$STEPS" "$@" "hydra.sweep.dir=$OUT/$name" > "$OUT/$name.log" 2>&1
}

mkdir -p "$OUT"
run baseline & run r1_ema '+reg=[r1,ema]' & wait
run minibatch_std '+reg=[minibatch_std]' & run feature_matching '+reg=[feature_matching]' & wait
run wgan_gp loss=wgan_gp & run minibatch_discrimination '+reg=[minibatch_discrimination]' & wait  # the latter: ~10x a plain step
if [ "$LONG_STEPS" != 0 ]; then  # one setting, its seeds split over two sweeps; the report joins them in one row
    half=$(( ($(tr "," "\n" <<< "$SEEDS" | wc -l) + 1) / 2 ))
    first=$(tr ',' '\n' <<< "$SEEDS" | head -n "$half" | paste -sd,)
    rest=$(tr ',' '\n' <<< "$SEEDS" | tail -n +"$((half + 1))" | paste -sd,)
    SEEDS=$first STEPS=$LONG_STEPS run r1_ema_long_a '+reg=[r1,ema]' &
    if [ -n "$rest" ]; then SEEDS=$rest STEPS=$LONG_STEPS run r1_ema_long_b '+reg=[r1,ema]' & fi
    wait
fi
"$GAN" report "$OUT"
