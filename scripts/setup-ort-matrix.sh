#!/usr/bin/env bash
# Installs the runtimes of the onnxruntime compatibility matrix
# (tests/it/ort_matrix.rs). Idempotent: a venv or package folder whose
# requirement is unchanged is left alone.
#   .venv-ort/<version>          one venv per line of python/requirements-ort-matrix.txt
#                                (onnxruntime --no-deps and its pinned numpy)
#   scripts/ort-matrix/node_modules   onnxruntime-node (npm ci, package-lock.json; its
#                                install script only fetches CUDA binaries from NuGet: skipped)
# onnx.reference runs from .venv (scripts/setup-python.sh).
# Set PIP_CACHE_DIR to measure a cold cache.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
python=${PYTHON:-python3}
list="$root/python/requirements-ort-matrix.txt"
start=$(date +%s)
grep -v '^\s*#' "$list" | grep -v '^\s*$' | while read -r ort numpy; do
  version=${ort#onnxruntime==}
  venv="$root/.venv-ort/$version"
  stamp="$venv/.requirement"
  if [ "$(cat "$stamp" 2>/dev/null)" = "$ort $numpy" ]; then
    continue
  fi
  rm -rf "$venv"
  # No pip inside: the host's pip installs into it (--python), which saves
  # ensurepip's ~3 s per venv.
  "$python" -m venv --without-pip "$venv"
  "$python" -m pip --python "$venv/bin/python" install --quiet --disable-pip-version-check \
    --no-deps --no-compile --only-binary=:all: "$ort" "$numpy"
  "$venv/bin/python" -c 'import onnxruntime' # fails here, not in the test, if a dependency is missing
  echo "$ort $numpy" > "$stamp"
done
node_dir="$root/scripts/ort-matrix"
nstamp="$node_dir/node_modules/.lock.sha"
want=$(sha256sum "$node_dir/package-lock.json" | cut -d' ' -f1)
if [ "$(cat "$nstamp" 2>/dev/null)" != "$want" ]; then
  (cd "$node_dir" && npm ci --silent --no-audit --no-fund --ignore-scripts >&2)
  echo "$want" > "$nstamp"
fi
echo "onnxruntime matrix ready in $(( $(date +%s) - start )) s: $root/.venv-ort, $node_dir/node_modules"
