#!/usr/bin/python3
"""Writes test/golden/golden_cvae.json: tiny conditional VAEs written the way a PyTorch user
writes a cVAE (nn.Linear(in + C, H) applied to torch.cat([input, onehot(y)], 1) at every MLP's
input), evaluated in float64 autograd; test/test_golden_chain.c checks the C model against it.

    /usr/bin/python3 test/golden/make_golden_cvae.py

The modules' state_dict names are clvae's checkpoint tensor names, so the golden parameters
are a PyTorch state_dict: loading a clvae checkpoint into this model is load_state_dict.
Cases (C = 3 classes, labels 2, 0, 2, 1):
  "cvae-elbo": one stochastic layer, x (6) -> 5 (tanh) -> (3); z -> 5 (tanh) -> logits (6);
               2 samples, the analytic KL.
  "cvae-iwae": two layers as make_golden_chain.py (x -> 5 -> z1 (3) -> 4 -> z2 (2); z2 -> 4 ->
               p(z1|z2); z1 -> 5 -> x), K = 3, every MLP conditioned.
eps from make_golden.py's numpy Philox (layer l stream 2 + 256 l, seed 1, step 0).
"""
import json
import math
import os
import sys

import numpy as np
import torch
from torch import nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_golden import F32, check_philox_kat, floats, init_state_dict, philox_normal, write_golden  # noqa: E402

DIM, BATCH, C = 6, 4, 3
LABELS = [2, 0, 2, 1]
SEED, STEP, STREAM = 1, 0, 2
WEIGHT_SCALE = 0.5
LOG2PI = math.log(2 * math.pi)


def gaussian_mlp(d_in, hidden, r):
    """Hidden layer "0" on [input | onehot], then the mu and logvar heads."""
    return nn.ModuleDict({"0": nn.Linear(d_in + C, hidden), "mu": nn.Linear(hidden, r),
                          "logvar": nn.Linear(hidden, r)})


def decoder(r, hidden):
    return nn.ModuleDict({"0": nn.Linear(r + C, hidden), "out": nn.Linear(hidden, DIM)})


def heads(m, h, y):
    h = torch.tanh(m["0"](torch.cat([h, y], 1)))
    return m["mu"](h), m["logvar"](h)


def log_normal(z, mu, lv):
    return (-0.5 * (z - mu) ** 2 * torch.exp(-lv) - 0.5 * lv - 0.5 * LOG2PI).sum(1)


class CVAE1(nn.Module):
    """p(x|z, y) q(z|x, y), z (3)."""

    def __init__(self):
        super().__init__()
        self.encoder = gaussian_mlp(DIM, 5, 3)
        self.decoder = decoder(3, 5)

    def forward(self, x, y, eps, S):
        mu, lv = heads(self.encoder, x, y)
        z = mu.repeat(S, 1) + torch.exp(0.5 * lv.repeat(S, 1)) * eps[0]
        ys = y.repeat(S, 1)
        o = self.decoder["out"](torch.tanh(self.decoder["0"](torch.cat([z, ys], 1))))
        nll = (nn.functional.softplus(o) - x.repeat(S, 1) * o).sum(1)
        kl = 0.5 * (mu ** 2 + torch.exp(lv) - lv - 1).sum(1)
        return nll.sum() / (S * BATCH) + kl.sum() / BATCH, nll


class CVAE2(nn.Module):
    """Two layers, every MLP on [input | onehot(y)]; the importance-weighted bound."""

    def __init__(self):
        super().__init__()
        self.q1 = gaussian_mlp(DIM, 5, 3)
        self.q2 = gaussian_mlp(3, 4, 2)
        self.p1 = gaussian_mlp(2, 4, 3)
        self.decoder = decoder(3, 5)

    def forward(self, x, y, eps, S):
        ys = y.repeat(S, 1)
        mu1, lv1 = (t.repeat(S, 1) for t in heads(self.q1, x, y))
        z1 = mu1 + torch.exp(0.5 * lv1) * eps[0]
        mu2, lv2 = heads(self.q2, z1, ys)
        z2 = mu2 + torch.exp(0.5 * lv2) * eps[1]
        pm, plv = heads(self.p1, z2, ys)
        o = self.decoder["out"](torch.tanh(self.decoder["0"](torch.cat([z1, ys], 1))))
        nll = (nn.functional.softplus(o) - x.repeat(S, 1) * o).sum(1)
        logw = -(nll + log_normal(z1, mu1, lv1) - log_normal(z1, pm, plv)
                 + log_normal(z2, mu2, lv2) - (-0.5 * z2 ** 2 - 0.5 * LOG2PI).sum(1))
        return -(torch.logsumexp(logw.reshape(S, BATCH), 0) - math.log(S)).mean(), nll


def make_case(kind, model, arch, latent, S, numpy_seed):
    rs = np.random.RandomState(numpy_seed)
    model = model.double()
    params = init_state_dict(model, rs, WEIGHT_SCALE)
    x = rs.uniform(0.0, 1.0, (BATCH, DIM)).astype(F32)
    eps = []
    for l, r in enumerate(latent):
        n = S * BATCH * r
        e = np.array([philox_normal(SEED, STEP, STREAM + 256 * l, i) for i in range(n)],
                     dtype=F32)
        eps.append(torch.tensor(e.reshape(S * BATCH, r), dtype=torch.float64))
    y = nn.functional.one_hot(torch.tensor(LABELS), C).double()
    loss, nll = model(torch.tensor(x, dtype=torch.float64), y, eps, S)
    loss.backward()
    grads = {n: p.grad for n, p in model.named_parameters()}
    return {
        "kind": kind,
        "config": {"dim": DIM, "latent": latent, "batch": BATCH, "samples": S, "beta": 1.0,
                   "seed": SEED, "step": STEP, "stream": STREAM, "numpy_seed": numpy_seed,
                   "classes": C, "labels": LABELS, "arch": arch},
        "params": {k: {"shape": list(v.shape) if v.ndim == 2 else [v.shape[0], 1],
                       "data": floats(v)} for k, v in params.items()},
        "x": floats(x),
        "nll": floats(nll.detach().numpy()),
        "loss": floats([loss.item()])[0],
        "grads": {k: floats(v.numpy()) for k, v in grads.items()},
    }


def main():
    check_philox_kat()
    arch1 = {"latent": "3", "encoder": "5", "decoder": "5"}
    arch2 = {"latent": "3,2", "encoder": "5 | 4", "decoder": "4 | 5"}
    cases = [make_case("cvae-elbo", CVAE1(), arch1, [3], 2, 6000),
             make_case("cvae-iwae", CVAE2(), arch2, [3, 2], 3, 7000)]
    doc = {"generator": f"test/golden/make_golden_cvae.py (PyTorch {torch.__version__}, "
                        "float64 autograd, nn.Linear on torch.cat([input, onehot(y)], 1))",
           "loss": "cvae-elbo: sum(nll)/(S*B) + sum(kl)/B; cvae-iwae: -mean_b(logsumexp_s log w "
                   "- log S)",
           "cases": cases}
    write_golden(doc, "golden_cvae.json")


if __name__ == "__main__":
    main()
