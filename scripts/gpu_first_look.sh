#!/usr/bin/env bash
# The first minutes on a GPU, used well: at most 8 minutes on one H100/H200, every number written to $OUT.
#   1. step speeds: uvb-bench of paper-size UVB and DEEN on MNIST in tf32, then in bf16 (bench_tf32.json, bench_bf16.json);
#   2. the two precisions agree: the same 300 steps of UVB (MNIST, sigma = 1, seed 0) in tf32 and in bf16, their test
#      losses compared (agreement.txt: passes within 1%);
#   3. Table 2's sigma = 1 cell: UVB and DEEN at the paper's settings, side by side on the one GPU, for as many epochs
#      as the minutes left allow; SIGTERM at the deadline checkpoints them, and the same command continues them
#      (multirun/table2_mnist/, then `uvb-report multirun/table2_mnist`).
#   scripts/gpu_first_look.sh                  # on the GPU machine, from the repository root (UVB_DATA_ROOT: MNIST)
#   scripts/gpu_first_look.sh --dry-run        # the CPU path: every step for seconds on tiny models and generated data
# OUT (default gpu_first_look/) receives the files; MINUTES (default 8) is the whole budget.
set -euo pipefail
dry_run=0
[ "${1:-}" = "--dry-run" ] && dry_run=1
out=${OUT:-gpu_first_look}
mkdir -p "$out"
export WANDB_MODE=${WANDB_MODE:-offline}
budget_s=$(( ${MINUTES:-8} * 60 - 30 ))  # 30 s for the report at the end
start=$SECONDS
if [ "$dry_run" = 1 ]; then
  device=cpu; data=(data=synthetic data.n_train=64 data.n_test=32); steps=1; agree_steps=4; bench_data=synthetic
  tiny=(model.conv_channels=[4,8] model.hidden=16); tiny_uvb=(model.latent_dim=8 model.decoder_hidden=32)
  bench=(--width-scale 0.05 --rounds 1 --warmup 0 --peak-size 256); table=(+experiment=smoke); budget_s=120  # a small peak: bf16 is emulated on most CPUs
else
  device=cuda; data=(data=mnist); steps=50; agree_steps=300; bench_data=mnist
  tiny=(); tiny_uvb=(); bench=(--rounds 2); table=(+experiment=table2_mnist)
fi
quiet=(logger=none figures.after_training=false trainer.progress=false trainer.device=$device)

echo "1. step speeds (tf32, bf16)"
for precision in tf32 bf16; do
  uvb-bench --device "$device" --models uvb,deen --datasets "$bench_data" --precision "$precision" --steps "$steps" \
    --naive-steps 0 "${bench[@]}" --json "$out/bench_$precision.json" > "$out/bench_$precision.log" 2>&1
done

echo "2. tf32 and bf16 agree"
for precision in tf32 bf16; do
  uvb-train model=uvb sigma=1.0 "${data[@]}" "${tiny[@]}" "${tiny_uvb[@]}" "${quiet[@]}" trainer.epochs=1 \
    trainer.max_steps="$agree_steps" trainer.precision="$precision" hydra.run.dir="$out/agree_$precision" > "$out/agree_$precision.log" 2>&1
done
python - "$out" <<'EOF'
import json, sys
from pathlib import Path
out = Path(sys.argv[1])
losses = {p: json.loads((out / f"agree_{p}" / "summary.json").read_text())["test_loss"] for p in ("tf32", "bf16")}
gap = losses["bf16"] / losses["tf32"] - 1
verdict = "agree" if abs(gap) <= 0.01 else "DISAGREE"
(out / "agreement.txt").write_text(f"test loss after the same steps: tf32 {losses['tf32']:.4f}, bf16 {losses['bf16']:.4f} ({gap:+.2%}): {verdict} (within 1%)\n")
print((out / "agreement.txt").read_text(), end="")
EOF

left=$(( budget_s - (SECONDS - start) ))
echo "3. Table 2's sigma = 1 cell for ${left} s"
if [ "$left" -gt 20 ]; then
  pids=()
  for model in uvb deen; do
    extra=("${tiny[@]}"); [ "$model" = uvb ] && extra+=("${tiny_uvb[@]}")
    timeout --signal=TERM "$left" uvb-train -m "${table[@]}" model=$model sigma=1.0 "${extra[@]}" "${quiet[@]}" \
      > "$out/table2_sigma1_$model.log" 2>&1 &
    pids+=($!)
  done
  for pid in "${pids[@]}"; do wait "$pid" || true; done  # exit 3 (preempted at the deadline) is the plan, not a failure
  grep -h "epoch .*/" "$out"/table2_sigma1_*.log | tail -n 4 || true
fi
echo "done in $(( SECONDS - start )) s; files in $out"
