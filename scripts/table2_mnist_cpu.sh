#!/usr/bin/env bash
# Regenerates docs/results/table2_mnist_cpu/ (with --publish): +experiment=table2_mnist_cpu (UVB and DEEN at equal
# parameter counts on MNIST, sigma 0.3, 0.6, 1.0, 5 epochs), then its report beside the paper's Table 2, into
# multirun/table2_mnist_cpu/report/.
#   scripts/table2_mnist_cpu.sh                      # the six runs in one sweep process, one after another
#   JOBS=2 scripts/table2_mnist_cpu.sh               # two processes, one thread each (a UVB epoch costs about two
#                                                    # DEEN epochs, so one takes UVB at 1.0 and 0.6, the other the rest)
#   scripts/table2_mnist_cpu.sh trainer.epochs=50    # longer: the same runs continue (epochs are not identity)
#   scripts/table2_mnist_cpu.sh --publish            # as configured, and its small files into docs/results/table2_mnist_cpu/
# A relaunch skips finished runs and continues interrupted ones. Extra arguments are passed to every uvb-train;
# --publish refuses those that change the experiment (scripts/publishable.py).
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
jobs=${JOBS:-1}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1} WANDB_MODE=${WANDB_MODE:-offline}
publish=false overrides=()
for arg in "$@"; do
  if [ "$arg" = --publish ]; then publish=true; else overrides+=("$arg"); fi
done
if [ "$publish" = true ]; then  # before anything runs
  python "$repo/scripts/publishable.py" table2_mnist_cpu -- "${overrides[@]}"
fi
common=(-m +experiment=table2_mnist_cpu trainer.progress=false figures.after_training=false "${overrides[@]}")
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
if [ "$publish" = false ]; then
  echo "wrote multirun/table2_mnist_cpu/report (--publish copies it into docs/results/table2_mnist_cpu/)"
  exit 0
fi
# this script's own split of the runs over two processes
python "$repo/scripts/publishable.py" table2_mnist_cpu --folder multirun/table2_mnist_cpu --allow model= --allow sigma=
out="$repo/docs/results/table2_mnist_cpu"
mkdir -p "$out"
cp multirun/table2_mnist_cpu/report/{report.md,runs.csv,loss_vs_sigma.png,learning_curves.png} "$out/"
echo "wrote $out"
