#!/usr/bin/env bash
# How training throughput grows with the batch and the hidden width: clvae next to the PyTorch peer
# (1 and 2 threads, the faster counts; OPENBLAS_CORETYPE=SKYLAKEX on AVX-512 machines, HASWELL on
# AVX2 ones, the faster setting in bench/run.sh here; PEER_CORETYPE= overrides, empty = unset) and
# the JAX peer (--mode scan, XLA's default threads; its last epoch counts, the first includes
# compilation), all measured in one run, alternated per setting (clvae, torch per thread count,
# jax), from the repo root:
#   bench/scaling.sh [--quick] [BUILD_DIR]     (default: build)
#     --quick   a check that the script works, not a measurement: BATCHES="32 512" HIDDEN=400
#               SAMPLES=2048 DATA_LIMIT=4096 JAX_EPOCHS=2 OUT=/tmp/clvae-scaling-quick, no tuning
# Environment: BATCHES="32 128 512 2048", HIDDEN="400 1024 2048", LATENT=20, ROUNDS=1,
# SAMPLES=30000 (training samples clvae bench times per setting), TORCH_THREADS="1 2",
# JAX_PYTHON=/tmp/jaxenv/bin/python (a Python with jax, jaxlib, optax and numpy; absent or "none":
# no JAX column), JAX_EPOCHS=2, DATA_LIMIT=N (every program trains on the first N training images,
# which shortens the peers' epochs; default: all 60000), CLVAE_SET="--set K=V ..." (more clvae
# options, e.g. --set device.autotune=off), OUT=bench/scaling (writes OUT.jsonl, OUT.md (the table
# in docs/performance.md, "Scaling") and OUT.svg (samples/s against batch)). clvae uses the
# device's tuning file as it stands: run `clvae tune` for the configs first for tuned figures.
set -u
QUICK=0
if [ "${1:-}" = "--quick" ]; then QUICK=1; shift; fi
case "${1:-}" in -h|--help) sed -n '2,22p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;; -*) echo "scaling.sh: unknown option '$1'; valid: --quick, --help" >&2; exit 2 ;; esac
if [ "$QUICK" = 1 ]; then
  BATCHES=${BATCHES:-32 512} HIDDEN=${HIDDEN:-400} SAMPLES=${SAMPLES:-2048} DATA_LIMIT=${DATA_LIMIT:-4096}
  JAX_EPOCHS=${JAX_EPOCHS:-2} OUT=${OUT:-/tmp/clvae-scaling-quick} CLVAE_SET=${CLVAE_SET:---set device.autotune=off}
fi
BUILD=${1:-build}
BIN=$BUILD/clvae
PEER=${PEER:-../shared/peer/torch_vae.py}
JAX_PEER=${JAX_PEER:-../shared/peer/jax_vae.py}
JAX_PYTHON=${JAX_PYTHON:-/tmp/jaxenv/bin/python}
BATCHES=${BATCHES:-32 128 512 2048}
HIDDEN=${HIDDEN:-400 1024 2048}
LATENT=${LATENT:-20}
ROUNDS=${ROUNDS:-1}
SAMPLES=${SAMPLES:-30000}
TORCH_THREADS=${TORCH_THREADS:-1 2}
JAX_EPOCHS=${JAX_EPOCHS:-2}
DATA_LIMIT=${DATA_LIMIT:-}
CLVAE_SET=${CLVAE_SET:-}
OUT=${OUT:-bench/scaling}
PY=/usr/bin/python3   # Debian's, with torch and numpy (python3 on PATH may lack numpy)
[ -x "$BIN" ] || { echo "scaling.sh: $BIN not found; build first"; exit 2; }
[ -f "$PEER" ] || { echo "scaling.sh: peer $PEER not found"; exit 2; }
have_jax=0
if [ "$JAX_PYTHON" != none ] && [ -x "$JAX_PYTHON" ] && [ -f "$JAX_PEER" ] && "$JAX_PYTHON" -c "import jax, optax" 2>/dev/null; then
  have_jax=1
else
  echo "scaling.sh: no JAX ($JAX_PYTHON with jax and optax, $JAX_PEER): the JAX column is left empty"
fi
TMP=$(mktemp -d /tmp/clvae-scaling.XXXXXX)
trap 'rm -rf "$TMP"' EXIT

DATA=/usr/share/datasets/fashion-mnist
if [ -n "$DATA_LIMIT" ]; then # the first N training (and at most N test) images, as IDX .gz files
  "$PY" - "$DATA" "$TMP" "$DATA_LIMIT" <<'EOF' || { echo "scaling.sh: could not cut the data set"; exit 1; }
import gzip, sys
src, dst, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
for name in ("train-images-idx3-ubyte.gz", "t10k-images-idx3-ubyte.gz"):
    d = gzip.open("%s/%s" % (src, name)).read()
    rows, cols = int.from_bytes(d[8:12], "big"), int.from_bytes(d[12:16], "big")
    k = min(n, int.from_bytes(d[4:8], "big"))
    gzip.open("%s/%s" % (dst, name), "wb", 1).write(d[:4] + k.to_bytes(4, "big") + d[8:16] + d[16:16 + k * rows * cols])
EOF
  DATA=$TMP
fi
DATA_SET=(--set data.train="$DATA/train-images-idx3-ubyte.gz" --set data.test="$DATA/t10k-images-idx3-ubyte.gz")

core=""
grep -qw avx512f /proc/cpuinfo && core=SKYLAKEX || { grep -qw avx2 /proc/cpuinfo && core=HASWELL; }
core=${PEER_CORETYPE-$core}
peer_env() { if [ -n "$core" ]; then env -u OPENBLAS_L2_SIZE OPENBLAS_CORETYPE="$core" "$@"; else env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE "$@"; fi; }
# samples_per_s of the last JSON line on stdin (the peers print one per epoch), 0 when none.
field() { "$PY" -c "import json,sys; l=[x for x in sys.stdin if x.startswith('{')]; print(json.loads(l[-1])['samples_per_s'] if l else 0)"; }

echo "== scaling: hidden {$HIDDEN} x batch {$BATCHES}, $ROUNDS round(s); load $(cut -d' ' -f1-3 /proc/loadavg)"
: >"$OUT.jsonl"
for r in $(seq 1 "$ROUNDS"); do
  for h in $HIDDEN; do
    for b in $BATCHES; do
      steps=$(( SAMPLES / b )); [ "$steps" -lt 20 ] && steps=20
      # shellcheck disable=SC2086  # CLVAE_SET is a list of options
      c=$("$BIN" bench --steps "$steps" --set train.batch="$b" --set model.encoder="$h" \
            --set model.decoder="$h" --set model.latent="$LATENT" "${DATA_SET[@]}" $CLVAE_SET 2>"$TMP/clvae.err" | field) \
        || { c=0; tail -3 "$TMP/clvae.err" >&2; }
      t=""
      for th in $TORCH_THREADS; do
        p=$(peer_env "$PY" "$PEER" --epochs 1 --threads "$th" --batch "$b" --hidden "$h" --latent "$LATENT" \
              --data-dir "$DATA" 2>"$TMP/torch.err" | field) || { p=0; tail -3 "$TMP/torch.err" >&2; }
        t="$t${t:+, }\"$th\": $p"
      done
      j=null
      if [ "$have_jax" = 1 ]; then
        j=$("$JAX_PYTHON" "$JAX_PEER" --mode scan --epochs "$JAX_EPOCHS" --batch "$b" --hidden "$h" --latent "$LATENT" \
              --data-dir "$DATA" 2>"$TMP/jax.err" | field) || { j=0; tail -3 "$TMP/jax.err" >&2; }
      fi
      echo "{\"round\": $r, \"hidden\": $h, \"batch\": $b, \"clvae\": $c, \"torch\": {$t}, \"jax\": $j}" | tee -a "$OUT.jsonl"
    done
  done
done
"$PY" bench/scaling_plot.py "$OUT.jsonl" "$OUT.md" "$OUT.svg" && cat "$OUT.md"
