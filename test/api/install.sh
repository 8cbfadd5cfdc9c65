#!/usr/bin/env bash
# The installed library as a user sees it: `cmake --install` into a temporary prefix; the shared
# library's SONAME and exported symbols (clvae_ only); examples/train_arrays.c built against the
# prefix with CMake (find_package(clvae)) and with pkg-config, and run.
set -euo pipefail
: "${CLVAE_BUILD:?}" "${CLVAE_SRC:?}" "${CLVAE_TMP:?}"
work="$CLVAE_TMP/api_install"
rm -rf "$work"
mkdir -p "$work"
prefix="$work/prefix"
cmake --install "$CLVAE_BUILD" --prefix "$prefix" > "$work/install.log"

lib="$prefix/lib/libclvae.so"
for f in "$lib" "$prefix/include/clvae/clvae.h" "$prefix/lib/pkgconfig/clvae.pc" \
         "$prefix/lib/cmake/clvae/clvae-config.cmake" "$prefix/lib/cmake/clvae/clvae-config-version.cmake"; do
  [ -e "$f" ] || { echo "FAIL: $f not installed"; exit 1; }
done
soname=$(readelf -d "$lib" | sed -n 's/.*Library soname: \[\(.*\)\]/\1/p')
[[ "$soname" =~ ^libclvae\.so\.[0-9]+$ ]] || { echo "FAIL: SONAME '$soname'"; exit 1; }
others=$(nm -D --defined-only "$lib" | awk '{print $3}' | grep -v '^clvae_' || true)
[ -z "$others" ] || { echo "FAIL: symbols outside clvae_ exported:"; echo "$others" | head; exit 1; }
internal=$(nm -D --defined-only "$lib" | awk '{print $3}' | grep -E '^clvae_(model|train|dataset|backend|config)_' || true)
[ -z "$internal" ] || { echo "FAIL: internal functions exported: $internal"; exit 1; }
echo "ok: SONAME $soname, $(nm -D --defined-only "$lib" | wc -l) exported symbols, all clvae_"

# With CMake's package.
cmake -S "$CLVAE_SRC/examples" -B "$work/cmake-build" -DCMAKE_PREFIX_PATH="$prefix" \
  -DCMAKE_BUILD_TYPE=Release > "$work/cmake.log" 2>&1 || { cat "$work/cmake.log"; exit 1; }
cmake --build "$work/cmake-build" > "$work/build.log" 2>&1 || { cat "$work/build.log"; exit 1; }
(cd "$work" && ./cmake-build/train_arrays ref "$work/cmake.safetensors") | tee "$work/cmake.out"
echo "ok: built with find_package(clvae) and ran"

# With pkg-config.
export PKG_CONFIG_PATH="$prefix/lib/pkgconfig"
cc -std=c11 -Wall -Wextra -Werror -o "$work/train_arrays_pc" "$CLVAE_SRC/examples/train_arrays.c" \
  $(pkg-config --cflags --libs clvae) -lm -Wl,-rpath,"$prefix/lib"
(cd "$work" && ./train_arrays_pc ref "$work/pc.safetensors") | tee "$work/pc.out"
echo "ok: built with pkg-config and ran"
# The two runs trained the same model: the same losses, latents and scores.
diff <(grep -v '^reloaded' "$work/cmake.out") <(grep -v '^reloaded' "$work/pc.out")
echo "ok: both builds trained the same model"
