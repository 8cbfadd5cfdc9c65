#!/usr/bin/python3
"""Regenerates the seed corpora in fuzz/corpus/ (committed; run again only to change them).

Small real files of every format the readers take: the first rows of Debian's Fashion-MNIST
(IDX raw and gzip), NPY files written by numpy itself (every dtype, shape and order people
use), label files, PNG and JPEG images of every colour type, a tiny checkpoint written by `clvae train`, config files, a tuning file in
the format `clvae tune` writes and a kernel-cache entry in the layout of ocl_cache.c.

usage: fuzz/make_seeds.py BUILD_DIR   (needs python3-numpy, dataset-fashion-mnist, BUILD_DIR/clvae)
"""
import gzip
import io
import json
import os
import struct
import subprocess
import sys
import tempfile

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CORPUS = os.path.join(ROOT, "fuzz", "corpus")
FMNIST = "/usr/share/datasets/fashion-mnist/"


def put(harness, name, data):
    d = os.path.join(CORPUS, harness)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def gz(data):
    return gzip.compress(data, mtime=0)


def npy(arr, version=None):
    b = io.BytesIO()
    if version is None:
        np.save(b, arr)
    else:
        np.lib.format.write_array(b, arr, version=version)
    return b.getvalue()


def idx_seeds():
    with gzip.open(FMNIST + "t10k-images-idx3-ubyte.gz") as f:
        f.read(16)
        images = f.read(3 * 784)
    with gzip.open(FMNIST + "t10k-labels-idx1-ubyte.gz") as f:
        f.read(8)
        labels = f.read(3)
    raw = struct.pack(">IIII", 0x803, 3, 28, 28) + images
    put("idx", "fmnist3.idx", raw)
    put("idx", "fmnist3.idx.gz", gz(raw))
    put("idx", "tiny2x2.idx", struct.pack(">IIII", 0x803, 2, 2, 2) + bytes(range(0, 256, 32)))
    lab = struct.pack(">II", 0x801, 3) + labels
    put("labels", "fmnist3-labels.idx", lab)
    put("labels", "fmnist3-labels.idx.gz", gz(lab))
    return np.frombuffer(images, np.uint8).reshape(3, 28, 28)


def npy_seeds(img):
    small = img[:, 10:14, 10:14]  # (3, 4, 4): keeps the seeds small
    put("npy", "u8-n-h-w.npy", npy(small))
    put("npy", "u8-n-d.npy", npy(small.reshape(3, 16)))
    put("npy", "f32-n-d.npy", npy((small.reshape(3, 16) / 255.0).astype("<f4")))
    put("npy", "f64-n-h-w.npy", npy(small / 255.0))
    put("npy", "f16-n-d.npy", npy((small.reshape(3, 16) / 255.0).astype("<f2")))
    put("npy", "u8-fortran.npy", npy(np.asfortranarray(small)))
    put("npy", "u8-n-h-w-1.npy", npy(small.reshape(3, 4, 4, 1)))
    put("npy", "i64-n-d.npy", npy(small.reshape(3, 16).astype("<i8")))
    put("npy", "i16-n-d.npy", npy(small.reshape(3, 16).astype("<i2")))
    put("npy", "bool-n-d.npy", npy(small.reshape(3, 16) > 128))
    put("npy", "u8-v2.npy", npy(small, version=(2, 0)))
    put("npy", "u8-v3.npy", npy(small, version=(3, 0)))
    put("npy", "u8-n-h-w.npy.gz", gz(npy(small)))
    put("npy", "f32-big-endian.npy", npy((small.reshape(3, 16) / 255.0).astype(">f4")))


def label_seeds(img):
    lab = np.array([9, 2, 1])
    put("labels", "labels-u8.npy", npy(lab.astype(np.uint8)))
    put("labels", "labels-i32.npy", npy(lab.astype("<i4")))
    put("labels", "labels-i64.npy", npy(lab.astype("<i8")))
    put("labels", "labels-i64.npy.gz", gz(npy(lab.astype("<i8"))))


def checkpoint_seeds(build):
    with tempfile.TemporaryDirectory() as run:
        subprocess.run([os.path.join(build, "clvae"), "train", "--set", "device.backend=ref",
                        "--set", "model.encoder=2", "--set", "model.decoder=2",
                        "--set", "model.latent=1", "--set", "data.limit_train=16",
                        "--set", "data.limit_test=16", "--set", "train.epochs=1",
                        "--set", "train.batch=8", "--set", "output.dir=" + run],
                       check=True, stdout=subprocess.DEVNULL)
        with open(os.path.join(run, "checkpoint.safetensors"), "rb") as f:
            put("safetensors", "tiny-checkpoint.safetensors", f.read())
        with open(os.path.join(run, "config.ini"), "rb") as f:
            put("config_ini", "run-config.ini", f.read())
    # the smallest file of each dtype, with metadata, as the safetensors library writes them
    tensors = [("a", "F32", [2], struct.pack("<2f", 1.0, -2.0)),
               ("b", "F64", [1, 1], struct.pack("<d", 3.0)),
               ("c", "I64", [], struct.pack("<q", 7)),
               ("d", "U8", [3], b"\x01\x02\x03")]
    header, pos = {"__metadata__": {"format": "pt", "step": "1"}}, 0
    for name, dt, shape, data in tensors:
        header[name] = {"dtype": dt, "shape": shape, "data_offsets": [pos, pos + len(data)]}
        pos += len(data)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    put("safetensors", "four-dtypes.safetensors",
        struct.pack("<Q", len(text)) + text + b"".join(t[3] for t in tensors))


def loader_seeds(build):
    """The checkpoint harness (clvae_vae_load): small checkpoints of several model kinds written
    by `clvae train` on 16-feature NPY data (adam and sgd moments, conditional, learned-variance
    Gaussian, two stochastic layers, stopped mid-epoch), plus the Fashion-MNIST one."""
    rng = np.random.default_rng(0)
    x = (rng.random((24, 16)) < 0.4).astype(np.uint8) * 255
    y = (np.arange(24) % 3).astype(np.uint8)
    kinds = {
        "adam": [],
        "sgd-gaussian-learned": ["train.optimizer=sgd", "train.momentum=0.9",
                                 "model.likelihood=gaussian-learned"],
        "conditional": ["model.conditional=true"],
        "two-layers": ["model.latent=2,1", "model.encoder=4 | 3", "model.decoder=3 | 4"],
        "mid-epoch": ["train.max_steps=2"],
    }
    with tempfile.TemporaryDirectory() as tmp:
        with open(os.path.join(tmp, "x.npy"), "wb") as f:
            f.write(npy(x))
        with open(os.path.join(tmp, "y.npy"), "wb") as f:
            f.write(npy(y))
        for name, extra in kinds.items():
            run = os.path.join(tmp, name)
            sets = ["device.backend=ref", "model.encoder=4", "model.decoder=4", "model.latent=2",
                    "data.train=" + os.path.join(tmp, "x.npy"),
                    "data.test=" + os.path.join(tmp, "x.npy"),
                    "data.train_labels=" + os.path.join(tmp, "y.npy"),
                    "data.test_labels=" + os.path.join(tmp, "y.npy"), "train.epochs=1",
                    "train.batch=8", "output.dir=" + run] + extra
            cmd = [os.path.join(build, "clvae"), "train"]
            for kv in sets:
                cmd += ["--set", kv]
            subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            with open(os.path.join(run, "checkpoint.safetensors"), "rb") as f:
                put("checkpoint", name + ".safetensors", f.read())
    with open(os.path.join(CORPUS, "safetensors", "tiny-checkpoint.safetensors"), "rb") as f:
        put("checkpoint", "fashion-mnist.safetensors", f.read())
    # regression inputs: a valid container whose config or tensors lie
    with open(os.path.join(CORPUS, "checkpoint", "adam.safetensors"), "rb") as f:
        good = f.read()
    n = struct.unpack("<Q", good[:8])[0]
    head, body = json.loads(good[8:8 + n]), good[8 + n:]

    def crasher(name, edit):
        h = json.loads(json.dumps(head))
        edit(h)
        text = json.dumps(h).encode()
        text += b" " * (-len(text) % 8)
        d = os.path.join(ROOT, "fuzz", "crashers", "checkpoint")
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, name), "wb") as f:
            f.write(struct.pack("<Q", len(text)) + text + body)

    meta = "__metadata__"
    crasher("config-huge-widths", lambda h: h[meta].update(
        config=h[meta]["config"].replace("encoder = 4", "encoder = 65536,65536")))
    crasher("config-huge-batch", lambda h: h[meta].update(
        config=h[meta]["config"].replace("batch = 8", "batch = 1000000000")))
    crasher("config-bad-key", lambda h: h[meta].update(config="[model]\nnosuchkey = 1\n"))
    crasher("config-missing", lambda h: h[meta].pop("config"))
    crasher("bias-claims-2g-features", lambda h: h["decoder.out.bias"].update(shape=[1 << 31]))


def config_seeds():
    with open(os.path.join(ROOT, "config", "default.ini"), "rb") as f:
        put("config_ini", "default.ini", f.read())
    put("config_ini", "small.ini", b"[model]\nencoder = 512,256\ndecoder = \"\"\nlatent = 2\n"
        b"activation = tanh ; inline comment\n[train]\nlr: 3e-4\nseed = 18446744073709551615\n"
        b"[device]\nbackend = ref\nautotune = off\n")
    put("config_ini", "long-value.ini", b"[data]\ntrain = /" + b"x" * 300 + b"\n")
    put("config_set", "sets.txt", b"model.latent=32\ntrain.batch = 64\nmodel.encoder=400,200\n"
        b"device.backend=ref\ndata.overlap=no\noutput.dir=\"runs/x\"\ntrain.momentum=0.5\n")
    put("config_set", "one.txt", b"train.lr=1e-2\n")
    with open(os.path.join(ROOT, "config", "gumbel.ini"), "rb") as f:  # latent_type, GxK keys
        put("config_ini", "gumbel.ini", f.read())
    put("config_set", "gumbel.txt", b"model.latent=4,1\nmodel.latent_type = gaussian, categorical\n"
        b"model.categorical=30X10\nmodel.hard=yes\ntrain.tau_decay=0\ntrain.tau_min=0.25\n")


def tuning_seeds():
    x = dict(zip("GEMMK KREG KWG KWI MDIMA MDIMC MWG NDIMB NDIMC NWG SA SB STRM STRN VWM VWN"
                 .split(), [0, 1, 16, 8, 2, 2, 64, 4, 4, 32, 0, 0, 1, 1, 16, 8]))
    d = dict(zip("WGD MDIMCD NDIMCD MDIMAD NDIMBD KWID VWMD VWND PADA PADB".split(),
                 [32, 8, 8, 8, 8, 1, 1, 1, 0, 0]))
    doc = {"format": "clvae-gemm-tuning", "version": 1, "platform": "Portable Computing Language",
           "device": "pthread-skylake-avx512-Intel(R) Xeon(R) Processor", "driver": "3.1+debian",
           "clblast": "1.5.3", "use_defaults": False, "Xgemm": x, "XgemmDirect": d,
           "GemmRoutine": {"XGEMM_MIN_INDIRECT_SIZE": 0}, "default_ms_per_step": 36.6,
           "tuned_ms_per_step": 6.29, "search_seconds": 49.5, "evaluated": 1, "rejected": 0,
           "shapes": [{"op": "NT", "m": 128, "n": 400, "k": 784, "calls": 1,
                       "default_ms": 3.1, "tuned_ms": 0.9}]}
    put("tuning", "tuned.json", json.dumps(doc, indent="\t").encode())
    doc.update(use_defaults=True, shapes=[])
    for k in ("Xgemm", "XgemmDirect", "GemmRoutine"):
        del doc[k]
    put("tuning", "defaults.json", json.dumps(doc).encode())


def fnv1a64(data):
    h = 0xcbf29ce484222325
    for b in data:
        h = ((h ^ b) * 0x100000001b3) & 0xFFFFFFFFFFFFFFFF
    return h


def image_seeds(img):
    """PNG of every colour type and depth and JPEG grey/RGB/progressive/CMYK/EXIF, 8x6 pixels."""
    sys.path.insert(0, os.path.join(ROOT, "test"))
    from folder_ref import png_write  # the test folder's plain PNG writer (any type and depth)
    from PIL import Image
    g = img[0, 10:18, 10:16]
    rgb = np.stack([g, 255 - g, g // 2], -1).astype(np.uint8)
    tmp = tempfile.mkdtemp()
    cases = [("grey8.png", g, 0, 8), ("grey16.png", g.astype(np.uint16) * 257, 0, 16),
             ("grey1.png", (g > 100).astype(np.uint8), 0, 1), ("grey4.png", g >> 4, 0, 4),
             ("greyalpha.png", np.stack([g, g], -1), 4, 8), ("rgb.png", rgb, 2, 8),
             ("rgb16.png", rgb.astype(np.uint16) * 257, 2, 16),
             ("rgba.png", np.concatenate([rgb, rgb[..., :1]], -1), 6, 8),
             ("rgba16.png", np.concatenate([rgb, rgb[..., :1]], -1).astype(np.uint16) * 257, 6, 16)]
    for name, px, color, depth in cases:
        png_write(os.path.join(tmp, name), px, color, depth)
    png_write(os.path.join(tmp, "rgb-interlaced.png"), rgb, 2, 8, interlace=True)
    Image.fromarray(rgb).convert("P", palette=Image.ADAPTIVE, colors=4).save(
        os.path.join(tmp, "palette-trns.png"), transparency=0)
    Image.fromarray(g).save(os.path.join(tmp, "grey.jpg"), quality=80)
    Image.fromarray(rgb).save(os.path.join(tmp, "rgb.jpg"), quality=80)
    Image.fromarray(rgb).save(os.path.join(tmp, "progressive.jpg"), quality=80, progressive=True)
    Image.fromarray(rgb).convert("CMYK").save(os.path.join(tmp, "cmyk.jpg"), quality=80)
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90 (ignored by the reader)
    Image.fromarray(rgb).save(os.path.join(tmp, "exif-orientation.jpg"), quality=80, exif=exif)
    for name in sorted(os.listdir(tmp)):
        put("image", name, open(os.path.join(tmp, name), "rb").read())
        os.remove(os.path.join(tmp, name))
    os.rmdir(tmp)
    small = img[:2, 10:14, 10:14]
    put("npy", "u8-n-h-w-3.npy", npy(np.stack([small] * 3, -1)))
    put("npy", "u8-n-3-h-w.npy", npy(np.stack([small] * 3, 1)))


def cache_seeds():
    payload = b"\x7fELF-like driver binary" * 4
    key = 0x998e56b00e185538
    head = b"CLVAEBIN" + struct.pack("<IIQQQQ", 1, 48, key, len(payload), fnv1a64(payload), 0)
    put("cache", "entry.bin", head + payload)
    put("cache", "one-byte.bin", b"CLVAEBIN" + struct.pack("<IIQQQQ", 1, 48, 5, 1,
                                                           fnv1a64(b"\0"), 0) + b"\0")


def main():
    build = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "build")
    img = idx_seeds()
    npy_seeds(img)
    label_seeds(img)
    checkpoint_seeds(build)
    loader_seeds(build)
    config_seeds()
    tuning_seeds()
    cache_seeds()
    image_seeds(img)


if __name__ == "__main__":
    main()
