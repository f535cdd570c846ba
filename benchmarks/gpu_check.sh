#!/usr/bin/env bash
# The prepared GPU check of issue 16: one script, one results file (gpu_results/summary.md).
#
#   bash benchmarks/gpu_check.sh              # on a CUDA machine, ~8 minutes on an H100-class card
#   bash benchmarks/gpu_check.sh --cpu-smoke  # the same steps on the CPU with tiny sizes (checks the script)
#
# It installs nothing and reaches no network: the caller has activated the repository's venv, or
# has run `pip install -e '.[dev,search,bench]'` from local wheels (kornia for the op benchmark).
# Steps (each under its own time limit; a failing step is recorded and the next one still runs):
#   1. the card: nvidia-smi, torch's CUDA build and device names
#   2. every CUDA test (tests named *cuda*: they skip without a GPU; -rs lists any that still skip)
#   3. benchmarks/bench_ops.py --quick against kornia on the GPU: uint8 and float32 rows,
#      256x3x32x32 and 64x3x224x224
#   4. training throughput of the real loop (augkit train): fp32 vs AMP (bfloat16) + channels_last,
#      strategy none vs trivialaugment (the augmentation's share of a step), resnet20
#   5. a DDP smoke run: torchrun with 2 processes on 2 GPUs, or 1 process on one GPU (NCCL)
#   6. a short augkit compare --device cuda --jobs 4 on a tiny subset
# Every command and its output are tee'd into gpu_results/summary.md (RESULTS=dir to change), with a
# status table at the end; the exit code is 1 when any step failed.
set -euo pipefail

SMOKE=0
if [[ "${1:-}" == "--cpu-smoke" ]]; then SMOKE=1; elif [[ $# -gt 0 ]]; then
  echo "usage: bash benchmarks/gpu_check.sh [--cpu-smoke]" >&2; exit 2
fi
cd "$(dirname "${BASH_SOURCE[0]}")/.."
RESULTS=${RESULTS:-gpu_results}
mkdir -p "$RESULTS"
SUMMARY="$RESULTS/summary.md"
: > "$SUMMARY"
STATUS=()
PY=${PYTHON:-python}

log() { printf '%s\n' "$@" | tee -a "$SUMMARY"; }

# step NAME LIMIT_SECONDS CMD...: run CMD under `timeout`, its output in a code block of the summary
step() {
  local name=$1 limit=$2; shift 2
  log "" "## $name" "" '```' "\$ $*"
  local t0=$SECONDS rc
  set +e
  timeout --kill-after=10 "$limit" "$@" 2>&1 | tee -a "$SUMMARY"
  rc=${PIPESTATUS[0]}
  set -e
  log '```' "" "exit $rc after $((SECONDS - t0)) s"
  STATUS+=("| $name | $([[ $rc == 0 ]] && echo ok || echo "FAILED ($rc)") | $((SECONDS - t0)) s |")
}

if [[ $SMOKE == 1 ]]; then
  DEVICE=cpu; SUBSET=128; EPOCHS=2; BATCH=32; OPS_ARGS=(--quick --threads 1 --sizes 32 --only "augkit.*(Rotate|rand)")
  JOBS=2; SMOKE_NOTE="CPU SMOKE RUN (tiny sizes, device cpu): checks the script, not the card"
else
  DEVICE=cuda; SUBSET=8192; EPOCHS=3; BATCH=256; OPS_ARGS=(--quick --threads 1 --sizes 32 224)
  JOBS=4; SMOKE_NOTE="GPU run"
fi
DATASET=$($PY -c "from augkit.data import available; print('fashion-mnist' if available('fashion-mnist') else 'digits')")
NGPU=0
if command -v nvidia-smi > /dev/null; then NGPU=$(nvidia-smi -L 2> /dev/null | grep -c '^GPU' || true); fi

log "# augkit GPU check ($(date -u '+%Y-%m-%d %H:%M UTC'))" ""
log "- $SMOKE_NOTE; commit $(git rev-parse --short HEAD 2> /dev/null || echo unknown); dataset $DATASET; GPUs $NGPU"

# 1. the card
if [[ $SMOKE == 0 ]]; then
  step "nvidia-smi" 30 nvidia-smi
fi
step "torch and devices" 60 $PY -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda); \
print([torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())])"

# 2. the CUDA tests (on the CPU smoke run they are collected and skip)
step "CUDA tests" 300 $PY -m pytest -q -rs -p no:cacheprovider -k "cuda" tests

# 3. ops and policies against kornia (uint8 and float32 rows; 32 px and 224 px batches)
step "bench_ops vs kornia ($DEVICE)" 300 $PY benchmarks/bench_ops.py "${OPS_ARGS[@]}" --device "$DEVICE" \
  --markdown --out "$RESULTS/bench_ops.json"

# 4. training throughput: fp32 vs AMP + channels_last, none vs trivialaugment
TRAIN=(--dataset "$DATASET" --model resnet20 --subset "$SUBSET" --epochs "$EPOCHS" --batch-size "$BATCH"
  --eval-every "$EPOCHS" --test-subset 200 --adv-images 50 --ifgsm-steps 1 --tta-policy-views 0
  --device "$DEVICE" --quiet --overwrite)
for s in none trivialaugment; do
  step "train $s fp32 ($DEVICE)" 120 $PY -m augkit.cli train --strategy "$s" "${TRAIN[@]}" \
    --out "$RESULTS/train/$s-fp32"
  step "train $s amp+channels_last ($DEVICE)" 120 $PY -m augkit.cli train --strategy "$s" "${TRAIN[@]}" \
    --amp true --channels-last true --out "$RESULTS/train/$s-amp-cl"
done
step "training images/s (epochs after the first)" 30 $PY - "$RESULTS/train" << 'EOF'
import json, statistics, sys
from pathlib import Path
rows = {}
for d in sorted(Path(sys.argv[1]).iterdir()):
    if (d / "metrics.jsonl").is_file():
        rates = [json.loads(line)["images_per_second"] for line in (d / "metrics.jsonl").read_text().splitlines()]
        rows[d.name] = statistics.median(rates[1:] or rates)
print("| run | images/s |\n|---|---|")
for k, v in rows.items():
    print(f"| {k} | {v:.0f} |")
for mode in ("fp32", "amp-cl"):
    a, b = rows.get(f"none-{mode}"), rows.get(f"trivialaugment-{mode}")
    if a and b:
        print(f"- {mode}: trivialaugment step time = {a / b:.3f} x none's (augmentation share {100 * (1 - b / a):.1f} %)")
EOF

# 5. DDP smoke: one run on min(GPUs, 2) processes (NCCL), or 2 CPU processes (gloo) on the smoke run
NPROC=2
if [[ $SMOKE == 0 ]]; then NPROC=$((NGPU >= 2 ? 2 : 1)); fi
step "DDP smoke: torchrun --nproc_per_node $NPROC ($DEVICE)" 180 $PY -m torch.distributed.run \
  --nproc_per_node "$NPROC" --master_port 29561 -m augkit.cli train --strategy standard "${TRAIN[@]}" \
  --epochs 2 --eval-every 2 --out "$RESULTS/ddp"
step "DDP run files" 10 bash -c "ls -a '$RESULTS/ddp' && grep -E 'test_error|world_size|images_per_second' '$RESULTS/ddp/final.json'"

# 6. a short compare on the card, several runs at once
step "compare --jobs $JOBS ($DEVICE)" 240 $PY -m augkit.cli compare --device "$DEVICE" --jobs "$JOBS" \
  --strategies none,standard,trivialaugment --seeds 2 --dataset "$DATASET" --subset "$SUBSET" --val 0 \
  --epochs 2 --batch-size "$BATCH" --test-subset 500 --adv-images 100 --quiet --overwrite --out "$RESULTS/compare"

log "" "## status" "" "| step | status | time |" "|---|---|---|"
for row in "${STATUS[@]}"; do log "$row"; done
log "" "total $SECONDS s; summary: $SUMMARY"
if printf '%s\n' "${STATUS[@]}" | grep -q FAILED; then exit 1; fi
