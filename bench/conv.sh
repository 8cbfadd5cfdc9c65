#!/usr/bin/env bash
# Conv VAEs: clvae next to the PyTorch peer (../shared/peer/torch_conv.py) in one run, from the
# repo root after a build:   bench/conv.sh [BUILD_DIR]   (default: build)
# Environment: ROUNDS=N alternated rounds (default 3), STEPS=N timed training steps (default 40),
# EVAL_N=N test images for the importance-weighted pass (default 200), TUNE=0 skips
# `clvae tune -c CONFIG` (the conv GEMM shapes; once per config and device), ARCHS="dcgan28
# vanilla64" (dcgan28-bn works too).
# For every architecture:
#  1. training throughput: clvae bench -c config/conv-ARCH.ini --steps STEPS, then the peer with
#     --steps STEPS at 1 and at 2 threads, alternated ROUNDS times; medians; the ratio clvae /
#     the peer's better thread setting; peak resident memory (max RSS) of each process; then
#     one `clvae bench --profile` run of PROFILE_STEPS steps (default 5) and its per-kernel table
#     (bench/trace_table.py: where the time goes).
#  2. the importance-weighted log-likelihood pass with K = 100 on EVAL_N test images: clvae eval
#     --iw 100 minus clvae eval (the ELBO pass alone) on a briefly trained run, against the peer's
#     --nll-k 100 run minus the same run without it; each command IW_ROUNDS times (default 2),
#     the fastest run of each counting; images/s and the ratio.
# dcgan28 runs on Fashion-MNIST (28x28x1, batch 128); vanilla64 on 64x64x3 arrays made from it by
# bench/make_rgb64.py (batch 64). Machines are shared and noisy: read the ratios of one run.
set -u
BUILD=${1:-build}
BIN=$BUILD/clvae
ROUNDS=${ROUNDS:-3}
STEPS=${STEPS:-40}
EVAL_N=${EVAL_N:-200}
PROFILE_STEPS=${PROFILE_STEPS:-5}
IW_ROUNDS=${IW_ROUNDS:-2}
TUNE=${TUNE:-1}
ARCHS=${ARCHS:-"dcgan28 vanilla64"}
PEER=${PEER:-../shared/peer/torch_conv.py}
PY=/usr/bin/python3
TMP=$(mktemp -d /tmp/clvae-conv.XXXXXX)
trap 'rm -rf "$TMP"' EXIT
[ -x "$BIN" ] || { echo "conv.sh: $BIN not found; build first"; exit 2; }
[ -f "$PEER" ] || { echo "conv.sh: peer $PEER not found"; exit 2; }

field() { $PY -c "import json,sys; d=[json.loads(l) for l in sys.stdin if l.startswith('{')]; print([x for x in d if '$1' in x][-1]['$1'])"; }
median() { $PY -c "import statistics,sys; v=[float(x) for x in sys.argv[1:]]; print('%.1f' % statistics.median(v) if v else 0)" "$@"; }
ratio() { $PY -c "import sys; a,b=float(sys.argv[1]),float(sys.argv[2]); print('%.2f' % (a / b) if b > 0 else 'n/a')" "$1" "$2"; }
maxrss() { sed -n 's/^maxrss_kb=//p' "$1" | tail -1; }   # FILE written by /usr/bin/time -f
now() { date +%s.%N; }

data_args() { # ARCH -> clvae --set arguments and peer arguments (two lines)
  case "$1" in
    vanilla64) echo "--set data.train=$TMP/train64.npy --set data.test=$TMP/test64.npy"
               echo "--train-npy $TMP/train64.npy --test-npy $TMP/test64.npy" ;;
    *) echo ""; echo "--binarize dynamic" ;;
  esac
}

case " $ARCHS " in *" vanilla64 "*)
  echo "== making 64x64x3 arrays (bench/make_rgb64.py)"
  $PY bench/make_rgb64.py "$TMP" 3200 $((EVAL_N > 1000 ? EVAL_N : 1000)) || exit 1 ;;
esac

for arch in $ARCHS; do
  cfg=config/conv-$arch.ini
  [ -f "$cfg" ] || { echo "conv.sh: $cfg missing"; exit 2; }
  { read -r cargs; read -r pargs; } < <(data_args "$arch")
  echo "== $arch ($cfg)"
  if [ "$TUNE" = 1 ]; then
    # shellcheck disable=SC2086
    "$BIN" tune -c "$cfg" $cargs >"$TMP/tune.out" 2>&1 || { tail -5 "$TMP/tune.out"; exit 1; }
    echo "tuned its GEMM shapes (clvae tune -c $cfg)"
  fi
  cl=() p1=() p2=()
  for r in $(seq 1 "$ROUNDS"); do
    # shellcheck disable=SC2086
    /usr/bin/time -f "maxrss_kb=%M" -o "$TMP/cl.time" "$BIN" bench -c "$cfg" $cargs --steps "$STEPS" \
      >"$TMP/cl.json" 2>"$TMP/cl.err" || { tail -5 "$TMP/cl.err"; exit 1; }
    c=$(field samples_per_s <"$TMP/cl.json"); cl+=("$c")
    line="round $r: clvae $c ($(maxrss "$TMP/cl.time") kB)"
    for t in 1 2; do
      # shellcheck disable=SC2086
      /usr/bin/time -f "maxrss_kb=%M" -o "$TMP/p.time" $PY "$PEER" --arch "$arch" $pargs --steps "$STEPS" \
        --threads "$t" >"$TMP/p.json" 2>"$TMP/p.err" || { tail -5 "$TMP/p.err"; exit 1; }
      p=$(field samples_per_s <"$TMP/p.json")
      if [ "$t" = 1 ]; then p1+=("$p"); else p2+=("$p"); fi
      line="$line  peer/$t thr $p ($(maxrss "$TMP/p.time") kB)"
    done
    echo "$line   (load $(cut -d' ' -f1 /proc/loadavg))"
  done
  mc=$(median "${cl[@]}") m1=$(median "${p1[@]}") m2=$(median "${p2[@]}")
  best=$($PY -c "print(max($m1, $m2))")
  echo "TRAIN $arch: clvae $mc samples/s, peer $m1 (1 thread) / $m2 (2 threads); RATIO $(ratio "$mc" "$best") (target >= 1.5)"
  # Where clvae's time goes: one more short run with device-timed kernels (--profile), the
  # per-kernel table of bench/trace_table.py (ms per step, launches, share).
  # shellcheck disable=SC2086
  "$BIN" bench -c "$cfg" $cargs --steps "$PROFILE_STEPS" --profile "$TMP/prof-$arch.json" \
    >/dev/null 2>"$TMP/prof.err" || { tail -5 "$TMP/prof.err"; exit 1; }
  echo "PROFILE $arch (clvae bench --profile, $PROFILE_STEPS steps):"
  $PY bench/trace_table.py "$TMP/prof-$arch.json"

  # The IW pass: a briefly trained clvae run, then eval with and without --iw 100.
  # shellcheck disable=SC2086
  "$BIN" train -c "$cfg" $cargs --set train.max_steps=20 --set train.epochs=1 \
    --set data.limit_test="$EVAL_N" --set output.dir="$TMP/run-$arch" >"$TMP/train.out" 2>&1 \
    || { tail -5 "$TMP/train.out"; exit 1; }
  # IW_ROUNDS (default 2) runs of each command, alternated; the fastest of each counts, for
  # clvae and the peer alike (one run each swung by 2x on a quiet machine)
  e0=999999; e1=999999
  for _ in $(seq "$IW_ROUNDS"); do
    t0=$(now); "$BIN" eval --run "$TMP/run-$arch" >"$TMP/e0.json" 2>/dev/null || exit 1; t1=$(now)
    "$BIN" eval --run "$TMP/run-$arch" --iw 100 >"$TMP/e1.json" 2>/dev/null || exit 1; t2=$(now)
    e0=$($PY -c "print(min($e0, $t1 - $t0))"); e1=$($PY -c "print(min($e1, $t2 - $t1))")
  done
  cl_iw=$($PY -c "a=$e1-$e0; print('%.1f' % ($EVAL_N / a) if a > 0 else 0)")
  best_p=0
  for t in 1 2; do
    p0=999999; p1=999999
    for _ in $(seq "$IW_ROUNDS"); do
      # shellcheck disable=SC2086
      t0=$(now); $PY "$PEER" --arch "$arch" $pargs --steps 1 --threads "$t" --test-limit "$EVAL_N" >/dev/null 2>&1; t1=$(now)
      # shellcheck disable=SC2086
      $PY "$PEER" --arch "$arch" $pargs --steps 1 --threads "$t" --test-limit "$EVAL_N" --nll-k 100 \
        --nll-limit "$EVAL_N" >/dev/null 2>&1; t2=$(now)
      p0=$($PY -c "print(min($p0, $t1 - $t0))"); p1=$($PY -c "print(min($p1, $t2 - $t1))")
    done
    p_iw=$($PY -c "a=$p1-$p0; print('%.1f' % ($EVAL_N / a) if a > 0 else 0)")
    echo "peer/$t thr IW pass: $p_iw images/s"
    best_p=$($PY -c "print(max($best_p, $p_iw))")
  done
  echo "EVAL $arch --iw 100: clvae $cl_iw images/s, peer best $best_p; RATIO $(ratio "$cl_iw" "$best_p") (target >= 1.0)"
done
