# Shared preamble of the shell-driven CLI tests (test/cli_*.sh), sourced, not a test itself:
#   . "${CLVAE_SRC:?}/test/cli_common.bash"; cli_begin NAME    # BIN, SRC, a fresh TMP, ok/bad
#   need_data; need_python numpy; need_opencl                  # skip (77) when a part is absent
#   ...; cli_end                                                # summary line, exit status
# ctest sets CLVAE_BIN, CLVAE_SRC, CLVAE_TMP and a private XDG_CACHE_HOME (test/CMakeLists.txt).
set -u
DATA=/usr/share/datasets/fashion-mnist
PY=/usr/bin/python3   # Debian's python (python3-torch, python3-numpy); ctest's may be a pyenv
fail=0; pass=0
ok() { pass=$((pass+1)); }
bad() { echo "FAIL: $*"; fail=$((fail+1)); }
skip() { echo "SKIP: $*"; exit 77; }

cli_begin() { # NAME: the test's name and its scratch directory under CLVAE_TMP
  CLI_NAME=$1
  BIN=${CLVAE_BIN:-}; SRC=${CLVAE_SRC:?}; TMP=${CLVAE_TMP:-/tmp}/$1
  rm -rf "$TMP"; mkdir -p "$TMP"
}

need_data() { # Debian's dataset-fashion-mnist
  [ -f "$DATA/train-images-idx3-ubyte.gz" ] || skip "$DATA missing (apt-get install dataset-fashion-mnist)"
}

need_python() { # MODULE...: $PY must import them
  local m
  for m in "$@"; do
    "$PY" -c "import $m" 2>/dev/null || skip "$PY lacks $m (apt-get install python3-$m)"
  done
}

need_opencl() { # at least one OpenCL device, as `clvae devices` lists them
  "$BIN" devices >"$TMP/devices.txt" 2>&1 || { echo "FAIL: clvae devices"; exit 1; }
  grep -q "backend = opencl" "$TMP/devices.txt" || skip "no OpenCL device"
}

cli_end() {
  echo "$CLI_NAME: $pass passed, $fail failed"
  [ "$fail" -eq 0 ]
}
