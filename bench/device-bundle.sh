#!/usr/bin/env bash
# Gathers, on a machine with Debian's package registry, everything bench/device-check.sh needs to
# build and run clvae on a GPU machine that reaches no registry: the Debian packages the build
# needs (OpenCL ICD loader and headers, CLBlast, inih, cJSON, zlib, libpng, libjpeg-turbo,
# pkgconf), downloaded with `apt-get download` and unpacked with `dpkg-deb -x` into a sysroot
# (docs, man pages and static libraries dropped); the default data set (dataset-fashion-mnist);
# the source tree at HEAD (`git archive`); and the two peers (torch_vae.py, jax_vae.py).
#   bash bench/device-bundle.sh [--out DIR] [--peers DIR] [--max-mib N]
#     --out DIR      where the bundle goes (default: device-bundle in the repo root; it is added
#                    to the checkout's .git/info/exclude so that git leaves it alone)
#     --peers DIR    the folder holding torch_vae.py and jax_vae.py (default: ../shared/peer)
#     --max-mib N    fail when the bundle is larger than N MiB (default 40)
# Layout: DIR/sysroot/usr/{include,lib,bin,share/datasets}, DIR/src.tar.gz, DIR/peer/*.py and
# DIR/MANIFEST (packages and versions, commit, size). Exit 0 done, 1 a download or size failure,
# 2 bad arguments. The packages are this machine's architecture and Debian release (glibc 2.36
# on bookworm); any x86-64 glibc >= that runs them.
set -euo pipefail

usage() { awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; }
die_arg() { echo "device-bundle.sh: $1" >&2; echo "run 'bash bench/device-bundle.sh --help' for the options" >&2; exit 2; }

REPO=$(cd "$(dirname "$0")/.." && pwd)
OUTDIR="$REPO/device-bundle"
PEERS="$REPO/../shared/peer"
MAX_MIB=40
while [ $# -gt 0 ]; do
  case "$1" in
    -h|--help) usage; exit 0 ;;
    --out) [ $# -ge 2 ] && [ -n "$2" ] || die_arg "--out needs a directory"; OUTDIR=$2; shift 2 ;;
    --peers) [ $# -ge 2 ] && [ -n "$2" ] || die_arg "--peers needs a directory"; PEERS=$2; shift 2 ;;
    --max-mib)
      [ $# -ge 2 ] || die_arg "--max-mib needs a number"
      [[ "$2" =~ ^[1-9][0-9]*$ ]] || die_arg "--max-mib '$2' is not a positive whole number of MiB"
      MAX_MIB=$2; shift 2 ;;
    *) die_arg "unknown argument '$1'; valid: --out DIR, --peers DIR, --max-mib N, --help" ;;
  esac
done
for p in torch_vae.py jax_vae.py; do
  [ -f "$PEERS/$p" ] || die_arg "--peers: $PEERS/$p not found (the folder must hold torch_vae.py and jax_vae.py)"
done
for t in apt-get dpkg-deb git; do
  command -v "$t" >/dev/null || { echo "device-bundle.sh: $t not found (a Debian machine is needed)" >&2; exit 1; }
done

# What CMakeLists.txt needs (pkg_check_modules inih, libcjson, libpng, libjpeg, OpenCL, clblast;
# find_package ZLIB and PkgConfig), with the runtime libraries the -dev packages' symlinks point
# to, pkgconf itself (a GPU image may lack pkg-config) and the data set.
PACKAGES=(
  ocl-icd-libopencl1 ocl-icd-opencl-dev opencl-c-headers
  libclblast1 libclblast-dev
  libinih1 libinih-dev libcjson1 libcjson-dev
  zlib1g zlib1g-dev libpng16-16 libpng-dev libjpeg62-turbo libjpeg62-turbo-dev
  pkgconf-bin libpkgconf3
  dataset-fashion-mnist
)

mkdir -p "$OUTDIR"
OUTDIR=$(cd "$OUTDIR" && pwd)
DEBS=$(mktemp -d /tmp/clvae-bundle.XXXXXX)
trap 'rm -rf "$DEBS"' EXIT
rm -rf "$OUTDIR/sysroot" "$OUTDIR/peer" "$OUTDIR/src.tar.gz" "$OUTDIR/MANIFEST"
mkdir -p "$OUTDIR/sysroot" "$OUTDIR/peer"

echo "device-bundle: downloading ${#PACKAGES[@]} Debian packages"
(cd "$DEBS" && apt-get download -q "${PACKAGES[@]}") >"$DEBS/apt.log" 2>&1 || {
  cat "$DEBS/apt.log" >&2
  echo "device-bundle.sh: apt-get download failed (run apt-get update first?)" >&2
  exit 1
}
{
  echo "clvae device bundle, made $(date -u +%Y-%m-%dT%H:%M:%SZ) on $(. /etc/os-release && echo "$PRETTY_NAME") $(dpkg --print-architecture)"
  echo "source: $(git -C "$REPO" rev-parse --short HEAD) $(git -C "$REPO" log -1 --format=%s | cut -c1-80)"
  echo "packages:"
} >"$OUTDIR/MANIFEST"
for deb in "$DEBS"/*.deb; do
  dpkg-deb -x "$deb" "$OUTDIR/sysroot"
  echo "  $(dpkg-deb -f "$deb" Package) $(dpkg-deb -f "$deb" Version)" >>"$OUTDIR/MANIFEST"
done
# Nothing the build or the run reads: documentation, man pages, bug scripts, lintian overrides
# and static libraries (CLBlast's alone is 8 MiB; the build links the shared ones).
rm -rf "$OUTDIR"/sysroot/usr/share/{doc,man,bug,lintian,info}
find "$OUTDIR/sysroot" -name '*.a' -delete
# One tree under usr/ (zlib1g installs into /lib), and symlinks that stay inside it: zlib1g-dev's
# libz.so points to /lib/x86_64-linux-gnu/libz.so.1.2.13, which another system lacks.
if [ -d "$OUTDIR/sysroot/lib" ]; then
  cp -a "$OUTDIR/sysroot/lib/." "$OUTDIR/sysroot/usr/lib/" && rm -rf "$OUTDIR/sysroot/lib"
fi
find "$OUTDIR/sysroot" -type l -lname '/*' | while read -r link; do
  ln -sfn "$(basename "$(readlink "$link")")" "$link"
  [ -e "$link" ] || { echo "device-bundle.sh: $link points outside the bundle" >&2; exit 1; }
done

git -C "$REPO" archive --format=tar.gz --prefix=clvae/ -o "$OUTDIR/src.tar.gz" HEAD
if [ -n "$(git -C "$REPO" status --porcelain --untracked-files=no)" ]; then
  echo "device-bundle: note: the bundle holds HEAD; uncommitted changes in $REPO are not in it"
fi
cp "$PEERS/torch_vae.py" "$PEERS/jax_vae.py" "$OUTDIR/peer/"

# Keep git from listing the bundle when it lies inside the checkout.
case "$OUTDIR/" in
  "$REPO"/*)
    excl=$(git -C "$REPO" rev-parse --git-path info/exclude)
    case "$excl" in /*) ;; *) excl="$REPO/$excl" ;; esac
    rel="/${OUTDIR#"$REPO"/}/"
    mkdir -p "$(dirname "$excl")"
    grep -qxF "$rel" "$excl" 2>/dev/null || echo "$rel" >>"$excl"
    ;;
esac

bytes=$(du -sb "$OUTDIR" | cut -f1)
mib=$(awk -v b="$bytes" 'BEGIN { printf "%.1f", b / 1048576 }')
echo "size: $mib MiB ($bytes bytes; data set $(du -sh "$OUTDIR/sysroot/usr/share/datasets" | cut -f1))" >>"$OUTDIR/MANIFEST"
echo "device-bundle: $OUTDIR, $mib MiB"
if [ "$bytes" -gt $(( MAX_MIB * 1048576 )) ]; then
  echo "device-bundle.sh: the bundle is $mib MiB, over the limit of $MAX_MIB MiB" >&2
  exit 1
fi
