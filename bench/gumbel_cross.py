#!/usr/bin/python3
"""bench/cond.sh helper: clvae's trained Gumbel-softmax parameters in the PyTorch peer's own
GumbelVAE (load_state_dict, strict) and evaluator (its test binarization and noise):
    gumbel_cross.py CHECKPOINT PEER_SCRIPT TAU NLL_K NLL_LIMIT SEED
prints {"test_loss", "test_loss_onehot", "test_nll"} as the peer computes them."""
import json, os, struct, sys
import numpy as np, torch
ckpt, peer, tau, k, lim, seed = sys.argv[1], sys.argv[2], float(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6])
sys.path.insert(0, os.path.dirname(os.path.abspath(peer)))
import torch_family as tf
b = open(ckpt, "rb").read(); n = struct.unpack("<Q", b[:8])[0]
h = json.loads(b[8:8 + n]); h.pop("__metadata__", None)
sd = {name: torch.from_numpy(np.frombuffer(b[8 + n + v["data_offsets"][0]:8 + n + v["data_offsets"][1]],
                                           np.float32).reshape(v["shape"]).copy())
      for name, v in h.items() if not name.startswith("optimizer")}
model = tf.GumbelVAE([512, 256], [256, 512], 30, 10, torch.nn.ReLU, False)
model.load_state_dict(sd, strict=True)
model.tau = tau
torch.set_num_threads(1)
x = torch.from_numpy(tf.read_idx("/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz").astype(np.float32) / 255.0)
x = torch.bernoulli(x, generator=torch.Generator().manual_seed(0))  # the peer's test set
class A: pass
a = A(); a.model = "gumbel"; a.seed = seed; a.k = 1
model.eval()
ev = tf.evaluate(model, a, x, None)
nll = tf.test_nll(model, x[:lim], None, k, seed, 20000)
print(json.dumps({"test_loss": ev["test_loss"], "test_loss_onehot": ev["test_loss_onehot"], "test_nll": nll}))
