#!/usr/bin/env bash
# On a machine with a CUDA GPU: the GPU-marked tests, then the GPU benchmarks, in one run.
#   bash benchmarks/gpu_check.sh
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
status=0

"$PY" -c "import torch; assert torch.cuda.is_available(), 'no CUDA device'; \
print(torch.__version__, torch.cuda.get_device_name(0))" || exit 1

echo "== pytest -m gpu"
"$PY" -m pytest -m gpu -q -p no:cacheprovider tests/unit || status=1

echo "== reference MHA vs nn.MultiheadAttention on the GPU"
"$PY" benchmarks/bench_mha.py --device cuda || status=1

exit $status
