#!/usr/bin/env bash
# bf16 against fp32 parity: mbt2018-mean at the shipped shape (N=64, M=96), one λ from scratch, two seeds,
# each run 30 minutes of training on one core, fp32 and bf16 of a seed side by side (so both share the
# machine alike). The schedule is by steps only (lr_by_time=false, cosine over 8000 steps) so that the two
# precisions follow the same learning rate at the same step; the budget cuts both mid-schedule.
# Seed 0 was started with a 1380 s budget, killed (kill -9) at 10 minutes when fp32 was seen to be
# too slow to reach 3,000 steps in it, and continued with `--resume` and this 1800 s budget (both runs
# alike; the budget is not part of the resume identity, and the resumed log drops the rows after the
# saved state).
# Summary: python tests/benchmarks/parity.py results/training/parity
set -euo pipefail
cd "$(dirname "$0")/../../.."
out=results/training/parity
seeds=${SEEDS:-"0 1"}
for seed in $seeds; do
  for p in fp32 bf16; do
    resume=""
    [ -f "$out/$p-s$seed.resume.pt" ] && resume="--resume"
    bench train-codec mbt2018-mean --data colin27-aal --device cpu -j 1 --seed "$seed" $resume \
      --set "lambdas=[0.0041]" --set steps=8000 --set time_budget_s=1800 --set lr_by_time=false \
      --set precision="$p" --set threads=1 --out "$out/$p-s$seed.safetensors" >> "$out/$p-s$seed.log" 2>&1 &
  done
  wait
done
rm -f "$out"/*.safetensors "$out"/*.resume.pt   # the logs and manifests are the result; the weights are not shipped
