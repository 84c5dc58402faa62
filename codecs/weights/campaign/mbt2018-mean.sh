#!/usr/bin/env bash
# The training campaign's commands for mbt2018-mean on colin27-aal, as run (codecs/weights/TRAINING.md, "The
# campaign loop"). Both cores train (-j 2: rate points side by side, one thread each, bf16 by precision=auto);
# every run continues from committed weights with --init; the λ ladder grows from 5 to 8 points (0.00004-0.1), then 9 (λ 0.2 added in session 3),
# new points starting from the committed point of the nearest λ.
set -euo pipefail
cd "$(dirname "$0")/../../.."
LADDER="${LADDER:-lambdas=[0.2,0.1,0.032,0.0115,0.0041,0.0015,0.00055,0.00015,0.00004]}"  # a session may train a subset of the ladder (then merge, TRAINING.md)
out=weights/campaign
case "${1:-}" in
  seg1)  # a 10-minute budgeted run from the committed checkpoint
    bench train-codec mbt2018-mean --data colin27-aal --device cpu -j 2 --init "${INIT:-codecs/weights/mbt2018-mean-colin27-aal.safetensors}" \
      --set "$LADDER" --set finetune_steps=1000000 --set time_budget_s=600 --out "$out/seg1/mbt2018-mean-colin27-aal.safetensors" ;;
  seg2)  # its --init continuation, with the session's remaining budget (cut once by kill -9 and continued with --resume)
    bench train-codec mbt2018-mean --data colin27-aal --device cpu -j 2 --init "$out/seg1/mbt2018-mean-colin27-aal.safetensors" \
      --set "$LADDER" --set finetune_steps=1000000 --set checkpoint_every_s=120 --set time_budget_s="${BUDGET:-2400}" --out "$out/seg2/mbt2018-mean-colin27-aal.safetensors" ${RESUME:-} ;;
  s3)  # session 3: the ladder grows to λ 0.2 (for >= 1 bpp); one core (-j 1), the other trains cheng2020-anchor
    bench train-codec mbt2018-mean --data colin27-aal --device cpu -j 1 --init "${INIT:-codecs/weights/mbt2018-mean-colin27-aal.safetensors}" \
      --set "lambdas=[0.2,0.1,0.032,0.0115,0.0041,0.0015,0.00055,0.00015,0.00004]" --set finetune_steps=1000000 --set checkpoint_every_s=120 --set threads=1 \
      --set time_budget_s="${BUDGET:-7200}" --out "$out/s3/mbt2018-mean-colin27-aal.safetensors" ${RESUME:-} ;;
  next)  # every later session: continue from what was committed, with that session's budget (then commit if val improved)
    bench train-codec mbt2018-mean --data colin27-aal --device cpu -j "${J:-2}" --init "${INIT:-codecs/weights/mbt2018-mean-colin27-aal.safetensors}" \
      --set "$LADDER" --set threads=1 --set finetune_steps=1000000 --set checkpoint_every_s=120 --set time_budget_s="${BUDGET:-7200}" --out "$out/next/mbt2018-mean-colin27-aal.safetensors" ${RESUME:-} ;;
  *) echo "usage: $0 seg1|seg2|s3|next" >&2; exit 2 ;;
esac
