#!/usr/bin/env bash
# The model family through the CLI (reference backend, a few hundred images): a two-layer IWAE
# run, eval --iw with the per-layer outputs, latents per layer, samples; and the bad inputs of
# the per-layer keys: exit 2 with a message naming the key and what would be valid.
. "${CLVAE_SRC:?}/test/cli_common.bash"; cli_begin cli_family
need_data
small=(-c "$SRC/config/iwae-2layer.ini" --set device.backend=ref --set data.limit_train=500
       --set data.limit_test=200 --set model.latent=8,4 --set "model.encoder=32 | 16"
       --set "model.decoder=16 | 32" --set train.epochs=2 -q)

# 1. Bad input: exit 2, the key named, what would be valid said.
expect2() { # DESCRIPTION PATTERN ARGS...
  local what=$1 pat=$2; shift 2
  "$BIN" train "${small[@]}" --set output.dir="$TMP/bad" "$@" >/dev/null 2>"$TMP/err"; rc=$?
  [ $rc -eq 2 ] && grep -q -- "$pat" "$TMP/err" && ok || bad "$what: exit $rc, stderr: $(cat "$TMP/err")"
}
expect2 "layer list that does not parse" "encoder.*groups separated by |" --set "model.encoder=32 | x"
expect2 "mismatched per-layer lists" "decoder has 1 group but latent = lists 2" --set model.decoder=32
expect2 "zero latent size" "latent.*\[1, 65536\]" --set model.latent=8,0
expect2 "negative width" "encoder.*\[1, 65536\]" --set "model.encoder=32 | -4"
expect2 "iwae with beta 2" "beta = 2 with \[train\] objective = iwae" --set model.beta=2
expect2 "samples = 0" "samples must be an integer >= 1" --set train.samples=0
expect2 "unknown objective" "objective must be one of: elbo, iwae" --set train.objective=vimco
expect2 "unknown binarization" "binarize must be one of: none, dynamic, fixed" --set data.binarize=otsu
[ ! -e "$TMP/bad/checkpoint.safetensors" ] && ok || bad "a rejected config wrote a checkpoint"

# 2. A two-layer IWAE run and what the inference commands make of it.
"$BIN" train "${small[@]}" --set output.dir="$TMP/run" >"$TMP/out" 2>"$TMP/err" || bad "train: $(cat "$TMP/err")"
line=$("$BIN" eval --run "$TMP/run" --iw 20 --set device.backend=ref 2>"$TMP/err") || bad "eval: $(cat "$TMP/err")"
python3 - "$line" <<'PY' && ok || bad "eval output: $line"
import json, math, sys
e = json.loads(sys.argv[1])
assert len(e["kl_layers"]) == 2 and len(e["active_units"]) == 2, e
assert 0 <= e["active_units"][0] <= 8 and 0 <= e["active_units"][1] <= 4, e
# log p(x) >= the bound of 20 samples >= the ELBO in expectation: the gap is positive here
# (on 200 images the ELBO's noise is far below the 20-sample bound's gain)
assert e["test_gap"] > 0 and math.isclose(e["test_gap"], e["test_loglik"] + e["test_loss"], abs_tol=1e-4), e
PY
"$BIN" latents --run "$TMP/run" -o "$TMP/lat" --set device.backend=ref >/dev/null 2>"$TMP/err" || bad "latents: $(cat "$TMP/err")"
python3 - "$TMP/lat" <<'PY' && ok || bad "latents per layer: $(ls "$TMP/lat")"
import struct, sys, ast
def shape(p):
    b = open(p, "rb").read(); n = struct.unpack("<H", b[8:10])[0]
    return ast.literal_eval(b[10:10 + n].decode())["shape"]
d = sys.argv[1]
assert shape(d + "/latents_mu_z1.npy") == (200, 8), shape(d + "/latents_mu_z1.npy")
assert shape(d + "/latents_mu_z2.npy") == (200, 4)
assert shape(d + "/latents_mu.npy") == (200, 4)   # the top layer
PY
"$BIN" sample --run "$TMP/run" -o "$TMP/s.png" --set device.backend=ref >/dev/null 2>"$TMP/err" && [ -s "$TMP/s.png" ] && ok || bad "sample: $(cat "$TMP/err")"

cli_end
