#!/usr/bin/python3
"""Writes test/golden/golden_conv.json: a small conv VAE with BatchNorm2d evaluated by PyTorch
(float64 autograd), the reference that test/test_golden_conv.c checks the C model against.

Run from anywhere with Debian's python3 (python3-torch, python3-numpy):
    /usr/bin/python3 test/golden/make_golden_conv.py
The model (clvae config words; x is 2x6x5, NCHW rows of 60):
    encoder     = conv 3 k3 s2 p1 bn, conv 4 k2x3 p1x0 tanh     (-> 3x3x3 -> 4x4x1, flatten 16)
    decoder     = 2x3x3 softplus, convt 3 k3 s2 p2 o1 d2 bn      (Linear(3, 18) -> 2x3x3 -> 3x6x6)
    decoder_out = conv k1x2                                      (-> 2x6x5 Bernoulli logits)
    activation = leaky_relu, leaky_slope = 0.2, latent 3, batch 4, samples 2
BatchNorm2d in training mode (batch statistics of the B rows in the encoder, of the S*B rows in
the decoder); the file also holds the running statistics after that forward (momentum 0.1,
unbiased variance) and the loss of an evaluation forward with the running statistics the
parameters started with (the same eps). Deterministic: the first numpy seed from 1000 whose
network puts no leaky ReLU input within LEAKY_MARGIN of its kink; eps from make_golden.py's
numpy Philox (seed 1, step 0, stream 2).
"""
import math

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from make_golden import F32, check_philox_kat, floats, philox_normal, write_golden

C, H, W, LATENT, BATCH, SAMPLES, SLOPE = 2, 6, 5, 3, 4, 2, 0.2
SEED, STEP, STREAM = 1, 0, 2
WEIGHT_SCALE = 0.5
LEAKY_MARGIN = 1e-3
CONFIG = {"encoder": "conv 3 k3 s2 p1 bn, conv 4 k2x3 p1x0 tanh",
          "decoder": "2x3x3 softplus, convt 3 k3 s2 p2 o1 d2 bn",
          "decoder_out": "conv k1x2", "activation": "leaky_relu", "leaky_slope": SLOPE,
          "image_shape": f"{H}x{W}x{C}", "latent": LATENT, "batch": BATCH, "samples": SAMPLES,
          "seed": SEED, "step": STEP, "stream": STREAM}


class Net(nn.Module):
    """state_dict names as clvae's table: encoder.0 conv, encoder.1 bn, encoder.2 conv, heads,
    decoder.0 Linear, decoder.1 convT, decoder.2 bn, decoder.out conv."""

    def __init__(self):
        super().__init__()
        self.encoder = nn.ModuleDict({
            "0": nn.Conv2d(C, 3, 3, 2, 1), "1": nn.BatchNorm2d(3),
            "2": nn.Conv2d(3, 4, (2, 3), 1, (1, 0)),
            "mu": nn.Linear(16, LATENT), "logvar": nn.Linear(16, LATENT)})
        self.decoder = nn.ModuleDict({
            "0": nn.Linear(LATENT, 18),
            "1": nn.ConvTranspose2d(2, 3, 3, 2, 2, output_padding=1, dilation=2),
            "2": nn.BatchNorm2d(3), "out": nn.Conv2d(3, C, (1, 2))})
        self.double()

    def leaky(self, a, stats):
        stats["margin"] = min(stats["margin"], float(a.abs().min()))
        return F.leaky_relu(a, SLOPE)

    def forward(self, x, eps, stats):
        e, d = self.encoder, self.decoder
        h = self.leaky(e["1"](e["0"](x.view(-1, C, H, W))), stats)
        h = torch.tanh(e["2"](h)).flatten(1)
        mu, lv = e["mu"](h), e["logvar"](h)
        z = mu.repeat(SAMPLES, 1) + torch.exp(0.5 * lv).repeat(SAMPLES, 1) * eps
        h = F.softplus(d["0"](z)).view(-1, 2, 3, 3)
        h = self.leaky(d["2"](d["1"](h)), stats)
        o = d["out"](h).flatten(1)                                   # (S*B, C*H*W) NCHW
        xr = x.repeat(SAMPLES, 1)
        nll = (F.softplus(o) - xr * o).sum(1)
        kl = 0.5 * (mu ** 2 + torch.exp(lv) - lv - 1).sum(1)
        loss = nll.sum() / (SAMPLES * BATCH) + kl.sum() / BATCH
        return dict(heads=torch.cat([mu, lv], 1), z=z, out=o, nll=nll, kl=kl, loss=loss)


def make_case(eps):
    for seed in range(1000, 11000):
        rs = np.random.RandomState(seed)
        net, params = Net(), {}
        with torch.no_grad():
            for name, t in net.state_dict().items():
                if name.endswith("num_batches_tracked"):
                    continue
                v = WEIGHT_SCALE * rs.standard_normal(tuple(t.shape))
                if name.endswith("running_var"):
                    v = 0.5 + rs.uniform(0, 1, tuple(t.shape))      # positive
                v = v.astype(F32)
                t.copy_(torch.from_numpy(v.astype(np.float64)))
                params[name] = v
        x = rs.uniform(0.0, 1.0, (BATCH, C * H * W)).astype(F32)
        xt = torch.tensor(x, dtype=torch.float64)
        eps_t = torch.tensor(eps.reshape(SAMPLES * BATCH, LATENT), dtype=torch.float64)
        net.eval()
        with torch.no_grad():
            eval_loss = net(xt, eps_t, {"margin": math.inf})["loss"].item()
        net.train()
        stats = {"margin": math.inf}
        res = net(xt, eps_t, stats)
        if stats["margin"] > LEAKY_MARGIN:
            break
    else:
        raise SystemExit("no seed gives a kink-free network")
    res["loss"].backward()
    get = lambda k: res[k].detach().numpy().astype(F32)
    grads = {n: floats(p.grad.numpy()) for n, p in net.named_parameters()}
    running = {n: floats(b.numpy()) for n, b in net.named_buffers() if "running" in n}
    return {
        "config": dict(CONFIG, numpy_seed=seed),
        "params": {k: {"shape": list(v.shape), "data": floats(v)} for k, v in params.items()},
        "x": floats(x), "eps": floats(eps),
        "heads": floats(get("heads")), "z": floats(get("z")), "out": floats(get("out")),
        "nll": floats(get("nll")), "kl": floats(get("kl")),
        "loss": floats([res["loss"].item()])[0],
        "grads": grads,
        "running_after": running,
        "eval_loss": floats([eval_loss])[0],
    }


def main():
    check_philox_kat()
    n = SAMPLES * BATCH * LATENT
    eps = np.array([philox_normal(SEED, STEP, STREAM, i) for i in range(n)], dtype=F32)
    gen = f"test/golden/make_golden_conv.py (PyTorch {torch.__version__}, float64 autograd)"
    doc = {"generator": gen, "loss": "L = sum(nll)/(S*B) + 1/B * sum(kl)", "case": make_case(eps)}
    write_golden(doc, "golden_conv.json")


if __name__ == "__main__":
    main()
