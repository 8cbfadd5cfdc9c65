#!/usr/bin/env bash
# Runs test_ops (every op, the stochastic-layer ones included) on the Oclgrind simulator with
# data-race detection, small shapes only: fails on any out-of-bounds access, data race, barrier
# divergence or uninitialized value that Oclgrind reports in a clvae (or CLBlast) kernel, or
# when test_ops itself fails. Skips (77) without oclgrind or without the test binary (a build
# without OpenCL).
set -u
if ! command -v oclgrind >/dev/null 2>&1; then
    echo "SKIP: oclgrind is not installed"
    exit 77
fi
bin_dir=$(dirname "${CLVAE_BIN:?CLVAE_BIN must point at the clvae binary}")
test_ops="$bin_dir/test/test_ops"
if [ ! -x "$test_ops" ]; then
    echo "SKIP: $test_ops not built"
    exit 77
fi
tmp="${CLVAE_TMP:-/tmp}/oclgrind.$$"
mkdir -p "$tmp"
trap 'rm -rf "$tmp"' EXIT

# Under oclgrind the only platform is the simulator; CLVAE_TEST_PLATFORM makes that explicit.
CLVAE_TEST_SMALL=1 CLVAE_TEST_PLATFORM=oclgrind CLVAE_LOG=warn \
    oclgrind --data-races "$test_ops" >"$tmp/stdout" 2>"$tmp/stderr"
rc=$?
tail -n 3 "$tmp/stdout"

# Oclgrind's diagnostics; the test's own FAIL lines and clvae log lines are not its findings.
pattern='Invalid (read|write)|data race|divergence|Uninitiali[sz]ed|Unaligned|Invalid (access|value|kernel)|OCLGRIND|Oclgrind.*(error|Error)'
if grep -v -e '^clvae:' -e '^FAIL ' "$tmp/stderr" | grep -E -q "$pattern"; then
    echo "FAIL: oclgrind reported problems:"
    grep -v -e '^clvae:' -e '^FAIL ' "$tmp/stderr" | grep -E -A6 "$pattern" | head -n 80
    exit 1
fi
if [ "$rc" -eq 77 ]; then
    echo "SKIP: test_ops found no device under oclgrind"
    exit 77
fi
if [ "$rc" -ne 0 ]; then
    echo "FAIL: test_ops exited with $rc under oclgrind"
    grep -E '^FAIL' "$tmp/stderr" | head -n 40
    exit 1
fi
if ! grep -q 'oclgrind' "$tmp/stdout"; then
    echo "FAIL: test_ops did not run on the Oclgrind device"
    exit 1
fi
# The stochastic-layer kernels (cl/stoch.cl) ran too, each at least once, and both layouts of
# iw_weights (the work-group one has barriers and local memory: races would show above).
for op in gauss_terms prior_bwd.dz latent_bwd iw_weights.w row_scale binarize; do
    if ! grep -q "^$op  *oclgrind.* ok" "$tmp/stdout"; then
        echo "FAIL: test_ops ran no $op case on the Oclgrind device"
        exit 1
    fi
done
# The conv-net kernels (cl/conv.cl, cl/bn.cl; the reductions' two stages run at 130 rows; the
# direct conv kernels, dx in both layouts).
for op in im2col col2im 'col2im(beta1)' batch_transpose bias_leaky leaky_bwd col_sq_dev \
    bn_fwd.y bn_bwd_sums bn_bwd conv_direct conv_direct_dx conv_direct_dw; do
    if ! grep -q "^$op  *oclgrind.* ok" "$tmp/stdout"; then
        echo "FAIL: test_ops ran no $op case on the Oclgrind device"
        exit 1
    fi
done
if ! grep -q "^iw_weights  *oclgrind.*group == serial, bit-identical ok" "$tmp/stdout"; then
    echo "FAIL: test_ops did not compare the two iw_weights layouts on the Oclgrind device"
    exit 1
fi
echo "ok: oclgrind found no invalid accesses or data races"
exit 0
