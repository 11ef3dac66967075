#!/usr/bin/env bash
# Regenerates the committed CatBoost fixtures under tests/fixtures/catboost/,
# one directory per CatBoost version, each made in its own venv under
# ${VENVS:-/work/venvs} (created here when missing). The fixtures let CI test
# the importer without CatBoost installed; CatBoost is used for nothing else.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
venvs="${VENVS:-/work/venvs}"
py=$(command -v python3.11 || command -v python3)

venv() { # name packages...
  local name=$1; shift
  if [ ! -x "$venvs/$name/bin/python" ]; then
    "$py" -m venv "$venvs/$name"
    "$venvs/$name/bin/pip" install -q "$@"
  fi
  echo "$venvs/$name/bin/python"
}

declare -A cb=(
  [1.2.5]="$(venv catboost-1.2.5 catboost==1.2.5 'numpy<2' 'pandas<2.3' 'scipy<1.14')"
  [1.2.10]="$(venv catboost-1.2.10 catboost==1.2.10 numpy==2.4.6 pandas==3.1.1)"
)
for v in "${!cb[@]}"; do
  rm -rf "$root/tests/fixtures/catboost/$v"
  "${cb[$v]}" "$root/python/make_catboost_fixtures.py" "$root/tests/fixtures/catboost/$v"
done
