#!/usr/bin/env bash
# How training throughput grows with the batch and the hidden width, clvae next to the PyTorch
# peer (1 thread; OPENBLAS_CORETYPE=SKYLAKEX on AVX-512 machines, HASWELL on AVX2 ones, the
# faster setting in bench/run.sh here; PEER_CORETYPE= overrides, empty = unset), alternated per
# setting, run from the repo root:
#   bench/scaling.sh [BUILD_DIR]     (default: build)
# Environment: BATCHES="32 128 512 2048", HIDDEN="400 1024 2048", LATENT=20, ROUNDS=1,
# SAMPLES=30000 (training samples clvae bench times per setting), OUT=bench/scaling (writes
# OUT.jsonl, OUT.md (the table in docs/performance.md, "Scaling") and OUT.svg (samples/s against batch)).
set -u
BUILD=${1:-build}
BIN=$BUILD/clvae
PEER=${PEER:-../shared/peer/torch_vae.py}
BATCHES=${BATCHES:-32 128 512 2048}
HIDDEN=${HIDDEN:-400 1024 2048}
LATENT=${LATENT:-20}
ROUNDS=${ROUNDS:-1}
SAMPLES=${SAMPLES:-30000}
OUT=${OUT:-bench/scaling}
[ -x "$BIN" ] || { echo "scaling.sh: $BIN not found; build first"; exit 2; }
[ -f "$PEER" ] || { echo "scaling.sh: peer $PEER not found"; exit 2; }
core=""
grep -qw avx512f /proc/cpuinfo && core=SKYLAKEX || { grep -qw avx2 /proc/cpuinfo && core=HASWELL; }
core=${PEER_CORETYPE-$core}
peer_env() { if [ -n "$core" ]; then env -u OPENBLAS_L2_SIZE OPENBLAS_CORETYPE="$core" "$@"; else env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE "$@"; fi; }
: >"$OUT.jsonl"
field() { python3 -c "import json,sys; print(json.loads(sys.stdin.readlines()[-1])['$1'])"; }
for r in $(seq 1 "$ROUNDS"); do
  for h in $HIDDEN; do
    for b in $BATCHES; do
      steps=$(( SAMPLES / b )); [ "$steps" -lt 20 ] && steps=20
      c=$("$BIN" bench --steps "$steps" --set train.batch="$b" --set model.encoder="$h" \
            --set model.decoder="$h" --set model.latent="$LATENT" 2>/dev/null | field samples_per_s) || c=0
      p=$(peer_env /usr/bin/python3 "$PEER" --epochs 1 --threads 1 \
            --batch "$b" --hidden "$h" --latent "$LATENT" 2>/dev/null | field samples_per_s) || p=0
      echo "{\"round\": $r, \"hidden\": $h, \"batch\": $b, \"clvae\": $c, \"peer\": $p}" | tee -a "$OUT.jsonl"
    done
  done
done
python3 bench/scaling_plot.py "$OUT.jsonl" "$OUT.md" "$OUT.svg" && cat "$OUT.md"
