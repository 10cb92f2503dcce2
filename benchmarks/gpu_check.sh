#!/usr/bin/env bash
# On a machine with a CUDA GPU: the GPU-marked tests (the grader's end-to-end CUDA grading among
# them), then the GPU benchmarks (the Triton kernel's TFLOP/s against SDPA's flash backend, heads
# batched against looped, the reference MHA, flash attention's memory), in a few minutes. The
# output is kept in benchmarks/results/gpu_check-<device>.txt (in $OUT/ when that is set).
#   bash benchmarks/gpu_check.sh
#
# With a .venv (made by `make install`) it uses that. Without one — a cluster GPU node, offline,
# with its own Python, torch and Triton but no Jupyter stack — it uses the node's python3 and
# torch and installs the rest from wheelhouse/, built ahead on a connected machine with
#   make wheelhouse PYTHON_VERSION=3.12
# into a folder of its own (nothing of the node's Python is changed).
set -uo pipefail
cd "$(dirname "$0")/.."
if [ -x .venv/bin/python ]; then
    PY=.venv/bin/python
else
    PY=${PYTHON:-python3}
    site=${ATTN_COURSE_SITE:-/tmp/attn-course-site}
    # this checkout's attn_course first (the one under test), then the installed wheels
    export PYTHONPATH="$PWD:$site${PYTHONPATH:+:$PYTHONPATH}"
    if ! "$PY" -c "import attn_course, nbclient, ipykernel, nbgrader" 2>/dev/null; then
        if ! ls wheelhouse/*.whl >/dev/null 2>&1; then
            echo "No .venv and no wheelhouse/: run \`make wheelhouse PYTHON_VERSION=$("$PY" -c \
'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')\` on a connected machine" \
                 "and bring the folder along." >&2
            exit 1
        fi
        echo "== installing wheelhouse/ into $site for $("$PY" --version)"
        "$PY" -m pip install --quiet --no-index --no-deps --no-compile --no-cache-dir --upgrade \
            --target "$site" wheelhouse/*.whl || exit 1
        "$PY" - <<'EOF' || exit 1
import importlib, sys
missing = []
for name in ("numpy", "matplotlib", "nbclient", "ipykernel", "nbgrader", "attn_course"):
    try:
        importlib.import_module(name)
    except ImportError as exc:
        missing.append(f"{name} ({exc})")
if missing:
    sys.exit("Still missing after the install: " + "; ".join(missing) + ". Rebuild the "
             "wheelhouse with them, e.g. make wheelhouse WHEELHOUSE_EXTRA=\"numpy matplotlib\".")
EOF
    fi
fi

device=$("$PY" -c "import sys, torch; torch.cuda.is_available() or sys.exit('gpu_check: no \
CUDA device here (torch.cuda.is_available() is False)'); print(torch.cuda.get_device_name(0))") \
    || exit 1
# the output is kept, named after the device: in $OUT when the caller gives one, else here
results=${OUT:-benchmarks/results}
mkdir -p "$results"
log="$results/gpu_check-$(echo "$device" | tr -c 'A-Za-z0-9\n' '-' | tr -s '-').txt"

checks() {
    local status=0
    echo "== $(date -u +%Y-%m-%dT%H:%MZ) $device, torch $("$PY" -c 'import torch; print(torch.__version__)')"

    echo "== pytest -m gpu (the Triton check compiled, CUDA against the CPU, notebooks 06 and 08 graded on the GPU)"
    "$PY" -m pytest -m gpu -q -p no:cacheprovider tests/unit tests/grading || status=1

    echo "== the course's Triton kernel against SDPA's flash backend, TFLOP/s"
    "$PY" benchmarks/bench_triton.py --min-run-time 0.3 || status=1

    echo "== heads looped against heads batched"
    "$PY" benchmarks/bench_heads.py --device cuda --min-run-time 0.3 || status=1

    echo "== reference MHA vs nn.MultiheadAttention on the GPU"
    "$PY" benchmarks/bench_mha.py --device cuda --min-run-time 1 || status=1

    echo "== flash attention in PyTorch vs naive and SDPA on the GPU"
    "$PY" benchmarks/bench_flash.py --device cuda --min-run-time 1 || status=1
    return $status
}

checks 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
echo "kept in $log"
exit "$status"
