#!/usr/bin/env bash
# Builds the Python package (py/) into the venv and runs its pytest suite.
# The wheel is built in Cargo's dev profile (no optimisation of forest2onnx
# itself: the quickest build; the tests are small) in the workspace's
# target/ folder, so a re-run only recompiles what changed. (Cargo's test
# profile would share the compiled dependencies of `cargo test`, but maturin
# builds with `cargo rustc`, for which `--profile test` means a test
# harness, not a library.) Users get the release build from a plain
# `pip install ./py`.
set -euo pipefail
cd "$(dirname "$0")/.."
python="${FOREST2ONNX_PYTHON:-$PWD/.venv/bin/python}"
# pip runs the build backend (maturin) from PATH: the venv's pinned copy.
export PATH="$(dirname "$python"):$PATH"
# Older scikit-learn releases for the cross-version restore tests.
bash scripts/setup-sklearn-venvs.sh
start=$(date +%s)
wheels=$(mktemp -d)
trap 'rm -rf "$wheels"' EXIT
MATURIN_PEP517_ARGS="--profile dev" "$python" -m pip wheel --quiet --disable-pip-version-check \
  --no-build-isolation --no-deps -w "$wheels" ./py
# One abi3 wheel for the test venv and every scikit-learn venv.
for target in "$python" .venv-sklearn/*/bin/python; do
  "$target" -m pip install --quiet --disable-pip-version-check --no-deps --force-reinstall "$wheels"/*.whl
done
echo "python package built and installed in $(( $(date +%s) - start )) s"
"$python" -m pytest -q -p no:cacheprovider py/tests
