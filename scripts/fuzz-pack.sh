#!/usr/bin/env bash
# Minimises a target's grown corpus (fuzz/corpus/TARGET, plus the seeds)
# with libFuzzer's -merge=1 and stores it as fuzz/corpora/TARGET.tar.xz,
# which scripts/fuzz.sh unpacks into a fresh corpus:
#   scripts/fuzz-pack.sh TARGET|all
set -euo pipefail
cd "$(dirname "$0")/.."

if [ $# -ne 1 ]; then
  echo "usage: scripts/fuzz-pack.sh TARGET|all" >&2
  exit 2
fi
toolchain=()
if rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
  toolchain=(+nightly)
else
  export RUSTC_BOOTSTRAP=1
fi

pack_one() {
  local t=$1 tmp
  tmp=$(mktemp -d)
  mkdir -p "$tmp/$t" fuzz/corpora
  local inputs=("fuzz/corpus/$t")
  [ -d "fuzz/seeds/$t" ] && inputs+=("fuzz/seeds/$t")
  # Merging needs coverage only: the uninstrumented (-s none) build is faster.
  cargo "${toolchain[@]}" fuzz run --release -s none --target-dir fuzz/target/none \
    "$t" "$tmp/$t" "${inputs[@]}" -- \
    -merge=1 -rss_limit_mb=2048 -timeout=10
  tar -C "$tmp" -cJf "fuzz/corpora/$t.tar.xz" "$t"
  echo "$t: $(ls "$tmp/$t" | wc -l) inputs -> fuzz/corpora/$t.tar.xz ($(stat -c %s "fuzz/corpora/$t.tar.xz") bytes)"
  rm -rf "$tmp"
}

if [ "$1" = all ]; then
  for f in fuzz/fuzz_targets/*.rs; do
    [ -d "fuzz/corpus/$(basename "$f" .rs)" ] && pack_one "$(basename "$f" .rs)"
  done
else
  pack_one "$1"
fi
