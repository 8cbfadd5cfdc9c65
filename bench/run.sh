#!/usr/bin/env bash
# clvae against the PyTorch peer on this machine, run from the repo root after a build:
#   bench/run.sh [BUILD_DIR]       (default: build)
# Environment: ROUNDS=N (default 5) alternated rounds, STEPS=N clvae bench steps (default 400,
# about one epoch), GEMM=0 skips bench_gemm, STARTUP=0 skips the start-up timing.
# 1. Throughput: in every round clvae bench, then the peer (1 thread) with OPENBLAS_CORETYPE
#    unset and with =SKYLAKEX (or HASWELL on AVX2 machines), one after the other; medians over
#    the rounds, the peer's faster setting, and the ratio clvae / peer.
# 2. bench_gemm: GF/s per GEMM shape, CLBlast default vs tuned vs OpenBLAS, in one run.
# 3. Start-up: `clvae bench --steps 1` with an empty kernel cache (cold) vs again (warm).
# Machines are shared and noisy: read the ratios, taken in one run, not the absolute numbers.
set -u
BUILD=${1:-build}
STEPS=${STEPS:-400}
ROUNDS=${ROUNDS:-5}
BIN=$BUILD/clvae
PEER=${PEER:-../shared/peer/torch_vae.py}
TMP=$(mktemp -d /tmp/clvae-bench.XXXXXX)
trap 'rm -rf "$TMP"' EXIT
[ -x "$BIN" ] || { echo "run.sh: $BIN not found; build first (cmake -S . -B $BUILD && cmake --build $BUILD)"; exit 2; }

json_field() { # FIELD < JSON line
  python3 -c "import json,sys; print(json.loads(sys.stdin.readline())['$1'])"
}
median() { python3 -c "import statistics,sys; v=[float(x) for x in sys.argv[1:]]; print('%.1f' % statistics.median(v) if v else 0)" "$@"; }
ratio() { python3 -c "import sys; a,b=float(sys.argv[1]),float(sys.argv[2]); print('%.2f' % (a / b) if b else 'n/a')" "$1" "$2"; }

# OpenBLAS's run-time CPU detection can fall back to a generic core in VMs: the peer also runs
# with the core the CPU flags call for, and the faster of the two settings counts.
core=""
grep -qw avx512f /proc/cpuinfo && core=SKYLAKEX || { grep -qw avx2 /proc/cpuinfo && core=HASWELL; }

echo "== tuning file"
"$BIN" bench --steps 1 --set device.autotune=off 2>&1 | grep -E "GEMM tuning|ignoring" \
  || { echo "no tuning file for this device: running clvae tune"; "$BIN" tune || exit 1; }

peer_run() { # CORETYPE ("" = unset) -> samples/s on stdout
  local out="$TMP/peer.json"
  if [ -n "$1" ]; then
    env -u OPENBLAS_L2_SIZE OPENBLAS_CORETYPE="$1" /usr/bin/python3 "$PEER" --epochs 1 --threads 1 >"$out" 2>"$TMP/peer.err"
  else
    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE /usr/bin/python3 "$PEER" --epochs 1 --threads 1 >"$out" 2>"$TMP/peer.err"
  fi
  tail -1 "$out" | json_field samples_per_s 2>/dev/null || { cat "$TMP/peer.err" >&2; echo 0; }
}

echo "== training throughput, $ROUNDS alternated rounds (clvae bench --steps $STEPS; peer 1 epoch, 1 thread)"
have_peer=0
[ -f "$PEER" ] && [ -x /usr/bin/python3 ] && have_peer=1
cl=() p0=() p1=()
for r in $(seq 1 "$ROUNDS"); do
  "$BIN" bench --steps "$STEPS" >"$TMP/cl.json" 2>"$TMP/cl.err" || { cat "$TMP/cl.err"; exit 1; }
  c=$(json_field samples_per_s <"$TMP/cl.json")
  cl+=("$c")
  line="round $r: clvae $c"
  if [ "$have_peer" = 1 ]; then
    a=$(peer_run "")
    p0+=("$a")
    line="$line  peer(unset) $a"
    if [ -n "$core" ]; then
      b=$(peer_run "$core")
      p1+=("$b")
      line="$line  peer($core) $b"
    fi
  fi
  echo "$line   (load $(cut -d' ' -f1 /proc/loadavg))"
done
mc=$(median "${cl[@]}")
echo "clvae median:                 $mc samples/s"
if [ "$have_peer" = 1 ]; then
  m0=$(median "${p0[@]}")
  echo "peer median, CORETYPE unset:  $m0 samples/s"
  best=$m0 best_name="unset"
  if [ -n "$core" ]; then
    m1=$(median "${p1[@]}")
    echo "peer median, CORETYPE=$core: $m1 samples/s"
    best=$(python3 -c "print(max($m0, $m1))")
    python3 -c "import sys; sys.exit(0 if $m1 > $m0 else 1)" && best_name=$core
  fi
  echo "RATIO clvae / peer best ($best_name): $(ratio "$mc" "$best")  (target >= 1.2)"
else
  echo "PyTorch peer $PEER not found: skipped"
fi

if [ "${GEMM:-1}" != 0 ]; then
  echo "== GEMM GF/s: CLBlast default vs tuned vs OpenBLAS (same run)"
  if [ -x "$BUILD/bench/bench_gemm" ]; then
    "$BUILD/bench/bench_gemm" 2>"$TMP/gemm.err" || cat "$TMP/gemm.err"
    if [ -n "$core" ]; then
      echo "-- again with OPENBLAS_CORETYPE=$core"
      OPENBLAS_CORETYPE=$core "$BUILD/bench/bench_gemm" 2>"$TMP/gemm2.err" || cat "$TMP/gemm2.err"
    fi
  else
    echo "bench_gemm not built (needs OpenCL, CLBlast and OpenBLAS)"
  fi
fi

if [ "${STARTUP:-1}" != 0 ]; then
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
fi
