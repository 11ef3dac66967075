#!/usr/bin/env bash
# Regenerates the committed XGBoost/LightGBM fixtures under tests/fixtures/,
# one directory per library version, each made in its own venv under
# ${VENVS:-/work/venvs} (created here when missing; needs the pyenv
# interpreters named below). The fixtures let CI test the importers without
# either library installed.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(dirname "$here")"
venvs="${VENVS:-/work/venvs}"

venv() { # name python packages...
  local name=$1 py=$2; shift 2
  if [ ! -x "$venvs/$name/bin/python" ]; then
    "$py" -m venv "$venvs/$name"
    "$venvs/$name/bin/pip" install -q "$@"
  fi
  echo "$venvs/$name/bin/python"
}

py38=$(command -v python3.8 || echo /root/.pyenv/versions/3.8.18/bin/python)
py311=$(command -v python3.11 || echo python3)
declare -A xgb=(
  [1.0.2]="$(venv xgb-1.0 "$py38" xgboost==1.0.2 'numpy<1.22' 'scipy<1.8')"
  [1.7.6]="$(venv xgb-1.7 "$py311" xgboost==1.7.6 'numpy<2' 'scipy<1.14')"
  [2.0.3]="$(venv xgb-2.0 "$py311" xgboost==2.0.3 'numpy<2' 'scipy<1.14')"
  [2.1.4]="$(venv xgb-2.1 "$py311" xgboost-cpu==2.1.4 'numpy<2.3' scipy)"
  [3.0.5]="$(venv xgb-3.0 "$py311" xgboost-cpu==3.0.5 'numpy<2.3' scipy)"
  [3.2.0]="$root/.venv/bin/python"
)
for v in "${!xgb[@]}"; do
  rm -rf "$root/tests/fixtures/xgboost/$v"
  "${xgb[$v]}" "$here/make_booster_fixtures.py" xgboost "$root/tests/fixtures/xgboost/$v"
done
rm -rf "$root/tests/fixtures/xgboost/refused"
"${xgb[1.7.6]}" "$here/make_booster_fixtures.py" xgboost-refused "$root/tests/fixtures/xgboost/refused"
"${xgb[3.2.0]}" "$here/make_booster_fixtures.py" xgboost-refused "$root/tests/fixtures/xgboost/refused"

declare -A lgb=(
  [3.3.5]="$(venv lgb-3.3 "$py311" lightgbm==3.3.5 'numpy<2' 'scipy<1.14' 'scikit-learn<1.6')"
  [4.7.0]="$root/.venv/bin/python"
)
for v in "${!lgb[@]}"; do
  rm -rf "$root/tests/fixtures/lightgbm/$v"
  "${lgb[$v]}" "$here/make_booster_fixtures.py" lightgbm "$root/tests/fixtures/lightgbm/$v"
done
