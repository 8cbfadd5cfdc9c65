#!/usr/bin/env bash
# What people look at: trains tiny runs (latent 2 and 5, reference backend) and checks the run
# directory's PNGs/SVG, then `clvae latents` (NPY shapes, scatter SVG) and `clvae interpolate`
# (PNG sizes), by decoding the files with python3's standard library (zlib, struct, ast).
. "${CLVAE_SRC:?}/test/cli_common.bash"; cli_begin cli_visual
need_data

# Prints "WIDTH HEIGHT" of an 8-bit PNG after inflating every IDAT chunk and checking that the
# scanlines (filter byte + w*channels bytes each) fill the image exactly; exits 1 otherwise.
png_size() {
  python3 -c '
import struct, sys, zlib
d = open(sys.argv[1], "rb").read()
assert d[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
pos, idat, ihdr = 8, b"", None
while pos < len(d):
    n, kind = struct.unpack(">I4s", d[pos:pos + 8])
    body = d[pos + 8:pos + 8 + n]
    assert zlib.crc32(kind + body) == struct.unpack(">I", d[pos + 8 + n:pos + 12 + n])[0], "CRC"
    if kind == b"IHDR": ihdr = struct.unpack(">IIBB", body[:10])
    if kind == b"IDAT": idat += body
    pos += 12 + n
w, h, depth, color = ihdr
chans = {0: 1, 2: 3, 4: 2, 6: 4}[color]
assert depth == 8 and len(zlib.decompress(idat)) == h * (1 + w * chans), "bad pixel data"
print(w, h)' "$1" 2>/dev/null || echo "undecodable"
}
# Grid size from src/io/png.c: cols*w + (cols+1)*pad by rows*h + (rows+1)*pad, 28x28, pad 2.
grid() { echo "$(( $1 * 28 + ($1 + 1) * 2 )) $(( $2 * 28 + ($2 + 1) * 2 ))"; }
check_png() { # check_png FILE COLS ROWS
  local got; got=$(png_size "$1")
  [ "$got" = "$(grid "$2" "$3")" ] && ok || bad "$1: size '$got', expected $(grid "$2" "$3") ($2 x $3 cells)"
}
# Prints the shape of an NPY file as "n,R" (or "n," for 1-D) from its header, and its dtype.
npy_shape() {
  python3 -c '
import ast, struct, sys
d = open(sys.argv[1], "rb").read()
assert d[:6] == b"\x93NUMPY"
n = struct.unpack("<H", d[8:10])[0] if d[6] == 1 else struct.unpack("<I", d[8:12])[0]
off = 10 if d[6] == 1 else 12
h = ast.literal_eval(d[off:off + n].decode("latin1"))
print(",".join(str(s) for s in h["shape"]) + ("," if len(h["shape"]) == 1 else ""), h["descr"])' "$1" 2>/dev/null || echo "unreadable"
}

for R in 2 5; do
  run="$TMP/run$R"
  "$BIN" train -c "$SRC/config/default.ini" --set device.backend=ref --set data.limit_train=2000 \
    --set data.limit_test=300 --set train.epochs=1 --set model.encoder=64 --set model.decoder=64 \
    --set model.latent=$R --set output.dir="$run" -q >"$TMP/train$R.out" 2>"$TMP/train$R.err" \
    && ok || { bad "train (latent $R) failed: $(tail -3 "$TMP/train$R.err")"; continue; }
  # Run directory: 64 samples in an 8x8 grid; 20 test images over their reconstructions:
  # 10 columns, 2 pairs of rows.
  check_png "$run/samples.png" 8 8
  check_png "$run/reconstructions.png" 10 4
  grep -q "<polyline" "$run/loss.svg" && ok || bad "loss.svg (latent $R) has no <polyline"

  # clvae latents: (n, R) float32 means, (n) u8 labels, a scatter with one <circle per point.
  "$BIN" latents --run "$run" >"$TMP/lat.out" 2>"$TMP/lat.err" && ok || bad "latents failed: $(cat "$TMP/lat.err")"
  [ "$(npy_shape "$run/latents_mu.npy")" = "300,$R <f4" ] && ok \
    || bad "latents_mu.npy: $(npy_shape "$run/latents_mu.npy"), expected 300,$R <f4"
  [ "$(npy_shape "$run/latents_labels.npy")" = "300, |u1" ] && ok \
    || bad "latents_labels.npy: $(npy_shape "$run/latents_labels.npy"), expected 300, |u1"
  [ "$(grep -c "<circle" "$run/latents.svg" 2>/dev/null)" -ge 300 ] && ok || bad "latents.svg (latent $R) lacks 300 <circle"
  [ "$(wc -l < "$TMP/lat.out")" -eq 3 ] && ok || bad "latents printed $(wc -l < "$TMP/lat.out") paths, expected 3"

  # clvae interpolate: a row of 10, and R rows of 10 for the traversal.
  "$BIN" interpolate --run "$run" >"$TMP/int.out" 2>"$TMP/int.err" && ok || bad "interpolate failed: $(cat "$TMP/int.err")"
  check_png "$run/interpolation.png" 10 1
  check_png "$run/traversal.png" 10 "$R"
done

# -o: latents into a new directory, interpolate with a file prefix and 5 steps.
run="$TMP/run5"
"$BIN" latents --run "$run" -o "$TMP/lat_out/sub" >/dev/null 2>"$TMP/err" && ok || bad "latents -o failed: $(cat "$TMP/err")"
[ -s "$TMP/lat_out/sub/latents_mu.npy" ] && [ -s "$TMP/lat_out/sub/latents.svg" ] && ok || bad "latents -o wrote nothing"
"$BIN" interpolate --run "$run" -n 5 -o "$TMP/pre_" >/dev/null 2>"$TMP/err" && ok || bad "interpolate -o failed: $(cat "$TMP/err")"
check_png "$TMP/pre_interpolation.png" 5 1
check_png "$TMP/pre_traversal.png" 5 5
# The PCA title's variance shares agree with numpy's eigenvalues (when Debian's numpy is there).
if /usr/bin/python3 -c "import numpy" 2>/dev/null; then
  /usr/bin/python3 -c '
import re, sys, numpy as np
mu = np.load(sys.argv[1]).astype(np.float64)
w = np.linalg.eigvalsh(np.cov(mu.T, bias=True))[::-1]
t = re.search(r"x = PC1 \((\d+)% of variance\), y = PC2 \((\d+)%\)", open(sys.argv[2]).read())
got, want = [int(t.group(1)), int(t.group(2))], [100 * w[0] / w.sum(), 100 * w[1] / w.sum()]
sys.exit(0 if all(abs(g - e) <= 0.51 for g, e in zip(got, want)) else f"PCA {got} vs numpy {want}")
' "$run/latents_mu.npy" "$run/latents.svg" && ok || bad "latents.svg PCA disagrees with numpy"
fi
# Bad input: fewer than 2 steps, a missing run.
"$BIN" interpolate --run "$run" -n 1 >/dev/null 2>"$TMP/err"; rc=$?
[ $rc -eq 2 ] && grep -q "steps" "$TMP/err" && ok || bad "interpolate -n 1 exited $rc: $(cat "$TMP/err")"
"$BIN" latents --run "$TMP/nosuch" >/dev/null 2>"$TMP/err"; rc=$?
[ $rc -eq 2 ] && ok || bad "latents on a missing run exited $rc"
"$BIN" latents --help | grep -q "latents_mu.npy" && ok || bad "latents --help"
"$BIN" interpolate --help | grep -q "traversal" && ok || bad "interpolate --help"

cli_end
