#!/usr/bin/env bash
# The one prepared script for a lent GPU (issue 26): the llama2-7b recipe's LoRA step on a Llama-2-7B-shaped
# model, the adapter as hf: on CUDA (batched vs one at a time), and the FSDP config's save/load on one GPU.
# Run from the repository root; results land in ${OUT:-out}/gpu.json and the log beside it.
set -uo pipefail
out=${OUT:-out}; mkdir -p "$out"
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 HF_HUB_DISABLE_TELEMETRY=1
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$out/gpu.txt"
python -c "import torch, transformers, peft, accelerate; print(torch.__version__, transformers.__version__, peft.__version__, accelerate.__version__)" | tee -a "$out/gpu.txt"
python bench/bench_gpu.py --shape 7b --steps ${STEPS:-3} --seq-len 512 --gen-n 64 --single-n 16 --gen-batch 64 \
  --max-new-tokens 64 --workdir /tmp --out "$out/gpu.json" 2>&1 | tee "$out/gpu.log"
