#!/usr/bin/env bash
# Creates one lean venv per older scikit-learn release that `to_sklearn()`
# is tested against (py/tests/test_restore_cross_version.py; the newest is
# .venv's pinned release): .venv-sklearn/<version>, each with only
# scikit-learn, its numpy/scipy, joblib and pytest, pinned. About 35-45 s
# each from an empty pip cache, 20 s from a warm one.
# Idempotent: an existing venv whose stamp matches is kept.
# Usage: bash scripts/setup-sklearn-venvs.sh [VERSION...]   (default: all)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
python=${PYTHON:-python3}

# version -> pinned packages. Old releases have no numpy 2 wheels.
pins() {
  case "$1" in
    1.3.2) echo "scikit-learn==1.3.2 numpy==1.26.4 scipy==1.11.4 joblib==1.6.0 threadpoolctl==3.8.0 pytest==9.2.0" ;;
    1.5.2) echo "scikit-learn==1.5.2 numpy==1.26.4 scipy==1.13.1 joblib==1.6.0 threadpoolctl==3.8.0 pytest==9.2.0" ;;
    *) echo "unknown scikit-learn target $1 (known: 1.3.2 1.5.2)" >&2; return 1 ;;
  esac
}

versions=("$@")
[ ${#versions[@]} -gt 0 ] || versions=(1.3.2 1.5.2)
for v in "${versions[@]}"; do
  want=$(pins "$v")
  venv="$root/.venv-sklearn/$v"
  if [ "$(cat "$venv/.pins" 2>/dev/null)" = "$want" ]; then
    continue
  fi
  rm -rf "$venv"
  "$python" -m venv "$venv"
  # shellcheck disable=SC2086
  "$venv/bin/pip" install --quiet --disable-pip-version-check --only-binary=:all: $want
  echo "$want" > "$venv/.pins"
  echo "scikit-learn $v venv ready: $venv/bin/python"
done
