#!/usr/bin/env bash
# TensorBoard seen as a person sees it: a tiny sweep, TensorBoard serving it on localhost, headless Chromium
# taking screenshots of its HPARAMS and SCALARS views (docs/dashboards.md). Not part of the pytest suite.
#
#   scripts/tensorboard_screenshot.sh [DEMO_DIR]     default DEMO_DIR: /tmp/tb-demo
#
# 1. trains `uvb-train -m +experiment=smoke trainer.seed=0,1 trainer.epochs=8` into DEMO_DIR/smoke/ (8 runs,
#    about a minute on 2 CPU cores); an earlier sweep there is skipped as finished, as uvb-train always does;
# 2. serves DEMO_DIR/smoke with TensorBoard on 127.0.0.1:$PORT (default 6006; only this machine can reach it);
# 3. asks TensorBoard's hparams API for the runs and fails unless every run shows with its hyperparameters
#    (run.model, sigma, trainer.seed) and its test loss;
# 4. saves DEMO_DIR/screens/hparams.png and scalars.png; with KEEP=docs/tensorboard.png it also keeps the
#    HPARAMS one there, reduced to 64 colours.
# Needs Debian's chromium: as root it is installed when missing (apt-get). Run from the repository root with the
# project's environment active (pip install -c constraints.txt -e .).
set -euo pipefail

DEMO=${1:-/tmp/tb-demo}
PORT=${PORT:-6006}
SWEEP=$DEMO/smoke
SCREENS=$DEMO/screens
URL=http://127.0.0.1:$PORT
RUNS=8

if ! command -v chromium > /dev/null; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -q && apt-get install -y -q chromium
  else
    echo "needs chromium: apt-get update && apt-get install -y chromium" >&2
    exit 2
  fi
fi
mkdir -p "$SCREENS"

echo "== training $RUNS tiny runs into $SWEEP"
WANDB_MODE=offline WANDB_SILENT=true OMP_NUM_THREADS=1 \
  python -m uvb_lab.launch -m +experiment=smoke trainer.seed=0,1 trainer.epochs=8 figures.after_training=false \
  "hydra.sweep.dir=$SWEEP" > "$DEMO/sweep.log" 2>&1 || { tail -20 "$DEMO/sweep.log"; exit 1; }
tail -1 "$DEMO/sweep.log"

echo "== tensorboard --logdir $SWEEP --host 127.0.0.1 --port $PORT"
tensorboard --logdir "$SWEEP" --host 127.0.0.1 --port "$PORT" > "$DEMO/tensorboard.log" 2>&1 &
TB_PID=$!
trap 'kill "$TB_PID" 2> /dev/null || true' EXIT
for _ in $(seq 60); do
  curl -sf "$URL/data/runs" > /dev/null && break
  kill -0 "$TB_PID" 2> /dev/null || { cat "$DEMO/tensorboard.log"; exit 1; }
  sleep 1
done

echo "== the hparams API: every run with its hyperparameters and metrics"
sleep 6  # TensorBoard's first load of the event files
curl -sf -X POST -H 'Content-Type: application/json' -d '{"experimentName": ""}' "$URL/data/plugin/hparams/experiment" > "$DEMO/experiment.json"
curl -sf -X POST -H 'Content-Type: application/json' \
  -d '{"experimentName": "", "allowedStatuses": ["STATUS_UNKNOWN", "STATUS_SUCCESS", "STATUS_FAILURE", "STATUS_RUNNING"],
       "colParams": [{"hparam": "run.model"}, {"hparam": "sigma"}, {"hparam": "trainer.seed"}, {"metric": {"tag": "test_loss", "group": ""}}],
       "startIndex": 0, "sliceSize": 100}' "$URL/data/plugin/hparams/session_groups" > "$DEMO/session_groups.json"
python - "$DEMO" "$RUNS" <<'EOF'
import json, sys
demo, runs = sys.argv[1], int(sys.argv[2])
experiment = json.load(open(f"{demo}/experiment.json"))
differ = sorted(h["name"] for h in experiment["hparamInfos"] if h.get("differs"))
metrics = sorted(m["name"]["tag"] for m in experiment["metricInfos"])
groups = json.load(open(f"{demo}/session_groups.json"))["sessionGroups"]
print(f"hyperparameters that differ: {', '.join(differ)}")
print(f"metrics: {', '.join(metrics)}")
for group in groups:
    hp, values = group["hparams"], {m["name"]["tag"]: m["value"] for m in group["metricValues"]}
    print(f"  {group['name']:45} model={hp['run.model']:5} sigma={hp['sigma']} seed={hp['trainer.seed']} "
          f"test_loss={values['test_loss']:.3f} status={group['sessions'][0].get('status')}")
assert {"run.model", "sigma", "trainer.seed"} <= set(differ), differ
assert len(groups) == runs, f"{len(groups)} runs in the HPARAMS table, {runs} expected"
EOF

echo "== screenshots (headless chromium, localhost only)"
shoot() {  # shoot NAME URL_FRAGMENT WIDTH HEIGHT: the page at device scale 0.8 (more columns in one picture)
  timeout 120 chromium --headless --no-sandbox --disable-gpu --hide-scrollbars --force-device-scale-factor=0.8 \
    --window-size="$3,$4" --virtual-time-budget=15000 --screenshot="$SCREENS/$1.png" "$URL/#$2" > "$DEMO/chromium-$1.log" 2>&1
  echo "$SCREENS/$1.png"
}
shoot hparams hparams 2300 480
shoot scalars "scalars&tagFilter=loss&_smoothingWeight=0" 1800 900

if [ -n "${KEEP:-}" ]; then
  python - "$SCREENS/hparams.png" "$KEEP" <<'EOF'
import sys
from PIL import Image
Image.open(sys.argv[1]).convert("RGB").quantize(colors=64).save(sys.argv[2], optimize=True)
print(sys.argv[2])
EOF
fi
