#!/usr/bin/env bash
# Issue 10's two model families side by side with the PyTorch peer
# (../shared/peer/torch_family.py), each in one run of both systems:
#   bench/cond.sh [BUILD_DIR]        (MODELS="cvae gumbel", EPOCHS=10, SEED=1)
# cvae    bench/cvae.sh: the conditional VAE's test loss and its samples' class (bound: 1%).
# gumbel  config/gumbel.ini (30x10 categorical latents, encoder 512,256, decoder 256,512, ReLU,
#         batch 100, dynamically binarized Fashion-MNIST, tau = max(0.5, exp(-3e-5 step))) vs
#         the peer's --model gumbel with the same settings. Reported for both: the relaxed
#         test_loss at the last temperature (not a bound), the one-hot test ELBO
#         (test_loss_onehot; both over all 10k test images, each system's own binarization of
#         the test set) and the NLL, importance-sampled with NLL_K (1000) one-hot samples from
#         q and the uniform prior on the first NLL_LIMIT (2000) test images. Bound: clvae's NLL
#         within 2% of the peer's. FLUSH_DENORMAL=1 passes the peer --flush-denormal (its
#         gumbel model slows ~2x after epoch 1 without it; the losses are unchanged).
#         CROSS=1 (default) also evaluates clvae's trained parameters with the peer's own
#         GumbelVAE and evaluator (bench/gumbel_cross.py: load_state_dict, the peer's test
#         binarization and noise), so the two evaluations' differences drop out of that row.
#         CACHE=DIR runs clvae with device.cache=DIR (a copy of the shared cache, say, so a
#         first-use GEMM tuning of this model's shapes does not rewrite the shared file).
# Output: one JSON line per system and model appended to $OUT (bench/results/cond.jsonl).
set -u
BUILD=${1:-build}
BIN=$BUILD/clvae
PEER=${PEER:-../shared/peer/torch_family.py}
MODELS=${MODELS:-"cvae gumbel"}
EPOCHS=${EPOCHS:-10}
SEED=${SEED:-1}
NLL_K=${NLL_K:-1000}
NLL_LIMIT=${NLL_LIMIT:-2000}
OUT=${OUT:-bench/results/cond.jsonl}
[ -x "$BIN" ] || { echo "cond.sh: $BIN not found; build first"; exit 2; }
mkdir -p "$(dirname "$OUT")"
rc=0

run_gumbel() {
  local tmp t0 t1 flush=""
  tmp=$(mktemp -d /tmp/clvae-gumbel.XXXXXX)
  local cache=()
  [ "${FLUSH_DENORMAL:-0}" = 1 ] && flush=--flush-denormal
  [ -n "${CACHE:-}" ] && cache=(--set device.cache="$CACHE")
  echo "cond.sh gumbel: $(date -u +%FT%TZ) epochs $EPOCHS seed $SEED NLL K=$NLL_K on $NLL_LIMIT images; load $(cut -d' ' -f1-3 /proc/loadavg)"
  t0=$(date +%s.%N)
  "$BIN" train -c config/gumbel.ini --set train.epochs="$EPOCHS" --set train.seed="$SEED" \
    --set output.dir="$tmp/run" "${cache[@]}" -q >"$tmp/train.out" 2>"$tmp/train.err" || { tail -3 "$tmp/train.err"; return 1; }
  t1=$(date +%s.%N)
  "$BIN" eval --run "$tmp/run" --iw "$NLL_K" --set data.limit_test="$NLL_LIMIT" "${cache[@]}" >"$tmp/eval.out" \
    2>"$tmp/eval.err" || { tail -3 "$tmp/eval.err"; return 1; }
  # shellcheck disable=SC2086
  /usr/bin/python3 "$PEER" --model gumbel --binarize dynamic --batch 100 --epochs "$EPOCHS" \
    --seed "$SEED" --threads 1 --nll-k "$NLL_K" --nll-limit "$NLL_LIMIT" $flush >"$tmp/peer.out" \
    2>"$tmp/peer.err" || { tail -3 "$tmp/peer.err"; return 1; }
  if [ "${CROSS:-1}" = 1 ]; then
    local tau
    tau=$(/usr/bin/python3 -c "import json; print([json.loads(l) for l in open('$tmp/run/metrics.jsonl')][-1]['tau'])")
    /usr/bin/python3 bench/gumbel_cross.py "$tmp/run/checkpoint.safetensors" "$PEER" "$tau" \
      "$NLL_K" "$NLL_LIMIT" "$SEED" >"$tmp/cross.out" 2>"$tmp/cross.err" || { tail -3 "$tmp/cross.err"; return 1; }
  fi
  /usr/bin/python3 - "$tmp" "$t0" "$t1" "$EPOCHS" "$OUT" "$NLL_K" "$NLL_LIMIT" "$flush" <<'PY'
import json, sys
tmp, t0, t1, epochs, out, k, lim, flush = sys.argv[1:9]
c = [json.loads(l) for l in open(f"{tmp}/run/metrics.jsonl")][-1]
e = json.loads(open(f"{tmp}/eval.out").read())
pl = [json.loads(l) for l in open(f"{tmp}/peer.out") if l.startswith("{")]
p = [l for l in pl if l.get("final")][-1]
ptrain = sum(l.get("seconds", 0) for l in pl if "epoch" in l and not l.get("final"))
rows = [{"system": "clvae", "model": "gumbel", "epochs": int(epochs), "tau": c["tau"],
         "test_loss": c["test_loss"], "test_loss_onehot": c["test_loss_onehot"],
         "test_nll": -e["test_loglik"], "nll_k": int(k), "nll_images": int(lim),
         "train_seconds": float(t1) - float(t0), "device": c["device"]},
        {"system": "pytorch", "model": "gumbel", "epochs": int(epochs), "tau": p.get("tau"),
         "test_loss": p["test_loss"], "test_loss_onehot": p["test_loss_onehot"],
         "test_nll": p["test_nll"], "nll_k": int(k), "nll_images": int(lim),
         "train_seconds": ptrain, "flush_denormal": bool(flush)}]
tau_peer = [l for l in pl if "tau" in l]
if tau_peer: rows[1]["tau"] = tau_peer[-1]["tau"]
try:  # CROSS: clvae's parameters, the peer's evaluator
    x = json.loads(open(f"{tmp}/cross.out").read())
    rows.append({"system": "clvae params, peer evaluator", "model": "gumbel", "epochs": int(epochs),
                 "tau": c["tau"], "test_loss": x["test_loss"], "test_loss_onehot": x["test_loss_onehot"],
                 "test_nll": x["test_nll"], "nll_k": int(k), "nll_images": int(lim), "train_seconds": 0.0})
except FileNotFoundError:
    pass
with open(out, "a") as f:
    for r in rows:
        f.write(json.dumps(r) + "\n")
rel = (rows[0]["test_nll"] - rows[1]["test_nll"]) / rows[1]["test_nll"]
print("| system | tau | relaxed test_loss | one-hot test ELBO | NLL (K=%s, %s images) | training s |" % (k, lim))
print("|---|---|---|---|---|---|")
for r in rows:
    print(f"| {r['system']} | {r['tau']:.4f} | {r['test_loss']:.2f} | {r['test_loss_onehot']:.2f} | "
          f"{r['test_nll']:.2f} | {r['train_seconds']:.0f} |")
print(f"clvae vs peer NLL: {100 * rel:+.2f}% (bound 2%): {'pass' if abs(rel) <= 0.02 else 'FAIL'}")
sys.exit(0 if abs(rel) <= 0.02 else 1)
PY
  local st=$?
  rm -rf "$tmp"
  return $st
}

for model in $MODELS; do
  case $model in
    cvae) OUT=$OUT EPOCHS=$EPOCHS SEED=$SEED PEER=$PEER bash bench/cvae.sh "$BUILD" || rc=1 ;;
    gumbel) run_gumbel || rc=1 ;;
    *) echo "cond.sh: unknown model $model (cvae, gumbel)"; exit 2 ;;
  esac
done
exit $rc
