# The two commands:  make lab  (open the course)   make test  (run everything CI runs)
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

NBVAL := --nbval --nbval-current-env --nbval-cell-timeout=300 \
         --nbval-sanitize-with tests/notebooks/sanitize.cfg

.PHONY: lab instructor-lab test install lint release solutions screenshots figures bench clean cpu-torch \
        wheelhouse

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade pip

# Reinstalled whenever pyproject.toml changes.
$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

# A laptop without an NVIDIA GPU: PyTorch's CPU-only build (about 0.2 GB instead of 3 GB of
# downloads). Run it once before `make lab` or `make test`, which keep it.
cpu-torch: | $(BIN)/python
	$(BIN)/python -m pip install torch --index-url https://download.pytorch.org/whl/cpu

# Your copies of the notebooks go to work/ (git-ignored; release never writes there), then
# JupyterLab opens on them. Options for jupyter lab: make lab ARGS="--port 9999 --no-browser"
ARGS ?=
lab: install
	$(BIN)/attn-course lab $(ARGS)

# Instructors: the whole course folder, with nbgrader's own interface (Formgrader, Create
# Assignment, Validate), which the students' lab hides.
instructor-lab: install
	$(BIN)/jupyter lab $(ARGS)

lint: install
	$(BIN)/ruff check .

test: install lint
	$(BIN)/attn-course release --check
	$(BIN)/python -m pytest tests solutions notebooks $(NBVAL) --durations=25

# Maintainers: after editing solutions/, refresh their outputs and the student notebooks.
solutions: install
	$(BIN)/attn-course execute solutions/[0-9][0-9]_*.ipynb
	$(BIN)/attn-course release

# The README's figures, drawn from the course's own results into docs/figures/.
figures: install
	$(BIN)/python scripts/figures.py --out docs/figures

# The README's pictures: the browser tests, saving what a student sees into docs/screenshots/.
screenshots: install
	ATTN_COURSE_SCREENSHOTS=docs/screenshots $(BIN)/python -m pytest tests/ui -q

release: install
	$(BIN)/attn-course release

# Every CPU benchmark, its output kept in benchmarks/results/ (the README's results table).
bench: install
	bash benchmarks/cpu_check.sh

# Wheels for an offline GPU node with its own Python and torch (benchmarks/gpu_check.sh installs
# them there): make wheelhouse PYTHON_VERSION=3.12
PYTHON_VERSION ?= 3.12
WHEELHOUSE_EXTRA ?=
wheelhouse: install
	PYTHON_VERSION=$(PYTHON_VERSION) WHEELHOUSE_EXTRA="$(WHEELHOUSE_EXTRA)" bash scripts/wheelhouse.sh

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .ruff_cache wheelhouse
