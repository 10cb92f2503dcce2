#!/usr/bin/env bash
# Every CPU benchmark in one go (about 15 minutes on 2 cores), printing each ratio beside its
# goal; the output is kept in benchmarks/results/cpu_check-<machine>.txt, which the README's
# results table quotes. Run it on an otherwise idle machine: the ratios are timings.
#   bash benchmarks/cpu_check.sh            (or: make bench)
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
machine=$("$PY" -c "import os, platform; print(f'{platform.machine()}-{os.cpu_count()}-cores')")
results=${OUT:-benchmarks/results}
mkdir -p "$results"
log="$results/cpu_check-$machine.txt"

checks() {
    local status=0
    echo "== $(date -u +%Y-%m-%dT%H:%MZ) $("$PY" -c "import os, platform, torch; print(f'{platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}')")"
    echo "== reference MHA vs nn.MultiheadAttention"
    "$PY" benchmarks/bench_mha.py || status=1
    echo "== flash attention in PyTorch vs naive and SDPA"
    "$PY" benchmarks/bench_flash.py || status=1
    echo "== heads looped against heads batched"
    "$PY" benchmarks/bench_heads.py || status=1
    echo "== grading: 2 jobs against 1, and against a bare nbclient run"
    "$PY" benchmarks/bench_grade.py || status=1
    echo "== the head-count explorer in JupyterLab in headless Chromium"
    "$PY" benchmarks/bench_head_explorer_browser.py || status=1
    echo "== every solution notebook top to bottom"
    "$PY" benchmarks/notebook_times.py || status=1
    return $status
}

# the kernels' transport warning and progress bars say nothing about speed: not kept
checks 2>&1 | grep --line-buffered -v -e "Kernel is running over TCP" -e "it/s]" | tee "$log"
status=${PIPESTATUS[0]}
echo "kept in $log"
exit "$status"
