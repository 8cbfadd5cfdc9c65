#!/usr/bin/env bash
# IWAE speed side by side with the PyTorch peer (../shared/peer/torch_family.py, 1 thread):
#   bench/iwae_eval.sh [BUILD_DIR]     (K=5000, N=10000 test images, STEPS=200)
# 1. `clvae eval --iw K` on N test images of a default-model checkpoint: wall time and peak
#    memory (/usr/bin/time -v), against the peer's importance-sampled NLL with K samples on the
#    same N images (its own "seconds" for the NLL pass; peak memory of its whole process).
#    The models are trained briefly (1000 images): the cost does not depend on the weights.
# 2. IWAE K = 5 training throughput, the IWAE paper's one-layer network (config/iwae-1layer.ini):
#    `clvae bench` against the peer's --model iwae --k 5 training samples/s.
# Machines are shared and noisy: read the ratios, taken in one run.
set -u
BUILD=${1:-build}
BIN=$BUILD/clvae
PEER=${PEER:-../shared/peer/torch_family.py}
K=${K:-5000}
N=${N:-10000}
STEPS=${STEPS:-200}
TMP=$(mktemp -d /tmp/clvae-iwae.XXXXXX)
trap 'rm -rf "$TMP"' EXIT
[ -x "$BIN" ] || { echo "iwae_eval.sh: $BIN not found; build first"; exit 2; }
field() { python3 -c "import json,sys; print(json.loads(sys.argv[1])['$2'])" "$1"; }
peak_mb() { awk -F': ' '/Maximum resident set size/ {printf "%.0f", $2 / 1024}' "$1"; }
wall_s() { awk -F': ' '/Elapsed \(wall clock\)/ {n = split($2, t, ":"); s = 0; for (i = 1; i <= n; i++) s = s * 60 + t[i]; printf "%.1f", s}' "$1"; }

echo "== eval --iw $K on $N test images (default model)"
"$BIN" train --set data.limit_train=1000 --set train.epochs=1 --set output.dir="$TMP/run" -q \
  >/dev/null 2>"$TMP/err" || { cat "$TMP/err"; exit 1; }
/usr/bin/time -v "$BIN" eval --run "$TMP/run" --iw "$K" --set data.limit_test="$N" \
  >"$TMP/eval.out" 2>"$TMP/eval.time" || { tail -5 "$TMP/eval.time"; exit 1; }
c_s=$(wall_s "$TMP/eval.time"); c_mb=$(peak_mb "$TMP/eval.time")
c_nll=$(python3 -c "import json; print(-json.loads(open('$TMP/eval.out').read())['test_loglik'])")
# The peer with OPENBLAS_CORETYPE unset and with the core the CPU flags call for (OpenBLAS may
# fall back to a generic core in a VM); the faster pass counts, as in bench/run.sh.
core=""
grep -qw avx512f /proc/cpuinfo && core=SKYLAKEX || { grep -qw avx2 /proc/cpuinfo && core=HASWELL; }
p_s="" p_mb="" p_nll="" p_core=""
for ct in "" $core; do
  env -u OPENBLAS_CORETYPE ${ct:+OPENBLAS_CORETYPE=$ct} /usr/bin/time -v /usr/bin/python3 "$PEER" \
    --model vae --epochs 1 --train-limit 1000 --nll-k "$K" --nll-limit "$N" --threads 1 \
    >"$TMP/peer.out" 2>"$TMP/peer.time" || { tail -5 "$TMP/peer.time"; exit 1; }
  line=$(grep '"test_nll"' "$TMP/peer.out" | grep -v final | tail -1)
  s=$(field "$line" seconds)
  echo "peer NLL pass, OPENBLAS_CORETYPE=${ct:-unset}: $s s"
  if [ -z "$p_s" ] || python3 -c "import sys; sys.exit(0 if $s < $p_s else 1)"; then
    p_s=$s p_mb=$(peak_mb "$TMP/peer.time") p_nll=$(field "$line" test_nll) p_core=${ct:-unset}
  fi
done
echo "| system | seconds | peak MB | NLL (untrained-ish model) |"
echo "|---|---|---|---|"
echo "| clvae eval (whole command) | $c_s | $c_mb | $c_nll |"
echo "| pytorch NLL pass (CORETYPE $p_core) | $p_s | $p_mb (whole process) | $p_nll |"
python3 -c "print('clvae time / peer time: %.2f (below 1: clvae faster)' % ($c_s / $p_s))"

echo "== IWAE K=5 training, 2x200 tanh, 50 latents, batch 100"
c_line=$("$BIN" bench -c config/iwae-1layer.ini --steps "$STEPS" 2>/dev/null | tail -1)
/usr/bin/python3 "$PEER" --model iwae --k 5 --enc 200,200 --dec 200,200 --act tanh --latent 50 \
  --binarize dynamic --batch 100 --epochs 1 --train-limit 20000 --test-limit 500 --threads 1 \
  >"$TMP/peer2.out" 2>/dev/null
p2=$(grep '"epoch"' "$TMP/peer2.out" | grep -v final | tail -1)
cs=$(field "$c_line" samples_per_s); ps=$(field "$p2" samples_per_s)
echo "clvae $cs samples/s, pytorch $ps samples/s, ratio $(python3 -c "print('%.2f' % ($cs / $ps))")"
