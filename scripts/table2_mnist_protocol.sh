#!/usr/bin/env bash
# Table 2 at a CPU's width under the protocol with several tuning seeds (conf/experiment/table2_mnist_protocol.yaml):
# UVB, DEEN and the direct denoiser on MNIST, every rate of the grid on 2 tuning seeds scored by the worse, 5 fresh
# test seeds of each choice. One sigma at a time, each in its own sweep folder, so that each sigma's comparison is
# complete (tuned and tested) before the next one starts:
#   scripts/table2_mnist_protocol.sh                        # sigma 1, 0.6, 0.3 in turn, two jobs at a time
#   SIGMAS="1.0" scripts/table2_mnist_protocol.sh           # some of them
#   scripts/table2_mnist_protocol.sh --train-only           # the runs alone (the reports later, with --report-only)
#   scripts/table2_mnist_protocol.sh --report-only          # the reports of the runs in ./multirun, training nothing
#   scripts/table2_mnist_protocol.sh --report-only --publish  # ... and their small files into docs/results/
# Runs land in ./multirun/table2_mnist_protocol/sigma<sigma>/; a relaunch trains only what protocol.json lacks.
# The reports are drawn into each folder's report/; only --publish copies them into the repository.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1} WANDB_MODE=${WANDB_MODE:-offline}
report_only=false train_only=false publish=false
for arg in "$@"; do
  case $arg in
    --report-only) report_only=true ;;
    --train-only) train_only=true ;;
    --publish) publish=true ;;
    *) echo "usage: $0 [--train-only | --report-only] [--publish]" >&2; exit 2 ;;
  esac
done
experiment=table2_mnist_protocol
for sigma in ${SIGMAS:-1.0 0.6 0.3}; do
  folder=multirun/$experiment/sigma$sigma
  if [ "$report_only" = false ]; then
    uvb-train -m +experiment=$experiment hydra.sweeper.params.sigma="$sigma" hydra.sweep.dir="$folder" trainer.progress=false \
      logger=tensorboard figures.after_training=false hydra/launcher=joblib hydra.launcher.n_jobs="${JOBS:-2}"
  fi
  [ "$train_only" = false ] && [ -f "$folder/protocol.json" ] || continue
  uvb-report "$folder" --out "$folder/report"
  python "$repo/scripts/compute_matched.py" "$folder" --out "$folder/report"
  python "$repo/scripts/halving_vs_exhaustive.py" "$folder" > "$folder/report/halving_vs_exhaustive.md"
  python "$repo/scripts/learning_curves.py" "$folder" > "$folder/report/learning_curves.csv"
  if [ "$publish" = true ]; then
    python "$repo/scripts/publishable.py" "$experiment" --folder "$folder"  # the runs there are the experiment's
    out="$repo/docs/results/$experiment/sigma$sigma"
    mkdir -p "$out"
    cp "$folder/protocol.json" "$folder"/report/{protocol.md,protocol.csv,runs.csv,compute_matched.md,compute_matched.png,halving_vs_exhaustive.md,learning_curves.csv} "$out/"
    echo "wrote $out"
  fi
done
