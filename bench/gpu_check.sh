#!/usr/bin/env bash
# The one prepared GPU run of issue 16 (see bench/gpu_check.py): prints the device and versions, checks the
# compiled kernels against the float64 reference, measures step and training throughput, runs the quick
# preset of rbc_open to its end; JSON rows under bench/results/. No GPU: says so, exits 0.
#   bash bench/gpu_check.sh [--dry-run] [--out FILE] [--sections check step train run]
set -euo pipefail
cd "$(dirname "$0")/.."
export ECONDSL_CACHE="${ECONDSL_CACHE:-/tmp/econdsl-gpu-check}"
PY="${PYTHON:-python}"
"$PY" -c 'import torch, sys; print("python", sys.version.split()[0], "torch", torch.__version__, "cuda", torch.version.cuda)'
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv || true
exec timeout 900 "$PY" bench/gpu_check.py "$@"
