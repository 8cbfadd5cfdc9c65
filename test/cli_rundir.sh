#!/usr/bin/env bash
# One run directory, one writer; a full disk (and a file-size limit) while writing a checkpoint;
# SIGTERM. Reference
# backend, a small model on a few thousand Fashion-MNIST images.
. "${CLVAE_SRC:?}/test/cli_common.bash"; cli_begin cli_rundir
need_data
common=(-c "$SRC/config/default.ini" --set device.backend=ref -q --set data.limit_train=2000
        --set data.limit_test=200 --set model.encoder=64 --set model.decoder=64
        --set model.latent=4)

# 1. A second train into a directory in use: exit 2 naming the holder's process id, and the
#    first run's files untouched by it. Then SIGTERM stops the first: exit 143 after a
#    resumable checkpoint, and the run resumes to completion.
"$BIN" train "${common[@]}" --set train.epochs=1000 --set output.dir="$TMP/busy" 2>"$TMP/busy.err" &
pid=$!
for _ in $(seq 1 200); do [ -s "$TMP/busy/metrics.jsonl" ] && break; sleep 0.1; done
[ -s "$TMP/busy/metrics.jsonl" ] || bad "first run wrote no epoch in 20 s: $(cat "$TMP/busy.err")"
cfg_before=$(md5sum < "$TMP/busy/config.ini")
"$BIN" train "${common[@]}" --set train.epochs=1 --set model.latent=3 --set output.dir="$TMP/busy" \
  >/dev/null 2>"$TMP/second.err"; rc=$?
[ $rc -eq 2 ] && grep -q "busy is in use: process $pid (clvae train) holds .*busy/train.lock" "$TMP/second.err" \
  && ok || bad "second writer: exit $rc, expected 2 naming process $pid: $(cat "$TMP/second.err")"
[ "$(grep -c error "$TMP/second.err")" = 1 ] && ok || bad "second writer: not one error line"
[ "$(md5sum < "$TMP/busy/config.ini")" = "$cfg_before" ] && ok || bad "second writer rewrote config.ini"
"$BIN" train --resume "$TMP/busy" -q >/dev/null 2>"$TMP/third.err"; rc=$?
[ $rc -eq 2 ] && grep -q "process $pid" "$TMP/third.err" && ok || bad "--resume into a busy dir: exit $rc: $(cat "$TMP/third.err")"
kill -TERM $pid; wait $pid; rc=$?
[ $rc -eq 143 ] && ok || bad "SIGTERM exit $rc, expected 143: $(tail -3 "$TMP/busy.err")"
grep -q "interrupted at step .*checkpoint written to .*busy/checkpoint.safetensors" "$TMP/busy.err" && ok \
  || bad "SIGTERM did not say where the checkpoint is: $(tail -3 "$TMP/busy.err")"
epochs=$(wc -l < "$TMP/busy/metrics.jsonl")
"$BIN" train --resume "$TMP/busy" --set train.epochs=$((epochs + 1)) -q >"$TMP/res.out" 2>"$TMP/res.err"; rc=$?
[ $rc -eq 0 ] && grep -q "final test_loss=.* epochs=$((epochs + 1)) " "$TMP/res.out" && ok \
  || bad "resume after SIGTERM: exit $rc: $(cat "$TMP/res.err" "$TMP/res.out")"
# The lock goes with the process: the directory is free again (also after SIGKILL).
"$BIN" train "${common[@]}" --set train.epochs=1000 --set output.dir="$TMP/killed" 2>/dev/null &
pid=$!
for _ in $(seq 1 200); do [ -s "$TMP/killed/config.ini" ] && break; sleep 0.1; done
kill -KILL $pid; wait $pid 2>/dev/null
"$BIN" train "${common[@]}" --set train.epochs=1 --set output.dir="$TMP/killed" >/dev/null 2>"$TMP/k.err" \
  && ok || bad "train after a SIGKILLed run: $(cat "$TMP/k.err")"

# Bad input into a new directory: exit 2 and no directory (no lock file) left behind.
"$BIN" train "${common[@]}" --set data.train=/nonexistent.npy --set output.dir="$TMP/never" >/dev/null 2>&1
[ $? -eq 2 ] && [ ! -e "$TMP/never" ] && ok || bad "bad data created $TMP/never or was not exit 2"

# 2. A full disk while writing a checkpoint: exit 1 naming the checkpoint and strerror, the
#    previous checkpoint byte-identical, no temporary file left. The run directory is on a
#    small tmpfs in a private mount namespace (unshare -m as root, -rm otherwise); where no
#    tmpfs can be mounted this part is skipped with a note.
ns=(unshare -m); [ "$(id -u)" -ne 0 ] && ns=(unshare -rm)
if "${ns[@]}" sh -c "mkdir -p '$TMP/fs' && mount -t tmpfs -o size=1m tmpfs '$TMP/fs'" 2>/dev/null; then
  # checkpoint of 784-64-4 with Adam moments: about 1.2 MB; the tmpfs holds 3 MB, the first
  # checkpoint (and metrics) fit, then a filler leaves 200 kB: too little for the next one.
  "${ns[@]}" bash -c '
    set -u
    BIN=$1; TMP=$2; shift 2
    mount -t tmpfs -o size=3m tmpfs "$TMP/fs" || exit 3
    "$BIN" train "$@" --set train.epochs=1 --set data.image_shape=none --set output.dir="$TMP/fs/run" 2>"$TMP/full1.err" || exit 4
    md5sum < "$TMP/fs/run/checkpoint.safetensors" > "$TMP/full.md5.before"
    dd if=/dev/zero of="$TMP/fs/filler" bs=4k 2>/dev/null
    rm -f "$TMP/fs/filler"; free=$(( $(stat -f -c "%a*%S" "$TMP/fs" ) ))
    dd if=/dev/zero of="$TMP/fs/filler" bs=1k count=$(( free / 1024 - 200 )) 2>/dev/null
    "$BIN" train --resume "$TMP/fs/run" --set train.epochs=2 -q >/dev/null 2>"$TMP/full2.err"
    echo $? > "$TMP/full.rc"
    md5sum < "$TMP/fs/run/checkpoint.safetensors" > "$TMP/full.md5.after"
    ls "$TMP/fs/run" > "$TMP/full.ls"
  ' _ "$BIN" "$TMP" "${common[@]}"
  [ "$(cat "$TMP/full.rc" 2>/dev/null)" = 1 ] && ok || bad "full disk: exit $(cat "$TMP/full.rc" 2>/dev/null), expected 1: $(cat "$TMP/full1.err" "$TMP/full2.err" 2>/dev/null)"
  grep -q "fs/run/checkpoint.safetensors: .*No space left on device" "$TMP/full2.err" && ok \
    || bad "full disk: message lacks the path and strerror: $(cat "$TMP/full2.err" 2>/dev/null)"
  cmp -s "$TMP/full.md5.before" "$TMP/full.md5.after" && ok || bad "full disk: the previous checkpoint changed"
  grep -q '\.tmp$' "$TMP/full.ls" && bad "full disk left a temporary file: $(cat "$TMP/full.ls")" || ok
else
  echo "note: cannot mount a tmpfs here (needs root or user namespaces): full-disk part skipped"
fi
# 3. The same failure path without a mount: a file-size limit (ulimit -f, SIGXFSZ ignored so
#    write() fails with EFBIG) of 512 kB, under the 1.2 MB checkpoint, over the other files.
"$BIN" train "${common[@]}" --set train.epochs=1 --set data.image_shape=none --set output.dir="$TMP/fsize" 2>/dev/null \
  || bad "fsize: first run failed"
before=$(md5sum < "$TMP/fsize/checkpoint.safetensors")
( trap '' XFSZ; ulimit -f 512; exec "$BIN" train --resume "$TMP/fsize" --set train.epochs=2 -q ) >/dev/null 2>"$TMP/fsize.err"
rc=$?
[ $rc -eq 1 ] && grep -q "fsize/checkpoint.safetensors: .*File too large" "$TMP/fsize.err" && ok \
  || bad "file-size limit: exit $rc, expected 1 with the path and strerror: $(cat "$TMP/fsize.err")"
[ "$(md5sum < "$TMP/fsize/checkpoint.safetensors")" = "$before" ] && ok || bad "file-size limit: the previous checkpoint changed"
ls "$TMP/fsize" | grep -q '\.tmp$' && bad "file-size limit left a temporary file" || ok

cli_end
