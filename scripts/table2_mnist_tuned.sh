#!/usr/bin/env bash
# Table 2 at a CPU's width under the protocol, as committed in docs/results/table2_mnist_tuned/ (docs/results.md):
# 1. +experiment=table2_mnist_tuned: the rates {3e-4, 1e-3, 3e-3, 1e-2, 3e-2}, every rate trained to the full budget
#    and the test seeds on the whole grid's choice (exhaustive, choose_by=exhaustive in the config): halving from a
#    1-epoch rung picked rates that blew up later (halving_vs_exhaustive.md says where);
# 2. a labelled check outside the protocol: UVB at sigma 0.3 at the next rate down (1e-3), 3 fresh seeds, set against
#    the protocol's DEEN seeds at sigma 0.3 on the same noisy test images (scripts/paired_seeds.py);
# 3. Table 4's UVB column at this width: the KL of q(z|y) and Table 5's error per epoch of the sigma = 1 UVB seeds
#    (scripts/tables45_progress.py --seeds), into docs/results/table45_uvb_cpu/.
#   scripts/table2_mnist_tuned.sh                  # two jobs at a time; about 4 h on 2 CPU cores from nothing
#   scripts/table2_mnist_tuned.sh --report-only    # the reports of the runs in ./multirun, training nothing
#   scripts/table2_mnist_tuned.sh --publish        # ... and their small files into docs/results/ (3 folders)
# A relaunch trains only what is missing. The committed folder also holds the seeds of halving's own choices (from
# its first launch, before the exhaustive grid): a launch from nothing trains only the whole grid's. Without
# --publish every file goes to multirun/table2_mnist_tuned/report/.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1} WANDB_MODE=${WANDB_MODE:-offline}
flags=() publish=false
for arg in "$@"; do
  case $arg in
    --report-only) flags+=(--report-only) ;;
    --publish) flags+=(--publish); publish=true ;;
    *) echo "usage: $0 [--report-only] [--publish]" >&2; exit 2 ;;
  esac
done
out=multirun/table2_mnist_tuned/report
tables45=$out/table45_uvb_cpu
if [ "$publish" = true ]; then
  out="$repo/docs/results/table2_mnist_tuned" tables45="$repo/docs/results/table45_uvb_cpu"
fi

"$repo/scripts/tune_then_test.sh" table2_mnist_tuned "${flags[@]}"

check=multirun/table2_uvb_sigma0.3_lr1e-3
if [[ " ${flags[*]} " != *" --report-only "* ]]; then
  uvb-train -m +experiment=table2_mnist_cpu data.val_fraction=0.1 trainer.lr_half_life_epochs=null model=uvb sigma=0.3 \
    trainer.lr=1e-3 trainer.seed=1,2,3 trainer.epochs=4 hydra.sweep.dir="$check" trainer.progress=false logger=tensorboard \
    figures.after_training=false hydra/launcher=joblib hydra.launcher.n_jobs="${JOBS:-2}"
fi
# The protocol's test runs of a cell, as folders (the chosen rate is the record's, not this script's)
runs_of() {
  python -c "import json, sys; print(' '.join('multirun/table2_mnist_tuned/' + run for run in json.load(open(sys.argv[1]))['cells'][sys.argv[2]]['test_runs'].values()))" \
    multirun/table2_mnist_tuned/protocol.json "$1"
}
# shellcheck disable=SC2046  # one argument per run folder
python "$repo/scripts/paired_seeds.py" --a "$check"/*seed* --b $(runs_of "model=deen sigma=0.3") \
  --out "$out/uvb_sigma0.3_lr1e-3_against_deen.md"

first=$(runs_of "model=uvb sigma=1.0" | cut -d' ' -f1)
python "$repo/scripts/tables45_progress.py" multirun/table2_mnist_tuned --runs "$(basename "${first%seed*}")seed*" --seeds \
  --out "$tables45"
