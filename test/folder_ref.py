#!/usr/bin/env python3
"""Writes a small image folder from Fashion-MNIST for test_folder, and the reference arrays.

usage: folder_ref.py OUT_DIR

OUT_DIR/images/{bag,coat}/*: PNG (8- and 16-bit grey, 1-bit grey, grey+alpha, palette, RGB,
RGBA 16-bit, Adam7-interlaced RGB, several sizes) and JPEG (grey, RGB, progressive, CMYK) files; two classes, sorted
names bag = 0, coat = 1. OUT_DIR/ref_<case>.npy: the uint8 (n, C, H, W) array clvae should load
for each case of CASES (same listing order: classes sorted, files sorted), OUT_DIR/tie_<case>.npy
(1 where the unrounded value lies within 1e-9 of k + 0.5: either rounding is right there),
OUT_DIR/labels.npy.

The reference decodes 8-bit PNGs and every JPEG with Pillow (convert('RGB') / ('L')), builds the
16-bit and 1-bit PNGs' pixels from the arrays it wrote (16-bit to 8: round(v * 255 / 65535)),
drops alpha, converts colour to grey with Pillow's L weights, center-crops at floor((h - H) / 2),
and resizes by area averaging in numpy (float64, floor(v + 0.5)): what docs/data.md specifies.
"""
import gzip
import os
import struct
import sys
import zlib

import numpy as np
from PIL import Image

FMNIST = "/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz"
# case name -> (image_size, center_crop, channels)
CASES = {
    "auto20": ((20, 20), None, "auto"),
    "grey_crop": ((16, 12), (24, 24), "1"),
    "rgb_up": ((40, 36), (26, 22), "3"),
}


def fmnist(n):
    with gzip.open(FMNIST, "rb") as f:
        d = f.read(16 + n * 784)
    return np.frombuffer(d[16:], np.uint8).reshape(n, 28, 28)


def png_rows(px, depth):
    """Filter-0 scanlines of px (h, w[, c]) at the bit depth."""
    raw = b""
    for y in range(px.shape[0]):
        row = px[y]
        if depth == 16:
            data = row.astype(">u2").tobytes()
        elif depth < 8:
            bits = np.unpackbits(row.astype(np.uint8)[:, None], axis=1)[:, 8 - depth:]
            data = np.packbits(bits.reshape(-1)).tobytes()
        else:
            data = row.astype(np.uint8).tobytes()
        raw += b"\0" + data
    return raw


ADAM7 = [(0, 0, 8, 8), (0, 4, 8, 8), (4, 0, 8, 4), (0, 2, 4, 4), (2, 0, 4, 2), (0, 1, 2, 2), (1, 0, 2, 1)]


def png_write(path, px, color, depth, palette=None, interlace=False):
    """A plain PNG writer: px (h, w[, c]) of the given colour type and bit depth, Adam7 or not."""
    h, w = px.shape[:2]
    if interlace:  # the seven passes' sub-images one after another (empty ones have no rows)
        raw = b"".join(png_rows(px[y0::dy, x0::dx], depth) for y0, x0, dy, dx in ADAM7
                       if px[y0::dy, x0::dx].size)
    else:
        raw = png_rows(px, depth)

    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    out = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, depth, color, 0, 0, int(interlace)))
    if palette is not None:
        out += chunk(b"PLTE", palette.astype(np.uint8).tobytes())
    out += chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")
    open(path, "wb").write(out)


def colourize(g):
    return np.stack([g, 255 - g, g // 2 + 40], axis=-1).astype(np.uint8)


def upsize(a, h, w):
    """Nearest upsizing to (h, w) to get several source sizes."""
    ys = np.arange(h) * a.shape[0] // h
    xs = np.arange(w) * a.shape[1] // w
    return a[ys][:, xs]


def write_folder(root, imgs):
    """Returns [(relative path, decoded pixels (h, w, 3) uint8 or (h, w) grey, label)]."""
    files = []
    for cls, sub in ((1, "coat"), (0, "bag")):
        os.makedirs(os.path.join(root, sub), exist_ok=True)
    k = iter(range(len(imgs)))

    def add(sub, name, px, label):
        files.append((os.path.join(sub, name), px, label))

    g = imgs[next(k)]
    png_write(os.path.join(root, "bag", "a_grey8.png"), g, 0, 8)
    add("bag", "a_grey8.png", g, 0)
    g = upsize(imgs[next(k)], 30, 34).astype(np.uint16) * 257 + 3
    png_write(os.path.join(root, "bag", "b_grey16.png"), g, 0, 16)
    add("bag", "b_grey16.png", np.floor(g * 255.0 / 65535 + 0.5).astype(np.uint8), 0)
    g = (imgs[next(k)] > 100).astype(np.uint8)
    png_write(os.path.join(root, "bag", "c_grey1.png"), g, 0, 1)
    add("bag", "c_grey1.png", g * 255, 0)
    g = imgs[next(k)]
    ga = np.stack([g, np.full_like(g, 128)], axis=-1)
    png_write(os.path.join(root, "bag", "d_greyalpha.png"), ga, 4, 8)
    add("bag", "d_greyalpha.png", g, 0)
    rgb = colourize(upsize(imgs[next(k)], 32, 40))
    Image.fromarray(rgb).save(os.path.join(root, "bag", "e_rgb.png"))
    add("bag", "e_rgb.png", rgb, 0)
    rgb = colourize(imgs[next(k)]).astype(np.uint16) * 257
    rgba = np.concatenate([rgb, np.full(rgb.shape[:2] + (1,), 40000, np.uint16)], axis=-1)
    png_write(os.path.join(root, "bag", "f_rgba16.png"), rgba, 6, 16)
    add("bag", "f_rgba16.png", np.floor(rgb * 255.0 / 65535 + 0.5).astype(np.uint8), 0)
    rgb = colourize(upsize(imgs[next(k)], 31, 29))
    png_write(os.path.join(root, "bag", "g_interlaced.png"), rgb, 2, 8, interlace=True)
    add("bag", "g_interlaced.png", rgb, 0)
    rgb = colourize(imgs[next(k)])
    p = Image.fromarray(rgb).convert("P", palette=Image.ADAPTIVE, colors=16)
    p.save(os.path.join(root, "coat", "a_palette.png"))
    add("coat", "a_palette.png", np.asarray(Image.open(os.path.join(root, "coat", "a_palette.png")).convert("RGB")), 1)
    g = upsize(imgs[next(k)], 36, 30)
    Image.fromarray(g).save(os.path.join(root, "coat", "b_grey.jpg"), quality=90)
    rgb = colourize(upsize(imgs[next(k)], 28, 33))
    Image.fromarray(rgb).save(os.path.join(root, "coat", "c_rgb.jpeg"), quality=85)
    rgb = colourize(imgs[next(k)])
    Image.fromarray(rgb).save(os.path.join(root, "coat", "d_progressive.JPG"), quality=90, progressive=True)
    rgb = colourize(upsize(imgs[next(k)], 29, 29))
    Image.fromarray(rgb).convert("CMYK").save(os.path.join(root, "coat", "e_cmyk.jpg"), quality=95)
    for name in ("b_grey.jpg", "c_rgb.jpeg", "d_progressive.JPG", "e_cmyk.jpg"):
        im = Image.open(os.path.join(root, "coat", name))
        px = np.asarray(im.convert("L" if im.mode == "L" else "RGB"))
        add("coat", name, px, 1)
    open(os.path.join(root, "coat", "notes.txt"), "w").write("not an image: ignored by extension\n")
    files.sort(key=lambda f: (f[2], f[0]))
    return files


def area_weights(S, D):
    """(D, S): output o covers [o * S / D, (o + 1) * S / D), weights = overlap / (S / D)."""
    scale = S / D
    W = np.zeros((D, S))
    for o in range(D):
        lo, hi = o * scale, (o + 1) * scale
        i = int(np.floor(lo))
        while i < S and i < hi:
            W[o, i] = (min(hi, i + 1) - max(lo, i)) / scale
            i += 1
    return W


def luma(rgb):
    r, g, b = (rgb[..., i].astype(np.int64) for i in range(3))
    return ((19595 * r + 38470 * g + 7471 * b + 0x8000) >> 16).astype(np.uint8)


def reference(files, size, crop, channels):
    colour = any(px.ndim == 3 for _, px, _ in files)
    C = 3 if channels == "3" or (channels == "auto" and colour) else 1
    out, ties = [], []
    for _, px, _ in files:
        if C == 1 and px.ndim == 3:
            px = luma(px)
        planes = [px] * C if px.ndim == 2 else [px[..., c] for c in range(3)]
        h, w = planes[0].shape
        ch, cw = crop if crop else (h, w)
        y0, x0 = (h - ch) // 2, (w - cw) // 2
        Wy, Wx = area_weights(ch, size[0]), area_weights(cw, size[1])
        v = np.stack([Wy @ p[y0:y0 + ch, x0:x0 + cw].astype(np.float64) @ Wx.T for p in planes])
        out.append(np.clip(np.floor(v + 0.5), 0, 255).astype(np.uint8))
        ties.append((np.abs(v - np.floor(v) - 0.5) < 1e-9).astype(np.uint8))
    return np.stack(out), np.stack(ties)


def main():
    out = sys.argv[1]
    root = os.path.join(out, "images")
    files = write_folder(root, fmnist(13))
    np.save(os.path.join(out, "labels.npy"), np.array([f[2] for f in files], np.uint8))
    for name, (size, crop, channels) in CASES.items():
        ref, ties = reference(files, size, crop, channels)
        np.save(os.path.join(out, "ref_%s.npy" % name), ref)
        np.save(os.path.join(out, "tie_%s.npy" % name), ties)

if __name__ == "__main__":
    main()
