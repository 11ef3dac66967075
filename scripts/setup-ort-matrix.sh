#!/usr/bin/env bash
# Installs the runtimes of the onnxruntime compatibility matrix
# (tests/it/ort_matrix.rs). Idempotent: a venv or package folder whose
# requirement is unchanged is left alone.
#   .venv-ort/<version>          one venv per line of python/requirements-ort-matrix.txt
#                                (onnxruntime --no-deps and its pinned numpy)
#   scripts/ort-matrix/node_modules   onnxruntime-node and onnxruntime-web (npm ci, package-lock.json; node's
#                                install script only fetches CUDA binaries from NuGet: skipped)
# onnx.reference runs from .venv (scripts/setup-python.sh).
# A fresh machine takes 2-3 minutes (downloads), an installed one 0.2 s.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
# The interpreter itself, not a pyenv shim: shims run `pyenv rehash`, which
# fails when several installs below run at once.
python=$("${PYTHON:-python3}" -c 'import sys; print(sys.executable)')
list="$root/python/requirements-ort-matrix.txt"
start=$(date +%s)
install_one() { # ort numpy
  local ort=$1 numpy=$2 version=${1#onnxruntime==}
  local venv="$root/.venv-ort/$version"
  local stamp="$venv/.requirement"
  if [ "$(cat "$stamp" 2>/dev/null)" = "$ort $numpy" ]; then
    return 0
  fi
  rm -rf "$venv"
  # No pip inside: the host's pip installs into it (--python), which saves
  # ensurepip's ~3 s per venv; --no-compile leaves byte-compiling to import.
  "$python" -m venv --without-pip "$venv"
  "$python" -m pip --python "$venv/bin/python" install --quiet --disable-pip-version-check \
    --no-deps --no-compile --only-binary=:all: "$ort" "$numpy"
  "$venv/bin/python" -c 'import onnxruntime' # fails here, not in the test, if a dependency is missing
  echo "$ort $numpy" > "$stamp"
}
install_node() {
  local node_dir="$root/scripts/ort-matrix"
  local nstamp="$node_dir/node_modules/.lock.sha" want
  want=$(sha256sum "$node_dir/package-lock.json" | cut -d' ' -f1)
  if [ "$(cat "$nstamp" 2>/dev/null)" != "$want" ]; then
    (cd "$node_dir" && npm ci --silent --no-audit --no-fund --ignore-scripts >&2)
    echo "$want" > "$nstamp"
  fi
}
# Downloads dominate: onnxruntime-node and four releases at a time.
install_node &
pids=($!)
while read -r ort numpy; do
  install_one "$ort" "$numpy" &
  pids+=($!)
  if [ ${#pids[@]} -ge 5 ]; then
    wait "${pids[0]}"
    pids=("${pids[@]:1}")
  fi
done < <(grep -v '^\s*#' "$list" | grep -v '^\s*$')
for pid in "${pids[@]}"; do
  wait "$pid"
done
echo "onnxruntime matrix ready in $(( $(date +%s) - start )) s: $root/.venv-ort, $root/scripts/ort-matrix/node_modules"
