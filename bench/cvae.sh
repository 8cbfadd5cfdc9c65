#!/usr/bin/env bash
# The conditional VAE side by side with the PyTorch peer (../shared/peer/torch_family.py --model
# cvae): the default architecture (784-400-20-400-784, ReLU, Bernoulli on the [0, 1] pixels) plus
# onehot(label) of the 10 classes at the encoder's and the decoder's input, Adam 1e-3, batch 128,
# EPOCHS (default 10) epochs, the same data, in one run:
#   bench/cvae.sh [BUILD_DIR]            (EPOCHS=10, SEED=1, OUT=bench/results/cvae.jsonl)
# Reports each side's test_loss (negative ELBO per test image, all 10k, true labels) and how often
# 100 conditional samples per class are of the asked class, by one fixed classifier for both:
# ridge regression to one-hot on the 60k training images (its test accuracy is printed too).
# Pass: clvae's test_loss within 1% of the peer's.
set -u
BUILD=${1:-build}
BIN=$BUILD/clvae
PEER=${PEER:-../shared/peer/torch_family.py}
EPOCHS=${EPOCHS:-10}
SEED=${SEED:-1}
OUT=${OUT:-bench/results/cvae.jsonl}   # the figures in docs/model-family.md (Conditional VAEs): bench/cvae.jsonl
TMP=$(mktemp -d /tmp/clvae-cvae.XXXXXX)
trap 'rm -rf "$TMP"' EXIT
[ -x "$BIN" ] || { echo "cvae.sh: $BIN not found; build first"; exit 2; }
mkdir -p "$(dirname "$OUT")"
echo "cvae.sh: $(date -u +%F) epochs $EPOCHS seed $SEED -> $OUT"

t0=$(date +%s.%N)
"$BIN" train -c config/cvae.ini --set train.epochs="$EPOCHS" --set train.seed="$SEED" \
  --set output.dir="$TMP/run" -q >"$TMP/train.out" 2>"$TMP/train.err" || { tail -3 "$TMP/train.err"; exit 1; }
t1=$(date +%s.%N)
"$BIN" sample --run "$TMP/run" -n 1000 -o "$TMP/clvae_samples.npy" >/dev/null 2>"$TMP/s.err" \
  || { tail -3 "$TMP/s.err"; exit 1; }
/usr/bin/python3 "$PEER" --model cvae --epochs "$EPOCHS" --batch 128 --seed "$SEED" --threads 1 \
  --save-samples "$TMP/peer_samples.npy" >"$TMP/peer.out" 2>"$TMP/peer.err" \
  || { tail -3 "$TMP/peer.err"; exit 1; }

/usr/bin/python3 - "$TMP" "$t0" "$t1" "$EPOCHS" "$OUT" <<'PY'
import gzip, json, sys
import numpy as np
tmp, t0, t1, epochs, out = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
D = "/usr/share/datasets/fashion-mnist/"
def images(f):
    return np.frombuffer(gzip.open(D + f).read()[16:], np.uint8).reshape(-1, 784) / 255.0
def labels(f):
    return np.frombuffer(gzip.open(D + f).read()[8:], np.uint8)
X, y = images("train-images-idx3-ubyte.gz"), labels("train-labels-idx1-ubyte.gz")
Xt, yt = images("t10k-images-idx3-ubyte.gz"), labels("t10k-labels-idx1-ubyte.gz")
A = np.hstack([X, np.ones((len(X), 1))])
W = np.linalg.solve(A.T @ A + 1.0 * np.eye(785), A.T @ np.eye(10)[y])
classify = lambda Z: (np.hstack([Z, np.ones((len(Z), 1))]) @ W).argmax(1)
acc_test = float((classify(Xt) == yt).mean())
want = np.repeat(np.arange(10), 100)  # both sample files are class-major, 100 per class
hit = {s: float((classify(np.load(f"{tmp}/{s}_samples.npy").astype(np.float64)) == want).mean())
       for s in ("clvae", "peer")}
c = [json.loads(l) for l in open(f"{tmp}/run/metrics.jsonl")][-1]
pl = [json.loads(l) for l in open(f"{tmp}/peer.out") if l.startswith("{")]
p = [l for l in pl if l.get("final")][-1]
ptrain = sum(l.get("seconds", 0) for l in pl if "epoch" in l and not l.get("final"))
rows = [{"system": "clvae", "model": "cvae", "epochs": epochs, "test_loss": c["test_loss"],
         "class_hit": hit["clvae"], "train_seconds": t1 - t0, "device": c["device"]},
        {"system": "pytorch", "model": "cvae", "epochs": epochs, "test_loss": p["test_loss"],
         "class_hit": hit["peer"], "train_seconds": ptrain}]
with open(out, "a") as f:
    for r in rows:
        f.write(json.dumps(r) + "\n")
rel = (c["test_loss"] - p["test_loss"]) / p["test_loss"]
print("| system | test_loss | samples of the asked class | training s |")
print("|---|---|---|---|")
for r in rows:
    print(f"| {r['system']} | {r['test_loss']:.2f} | {100 * r['class_hit']:.0f}% | {r['train_seconds']:.0f} |")
print(f"clvae vs peer test_loss: {100 * rel:+.2f}% (bound 1%): {'pass' if abs(rel) <= 0.01 else 'FAIL'}; "
      f"classifier (ridge, pixels) test accuracy {100 * acc_test:.1f}%")
sys.exit(0 if abs(rel) <= 0.01 else 1)
PY
