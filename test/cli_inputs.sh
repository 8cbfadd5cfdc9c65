#!/usr/bin/env bash
# Training on data as users bring it: NPY files made with numpy (python3-numpy) from real
# Fashion-MNIST images, with no label keys at all (labels follow the data), on the reference
# backend; a label file that is given and does not match is still exit 2.
. "${CLVAE_SRC:?}/test/cli_common.bash"; cli_begin cli_inputs
need_data
need_python numpy

# The first 1200 training and 300 test images of Fashion-MNIST as NPY files in several dtypes,
# shapes and orders, plus a 200-feature data set; all hold the same pixels (or a function of them).
$PY - "$DATA" "$TMP" <<'PYEOF' || { echo "FAIL: cannot make the NPY files"; exit 1; }
import gzip, sys
import numpy as np
data, out = sys.argv[1], sys.argv[2]
def idx(name, n):
    with gzip.open(f"{data}/{name}", "rb") as f:
        raw = f.read()
    return np.frombuffer(raw, np.uint8, offset=16, count=n * 784).reshape(n, 28, 28)
tr, te = idx("train-images-idx3-ubyte.gz", 1200), idx("t10k-images-idx3-ubyte.gz", 300)
for name, a in (("tr", tr), ("te", te)):
    np.save(f"{out}/{name}_u8.npy", a)                                   # (N, 28, 28) uint8
    np.save(f"{out}/{name}_f64.npy", a.reshape(len(a), 784) / 255.0)     # (N, 784) float64
    np.save(f"{out}/{name}_f16.npy", (a / 255.0).astype(np.float16))     # (N, 28, 28) float16
    np.save(f"{out}/{name}_i64.npy", a.astype(np.int64)[..., None])       # (N, 28, 28, 1) int64
    np.save(f"{out}/{name}_u16be.npy", a.astype(">u2"))                   # big-endian uint16
    np.save(f"{out}/{name}_fortran.npy", np.asfortranarray(a / 255.0).astype(np.float32))
    np.save(f"{out}/{name}_bool.npy", a > 127)                           # (N, 28, 28) bool
    np.save(f"{out}/{name}_d200.npy", (a.reshape(len(a), 784)[:, :200] / 255.0).astype(np.float32))
np.save(f"{out}/wrong_labels.npy", np.zeros(999, np.uint8))
bad = tr.astype(np.int32); bad[7, 3, 4] = 300
np.save(f"{out}/bad_range.npy", bad)
neg = tr.astype(np.int16); neg[2, 0, 1] = -1
np.save(f"{out}/bad_neg.npy", neg)
np.save(f"{out}/rgb.npy", np.zeros((4, 8, 8, 6), np.uint8))
PYEOF

common=(-c "$SRC/config/default.ini" --set device.backend=ref --set train.epochs=1 -q
        --set model.latent=2)
# train_on NAME TR TE [--set ...]: one epoch on TR, test set TE, no label keys.
train_on() {
  local name=$1 tr=$2 te=$3; shift 3
  "$BIN" train "${common[@]}" --set data.train="$TMP/$tr" --set data.test="$TMP/$te" \
    --set output.dir="$TMP/$name" "$@" >"$TMP/$name.out" 2>"$TMP/$name.err"
}

# 1. Own uint8 files, no label keys: trains; latents are uncoloured with a note.
train_on u8 tr_u8.npy te_u8.npy && ok || bad "u8 train exited $?: $(tail -3 "$TMP/u8.err")"
[ "$(wc -l < "$TMP/u8/metrics.jsonl" 2>/dev/null)" = 1 ] && ok || bad "u8: metrics.jsonl has not 1 line"
grep -q "labels" "$TMP/u8.err" && bad "u8 train mentions labels: $(cat "$TMP/u8.err")" || ok
"$BIN" latents --run "$TMP/u8" >"$TMP/lat.out" 2>"$TMP/lat.err" && ok || bad "latents failed: $(cat "$TMP/lat.err")"
grep -q "note: the test set has no labels" "$TMP/lat.err" && ok || bad "latents: no note: $(cat "$TMP/lat.err")"
[ -s "$TMP/u8/latents.svg" ] && [ ! -e "$TMP/u8/latents_labels.npy" ] && ok || bad "latents files"

# 2. A label file that is given and does not match: exit 2 naming it and the counts.
"$BIN" train "${common[@]}" --set data.train="$TMP/tr_u8.npy" --set data.test="$TMP/te_u8.npy" \
  --set data.train_labels="$TMP/wrong_labels.npy" --set output.dir="$TMP/wrong" >/dev/null 2>"$TMP/wrong.err"
rc=$?
[ $rc -eq 2 ] && grep -q "wrong_labels.npy: 999 labels, but .*tr_u8.npy has 1200 images" "$TMP/wrong.err" \
  && ok || bad "mismatched labels: exit $rc: $(cat "$TMP/wrong.err")"

# 3. The NPY files people have: each trains one epoch with a note saying how it was read.
#    float64 x/255 rounds to the same float32 as uint8 x/255 does, and integers of any width
#    and order hold the same pixels, so those runs (and the Fortran-order file, converted to
#    C order) must repeat the uint8 run's metrics exactly (timings aside). float16 rounds the
#    pixels to 11 bits (relative error <= 2^-11): its loss within 1%. bool thresholds them: a
#    different data set, only checked to train.
strip() { sed 's/"seconds":[^,]*,"samples_per_s":[^,]*,//' "$1/metrics.jsonl" 2>/dev/null; }
loss() { sed -n 's/.*"test_loss":\([0-9.]*\).*/\1/p' "$1/metrics.jsonl" 2>/dev/null; }
for kind in f64:"float64 ('<f8') converted to float32" f16:"float16 ('<f2') converted" \
            i64:"int64 ('<i8') read as 8-bit" u16be:"uint16 ('>u2') read as 8-bit" \
            fortran:"in Fortran order, converted to C order" bool:"bool ('|b1') read as 0/1"; do
  k=${kind%%:*}; note=${kind#*:}
  train_on "$k" "tr_$k.npy" "te_$k.npy" && ok || bad "$k train exited $?: $(tail -3 "$TMP/$k.err")"
  grep -qF "$note" "$TMP/$k.err" && ok || bad "$k: no note '$note': $(cat "$TMP/$k.err")"
  case $k in
    f16) awk -v l="$(loss "$TMP/f16")" -v r="$(loss "$TMP/u8")" 'BEGIN{d=l-r; if(d<0)d=-d; exit !(l > 0 && d < 0.01*r)}' \
           && ok || bad "f16: test loss $(loss "$TMP/f16") not within 1% of $(loss "$TMP/u8")" ;;
    bool) [ -n "$(loss "$TMP/bool")" ] && ok || bad "bool: no test loss" ;;
    *) [ "$(strip "$TMP/$k")" = "$(strip "$TMP/u8")" ] && ok \
         || bad "$k run differs from the uint8 run: $(strip "$TMP/$k") vs $(strip "$TMP/u8")" ;;
  esac
done

# 4. Values a reader must refuse: exit 2, the file, the place and what is valid.
expect2() { # expect2 NAME PATTERN ARGS...
  local name=$1 pat=$2; shift 2
  "$BIN" train "${common[@]}" --set output.dir="$TMP/$name" "$@" >/dev/null 2>"$TMP/$name.err"
  local rc=$?
  [ $rc -eq 2 ] && grep -qF -- "$pat" "$TMP/$name.err" && ok || bad "$name: exit $rc: $(cat "$TMP/$name.err")"
}
expect2 range "bad_range.npy: value 300 at sample 7, feature 88 (int32 '<i4') is outside 0..255" \
  --set data.train="$TMP/bad_range.npy" --set data.test="$TMP/te_u8.npy"
expect2 neg "bad_neg.npy: value -1 at sample 2, feature 1 (int16 '<i2') is outside 0..255" \
  --set data.train="$TMP/bad_neg.npy" --set data.test="$TMP/te_u8.npy"
expect2 rgb "rgb.npy: unsupported image shape with 4 dimensions and no channel dimension of 1..4" \
  --set data.train="$TMP/rgb.npy" --set data.test="$TMP/te_u8.npy"

# 5. One copy in memory: 20000 float64 images (125 MB on disk, 63 MB as float32) raise the peak
#    RSS over the same images as uint8 (16 MB) by about the float32 array's extra 47 MB; a reader
#    that held the float64 array as well would add 125 MB more. Bound: 47 + 30 MB (slack for
#    the allocator and the float evaluation buffers). Streamed residency: no backend copy.
$PY - "$TMP" <<'PYEOF'
import sys, numpy as np
out = sys.argv[1]
a = np.load(f"{out}/tr_u8.npy")
big = np.concatenate([a] * 17)[:20000]
np.save(f"{out}/big_u8.npy", big)
np.save(f"{out}/big_f64.npy", big / 255.0)
PYEOF
peak() { # peak NAME FILE: max RSS in kB of a 1-step training on FILE
  /usr/bin/time -f %M -o "$TMP/$1.rss" "$BIN" train "${common[@]}" --set data.train="$TMP/$2" \
    --set data.test="$TMP/te_u8.npy" --set data.residency=stream --set train.max_steps=1 \
    --set output.dir="$TMP/$1" >/dev/null 2>&1 || bad "$1 training failed"
  tail -n 1 "$TMP/$1.rss"
}
r8=$(peak rss_u8 big_u8.npy); r64=$(peak rss_f64 big_f64.npy)
awk -v a="$r8" -v b="$r64" 'BEGIN{d=(b-a)/1024; exit !(d > 30 && d < 77)}' && ok \
  || bad "peak RSS: uint8 ${r8} kB, float64 ${r64} kB: the difference is not ~47 MB (one float32 copy)"

# 6. Image shape. Grid geometry from src/io/png.c: cols*w + (cols+1)*2 by rows*h + (rows+1)*2;
#    samples.png is 8 x 8 cells, reconstructions.png 10 x 4 (20 originals over their
#    reconstructions). The PNG's IHDR holds width and height.
png_wh() { $PY -c 'import struct,sys; d=open(sys.argv[1],"rb").read(24); print(*struct.unpack(">II", d[16:24]))' "$1" 2>/dev/null; }
grids_are() { # grids_are RUN H W
  [ "$(png_wh "$TMP/$1/samples.png")" = "$((8 * $3 + 18)) $((8 * $2 + 18))" ] && ok \
    || bad "$1 samples.png is $(png_wh "$TMP/$1/samples.png"), expected cells of ${2}x${3}"
  [ "$(png_wh "$TMP/$1/reconstructions.png")" = "$((10 * $3 + 22)) $((4 * $2 + 10))" ] && ok \
    || bad "$1 reconstructions.png is $(png_wh "$TMP/$1/reconstructions.png"), expected cells of ${2}x${3}"
}
grids_are u8 28 28        # NPY (n, 28, 28)
grids_are f64 28 28       # NPY (n, 784): a square number of features
train_on shape56 tr_f64.npy te_f64.npy --set data.image_shape=56x14 && ok || bad "image_shape=56x14 failed"
grids_are shape56 56 14
# 200 features: no grids, one note, metrics and loss.svg as usual; image_shape makes them images.
train_on d200 tr_d200.npy te_d200.npy && ok || bad "d200 train exited $?: $(tail -3 "$TMP/d200.err")"
[ ! -e "$TMP/d200/samples.png" ] && [ ! -e "$TMP/d200/reconstructions.png" ] && ok || bad "d200 has grids"
[ "$(grep -c "note: .*200 features per sample and no grey or RGB image shape" "$TMP/d200.err")" = 1 ] && ok \
  || bad "d200: not one note: $(cat "$TMP/d200.err")"
[ -s "$TMP/d200/loss.svg" ] && [ "$(wc -l < "$TMP/d200/metrics.jsonl")" = 1 ] && ok || bad "d200 metrics/loss.svg"
"$BIN" sample --run "$TMP/d200" >/dev/null 2>"$TMP/d200s.err"; rc=$?
[ $rc -eq 2 ] && grep -q "200 features per sample are not a grey or RGB image.*data.image_shape=HxW" "$TMP/d200s.err" \
  && ok || bad "sample on d200: exit $rc: $(cat "$TMP/d200s.err")"
"$BIN" sample --run "$TMP/d200" --set data.image_shape=10x20 -o "$TMP/d200.png" >/dev/null 2>&1 \
  && [ "$(png_wh "$TMP/d200.png")" = "$((8 * 20 + 18)) $((8 * 10 + 18))" ] && ok || bad "sample with image_shape=10x20"
expect2 badshape "[data] image_shape = 28x29: must be auto, none, HxW or HxWxC with H * W * C = 784" \
  --set data.train="$TMP/tr_u8.npy" --set data.test="$TMP/te_u8.npy" --set data.image_shape=28x29

cli_end
