#!/usr/bin/env bash
# The one-call GPU check: on a GPU machine that reaches no package registry, builds clvae from the
# bundle that bench/device-bundle.sh made, lists the OpenCL platforms (and says so when the GPU's
# vendor ICD is missing), runs `clvae check` on the GPU, then `clvae bench` on the default model
# and a wide one next to the PyTorch peer (--device cuda) and the JAX peer on the same GPU, and
# prints one table and writes one JSON file, within a time budget (default 8 minutes).
#   bash bench/device-check.sh [--bundle DIR] [--out DIR] [--budget S] [--tune S] [--rehearse] [--keep]
#     --bundle DIR  the bundle (default: device-bundle in the repo root)
#     --out DIR     where device-check.json and device-check.log go (default: $OUT when set, the
#                   device tool's return folder, else ./device-check-out)
#     --budget S    wall-clock budget in seconds for everything (default 480; 3600 with --rehearse);
#                   every step has its own limit too, cut to what is left
#     --tune S      run `clvae tune --seconds S` for each model before its bench (default: no
#                   tuning: CLBlast's own parameters, [device] autotune = off); costs S + 60 s each
#     --rehearse    the same steps on this machine: PoCL's CPU device for clvae, the peers on the
#                   CPU, the bundle's libraries and data, in a network namespace without network
#                   when `unshare -n` works; proves the script and the bundle, not GPU speed
#     --cache DIR   clvae's kernel and tuning cache (default: a fresh one in the work dir, so
#                   no tuning file: CLBlast's parameters; a cache holding the device's tuning
#                   file gives tuned figures)
#     --keep        keep the temporary build directory (its path is printed)
# Environment: TORCH_PYTHON, JAX_PYTHON (the Pythons with torch and jax; default: the first of
#   python3, /usr/bin/python3 (torch) or /tmp/jaxenv/bin/python (jax) that imports it; JAX_PYTHON=none
#   skips the JAX column), STEPS_DEFAULT=200, STEPS_WIDE=30 (10 in a rehearsal; clvae bench steps), PEER_EPOCHS=2
#   (the last epoch counts: the first includes CUDA start-up and XLA's compilation), JOBS (build),
#   TORCH_THREADS (the PyTorch peer's CPU threads: default 1 in a rehearsal, its best setting on a
#   2-core machine, with OPENBLAS_CORETYPE set from the CPU flags as bench/run.sh does).
# Assumes on the target: x86-64 Linux with glibc >= 2.36, bash, coreutils (timeout), tar with gzip, a
#   C compiler (cc; a CUDA image has one for nvcc), CMake >= 3.18 (on PATH or next to python3, as
#   pip's cmake) and make or ninja, libstdc++ (CLBlast is C++), python3 (the summary; torch and jax
#   for the peers). The NVIDIA OpenCL driver (libnvidia-opencl.so.1) comes with the GPU driver;
#   without an ICD file naming it, a private one is written and used (OCL_ICD_VENDORS).
# Exit status: 0 when the build, the check and every clvae bench ran and passed; 1 otherwise; 2 bad arguments.
set -u

usage() { awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; }
die_arg() { echo "device-check.sh: $1" >&2; echo "run 'bash bench/device-check.sh --help' for the options" >&2; exit 2; }
posint() { [[ "$2" =~ ^[1-9][0-9]*$ ]] || die_arg "$1 '$2' is not a positive whole number of seconds"; }

HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/.." && pwd)
BUNDLE="$REPO/device-bundle"
RESULTS=${OUT:-$PWD/device-check-out}
BUDGET="" TUNE=0 REHEARSE=0 KEEP=0 CACHE_DIR=""
while [ $# -gt 0 ]; do
  case "$1" in
    -h|--help) usage; exit 0 ;;
    --bundle) [ $# -ge 2 ] && [ -n "$2" ] || die_arg "--bundle needs a directory"; BUNDLE=$2; shift 2 ;;
    --out) [ $# -ge 2 ] && [ -n "$2" ] || die_arg "--out needs a directory"; RESULTS=$2; shift 2 ;;
    --budget) [ $# -ge 2 ] || die_arg "--budget needs seconds"; posint --budget "$2"; BUDGET=$2; shift 2 ;;
    --tune) [ $# -ge 2 ] || die_arg "--tune needs seconds"; posint --tune "$2"; TUNE=$2; shift 2 ;;
    --rehearse) REHEARSE=1; shift ;;
    --cache) [ $# -ge 2 ] && [ -n "$2" ] || die_arg "--cache needs a directory"; CACHE_DIR=$2; shift 2 ;;
    --keep) KEEP=1; shift ;;
    *) die_arg "unknown argument '$1'; valid: --bundle DIR, --out DIR, --budget S, --tune S, --rehearse, --cache DIR, --keep, --help" ;;
  esac
done
[ -d "$BUNDLE/sysroot/usr/lib" ] && [ -f "$BUNDLE/src.tar.gz" ] ||
  die_arg "--bundle: $BUNDLE holds no bundle (sysroot/usr/lib and src.tar.gz); make one with bash bench/device-bundle.sh"
BUNDLE=$(cd "$BUNDLE" && pwd)
if [ -n "$CACHE_DIR" ]; then
  mkdir -p "$CACHE_DIR" && CACHE_DIR=$(cd "$CACHE_DIR" && pwd) || die_arg "--cache: cannot create $CACHE_DIR"
fi
[ -n "$BUDGET" ] || { [ "$REHEARSE" = 1 ] && BUDGET=3600 || BUDGET=480; }
# A rehearsal runs on a small CPU device: every step's own limit is 3x the GPU's, and the wide
# model's bench 10 steps instead of 30.
LIMIT_SCALE=1
[ "$REHEARSE" = 1 ] && LIMIT_SCALE=3

# A rehearsal proves that nothing reaches the network: it runs again inside a network namespace
# of its own (loopback only) when the kernel lets it.
if [ "$REHEARSE" = 1 ] && [ -z "${CLVAE_DEVCHECK_NONET:-}" ] && unshare -n true 2>/dev/null; then
  again=(--bundle "$BUNDLE" --out "$RESULTS" --budget "$BUDGET" --rehearse)
  [ "$TUNE" -gt 0 ] && again+=(--tune "$TUNE")
  [ "$KEEP" = 1 ] && again+=(--keep)
  [ -n "$CACHE_DIR" ] && again+=(--cache "$CACHE_DIR")
  CLVAE_DEVCHECK_NONET=1 exec unshare -n bash "$0" "${again[@]}"
fi
NETWORK="not isolated"
[ -n "${CLVAE_DEVCHECK_NONET:-}" ] && NETWORK="none (unshare -n)"

START=$(date +%s)
DEADLINE=$(( START + BUDGET ))
mkdir -p "$RESULTS" || die_arg "--out: cannot create $RESULTS"
RESULTS=$(cd "$RESULTS" && pwd)
WORK=$(mktemp -d /tmp/clvae-devcheck.XXXXXX)
[ "$KEEP" = 1 ] || trap 'rm -rf "$WORK"' EXIT
LOG="$RESULTS/device-check.log"
: >"$LOG"
mkdir -p "$WORK/res"
STEPS="$WORK/res/steps.tsv"
: >"$STEPS"
say() { echo "$*" | tee -a "$LOG"; }

# step NAME LIMIT OUTFILE CMD...: runs CMD with stdout to OUTFILE (stderr to the log, its last
# lines also to the terminal when CMD fails), under the smaller of LIMIT and the budget left;
# records status and seconds in steps.tsv.
step() {
  local name=$1 limit=$2 out=$3; shift 3
  local left=$(( DEADLINE - $(date +%s) )) t0 rc status
  limit=$(( limit * LIMIT_SCALE ))
  [ "$limit" -gt "$left" ] && limit=$left
  if [ "$limit" -lt 5 ]; then
    printf '%s\tskipped\t0\tbudget spent\n' "$name" >>"$STEPS"; say "-- $name: skipped (budget spent)"; return 124
  fi
  say "-- $name (limit ${limit}s): $*"
  t0=$(date +%s.%N)
  timeout -k 5 "$limit" bash -c '"$@"' step "$@" >"$out" 2>"$WORK/res/stderr"
  rc=$?
  cat "$WORK/res/stderr" >>"$LOG"
  case $rc in 0) status=ok ;; 124|137) status=timeout ;; *) status="failed (exit $rc)" ;; esac
  printf '%s\t%s\t%s\t\n' "$name" "$status" "$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')" >>"$STEPS"
  [ "$out" = /dev/null ] || tail -n 40 "$out" >>"$LOG"
  say "   $status"
  [ "$rc" = 0 ] || tail -n 6 "$WORK/res/stderr" | sed 's/^/   | /'
  return $rc
}
note() { printf '%s\t%s\t0\t%s\n' "$1" "$2" "$3" >>"$STEPS"; say "-- $1: $2 $3"; }

SYSROOT="$WORK/sysroot"
LIBDIR="$SYSROOT/usr/lib/x86_64-linux-gnu"
DATA="$BUNDLE/sysroot/usr/share/datasets/fashion-mnist"
say "clvae device check ($([ "$REHEARSE" = 1 ] && echo rehearsal on this machine || echo GPU)), $(date -u +%Y-%m-%dT%H:%M:%SZ), $(uname -n), $(nproc) CPUs, network: $NETWORK"
say "bundle: $(sed -n 2p "$BUNDLE/MANIFEST" 2>/dev/null); budget ${BUDGET}s; work dir $WORK"

# --- tools --------------------------------------------------------------------------------
CMAKE=$(command -v cmake || true)
if [ -z "$CMAKE" ] && command -v python3 >/dev/null; then
  pybin=$(python3 -c 'import os, sys; print(os.path.dirname(sys.executable))' 2>/dev/null)
  [ -x "$pybin/cmake" ] && CMAKE="$pybin/cmake"
fi
CC_BIN=$(command -v cc || command -v gcc || command -v clang || true)
GEN=""
command -v ninja >/dev/null && GEN=Ninja
[ -z "$GEN" ] && ! command -v make >/dev/null && CMAKE=""   # no build tool: say so below
if [ -z "$CMAKE" ] || [ -z "$CC_BIN" ]; then
  note tools failed "need a C compiler (cc: ${CC_BIN:-none}), cmake (${CMAKE:-none}) and make or ninja"
else
  note tools ok "$("$CC_BIN" --version | head -1); $("$CMAKE" --version | head -1); ${GEN:-make}"
fi

# --- build from the bundle ----------------------------------------------------------------
# The sysroot's libraries and headers are copied (the data set stays in the bundle) and its
# pkg-config files pointed at the copy; the bundle's pkgconf runs the build's pkg-config calls,
# restricted to the sysroot's .pc files.
build_clvae() {
  mkdir -p "$SYSROOT/usr" "$WORK/src" && cp -a "$BUNDLE/sysroot/usr/include" "$BUNDLE/sysroot/usr/lib" "$BUNDLE/sysroot/usr/bin" "$SYSROOT/usr/" || return 1
  find "$SYSROOT" -name '*.pc' -exec sed -i -E "s#(^[a-z_]+=|-I|-L)/usr#\\1$SYSROOT/usr#g" {} + || return 1
  printf '#!/bin/sh\nLD_LIBRARY_PATH="%s" PKG_CONFIG_LIBDIR="%s/pkgconfig:%s/usr/share/pkgconfig" exec "%s/usr/bin/pkgconf" "$@"\n' \
    "$LIBDIR" "$LIBDIR" "$SYSROOT" "$SYSROOT" >"$WORK/pkg-config" && chmod +x "$WORK/pkg-config" || return 1
  tar -xzf "$BUNDLE/src.tar.gz" -C "$WORK/src" || return 1
  PKG_CONFIG_LIBDIR="$LIBDIR/pkgconfig:$SYSROOT/usr/share/pkgconfig" "$CMAKE" -S "$WORK/src/clvae" -B "$WORK/build" ${GEN:+-G "$GEN"} \
    -DCMAKE_BUILD_TYPE=Release -DCMAKE_C_COMPILER="$CC_BIN" -DPKG_CONFIG_EXECUTABLE="$WORK/pkg-config" \
    -DCMAKE_PREFIX_PATH="$SYSROOT/usr" -DCLVAE_MPI=OFF || return 1
  if grep -q "building the reference backend only" "$WORK/build/CMakeFiles/CMakeOutput.log" "$LOG" 2>/dev/null; then
    echo "device-check: the build found no OpenCL or CLBlast in the bundle" >&2; return 1
  fi
  "$CMAKE" --build "$WORK/build" --target clvae_cli -j "${JOBS:-$(nproc)}" || return 1
}
BIN="$WORK/build/clvae"
export WORK SYSROOT LIBDIR BUNDLE CMAKE CC_BIN GEN LOG BIN
export -f build_clvae
if [ -n "$CMAKE" ] && [ -n "$CC_BIN" ]; then
  step build 300 "$WORK/res/build.out" build_clvae
fi
HAVE_BIN=0
[ -x "$BIN" ] && HAVE_BIN=1
# clvae runs with the bundle's libraries (ICD loader, CLBlast, ...) from its source tree (for
# config/default.ini); the peers run with the system's.
printf '#!/bin/sh\ncd "%s/src/clvae" && LD_LIBRARY_PATH="%s" exec "%s" "$@"\n' "$WORK" "$LIBDIR" "$BIN" >"$WORK/clvae"
chmod +x "$WORK/clvae"

# --- OpenCL platforms and the GPU's ICD ---------------------------------------------------
VENDORS=/etc/OpenCL/vendors
icds=$(find "$VENDORS" -maxdepth 1 -name '*.icd' -printf '%f ' 2>/dev/null)
say "OpenCL ICD files in $VENDORS: ${icds:-none}"
if [ "$REHEARSE" = 1 ]; then
  SEL=(--set device.backend=opencl --set device.platform=portable)   # PoCL, per docs/devices.md
  TORCH_DEV=cpu
  note icd ok "rehearsal: PoCL (platform 'portable'), ICD files: ${icds:-none}"
else
  SEL=(--set device.backend=opencl --set device.type=gpu)
  TORCH_DEV=cuda
  if ls "$VENDORS"/nvidia*.icd >/dev/null 2>&1; then
    note icd ok "NVIDIA ICD present: $(cat "$VENDORS"/nvidia*.icd | head -1)"
  else
    lib=""
    for d in /usr/local/nvidia/lib64 /usr/local/nvidia/lib /usr/lib/x86_64-linux-gnu /usr/lib64 /usr/local/cuda/compat; do
      [ -e "$d/libnvidia-opencl.so.1" ] && { lib="$d/libnvidia-opencl.so.1"; break; }
    done
    [ -z "$lib" ] && lib=$(ldconfig -p 2>/dev/null | awk '/libnvidia-opencl.so.1/ { print $NF; exit }')
    if [ -n "$lib" ]; then
      mkdir -p "$WORK/vendors"
      cp "$VENDORS"/*.icd "$WORK/vendors/" 2>/dev/null
      echo "$lib" >"$WORK/vendors/nvidia.icd"
      export OCL_ICD_VENDORS="$WORK/vendors"
      note icd ok "no nvidia.icd in $VENDORS: the driver's $lib is there, so a private ICD file names it (OCL_ICD_VENDORS)"
    else
      note icd failed "NO GPU VENDOR ICD: no $VENDORS/nvidia.icd and no libnvidia-opencl.so.1 (the driver's OpenCL part is not installed or not mounted here); OpenCL sees no GPU"
    fi
  fi
fi
if [ "$HAVE_BIN" = 1 ]; then
  step platforms 30 "$WORK/res/devices.txt" "$WORK/clvae" devices
  sed -n '1,40p' "$WORK/res/devices.txt"
  if [ "$REHEARSE" = 0 ] && ! grep -q "type gpu" "$WORK/res/devices.txt"; then
    note gpu-device failed "OpenCL lists no GPU device (see the platforms above)"
  fi
fi

# --- the Pythons for the peers ------------------------------------------------------------
pick_python() { # MODULE CANDIDATE... -> the first that imports MODULE (GPU mode: and sees the GPU)
  local mod=$1 py test; shift
  test="import $mod"
  if [ "$REHEARSE" = 0 ]; then
    [ "$mod" = torch ] && test="import torch; assert torch.cuda.is_available()"
    [ "$mod" = jax ] && test="import jax; assert jax.devices()[0].platform == 'gpu'"
  fi
  for py in "$@"; do
    [ -n "$py" ] && [ "$py" != none ] || continue
    command -v "$py" >/dev/null || continue
    timeout 90 "$py" -c "$test" >/dev/null 2>&1 && { echo "$py"; return 0; }
  done
  return 1
}
TPY=$(pick_python torch "${TORCH_PYTHON:-}" python3 /usr/bin/python3) || TPY=""
if [ "${JAX_PYTHON:-}" = none ]; then JPY=""
else JPY=$(pick_python jax "${JAX_PYTHON:-}" python3 /tmp/jaxenv/bin/python) || JPY=""; fi
note torch-python "$([ -n "$TPY" ] && echo ok || echo skipped)" "${TPY:-no python with torch$([ "$REHEARSE" = 0 ] && echo ' and CUDA')}"
note jax-python "$([ -n "$JPY" ] && echo ok || echo skipped)" "${JPY:-no python with jax$([ "$REHEARSE" = 0 ] && echo ' on the GPU')}"

# --- clvae check on the device ------------------------------------------------------------
DATASET=(--set data.train="$DATA/train-images-idx3-ubyte.gz" --set data.test="$DATA/t10k-images-idx3-ubyte.gz")
CACHE=(--set device.cache="${CACHE_DIR:-$WORK/cache}")
if [ "$HAVE_BIN" = 1 ]; then
  step check 150 "$WORK/res/check.txt" "$WORK/clvae" check "${SEL[@]}" "${DATASET[@]}" "${CACHE[@]}"
  # The op table is long: its failures, the training-trajectory rows and the count.
  grep -E "FAIL|training steps|^check:" "$WORK/res/check.txt"
fi

# --- bench: clvae, the PyTorch peer and the JAX peer, per model ---------------------------
PEER_EPOCHS=${PEER_EPOCHS:-2}
THREADS=${TORCH_THREADS:-$([ "$REHEARSE" = 1 ] && echo 1 || nproc)}
TORCH_ENV=()
if [ "$REHEARSE" = 1 ]; then # OpenBLAS may detect a generic core in a VM (see bench/run.sh)
  grep -qw avx512f /proc/cpuinfo && TORCH_ENV=(OPENBLAS_CORETYPE=SKYLAKEX) || { grep -qw avx2 /proc/cpuinfo && TORCH_ENV=(OPENBLAS_CORETYPE=HASWELL); }
fi
bench_model() { # NAME HIDDEN BATCH STEPS
  local m=$1 h=$2 b=$3 s=$4
  local model=(--set model.encoder="$h" --set model.decoder="$h" --set train.batch="$b")
  if [ "$HAVE_BIN" = 1 ]; then
    if [ "$TUNE" -gt 0 ]; then
      step "tune-$m" $(( TUNE + 120 )) "$WORK/res/$m.tune.txt" "$WORK/clvae" tune --seconds "$TUNE" "${SEL[@]}" "${DATASET[@]}" "${CACHE[@]}" "${model[@]}"
    fi
    local auto=off; [ "$TUNE" -gt 0 ] && auto=first-use
    step "bench-$m-clvae" 120 "$WORK/res/$m.clvae.json" "$WORK/clvae" bench --steps "$s" "${SEL[@]}" "${DATASET[@]}" "${CACHE[@]}" "${model[@]}" --set device.autotune="$auto"
  fi
  if [ -n "$TPY" ]; then
    step "bench-$m-torch" 150 "$WORK/res/$m.torch.json" env "${TORCH_ENV[@]}" "$TPY" "$BUNDLE/peer/torch_vae.py" --epochs "$PEER_EPOCHS" \
      --device "$TORCH_DEV" --threads "$THREADS" --hidden "$h" --batch "$b" --data-dir "$DATA"
  fi
  if [ -n "$JPY" ]; then
    step "bench-$m-jax" 150 "$WORK/res/$m.jax.json" "$JPY" "$BUNDLE/peer/jax_vae.py" --epochs "$PEER_EPOCHS" --mode scan \
      --hidden "$h" --batch "$b" --data-dir "$DATA"
  fi
}
bench_model default 400 128 "${STEPS_DEFAULT:-200}"
bench_model wide 2048 2048 "${STEPS_WIDE:-$([ "$REHEARSE" = 1 ] && echo 10 || echo 30)}"

# --- one table and one JSON file ----------------------------------------------------------
SUMMARY_PY=$(command -v python3 || command -v /usr/bin/python3)
"$SUMMARY_PY" "$HERE/device_check_report.py" "$WORK/res" "$RESULTS/device-check.json" \
  "$([ "$REHEARSE" = 1 ] && echo rehearse || echo gpu)" "$(uname -n)" "$NETWORK" "$(( $(date +%s) - START ))" "$BUDGET" \
  "$(sed -n 2p "$BUNDLE/MANIFEST" 2>/dev/null)" | tee -a "$LOG"
rc=${PIPESTATUS[0]}
say "json: $RESULTS/device-check.json; log: $RESULTS/device-check.log"
[ "$KEEP" = 1 ] && say "kept: $WORK"
exit "$rc"
