#!/usr/bin/env bash
# clvae tune through the CLI: a tiny search writes the device's tuning file, which bench then
# applies; first-use tuning in bench; a corrupt tuning file is reported (naming it) and ignored;
# backend=ref and bad options exit 2. Skips (77) without an OpenCL device.
. "${CLVAE_SRC:?}/test/cli_common.bash"; cli_begin cli_tune
need_opencl
cfg=(-c "$SRC/config/default.ini" --set device.backend=opencl)
small=(--set data.limit_train=512 --set data.limit_test=128)

# A tiny search: one candidate, a 1 s budget.
"$BIN" tune "${cfg[@]}" --set device.cache="$TMP/c1" --seconds 1 --candidates 1 >"$TMP/tune.out" 2>"$TMP/tune.err"
rc=$?
[ $rc -eq 0 ] && ok || bad "tune exited $rc: $(cat "$TMP/tune.err")"
f=$(ls "$TMP"/c1/gemm-*.json 2>/dev/null | head -1)
[ -n "$f" ] && grep -q '"format":[[:space:]]*"clvae-gemm-tuning"' "$f" && ok || bad "no tuning file in $TMP/c1"
grep -q "tuning file: $f" "$TMP/tune.out" && ok || bad "tune does not name the file: $(tail -3 "$TMP/tune.out")"
grep -q "^NT *128 *400 *784" "$TMP/tune.out" && ok || bad "tune table lacks NT 128x400x784"
grep -q "^tune: \[1\]" "$TMP/tune.err" && ok || bad "no per-candidate progress line on a non-tty"

# A second search starts from the file's sets.
"$BIN" tune "${cfg[@]}" --set device.cache="$TMP/c1" --seconds 1 --candidates 1 >/dev/null 2>"$TMP/tune2.err" \
  && grep -q "^tune: \[1\] previous" "$TMP/tune2.err" && ok || bad "a second tune did not start from the file: $(head -3 "$TMP/tune2.err")"

# bench applies it and does not tune again.
"$BIN" bench "${cfg[@]}" "${small[@]}" --set device.cache="$TMP/c1" --steps 3 >"$TMP/b1.out" 2>"$TMP/b1.err" \
  && ok || bad "bench with the file: $(cat "$TMP/b1.err")"
grep -q "GEMM tuning for .* from $f" "$TMP/b1.err" && ok || bad "bench did not apply $f: $(cat "$TMP/b1.err")"
grep -q "first use" "$TMP/b1.err" && bad "bench tuned again although a file exists" || ok

# A corrupt file: a warning that names it, then first-use tuning replaces it (bench succeeds).
printf '{"format": "clvae-gemm-tuning", "version": 1, "platform": ' >"$f"
"$BIN" bench "${cfg[@]}" "${small[@]}" --set device.cache="$TMP/c1" --steps 3 >"$TMP/b2.out" 2>"$TMP/b2.err"
rc=$?
[ $rc -eq 0 ] && ok || bad "bench with a corrupt file exited $rc: $(cat "$TMP/b2.err")"
grep -q "warning: .*ignoring $f" "$TMP/b2.err" && ok || bad "no warning naming $f: $(cat "$TMP/b2.err")"
grep -q "first use" "$TMP/b2.err" && ok || bad "no first-use tuning after the corrupt file"
python3 -c "import json,sys; json.load(open('$f'))" 2>/dev/null && ok || bad "first use did not rewrite $f"

# autotune = off with no file: no tuning, no file.
"$BIN" bench "${cfg[@]}" "${small[@]}" --set device.cache="$TMP/c2" --set device.autotune=off --steps 3 \
  >/dev/null 2>"$TMP/b3.err" && ok || bad "bench autotune=off: $(cat "$TMP/b3.err")"
ls "$TMP"/c2/gemm-*.json >/dev/null 2>&1 && bad "autotune=off wrote a tuning file" || ok
ls "$TMP"/c2/*.bin >/dev/null 2>&1 && ok || bad "no kernel binary cached in $TMP/c2"
CLVAE_NO_CACHE=1 "$BIN" bench "${cfg[@]}" "${small[@]}" --set device.cache="$TMP/c3" --set device.autotune=off \
  --steps 3 >/dev/null 2>&1 && ok || bad "bench with CLVAE_NO_CACHE=1 failed"
ls "$TMP"/c3/*.bin >/dev/null 2>&1 && bad "CLVAE_NO_CACHE=1 wrote a kernel binary" || ok

# Bad usage.
"$BIN" tune --set device.backend=ref >/dev/null 2>"$TMP/e1"; [ $? -eq 2 ] && ok || bad "tune with backend=ref should exit 2"
"$BIN" tune --seconds nope >/dev/null 2>&1; [ $? -eq 2 ] && ok || bad "tune --seconds nope should exit 2"
"$BIN" tune --batches 128,0 >/dev/null 2>"$TMP/e2"; [ $? -eq 2 ] && grep -q "batches" "$TMP/e2" && ok || bad "tune --batches 128,0 should exit 2 naming --batches"
"$BIN" tune --sets 5 >/dev/null 2>"$TMP/e3"; [ $? -eq 2 ] && grep -q "sets" "$TMP/e3" && ok || bad "tune --sets 5 should exit 2 naming --sets"
"$BIN" tune --help | grep -q "usage: clvae tune" && ok || bad "tune --help"

cli_end
