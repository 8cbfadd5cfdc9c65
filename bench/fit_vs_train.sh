#!/bin/bash
# The C API's fit against `clvae train` with the same config: samples/s of the last epoch
# (metrics.jsonl's samples_per_s / clvae_fit_result.samples_per_s, training steps only) and
# wall time (train: the whole process, data loading included; fit: the clvae_vae_fit call,
# after the arrays are in memory). Runs alternate (train, fit, fit, train, ...) so a drift in
# the machine's load hits both; prints each run, the medians and the ratio fit / train.
# Usage: bench/fit_vs_train.sh [SECTION.KEY=VALUE]...   (env: BUILD=build, CONFIG=
# config/default.ini, ROUNDS=2, EPOCHS=2)
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
CONFIG=${CONFIG:-config/default.ini}
ROUNDS=${ROUNDS:-2}
EPOCHS=${EPOCHS:-2}
sets=("train.epochs=$EPOCHS" "$@")
cli_sets=()
for s in "${sets[@]}"; do cli_sets+=(--set "$s"); done
[ -x "$BUILD/clvae" ] && [ -x "$BUILD/bench/bench_fit" ] ||
  { echo "fit_vs_train: build first (make build: $BUILD/clvae and $BUILD/bench/bench_fit)" >&2; exit 2; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

run_train() {
  local dir="$tmp/run$1" t0 t1
  t0=$(date +%s.%N)
  "$BUILD/clvae" train -c "$CONFIG" --quiet --set output.dir="$dir" "${cli_sets[@]}" > /dev/null
  t1=$(date +%s.%N)
  local sps
  sps=$(tail -n 1 "$dir/metrics.jsonl" | grep -o '"samples_per_s": *[0-9.eE+-]*' | sed 's/.*: *//')
  printf 'train samples_per_s %.1f wall_s %.2f\n' "$sps" "$(awk -v a="$t0" -v b="$t1" 'BEGIN {print b - a}')"
}

run_fit() {
  "$BUILD/bench/bench_fit" "$CONFIG" "${sets[@]}"
}

: > "$tmp/results"
for r in $(seq 1 "$ROUNDS"); do
  if [ $((r % 2)) -eq 1 ]; then order="train fit"; else order="fit train"; fi
  for w in $order; do
    line=$(run_$w "$r")
    echo "round $r: $line"
    echo "$line" >> "$tmp/results"
  done
done

median() { sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2}'; }
for w in train fit; do
  sps=$(awk -v w=$w '$1 == w {print $3}' "$tmp/results" | median)
  wall=$(awk -v w=$w '$1 == w {print $5}' "$tmp/results" | median)
  echo "$w median: samples_per_s $sps wall_s $wall"
  eval "${w}_sps=$sps"
done
awk -v f="$fit_sps" -v t="$train_sps" 'BEGIN {printf "fit / train samples_per_s: %.3f\n", f / t}'
