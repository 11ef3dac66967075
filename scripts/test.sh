#!/usr/bin/env bash
# The test command: sets up the Python venv for the cross-checks (idempotent),
# then runs every test, the Python-backed suites (onnxruntime conformance,
# scikit-learn import) included, then builds the Python package (py/) into
# the venv and runs its pytest suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup-python.sh
export FOREST2ONNX_PYTHON="${FOREST2ONNX_PYTHON:-$PWD/.venv/bin/python}"
cargo test --features python "$@"
bash scripts/test-python-package.sh
