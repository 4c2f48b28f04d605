#!/usr/bin/env bash
# Regenerates docs/results/bayes_gap/ (with --publish): +experiment=bayes_gap (uvb, deen, vae, sigma_vae on data=gmm at
# sigma 0.3, 0.5, 0.7, 1.0, seeds 0-2), then its report (risk ratio table and plot) into multirun/bayes_gap/report/.
#   scripts/bayes_gap.sh                       # the experiment as configured (3 epochs), in ./multirun/bayes_gap
#   JOBS=2 scripts/bayes_gap.sh                # two sweep processes side by side (one per CPU core; tiny models
#                                              # gain nothing from a second thread), each taking half the sigmas
#   scripts/bayes_gap.sh trainer.epochs=10     # longer: the same runs continue (epochs are not part of a run's identity)
#   scripts/bayes_gap.sh --publish             # as configured, and its small files copied into docs/results/bayes_gap/
# A relaunch skips finished runs and continues interrupted ones. Extra arguments are passed to every uvb-train;
# --publish refuses those that change the experiment (trainer.epochs=10 included: scripts/publishable.py).
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
jobs=${JOBS:-1}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1} WANDB_MODE=${WANDB_MODE:-offline}
publish=false overrides=()
for arg in "$@"; do
  if [ "$arg" = --publish ]; then publish=true; else overrides+=("$arg"); fi
done
if [ "$publish" = true ]; then  # before anything runs
  python "$repo/scripts/publishable.py" bayes_gap -- "${overrides[@]}"
fi
common=(-m +experiment=bayes_gap trainer.progress=false logger=tensorboard figures.after_training=false "${overrides[@]}")
if [ "$jobs" = 2 ]; then
  uvb-train "${common[@]}" sigma=0.3,0.5 > bayes_gap_low_sigma.log 2>&1 &
  low=$!
  uvb-train "${common[@]}" sigma=0.7,1.0 > bayes_gap_high_sigma.log 2>&1
  wait "$low"
else
  uvb-train "${common[@]}"
fi
uvb-report multirun/bayes_gap --out multirun/bayes_gap/report
if [ "$publish" = false ]; then
  echo "wrote multirun/bayes_gap/report (--publish copies it into docs/results/bayes_gap/)"
  exit 0
fi
python "$repo/scripts/publishable.py" bayes_gap --folder multirun/bayes_gap --allow sigma=  # this script's own split
out="$repo/docs/results/bayes_gap"
mkdir -p "$out"
cp multirun/bayes_gap/report/{report.md,bayes_gap_gmm.csv,risk_ratio_vs_sigma.png,runs.csv,learning_curves.png,loss_vs_sigma.png} "$out/"
echo "wrote $out"
