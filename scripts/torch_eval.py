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
at the checkpoint's temperature, the one-hot argmax when hard; KL to the uniform prior), and
conv nets (model.encoder's leading conv / convt items on the image, model.decoder's CxHxW view
and conv items with decoder_out: nn.Conv2d, nn.ConvTranspose2d, nn.BatchNorm2d in eval mode,
leaky_relu with model.leaky_slope; every layer with parameters takes the next index, as clvae
names them; the image shape from data.image_shape, auto: a 1- or 3-channel square, or the NPY
file's (n, h, w[, c]) / (n, c, h, w) shape).
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
        if arr.ndim == 4 and arr.shape[3] <= 4:     # (n, h, w, c): clvae holds NCHW rows
            arr = arr.transpose(0, 3, 1, 2)
        global IMAGE_CHW
        if arr.ndim >= 3:
            IMAGE_CHW = (1,) + arr.shape[1:] if arr.ndim == 3 else arr.shape[1:]
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


IMAGE_CHW = None   # (C, H, W) of NPY test data with an image shape
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


SLOPE = [0.01]   # model.leaky_slope
ACTS = {"relu": torch.relu, "tanh": torch.tanh, "identity": lambda a: a,
        "softplus": nn.functional.softplus,
        "leaky_relu": lambda a: nn.functional.leaky_relu(a, SLOPE[0])}


def parse_item(text):
    """One encoder / decoder item: {"kind": dense|view|conv|convt, "w": units or channels, ...}."""
    words = text.split()
    it = {"kind": "dense", "bn": False, "act": None, "k": (0, 0), "s": (1, 1), "p": (0, 0),
          "o": (0, 0), "d": (1, 1), "w": 0}
    if words[0] in ("conv", "convt"):
        it["kind"] = words[0]
        rest = words[1:]
        if rest and rest[0].isdigit():
            it["w"], rest = int(rest[0]), rest[1:]
        for w in rest:
            if w == "bn":
                it["bn"] = True
            elif w[0] in "kspod" and w[1:2].isdigit():
                v = [int(a) for a in w[1:].lower().split("x")]
                it[w[0]] = (v[0], v[-1])
            else:
                it["act"] = w
    elif "x" in words[0].lower():
        c, h, w = (int(a) for a in words[0].lower().split("x"))
        it.update(kind="view", w=c * h * w, view=(c, h, w), act=words[1] if len(words) > 1 else None)
    else:
        it["w"] = int(words[0])
    return it


def items(text):
    return [parse_item(t.strip()) for t in text.split(",") if t.strip()]


def conv_out(it, a, n):
    span = it["d"][a] * (it["k"][a] - 1)
    if it["kind"] == "convt":
        return (n - 1) * it["s"][a] - 2 * it["p"][a] + span + it["o"][a] + 1
    return (n + 2 * it["p"][a] - span - 1) // it["s"][a] + 1


class MLP(nn.Module):
    """A clvae net: leading conv items on the image (image = (C, H, W)), hidden nn.Linear layers
    (onehot(y) joins the first one's input, the heads' when there is none), then the heads (e.g.
    mu, logvar) or, for a decoder with decoder_out (out_item), its view and conv layers to
    "out". Every layer with parameters takes the next index in data-flow order."""

    def __init__(self, d_in, hidden, heads, d_out, classes, act, image=None, out_item=None):
        super().__init__()
        self.act, self.classes, self.heads = act, classes, heads
        layers, width, idx, self.pre, self.dense, self.post = {}, d_in, 0, [], [], []
        hidden = [h if isinstance(h, dict) else {"kind": "dense", "w": h, "act": None} for h in hidden]
        chw, i = image, 0
        while i < len(hidden) and hidden[i]["kind"] in ("conv", "convt"):
            idx, chw = self.add_map(layers, self.pre, hidden[i], idx, chw, str(idx))
            i += 1
        if self.pre:
            self.image, width = image, chw[0] * chw[1] * chw[2]
        self.first_dense_in = width
        while i < len(hidden) and hidden[i]["kind"] in ("dense", "view"):
            it = hidden[i]
            layers[str(idx)] = nn.Linear(width + (classes if not self.dense else 0), it["w"])
            self.dense.append((str(idx), it["act"]))
            width, idx, i = it["w"], idx + 1, i + 1
            if it["kind"] == "view":
                chw = self.view = it["view"]
        for it in hidden[i:] + ([out_item] if out_item else []):
            name = "out" if it is out_item else str(idx)
            idx, chw = self.add_map(layers, self.post, it, idx, chw, name)
        if not out_item:
            for h in heads:
                layers[h] = nn.Linear(width + (classes if not self.dense else 0), d_out)
        self.layers = nn.ModuleDict(layers)

    def add_map(self, layers, ops, it, idx, chw, name):
        c, h, w = chw
        cls = nn.Conv2d if it["kind"] == "conv" else nn.ConvTranspose2d
        extra = {"output_padding": it["o"]} if it["kind"] == "convt" else {}
        layers[name] = cls(c, it["w"], it["k"], it["s"], it["p"], dilation=it["d"], **extra)
        idx += name != "out"
        bn = None
        if it["bn"]:
            bn, idx = str(idx), idx + 1
            layers[bn] = nn.BatchNorm2d(it["w"])
        ops.append((name, bn, it["act"] if it["act"] or name == "out" else None))
        return idx, (it["w"], conv_out(it, 0, h), conv_out(it, 1, w))

    def fn(self, name):
        return self.act if name is None else ACTS[name]

    def forward(self, h, y1h):
        if self.pre:
            h = h.reshape(-1, *self.image)
            for name, bn, act in self.pre:
                h = self.layers[name](h)
                h = self.fn(act)(self.layers[bn](h) if bn else h)
            h = h.flatten(1)
        for i, (name, act) in enumerate(self.dense):
            h = torch.cat([h, y1h], 1) if i == 0 and self.classes else h
            h = self.fn(act)(self.layers[name](h))
        if self.post:
            h = h.reshape(-1, *self.view)
            for name, bn, act in self.post:
                h = self.layers[name](h)
                h = self.layers[bn](h) if bn else h
                h = h if name == "out" and act is None else self.fn(act)(h)
            return [h.flatten(1)], h
        if not self.dense and self.classes:
            h = torch.cat([h, y1h], 1)
        return [self.layers[k](h) for k in self.heads], h


class Chain(nn.Module):
    """clvae's chain of T Gaussian stochastic layers under the checkpoint's tensor names."""

    def __init__(self, dim, latents, enc, dec, activation, likelihood, classes, cat=None,
                 image=None, out_item=None):
        super().__init__()
        act = ACTS[activation]
        T = len(latents)
        self.T, self.likelihood, self.cat = T, likelihood, cat
        if cat:   # a categorical top layer: G groups of K, its logits head "out" (G*K)
            latents = latents[:-1] + [cat[0] * cat[1]]
        self.q_names = ["encoder"] if T == 1 else [f"q{t + 1}" for t in range(T)]
        for l, name in enumerate(self.q_names):
            heads = ["out"] if cat and l == T - 1 else ["mu", "logvar"]
            self.add_module(name, MLP(dim if l == 0 else latents[l - 1], enc[l], heads,
                                      latents[l], classes, act, image if l == 0 else None))
        for l in range(T - 1):
            self.add_module(f"p{l + 1}", MLP(latents[l + 1], dec[T - 2 - l], ["mu", "logvar"],
                                             latents[l], classes, act))
        heads = ["out", "logvar"] if likelihood == "gaussian-learned" else ["out"]
        self.decoder = MLP(latents[0], dec[T - 1], heads, dim, classes, act, None, out_item)
        self.split = out_item is not None and likelihood == "gaussian-learned"   # [mean | logvar] maps

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
        if self.split:
            outs = list(outs[0].chunk(2, 1))
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


def image_chw(cfg, dim):
    """data.image_shape: HxW (C = 1), HxWxC, or auto: the NPY file's shape, else a 1- or
    3-channel square (as clvae_model_layout)."""
    v = ini_value(cfg, "data", "image_shape", "auto").lower()
    if "x" in v:
        d = [int(a) for a in v.split("x")]
        return (d[2] if len(d) == 3 else 1, d[0], d[1])
    if IMAGE_CHW and int(np.prod(IMAGE_CHW)) == dim:
        return tuple(int(a) for a in IMAGE_CHW)
    for c in (1, 3):
        s = int(round(math.sqrt(dim / c)))
        if s * s * c == dim:
            return (c, s, s)
    return None


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
    groups = lambda key: [items(g) for g in ini_value(cfg, "model", key).split("|")]
    enc, dec = groups("encoder"), groups("decoder")
    SLOPE[0] = float(ini_value(cfg, "model", "leaky_slope", "0.01"))
    out_text = ini_value(cfg, "model", "decoder_out", "dense")
    out_item = None if out_text == "dense" else parse_item(out_text)
    image = image_chw(cfg, x.shape[1])
    if out_item and not out_item["w"]:
        lik = ini_value(cfg, "model", "likelihood", "bernoulli")
        out_item["w"] = image[0] * (2 if lik == "gaussian-learned" else 1)
    # the one-hot's width: the first dense layer's (or head's) inputs beyond its features
    prefix = "encoder" if len(latents) == 1 else "q1"
    probe = MLP(x.shape[1], enc[0], ["mu"], 1, 0, torch.relu, image)
    first = f"{prefix}.{len(probe.pre) + sum(1 for op in probe.pre if op[1])}.weight"
    if not any(it["kind"] == "dense" for it in enc[0]):
        first = f"{prefix}.{'out' if cat and len(latents) == 1 else 'mu'}.weight"
    classes = tensors[first].shape[1] - probe.first_dense_in
    model = Chain(x.shape[1], latents, enc, dec,
                  ini_value(cfg, "model", "activation", "relu"),
                  ini_value(cfg, "model", "likelihood", "bernoulli"), classes, cat, image,
                  out_item).double()
    model.eval()   # BatchNorm2d: running statistics, as clvae eval
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
