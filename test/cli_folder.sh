#!/usr/bin/env bash
# Image folders end to end on the reference backend: a 3-channel 64x64 folder (two classes of
# colourized Fashion-MNIST JPEGs and PNGs of several sizes, written here) trains a dense model a
# few steps with the test split by seed, writes RGB grids (PNG colour type 2), resumes bit for bit,
# `sample -o FILE.npy` gives (n, 3*64*64), `latents` writes the folder's class labels, a
# conditional model takes its classes from the folder, and bad folders are exit 2.
. "${CLVAE_SRC:?}/test/cli_common.bash"; cli_begin cli_folder
need_data
need_python numpy PIL

"$PY" - "$TMP" <<'PYEOF' || { echo "FAIL: writing the folder"; exit 1; }
import gzip, os, sys
import numpy as np
from PIL import Image
tmp = sys.argv[1]
root = os.path.join(tmp, "img")
with gzip.open("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz") as f:
    a = np.frombuffer(f.read(16 + 60 * 784)[16:], np.uint8).reshape(60, 28, 28)
for i, g in enumerate(a):
    cls = "pullover" if i % 2 else "boot"
    os.makedirs(os.path.join(root, cls), exist_ok=True)
    rgb = np.stack([g, 255 - g, g // 2], -1).astype(np.uint8)
    size = (64 + 8 * (i % 3), 64 + 4 * (i % 4))
    im = Image.fromarray(rgb).resize(size, Image.BILINEAR)
    name = os.path.join(root, cls, "%03d.%s" % (i, "jpg" if i % 3 else "png"))
    im.save(name) if i % 5 else im.convert("L").save(name)
os.makedirs(os.path.join(tmp, "single", "only"))
for k in range(2):
    Image.fromarray(a[k]).save(os.path.join(tmp, "single", "only", "%d.png" % k))
os.makedirs(os.path.join(tmp, "bad", "x"))
Image.fromarray(a[0]).save(os.path.join(tmp, "bad", "x", "a.png"))
open(os.path.join(tmp, "bad", "x", "b.jpg"), "wb").write(b"\xff\xd8\xff\xe0 truncated")
PYEOF

# PNG colour type and size: "TYPE W H".
png_head() {
  "$PY" -c 'import struct, sys
d = open(sys.argv[1], "rb").read(33)
w, h, depth, color = struct.unpack(">IIBB", d[16:26])
print(color, w, h)' "$1" 2>/dev/null || echo "unreadable"
}
common=(--set device.backend=ref --set data.image_size=64x64
        --set model.encoder=32 --set model.decoder=32 --set model.latent=4 --set train.batch=8
        --set data.train="$TMP/img" --set data.test=)

# 1. Train 2 epochs in one go, and 1 + 1 with a resume: the same tensors.
"$BIN" train "${common[@]}" --set train.epochs=2 --set output.dir="$TMP/full" >"$TMP/full.out" \
  2>"$TMP/full.err" && ok || bad "train on the folder: $(tail -3 "$TMP/full.err")"
grep -q "final test_loss=" "$TMP/full.out" && ok || bad "no final line: $(cat "$TMP/full.out")"
"$BIN" train "${common[@]}" --set train.epochs=1 --set output.dir="$TMP/half" >/dev/null \
  2>"$TMP/half.err" && ok || bad "train 1 epoch: $(tail -3 "$TMP/half.err")"
"$BIN" train --resume "$TMP/half" --set train.epochs=2 -q >/dev/null 2>"$TMP/res.err" && ok \
  || bad "resume: $(tail -3 "$TMP/res.err")"
"$PY" - "$TMP/full/checkpoint.safetensors" "$TMP/half/checkpoint.safetensors" <<'PYEOF' && ok \
  || bad "resumed checkpoint's tensors differ from the 2-epoch run's"
import json, struct, sys
def load(p):  # tensor bytes by name (the metadata holds paths and times)
    b = open(p, 'rb').read(); n = struct.unpack('<Q', b[:8])[0]
    h = json.loads(b[8:8 + n]); meta = h.pop('__metadata__', {})
    return {k: b[8 + n + v['data_offsets'][0]: 8 + n + v['data_offsets'][1]] for k, v in h.items()}, meta
(a, ma), (b, mb) = load(sys.argv[1]), load(sys.argv[2])
assert a.keys() == b.keys() and all(a[k] == b[k] for k in a), 'tensors differ'
assert ma['step'] == mb['step'], 'step differs'
PYEOF
grep -q "image cache" "$TMP/half.err" "$TMP/res.err" && ok || bad "the second decode did not use the cache"

# 2. RGB grids: colour type 2; samples: the batch's 8 draws in 3 x 3 cells of 64 px, pad 2.
[ "$(png_head "$TMP/full/samples.png")" = "2 $((3 * 64 + 8)) $((3 * 64 + 8))" ] && ok \
  || bad "samples.png: $(png_head "$TMP/full/samples.png"), expected RGB 200x200"
set -- $(png_head "$TMP/full/reconstructions.png")
[ "$1" = 2 ] && ok || bad "reconstructions.png colour type $1, expected 2 (RGB)"
"$BIN" sample --run "$TMP/full" -n 5 -o "$TMP/s.npy" >/dev/null 2>"$TMP/s.err" && ok || bad "sample -o npy: $(cat "$TMP/s.err")"
"$PY" -c 'import numpy as np, sys; a = np.load(sys.argv[1]); assert a.shape == (5, 3 * 64 * 64), a.shape' \
  "$TMP/s.npy" && ok || bad "sample -o FILE.npy shape"
"$BIN" reconstruct --run "$TMP/full" -n 4 -o "$TMP/r.png" >/dev/null 2>&1 \
  && [ "$(png_head "$TMP/r.png" | cut -d' ' -f1)" = 2 ] && ok || bad "reconstruct -o PNG not RGB"

# 3. latents: the folder's classes (boot = 0, pullover = 1) as labels of the test split.
"$BIN" latents --run "$TMP/full" >/dev/null 2>"$TMP/lat.err" && ok || bad "latents: $(cat "$TMP/lat.err")"
"$PY" -c 'import numpy as np, sys; l = np.load(sys.argv[1]); assert set(l.tolist()) <= {0, 1} and len(l) == 6, l' \
  "$TMP/full/latents_labels.npy" && ok || bad "latents_labels.npy: not 6 labels in {0, 1}"

# 4. A conditional model gets its classes from the folder.
"$BIN" train "${common[@]}" --set model.conditional=true --set train.epochs=1 \
  --set output.dir="$TMP/cond" >/dev/null 2>"$TMP/cond.err" && ok || bad "conditional: $(tail -3 "$TMP/cond.err")"
grep -q "^classes = 2" "$TMP/cond/config.ini" && ok || bad "conditional: classes not 2"

# 5. Bad folders: exit 2 naming the problem.
expect2() { # NAME PATTERN ARGS...
  local name=$1 pat=$2; shift 2
  "$BIN" train "${common[@]}" --set output.dir="$TMP/$name" "$@" >/dev/null 2>"$TMP/$name.err"; local rc=$?
  [ $rc -eq 2 ] && grep -q -- "$pat" "$TMP/$name.err" && ok || bad "$name: exit $rc: $(cat "$TMP/$name.err")"
}
expect2 single "needs at least 2 classes" --set data.train="$TMP/single" --set model.conditional=true
expect2 badfile "b.jpg: JPEG: " --set data.train="$TMP/bad"
"$BIN" train "${common[@]}" --set data.train="$TMP/bad" --set data.on_bad_image=skip \
  --set train.epochs=1 --set output.dir="$TMP/skip" >/dev/null 2>"$TMP/skip.err"; rc=$?
# one good image: the test split needs 2
[ $rc -eq 2 ] && grep -q "skipped 1 of 2 files" "$TMP/skip.err" && ok || bad "skip: exit $rc: $(cat "$TMP/skip.err")"
expect2 crop "smaller than data.center_crop = 200x200" --set data.center_crop=200x200
expect2 size "image_size = 64: must be HxW" --set data.image_size=64
mkdir -p "$TMP/empty"
expect2 empty "empty image folder" --set data.train="$TMP/empty"
cli_end
