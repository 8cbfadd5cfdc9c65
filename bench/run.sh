#!/usr/bin/env bash
# Benchmarks of GEMM tuning and the kernel cache, run from the repo root after a build:
#   bench/run.sh [BUILD_DIR]      (default: build; STEPS=N sets the clvae bench steps)
# 1. bench_gemm: GF/s per GEMM shape, CLBlast default vs tuned vs OpenBLAS, in one run.
# 2. clvae bench: samples/s with CLBlast's defaults (empty cache, autotune off) vs the tuning
#    file (tunes first when the device has none), and the PyTorch peer; prints ratios.
# 3. Start-up: `clvae bench --steps 1` with an empty kernel cache vs again (warm).
# Machines are shared and noisy: read the ratios, taken in one run, not the absolute numbers.
set -u
BUILD=${1:-build}
STEPS=${STEPS:-300}
BIN=$BUILD/clvae
PEER=../shared/peer/torch_vae.py
TMP=$(mktemp -d /tmp/clvae-bench.XXXXXX)
trap 'rm -rf "$TMP"' EXIT
[ -x "$BIN" ] || { echo "run.sh: $BIN not found; build first (cmake -S . -B $BUILD && cmake --build $BUILD)"; exit 2; }

json_field() { # FIELD < JSON line
  python3 -c "import json,sys; print(json.loads(sys.stdin.readline())['$1'])"
}
ratio() { python3 -c "print('%.2f' % ($1 / $2) if $2 else 'n/a')"; }

echo "== tuning file"
"$BIN" bench --steps 1 --set device.autotune=off 2>&1 | grep -E "GEMM tuning|ignoring" \
  || { echo "no tuning file for this device: running clvae tune"; "$BIN" tune || exit 1; }

echo "== GEMM GF/s: CLBlast default vs tuned vs OpenBLAS (same run)"
# OpenBLAS's run-time CPU detection can fall back to a generic core in VMs (Debian's 0.3.21
# reports "Prescott" here): the comparison also uses the core the CPU flags call for.
core=""
grep -qw avx512f /proc/cpuinfo && core=SKYLAKEX || { grep -qw avx2 /proc/cpuinfo && core=HASWELL; }
if [ -x "$BUILD/bench/bench_gemm" ]; then
  "$BUILD/bench/bench_gemm" 2>"$TMP/gemm.err" | tee "$TMP/gemm.txt" || cat "$TMP/gemm.err"
  if [ -n "$core" ]; then
    echo "-- again with OPENBLAS_CORETYPE=$core"
    OPENBLAS_CORETYPE=$core "$BUILD/bench/bench_gemm" 2>"$TMP/gemm2.err" | tee "$TMP/gemm2.txt" \
      || cat "$TMP/gemm2.err"
  fi
else
  echo "bench_gemm not built (needs OpenCL, CLBlast and OpenBLAS)"
fi

echo "== training throughput (clvae bench --steps $STEPS)"
"$BIN" bench --steps "$STEPS" --set device.autotune=off --set device.cache="$TMP/untuned" \
  >"$TMP/default.json" 2>"$TMP/default.err" || { cat "$TMP/default.err"; exit 1; }
"$BIN" bench --steps "$STEPS" >"$TMP/tuned.json" 2>"$TMP/tuned.err" || { cat "$TMP/tuned.err"; exit 1; }
d=$(json_field samples_per_s <"$TMP/default.json")
t=$(json_field samples_per_s <"$TMP/tuned.json")
echo "clvae default CLBlast: $d samples/s"
echo "clvae tuned:           $t samples/s   (tuned/default $(ratio "$t" "$d"))"
if [ -f "$PEER" ] && [ -x /usr/bin/python3 ]; then
  env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE /usr/bin/python3 "$PEER" --epochs 1 --threads 1 \
    >"$TMP/peer.json" 2>"$TMP/peer.err" || cat "$TMP/peer.err"
  p=$(tail -1 "$TMP/peer.json" | json_field samples_per_s 2>/dev/null || echo 0)
  echo "PyTorch (1 thread):    $p samples/s   (tuned/PyTorch $(ratio "$t" "$p"), default/PyTorch $(ratio "$d" "$p"))"
else
  echo "PyTorch peer $PEER not found: skipped"
fi

echo "== start-up: clvae bench --steps 1, empty kernel cache (cold) vs again (warm)"
startup() { # LABEL
  local s e
  s=$(date +%s.%N)
  "$BIN" bench --steps 1 --set device.autotune=off --set device.cache="$TMP/startup" >/dev/null 2>&1
  e=$(date +%s.%N)
  python3 -c "print('$1: %.2f s' % ($e - $s))"
}
rm -rf "$TMP/startup"
startup "cold (empty cache dir)"
startup "warm (kernel binary cached)"
startup "warm again"
