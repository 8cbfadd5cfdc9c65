#!/usr/bin/env bash
# Lean steps through the CLI: bench's step accounting (launches_per_step, host_us_per_step,
# replays_per_step as numbers on OpenCL, null on the reference backend; the first two in the
# --profile trace) and the device.command_buffer key (a bad value is exit 2; off never replays).
. "${CLVAE_SRC:?}/test/cli_common.bash"; cli_begin cli_lean
need_data
small=(-c "$SRC/config/default.ini" --set data.limit_train=600 --set train.batch=32 --set device.autotune=off --steps 12)
num='[0-9]+(\.[0-9]+)?'

# Reference backend: ops run as they are called, nothing to count.
"$BIN" bench "${small[@]}" --set device.backend=ref >"$TMP/ref.out" 2>"$TMP/ref.err" || bad "ref bench: $(cat "$TMP/ref.err")"
grep -q '"launches_per_step": null, "host_us_per_step": null, "replays_per_step": null' "$TMP/ref.out" && ok || bad "ref bench line: $(cat "$TMP/ref.out")"
# device.command_buffer is validated like every enum key: exit 2 naming the key and the choices
"$BIN" bench "${small[@]}" --set device.command_buffer=maybe >"$TMP/bad.out" 2>"$TMP/bad.err"; rc=$?
[ $rc -eq 2 ] && grep -q "command_buffer" "$TMP/bad.err" && grep -q "auto" "$TMP/bad.err" && ok \
  || bad "command_buffer=maybe: exit $rc: $(cat "$TMP/bad.err")"

need_opencl
"$BIN" bench "${small[@]}" --set device.backend=opencl --profile "$TMP/trace.json" >"$TMP/ocl.out" 2>"$TMP/ocl.err" \
  || bad "opencl bench: $(cat "$TMP/ocl.err")"
line=$(cat "$TMP/ocl.out")
# The default model's step enqueues at least its 11 GEMMs; a count of 0 means the counters
# are not wired (or the step ran nothing), a huge one that something counts per work-item.
if [[ "$line" =~ \"launches_per_step\":\ ($num),\ \"host_us_per_step\":\ ($num) ]]; then
  awk -v l="${BASH_REMATCH[1]}" -v h="${BASH_REMATCH[3]}" 'BEGIN{exit !(l >= 11 && l < 200 && h > 0)}' \
    && ok || bad "implausible counters: $line"
else bad "bench line lacks the counters: $line"; fi
grep -Eq "\"launches_per_step\": $num" "$TMP/trace.json" && ok || bad "trace otherData lacks launches_per_step"
grep -q "launches and .* us of host enqueue time per step" "$TMP/ocl.err" && ok || bad "profile stderr lacks the counters"
# off: never replayed; the same loss line as auto (bit-identical parameters: test_lean)
"$BIN" bench "${small[@]}" --set device.backend=opencl --set device.command_buffer=off >"$TMP/off.out" 2>"$TMP/off.err" \
  || bad "command_buffer=off bench: $(cat "$TMP/off.err")"
grep -q '"replays_per_step": 0.00' "$TMP/off.out" && ok || bad "off replayed: $(cat "$TMP/off.out")"
cli_end
