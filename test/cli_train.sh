#!/usr/bin/env bash
# End-to-end CLI test on the reference backend: trains on a few thousand Fashion-MNIST images,
# checks the run directory and the loss bound, evaluates, and checks bad-input exit codes.
. "${CLVAE_SRC:?}/test/cli_common.bash"; cli_begin cli_train
need_data
expect_exit() { # expect_exit CODE PATTERN ARGS...
  local code=$1 pat=$2; shift 2
  "$BIN" "$@" >"$TMP/out" 2>"$TMP/err"; local rc=$?
  if [ $rc -ne "$code" ]; then bad "clvae $* exited $rc, expected $code: $(cat "$TMP/err")"; return; fi
  if ! grep -q -- "$pat" "$TMP/err"; then bad "clvae $*: stderr lacks '$pat': $(cat "$TMP/err")"; return; fi
  if [ "$(grep -c 'error' "$TMP/err")" -ne 1 ]; then bad "clvae $*: expected one error line"; return; fi
  ok
}
common=(-c "$SRC/config/default.ini" --set device.backend=ref --set data.limit_train=3000
        --set data.limit_test=500 -q)

# 1. Training: 3 epochs on 3000 images. An untrained model scores ~545 nats (BCE of logits 0
#    is 784*ln2 = 543); the PyTorch example reaches ~300 after 3 epochs on 3000 images, so 330
#    catches a trainer that does not learn while leaving room for seeds and data order.
"$BIN" train "${common[@]}" --set train.epochs=3 --set output.dir="$TMP/run" >"$TMP/train.out" 2>"$TMP/train.err"
rc=$?
[ $rc -eq 0 ] && ok || bad "train exited $rc: $(tail -3 "$TMP/train.err")"
last=$(tail -n 1 "$TMP/train.out")
if [[ "$last" =~ ^final\ test_loss=([0-9.]+)\ epochs=3\ device=.+$ ]]; then
  loss=${BASH_REMATCH[1]}
  awk -v l="$loss" 'BEGIN{exit !(l < 330 && l > 150)}' && ok || bad "test loss $loss not in (150, 330)"
else bad "last stdout line is '$last'"; fi
[ "$(wc -l < "$TMP/run/metrics.jsonl")" -eq 3 ] && ok || bad "metrics.jsonl has not 3 lines"
for k in epoch step train_loss test_loss recon kl seconds samples_per_s device backend; do
  head -n 1 "$TMP/run/metrics.jsonl" | grep -q "\"$k\":" && ok || bad "metrics.jsonl lacks $k"
done
[ -s "$TMP/run/checkpoint.safetensors" ] && ok || bad "no checkpoint"
[ -s "$TMP/run/config.ini" ] && ok || bad "no config.ini"
# Loss falls from epoch 1 to 3.
awk -F'"test_loss":' 'NR==1{split($2,a,",");f=a[1]} END{split($2,a,",");exit !(a[1] < f)}' "$TMP/run/metrics.jsonl" \
  && ok || bad "test loss did not fall over 3 epochs"

# 2. eval reproduces the last epoch's test loss up to sampling noise (same eval stream: equal).
"$BIN" eval --run "$TMP/run" --iw 5 >"$TMP/eval.out" 2>"$TMP/eval.err" && ok || bad "eval failed: $(cat "$TMP/eval.err")"
el=$(sed -n 's/.*"test_loss": \([0-9.]*\).*/\1/p' "$TMP/eval.out")
ml=$(tail -n 1 "$TMP/run/metrics.jsonl" | sed -n 's/.*"test_loss":\([0-9.]*\).*/\1/p')
ll=$(sed -n 's/.*"test_loglik": \(-[0-9.]*\).*/\1/p' "$TMP/eval.out")
awk -v a="$el" -v b="$ml" 'BEGIN{d=a-b; if(d<0)d=-d; exit !(d < 1e-3*b)}' && ok || bad "eval test_loss $el != metrics $ml"
# The IWAE bound with k=5 is at least the ELBO: log-lik >= -test_loss (up to noise, 1 nat).
awk -v l="$ll" -v e="$el" 'BEGIN{exit !(l != "" && l > -e - 1)}' && ok || bad "iwae $ll below -elbo $el"

# 3. Bad input: exit 2 and one line naming the problem.
printf '[model]\nlatnet = 20\n' > "$TMP/typo.ini"
expect_exit 2 "typo.ini:2" train -c "$TMP/typo.ini"
printf '[modle]\nlatent = 20\n' > "$TMP/sec.ini"
expect_exit 2 "modle" train -c "$TMP/sec.ini"
expect_exit 2 "latent" train "${common[@]}" --set model.latent=0
expect_exit 2 "nosuch.gz" train "${common[@]}" --set data.train=/nonexistent/nosuch.gz
head -c 2000 "$DATA/train-images-idx3-ubyte.gz" > "$TMP/trunc.gz"
expect_exit 2 "trunc.gz" train "${common[@]}" --set data.train="$TMP/trunc.gz" --set data.limit_train=0
printf 'not an idx file at all' > "$TMP/magic.idx"
expect_exit 2 "magic" train "${common[@]}" --set data.train="$TMP/magic.idx"
expect_exit 2 "unknown option" train --bogus
expect_exit 2 "unknown command" frobnicate
"$BIN" --help | grep -q "train" && ok || bad "--help lacks commands"
"$BIN" train --help | grep -q -- "--set" && ok || bad "train --help lacks --set"

cli_end
