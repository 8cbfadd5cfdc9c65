#!/usr/bin/env python3
"""Writes 64x64x3 uint8 NPY arrays (n, 64, 64, 3) from Debian's Fashion-MNIST for bench/conv.sh's
vanilla64 runs: each 28x28 image is resized to 64x64 (Pillow, bilinear) and tinted with one of 8
fixed colours by its index, so the three channels differ. A speed workload of the right shape,
not a new data set: the quality figures in the docs come from Fashion-MNIST itself.
Usage: make_rgb64.py OUT_DIR [N_TRAIN] [N_TEST]   (writes train64.npy, test64.npy)"""
import gzip, os, sys

import numpy as np
from PIL import Image

DATA = "/usr/share/datasets/fashion-mnist"
TINTS = np.array([[1.0, 0.9, 0.8], [0.6, 0.8, 1.0], [1.0, 0.6, 0.6], [0.7, 1.0, 0.7],
                  [1.0, 1.0, 0.5], [0.8, 0.6, 1.0], [0.5, 1.0, 1.0], [1.0, 0.75, 0.5]])


def read_idx(path):
    with gzip.open(path, "rb") as f:
        b = f.read()
    n, h, w = (int.from_bytes(b[i:i + 4], "big") for i in (4, 8, 12))
    return np.frombuffer(b, np.uint8, offset=16).reshape(n, h, w)


def rgb64(images):
    out = np.empty((len(images), 64, 64, 3), np.uint8)
    for i, im in enumerate(images):
        big = np.asarray(Image.fromarray(im).resize((64, 64), Image.BILINEAR), np.float32)
        out[i] = np.clip(big[:, :, None] * TINTS[i % len(TINTS)], 0, 255).astype(np.uint8)
    return out


def main():
    out_dir = sys.argv[1]
    n_train = int(sys.argv[2]) if len(sys.argv) > 2 else 6400
    n_test = int(sys.argv[3]) if len(sys.argv) > 3 else 1000
    os.makedirs(out_dir, exist_ok=True)
    np.save(os.path.join(out_dir, "train64.npy"), rgb64(read_idx(f"{DATA}/train-images-idx3-ubyte.gz")[:n_train]))
    np.save(os.path.join(out_dir, "test64.npy"), rgb64(read_idx(f"{DATA}/t10k-images-idx3-ubyte.gz")[:n_test]))


if __name__ == "__main__":
    main()
