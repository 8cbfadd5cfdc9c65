#!/usr/bin/env bash
# The Gumbel-softmax (categorical-latent) model through the CLI (reference backend, a few
# hundred images): the bad inputs of its keys exit 2 naming the key and the valid values;
# training writes the PyTorch GumbelVAE's tensor names and shapes, tau and test_loss_onehot in
# metrics.jsonl; a mid-epoch resume is bit-exact with the temperature schedule; eval reports the
# one-hot ELBO and --iw K; sample draws one-hot prior codes; latents writes the codes and usage.
. "${CLVAE_SRC:?}/test/cli_common.bash"; cli_begin cli_gumbel
need_data
need_python numpy
small=(-c "$SRC/config/gumbel.ini" --set device.backend=ref --set data.limit_train=600
       --set data.limit_test=200 --set model.encoder=32,16 --set model.decoder=16,32
       --set model.categorical=4x5 --set train.epochs=2 --set train.tau_decay=0.05 -q)

# 1. Bad input: exit 2 and the message names the key and what is valid.
expect2() { # DESCRIPTION PATTERN COMMAND...
  local what=$1 pat=$2; shift 2
  "$@" >/dev/null 2>"$TMP/err"; rc=$?
  [ $rc -eq 2 ] && grep -q -- "$pat" "$TMP/err" && ok || bad "$what: exit $rc, stderr: $(cat "$TMP/err")"
}
tr2() { "$BIN" train "${small[@]}" --set output.dir="$TMP/bad" "$@"; }
expect2 "categorical without K" "categorical must be GxK: G groups .* of K categories (an integer in \[2, 256\])" \
  tr2 --set model.categorical=30
expect2 "K < 2" "model.categorical=30x1: categorical must be GxK" tr2 --set model.categorical=30x1
printf '[model]\nlatent_type = categorical\ncategorical = 0x10\n' >"$TMP/g0.ini"
expect2 "G < 1 in a file" "g0.ini:3.*categorical must be GxK" "$BIN" train -c "$TMP/g0.ini" --set output.dir="$TMP/bad"
expect2 "hard on a Gaussian layer" "hard = true needs a categorical layer" \
  tr2 --set model.latent_type=gaussian --set model.hard=true
expect2 "IWAE with a categorical layer" "objective = iwae with \[model\] latent_type = categorical: IWAE training of a categorical layer needs the Concrete density" \
  tr2 --set train.objective=iwae --set train.samples=5
expect2 "unknown latent_type" "latent_type must be gaussian or categorical, or a comma list" \
  tr2 --set model.latent_type=discrete
expect2 "categorical below the top" "layer 1 of 2 is categorical, but only the top" \
  tr2 --set model.latent=4,2 --set "model.encoder=32 | 16" --set "model.decoder=16 | 32" \
      --set model.latent_type=categorical,gaussian
expect2 "latent_type count" "latent_type lists 3 values but latent = lists 2" \
  tr2 --set model.latent=4,2 --set "model.encoder=32 | 16" --set "model.decoder=16 | 32" \
      --set model.latent_type=gaussian,gaussian,categorical
expect2 "tau <= 0" "tau must be a number > 0" tr2 --set train.tau=0
[ ! -e "$TMP/bad/checkpoint.safetensors" ] && ok || bad "a rejected run wrote a checkpoint"

# 2. Training: the peer's state_dict names and shapes; tau and the one-hot ELBO per epoch.
"$BIN" train "${small[@]}" --set output.dir="$TMP/run" >"$TMP/out" 2>"$TMP/err" || bad "train: $(cat "$TMP/err")"
grep -q "^latent_type = categorical$" "$TMP/run/config.ini" && grep -q "^categorical = 4x5$" "$TMP/run/config.ini" &&
  ok || bad "config.ini lacks latent_type / categorical"
"$PY" - "$TMP/run" <<'PY' && ok || bad "checkpoint names or metrics"
import json, math, struct, sys
d = sys.argv[1]
b = open(f"{d}/checkpoint.safetensors", "rb").read(); n = struct.unpack("<Q", b[:8])[0]
h = json.loads(b[8:8 + n]); h.pop("__metadata__", None)
want = {"encoder.0.weight": [32, 784], "encoder.0.bias": [32], "encoder.1.weight": [16, 32],
        "encoder.out.weight": [20, 16], "encoder.out.bias": [20], "decoder.0.weight": [16, 20],
        "decoder.1.weight": [32, 16], "decoder.out.weight": [784, 32]}
for k, s in want.items():
    assert h[k]["shape"] == s, (k, h[k]["shape"], s)
assert not any("mu" in k or "logvar" in k for k in h), sorted(h)
m = [json.loads(l) for l in open(f"{d}/metrics.jsonl")]
assert len(m) == 2
for e in m:  # the last step's temperature: max(0.5, exp(-0.05 (step - 1)))
    want_tau = max(0.5, math.exp(-0.05 * (e["step"] - 1)))
    assert abs(e["tau"] - want_tau) < 1e-6 * want_tau, (e["tau"], want_tau)
    assert e["test_loss_onehot"] > 0 and e["kl"] > 0, e
PY

# 3. Resume mid-epoch (step 3 of 6): the same parameters and metrics as the uninterrupted run.
"$BIN" train "${small[@]}" --set train.max_steps=3 --set output.dir="$TMP/mid" 2>"$TMP/err" || bad "max_steps run: $(cat "$TMP/err")"
"$BIN" train --resume "$TMP/mid" --set train.max_steps=0 -q 2>"$TMP/err" || bad "resume: $(cat "$TMP/err")"
"$PY" - "$TMP/run" "$TMP/mid" <<'PY' && ok || bad "resume not bit-identical"
import json, struct, sys
def load(p):
    b = open(f"{p}/checkpoint.safetensors", "rb").read(); n = struct.unpack("<Q", b[:8])[0]
    h = json.loads(b[8:8 + n]); h.pop("__metadata__", None)
    return {k: b[8 + n + v["data_offsets"][0]: 8 + n + v["data_offsets"][1]] for k, v in h.items()}
a, b = load(sys.argv[1]), load(sys.argv[2])
assert a.keys() == b.keys() and all(a[k] == b[k] for k in a), "tensors differ"
ma = [json.loads(l) for l in open(f"{sys.argv[1]}/metrics.jsonl")]
mb = [json.loads(l) for l in open(f"{sys.argv[2]}/metrics.jsonl")]
keys = ("step", "test_loss", "tau", "test_loss_onehot")
assert [[e[k] for k in keys] for e in ma] == [[e[k] for k in keys] for e in mb], (ma, mb)
# train_loss: the device's float loss accumulator is read back at the checkpoint of the
# interrupted run and only at the epoch's end of the other: a few float roundings apart
assert all(abs(x["train_loss"] - y["train_loss"]) <= 1e-6 * x["train_loss"] for x, y in zip(ma, mb))
PY

# 4. eval: the relaxed and one-hot figures, the importance-weighted estimate with one-hot samples.
"$BIN" eval --run "$TMP/run" --set device.backend=ref --iw 20 >"$TMP/eval.json" 2>"$TMP/err" || bad "eval: $(cat "$TMP/err")"
"$PY" - "$TMP/eval.json" <<'PY' && ok || bad "eval figures: $(cat "$TMP/eval.json")"
import json, sys
e = json.loads(open(sys.argv[1]).read())
assert e["test_loss_onehot"] > 0 and e["tau"] > 0.5 and e["iwae_k"] == 20
# log p(x) >= the K-sample bound >= the one-hot ELBO in expectation (200 images: 2 nats of noise)
assert -e["test_loglik"] < e["test_loss_onehot"] + 2, e
assert len(e["active_units"]) == 1 and 0 <= e["active_units"][0] <= 20, e
assert abs(e["tau"] - 0.5769498) < 1e-6, e  # the checkpoint's last training step (11)
PY

# 5. sample: one-hot prior codes decoded; latents: codes and usage.
"$BIN" sample --run "$TMP/run" --set device.backend=ref -n 12 -o "$TMP/s.npy" >/dev/null 2>"$TMP/err" || bad "sample: $(cat "$TMP/err")"
"$BIN" sample --run "$TMP/run" --set device.backend=ref -o "$TMP/s.png" >/dev/null 2>"$TMP/err" && [ -s "$TMP/s.png" ] && ok || bad "sample png: $(cat "$TMP/err")"
"$BIN" latents --run "$TMP/run" --set device.backend=ref -o "$TMP/lat" >"$TMP/lat.out" 2>"$TMP/err" || bad "latents: $(cat "$TMP/err")"
grep -q latents_code.npy "$TMP/lat.out" && grep -q latents_usage.npy "$TMP/lat.out" && ok || bad "latents output list"
"$PY" - "$TMP" <<'PY' && ok || bad "sample / latents arrays"
import sys, numpy as np
d = sys.argv[1]
s = np.load(f"{d}/s.npy"); assert s.shape == (12, 784) and ((s >= 0) & (s <= 1)).all()
assert np.abs(s - s[0]).max() > 1e-3  # different codes, different means
mu, code, use = (np.load(f"{d}/lat/latents_{n}.npy") for n in ("mu", "code", "usage"))
assert mu.shape == (200, 20) and code.shape == (200, 4) and code.dtype == np.uint8 and use.shape == (4, 5)
assert np.allclose(mu.reshape(200, 4, 5).sum(2), 1, atol=1e-5)
assert (code == mu.reshape(200, 4, 5).argmax(2)).all()
assert np.allclose(use.sum(1), 1, atol=1e-5)
assert np.allclose(use, [[np.mean(code[:, g] == k) for k in range(5)] for g in range(4)], atol=1e-6)
PY

cli_end
