#!/usr/bin/env bash
# The conditional VAE through the CLI (reference backend, a few hundred images): training writes
# the resolved model.classes and (H, D + C) first-layer weights under the documented names;
# resume is bit-exact; sample draws one row per class, --label one class, -o FILE.npy the
# (n, D) means; reconstruct -o FILE.npy; interpolate; and the bad inputs (conditional without
# labels, a label count that does not match, labels outside 0..C-1, --label out of range or on
# an unconditional run): exit 2 naming the key or the file, the index and the value; bench.
. "${CLVAE_SRC:?}/test/cli_common.bash"; cli_begin cli_cvae
need_data
need_python numpy
small=(-c "$SRC/config/cvae.ini" --set device.backend=ref --set data.limit_train=600
       --set data.limit_test=200 --set model.encoder=32 --set model.decoder=32
       --set model.latent=4 --set model.classes=0 --set train.batch=100 --set train.epochs=2 -q)

# 1. Bad input: exit 2 and the message names what is wrong.
expect2() { # DESCRIPTION PATTERN COMMAND...
  local what=$1 pat=$2; shift 2
  "$@" >/dev/null 2>"$TMP/err"; rc=$?
  [ $rc -eq 2 ] && grep -q -- "$pat" "$TMP/err" && ok || bad "$what: exit $rc, stderr: $(cat "$TMP/err")"
}
tr2() { "$BIN" train "${small[@]}" --set output.dir="$TMP/bad" "$@"; }
expect2 "conditional without train labels" "conditional = true needs \[data\] train_labels" tr2 --set data.train_labels=
expect2 "conditional with own data, labels auto" "needs \[data\] test_labels: it is auto" \
  tr2 --set data.test="$DATA/./t10k-images-idx3-ubyte.gz"
expect2 "missing label file" "$TMP/none.idx" tr2 --set data.train_labels="$TMP/none.idx"
"$PY" -c "import numpy as np; np.save('$TMP/ten.npy', np.arange(10) % 10)"
expect2 "label count mismatch" "ten.npy: 10 labels, but .* has 10000 images" tr2 --set data.test_labels="$TMP/ten.npy"
# Fashion-MNIST's first training label is 9 (ankle boot)
expect2 "train label outside 0..C-1" "train-labels-idx1-ubyte.gz: label 9 at index 0 is outside 0..4" tr2 --set model.classes=5
"$PY" -c "
import numpy as np, gzip
y = np.frombuffer(gzip.open('$DATA/t10k-labels-idx1-ubyte.gz').read()[8:], np.uint8).astype(np.int64)
y[7] = 10; np.save('$TMP/test11.npy', y)"
expect2 "test label outside the training labels' classes" "test11.npy: label 10 at index 7 is outside 0..9" \
  tr2 --set data.test_labels="$TMP/test11.npy"
[ ! -e "$TMP/bad/checkpoint.safetensors" ] && ok || bad "a rejected run wrote a checkpoint"

# 2. Training: classes resolved from the labels, tensor names and shapes as nn.Linear(in + C, H).
"$BIN" train "${small[@]}" --set output.dir="$TMP/run" >"$TMP/out" 2>"$TMP/err" || bad "train: $(cat "$TMP/err")"
grep -q "^classes = 10$" "$TMP/run/config.ini" && ok || bad "config.ini lacks the resolved classes = 10"
"$PY" - "$TMP/run/checkpoint.safetensors" <<'PY' && ok || bad "checkpoint shapes"
import json, struct, sys
b = open(sys.argv[1], "rb").read(); n = struct.unpack("<Q", b[:8])[0]; h = json.loads(b[8:8 + n])
want = {"encoder.0.weight": [32, 794], "encoder.mu.weight": [4, 32], "decoder.0.weight": [32, 14],
        "decoder.out.weight": [784, 32]}
for k, s in want.items():
    assert h[k]["shape"] == s, (k, h[k]["shape"], s)
PY

# 3. Resume: stop after 3 steps, resume, equal to the uninterrupted run bit for bit.
"$BIN" train "${small[@]}" --set train.max_steps=3 --set output.dir="$TMP/mid" 2>"$TMP/err" || bad "max_steps run: $(cat "$TMP/err")"
"$BIN" train --resume "$TMP/mid" --set train.max_steps=0 -q 2>"$TMP/err" || bad "resume: $(cat "$TMP/err")"
"$PY" - "$TMP/run/checkpoint.safetensors" "$TMP/mid/checkpoint.safetensors" <<'PY' && ok || bad "resume not bit-identical"
import json, struct, sys
def load(p):
    b = open(p, "rb").read(); n = struct.unpack("<Q", b[:8])[0]
    h = json.loads(b[8:8 + n]); h.pop("__metadata__", None)
    return {k: b[8 + n + v["data_offsets"][0]: 8 + n + v["data_offsets"][1]] for k, v in h.items()}
a, b = load(sys.argv[1]), load(sys.argv[2])
assert a.keys() == b.keys() and all(a[k] == b[k] for k in a), "tensors differ"
PY

# 4. Samples, reconstructions, interpolation.
"$BIN" sample --run "$TMP/run" --set device.backend=ref -o "$TMP/grid.png" >/dev/null 2>"$TMP/err" || bad "sample grid: $(cat "$TMP/err")"
"$PY" - "$TMP/grid.png" <<'PY' && ok || bad "per-class grid is not 10 rows of 10"
import struct, sys
b = open(sys.argv[1], "rb").read(); w, h = struct.unpack(">II", b[16:24])
# 10 x 10 tiles of 28 px with 2 px gaps
assert w == h and 280 < w < 2 * 280, (w, h)  # 10 x 10 tiles of 28 px and their gaps
PY
for c in 3 7; do
  "$BIN" sample --run "$TMP/run" --set device.backend=ref -n 16 --label $c -o "$TMP/l$c.npy" >/dev/null 2>"$TMP/err" || bad "sample --label $c: $(cat "$TMP/err")"
done
"$BIN" sample --run "$TMP/run" --set device.backend=ref -o "$TMP/all.npy" >/dev/null 2>"$TMP/err" || bad "sample -o npy: $(cat "$TMP/err")"
"$BIN" reconstruct --run "$TMP/run" --set device.backend=ref -n 12 -o "$TMP/rec.npy" >/dev/null 2>"$TMP/err" || bad "reconstruct -o npy: $(cat "$TMP/err")"
"$PY" - "$TMP" <<'PY' && ok || bad "npy outputs"
import sys, numpy as np
d = sys.argv[1]
a, b, g, r = (np.load(f"{d}/{n}.npy") for n in ("l3", "l7", "all", "rec"))
assert a.shape == (16, 784) and a.dtype == np.float32 and g.shape == (100, 784) and r.shape == (12, 784)
assert ((a >= 0) & (a <= 1)).all()
# the same 16 z draws under two labels: the label changes the means
assert np.abs(a - b).mean() > 1e-3, np.abs(a - b).mean()
PY
"$BIN" interpolate --run "$TMP/run" --set device.backend=ref -o "$TMP/" >/dev/null 2>"$TMP/err" && [ -s "$TMP/interpolation.png" ] && ok || bad "interpolate: $(cat "$TMP/err")"
expect2 "--label outside 0..C-1" "label 10: this conditional model has classes 0..9" \
  "$BIN" sample --run "$TMP/run" --set device.backend=ref --label 10 -o "$TMP/x.npy"
# an unconditional run: -o FILE.npy works for it too, --label is refused
"$BIN" train -c "$SRC/config/default.ini" --set device.backend=ref --set data.limit_train=300 \
  --set data.limit_test=100 --set model.encoder=16 --set model.decoder=16 --set model.latent=2 \
  --set train.epochs=1 -q --set output.dir="$TMP/plain" 2>"$TMP/err" || bad "plain train: $(cat "$TMP/err")"
"$BIN" sample --run "$TMP/plain" --set device.backend=ref -n 5 -o "$TMP/plain.npy" >/dev/null 2>"$TMP/err" &&
  "$PY" -c "import numpy as np; assert np.load('$TMP/plain.npy').shape == (5, 784)" && ok || bad "plain sample -o npy: $(cat "$TMP/err")"
expect2 "--label on an unconditional run" "not conditional" \
  "$BIN" sample --run "$TMP/plain" --set device.backend=ref --label 1

# bench opens the training set itself: the labels and the resolved classes come along
"$BIN" bench -c "$SRC/config/cvae.ini" --set device.backend=ref --set data.limit_train=600 \
  --set model.encoder=32 --set model.decoder=32 --set model.classes=0 --steps 5 >"$TMP/bench" 2>"$TMP/err" && grep -q samples_per_s "$TMP/bench" && ok || bad "bench: $(cat "$TMP/err")"

cli_end
