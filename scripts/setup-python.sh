#!/usr/bin/env bash
# Creates .venv in the crate root with the pinned packages of
# python/requirements.txt. Idempotent: re-running only installs what changed.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
venv="$root/.venv"
python=${PYTHON:-python3}
# The PMML evaluators (tests/it/pmml/) need a Java runtime.
bash "$root/scripts/setup-java.sh"
if [ ! -x "$venv/bin/python" ]; then
  "$python" -m venv "$venv"
fi
stamp="$venv/.requirements.sha"
want=$(sha256sum "$root/python/requirements.txt" | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$root/python/requirements.txt"
  echo "$want" > "$stamp"
fi
echo "python venv ready: $venv/bin/python"
