#!/usr/bin/env bash
# Runs one tune-then-test experiment (docs/protocol.md: each cell tuned on the validation split by successive halving,
# then fresh seeds of its choice scored once on the paired test noise), then its report and its compute-matched view
# (scripts/compute_matched.py) into multirun/<experiment>/report/; with --publish, copies the small files into
# docs/results/<experiment>/ as well.
#   scripts/tune_then_test.sh table2_mnist_tuned                 # two jobs at a time (joblib), one per CPU core
#   JOBS=1 scripts/tune_then_test.sh bayes_gap_tuned_10x10       # one at a time, in this process
#   scripts/tune_then_test.sh table2_mnist_tuned --report-only   # the report of the runs there, training nothing
#   scripts/tune_then_test.sh table2_mnist_tuned --publish       # ... and into docs/results/table2_mnist_tuned/
# Runs land in ./multirun/<experiment>/. A relaunch launches only what protocol.json lacks. Extra arguments are
# passed to uvb-train (e.g. hydra.sweeper.exhaustive=true to also train the whole grid to the full budget). --publish
# refuses (exit 2, before anything runs) a launch whose extra arguments change the experiment (data.n_train=600
# trainer.epochs=2 is a toy, not the published result): scripts/publishable.py says which arguments may be given.
set -euo pipefail
[ $# -ge 1 ] || { echo "usage: $0 EXPERIMENT [--report-only] [--publish] [uvb-train overrides]" >&2; exit 2; }
experiment=$1; shift
report_only=false publish=false overrides=()
for arg in "$@"; do
  case $arg in
    --report-only) report_only=true ;;
    --publish) publish=true ;;
    *) overrides+=("$arg") ;;
  esac
done
repo=$(cd "$(dirname "$0")/.." && pwd)
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1} WANDB_MODE=${WANDB_MODE:-offline}
folder=multirun/$experiment
if [ "$publish" = true ]; then  # before anything runs
  python "$repo/scripts/publishable.py" "$experiment" -- "${overrides[@]}"
fi
jobs=${JOBS:-2}
launcher=(hydra/launcher=joblib hydra.launcher.n_jobs="$jobs")
[ "$jobs" = 1 ] && launcher=()
if [ "$report_only" = false ]; then
  uvb-train -m +experiment="$experiment" trainer.progress=false logger=tensorboard figures.after_training=false \
    "${launcher[@]}" "${overrides[@]}"
fi
uvb-report "$folder" --out "$folder/report"
python "$repo/scripts/compute_matched.py" "$folder" --out "$folder/report"
if grep -q '"exhaustive": true' "$folder/protocol.json"; then
  python "$repo/scripts/halving_vs_exhaustive.py" "$folder" > "$folder/report/halving_vs_exhaustive.md"
fi
if [ "$publish" = false ]; then
  echo "wrote $folder/report (--publish copies it into docs/results/$experiment/)"
  exit 0
fi
python "$repo/scripts/publishable.py" "$experiment" --folder "$folder"  # the runs there are the experiment's
out="$repo/docs/results/$experiment"  # made once the reports are: a record refused (exit 2) leaves nothing in docs/
mkdir -p "$out"
cp "$folder/protocol.json" "$folder"/report/{protocol.md,protocol.csv,runs.csv,compute_matched.md,compute_matched.png} "$out/"
if [ -f "$folder/report/halving_vs_exhaustive.md" ]; then
  cp "$folder/report/halving_vs_exhaustive.md" "$out/"
fi
echo "wrote $out"
