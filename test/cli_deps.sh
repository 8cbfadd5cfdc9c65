#!/usr/bin/env bash
# scripts/install-deps.sh: `make run` installs the run set (build + train), `make test` the
# test set. Checks the run set leaves out the test-only packages (python3-torch: hundreds of
# MB), the test set holds all of the run set, every package is a real Debian package, and
# every library the build requires (CMakeLists.txt's pkg-config modules) comes from a package
# of the run set, so a fresh machine builds and trains after `make run` alone.
. "${CLVAE_SRC:?}/test/cli_common.bash"; cli_begin cli_deps
S="$SRC/scripts/install-deps.sh"
command -v dpkg-query >/dev/null || { echo "SKIP: not a Debian system"; exit 77; }
run=$(bash "$S" --list run) || bad "--list run failed"
test=$(bash "$S" --list test) || bad "--list test failed"
for p in python3-torch python3-numpy oclgrind mesa-opencl-icd libopenblas-dev; do
  grep -qx "$p" <<<"$run" && bad "run set holds the test-only package $p" || ok
  grep -qx "$p" <<<"$test" && ok || bad "test set lacks $p"
done
for p in $run; do grep -qx "$p" <<<"$test" || bad "test set lacks run package $p"; done; ok
for p in $test; do # installed here (make test ran), else known to apt
  dpkg-query -W "$p" >/dev/null 2>&1 || apt-cache show "$p" >/dev/null 2>&1 || bad "$p is not a Debian package here"
done; ok
for m in $(sed -n 's/.*pkg_check_modules([A-Z]* \(REQUIRED \)\{0,1\}IMPORTED_TARGET \([A-Za-z]*\)).*/\2/p' "$SRC/CMakeLists.txt") zlib; do
  [ "$m" = openblas ] && continue # bench only
  pc=$(pkg-config --path "$m" 2>/dev/null) || { bad "pkg-config module $m not installed"; continue; }
  owner=$(dpkg -S "$pc" 2>/dev/null | cut -d: -f1)
  grep -qx "$owner" <<<"$run" && ok || bad "$m ($pc) comes from '$owner', not in the run set"
done
bash "$S" bogus >/dev/null 2>&1; [ $? -eq 2 ] && ok || bad "an unknown set is not exit 2"
cli_end
