#!/usr/bin/env bash
# Runs every libFuzzer harness (or the ones named) for SECONDS each, one after another, on the
# committed seeds (fuzz/corpus/NAME) and crashers (fuzz/crashers/NAME) plus a working corpus in
# BUILD/fuzz-corpus/NAME. Fails when any harness crashes, leaks, hangs or allocates too much;
# the input that did it is saved as BUILD/fuzz-artifacts/NAME-crash-<sha1> (fix the reader, then
# commit the input to fuzz/crashers/NAME/ so the fuzz_replay_NAME ctest case keeps it fixed).
# Per-harness executions and seconds go to BUILD/fuzz-summary.txt.
#
# usage: fuzz/run.sh BUILD SECONDS [NAME...]
set -uo pipefail
build=${1:?usage: fuzz/run.sh BUILD SECONDS [NAME...]}
seconds=${2:?usage: fuzz/run.sh BUILD SECONDS [NAME...]}
shift 2
src=$(cd "$(dirname "$0")" && pwd)
names=("$@")
if [ ${#names[@]} -eq 0 ]; then
  for b in "$build"/fuzz/fuzz_*; do
    [ -x "$b" ] || continue
    n=$(basename "$b"); n=${n#fuzz_}
    case "$n" in replay_*) continue ;; esac
    names+=("$n")
  done
fi
if [ ${#names[@]} -eq 0 ]; then
  echo "fuzz: no harnesses in $build/fuzz (configure with -DCLVAE_FUZZ=ON)" >&2
  exit 1
fi

# Largest input per harness: a few times the largest seed (the checkpoint seed is 50 KB).
max_len() {
  case "$1" in
    safetensors|checkpoint) echo 131072 ;;
    idx|npy|image) echo 65536 ;;
    *) echo 16384 ;;
  esac
}

# Leaks count as crashes (detect_leaks); one malloc over 256 MB from an input of at most 128 KB
# is a reader trusting a header (malloc_limit_mb), and 10 s on one input is a hang (timeout).
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:allocator_may_return_null=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}
mkdir -p "$build/fuzz-artifacts" "$build/fuzz-logs"
summary="$build/fuzz-summary.txt"
failed=()
for n in "${names[@]}"; do
  bin="$build/fuzz/fuzz_$n"
  [ -x "$bin" ] || { echo "fuzz: no harness $bin" >&2; failed+=("$n(missing)"); continue; }
  work="$build/fuzz-corpus/$n"
  mkdir -p "$work"
  dirs=("$work" "$src/corpus/$n")
  [ -d "$src/crashers/$n" ] && dirs+=("$src/crashers/$n")
  log="$build/fuzz-logs/$n.log"
  echo "fuzz: $n for ${seconds}s (log $log)"
  start=$(date +%s)
  "$bin" -max_total_time="$seconds" -max_len="$(max_len "$n")" -timeout=10 \
    -rss_limit_mb=2048 -malloc_limit_mb=256 -use_value_profile=1 -print_final_stats=1 \
    -artifact_prefix="$build/fuzz-artifacts/$n-" "${dirs[@]}" >"$log" 2>&1
  rc=$?
  secs=$(( $(date +%s) - start ))
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1)
  line="$(date -u +%FT%TZ) $n: rc=$rc execs=${execs:-?} seconds=$secs ${cov} corpus=$(ls "$work" | wc -l)"
  echo "fuzz: $line"
  echo "$line" >>"$summary"
  if [ $rc -ne 0 ]; then
    failed+=("$n")
    grep -m5 -E 'ERROR|SUMMARY|invariant|out-of-memory|timeout' "$log" | sed 's/^/  /'
  fi
done
if [ ${#failed[@]} -ne 0 ]; then
  echo "fuzz: FAILED: ${failed[*]} (inputs in $build/fuzz-artifacts/, logs in $build/fuzz-logs/)" >&2
  exit 1
fi
echo "fuzz: all ${#names[@]} harnesses ran ${seconds}s each without a crash"
