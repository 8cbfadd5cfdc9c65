#!/usr/bin/env bash
# Checkpoints through the CLI on the reference backend: exact resume (1 epoch + resume 1 epoch
# equals 2 epochs bit for bit), SIGINT writes a resumable checkpoint and exits 130, corrupt or
# incompatible checkpoints are rejected with exit 2, and a failed run keeps the last checkpoint.
. "${CLVAE_SRC:?}/test/cli_common.bash"; cli_begin cli_ckpt
need_data
PY=$(command -v python3) || { echo "SKIP: python3 needed to compare safetensors"; exit 77; }
common=(-c "$SRC/config/default.ini" --set device.backend=ref --set data.limit_train=1000
        --set data.limit_test=200 --set model.encoder=64 --set model.decoder=64 -q)

# Tensor bytes of two checkpoints (metadata aside) are identical: exit 0, else print the first diff.
same_tensors() {
  "$PY" - "$1" "$2" <<'PYEOF'
import json, struct, sys
def load(p):
    b = open(p, 'rb').read(); n = struct.unpack('<Q', b[:8])[0]
    h = json.loads(b[8:8 + n]); meta = h.pop('__metadata__', {})
    return {k: b[8 + n + v['data_offsets'][0]: 8 + n + v['data_offsets'][1]] for k, v in h.items()}, meta
a, ma = load(sys.argv[1]); b, mb = load(sys.argv[2])
if a.keys() != b.keys(): sys.exit('tensor names differ')
for k in a:
    if a[k] != b[k]: sys.exit('tensor %s differs' % k)
if ma['step'] != mb['step']: sys.exit('step differs')
PYEOF
}

# 1. Exact resume.
"$BIN" train "${common[@]}" --set train.epochs=2 --set output.dir="$TMP/full" 2>"$TMP/err" || bad "2-epoch run failed: $(cat "$TMP/err")"
"$BIN" train "${common[@]}" --set train.epochs=1 --set output.dir="$TMP/half" 2>"$TMP/err" || bad "1-epoch run failed"
"$BIN" train --resume "$TMP/half" --set train.epochs=2 -q 2>"$TMP/err" || bad "resume failed: $(cat "$TMP/err")"
out=$(same_tensors "$TMP/full/checkpoint.safetensors" "$TMP/half/checkpoint.safetensors" 2>&1) && ok || bad "resume not bit-identical: $out"
[ "$(wc -l < "$TMP/half/metrics.jsonl")" -eq 2 ] && ok || bad "resumed metrics.jsonl should hold 2 epochs"

# 1b. Mid-epoch resume: stop after 3 of the epoch's 8 steps (train.max_steps), resume, and the
#     parameters equal an uninterrupted epoch's bit for bit; the epoch is reported once.
"$BIN" train "${common[@]}" --set train.epochs=1 --set output.dir="$TMP/one" 2>"$TMP/err" || bad "1-epoch run failed"
"$BIN" train "${common[@]}" --set train.epochs=1 --set train.max_steps=3 --set output.dir="$TMP/mid" 2>"$TMP/err" || bad "max_steps run failed: $(cat "$TMP/err")"
"$BIN" train --resume "$TMP/mid" --set train.max_steps=0 -q 2>"$TMP/err" || bad "mid-epoch resume failed: $(cat "$TMP/err")"
out=$(same_tensors "$TMP/one/checkpoint.safetensors" "$TMP/mid/checkpoint.safetensors" 2>&1) && ok || bad "mid-epoch resume not bit-identical: $out"
[ "$(wc -l < "$TMP/mid/metrics.jsonl")" -eq 1 ] && ok || bad "mid-epoch resume left $(wc -l < "$TMP/mid/metrics.jsonl") metrics lines, expected 1"

# 1c. The two-layer IWAE model (K = 5, dynamic binarization): mid-epoch stop and resume equal an
#     uninterrupted run bit for bit (noise, Bernoulli draws and Adam all continue), and the
#     checkpoint names each layer's tensors (q1.*, q2.*, p1.*, decoder.*).
iw2=(-c "$SRC/config/iwae-2layer.ini" --set device.backend=ref --set data.limit_train=600
     --set data.limit_test=100 --set model.latent=8,4 "--set" "model.encoder=32 | 16"
     "--set" "model.decoder=16 | 32" --set train.epochs=2 -q)
"$BIN" train "${iw2[@]}" --set output.dir="$TMP/iw_full" 2>"$TMP/err" || bad "iwae-2layer run failed: $(cat "$TMP/err")"
"$BIN" train "${iw2[@]}" --set train.max_steps=8 --set output.dir="$TMP/iw_mid" 2>"$TMP/err" || bad "iwae-2layer max_steps run failed: $(cat "$TMP/err")"
"$BIN" train --resume "$TMP/iw_mid" --set train.max_steps=0 -q 2>"$TMP/err" || bad "iwae-2layer resume failed: $(cat "$TMP/err")"
out=$(same_tensors "$TMP/iw_full/checkpoint.safetensors" "$TMP/iw_mid/checkpoint.safetensors" 2>&1) && ok || bad "iwae-2layer resume not bit-identical: $out"
names=$("$PY" -c "import json,struct,sys; b=open(sys.argv[1],'rb').read(); n=struct.unpack('<Q',b[:8])[0]; print(' '.join(sorted(k for k in json.loads(b[8:8+n]) if k!='__metadata__')))" "$TMP/iw_full/checkpoint.safetensors")
for t in q1.0.weight q1.mu.weight q1.logvar.bias q2.mu.weight p1.0.weight p1.mu.weight p1.logvar.weight decoder.0.weight decoder.out.weight; do
  case " $names " in *" $t "*) ok ;; *) bad "checkpoint lacks $t (has: $names)" ;; esac
done
grep -q '"objective":"iwae"' "$TMP/iw_full/metrics.jsonl" && grep -q '"kl_layers":\[' "$TMP/iw_full/metrics.jsonl" && ok || bad "metrics.jsonl lacks objective/kl_layers: $(head -1 "$TMP/iw_full/metrics.jsonl")"

# 2. SIGINT mid-training: exit 130, a checkpoint, and the run resumes to completion.
"$BIN" train "${common[@]}" --set train.epochs=500 --set output.dir="$TMP/sig" 2>"$TMP/sig.err" &
pid=$!
for _ in $(seq 1 100); do [ -s "$TMP/sig/config.ini" ] && break; sleep 0.1; done
sleep 1.5
kill -INT $pid; wait $pid; rc=$?
[ $rc -eq 130 ] && ok || bad "SIGINT exit $rc, expected 130: $(cat "$TMP/sig.err")"
grep -q "checkpoint written" "$TMP/sig.err" && ok || bad "SIGINT did not say where the checkpoint is"
"$BIN" eval --run "$TMP/sig" >/dev/null 2>"$TMP/err" && ok || bad "checkpoint after SIGINT unreadable: $(cat "$TMP/err")"
"$BIN" train --resume "$TMP/sig" --set train.epochs=1 -q >/dev/null 2>"$TMP/err"; rc=$?
[ $rc -eq 0 ] && ok || bad "resume after SIGINT exited $rc: $(cat "$TMP/err")"

# 3. Corrupt and incompatible checkpoints: exit 2 with a message naming the problem.
expect_ckpt_error() { # expect_ckpt_error NAME PATTERN  (RUN DIR prepared in $TMP/NAME)
  "$BIN" eval --run "$TMP/$1" >/dev/null 2>"$TMP/err"; local rc=$?
  [ $rc -eq 2 ] && grep -q -- "$2" "$TMP/err" && ok || bad "$1: exit $rc, stderr: $(cat "$TMP/err")"
}
for c in trunc header shapes; do mkdir -p "$TMP/$c"; cp "$TMP/full/config.ini" "$TMP/$c/"; done
head -c 3000 "$TMP/full/checkpoint.safetensors" > "$TMP/trunc/checkpoint.safetensors"
expect_ckpt_error trunc "checkpoint.safetensors"
printf '\xff\xff\xff\xff\x00\x00\x00\x00{"a":1}' > "$TMP/header/checkpoint.safetensors"
expect_ckpt_error header "checkpoint.safetensors"
cp "$TMP/full/checkpoint.safetensors" "$TMP/shapes/"
sed -i 's/^encoder = 64/encoder = 32/' "$TMP/shapes/config.ini"
expect_ckpt_error shapes "shape"
mkdir -p "$TMP/none"; cp "$TMP/full/config.ini" "$TMP/none/"
expect_ckpt_error none "checkpoint.safetensors"

# 4. A run that fails (NaN) keeps the last good checkpoint of that directory.
before=$(md5sum < "$TMP/full/checkpoint.safetensors")
"$BIN" train --resume "$TMP/full" --set train.epochs=4 --set train.lr=1e4 -q >/dev/null 2>"$TMP/err"; rc=$?
[ $rc -eq 1 ] && grep -q "non-finite" "$TMP/err" && ok || bad "NaN run: exit $rc: $(cat "$TMP/err")"
[ "$(md5sum < "$TMP/full/checkpoint.safetensors")" = "$before" ] && ok || bad "NaN run damaged the checkpoint"

# 5. A process killed (SIGKILL) half-way through writing the next checkpoint leaves the previous
#    one intact and loadable; the next run overwrites the stale .tmp. The test hook
#    CLVAE_TEST_KILL_AFTER_BYTES makes the writer raise SIGKILL after that many bytes.
"$BIN" train "${common[@]}" --set train.epochs=1 --set output.dir="$TMP/kill" 2>"$TMP/err" || bad "kill: first run: $(cat "$TMP/err")"
before=$(md5sum < "$TMP/kill/checkpoint.safetensors")
size=$(stat -c %s "$TMP/kill/checkpoint.safetensors")
CLVAE_TEST_KILL_AFTER_BYTES=$((size / 2)) "$BIN" train --resume "$TMP/kill" --set train.epochs=2 -q >/dev/null 2>&1; rc=$?
[ $rc -eq 137 ] && ok || bad "kill hook: exit $rc, expected 137 (SIGKILL)"
[ -f "$TMP/kill/checkpoint.safetensors.tmp" ] && ok || bad "kill hook: no half-written .tmp left (did the kill happen mid-write?)"
[ "$(md5sum < "$TMP/kill/checkpoint.safetensors")" = "$before" ] && ok || bad "killed write damaged the checkpoint"
"$BIN" eval --run "$TMP/kill" >/dev/null 2>"$TMP/err" && ok || bad "checkpoint after kill unreadable: $(cat "$TMP/err")"
"$BIN" train --resume "$TMP/kill" --set train.epochs=2 -q >/dev/null 2>"$TMP/err" && ok || bad "resume after kill: $(cat "$TMP/err")"
[ ! -f "$TMP/kill/checkpoint.safetensors.tmp" ] && ok || bad "stale .tmp not replaced"
[ "$(grep -c '"epoch":2,' "$TMP/kill/metrics.jsonl")" -eq 1 ] && ok || bad "epoch 2 appears twice in metrics.jsonl after the killed run"

cli_end
