#!/usr/bin/env bash
# Fuzzes one target for a while: scripts/fuzz.sh TARGET SECONDS [JOBS]
#
# TARGET is a file name in fuzz/fuzz_targets/ without `.rs` (`all` runs
# every target in turn, SECONDS each). The corpus grows in
# fuzz/corpus/TARGET (not committed), starting from the committed seeds in
# fuzz/seeds/TARGET; crashes land in fuzz/artifacts/TARGET. The run ends with
# libFuzzer's execution count ("stat::number_of_executed_units") so counts
# can be reported. Needs cargo-fuzz (installed here when missing) and a
# nightly compiler, or stable with RUSTC_BOOTSTRAP=1, which this script sets
# when no nightly toolchain is installed.
#
# FUZZ_SANITIZER=none runs without AddressSanitizer (several times faster;
# our parsers are safe Rust, so use it for the bulk of the executions and
# the default, address, for shorter periodic runs). Each sanitizer builds
# in its own directory, fuzz/target/SANITIZER, so switching rebuilds
# nothing. FUZZ_RUNS=N stops after N executions (or SECONDS, first).
#
# A fresh corpus starts from the committed minimised one,
# fuzz/corpora/TARGET.tar.xz; scripts/fuzz-pack.sh TARGET refreshes that
# archive from a grown corpus.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ $# -lt 2 ]; then
  echo "usage: scripts/fuzz.sh TARGET|all SECONDS [JOBS]" >&2
  echo "targets: $(ls fuzz/fuzz_targets | sed 's/\.rs$//' | tr '\n' ' ')" >&2
  exit 2
fi
target=$1
seconds=$2
jobs=${3:-1}
sanitizer=${FUZZ_SANITIZER:-address}
runs=()
[ -n "${FUZZ_RUNS:-}" ] && runs=(-runs="$FUZZ_RUNS")

if ! cargo fuzz --version >/dev/null 2>&1; then
  cargo install cargo-fuzz --locked
fi
toolchain=()
if rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
  toolchain=(+nightly)
else
  export RUSTC_BOOTSTRAP=1
fi

run_one() {
  local t=$1
  if [ ! -f "fuzz/fuzz_targets/$t.rs" ]; then
    echo "error: no fuzz target \`$t\` (see fuzz/fuzz_targets/)" >&2
    exit 2
  fi
  mkdir -p "fuzz/corpus/$t" "fuzz/artifacts/$t"
  if [ -z "$(ls -A "fuzz/corpus/$t")" ] && [ -f "fuzz/corpora/$t.tar.xz" ]; then
    tar -C fuzz/corpus -xJf "fuzz/corpora/$t.tar.xz"
  fi
  local seeds=()
  [ -d "fuzz/seeds/$t" ] && seeds=("fuzz/seeds/$t")
  # -rss_limit_mb and -timeout make an OOM or a hang a finding, not a
  # stalled run; -print_final_stats gives the execution count.
  # One job runs in this process (its statistics print here); more run as
  # libFuzzer jobs, whose output goes to fuzz-N.log files.
  local parallel=()
  [ "$jobs" -gt 1 ] && parallel=(-jobs="$jobs" -workers="$jobs")
  cargo "${toolchain[@]}" fuzz run --release -s "$sanitizer" --target-dir "fuzz/target/$sanitizer" \
    "$t" "fuzz/corpus/$t" "${seeds[@]}" -- \
    -max_total_time="$seconds" "${runs[@]}" -rss_limit_mb=2048 -timeout=10 "${parallel[@]}" \
    -print_final_stats=1 -artifact_prefix="fuzz/artifacts/$t/"
}

if [ "$target" = all ]; then
  for f in fuzz/fuzz_targets/*.rs; do
    run_one "$(basename "$f" .rs)"
  done
else
  run_one "$target"
fi
