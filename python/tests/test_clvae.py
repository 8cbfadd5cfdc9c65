"""Tests of the clvae Python package on small arrays (the reference backend unless
CLVAE_TEST_DEVICE names another): fit/transform/sample/score, save/load round trip in the CLI's
checkpoint format, C errors as clvae.Error, arrays passed without copies, Ctrl-C cancelling."""
import os
import signal
import threading

import pytest

np = pytest.importorskip("numpy")
import clvae  # noqa: E402

DEVICE = os.environ.get("CLVAE_TEST_DEVICE", "ref")
SMALL = {"model.encoder": 32, "model.decoder": 32, "model.latent": 2, "train.epochs": 2,
         "train.batch": 32, "train.log_every": 2}


def bars(n=256, d=64, seed=0):
    """uint8 (n, d): a bar at one of 8 positions of an 8-wide row, with noise; labels (n)."""
    rng = np.random.default_rng(seed)
    y = (np.arange(n) % 8).astype(np.uint8)
    x = (np.arange(d)[None, :] % 8 == y[:, None]) | (rng.random((n, d)) < 0.03)
    return (x * 255).astype(np.uint8), y


@pytest.fixture(scope="module")
def fitted():
    X, _ = bars()
    return clvae.VAE(set=SMALL, device=DEVICE).fit(X), X


def test_fit_transform_sample_score(fitted):
    vae, X = fitted
    assert vae.epochs_ == 2 and vae.steps_ == 16
    mu = vae.transform(X)
    assert mu.shape == (256, 2) and mu.dtype == np.float32 and np.isfinite(mu).all()
    s = vae.sample(5)
    assert s.shape == (5, 64) and ((s >= 0) & (s <= 1)).all()
    assert np.array_equal(vae.sample(5, draw=3), vae.sample(5, draw=3))
    r = vae.reconstruct(X[:10])
    assert r.shape == (10, 64)
    ll = vae.score(X, k=20)
    # the IWAE bound is at least the ELBO up to Monte-Carlo noise (k = 20 on 256 rows); both
    # are near 44 nats here, 1 nat leaves room for the noise
    assert np.isfinite(ll) and ll > -vae.elbo(X) - 1.0


def test_float_and_4d_inputs_agree(fitted):
    vae, X = fitted
    mu = vae.transform(X)
    # float32 in [0, 1] equal to u8 / 255: the C side scales u8 by 1/255 as well
    mu_f = vae.transform((X / np.float32(255)).astype(np.float32))
    assert np.allclose(mu, mu_f, atol=1e-5)  # the same floats up to the division's rounding
    mu_4d = vae.transform(X.reshape(256, 1, 8, 8))
    assert np.array_equal(mu, mu_4d)


def test_save_load_round_trip(fitted, tmp_path):
    vae, X = fitted
    path = tmp_path / "model.safetensors"
    vae.save(path)
    head = path.read_bytes()
    n = int.from_bytes(head[:8], "little")
    assert b'"format"' in head[8:8 + n] and b"encoder.0.weight" in head[8:8 + n]
    again = clvae.load(path, device=DEVICE)
    assert np.array_equal(again.transform(X), vae.transform(X))
    assert again.elbo(X) == vae.elbo(X)


def test_partial_fit_equals_fit(tmp_path):
    X, _ = bars()
    whole = clvae.VAE(set=SMALL, device=DEVICE).fit(X)  # 2 epochs of 8 steps
    parts = clvae.VAE(set=SMALL, device=DEVICE)
    parts.partial_fit(X, steps=5).partial_fit(X, steps=7).partial_fit(X, steps=4)
    assert parts.steps_ == 16
    whole.save(tmp_path / "a.safetensors")
    parts.save(tmp_path / "b.safetensors")
    a = clvae.load(tmp_path / "a.safetensors")
    b = clvae.load(tmp_path / "b.safetensors")
    # the same run cut into pieces (a new trainer per call): bit-identical
    assert np.array_equal(a.transform(X), b.transform(X)) and a.elbo(X) == b.elbo(X)
    with pytest.raises(clvae.Error, match="exactly one"):
        parts.partial_fit(X, epochs=1, steps=1)


def test_trainer_single_steps_equal_fit():
    X, _ = bars()
    whole = clvae.VAE(set=SMALL, device=DEVICE).fit(X)  # 2 epochs of 8 steps
    v = clvae.VAE(set=SMALL, device=DEVICE)
    seen = []
    with v.trainer(X) as tr:
        for _ in range(15):
            tr.run(steps=1)
        tr.run(steps=1, progress=lambda e, n, s, loss: seen.append(s))
        assert v.steps_ == 16 and seen == [16]
        # the trainer keeps the model in memory between steps: the same run, bit-identical
        assert np.array_equal(v.transform(X), whole.transform(X)) and v.elbo(X) == whole.elbo(X)
    with pytest.raises(clvae.Error, match="closed"):
        tr.run(steps=1)


def test_load_cli_checkpoint(tmp_path):
    """A checkpoint `clvae train` wrote (a fuzz seed: 16 features, latent 2) loads, works, and
    is saved back byte for byte."""
    src = os.path.join(os.path.dirname(__file__), "..", "..", "fuzz", "corpus", "checkpoint",
                       "adam.safetensors")
    vae = clvae.load(src, device=DEVICE)
    assert vae.n_features_in_ == 16 and vae.latent_dim_ == 2
    assert vae.sample(3).shape == (3, 16)
    vae.save(tmp_path / "again.safetensors")
    with open(src, "rb") as f:
        assert (tmp_path / "again.safetensors").read_bytes() == f.read()


def test_errors_are_exceptions(fitted):
    vae, X = fitted
    with pytest.raises(clvae.Error, match="unknown key"):
        clvae.VAE(set={"model.nosuchkey": 1})
    with pytest.raises(clvae.Error, match="features per row"):
        vae.transform(X[:, :10])
    with pytest.raises(clvae.Error, match="cannot open"):
        clvae.load("/nonexistent/model.safetensors")
    with pytest.raises(clvae.Error, match="no parameters yet"):
        clvae.VAE(set=SMALL).transform(X)
    with pytest.raises(clvae.Error) as e:
        clvae.VAE(config_text="not an ini file\n")
    assert e.value.status == -2 and "config string" in str(e.value)


def test_input_checks(fitted):
    """The package's own checks of X, labels and handles, before any C call."""
    vae, X = fitted
    y = np.zeros(len(X), np.uint8)
    with pytest.raises(clvae.Error, match=r"X has shape \(5,\); expected \(n, D\)"):
        vae.transform(np.zeros(5))
    with pytest.raises(clvae.Error, match=r"y has shape \(3,\); expected \(256,\)"):
        vae.elbo(X, y[:3])
    with pytest.raises(clvae.Error, match=r"y has shape \(2,\); expected \(4,\)"):
        clvae.VAE(set=SMALL, device=DEVICE).fit(X, X_test=X[:4], y_test=y[:2])
    with pytest.raises(clvae.Error, match="class indices in 0..255"):
        vae.score(X, y - 1.0, k=2)
    v = clvae.VAE(set=SMALL, device=DEVICE)
    with v:
        pass
    with pytest.raises(clvae.Error, match="this VAE was closed") as e:
        v.sample(1)
    assert e.value.status == -5


def test_arrays_not_copied():
    X, _ = bars()
    Xv, a = clvae._x_array(X)
    assert Xv is X and a.data == X.ctypes.data  # uint8, C-contiguous: the caller's memory
    F = (X / np.float32(255)).astype(np.float32)
    Fv, b = clvae._x_array(F)
    assert Fv is F and b.data == F.ctypes.data
    D, _ = clvae._x_array(F.astype(np.float64))  # float64 is converted: a copy, documented
    assert D.dtype == np.float32


def test_estimator_params():
    vae = clvae.VAE(set=SMALL, device=DEVICE)
    p = vae.get_params()
    assert p["set"] == SMALL and p["device"] == DEVICE
    twin = clvae.VAE(**p)  # what sklearn.base.clone does
    assert twin.get_params() == p and "model.latent" in repr(twin)
    assert vae.set_params(set=dict(SMALL, **{"model.latent": 3})).latent_dim_ == 3
    with pytest.raises(ValueError):
        vae.set_params(nonsense=1)


def test_devices():
    ds = clvae.devices()
    assert ds[0]["backend"] == "ref"
    assert all(set(d) == {"name", "platform", "type", "backend"} for d in ds)


def test_progress_cancels():
    X, _ = bars()
    seen = []
    vae = clvae.VAE(set=SMALL, device=DEVICE)
    with pytest.raises(clvae.Error) as e:
        vae.fit(X, progress=lambda *p: seen.append(p) or True)
    assert e.value.status == -15 and len(seen) == 1  # interrupted after the first report


@pytest.mark.skipif(threading.current_thread() is not threading.main_thread(),
                    reason="signals need the main thread")
def test_ctrl_c_cancels_fit():
    X, _ = bars()
    vae = clvae.VAE(set=dict(SMALL, **{"train.epochs": 50}), device=DEVICE)

    def interrupt(epoch, epochs, step, loss):
        if step == 4:
            os.kill(os.getpid(), signal.SIGINT)  # as Ctrl-C in a notebook
        return False

    before = signal.getsignal(signal.SIGINT)
    with pytest.raises(KeyboardInterrupt):
        vae.fit(X, progress=interrupt)
    assert signal.getsignal(signal.SIGINT) is before
    with pytest.raises(clvae.Error, match="no parameters yet"):
        vae.transform(X)  # the cancelled fit left the model as it was
