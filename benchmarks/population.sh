#!/usr/bin/env bash
# Many seeds at once (population=K) against the same seeds one run after another, side by side, wall clock for the
# whole command: what a user would type either way. Usage: bash benchmarks/population.sh [OUT] (make bench-population)
#   1. 10 seeds of the 1-D default: gan train population=10, against gan train -m 'seed=range(10)'
#   2. 100 seeds of the 1-D default: gan train population=100
#   3. ring2d with +reg=[r1,ema] steps=60000: 5 seeds as a population, against one ordinary run
# Then `gan report` of each, so the times stand beside what the runs reached. Set LONG=0 to skip the ring2d pair
# (about 15 minutes on 2 cores), RING_STEPS to shorten it; POP_THREADS sets the populations' threads (2).
set -euo pipefail
OUT=${1:-outputs/bench/population}
GAN=${GAN:-gan}
LONG=${LONG:-1}
RING_STEPS=${RING_STEPS:-60000}
mkdir -p "$OUT"
# A sweep's jobs keep the data files' threads=1; a population's matrices are K times larger, and use both cores.
POP="threads=${POP_THREADS:-2}"

timed() {  # timed NAME COMMAND...: run it, keep its output in OUT/NAME.log, print its wall-clock seconds
    local name=$1 start end
    shift
    start=$(date +%s.%N)
    "$@" > "$OUT/$name.log" 2>&1
    end=$(date +%s.%N)
    printf '%-28s %8.1f s\n' "$name" "$(echo "$end - $start" | bc)" | tee -a "$OUT/times.txt"
}

: > "$OUT/times.txt"
timed one_d_population_10 "$GAN" train population=10 "$POP" "hydra.run.dir=$OUT/one_d_population_10"
timed one_d_sweep_10 "$GAN" train -m 'seed=range(10)' "hydra.sweep.dir=$OUT/one_d_sweep_10"
timed one_d_population_100 "$GAN" train population=100 "$POP" "hydra.run.dir=$OUT/one_d_population_100"
if [ "$LONG" != 0 ]; then
    timed ring2d_r1_ema_population_5 "$GAN" train data=ring2d '+reg=[r1,ema]' "steps=$RING_STEPS" population=5 "$POP" "hydra.run.dir=$OUT/ring2d_population_5"
    timed ring2d_r1_ema_one_run "$GAN" train data=ring2d '+reg=[r1,ema]' "steps=$RING_STEPS" "hydra.run.dir=$OUT/ring2d_one_run"
fi
for run in "$OUT"/one_d_* "$OUT"/ring2d_*; do
    [ -d "$run" ] && "$GAN" report "$run" > "$run.report.txt" 2>&1 && echo "report: $run.report.txt"
done
cat "$OUT/times.txt"
