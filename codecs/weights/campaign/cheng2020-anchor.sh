#!/usr/bin/env bash
# The training campaign's commands for cheng2020-anchor on colin27-aal, as run (codecs/weights/TRAINING.md,
# "The campaign loop"). bf16 by precision=auto; every run continues from committed weights with --init; the
# λ ladder grows from 5 points (0.00055-0.032) to 9 (0.00004-0.2, for about 0.03 to >= 1 bpp), new points
# starting from the committed point of the nearest λ. N=48 stays (the committed shape).
set -euo pipefail
cd "$(dirname "$0")/../../.."
LADDER="${LADDER:-lambdas=[0.2,0.1,0.032,0.0115,0.0041,0.0015,0.00055,0.00015,0.00004]}"  # a session may train a subset of the ladder (then merge, TRAINING.md)
out=weights/campaign
case "${1:-}" in
  s3)  # session 3: one core (-j 1), the other trains mbt2018-mean
    bench train-codec cheng2020-anchor --data colin27-aal --device cpu -j 1 --init "${INIT:-codecs/weights/cheng2020-anchor-colin27-aal.safetensors}" \
      --set "$LADDER" --set N=48 --set threads=1 --set finetune_steps=1000000 --set checkpoint_every_s=120 --set time_budget_s="${BUDGET:-7200}" \
      --out "$out/s3/cheng2020-anchor-colin27-aal.safetensors" ${RESUME:-} ;;
  next)  # every later session: continue from what was committed (then commit if val improved)
    bench train-codec cheng2020-anchor --data colin27-aal --device cpu -j "${J:-2}" --init "${INIT:-codecs/weights/cheng2020-anchor-colin27-aal.safetensors}" \
      --set "$LADDER" --set N=48 --set threads=1 --set finetune_steps=1000000 --set checkpoint_every_s=120 --set time_budget_s="${BUDGET:-7200}" \
      --out "$out/next/cheng2020-anchor-colin27-aal.safetensors" ${RESUME:-} ;;
  *) echo "usage: $0 s3|next" >&2; exit 2 ;;
esac
