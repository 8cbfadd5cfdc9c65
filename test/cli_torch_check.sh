#!/usr/bin/env bash
# Cross-framework check: small clvae runs (reference backend) evaluated by clvae with z = mu and
# by PyTorch (scripts/torch_eval.py: the checkpoint loaded into nn.Linear layers, float64) must
# give the same test loss: the one-layer VAE, a conditional two-layer model on binarized data, and a
# Gumbel-softmax top layer.
. "${CLVAE_SRC:?}/test/cli_common.bash"; cli_begin cli_torch_check
need_data
need_python torch numpy

# compare NAME: clvae eval --deterministic and torch_eval.py on run $TMP/NAME agree.
compare() {
  local run="$TMP/$1"
  "$BIN" eval --run "$run" --deterministic >"$TMP/$1.eval" 2>"$TMP/$1.eval.err" \
    && ok || bad "$1: clvae eval failed: $(cat "$TMP/$1.eval.err")"
  "$PY" "$SRC/scripts/torch_eval.py" "$run" >"$TMP/$1.torch" 2>"$TMP/$1.torch.err" \
    && ok || bad "$1: torch_eval.py failed: $(tail -3 "$TMP/$1.torch.err")"
  local c t
  c=$(sed -n 's/.*"test_loss": \([0-9.eE+-]*\).*/\1/p' "$TMP/$1.eval")
  t=$(sed -n 's/.*"test_loss": \([0-9.eE+-]*\).*/\1/p' "$TMP/$1.torch")
  echo "$1: clvae (float32): $c   pytorch (float64): $t"
  # Same parameters, same data, z = mu: only arithmetic differs. clvae computes the GEMMs and the
  # 500*784 BCE terms in float32, PyTorch in float64: a float32 bound is ~1e-6 relative. Measured
  # on the reference backend: ~1e-10 here and 4e-9 for 784-400-20 after 3 epochs (independent
  # rounding errors mostly cancel; clvae prints 6 decimals). 1e-4 leaves room for other summation
  # orders while still catching a modelling difference (relu -> tanh moves this loss by 9%; a
  # test set binarized with other Bernoulli draws moved it by 1e-3 here).
  if [ -n "$c" ] && [ -n "$t" ]; then
    awk -v a="$c" -v b="$t" 'BEGIN{d=(a-b)/b; if(d<0)d=-d; printf "relative difference %.3g\n", d; exit !(d <= 1e-4)}' \
      && ok || bad "$1: clvae test_loss $c vs pytorch $t: relative difference above 1e-4"
  else bad "$1: missing test_loss (clvae '$c', pytorch '$t')"; fi
}

common=(-c "$SRC/config/default.ini" --set device.backend=ref --set data.limit_train=2000
        --set data.limit_test=500 --set train.epochs=1 -q)
# the PyTorch-examples VAE (one Gaussian layer), small
"$BIN" train "${common[@]}" --set model.encoder=64 --set model.decoder=64 \
  --set output.dir="$TMP/vae" >"$TMP/train.out" 2>"$TMP/train.err" \
  && ok || bad "vae: train failed: $(tail -3 "$TMP/train.err")"
compare vae
# a conditional two-layer model on a fixed-binarized set: q1/q2/p1 names, the one-hot columns of
# every MLP's first layer, the Philox binarization of the test set, the MC KL below the top
"$BIN" train "${common[@]}" --set model.latent=8,4 --set "model.encoder=32 | 16" \
  --set "model.decoder=16 | 32" --set model.conditional=true --set data.binarize=fixed \
  --set output.dir="$TMP/chain" >"$TMP/train.out" 2>"$TMP/train.err" \
  && ok || bad "chain: train failed: $(tail -3 "$TMP/train.err")"
compare chain
# a Gumbel-softmax top (6 groups of 4) over a Gaussian layer, conditional, relaxed: the logits
# head q2.out, z = softmax(logits / tau) at the checkpoint's temperature, the KL to the uniform prior
"$BIN" train "${common[@]}" -c "$SRC/config/gumbel.ini" --set model.categorical=6x4 \
  --set "model.latent_type=gaussian,categorical" --set model.latent=8,24 \
  --set "model.encoder=32 | 16" --set "model.decoder=16 | 32" --set model.conditional=true \
  --set output.dir="$TMP/gumbel" >"$TMP/train.out" 2>"$TMP/train.err" \
  && ok || bad "gumbel: train failed: $(tail -3 "$TMP/train.err")"
compare gumbel

cli_end
