#!/usr/bin/env bash
# ctest bench_scripts: the benchmark scripts' cheap paths, without building or measuring anything:
# --help and argument errors of bench/device-check.sh and bench/device-bundle.sh (exit 2 with a
# message naming the option), and bench/scaling_plot.py's and bench/device_check_report.py's
# tables on made-up measurements (ratios against the better peer). Under a second.
#   bash bench/test_bench_scripts.sh SOURCE_DIR
set -u
SRC=${1:?usage: test_bench_scripts.sh SOURCE_DIR}
cd "$SRC" || exit 1
TMP=$(mktemp -d /tmp/clvae-benchtest.XXXXXX)
trap 'rm -rf "$TMP"' EXIT
fails=0
expect() { # WANT_RC PATTERN CMD...: CMD exits WANT_RC and its output matches PATTERN
  local want=$1 pat=$2 rc; shift 2
  "$@" >"$TMP/out" 2>&1
  rc=$?
  if [ "$rc" != "$want" ] || ! grep -qE -- "$pat" "$TMP/out"; then
    echo "FAIL: $* -> exit $rc (want $want), output:"; sed 's/^/  /' "$TMP/out"; fails=$((fails + 1))
  else
    echo "ok:   $*"
  fi
}

expect 0 "one-call GPU check" bash bench/device-check.sh --help
expect 2 "--budget 'x' is not a positive" bash bench/device-check.sh --budget x
expect 2 "--tune '0' is not a positive" bash bench/device-check.sh --tune 0
expect 2 "unknown argument '--gpu'" bash bench/device-check.sh --gpu
expect 2 "holds no bundle" bash bench/device-check.sh --bundle "$TMP/none"
expect 0 "apt-get download" bash bench/device-bundle.sh --help
expect 2 "--max-mib 'big' is not a positive" bash bench/device-bundle.sh --max-mib big
expect 2 "unknown argument '--size'" bash bench/device-bundle.sh --size 3
expect 2 "torch_vae.py not found" bash bench/device-bundle.sh --peers "$TMP/none" --out "$TMP/bundle"
expect 2 "unknown option '--slow'" bash bench/scaling.sh --slow

# scaling_plot.py: medians over rounds, PyTorch's faster thread count, JAX; clvae / better peer.
cat >"$TMP/s.jsonl" <<'EOF'
{"round": 1, "hidden": 400, "batch": 32, "clvae": 100, "torch": {"1": 80, "2": 90}, "jax": 120}
{"round": 2, "hidden": 400, "batch": 32, "clvae": 110, "torch": {"1": 70, "2": 95}, "jax": 130}
{"round": 1, "hidden": 2048, "batch": 2048, "clvae": 300, "torch": {"1": 200}, "jax": null}
{"round": 1, "hidden": 1024, "batch": 512, "clvae": 50, "peer": 40}
EOF
# 105 / max(92.5, 125) = 0.84; 300 / 200 = 1.50 with no JAX; the old "peer" field is PyTorch at 1 thread.
expect 0 "\| 400 \| 32 \| 105 \| 92 \(2\) \| 125 \| 1.14 \| 0.84 \| 0.84 \|" \
  bash -c "python3 bench/scaling_plot.py '$TMP/s.jsonl' '$TMP/s.md' '$TMP/s.svg' && cat '$TMP/s.md'"
expect 0 "\| 2048 \| 2048 \| 300 \| 200 \(1\) \| n/a \| 1.50 \| n/a \| 1.50 \|" cat "$TMP/s.md"
expect 0 "\| 1024 \| 512 \| 50 \| 40 \(1\) \| n/a \| 1.25 \| n/a \| 1.25 \|" cat "$TMP/s.md"
expect 0 "stroke-dasharray=\"2,3\"" cat "$TMP/s.svg"
expect 1 "holds no measurements" python3 bench/scaling_plot.py /dev/null "$TMP/e.md" "$TMP/e.svg"

# device_check_report.py: the table and the verdict from a made-up result folder.
mkdir -p "$TMP/res"
printf 'build\tok\t30.5\t\ncheck\tok\t7.0\t\nbench-default-clvae\tok\t9.0\t\nbench-wide-clvae\tfailed (exit 1)\t2.0\t\n' >"$TMP/res/steps.tsv"
echo "check: 70 passed, 0 failed" >"$TMP/res/check.txt"
echo '{"samples_per_s": 200000.0, "device": "GPU X"}' >"$TMP/res/default.clvae.json"
printf '{"samples_per_s": 1.0}\n{"samples_per_s": 100000.0, "device": "cuda"}\n' >"$TMP/res/default.torch.json"
echo '{"samples_per_s": 160000.0, "device": "cuda:0"}' >"$TMP/res/default.jax.json"
expect 1 "\| default \(h400, b128\) \| 200000 \(GPU X\) \| 100000 \(cuda\) \| 160000 \(cuda:0\) \| 1.25 \|" \
  python3 bench/device_check_report.py "$TMP/res" "$TMP/r.json" gpu host none 100 480 test
expect 0 "\"clvae_over_better_peer\": 1.25" cat "$TMP/r.json"
expect 1 "device check: FAIL" python3 bench/device_check_report.py "$TMP/res" "$TMP/r.json" gpu host none 100 480 test
sed -i 's/failed (exit 1)/ok/' "$TMP/res/steps.tsv"
expect 0 "device check: PASS" python3 bench/device_check_report.py "$TMP/res" "$TMP/r.json" gpu host none 100 480 test

[ "$fails" = 0 ] && echo "bench_scripts: all passed" || echo "bench_scripts: $fails failed"
[ "$fails" = 0 ]
