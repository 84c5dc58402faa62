#!/usr/bin/env bash
# The training campaign's commands for MVMICNet stage 2 on colin27-lesions (codecs/weights/TRAINING.md,
# "mvmicnet-seg on colin27-lesions"). Stage 1 is the colin27-aal mbt2018-mean anchor, given explicitly
# (colin27-lesions is the same slices with lesions inserted; `--set stage1_checkpoint`, bench/train/mvmicnet.py).
# The variant and its same-budget control (task term off) train the same points for the same budget, so a
# session gives each one core: `campaign/mvmicnet-colin27-lesions.sh seg` on core 0 and `... control` on core 1.
# "Same budget" is the same steps: the control skips the task network's forward and backward pass, so it steps
# about 1.75x as fast (3.35 against 1.9 steps/s on one Zen 4 core). Cap it with STEPS= at what the variant reaches
# in its budget (session 11: STEPS=3000), and compare `stage2_total_steps` in the two manifests afterwards.
# Points 5-8 of the anchor (λ 0.0115-0.2, about 0.3-1.0 bpp): below ~0.5 bpp the lesion seg network finds no
# lesion after any codec (results/reference/learned-colin27-lesions), so that is where the task term has work.
# PRECISION: auto (bf16 where the CPU has it) unless measured slower there: on the Intel Xeon of session 10 the
# stage-2 step was 0.98 s in fp32 and 1.05 s in bf16 + channels_last (one thread; `--benchmark` in TRAINING.md).
set -euo pipefail
cd "$(dirname "$0")/../../.."
STAGE1=codecs/weights/mbt2018-mean-colin27-aal.safetensors
POINTS="${POINTS:-[5,6,7,8]}"
out=weights/campaign/next
run() {  # $1: variant folder, then extra --set options
  local folder="$out/$1"; shift
  local init=()
  if [ -n "${INIT:-}" ]; then init=(--init "$INIT"); fi
  bench train-codec mvmicnet --task seg --data colin27-lesions --stage 2 --device cpu -j 1 "${init[@]}" \
    --set stage1_checkpoint="$STAGE1" --set "points=$POINTS" --set steps="${STEPS:-10000}" --set threads=1 \
    --set precision="${PRECISION:-auto}" --set checkpoint_every_s=120 --set time_budget_s="${BUDGET:-7200}" "$@" \
    --out "$folder" ${RESUME:-}
}
case "${1:-}" in
  seg) run lesions-seg ;;  # INIT=codecs/weights/mvmicnet-seg-colin27-lesions.safetensors once one is committed
  control) run lesions-control --set task_weight=0 ;;  # INIT=codecs/weights/mvmicnet-seg-control-colin27-lesions.safetensors
  *) echo "usage: $0 seg|control" >&2; exit 2 ;;
esac
