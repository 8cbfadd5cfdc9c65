#!/usr/bin/env bash
# Installs the Debian packages clvae needs to build, test and train. Idempotent: when everything is
# present it only checks and returns. Without root it prints the command to run instead.
set -euo pipefail

PACKAGES=(
  build-essential cmake pkg-config
  ocl-icd-opencl-dev opencl-headers clinfo
  pocl-opencl-icd mesa-opencl-icd oclgrind
  libclblast-dev libopenblas-dev
  libinih-dev libcjson-dev zlib1g-dev libpng-dev
  dataset-fashion-mnist
  python3-torch python3-numpy
)

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

echo "install-deps: missing Debian packages: ${missing[*]}"
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
