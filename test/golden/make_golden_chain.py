#!/usr/bin/python3
"""Writes test/golden/golden_chain.json: a tiny two-stochastic-layer clvae model evaluated by
PyTorch (float64 autograd), the reference that test/test_golden_chain.c checks the C chain against.

    /usr/bin/python3 test/golden/make_golden_chain.py

The model: x (6) -> 5 (tanh) -> q(z1|x) (3) ; z1 -> 4 (tanh) -> q(z2|z1) (2) ;
z2 -> 4 (tanh) -> p(z1|z2) ; z1 -> 5 (tanh) -> Bernoulli logits (6). Written here directly with
torch.distributions-free float64 algebra, independent of clvae's op decomposition: log q and
log p are Gaussian log-densities evaluated at z (so autograd takes the full path derivative).
Cases: "iwae" (K = 5, the importance-weighted bound) and "elbo" (2 samples, beta 0.5, the
top's analytic KL given z1 and layer 1's log q - log p at the sample).
eps from make_golden.py's numpy Philox: layer 1 stream 2, layer 2 stream 2 + 256 (clvae's
CLVAE_STREAM_LAYER), seed 1, step 0, element (s*B + b)*R + j.
"""
import json
import math
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_golden import F32, check_philox_kat, floats, philox_normal, write_golden  # noqa: E402

DIM, BATCH = 6, 4
LATENT = [3, 2]
ENC = [[5], [4]]          # x -> layer 1, layer 1 -> layer 2
DEC = [[4], [5]]          # top -> layer 1's prior, layer 1 -> x
SEED, STEP, STREAM = 1, 0, 2
WEIGHT_SCALE = 0.5
LOG2PI = math.log(2 * math.pi)


def param_shapes():
    """(prefix, (out, in)) of every Linear, named as clvae's checkpoint tensors."""
    s = [("q1.0", (ENC[0][0], DIM)), ("q1.mu", (LATENT[0], ENC[0][0])),
         ("q1.logvar", (LATENT[0], ENC[0][0])),
         ("q2.0", (ENC[1][0], LATENT[0])), ("q2.mu", (LATENT[1], ENC[1][0])),
         ("q2.logvar", (LATENT[1], ENC[1][0])),
         ("p1.0", (DEC[0][0], LATENT[1])), ("p1.mu", (LATENT[0], DEC[0][0])),
         ("p1.logvar", (LATENT[0], DEC[0][0])),
         ("decoder.0", (DEC[1][0], LATENT[0])), ("decoder.out", (DIM, DEC[1][0]))]
    return s


def lin(t, p, h):
    return h @ t[p + ".weight"].T + t[p + ".bias"]


def log_normal(z, mu, lv):
    return (-0.5 * (z - mu) ** 2 * torch.exp(-lv) - 0.5 * lv - 0.5 * LOG2PI).sum(1)


def forward(t, x, eps1, eps2, S):
    h = torch.tanh(lin(t, "q1.0", x))
    mu1, lv1 = lin(t, "q1.mu", h).repeat(S, 1), lin(t, "q1.logvar", h).repeat(S, 1)
    z1 = mu1 + torch.exp(0.5 * lv1) * eps1                                # (S*B, R1)
    h = torch.tanh(lin(t, "q2.0", z1))
    mu2, lv2 = lin(t, "q2.mu", h), lin(t, "q2.logvar", h)
    z2 = mu2 + torch.exp(0.5 * lv2) * eps2                                # (S*B, R2)
    h = torch.tanh(lin(t, "p1.0", z2))
    pm, plv = lin(t, "p1.mu", h), lin(t, "p1.logvar", h)
    o = lin(t, "decoder.out", torch.tanh(lin(t, "decoder.0", z1)))
    xr = x.repeat(S, 1)
    nll = (torch.nn.functional.softplus(o) - xr * o).sum(1)
    lq1, lp1 = log_normal(z1, mu1, lv1), log_normal(z1, pm, plv)
    lq2, lp2 = log_normal(z2, mu2, lv2), (-0.5 * z2 ** 2 - 0.5 * LOG2PI).sum(1)
    kl2 = 0.5 * (mu2 ** 2 + torch.exp(lv2) - lv2 - 1).sum(1)
    return dict(nll=nll, kl1=lq1 - lp1, kl2_mc=lq2 - lp2, kl2=kl2)


def loss_of(kind, r, S, beta):
    if kind == "iwae":
        logw = -(r["nll"] + r["kl1"] + r["kl2_mc"]).reshape(S, BATCH)
        return -(torch.logsumexp(logw, 0) - math.log(S)).mean()
    return (r["nll"] + beta * (r["kl1"] + r["kl2"])).sum() / (S * BATCH)


def make_case(kind, S, beta, numpy_seed):
    rs = np.random.RandomState(numpy_seed)
    params = {}
    for p, (rows, cols) in param_shapes():
        params[p + ".weight"] = (WEIGHT_SCALE * rs.standard_normal((rows, cols))).astype(F32)
        params[p + ".bias"] = (WEIGHT_SCALE * rs.standard_normal(rows)).astype(F32)
    x = rs.uniform(0.0, 1.0, (BATCH, DIM)).astype(F32)
    n1, n2 = S * BATCH * LATENT[0], S * BATCH * LATENT[1]
    e1 = np.array([philox_normal(SEED, STEP, STREAM, i) for i in range(n1)], dtype=F32)
    e2 = np.array([philox_normal(SEED, STEP, STREAM + 256, i) for i in range(n2)], dtype=F32)
    t = {k: torch.tensor(v, dtype=torch.float64, requires_grad=True) for k, v in params.items()}
    d = lambda a, shape: torch.tensor(a.reshape(shape), dtype=torch.float64)
    r = forward(t, d(x, (BATCH, DIM)), d(e1, (S * BATCH, LATENT[0])),
                d(e2, (S * BATCH, LATENT[1])), S)
    loss = loss_of(kind, r, S, beta)
    loss.backward()
    return {
        "kind": kind,
        "config": {"dim": DIM, "latent": LATENT, "batch": BATCH, "samples": S, "beta": beta,
                   "seed": SEED, "step": STEP, "stream": STREAM, "numpy_seed": numpy_seed},
        "params": {k: {"shape": list(v.shape) if v.ndim == 2 else [v.shape[0], 1],
                       "data": floats(v)} for k, v in params.items()},
        "x": floats(x),
        "nll": floats(r["nll"].detach().numpy()),
        "kl1": floats(r["kl1"].detach().numpy()),
        "loss": floats([loss.item()])[0],
        "grads": {k: floats(v.grad.numpy()) for k, v in t.items()},
    }


def main():
    check_philox_kat()
    cases = [make_case("iwae", 5, 1.0, 4000), make_case("elbo", 2, 0.5, 5000)]
    doc = {"generator": f"test/golden/make_golden_chain.py (PyTorch {torch.__version__}, "
                        "float64 autograd)",
           "loss": "iwae: -mean_b(logsumexp_s log w - log S); elbo: sum(nll + beta (kl1 + kl2))/(S*B)",
           "cases": cases}
    write_golden(doc, "golden_chain.json")


if __name__ == "__main__":
    main()
