# The planted-leak check of `make test-sanitize` (test/sanitize_leak.c; registered only in the
# sanitizer build): the suite's own leak settings must report a leak that clvae's code makes, and
# must pass the same program without it, with every OpenCL driver of the suite loaded.
. "${CLVAE_SRC:?}/test/cli_common.bash"; cli_begin sanitize_leak
PROG=${CLVAE_LEAK_PROG:?}

CLVAE_PLANT_LEAK=0 "$PROG" >"$TMP/clean.out" 2>"$TMP/clean.err"
rc=$?
if [ $rc -eq 0 ]; then ok; else bad "without the planted leak: exit $rc"; cat "$TMP/clean.err"; fi
grep -q "LeakSanitizer" "$TMP/clean.err" && bad "a leak report without the planted leak"

CLVAE_PLANT_LEAK=1 "$PROG" >"$TMP/leak.out" 2>"$TMP/leak.err"
rc=$?
if [ $rc -ne 0 ]; then ok; else bad "the planted leak passed (exit 0): leaks in clvae's code are hidden"; fi
if grep -q "ERROR: LeakSanitizer: detected memory leaks" "$TMP/leak.err" &&
   grep -q "ref_buffer_alloc" "$TMP/leak.err"; then
  ok
else
  bad "no LeakSanitizer report naming ref_buffer_alloc for the planted leak"; tail -30 "$TMP/leak.err"
fi
cli_end
