#!/usr/bin/env bash
# The training campaign's commands for bmshj2018-hyperprior on colin27-aal (codecs/weights/TRAINING.md, "The
# campaign loop"), third in the campaign's order after mbt2018-mean and cheng2020-anchor. The committed
# checkpoint has 5 points (λ 0.032-0.00055, fp32, about 2 h of one core); its first campaign run extends the
# ladder to the anchors' 9 points (0.2-0.00004), each new point starting from the committed point of the nearest λ.
set -euo pipefail
cd "$(dirname "$0")/../../.."
LADDER="${LADDER:-lambdas=[0.2,0.1,0.032,0.0115,0.0041,0.0015,0.00055,0.00015,0.00004]}"  # a session may train a subset of the ladder (then merge, TRAINING.md)
out=weights/campaign
case "${1:-}" in
  next)  # every campaign session: continue from what was committed (then commit if val improved)
    bench train-codec bmshj2018-hyperprior --data colin27-aal --device cpu -j "${J:-2}" --init "${INIT:-codecs/weights/bmshj2018-hyperprior-colin27-aal.safetensors}" \
      --set "$LADDER" --set threads=1 --set finetune_steps=1000000 --set checkpoint_every_s=120 --set time_budget_s="${BUDGET:-7200}" \
      --out "$out/next/bmshj2018-hyperprior-colin27-aal.safetensors" ${RESUME:-} ;;
  *) echo "usage: $0 next" >&2; exit 2 ;;
esac
