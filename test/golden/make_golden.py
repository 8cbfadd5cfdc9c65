#!/usr/bin/python3
"""Writes test/golden/golden.json: a tiny clvae VAE evaluated by PyTorch (float64 autograd) for
every likelihood, the reference that test/test_golden.c checks the C model against.

Run from anywhere with Debian's python3 (python3-torch, python3-numpy):
    /usr/bin/python3 test/golden/make_golden.py
The output is deterministic: per case, the first numpy seed (from 1000, 2000, 3000) whose
weights and inputs put no ReLU input within RELU_MARGIN of its kink and leave no unit off for
every row; eps from a numpy
re-implementation of clvae's Philox4x32-10 + Box-Muller (cl/philox.clh) for seed 1, step 0,
stream 2 (CLVAE_STREAM_EPS_TRAIN).
"""
import json
import math
import os

import numpy as np
import torch

F32 = np.float32
M32 = 0xFFFFFFFF

# The fixed network (a tiny version of the anchors' 784-400-20 model).
DIM, ENCODER, DECODER, LATENT = 8, [6], [5], 3
BATCH, SAMPLES, BETA, SIGMA_X = 5, 2, 1.0, 0.5
ACTIVATION = "relu"
SEED, STEP, STREAM = 1, 0, 2          # Philox key and counter words for the eps tensor
WEIGHT_SCALE = 0.5                    # weights ~ N(0, 0.5^2): moderate pre-activations
RELU_MARGIN = 1e-3                    # no ReLU input this close to the kink (fp32 vs fp64 agree)


# ---- Philox4x32-10 and the clvae normal draw, exactly as cl/philox.clh (float32 math) ----

def philox4x32_10(ctr, k0, k1):
    m0, m1, w0, w1 = 0xD2511F53, 0xCD9E8D57, 0x9E3779B9, 0xBB67AE85
    c = list(ctr)
    for _ in range(10):
        p0, p1 = m0 * c[0], m1 * c[2]
        hi0, lo0 = (p0 >> 32) & M32, p0 & M32
        hi1, lo1 = (p1 >> 32) & M32, p1 & M32
        c = [hi1 ^ c[1] ^ k0, lo1, hi0 ^ c[3] ^ k1, lo0]
        k0, k1 = (k0 + w0) & M32, (k1 + w1) & M32
    return c


def u32_to_uniform(bits):
    # ((bits >> 9) + 0.5) * 2^-23: every step is exact in float32.
    return (F32(bits >> 9) + F32(0.5)) * F32(1.0 / 8388608.0)


def f32_of(fn, x):
    """A correctly rounded float32 libm call (glibc's logf/sinf/cosf are within 1 ulp of it)."""
    return F32(fn(float(x)))


def philox_normal(seed, step, stream, n):
    ctr = [(n >> 2) & M32, step & M32, (step >> 32) & M32, stream]
    r = philox4x32_10(ctr, seed & M32, (seed >> 32) & M32)
    lane = n & 3
    pair = lane >> 1
    ua, ub = u32_to_uniform(r[2 * pair]), u32_to_uniform(r[2 * pair + 1])
    rad = np.sqrt(F32(-2.0) * f32_of(math.log, ua))           # float32 sqrt is exact-rounded
    th = F32(6.28318530717958647692) * ub                      # float32 product, like 2pi f * ub
    trig = f32_of(math.sin, th) if lane & 1 else f32_of(math.cos, th)
    return F32(rad * trig)


def check_philox_kat():
    """Random123 kat_vectors, the same three that test/test_philox.c checks."""
    kats = [
        ([0, 0, 0, 0], [0, 0], [0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8]),
        ([M32] * 4, [M32, M32], [0x408F276D, 0x41C83B0E, 0xA20BC7C6, 0x6D5451FD]),
        ([0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344], [0xA4093822, 0x299F31D0],
         [0xD16CFE09, 0x94FDCCEB, 0x5001E420, 0x24126EA1]),
    ]
    for ctr, key, want in kats:
        assert philox4x32_10(ctr, key[0], key[1]) == want, "Philox known-answer test failed"


# ---- the model in PyTorch (float64) ----

def param_shapes(likelihood):
    """(name, (out, in)) for every Linear, in clvae's parameter-table order."""
    shapes, fan_in = [], DIM
    for i, w in enumerate(ENCODER):
        shapes.append((f"encoder.{i}", (w, fan_in)))
        fan_in = w
    shapes += [("encoder.mu", (LATENT, fan_in)), ("encoder.logvar", (LATENT, fan_in))]
    fan_in = LATENT
    for i, w in enumerate(DECODER):
        shapes.append((f"decoder.{i}", (w, fan_in)))
        fan_in = w
    shapes.append(("decoder.out", (DIM, fan_in)))
    if likelihood == "gaussian-learned":
        shapes.append(("decoder.logvar", (DIM, fan_in)))
    return shapes


def make_params(likelihood, rs):
    params = {}
    for prefix, (rows, cols) in param_shapes(likelihood):
        params[prefix + ".weight"] = (WEIGHT_SCALE * rs.standard_normal((rows, cols))).astype(F32)
        params[prefix + ".bias"] = (WEIGHT_SCALE * rs.standard_normal(rows)).astype(F32)
    return params


def init_state_dict(model, rs, scale=WEIGHT_SCALE):
    """Sets every tensor of a float64 nn.Module, in state_dict order, to scale * N(0, 1) draws
    from rs rounded to float32 (the values the C model gets); returns {name: float32 array}."""
    params = {}
    with torch.no_grad():
        for name, t in model.state_dict().items():
            v = (scale * rs.standard_normal(tuple(t.shape))).astype(F32)
            t.copy_(torch.from_numpy(v.astype(np.float64)))
            params[name] = v
    return params


def linear(t, prefix, h):
    return h @ t[prefix + ".weight"].T + t[prefix + ".bias"]


def relu_checked(a, stats):
    stats["margin"] = min(stats["margin"], float(a.abs().min()))
    stats["dead"] += int(((a > 0).sum(0) == 0).sum())      # units off for every row
    return torch.relu(a)


def forward(likelihood, t, x, eps):
    """Returns every intermediate the C test compares, and the loss L."""
    stats = {"margin": math.inf, "dead": 0}
    h = x
    for i in range(len(ENCODER)):
        h = relu_checked(linear(t, f"encoder.{i}", h), stats)
    mu, lv = linear(t, "encoder.mu", h), linear(t, "encoder.logvar", h)
    z = mu.repeat(SAMPLES, 1) + torch.exp(0.5 * lv).repeat(SAMPLES, 1) * eps   # (S*B, R)
    h = z
    for i in range(len(DECODER)):
        h = relu_checked(linear(t, f"decoder.{i}", h), stats)
    o = linear(t, "decoder.out", h)                                             # (S*B, D)
    xr = x.repeat(SAMPLES, 1)                                                   # row r -> x[r % B]
    if likelihood == "bernoulli":
        nll = (torch.nn.functional.softplus(o) - xr * o).sum(1)
        out = o
    elif likelihood == "gaussian":
        nll = ((xr - o) ** 2 / (2 * SIGMA_X ** 2)).sum(1) \
            + 0.5 * DIM * math.log(2 * math.pi * SIGMA_X ** 2)
        out = o
    else:
        v = linear(t, "decoder.logvar", h)
        nll = ((xr - o) ** 2 / (2 * torch.exp(v)) + 0.5 * v + 0.5 * math.log(2 * math.pi)).sum(1)
        out = torch.cat([o, v], 1)                                              # [mean | logvar]
    kl = 0.5 * (mu ** 2 + torch.exp(lv) - lv - 1).sum(1)
    loss = nll.sum() / (SAMPLES * BATCH) + BETA / BATCH * kl.sum()
    return dict(heads=torch.cat([mu, lv], 1), z=z, out=out, nll=nll, kl=kl, loss=loss,
                stats=stats)


def floats(a):
    """float32 values as JSON numbers with 9 significant digits (enough to round-trip float32)."""
    return [float(f"{float(v):.9g}") for v in np.asarray(a, dtype=np.float64).ravel()]


def evaluate(likelihood, case_seed, eps):
    rs = np.random.RandomState(case_seed)
    params = make_params(likelihood, rs)
    x = rs.uniform(0.0, 1.0, (BATCH, DIM)).astype(F32)
    t = {k: torch.tensor(v, dtype=torch.float64, requires_grad=True) for k, v in params.items()}
    eps_t = torch.tensor(eps.reshape(SAMPLES * BATCH, LATENT), dtype=torch.float64)
    res = forward(likelihood, t, torch.tensor(x, dtype=torch.float64), eps_t)
    return params, x, t, res


def make_case(likelihood, first_seed, eps):
    """The first numpy seed from first_seed on whose network has no ReLU input within
    RELU_MARGIN of the kink and no ReLU unit that is off for every row (so no gradient is
    trivially zero), evaluated with gradients."""
    for case_seed in range(first_seed, first_seed + 10000):
        params, x, t, res = evaluate(likelihood, case_seed, eps)
        if res["stats"]["margin"] > RELU_MARGIN and res["stats"]["dead"] == 0:
            break
    else:
        raise SystemExit(f"{likelihood}: no seed from {first_seed} gives a kink-free network")
    res["loss"].backward()
    get = lambda k: res[k].detach().numpy().astype(F32)
    return {
        "likelihood": likelihood,
        "config": {"dim": DIM, "encoder": ENCODER, "decoder": DECODER, "latent": LATENT,
                   "batch": BATCH, "samples": SAMPLES, "activation": ACTIVATION, "beta": BETA,
                   "sigma_x": SIGMA_X, "seed": SEED, "step": STEP, "stream": STREAM,
                   "numpy_seed": case_seed},
        "params": {k: {"shape": list(v.shape) if v.ndim == 2 else [v.shape[0], 1],
                       "data": floats(v)} for k, v in params.items()},
        "x": floats(x),
        "eps": floats(eps),
        "heads": floats(get("heads")),
        "z": floats(get("z")),
        "out": floats(get("out")),
        "nll": floats(get("nll")),
        "kl": floats(get("kl")),
        "loss": floats([res["loss"].item()])[0],
        "grads": {k: floats(v.grad.numpy()) for k, v in t.items()},
    }


def write_golden(doc, name):
    """Writes doc as compact JSON next to this script, atomically (temp file + rename)."""
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), name)
    with open(path + ".tmp", "w") as f:
        json.dump(doc, f, separators=(",", ":"))
        f.write("\n")
    os.replace(path + ".tmp", path)
    print(f"wrote {path} ({os.path.getsize(path)} bytes)")


def main():
    check_philox_kat()
    n = SAMPLES * BATCH * LATENT
    eps = np.array([philox_normal(SEED, STEP, STREAM, i) for i in range(n)], dtype=F32)
    cases = [make_case(lik, 1000 * (k + 1), eps)
             for k, lik in enumerate(["bernoulli", "gaussian", "gaussian-learned"])]
    gen = f"test/golden/make_golden.py (PyTorch {torch.__version__}, float64 autograd)"
    doc = {"generator": gen,
           "loss": "L = sum(nll)/(S*B) + beta/B * sum(kl)",
           "cases": cases}
    write_golden(doc, "golden.json")


if __name__ == "__main__":
    main()
