# Conveniences for engineers; the README's two commands are scripts/demo.sh and scripts/test.sh.
.PHONY: setup demo test lint bench

setup:
	bash scripts/setup.sh --dev

demo:
	bash scripts/demo.sh

test:
	bash scripts/test.sh

lint: setup
	.venv/bin/ruff check . && .venv/bin/ruff format --check . && .venv/bin/mypy

bench: setup
	.venv/bin/python benchmarks/check_bench.py
