#!/usr/bin/env bash
# The validation split on the reference backend: data.valid holds rows out of the training set,
# valid_loss per epoch in metrics.jsonl and loss.svg, checkpoint.best.safetensors at the lowest
# validation loss, and --checkpoint best|last for the commands that open a run.
. "${CLVAE_SRC:?}/test/cli_common.bash"; cli_begin cli_valid
need_data
# A small model on 600 images at a high learning rate (1e-2): the validation loss does not fall
# every epoch (with seed 1 it is lowest at epoch 7 of 8), so best and last differ; the run is
# seeded, the same every time.
common=(-c "$SRC/config/default.ini" --set device.backend=ref -q --set data.limit_train=600
        --set data.limit_test=300 --set model.encoder=256 --set model.decoder=256
        --set model.latent=16 --set train.lr=1e-2 --set train.batch=64)
field() { sed -n "s/.*\"$2\":\\([0-9.e+-]*\\).*/\\1/p" "$1"; } # field FILE KEY: one value per line

# 1. 8 epochs with valid = 0.25: 150 rows held out, 450 trained: ceil(450/64) = 8 steps per
#    epoch (600 rows would be 10).
"$BIN" train "${common[@]}" --set train.epochs=8 --set data.valid=0.25 --set output.dir="$TMP/v" \
  >"$TMP/v.out" 2>"$TMP/v.err" && ok || bad "train with data.valid exited $?: $(tail -3 "$TMP/v.err")"
grep -q "validation: 150 of 600 training rows held out (data.valid = 0.25, seed 1)" "$TMP/v.err" && ok \
  || bad "no note on the split: $(cat "$TMP/v.err")"
[ "$(field "$TMP/v/metrics.jsonl" step | head -n 1)" = 8 ] && ok || bad "epoch 1 ran $(field "$TMP/v/metrics.jsonl" step | head -n 1) steps, expected 8"
[ "$(field "$TMP/v/metrics.jsonl" valid_loss | wc -l)" = 8 ] && ok || bad "valid_loss not on every metrics line"
grep -q "validation loss" "$TMP/v/loss.svg" && ok || bad "loss.svg has no validation curve"
[ -s "$TMP/v/checkpoint.best.safetensors" ] && ok || bad "no checkpoint.best.safetensors"
# The epoch with the lowest valid_loss; the best checkpoint's test loss is that epoch's.
best=$(field "$TMP/v/metrics.jsonl" valid_loss | awk 'NR==1||$1<m{m=$1;e=NR} END{print e}')
want_best=$(field "$TMP/v/metrics.jsonl" test_loss | sed -n "${best}p")
want_last=$(field "$TMP/v/metrics.jsonl" test_loss | tail -n 1)
[ "$best" != 8 ] && ok || bad "the last epoch has the best validation loss: no overfitting to tell best from last"
eval_loss() { "$BIN" eval --run "$TMP/v" "$@" 2>"$TMP/e.err" | sed -n 's/.*"test_loss": \([0-9.]*\).*/\1/p'; }
close() { awk -v a="$1" -v b="$2" 'BEGIN{d=a-b; if(d<0)d=-d; exit !(a != "" && d < 1e-3*b)}'; }
# Same eval noise stream as training's per-epoch test loss: equal up to the printed digits.
got=$(eval_loss --checkpoint best); close "$got" "$want_best" && ok || bad "eval --checkpoint best: $got, expected epoch $best's $want_best"
got=$(eval_loss --checkpoint last); close "$got" "$want_last" && ok || bad "eval --checkpoint last: $got, expected $want_last"
got=$(eval_loss); close "$got" "$want_last" && ok || bad "eval (default last): $got, expected $want_last"
for cmd in sample reconstruct latents interpolate; do
  "$BIN" $cmd --run "$TMP/v" --checkpoint best -o "$TMP/out_$cmd" >/dev/null 2>"$TMP/c.err" && ok \
    || bad "$cmd --checkpoint best failed: $(cat "$TMP/c.err")"
done

# 2. Another seed holds out other rows: a different first validation loss; the same seed again
#    the same split (and the same losses: training is deterministic).
"$BIN" train "${common[@]}" --set train.epochs=1 --set data.valid=0.25 --set output.dir="$TMP/s1" 2>/dev/null
"$BIN" train "${common[@]}" --set train.epochs=1 --set data.valid=0.25 --set train.seed=2 --set output.dir="$TMP/s2" 2>/dev/null
[ "$(field "$TMP/s1/metrics.jsonl" valid_loss)" = "$(field "$TMP/v/metrics.jsonl" valid_loss | head -n 1)" ] && ok \
  || bad "same seed, different validation loss"
[ "$(field "$TMP/s1/metrics.jsonl" valid_loss)" != "$(field "$TMP/s2/metrics.jsonl" valid_loss)" ] && ok \
  || bad "seeds 1 and 2 gave the same validation loss"

# 3. Resume keeps the best so far: stop after the best epoch, resume to 8; the worse epoch 8 must
#    not replace it (a resumed run that forgot the best would). The tensors equal the
#    uninterrupted run's (the metadata differs: it holds the resumed config).
tensors() { $PY -c 'import struct,sys; d=open(sys.argv[1],"rb").read(); n=struct.unpack("<Q",d[:8])[0]; sys.stdout.buffer.write(d[8+n:])' "$1" | md5sum; }
"$BIN" train "${common[@]}" --set train.epochs="$best" --set data.valid=0.25 --set output.dir="$TMP/r" 2>/dev/null
"$BIN" train --resume "$TMP/r" --set train.epochs=8 -q >/dev/null 2>"$TMP/r.err" || bad "resume failed: $(cat "$TMP/r.err")"
[ "$(tensors "$TMP/r/checkpoint.best.safetensors")" = "$(tensors "$TMP/v/checkpoint.best.safetensors")" ] && ok \
  || bad "best checkpoint after resume differs from the uninterrupted run's"

# 4. Bad values and missing best checkpoints: exit 2 with the key or file and what is valid.
expect2() { # expect2 PATTERN ARGS...
  local pat=$1; shift
  "$BIN" "$@" >/dev/null 2>"$TMP/x.err"; local rc=$?
  [ $rc -eq 2 ] && grep -qF -- "$pat" "$TMP/x.err" && ok || bad "clvae $*: exit $rc: $(cat "$TMP/x.err")"
}
expect2 "[data] valid = 1.5: must be a whole number of rows" train "${common[@]}" --set data.valid=1.5 --set output.dir="$TMP/x"
expect2 "[data] valid = 600 holds out 600 of 600 training rows" train "${common[@]}" --set data.valid=600 --set output.dir="$TMP/x"
"$BIN" train "${common[@]}" --set train.epochs=1 --set output.dir="$TMP/nov" 2>/dev/null
expect2 "checkpoint.best.safetensors: no best checkpoint in this run" eval --run "$TMP/nov" --checkpoint best
expect2 "bad value for --checkpoint" eval --run "$TMP/v" --checkpoint first

cli_end
