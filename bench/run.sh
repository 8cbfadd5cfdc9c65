#!/usr/bin/env bash
# clvae against the PyTorch and JAX peers on this machine, run from the repo root after a build:
#   bench/run.sh [BUILD_DIR]       (default: build)
# Environment: ROUNDS=N (default 5) alternated rounds, STEPS=N clvae bench steps (default 400,
# about one epoch), PEER_THREADS="1 2" (the PyTorch peer's thread counts), JAX=0 skips the JAX
# peer, JAX_PYTHON=/tmp/jaxenv/bin/python (a Python with jax, optax and numpy; missing: no JAX
# column), JAX_EPOCHS=2, GEMM=0 skips bench_gemm, STARTUP=0 skips the start-up timing
# (GEMM=0 STARTUP=0 is the default-model comparison alone).
# 1. Throughput: in every round clvae bench, then the PyTorch peer at each thread count with
#    OPENBLAS_CORETYPE unset and with =SKYLAKEX (or HASWELL on AVX2 machines), then the JAX peer
#    (--mode scan, XLA's default threads, its last epoch: the first includes compilation), one
#    after the other; medians over the rounds, the PyTorch peer's fastest setting, and the
#    ratios clvae / PyTorch, clvae / JAX and clvae / the better peer.
# 2. bench_gemm: GF/s per GEMM shape, CLBlast default vs tuned vs OpenBLAS, in one run.
# 3. Start-up: `clvae bench --steps 1` with an empty kernel cache (cold) vs again (warm).
# Machines are shared and noisy: read the ratios, taken in one run, not the absolute numbers.
set -u
BUILD=${1:-build}
STEPS=${STEPS:-400}
ROUNDS=${ROUNDS:-5}
BIN=$BUILD/clvae
PEER=${PEER:-../shared/peer/torch_vae.py}
PEER_THREADS=${PEER_THREADS:-1 2}
JAX=${JAX:-1}
JAX_PYTHON=${JAX_PYTHON:-/tmp/jaxenv/bin/python}
JAX_PEER=${JAX_PEER:-../shared/peer/jax_vae.py}
JAX_EPOCHS=${JAX_EPOCHS:-2}
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

peer_run() { # THREADS CORETYPE ("" = unset) -> samples/s on stdout
  local out="$TMP/peer.json"
  if [ -n "$2" ]; then
    env -u OPENBLAS_L2_SIZE OPENBLAS_CORETYPE="$2" /usr/bin/python3 "$PEER" --epochs 1 --threads "$1" >"$out" 2>"$TMP/peer.err"
  else
    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE /usr/bin/python3 "$PEER" --epochs 1 --threads "$1" >"$out" 2>"$TMP/peer.err"
  fi
  tail -1 "$out" | json_field samples_per_s 2>/dev/null || { cat "$TMP/peer.err" >&2; echo 0; }
}
jax_run() { # -> samples/s of the JAX peer's last epoch (the first includes XLA's compilation)
  "$JAX_PYTHON" "$JAX_PEER" --mode scan --epochs "$JAX_EPOCHS" >"$TMP/jax.json" 2>"$TMP/jax.err"
  tail -1 "$TMP/jax.json" | json_field samples_per_s 2>/dev/null || { tail -3 "$TMP/jax.err" >&2; echo 0; }
}

have_peer=0
[ -f "$PEER" ] && [ -x /usr/bin/python3 ] && have_peer=1
have_jax=0
if [ "$JAX" != 0 ] && [ "$JAX_PYTHON" != none ] && [ -x "$JAX_PYTHON" ] && [ -f "$JAX_PEER" ] && "$JAX_PYTHON" -c "import jax, optax" 2>/dev/null; then
  have_jax=1
fi
echo "== training throughput, $ROUNDS alternated rounds (clvae bench --steps $STEPS; PyTorch peer 1 epoch at" \
     "threads {$PEER_THREADS}, CORETYPE unset${core:+ and $core}; JAX peer scan mode, epoch $JAX_EPOCHS of $JAX_EPOCHS)"
[ "$have_jax" = 1 ] || echo "JAX peer: skipped (JAX=0, or no jax/optax in $JAX_PYTHON, or no $JAX_PEER)"
ct() { local c=${1#*/}; echo "${c:-unset}"; }   # a setting "THREADS/CORETYPE" -> its CORETYPE
settings=()
for th in $PEER_THREADS; do settings+=("$th/"); [ -n "$core" ] && settings+=("$th/$core"); done
declare -A pv=()
cl=() jx=()
for r in $(seq 1 "$ROUNDS"); do
  "$BIN" bench --steps "$STEPS" >"$TMP/cl.json" 2>"$TMP/cl.err" || { cat "$TMP/cl.err"; exit 1; }
  c=$(json_field samples_per_s <"$TMP/cl.json")
  cl+=("$c")
  line="round $r: clvae $c"
  if [ "$have_peer" = 1 ]; then
    for s in "${settings[@]}"; do
      a=$(peer_run "${s%%/*}" "${s#*/}")
      pv[$s]="${pv[$s]:-} $a"
      line="$line  torch(${s%%/*}t,$(ct "$s")) $a"
    done
  fi
  if [ "$have_jax" = 1 ]; then
    j=$(jax_run)
    jx+=("$j")
    line="$line  jax $j"
  fi
  echo "$line   (load $(cut -d' ' -f1 /proc/loadavg))"
done
mc=$(median "${cl[@]}")
echo "clvae median:                 $mc samples/s"
best=0
if [ "$have_peer" = 1 ]; then
  best_name=""
  for s in "${settings[@]}"; do
    # shellcheck disable=SC2086  # a list of samples/s
    m=$(median ${pv[$s]})
    echo "PyTorch median, ${s%%/*} thread(s), CORETYPE $(ct "$s"): $m samples/s"
    python3 -c "import sys; sys.exit(0 if $m > $best else 1)" && best=$m best_name="${s%%/*} thread(s), CORETYPE $(ct "$s")"
  done
  echo "RATIO clvae / PyTorch best ($best_name): $(ratio "$mc" "$best")  (target >= 1.5)"
else
  echo "PyTorch peer $PEER not found: skipped"
fi
if [ "$have_jax" = 1 ]; then
  mj=$(median "${jx[@]}")
  echo "JAX scan median:              $mj samples/s"
  echo "RATIO clvae / JAX scan: $(ratio "$mc" "$mj")  (target >= 1.0, aim 1.2)"
  best=$(python3 -c "print(max($best, $mj))")
fi
[ "$best" != 0 ] && echo "RATIO clvae / better peer: $(ratio "$mc" "$best")"

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
