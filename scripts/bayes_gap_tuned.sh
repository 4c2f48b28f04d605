#!/usr/bin/env bash
# Regenerates docs/results/bayes_gap_tuned/: +experiment=bayes_gap_tuned (UVB, DEEN and DEEN with a quadratic term on
# data=gmm at sigma 0.3 and 1.0, each tuned over the same learning rates on a validation split by successive halving,
# then 3 fresh seeds of each choice scored once on the paired test noise; with hydra.sweeper.exhaustive=true the
# whole grid is also trained to the full budget, last, to measure halving against it), then its report, then copies
# the small files into the docs.
#   scripts/bayes_gap_tuned.sh                  # two jobs at a time (joblib), one per CPU core, in ./multirun/bayes_gap_tuned
#   JOBS=1 scripts/bayes_gap_tuned.sh           # one at a time
# A relaunch launches only what protocol.json lacks. Extra arguments are passed to uvb-train.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1} WANDB_MODE=${WANDB_MODE:-offline}
uvb-train -m +experiment=bayes_gap_tuned hydra.sweeper.exhaustive=true trainer.progress=false logger=tensorboard \
  figures.after_training=false hydra/launcher=joblib hydra.launcher.n_jobs="${JOBS:-2}" "$@"
uvb-report multirun/bayes_gap_tuned --out multirun/bayes_gap_tuned/report
python "$repo/scripts/halving_vs_exhaustive.py" multirun/bayes_gap_tuned > multirun/bayes_gap_tuned/report/halving_vs_exhaustive.md
out="$repo/docs/results/bayes_gap_tuned"
mkdir -p "$out"
cp multirun/bayes_gap_tuned/protocol.json multirun/bayes_gap_tuned/report/{protocol.md,protocol.csv,runs.csv,halving_vs_exhaustive.md} "$out/"
echo "wrote $out"
