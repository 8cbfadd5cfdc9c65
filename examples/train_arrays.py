"""Trains a small VAE on Fashion-MNIST arrays in memory with the clvae Python package, then
encodes, samples, scores, saves and reloads it.
Usage: python3 examples/train_arrays.py [DEVICE]   (after `make` and `pip install ./python`,
or with PYTHONPATH=python)."""
import gzip
import sys

import numpy as np

import clvae


def idx_images(path, limit):
    with gzip.open(path, "rb") as f:
        data = f.read()
    n, h, w = (int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(3))
    return np.frombuffer(data, np.uint8, offset=16).reshape(n, h * w)[:limit]


X = idx_images("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz", 2000)
device = sys.argv[1] if len(sys.argv) > 1 else "auto"
print("devices:", [d["name"] for d in clvae.devices()])
vae = clvae.VAE(set={"model.latent": 8, "model.encoder": 200, "model.decoder": 200,
                     "train.epochs": 2}, device=device)
vae.fit(X, progress=lambda epoch, epochs, step, loss: print(f"epoch {epoch}/{epochs} "
                                                            f"step {step} loss {loss:.2f}"))
print("device:", vae.device_, "latents:", vae.transform(X[:5]).round(2).tolist()[0])
print("samples:", vae.sample(4).shape, "log p(x) (IWAE, k=50):", round(vae.score(X[:200], k=50), 2))
vae.save("train_arrays.safetensors")
print("reloaded -ELBO equal:", clvae.load("train_arrays.safetensors").elbo(X[:200]) == vae.elbo(X[:200]))
