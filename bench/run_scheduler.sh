#!/usr/bin/env bash
# Data feeding benchmark: `clvae bench` samples/s with the training set resident on the device,
# streamed with upload/compute overlap, and streamed serialized (data.overlap=false), then the
# ratios and, from a --profile trace of each streamed run, the share of upload time that
# overlapped compute. Extra arguments go to every run, e.g.
#   bench/run_scheduler.sh --steps 300 --set device.backend=ref
# Environment: CLVAE_BIN (default build/clvae), REPEAT (runs per mode, best kept; default 3),
# OUT (directory for the JSON lines and traces; default a temporary directory).
set -eu
BIN=${CLVAE_BIN:-build/clvae}
REPEAT=${REPEAT:-3}
OUT=${OUT:-$(mktemp -d)}
mkdir -p "$OUT"
[ -x "$BIN" ] || { echo "run_scheduler.sh: $BIN not built (cmake --build build)" >&2; exit 2; }

# run NAME ARGS...: best samples/s of REPEAT runs; the line of the best run goes to $OUT/NAME.json
run() {
  local name=$1 best=0 line rate; shift
  for ((i = 0; i < REPEAT; i++)); do
    line=$("$BIN" bench "$@" 2>>"$OUT/$name.log" | tail -n 1)
    rate=$(sed -n 's/.*"samples_per_s": \([0-9.]*\).*/\1/p' <<<"$line")
    if awk -v a="$rate" -v b="$best" 'BEGIN{exit !(a > b)}'; then best=$rate; echo "$line" >"$OUT/$name.json"; fi
  done
  echo "$best"
}

share() { sed -n 's/.*"overlap_share": \([0-9.]*\|null\).*/\1/p' "$OUT/$1.json"; }

dev=$(run device "$@" --set data.residency=device)
str=$(run stream "$@" --set data.residency=stream --set data.overlap=true)
ser=$(run serial "$@" --set data.residency=stream --set data.overlap=false)
# One profiled run each for the overlap share (profiling adds events, so not timed above).
run stream_prof "$@" --set data.residency=stream --set data.overlap=true --profile "$OUT/stream.trace.json" >/dev/null
run serial_prof "$@" --set data.residency=stream --set data.overlap=false --profile "$OUT/serial.trace.json" >/dev/null

cat "$OUT/device.json" "$OUT/stream.json" "$OUT/serial.json"
awk -v d="$dev" -v s="$str" -v z="$ser" -v os="$(share stream_prof)" -v oz="$(share serial_prof)" 'BEGIN{
  printf "samples/s  device %.0f   stream %.0f   stream no-overlap %.0f\n", d, s, z;
  printf "ratios     stream/device %.2f   stream/no-overlap %.2f   device/no-overlap %.2f\n", s/d, s/z, d/z;
  printf "overlap    share of upload time overlapping compute: stream %s, no-overlap %s\n", os, oz }'
echo "traces and logs in $OUT"
