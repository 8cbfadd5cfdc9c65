#!/usr/bin/python3
"""Cross-framework check: evaluates a clvae run's checkpoint in PyTorch.

Usage: /usr/bin/python3 scripts/torch_eval.py RUN_DIR

Loads RUN_DIR/checkpoint.safetensors (header parsed with json + struct, no safetensors package)
into a PyTorch module of nn.Linear layers named like the checkpoint (encoder.<i>, encoder.mu,
encoder.logvar, decoder.<i>, decoder.out, decoder.logvar), reads the architecture and the test set
from the "config" INI text in the checkpoint metadata, and prints one JSON line
{"test_loss": ..., "recon": ..., "kl": ..., "n": ...}: the negative ELBO per test sample with
z = mu (no sampling), everything in float64. Matches `clvae eval --run RUN_DIR --deterministic`.
Needs python3-torch and python3-numpy (Debian: /usr/bin/python3).
"""
import configparser
import gzip
import json
import math
import struct
import sys

import numpy as np
import torch
from torch import nn

DTYPES = {"F32": np.float32, "F64": np.float64, "F16": np.float16, "I64": np.int64,
          "I32": np.int32, "U8": np.uint8}


def read_safetensors(path):
    """Returns ({name: numpy array}, metadata dict)."""
    with open(path, "rb") as f:
        blob = f.read()
    (hlen,) = struct.unpack("<Q", blob[:8])
    header = json.loads(blob[8:8 + hlen].decode("utf-8"))
    meta = header.pop("__metadata__", {}) or {}
    base = 8 + hlen
    tensors = {}
    for name, t in header.items():
        start, end = t["data_offsets"]
        arr = np.frombuffer(blob[base + start:base + end], dtype=DTYPES[t["dtype"]])
        tensors[name] = arr.reshape(t["shape"]).copy()
    return tensors, meta


def ini_value(cfg, section, key, default=""):
    v = cfg.get(section, key, fallback=default).strip()
    if len(v) >= 2 and v[0] == v[-1] == '"':
        v = v[1:-1]
    return v


def widths(text):
    return [int(w) for w in text.replace(" ", "").split(",") if w]


def read_images(path, limit):
    """IDX (raw or .gz) or NPY images as float64 (n, D) in [0, 1], first `limit` when > 0."""
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        data = f.read()
    if data[:6] == b"\x93NUMPY":
        import io
        arr = np.load(io.BytesIO(data))
        arr = arr.reshape(arr.shape[0], -1)
        x = arr.astype(np.float64) / 255.0 if arr.dtype == np.uint8 else arr.astype(np.float64)
    else:
        magic, n = struct.unpack(">II", data[:8])
        if magic != 0x803:
            sys.exit(f"{path}: not an IDX image file (magic {magic:#x})")
        rows, cols = struct.unpack(">II", data[8:16])
        x = np.frombuffer(data, dtype=np.uint8, offset=16, count=n * rows * cols)
        x = x.reshape(n, rows * cols).astype(np.float64) / 255.0
    return x[:limit] if limit > 0 else x


class VAE(nn.Module):
    """The clvae MLP VAE with PyTorch's nn.Linear layers under the checkpoint's names."""

    def __init__(self, dim, enc, dec, latent, activation, likelihood):
        super().__init__()
        self.act = {"relu": torch.relu, "tanh": torch.tanh, "identity": lambda a: a,
                    "softplus": nn.functional.softplus}[activation]
        self.likelihood = likelihood
        self.n_enc, self.n_dec = len(enc), len(dec)
        e, d, width = {}, {}, dim
        for i, w in enumerate(enc):
            e[str(i)], width = nn.Linear(width, w), w
        e["mu"], e["logvar"] = nn.Linear(width, latent), nn.Linear(width, latent)
        width = latent
        for i, w in enumerate(dec):
            d[str(i)], width = nn.Linear(width, w), w
        d["out"] = nn.Linear(width, dim)
        if likelihood == "gaussian-learned":
            d["logvar"] = nn.Linear(width, dim)
        self.encoder, self.decoder = nn.ModuleDict(e), nn.ModuleDict(d)

    def neg_elbo(self, x, sigma_x):
        """Per-sample (nll, kl) with z = mu."""
        h = x
        for i in range(self.n_enc):
            h = self.act(self.encoder[str(i)](h))
        mu, lv = self.encoder["mu"](h), self.encoder["logvar"](h)
        h = mu
        for i in range(self.n_dec):
            h = self.act(self.decoder[str(i)](h))
        o = self.decoder["out"](h)
        if self.likelihood == "bernoulli":
            nll = nn.functional.binary_cross_entropy_with_logits(o, x, reduction="none").sum(1)
        elif self.likelihood == "gaussian":
            nll = ((x - o) ** 2).sum(1) / (2 * sigma_x ** 2) \
                + 0.5 * x.shape[1] * math.log(2 * math.pi * sigma_x ** 2)
        else:
            v = self.decoder["logvar"](h)
            nll = ((x - o) ** 2 / (2 * torch.exp(v)) + 0.5 * v + 0.5 * math.log(2 * math.pi)).sum(1)
        kl = 0.5 * (mu ** 2 + torch.exp(lv) - lv - 1).sum(1)
        return nll, kl


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    tensors, meta = read_safetensors(sys.argv[1] + "/checkpoint.safetensors")
    cfg = configparser.ConfigParser(inline_comment_prefixes=(";",), interpolation=None)
    cfg.read_string(meta["config"])
    x = read_images(ini_value(cfg, "data", "test"), int(ini_value(cfg, "data", "limit_test", "0")))
    model = VAE(x.shape[1], widths(ini_value(cfg, "model", "encoder")),
                widths(ini_value(cfg, "model", "decoder")), int(ini_value(cfg, "model", "latent")),
                ini_value(cfg, "model", "activation", "relu"),
                ini_value(cfg, "model", "likelihood", "bernoulli")).double()
    params = {k: torch.from_numpy(v.astype(np.float64)) for k, v in tensors.items()
              if k.startswith(("encoder.", "decoder."))}
    model.load_state_dict(params, strict=True)   # names and (out, in) shapes must match exactly
    sigma_x = float(ini_value(cfg, "model", "sigma_x", "1"))
    recon = kl = 0.0
    with torch.no_grad():
        for first in range(0, x.shape[0], 1000):
            nll, k = model.neg_elbo(torch.from_numpy(x[first:first + 1000]), sigma_x)
            recon += float(nll.sum())
            kl += float(k.sum())
    n = x.shape[0]
    print(json.dumps({"test_loss": (recon + kl) / n, "recon": recon / n, "kl": kl / n, "n": n}))


if __name__ == "__main__":
    main()
