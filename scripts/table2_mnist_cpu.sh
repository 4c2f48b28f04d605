#!/usr/bin/env bash
# Regenerates docs/results/table2_mnist_cpu/: +experiment=table2_mnist_cpu (UVB and DEEN at equal parameter counts on
# MNIST, sigma 0.3, 0.6, 1.0, 5 epochs), then its report beside the paper's Table 2, copied into the docs.
#   scripts/table2_mnist_cpu.sh                      # the six runs in one sweep process, one after another
#   JOBS=2 scripts/table2_mnist_cpu.sh               # two processes, one thread each (a UVB epoch costs about two
#                                                    # DEEN epochs, so one takes UVB at 1.0 and 0.6, the other the rest)
#   scripts/table2_mnist_cpu.sh trainer.epochs=50    # longer: the same runs continue (epochs are not identity)
# A relaunch skips finished runs and continues interrupted ones. Extra arguments are passed to every uvb-train.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
jobs=${JOBS:-1}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1} WANDB_MODE=${WANDB_MODE:-offline}
common=(-m +experiment=table2_mnist_cpu trainer.progress=false figures.after_training=false "$@")
if [ "$jobs" = 2 ]; then
  trap 'kill -TERM $(jobs -p) 2>/dev/null; wait' INT TERM
  uvb-train "${common[@]}" model=uvb sigma=1.0,0.6 > table2_mnist_cpu_uvb.log 2>&1 &
  uvb=$!
  { uvb-train "${common[@]}" model=deen sigma=1.0,0.6,0.3 && uvb-train "${common[@]}" model=uvb sigma=0.3; } \
    > table2_mnist_cpu_rest.log 2>&1
  wait "$uvb"
else
  uvb-train "${common[@]}"
fi
uvb-report multirun/table2_mnist_cpu --out multirun/table2_mnist_cpu/report
out="$repo/docs/results/table2_mnist_cpu"
mkdir -p "$out"
cp multirun/table2_mnist_cpu/report/{report.md,runs.csv,loss_vs_sigma.png,learning_curves.png} "$out/"
echo "wrote $out"
