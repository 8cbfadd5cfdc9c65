#!/usr/bin/python3
"""Cross-framework check: evaluates a clvae run's checkpoint in PyTorch.

Usage: /usr/bin/python3 scripts/torch_eval.py RUN_DIR

Loads RUN_DIR/checkpoint.safetensors (header parsed with json + struct, no safetensors package)
into a PyTorch module of nn.Linear layers named like the checkpoint, reads the architecture and the
test set from the "config" INI text in the checkpoint metadata, and prints one JSON line
{"test_loss": ..., "recon": ..., "kl": ..., "n": ...}: the negative ELBO per test sample with
z = mu in every stochastic layer (no sampling), everything in float64. Matches
`clvae eval --run RUN_DIR --deterministic`.
Models: any chain of Gaussian stochastic layers (one layer: encoder.<i>, encoder.mu,
encoder.logvar, decoder.<i>, decoder.out, decoder.logvar; T > 1 layers: q<t>.*, p<t>.* (prior of
layer t from layer t+1), decoder.*), conditional models (onehot(label) appended to the first
layer of every MLP, nn.Linear(in + C, H) on torch.cat([x, onehot(y)], 1); the test labels from
data.test_labels), and binarized test sets (data.binarize = fixed or dynamic: the test set is
binarized once with clvae's Philox4x32-10 stream, reproduced here bit for bit), and a categorical
(Gumbel-softmax) top layer (its logits head <prefix>.out; with no noise z = softmax(logits / tau)
at the checkpoint's temperature, the one-hot argmax when hard; KL to the uniform prior).
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
    """IDX (raw or .gz) or NPY images (n, D) as clvae holds them: uint8 (IDX, integer or bool
    NPY) or float32 (float NPY), the first `limit` when > 0."""
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        data = f.read()
    if data[:6] == b"\x93NUMPY":
        import io
        arr = np.load(io.BytesIO(data))
        arr = arr.reshape(arr.shape[0], -1)
        x = arr.astype(np.float32) if arr.dtype.kind == "f" else arr.astype(np.uint8)
    else:
        magic, n = struct.unpack(">II", data[:8])
        if magic != 0x803:
            sys.exit(f"{path}: not an IDX image file (magic {magic:#x})")
        rows, cols = struct.unpack(">II", data[8:16])
        x = np.frombuffer(data, dtype=np.uint8, offset=16, count=n * rows * cols)
        x = x.reshape(n, rows * cols)
    return x[:limit] if limit > 0 else x


def intensities(x_raw):
    """[0, 1] float64: uint8 / 255 (as clvae's gather does in float32, exact in float64)."""
    if x_raw.dtype == np.uint8:
        return (x_raw.astype(np.float32) / np.float32(255.0)).astype(np.float64)
    return x_raw.astype(np.float64)


LOG2PI = math.log(2 * math.pi)
BUILTIN_DIR = "/usr/share/datasets/fashion-mnist/"   # clvae's built-in data (config.h)
STREAM_BINARIZE_TEST = 7                             # cl/philox.clh


def philox_uniform_rows(seed, n_rows, dim, stream):
    """clvae_philox_uniform(seed, step = row, stream, element) for every row and element, as
    float32 (n_rows, dim): Philox4x32-10 on numpy uint64 lanes holding 32-bit words."""
    mask = np.uint64(0xFFFFFFFF)
    blocks = (dim + 3) // 4
    rows = np.repeat(np.arange(n_rows, dtype=np.uint64), blocks)
    c = [np.tile(np.arange(blocks, dtype=np.uint64), n_rows), rows & mask, rows >> np.uint64(32),
         np.full(rows.shape, stream, dtype=np.uint64)]
    k0, k1 = np.uint64(seed & 0xFFFFFFFF), np.uint64(seed >> 32)
    m0, m1 = np.uint64(0xD2511F53), np.uint64(0xCD9E8D57)
    for _ in range(10):
        p0, p1 = m0 * c[0], m1 * c[2]
        c = [(p1 >> np.uint64(32)) ^ c[1] ^ k0, p1 & mask, (p0 >> np.uint64(32)) ^ c[3] ^ k1,
             p0 & mask]
        k0, k1 = (k0 + np.uint64(0x9E3779B9)) & mask, (k1 + np.uint64(0xBB67AE85)) & mask
    bits = np.stack(c, axis=1).reshape(n_rows, blocks * 4)[:, :dim]
    return (((bits >> np.uint64(9)).astype(np.float32) + np.float32(0.5))
            * np.float32(1.0 / 8388608.0))


def binarize_test(x_raw, seed):
    """The test set binarized as clvae_dataset_binarize does: 1 where u < intensity (float32)."""
    p = intensities(x_raw).astype(np.float32)
    u = philox_uniform_rows(seed, x_raw.shape[0], x_raw.shape[1], STREAM_BINARIZE_TEST)
    return (u < p).astype(np.float64)


def read_labels(path, n):
    """IDX (raw or .gz) or NPY integer labels, the first n."""
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        data = f.read()
    if data[:6] == b"\x93NUMPY":
        import io
        y = np.load(io.BytesIO(data)).reshape(-1)
    else:
        y = np.frombuffer(data, dtype=np.uint8, offset=8)
    return y[:n].astype(np.int64)


class MLP(nn.Module):
    """Hidden nn.Linear layers "<i>" and heads (e.g. mu, logvar); onehot(y) joins the first
    layer's input (the heads' when there is no hidden layer)."""

    def __init__(self, d_in, hidden, heads, d_out, classes, act):
        super().__init__()
        self.act, self.classes, self.n_hidden, self.heads = act, classes, len(hidden), heads
        layers, width = {}, d_in
        for i, w in enumerate(hidden):
            layers[str(i)], width = nn.Linear(width + (classes if i == 0 else 0), w), w
        for h in heads:
            layers[h] = nn.Linear(width + (classes if not hidden else 0), d_out)
        self.layers = nn.ModuleDict(layers)

    def forward(self, h, y1h):
        for i in range(self.n_hidden):
            h = torch.cat([h, y1h], 1) if i == 0 and self.classes else h
            h = self.act(self.layers[str(i)](h))
        if self.n_hidden == 0 and self.classes:
            h = torch.cat([h, y1h], 1)
        return [self.layers[k](h) for k in self.heads], h


class Chain(nn.Module):
    """clvae's chain of T Gaussian stochastic layers under the checkpoint's tensor names."""

    def __init__(self, dim, latents, enc, dec, activation, likelihood, classes, cat=None):
        super().__init__()
        act = {"relu": torch.relu, "tanh": torch.tanh, "identity": lambda a: a,
               "softplus": nn.functional.softplus}[activation]
        T = len(latents)
        self.T, self.likelihood, self.cat = T, likelihood, cat
        if cat:   # a categorical top layer: G groups of K, its logits head "out" (G*K)
            latents = latents[:-1] + [cat[0] * cat[1]]
        self.q_names = ["encoder"] if T == 1 else [f"q{t + 1}" for t in range(T)]
        for l, name in enumerate(self.q_names):
            heads = ["out"] if cat and l == T - 1 else ["mu", "logvar"]
            self.add_module(name, MLP(dim if l == 0 else latents[l - 1], enc[l], heads,
                                      latents[l], classes, act))
        for l in range(T - 1):
            self.add_module(f"p{l + 1}", MLP(latents[l + 1], dec[T - 2 - l], ["mu", "logvar"],
                                             latents[l], classes, act))
        heads = ["out", "logvar"] if likelihood == "gaussian-learned" else ["out"]
        self.decoder = MLP(latents[0], dec[T - 1], heads, dim, classes, act)

    def top_categorical(self, logits):
        """(z, KL to the uniform prior) of the categorical top with no noise, as clvae's
        deterministic eval: z = softmax(logits / tau) per group (hard: its one-hot argmax)."""
        G, K, tau, hard = self.cat
        l = logits.view(-1, G, K)
        lq = torch.log_softmax(l, -1)
        kl = (lq.exp() * (lq + math.log(K))).sum((1, 2))
        z = torch.softmax(l / tau, -1)
        if hard:
            z = nn.functional.one_hot(z.argmax(-1), K).to(z.dtype)
        return z.flatten(1), kl

    def neg_elbo(self, x, y1h, sigma_x):
        """Per-sample (nll, kl) with z = mu: the top layer's analytic KL given its input, below
        it log q(z|.) - log p(z|z_above) at z = mu (eps = 0), as clvae's ELBO terms."""
        heads, h = [], x
        for l, name in enumerate(self.q_names):
            out, _ = getattr(self, name)(h, y1h)
            if self.cat and l == self.T - 1:
                z, kl = self.top_categorical(out[0])
                heads.append((z, None))
            else:
                heads.append((out[0], out[1]))
                h = out[0]
        if not self.cat:
            kl = 0.5 * (heads[-1][0] ** 2 + torch.exp(heads[-1][1]) - heads[-1][1] - 1).sum(1)
        for l in range(self.T - 1):
            (pmu, plv), _ = getattr(self, f"p{l + 1}")(heads[l + 1][0], y1h)
            mu, lv = heads[l]
            log_q = -0.5 * (LOG2PI + lv).sum(1)
            log_p = -0.5 * (LOG2PI + plv + (mu - pmu) ** 2 * torch.exp(-plv)).sum(1)
            kl = kl + log_q - log_p
        outs, _ = self.decoder(heads[0][0], y1h)
        o = outs[0]
        if self.likelihood == "bernoulli":
            nll = nn.functional.binary_cross_entropy_with_logits(o, x, reduction="none").sum(1)
        elif self.likelihood == "gaussian":
            nll = ((x - o) ** 2).sum(1) / (2 * sigma_x ** 2) \
                + 0.5 * x.shape[1] * math.log(2 * math.pi * sigma_x ** 2)
        else:
            v = outs[1]
            nll = ((x - o) ** 2 / (2 * torch.exp(v)) + 0.5 * v + 0.5 * math.log(2 * math.pi)).sum(1)
        return nll, kl


def state_dict_names(tensors):
    """clvae names (encoder.0.weight) -> this module's (encoder.layers.0.weight)."""
    out = {}
    for k, v in tensors.items():
        parts = k.split(".")
        if parts[0] in ("encoder", "decoder") or parts[0][:1] in ("q", "p") and parts[0][1:].isdigit():
            out[".".join([parts[0], "layers"] + parts[1:])] = torch.from_numpy(v.astype(np.float64))
    return out


def test_labels(cfg, n):
    path = ini_value(cfg, "data", "test_labels", "auto")
    if path == "auto":
        test = ini_value(cfg, "data", "test")
        path = BUILTIN_DIR + "t10k-labels-idx1-ubyte.gz" if test.startswith(BUILTIN_DIR) else ""
    if not path:
        sys.exit("torch_eval.py: a conditional checkpoint needs [data] test_labels in its config")
    return read_labels(path, n)


def eval_tau(cfg, step):
    """The temperature clvae evaluates a checkpoint at: that of its last step (step - 1),
    max(tau_min, tau * exp(-tau_decay * s)) in double, rounded to float32 (clvae_model_tau)."""
    tau0 = float(ini_value(cfg, "train", "tau", "1"))
    tau_min = float(ini_value(cfg, "train", "tau_min", "0.5"))
    decay = float(ini_value(cfg, "train", "tau_decay", "3e-5"))
    t = tau0 * math.exp(-decay * max(step - 1, 0))
    return float(np.float32(t if t > tau_min else tau_min))


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    tensors, meta = read_safetensors(sys.argv[1] + "/checkpoint.safetensors")
    cfg = configparser.ConfigParser(inline_comment_prefixes=(";",), interpolation=None)
    cfg.read_string(meta["config"])
    x_raw = read_images(ini_value(cfg, "data", "test"), int(ini_value(cfg, "data", "limit_test", "0")))
    if ini_value(cfg, "data", "binarize", "none") in ("fixed", "dynamic"):
        x = binarize_test(x_raw, int(ini_value(cfg, "train", "seed", "1")))
    else:
        x = intensities(x_raw)
    latents = widths(ini_value(cfg, "model", "latent"))
    types = [t.strip() for t in ini_value(cfg, "model", "latent_type", "gaussian").split(",")]
    cat = None
    if "categorical" in types:
        if len(types) == 1:
            types = types * len(latents)
        if types.index("categorical") != len(latents) - 1:
            sys.exit("torch_eval.py: only a categorical top layer is modelled")
        g, k = (int(v) for v in ini_value(cfg, "model", "categorical").lower().split("x"))
        cat = (g, k, eval_tau(cfg, int(meta.get("step", "0"))),
               ini_value(cfg, "model", "hard", "false").lower() in ("true", "yes", "on", "1"))
    groups = lambda key: [widths(g) for g in ini_value(cfg, "model", key).split("|")]
    first = "encoder.0.weight" if len(latents) == 1 else "q1.0.weight"
    enc = groups("encoder")
    if not enc[0]:
        first = first.replace(".0.", ".out." if cat and len(latents) == 1 else ".mu.")
    classes = tensors[first].shape[1] - x.shape[1]
    model = Chain(x.shape[1], latents, enc, groups("decoder"),
                  ini_value(cfg, "model", "activation", "relu"),
                  ini_value(cfg, "model", "likelihood", "bernoulli"), classes, cat).double()
    model.load_state_dict(state_dict_names(tensors), strict=True)   # names and shapes must match
    y = test_labels(cfg, x.shape[0]) if classes else None
    sigma_x = float(ini_value(cfg, "model", "sigma_x", "1"))
    recon = kl = 0.0
    with torch.no_grad():
        for lo in range(0, x.shape[0], 1000):
            xb = torch.from_numpy(x[lo:lo + 1000])
            y1h = nn.functional.one_hot(torch.from_numpy(y[lo:lo + 1000]), classes).double() \
                if classes else None
            nll, k = model.neg_elbo(xb, y1h, sigma_x)
            recon += float(nll.sum())
            kl += float(k.sum())
    n = x.shape[0]
    print(json.dumps({"test_loss": (recon + kl) / n, "recon": recon / n, "kl": kl / n, "n": n}))


if __name__ == "__main__":
    main()
