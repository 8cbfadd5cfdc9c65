#!/usr/bin/env bash
# Lean steps through the CLI: bench's step accounting (launches_per_step, host_us_per_step,
# replays_per_step as numbers on OpenCL, null on the reference backend; the first two in the
# --profile trace) and the device.command_buffer key (a bad value is exit 2; off never replays);
# a step whose GEMMs run on packb, packed and split-K kernels (a tuning file's choices) is replayed
# by bench and by train across the eval between epochs, with the bits of command_buffer = off.
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

# GEMMs with scratch buffers: a tiny tune writes the device's tuning file, whose kernel choices
# are then rewritten to NT packb, NN packed and TN outer split in 3 along k.
scr=(-c "$SRC/config/default.ini" --set device.backend=opencl --set data.limit_train=512
     --set data.limit_test=128 --set train.batch=32 --set device.cache="$TMP/c")
"$BIN" tune "${scr[@]}" --seconds 1 --candidates 1 >"$TMP/tune.out" 2>"$TMP/tune.err" || bad "tune: $(cat "$TMP/tune.err")"
python3 - "$TMP"/c/gemm-*.json <<'PY' || bad "rewriting the tuning file failed"
import json, sys
k = {"NT": {"form": "packb", "mr": 4, "nb": 2, "vw": 4, "lx": 1, "rows_first": 1},
     "NN": {"form": "packed", "mr": 4, "nb": 2, "vw": 4, "lx": 1, "rows_first": 0},
     "TN": {"form": "outer", "mr": 3, "nb": 2, "vw": 4, "lx": 1, "rows_first": 0, "ks": 3}}
d = json.load(open(sys.argv[1]))
for s in d["shapes"]:
    s["kernel"] = k[s["op"]]
json.dump(d, open(sys.argv[1], "w"))
PY
scr+=(--set device.autotune=off)
# on opens where the device offers cl_khr_command_buffer (PoCL); elsewhere auto falls back
if "$BIN" bench "${scr[@]}" --steps 12 --set device.command_buffer=on >"$TMP/s-auto.out" 2>"$TMP/s-auto.err"; then
  offered=1
  # every timed step replays (bench records each upload slot's step in its warm-up)
  grep -q '"replays_per_step": 1.00' "$TMP/s-auto.out" && ok || bad "scratch GEMMs not replayed: $(cat "$TMP/s-auto.out")"
else
  offered=0; echo "SKIP of the replay checks: $(tail -1 "$TMP/s-auto.err")"
  "$BIN" bench "${scr[@]}" --steps 12 >"$TMP/s-auto.out" 2>"$TMP/s-auto.err" || bad "scratch bench: $(cat "$TMP/s-auto.err")"
fi
"$BIN" bench "${scr[@]}" --steps 12 --set device.command_buffer=off >"$TMP/s-off.out" 2>"$TMP/s-off.err" \
  || bad "scratch bench, off: $(cat "$TMP/s-off.err")"
loss() { grep -o '"loss": [0-9.]*' "$1"; }
[ -n "$(loss "$TMP/s-off.out")" ] && [ "$(loss "$TMP/s-auto.out")" = "$(loss "$TMP/s-off.out")" ] && ok \
  || bad "scratch GEMMs: replayed and op-by-op losses differ: $(cat "$TMP/s-auto.out" "$TMP/s-off.out")"
# train: 2 epochs of 16 steps with the test-set eval between them; the checkpoints' tensors (not
# the header, which holds the config) byte-identical; with the extension, the trace's replays
# (one command_buffer span each) go on after the eval: more than one epoch's 16 steps
for cb in auto off; do
  "$BIN" train "${scr[@]}" --set train.epochs=2 --set output.dir="$TMP/run-$cb" \
    --set device.command_buffer=$cb --profile "$TMP/trace-$cb.json" -q >"$TMP/t-$cb.out" 2>"$TMP/t-$cb.err" \
    || bad "scratch train, $cb: $(cat "$TMP/t-$cb.err")"
done
python3 - "$TMP/run-auto/checkpoint.safetensors" "$TMP/run-off/checkpoint.safetensors" <<'PY' \
  && ok || bad "scratch train: checkpoint tensors differ between command_buffer auto and off"
import struct, sys
def tensors(p):
    b = open(p, "rb").read()
    return b[8 + struct.unpack("<Q", b[:8])[0]:]
a, o = (tensors(p) for p in sys.argv[1:])
sys.exit(0 if a and a == o else 1)
PY
if [ $offered = 1 ]; then
  n=$(grep -o '"name": *"command_buffer"' "$TMP/trace-auto.json" | wc -l)
  [ "$n" -gt 16 ] && ok || bad "train replayed $n steps of 32, expected more than 16 (replays after the eval)"
fi
cli_end
