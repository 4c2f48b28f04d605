#!/usr/bin/env bash
# Regenerates docs/results/tables45_cpu/ (with --publish): the paper-size vanilla VAE (Tables 4 and 5) and
# Laplace-decoder UVB (Remark 4) on MNIST at sigma = 1, trained for as long as you let it run, then their report and
# curves into multirun/table45_mnist/report/.
#   scripts/tables45_cpu.sh                  # both runs side by side (one process each, one thread each), until stopped
#   scripts/tables45_cpu.sh --report-only    # the report of what the runs have so far
#   scripts/tables45_cpu.sh --report-only --publish   # ... and its files into docs/results/tables45_cpu/
# Stop it with Ctrl-C or `kill` (SIGTERM): each run finishes its step, checkpoints and exits 3; the same command
# continues both runs where they stopped. The runs are the paper's (+experiment=table45_mnist, 400 epochs), so a
# GPU or a longer CPU allowance finishes them in the same folders. Extra arguments are passed to both uvb-train;
# --publish refuses those that change the experiment (scripts/publishable.py).
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1} WANDB_MODE=${WANDB_MODE:-offline}
report_only=false publish=false overrides=()
for arg in "$@"; do
  case $arg in
    --report-only) report_only=true ;;
    --publish) publish=true ;;
    *) overrides+=("$arg") ;;
  esac
done
if [ "$publish" = true ]; then  # before anything runs
  python "$repo/scripts/publishable.py" table45_mnist -- "${overrides[@]}"
fi
if [ "$report_only" = false ]; then
  trap 'kill -TERM $(jobs -p) 2>/dev/null; wait' INT TERM
  uvb-train -m +experiment=table45_mnist model=vae trainer.progress=false "${overrides[@]}" > tables45_vae.log 2>&1 &
  uvb-train -m +experiment=table45_mnist model=uvb_laplace trainer.progress=false "${overrides[@]}" > tables45_uvb_laplace.log 2>&1 &
  wait || true
fi
uvb-report multirun/table45_mnist --out multirun/table45_mnist/report
out=multirun/table45_mnist/report
if [ "$publish" = true ]; then
  python "$repo/scripts/publishable.py" table45_mnist --folder multirun/table45_mnist --allow model=  # its own two runs
  out="$repo/docs/results/tables45_cpu"
  mkdir -p "$out"
  cp multirun/table45_mnist/report/{report.md,runs.csv} multirun/table45_mnist/report/*.png "$out/"
fi
python "$repo/scripts/tables45_progress.py" multirun/table45_mnist --out "$out"
echo "wrote $out"
