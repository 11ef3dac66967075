#!/usr/bin/env bash
# The test command: sets up the Python venv for the cross-checks (idempotent),
# starts the object-store servers of the registry tests (scripts/servers.sh:
# S3, GCS and Azure emulators on 127.0.0.1, installed on first use, stopped on
# exit) while the tests compile, then runs every test, the Python-backed
# suites (onnxruntime conformance, scikit-learn import) and the registry's
# server suites included, then builds the Python package (py/) into the venv
# and runs its pytest suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup-python.sh
export FOREST2ONNX_PYTHON="${FOREST2ONNX_PYTHON:-$PWD/.venv/bin/python}"

servers_out=$(mktemp)
bash scripts/servers.sh start > "$servers_out" &
servers_pid=$!
trap 'wait "$servers_pid" 2>/dev/null || true; bash scripts/servers.sh stop; rm -f "$servers_out"' EXIT
cargo test --no-run "$@"
if ! wait "$servers_pid"; then
  echo "error: the registry test servers did not start (see above)" >&2
  exit 1
fi
eval "$(cat "$servers_out")"
# Under this command, tests that need a server fail when it is missing.
export FOREST2ONNX_REQUIRE_SERVERS=1
cargo test "$@"
bash scripts/test-python-package.sh
