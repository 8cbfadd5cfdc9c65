#!/usr/bin/python3
"""Writes test/golden/golden_gumbel.json: tiny Gumbel-softmax (categorical-latent) VAEs written
the way the PyTorch peer (../shared/peer/torch_family.py, GumbelVAE) writes one, evaluated in
float64 autograd; test/test_golden_chain.c checks the C model against it.

    /usr/bin/python3 test/golden/make_golden_gumbel.py

The modules' state_dict names are clvae's checkpoint tensor names (encoder.<i>, encoder.out,
decoder.<i>, decoder.out), so the golden parameters are a PyTorch state_dict. Cases:
  "gumbel-relaxed": x (6) -> 5 (tanh) -> logits 2x3; relaxed sample softmax((l + g) / tau) at
                    tau 0.7, 2 samples per input; decoder 6 -> 5 (tanh) -> logits (6).
  "gumbel-hard":    x (6) -> 5 (relu) -> logits 3x4, straight-through one-hot at tau 0.5
                    ((onehot(argmax y) - y).detach() + y, the peer's expression), 1 sample;
                    decoder 12 -> 5 (relu) -> 6.
Loss: sum(nll)/(S*B) + sum_b KL(q_b || uniform)/B with KL = sum q (log q + log K) per group.
The Gumbel noise is given: g = -log(-log(u + 1e-20) + 1e-20) in float32 of the Philox uniform u
(seed 1, step 0, stream 2, element (s*B + b)*G*K + c), stored as "g" and checked against the C
model's own draw.
"""
import math
import os
import sys

import numpy as np
import torch
from torch import nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_golden import (F32, M32, check_philox_kat, f32_of, floats, init_state_dict,  # noqa: E402
                         philox4x32_10, u32_to_uniform, write_golden)

DIM, BATCH = 6, 4
SEED, STEP, STREAM = 1, 0, 2
WEIGHT_SCALE = 0.7


def philox_uniform(seed, step, stream, n):
    ctr = [(n >> 2) & M32, step & M32, (step >> 32) & M32, stream]
    return u32_to_uniform(philox4x32_10(ctr, seed & M32, (seed >> 32) & M32)[n & 3])


def gumbel32(u):
    """The C expression in float32: -logf(-logf(u + 1e-20f) + 1e-20f)."""
    t = F32(-f32_of(math.log, F32(u + F32(1e-20))) + F32(1e-20))
    return F32(-f32_of(math.log, t))


class GumbelVAE(nn.Module):
    def __init__(self, groups, cats, act):
        super().__init__()
        self.G, self.K, self.act = groups, cats, act
        self.encoder = nn.ModuleDict({"0": nn.Linear(DIM, 5), "out": nn.Linear(5, groups * cats)})
        self.decoder = nn.ModuleDict({"0": nn.Linear(groups * cats, 5), "out": nn.Linear(5, DIM)})

    def forward(self, x, g, S, tau, hard):
        logits = self.encoder["out"](self.act(self.encoder["0"](x))).view(BATCH, self.G, self.K)
        a = (logits.repeat(S, 1, 1) + g.view(S * BATCH, self.G, self.K)) / tau
        y = torch.softmax(a, -1)
        if hard:
            y = (nn.functional.one_hot(y.argmax(-1), self.K).to(y.dtype) - y).detach() + y
        o = self.decoder["out"](self.act(self.decoder["0"](y.flatten(1))))
        nll = (nn.functional.softplus(o) - x.repeat(S, 1) * o).sum(1)
        logq = torch.log_softmax(logits, -1)
        kl = (logq.exp() * (logq + math.log(self.K))).sum((1, 2))
        return nll.sum() / (S * BATCH) + kl.sum() / BATCH, nll, kl


def make_case(kind, groups, cats, act, S, tau, hard, numpy_seed):
    rs = np.random.RandomState(numpy_seed)
    model = GumbelVAE(groups, cats, torch.tanh if act == "tanh" else torch.relu).double()
    params = init_state_dict(model, rs, WEIGHT_SCALE)
    x = rs.uniform(0.0, 1.0, (BATCH, DIM)).astype(F32)
    n = S * BATCH * groups * cats
    g = np.array([gumbel32(philox_uniform(SEED, STEP, STREAM, i)) for i in range(n)], dtype=F32)
    loss, nll, kl = model(torch.tensor(x, dtype=torch.float64),
                          torch.tensor(g, dtype=torch.float64), S, tau, hard)
    loss.backward()
    grads = {name: p.grad for name, p in model.named_parameters()}
    return {
        "kind": kind,
        "config": {"dim": DIM, "batch": BATCH, "samples": S, "beta": 1.0, "seed": SEED,
                   "step": STEP, "stream": STREAM, "numpy_seed": numpy_seed,
                   "categorical": [groups, cats], "tau": tau, "hard": hard,
                   "arch": {"latent": "1", "encoder": "5", "decoder": "5", "activation": act}},
        "params": {k: {"shape": list(v.shape) if v.ndim == 2 else [v.shape[0], 1],
                       "data": floats(v)} for k, v in params.items()},
        "x": floats(x),
        "g": floats(g),
        "nll": floats(nll.detach().numpy()),
        "kl": floats(kl.detach().numpy()),
        "loss": floats([loss.item()])[0],
        "grads": {k: floats(v.numpy()) for k, v in grads.items()},
    }


def main():
    check_philox_kat()
    cases = [make_case("gumbel-relaxed", 2, 3, "tanh", 2, 0.7, False, 8000),
             make_case("gumbel-hard", 3, 4, "relu", 1, 0.5, True, 9000)]
    doc = {"generator": f"test/golden/make_golden_gumbel.py (PyTorch {torch.__version__}, "
                        "float64 autograd, the peer's GumbelVAE expressions)",
           "loss": "sum(nll)/(S*B) + sum_b sum_groups sum_k q log(K q) / B",
           "cases": cases}
    write_golden(doc, "golden_gumbel.json")


if __name__ == "__main__":
    main()
