#!/usr/bin/env bash
# The Python package: its pytest tests (python/tests) against this build's libclvae with
# Debian's python3 and numpy, then `pip install` of python/ into a temporary directory and an
# import from there that loads the library copied into the package. SKIP (77) without
# python3-numpy or python3-pytest.
set -euo pipefail
: "${CLVAE_BUILD:?}" "${CLVAE_SRC:?}" "${CLVAE_TMP:?}"
py=/usr/bin/python3
for m in numpy pytest; do
  if ! "$py" -c "import $m" 2>/dev/null; then
    echo "SKIP: $py has no $m (Debian: python3-$m)"
    exit 77
  fi
done
export PYTHONDONTWRITEBYTECODE=1
lib="$CLVAE_BUILD/libclvae.so.0"
CLVAE_LIBRARY="$lib" PYTHONPATH="$CLVAE_SRC/python" \
  "$py" -m pytest -q -p no:cacheprovider "$CLVAE_SRC/python/tests"

if ! "$py" -m pip --version >/dev/null 2>&1 || ! "$py" -c "import setuptools, wheel" 2>/dev/null; then
  echo "pip, setuptools or wheel missing (Debian: python3-pip): the install step is not checked"
  exit 0
fi
work="$CLVAE_TMP/python_install"
rm -rf "$work"
mkdir -p "$work"
cp -r "$CLVAE_SRC/python" "$work/src"     # pip builds in place: keep the source tree clean
rm -rf "$work/src/build" "$work/src"/*.egg-info
CLVAE_LIBRARY="$lib" "$py" -m pip install -q --no-build-isolation --no-deps --no-index \
  --target "$work/site" "$work/src" 2>&1 | grep -v "Running pip as the 'root' user" || true
cd "$work"
env -u CLVAE_LIBRARY PYTHONPATH="$work/site" "$py" - <<'PY'
import numpy as np, clvae
where = clvae._lib.lib._name
assert where.startswith(clvae._lib._HERE), where   # the copy inside the installed package
X = (np.random.default_rng(1).random((64, 16)) < 0.5).astype(np.uint8) * 255
vae = clvae.VAE(set={"model.encoder": 8, "model.decoder": 8, "model.latent": 2,
                     "train.epochs": 1, "train.batch": 16}, device="ref").fit(X)
print("installed package:", where, "score", vae.score(X, k=4))
PY
