#!/usr/bin/env bash
# Device selection through the CLI: `clvae devices`, selection errors (exit 2 with the list of
# what exists), `clvae check` on every device, and `make run`'s default choice (PoCL here).
. "${CLVAE_SRC:?}/test/cli_common.bash"; cli_begin cli_devices
need_opencl
small=(-c "$SRC/config/default.ini" --set data.limit_train=512 --set data.limit_test=128
       --set model.encoder=32 --set model.decoder=32 --set device.autotune=off -q)

expect_select_error() { # ARGS... : exit 2 and the list of available devices
  "$BIN" train "${small[@]}" --set output.dir="$TMP/x" "$@" >/dev/null 2>"$TMP/err"; local rc=$?
  [ $rc -eq 2 ] && grep -q "available" "$TMP/err" && ok || bad "$*: exit $rc: $(cat "$TMP/err")"
}
expect_select_error --set device.platform=nosuch
expect_select_error --set device.backend=opencl --set device.device=99
if ! grep -q "type gpu" "$TMP/devices.txt"; then
  expect_select_error --set device.type=gpu
fi
grep -q "platform 0" "$TMP/devices.txt" && ok || bad "devices lists no platform 0"

# auto picks an OpenCL device and says which.
"$BIN" train "${small[@]}" --set train.epochs=1 --set output.dir="$TMP/auto" >"$TMP/out" 2>"$TMP/err" || bad "auto train failed: $(cat "$TMP/err")"
grep -q '"backend":"opencl"' "$TMP/auto/metrics.jsonl" && ok || bad "auto did not choose OpenCL: $(cat "$TMP/auto/metrics.jsonl")"

# clvae check: every op and a short training on every device, exit 0, a table with no FAIL.
"$BIN" check "${small[@]:0:${#small[@]}-1}" --steps 5 >"$TMP/check.txt" 2>"$TMP/err"; rc=$?
[ $rc -eq 0 ] && ok || bad "check exited $rc: $(grep FAIL "$TMP/check.txt") $(cat "$TMP/err")"
grep -q "check: [0-9]* passed, 0 failed" "$TMP/check.txt" && ok || bad "check summary: $(tail -1 "$TMP/check.txt")"
grep -q "^gemm NT 128x400x784" "$TMP/check.txt" && ok || bad "check table lacks the GEMM rows"
"$BIN" check --set device.backend=ref >/dev/null 2>&1; [ $? -eq 2 ] && ok || bad "check with backend=ref should exit 2"

cli_end
