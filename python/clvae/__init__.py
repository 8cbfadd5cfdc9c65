"""clvae: variational autoencoders trained on OpenCL devices (or the plain-C reference backend).

A thin ctypes binding over libclvae's C API (include/clvae/clvae.h) with a scikit-learn-shaped
estimator on top:

    import clvae
    vae = clvae.VAE(set={"model.latent": 8, "train.epochs": 2}, device="ref").fit(X)
    mu = vae.transform(X); x = vae.sample(16); ll = vae.score(X, k=100)
    vae.save("model.safetensors"); again = clvae.load("model.safetensors")

Arrays: X is (n, D) or (n, C, H, W) (also (n, H, W)), uint8 in 0..255 or float32 in [0, 1].
C-contiguous uint8/float32 arrays are handed to C without a copy; other dtypes or layouts are
converted first (one copy). Every C error raises clvae.Error with the C message. Ctrl-C during
fit cancels it after the current logging interval (train.log_every steps) and raises
KeyboardInterrupt; the model keeps what it had before the fit. See docs/library.md."""
import ctypes
import os
import signal
import threading

import numpy as np

from . import _lib
from ._lib import lib

__all__ = ["VAE", "Trainer", "Error", "load", "devices", "version"]
__version__ = "0.3.0"


class Error(RuntimeError):
    """A clvae C API error: str(e) is the C message; e.status the C status code."""

    def __init__(self, status, message):
        super().__init__(message)
        self.status = status


def _check(status):
    if status != 0:
        msg = lib.clvae_last_error().decode("utf-8", "replace")
        raise Error(status, msg)


def version():
    """The loaded libclvae's version string."""
    return lib.clvae_version().decode()


def devices():
    """Every device: a list of dicts with name, platform, type and backend."""
    n = ctypes.c_int(0)
    _check(lib.clvae_devices(None, 0, ctypes.byref(n)))
    arr = (_lib.DeviceInfo * max(n.value, 1))()
    _check(lib.clvae_devices(arr, n.value, ctypes.byref(n)))
    return [{"name": d.name.decode(), "platform": d.platform.decode(), "type": d.type.decode(),
             "backend": d.backend.decode()} for d in arr[:n.value]]


def _x_array(X, dim=None):
    """X as a C-contiguous uint8/float32 ndarray (no copy when it already is one) and its
    clvae_array description; (n, H, W) is viewed as (n, H*W)."""
    X = np.asarray(X)
    if X.dtype not in (np.uint8, np.float32):
        X = X.astype(np.float32)
    X = np.ascontiguousarray(X)
    if X.ndim == 3:
        X = X.reshape(X.shape[0], -1)
    if X.ndim not in (2, 4):
        raise Error(-5, f"X has shape {X.shape}; expected (n, D) or (n, C, H, W)")
    a = _lib.Array()
    a.data = X.ctypes.data
    a.dtype = _lib.DTYPE_U8 if X.dtype == np.uint8 else _lib.DTYPE_F32
    a.ndim = X.ndim
    for i, s in enumerate(X.shape):
        a.shape[i] = s
    return X, a


def _labels(y, n):
    if y is None:
        return None, None
    y = np.asarray(y)
    if y.shape != (n,):
        raise Error(-5, f"y has shape {y.shape}; expected ({n},)")
    if y.size and (y.min() < 0 or y.max() > 255):
        raise Error(-5, "labels must be class indices in 0..255")
    y = np.ascontiguousarray(y, dtype=np.uint8)
    return y, y.ctypes.data_as(_lib.P_u8)


def _rows(X, y):
    """_x_array of X and _labels of y for X's rows: (X, its clvae_array, y's pointer or None)."""
    X, a = _x_array(X)
    _, yp = _labels(y, X.shape[0])
    return X, a, yp


def _set_strings(params):
    out = []
    for k, v in (params or {}).items():
        if isinstance(v, bool):
            v = "true" if v else "false"
        elif isinstance(v, (list, tuple)):
            v = ",".join(str(x) for x in v)
        out.append(f"{k}={v}".encode())
    return out


def _open_handle(h, what):
    """h, the C handle of a VAE or Trainer; Error when that object was closed."""
    if not h:
        raise Error(-5, f"this {what} was closed")
    return h


class _Closing:
    """close() when collected and at the end of a `with` block (VAE, Trainer)."""

    def __del__(self):
        self.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class _Context:
    def __init__(self, device):
        self.h = ctypes.c_void_p()
        _check(lib.clvae_context_create(device.encode() if device else None, ctypes.byref(self.h)))

    def __del__(self):
        if getattr(self, "h", None):
            lib.clvae_context_free(self.h)
            self.h = None


class VAE(_Closing):
    """A VAE configured by an INI file (config; None: the built-in defaults), `set` overrides
    ({"model.latent": 8, ...}, clvae's --set) and a device (None: the config's; "auto", "ref",
    "opencl", "gpu", "cpu" or a device name substring)."""

    def __init__(self, config=None, set=None, device=None, config_text=None):
        self.config, self.set, self.device, self.config_text = config, set, device, config_text
        self._ctx = _Context(device)
        self._h = ctypes.c_void_p()
        sets = _set_strings(set)
        arr = (ctypes.c_char_p * max(len(sets), 1))(*sets)
        if config_text is not None:
            _check(lib.clvae_vae_create_from_string(self._ctx.h, config_text.encode(), arr,
                                                    len(sets), ctypes.byref(self._h)))
        else:
            path = os.fspath(config).encode() if config is not None else None
            _check(lib.clvae_vae_create(self._ctx.h, path, arr, len(sets), ctypes.byref(self._h)))

    # -- scikit-learn's estimator protocol (clone, grid search) --
    _PARAMS = ("config", "set", "device", "config_text")

    def get_params(self, deep=True):
        return {k: getattr(self, k) for k in self._PARAMS}

    def set_params(self, **params):
        """Changes hyperparameters; the model is created again (unfitted)."""
        bad = set(params) - set(self._PARAMS)
        if bad:
            raise ValueError(f"unknown parameters {sorted(bad)}; valid: {self._PARAMS}")
        merged = dict(self.get_params(), **params)
        self.close()
        self.__init__(**merged)
        return self

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items() if v is not None)
        return f"clvae.VAE({args})"

    # -- lifetime --
    def close(self):
        """Frees the C model now (also done when the object is collected); its open trainers
        are closed first."""
        for tr in list(getattr(self, "_trainers", ())):
            tr.close()
        if getattr(self, "_h", None):
            lib.clvae_vae_free(self._h)
            self._h = None

    def _handle(self):
        return _open_handle(self._h, "VAE")

    def _info(self):
        info = _lib.VaeInfo()
        _check(lib.clvae_vae_get_info(self._handle(), ctypes.byref(info)))
        return info

    @property
    def n_features_in_(self):
        return int(self._info().dim)

    @property
    def latent_dim_(self):
        return int(self._info().latent)

    @property
    def device_(self):
        return self._info().device.decode()

    # -- training --
    def _fit_options(self, X_test, y_test, progress, keep):
        opt = _lib.FitOptions()
        if X_test is not None:
            Xt, at, ytp = _rows(X_test, y_test)
            keep += [Xt, at]
            opt.test = ctypes.pointer(at)
            opt.test_labels = ytp
        stop = {"sigint": False, "error": None}

        def on_progress(user, p):
            try:
                if stop["sigint"]:
                    return 1
                if progress is not None:
                    q = p.contents
                    return 1 if progress(q.epoch, q.epochs, q.step, q.train_loss) else 0
                return 0
            except BaseException as e:  # an exception in the callback cancels the fit
                stop["error"] = e
                return 1

        opt.progress = _lib.PROGRESS_FN(on_progress)
        keep.append(opt.progress)
        return opt, stop

    @staticmethod
    def _cancellable(call, stop):
        """Runs call() with Ctrl-C turned into a cancel request (main thread only)."""
        old = None
        if threading.current_thread() is threading.main_thread():
            def on_sigint(signum, frame):
                stop["sigint"] = True
            old = signal.signal(signal.SIGINT, on_sigint)
        try:
            st = call()
        finally:
            if old is not None:
                signal.signal(signal.SIGINT, old)
        if stop["sigint"] and st == _lib.ERR_INTERRUPTED:
            raise KeyboardInterrupt("clvae: fit cancelled")
        if stop["error"] is not None:
            raise stop["error"]
        _check(st)

    def _record(self, res):
        self.train_loss_, self.test_loss_ = res.train_loss, res.test_loss
        self.epochs_, self.steps_ = res.epochs, res.steps

    def fit(self, X, y=None, X_test=None, y_test=None, progress=None):
        """Trains from fresh parameters on X (labels y for a conditional model), exactly as
        `clvae train` would on the same rows; progress(epoch, epochs, step, loss) may return
        True to stop. Returns self."""
        X, a, yp = _rows(X, y)
        keep = []
        opt, stop = self._fit_options(X_test, y_test, progress, keep)
        res = _lib.FitResult()
        self._cancellable(lambda: lib.clvae_vae_fit(self._handle(), ctypes.byref(a), yp,
                                                    ctypes.byref(opt), ctypes.byref(res)), stop)
        self._record(res)
        return self

    def trainer(self, X, y=None, X_test=None, y_test=None):
        """A Trainer kept open on X (copied once): each run(epochs=..., steps=...) continues the
        model from where it stands with nothing set up again (one step at a time runs at
        training speed). Use it in a `with` block or close() it."""
        return Trainer(self, X, y, X_test, y_test)

    def partial_fit(self, X, y=None, epochs=None, steps=None, X_test=None, y_test=None,
                    progress=None):
        """Trains `epochs` more epochs or `steps` more optimizer steps (one of them; default one
        epoch) from where the model stands: calls that add up to a run give that run's
        parameters bit for bit. Each call copies X again; for many small calls on the same
        data, use trainer(X). Returns self."""
        if epochs is None and steps is None:
            epochs = 1
        X, a, yp = _rows(X, y)
        keep = []
        opt, stop = self._fit_options(X_test, y_test, progress, keep)
        tr = ctypes.c_void_p()
        _check(lib.clvae_trainer_create(self._handle(), ctypes.byref(a), yp, ctypes.byref(opt),
                                        ctypes.byref(tr)))
        res = _lib.FitResult()
        try:
            self._cancellable(lambda: lib.clvae_trainer_run(tr, int(epochs or 0), int(steps or 0),
                                                            ctypes.byref(res)), stop)
        finally:
            lib.clvae_trainer_free(tr)
        self._record(res)
        return self

    # -- using the model --
    def transform(self, X, y=None, logvar=False):
        """Posterior means (n, latent) float32 (and log-variances when logvar=True)."""
        X, a, yp = _rows(X, y)
        R = self.latent_dim_
        mu = np.empty((X.shape[0], R), np.float32)
        lv = np.empty((X.shape[0], R), np.float32) if logvar else None
        _check(lib.clvae_vae_encode(self._handle(), ctypes.byref(a), yp,
                                    mu.ctypes.data_as(_lib.P_float),
                                    lv.ctypes.data_as(_lib.P_float) if logvar else None))
        return (mu, lv) if logvar else mu

    def decode(self, Z, y=None):
        """Decoder means (n, D) float32 of top-layer latents Z (n, latent)."""
        Z = np.ascontiguousarray(Z, dtype=np.float32)
        if Z.ndim != 2 or Z.shape[1] != self.latent_dim_:
            raise Error(-5, f"Z has shape {Z.shape}; expected (n, {self.latent_dim_})")
        _, yp = _labels(y, Z.shape[0])
        out = np.empty((Z.shape[0], self.n_features_in_), np.float32)
        _check(lib.clvae_vae_decode(self._handle(), Z.ctypes.data_as(_lib.P_float), Z.shape[0],
                                    yp, out.ctypes.data_as(_lib.P_float)))
        return out

    def sample(self, n, label=None, draw=0):
        """Decoder means (n, D) float32 of z ~ p(z) (the same draw gives the same samples)."""
        out = np.empty((int(n), self.n_features_in_), np.float32) if n > 0 else None
        if out is None:
            raise Error(-5, f"sample: n = {n} must be >= 1")
        _check(lib.clvae_vae_sample(self._handle(), int(n), -1 if label is None else int(label),
                                    int(draw), out.ctypes.data_as(_lib.P_float)))
        return out

    def reconstruct(self, X, y=None):
        """Decoder means (n, D) float32 at z = the posterior mean of each row."""
        X, a, yp = _rows(X, y)
        out = np.empty((X.shape[0], self.n_features_in_), np.float32)
        _check(lib.clvae_vae_reconstruct(self._handle(), ctypes.byref(a), yp,
                                         out.ctypes.data_as(_lib.P_float)))
        return out

    def elbo(self, X, y=None):
        """The mean negative ELBO per sample (nats)."""
        X, a, yp = _rows(X, y)
        d = ctypes.c_double()
        _check(lib.clvae_vae_elbo(self._handle(), ctypes.byref(a), yp, ctypes.byref(d)))
        return d.value

    def score(self, X, y=None, k=100):
        """The mean importance-weighted log-likelihood log p(x) with k samples (nats)."""
        X, a, yp = _rows(X, y)
        d = ctypes.c_double()
        _check(lib.clvae_vae_iwae(self._handle(), ctypes.byref(a), yp, int(k), ctypes.byref(d)))
        return d.value

    def save(self, path):
        """Writes the checkpoint (the CLI's safetensors format)."""
        _check(lib.clvae_vae_save(self._handle(), os.fspath(path).encode()))


class Trainer(_Closing):
    """VAE.trainer(X, ...): the C trainer (clvae_trainer_*) of a VAE on a copy of X."""

    def __init__(self, vae, X, y=None, X_test=None, y_test=None):
        self._vae, self._tr, self._keep = vae, None, []
        X, a, yp = _rows(X, y)
        self._progress = None

        def dispatch(epoch, epochs, step, loss):
            return self._progress(epoch, epochs, step, loss) if self._progress else False

        self._opt, self._stop = vae._fit_options(X_test, y_test, dispatch, self._keep)
        tr = ctypes.c_void_p()
        _check(lib.clvae_trainer_create(vae._handle(), ctypes.byref(a), yp,
                                        ctypes.byref(self._opt), ctypes.byref(tr)))
        self._tr = tr
        if not hasattr(vae, "_trainers"):
            vae._trainers = set()
        vae._trainers.add(self)

    def run(self, epochs=None, steps=None, progress=None):
        """`epochs` more epochs or `steps` more optimizer steps (default one epoch); Ctrl-C
        cancels at the next progress report, leaving the model where it stopped. Returns
        self (its VAE's train_loss_, epochs_, steps_ are updated)."""
        _open_handle(self._tr, "trainer")
        if epochs is None and steps is None:
            epochs = 1
        self._progress = progress
        self._stop.update(sigint=False, error=None)
        res = _lib.FitResult()
        try:
            VAE._cancellable(lambda: lib.clvae_trainer_run(self._tr, int(epochs or 0),
                                                            int(steps or 0), ctypes.byref(res)),
                             self._stop)
        finally:
            self._progress = None
        self._vae._record(res)
        return self

    def close(self):
        if getattr(self, "_tr", None):
            lib.clvae_trainer_free(self._tr)
            self._tr = None
            self._vae._trainers.discard(self)


def load(path, device=None):
    """A trained VAE from a checkpoint (clvae_vae_save or `clvae train`)."""
    vae = VAE.__new__(VAE)
    vae.config, vae.set, vae.device, vae.config_text = None, None, device, None
    vae._ctx = _Context(device)
    vae._h = ctypes.c_void_p()
    _check(lib.clvae_vae_load(vae._ctx.h, os.fspath(path).encode(), ctypes.byref(vae._h)))
    return vae
