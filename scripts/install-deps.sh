#!/usr/bin/env bash
# Installs the Debian packages clvae needs. Two sets:
#   run   what building and training need (make run): compiler, CMake, OpenCL (ICD loader,
#         headers, PoCL for a CPU device), CLBlast, inih, cJSON, zlib, libpng, libjpeg-turbo and the default
#         data set (dataset-fashion-mnist)
#   test  run plus what the test suite and benchmarks use (make test): more OpenCL drivers
#         (Mesa rusticl, Oclgrind, clinfo), OpenBLAS, python3-numpy and python3-torch (golden
#         files, the PyTorch cross-checks), python3-pil (the image-folder reference), python3-pytest
#         and python3-pip (the Python package's tests and its pip install), Open MPI (data-parallel
#         training and its tests; without libopenmpi-dev clvae builds for one process)
# Usage: install-deps.sh [run|test]   (default test: everything)
#        install-deps.sh --list run|test   prints the set, one package a line, installs nothing
# Idempotent: when everything is present it only checks and returns. Without root it prints the
# command to run instead.
set -euo pipefail

RUN_PACKAGES=(
  build-essential cmake pkg-config
  ocl-icd-opencl-dev opencl-headers pocl-opencl-icd
  libclblast-dev
  libinih-dev libcjson-dev zlib1g-dev libpng-dev libjpeg62-turbo-dev
  dataset-fashion-mnist
)
TEST_PACKAGES=(
  clinfo mesa-opencl-icd oclgrind
  libopenblas-dev
  python3-torch python3-numpy python3-pil python3-pytest python3-pip
  clang libclang-rt-14-dev
  openmpi-bin libopenmpi-dev
)

packages_for() {
  case "$1" in
    run) printf '%s\n' "${RUN_PACKAGES[@]}" ;;
    test|all) printf '%s\n' "${RUN_PACKAGES[@]}" "${TEST_PACKAGES[@]}" ;;
    *) echo "install-deps: unknown set '$1'; valid: run, test" >&2; return 2 ;;
  esac
}

if [ "${1:-}" = "--list" ]; then
  packages_for "${2:-test}"
  exit $?
fi
set_name=${1:-test}
mapfile -t PACKAGES < <(packages_for "$set_name") || exit 2
[ ${#PACKAGES[@]} -gt 0 ] || exit 2

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

echo "install-deps ($set_name): missing Debian packages: ${missing[*]}"
cmd="apt-get install -y --no-install-recommends ${missing[*]}"
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    SUDO=sudo
  else
    echo "install-deps: not root; run as root:"
    echo "  apt-get update && $cmd"
    exit 1
  fi
else
  SUDO=
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
