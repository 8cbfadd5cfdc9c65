#!/usr/bin/env bash
# Data-parallel training on this machine: samples/s of the default model (784-400-20, batch 128)
# for 1 and 2 local ranks (mpirun -np N), the gradient allreduce time per step and its share of a
# step; then the multi-node cost on paper (gradient bytes, ring allreduce over 10/25/100 Gb/s, the
# batch per rank above which the efficiency stays over 90%), printed as Markdown for docs/data-parallel.md ("Measured", "The multi-node cost on paper").
# Usage: bench/mpi.sh [BACKEND]   (opencl = PoCL by default, or ref); ROWS=12800 rows an epoch.
# On a 2-core machine two ranks share the same two cores that one rank's PoCL device already
# uses: the 2-rank figure measures the cost of the split and of the allreduce, not a speed-up.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${CLVAE_BIN:-build/clvae}
BACKEND=${1:-opencl}
ROWS=${ROWS:-12800}
OUT=${OUT:-/tmp/clvae-bench-mpi}
command -v mpirun >/dev/null || { echo "bench/mpi.sh: mpirun missing (apt-get install openmpi-bin)"; exit 2; }
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
export OMPI_MCA_mpi_yield_when_idle=1
rm -rf "$OUT"; mkdir -p "$OUT"
echo "# bench/mpi.sh $(date -u +%F\ %H:%M) UTC, $(nproc) cores, load: $(cut -d' ' -f1-3 /proc/loadavg), backend $BACKEND"
for np in 1 2; do
  # 2 epochs: the first warms the kernel and GEMM caches, the second is measured
  mpirun -np $np --bind-to none "$BIN" train -c config/default.ini --set device.backend="$BACKEND" \
    --set device.cache="$OUT/cache" --set device.autotune=off --set data.limit_train="$ROWS" \
    --set data.limit_test=500 --set train.epochs=2 --set data.image_shape=none \
    --set output.dir="$OUT/np$np" -q >/dev/null 2>"$OUT/np$np.err" || { cat "$OUT/np$np.err"; exit 1; }
done
python3 - "$OUT" "$ROWS" <<'PYEOF'
import json, sys
out, rows = sys.argv[1], int(sys.argv[2])
steps = (rows + 127) // 128
print("\n| ranks | samples/s | step ms | allreduce ms/step | allreduce share |")
print("|---|---|---|---|---|")
base = None
for np_ in (1, 2):
    m = [json.loads(l) for l in open("%s/np%d/metrics.jsonl" % (out, np_))][-1]
    share = m.get("allreduce_share", 0.0)
    step_ms = 1000 * m["seconds"] / steps
    base = base or m["samples_per_s"]
    print("| %d | %.0f (%.2fx) | %.2f | %.2f | %.1f%% |" % (np_, m["samples_per_s"],
          m["samples_per_s"] / base, step_ms, share * step_ms, 100 * share))

# The cost on paper: a step is compute (b rows per rank at the device's rate) plus the gradient
# allreduce; no overlap (clvae sums after the backward, through host memory). Ring allreduce:
# each rank sends and receives 2 (N-1)/N of the gradient bytes; plus 2 (N-1) latencies.
def params(h, d=784, r=20):
    return (d * h + h) + (h * 2 * r + 2 * r) + (r * h + h) + (h * d + d)
LAT = 5e-6         # per message, s (a switched RoCE/InfiniBand-class hop; TCP: 20-50 us)
GPU_FLOPS = 10e12  # effective FLOP/s of one GPU on these GEMMs (an assumption, see docs/data-parallel.md)
cpu_flops = base * 6 * params(400)   # this machine's 1-rank rate, as FLOP/s
print("\n| model | params | gradient MB | N | link | allreduce ms | b/rank for 90%%: GPU 10 TFLOP/s | this CPU (%.0f GFLOP/s) |" % (cpu_flops / 1e9))
print("|---|---|---|---|---|---|---|---|")
for name, h in (("default 784-400-20", 400), ("4x wider 784-1600-20", 1600)):
    p = params(h); mb = 4 * p / 1e6
    flop_per_row = 6 * p   # forward 2 flops per weight, backward 4
    for n in (2, 8, 32):
        for gbps in (10, 25, 100):
            t_ar = 2 * (n - 1) / n * 4 * p * 8 / (gbps * 1e9) + 2 * (n - 1) * LAT
            b_gpu = 9 * t_ar * GPU_FLOPS / flop_per_row   # compute >= 9x the allreduce
            b_cpu = 9 * t_ar * cpu_flops / flop_per_row
            print("| %s | %.2fM | %.1f | %d | %d Gb/s | %.2f | %.0f | %.0f |" % (name, p / 1e6, mb,
                  n, gbps, 1e3 * t_ar, b_gpu, b_cpu))
PYEOF
