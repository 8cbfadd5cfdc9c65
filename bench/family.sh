#!/usr/bin/env bash
# The model family side by side with the PyTorch peer (../shared/peer/torch_family.py), same
# architecture, data, batch and epochs, in one run (issue 9's quality check):
#   bench/family.sh [BUILD_DIR]        (EPOCHS=10, NLL_K=1000, NLL_LIMIT=2000, SEEDS="1")
# Models (dynamically binarized Fashion-MNIST, tanh, Adam 1e-3, batch 100):
#   vae1   one stochastic layer (784-200-200-50), ELBO          peer: --model vae
#   iwae1  the same network, IWAE bound K = 5                   peer: --model iwae --k 5
#   hvae2  two layers (100, 50; 200,200 | 100,100), ELBO        peer: --model hvae --k 1
#   iwae2  the two-layer model, IWAE bound K = 5                peer: --model hvae --k 5
#   warm2  hvae2 with model.beta_warmup = 6000 (10 epochs)       (clvae only)
# Each reports test_loss (negative ELBO, all 10k test images), the NLL (importance-sampled with
# NLL_K samples on the first NLL_LIMIT test images) and active units per stochastic layer.
# Output: one JSON line per run in $OUT (default bench/results/family.jsonl) and a table.
# SKIP_PEER=1 runs clvae only (e.g. to add models to an earlier run's $OUT).
set -u
BUILD=${1:-build}
BIN=$BUILD/clvae
PEER=${PEER:-../shared/peer/torch_family.py}
EPOCHS=${EPOCHS:-10}
NLL_K=${NLL_K:-1000}
NLL_LIMIT=${NLL_LIMIT:-2000}
SEEDS=${SEEDS:-1}
MODELS=${MODELS:-"vae1 iwae1 hvae2 iwae2 warm2"}
OUT=${OUT:-bench/results/family.jsonl}
TMP=$(mktemp -d /tmp/clvae-family.XXXXXX)
trap 'rm -rf "$TMP"' EXIT
[ -x "$BIN" ] || { echo "family.sh: $BIN not found; build first"; exit 2; }
mkdir -p "$(dirname "$OUT")"

ONE="--set model.encoder=200,200 --set model.decoder=200,200 --set model.latent=50"
TWO="--set model.latent=100,50 --set model.encoder=200,200|100,100 --set model.decoder=100,100|200,200"
clvae_args() { # MODEL -> clvae train arguments
  case $1 in
    vae1) echo "$ONE --set train.objective=elbo --set train.samples=1" ;;
    iwae1) echo "$ONE --set train.objective=iwae --set train.samples=5" ;;
    hvae2) echo "$TWO --set train.objective=elbo --set train.samples=1" ;;
    iwae2) echo "$TWO --set train.objective=iwae --set train.samples=5" ;;
    warm2) echo "$TWO --set train.objective=elbo --set train.samples=1 --set model.beta_warmup=6000" ;;
  esac
}
peer_args() { # MODEL -> torch_family.py arguments ("" = no peer run)
  local one="--enc 200,200 --dec 200,200 --latent 50"
  case $1 in
    vae1) echo "--model vae $one" ;;
    iwae1) echo "--model iwae --k 5 $one" ;;
    hvae2) echo "--model hvae --k 1" ;;
    iwae2) echo "--model hvae --k 5" ;;
    *) echo "" ;;
  esac
}

run_clvae() { # MODEL SEED
  local dir=$TMP/$1-$2 t0 t1
  t0=$(date +%s.%N)
  # shellcheck disable=SC2046
  "$BIN" train -c config/iwae-1layer.ini $(clvae_args "$1") --set train.seed="$2" \
    --set train.epochs="$EPOCHS" --set output.dir="$dir" >"$TMP/train.out" 2>"$TMP/train.err" \
    || { tail -3 "$TMP/train.err"; return 1; }
  t1=$(date +%s.%N)
  "$BIN" eval --run "$dir" --iw "$NLL_K" --set data.limit_test="$NLL_LIMIT" >"$TMP/eval.out" \
    2>"$TMP/eval.err" || { tail -3 "$TMP/eval.err"; return 1; }
  python3 - "$1" "$2" "$dir/metrics.jsonl" "$TMP/eval.out" "$t0" "$t1" <<'PY'
import json, sys
model, seed, metrics, ev, t0, t1 = sys.argv[1:]
last = [json.loads(l) for l in open(metrics)][-1]
e = json.loads(open(ev).read().strip().splitlines()[-1])
print(json.dumps({"system": "clvae", "model": model, "seed": int(seed),
                  "test_loss": last["test_loss"], "nll": -e["test_loglik"],
                  "nll_set_test_loss": e["test_loss"], "gap": e["test_gap"],
                  "active_units": e["active_units"], "kl_layers": last.get("kl_layers"),
                  "train_seconds": float(t1) - float(t0), "device": last["device"]}))
PY
}

run_peer() { # MODEL SEED
  local args
  args=$(peer_args "$1")
  [ -n "$args" ] && [ -z "${SKIP_PEER:-}" ] || return 0
  # shellcheck disable=SC2086
  /usr/bin/python3 "$PEER" $args --act tanh --binarize dynamic --batch 100 --epochs "$EPOCHS" \
    --seed "$2" --nll-k "$NLL_K" --nll-limit "$NLL_LIMIT" --threads 1 >"$TMP/peer.out" \
    2>"$TMP/peer.err" || { tail -3 "$TMP/peer.err"; return 1; }
  python3 - "$1" "$2" "$TMP/peer.out" <<'PY'
import json, sys
model, seed, out = sys.argv[1:]
lines = [json.loads(l) for l in open(out) if l.startswith("{")]
fin = [l for l in lines if l.get("final")][-1]
nll = [l for l in lines if "test_nll" in l][-1]
train = sum(l.get("seconds", 0) for l in lines if "epoch" in l and not l.get("final"))
print(json.dumps({"system": "pytorch", "model": model, "seed": int(seed),
                  "test_loss": fin["test_loss"], "nll": nll["test_nll"],
                  "nll_set_test_loss": nll.get("nll_set_test_loss"),
                  "active_units": fin.get("active_units"), "train_seconds": train}))
PY
}

echo "family.sh: $(date -u +%F) epochs $EPOCHS, NLL k=$NLL_K on $NLL_LIMIT test images; -> $OUT"
for seed in $SEEDS; do
  for model in $MODELS; do
    run_clvae "$model" "$seed" | tee -a "$OUT"
    run_peer "$model" "$seed" | tee -a "$OUT"
  done
done
python3 - "$OUT" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
print("\n| model | seed | clvae test_loss | peer test_loss | clvae NLL | peer NLL | NLL diff | clvae active | peer active |")
print("|---|---|---|---|---|---|---|---|---|")
key = lambda r: (r["model"], r["seed"])
by = {}
for r in rows:
    by.setdefault(key(r), {})[r["system"]] = r
for (m, s), d in by.items():
    c, p = d.get("clvae"), d.get("pytorch")
    f = lambda r, k: ("%.2f" % r[k]) if r and r.get(k) is not None else "-"
    diff = "%+.2f%%" % (100 * (c["nll"] - p["nll"]) / p["nll"]) if c and p else "-"
    print(f"| {m} | {s} | {f(c,'test_loss')} | {f(p,'test_loss')} | {f(c,'nll')} | {f(p,'nll')} | {diff} | "
          f"{c and c['active_units']} | {p and p['active_units']} |")
PY
