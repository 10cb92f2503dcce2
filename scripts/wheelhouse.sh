#!/usr/bin/env bash
# Wheels for a GPU node that is offline and has its own Python, torch, numpy and matplotlib but no
# Jupyter stack: the course, nbgrader, and what the GPU check needs beyond the node's packages,
# built on a connected machine for the node's Python. benchmarks/gpu_check.sh installs them.
#   make wheelhouse PYTHON_VERSION=3.12 [WHEELHOUSE_EXTRA="numpy matplotlib"]
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
VERSION=${PYTHON_VERSION:?set PYTHON_VERSION, the node\'s Python (e.g. 3.12)}
DEST=${WHEELHOUSE:-wheelhouse}
LIMIT_MIB=${WHEELHOUSE_LIMIT_MIB:-64}

# What the node lacks: the kernel and notebook machinery, the test runner, and small helpers.
# nbgrader comes without its dependencies: the grader uses its preprocessors only, not its
# gradebook or lab extensions (importing it needs jupyter_server, though).
NEEDS="nbclient nbconvert nbformat jupyter_client jupyter_server ipykernel ipywidgets psutil tqdm
       requests rapidfuzz sqlalchemy alembic pytest hypothesis pyyaml python-dateutil ${WHEELHOUSE_EXTRA:-}"
PLATFORM="--only-binary=:all: --python-version $VERSION --implementation cp
          --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64
          --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64
          --platform manylinux1_x86_64 --platform linux_x86_64"

rm -rf "$DEST"
mkdir -p "$DEST"
pins=$(mktemp)
trap 'rm -f "$pins"' EXIT
# the packages named here at this .venv's versions (what `make test` tested); their own
# dependencies at whatever suits the node's Python
names=$(echo nbgrader $NEEDS | tr ' ' '\n' | sed 's/[-_.]/[-_.]/g; s/.*/^&==/' | paste -sd'|')
"$PY" -m pip freeze --exclude-editable | grep -iE "$names" > "$pins" || true

"$PY" -m pip wheel --quiet --no-deps --wheel-dir "$DEST" .
"$PY" -m pip download --quiet $PLATFORM --no-deps -c "$pins" --dest "$DEST" nbgrader
"$PY" -m pip download --quiet $PLATFORM -c "$pins" --dest "$DEST" $NEEDS

size=$(du -sm "$DEST" | cut -f1)
echo "$DEST/: $(ls "$DEST" | wc -l) wheels, ${size} MiB, for CPython $VERSION on x86_64 Linux"
if [ "$size" -gt "$LIMIT_MIB" ]; then
    echo "error: over ${LIMIT_MIB} MiB; leave out what the node already has" >&2
    exit 1
fi
