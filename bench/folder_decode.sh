#!/usr/bin/env bash
# Image-folder decode speed, clvae next to Pillow in one run:
#   bench/folder_decode.sh [BUILD_DIR]    (N=20000 JPEGs of SRC=218x178 (HxW, CelebA's size),
#                                          resized to OUT=64x64, Q=90; DIR keeps the folder)
# 1. Writes (once; kept in DIR) N colour JPEGs from Fashion-MNIST (colourized, upsized with
#    Pillow's bicubic to SRC) in 10 class folders by label.
# 2. clvae: BUILD_DIR/bench/bench_folder loads the folder with data.image_size=OUT (one thread per
#    core, area resize), cold (a fresh cache directory: every file decoded) and warm (the cache).
# 3. Pillow: Image.open + convert("RGB") + resize(OUT, Image.BOX) (its area filter) + np.asarray
#    for every file, in 1 process and in one process per core (multiprocessing.Pool).
# Prints one JSON line each and the ratio of images per second. The machine is shared: read the
# ratio of one run, and rerun on a quiet machine before quoting numbers.
set -euo pipefail
BUILD=${1:-build}
N=${N:-20000}
SRC=${SRC:-218x178}
OUT=${OUT:-64x64}
Q=${Q:-90}
DIR=${DIR:-/tmp/clvae-folder-bench-$N-$SRC-q$Q}
PY=/usr/bin/python3
BENCH=$BUILD/bench/bench_folder
[ -x "$BENCH" ] || { echo "folder_decode.sh: $BENCH not found; build first (cmake --build $BUILD)"; exit 2; }
"$PY" -c 'import numpy, PIL' 2>/dev/null || { echo "folder_decode.sh: needs python3-numpy and python3-pil"; exit 2; }

if [ ! -f "$DIR/.complete" ]; then
  echo "== writing $N JPEGs of $SRC to $DIR"
  rm -rf "$DIR"; mkdir -p "$DIR"
  "$PY" - "$DIR" "$N" "$SRC" "$Q" <<'PYEOF'
import gzip, os, sys
import numpy as np
from PIL import Image
root, n, (h, w), q = sys.argv[1], int(sys.argv[2]), map(int, sys.argv[3].split("x")), int(sys.argv[4])
base = "/usr/share/datasets/fashion-mnist/"
with gzip.open(base + "train-images-idx3-ubyte.gz") as f:
    imgs = np.frombuffer(f.read()[16:], np.uint8).reshape(-1, 28, 28)
with gzip.open(base + "train-labels-idx1-ubyte.gz") as f:
    labels = np.frombuffer(f.read()[8:], np.uint8)
for i in range(n):
    g = imgs[i % len(imgs)]
    rgb = np.stack([g, 255 - g, (g.astype(np.int32) * (i % 7) // 6).astype(np.uint8)], -1)
    d = os.path.join(root, "class%d" % labels[i % len(labels)])
    os.makedirs(d, exist_ok=True)
    Image.fromarray(rgb).resize((w, h), Image.BICUBIC).save(os.path.join(d, "%06d.jpg" % i), quality=q)
open(os.path.join(root, ".complete"), "w").write("done\n")
PYEOF
fi

echo "== clvae (bench_folder, data.image_size=$OUT)"
clvae_json=$("$BENCH" "$DIR" --set data.image_size="$OUT" 2>/dev/null | tail -1)
echo "$clvae_json"

echo "== Pillow (open + convert RGB + resize BOX + asarray)"
pil_json=$("$PY" - "$DIR" "$OUT" <<'PYEOF'
import json, os, sys, time
from multiprocessing import Pool
import numpy as np
from PIL import Image
root, (h, w) = sys.argv[1], map(int, sys.argv[2].split("x"))
files = sorted(os.path.join(dp, f) for dp, _, fs in os.walk(root) for f in fs if f.endswith(".jpg"))
def load(p):
    return np.asarray(Image.open(p).convert("RGB").resize((w, h), Image.BOX))
t0 = time.perf_counter(); a = [load(p) for p in files]; one = time.perf_counter() - t0
cores = os.cpu_count()
t0 = time.perf_counter()
with Pool(cores) as pool:
    b = pool.map(load, files, chunksize=64)
many = time.perf_counter() - t0
print(json.dumps({"images": len(files), "one_process_s": round(one, 3),
                  "one_process_images_per_s": round(len(files) / one, 1), "processes": cores,
                  "pool_s": round(many, 3), "pool_images_per_s": round(len(files) / many, 1)}))
PYEOF
)
echo "$pil_json"
"$PY" - "$clvae_json" "$pil_json" <<'PYEOF'
import json, sys
c, p = json.loads(sys.argv[1]), json.loads(sys.argv[2])
print("clvae / Pillow images per second: %.2fx (one process), %.2fx (%d processes); cache hit %.2f s"
      % (c["cold_images_per_s"] / p["one_process_images_per_s"],
         c["cold_images_per_s"] / p["pool_images_per_s"], p["processes"], c["warm_s"]))
PYEOF
