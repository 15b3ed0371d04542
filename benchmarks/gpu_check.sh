#!/usr/bin/env bash
# GPU check of the trainer (one command, under 10 minutes on one H100/H200):
# bf16 LoRA on a ~0.5B random-init Llama (hidden 1024, 24 layers, MLP 4096, vocab 32000, seq 1024, batch 8),
# the trainer beside a plain PyTorch + peft loop in the same process: tokens/s, ratio, peak memory, time to
# first step, checkpoint time/size and MFU against the GPU's dense bf16 peak (6N and 4N conventions); then
# useful tokens/s with sequence packing against padded batches and the plain loop.
# Nothing is downloaded: the model and its tokenizer are built locally from the standard library's text.
#   bash benchmarks/gpu_check.sh [extra trainer_throughput.py flags, e.g. --peak-tflops 989]
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-.venv/bin/python}"
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 YOLO_OFFLINE=1 TOKENIZERS_PARALLELISM=false
export PYTORCH_CUDA_ALLOC_CONF="${PYTORCH_CUDA_ALLOC_CONF:-expandable_segments:True}"
OUT="${OUT:-/tmp}"

"$PYTHON" - <<'PY'
import torch
assert torch.cuda.is_available(), "no GPU visible to torch"
print(f"torch {torch.__version__}, CUDA {torch.version.cuda}, {torch.cuda.get_device_name()},"
      f" {torch.cuda.get_device_properties(0).total_memory / 2**30:.0f} GiB, bf16 {torch.cuda.is_bf16_supported()}")
PY

timeout 450 "$PYTHON" -m benchmarks.trainer_throughput \
    --device cuda --precision bf16 \
    --hidden 1024 --intermediate 4096 --layers 24 --heads 16 --vocab 32000 \
    --seq 1024 --batch 8 --rank 16 --warmup 5 --steps 20 --rounds 1 \
    --json "$OUT/gpu_check.json" "$@"
echo "figures written to $OUT/gpu_check.json"

# Sequence packing on the same model: useful tokens/s on docs-corpus lengths, batch 8 examples, max length 1024,
# packing vs padded batches vs the plain loop (prepared without a GPU; its figures go to GPU_CHECK.md by hand).
timeout 120 "$PYTHON" -m benchmarks.trainer_packing \
    --device cuda --precision bf16 \
    --hidden 1024 --intermediate 4096 --layers 24 --heads 16 --vocab 32000 \
    --seq 1024 --batch 8 --rank 16 --warmup 3 --steps 10 --rounds 1 \
    | tee "$OUT/gpu_packing.txt" || echo "packing check failed (the figures above are unaffected)"

# Opt-in (COMPILE_CHECK=1; adds about 3-5 minutes, so the whole check may pass 10 minutes): torch.compile both ways
# (optimization.compile, off by default until this shows it pays) and the loop's stall per checkpoint (async saves;
# target < 1 s; the first pass's JSON also has it as checkpoint_stall_seconds), on the same model.
[ "${COMPILE_CHECK:-0}" = 1 ] && timeout 300 "$PYTHON" -m benchmarks.trainer_throughput \
    --device cuda --precision bf16 \
    --hidden 1024 --intermediate 4096 --layers 24 --heads 16 --vocab 32000 \
    --seq 1024 --batch 8 --rank 16 --warmup 5 --steps 10 --rounds 1 --compile-too \
    --json "$OUT/gpu_compile.json" | tee "$OUT/gpu_compile.txt" || echo "compile check skipped or failed (the figures above are unaffected)"
