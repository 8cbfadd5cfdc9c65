"""ctypes declarations of libclvae's C API (include/clvae/clvae.h), one per function.

The library is looked up in this order: $CLVAE_LIBRARY (a path to libclvae.so*); a copy
installed inside this package (pip install copies the build's); the build tree this source
tree was built in (../build); the system's loader path (libclvae.so.0)."""
import ctypes
import os

_HERE = os.path.dirname(os.path.abspath(__file__))
SONAME = "libclvae.so.0"


def _candidates():
    env = os.environ.get("CLVAE_LIBRARY")
    if env:
        return [env]
    out = [os.path.join(_HERE, SONAME)]
    for build in ("build", "build-sanitize"):
        out.append(os.path.join(_HERE, "..", "..", build, SONAME))
    out.append(SONAME)
    return out


def _load():
    errors = []
    for path in _candidates():
        if os.sep in path and not os.path.exists(path):
            errors.append(f"{path}: not found")
            continue
        try:
            return ctypes.CDLL(path)
        except OSError as e:
            errors.append(f"{path}: {e}")
    raise ImportError("clvae: cannot load libclvae (build it with `make`, or set "
                      "CLVAE_LIBRARY=/path/to/libclvae.so.0): " + "; ".join(errors))


lib = _load()

c_int, c_double, c_char_p, c_void_p = ctypes.c_int, ctypes.c_double, ctypes.c_char_p, ctypes.c_void_p
c_int64, c_uint64 = ctypes.c_int64, ctypes.c_uint64
P_float = ctypes.POINTER(ctypes.c_float)
P_u8 = ctypes.POINTER(ctypes.c_uint8)

DTYPE_U8, DTYPE_F32 = 1, 2
ERR_INTERRUPTED = -15


class Array(ctypes.Structure):
    _fields_ = [("data", c_void_p), ("dtype", c_int), ("ndim", c_int),
                ("shape", c_int64 * 4)]


class DeviceInfo(ctypes.Structure):
    _fields_ = [("name", ctypes.c_char * 256), ("platform", ctypes.c_char * 256),
                ("type", ctypes.c_char * 16), ("backend", ctypes.c_char * 16)]


class VaeInfo(ctypes.Structure):
    _fields_ = [("fitted", c_int), ("dim", c_int64), ("latent", c_int), ("classes", c_int),
                ("epochs_done", c_int), ("steps", c_int64), ("device", ctypes.c_char * 256),
                ("backend", ctypes.c_char * 16)]


class ProgressInfo(ctypes.Structure):
    _fields_ = [("epoch", c_int), ("epochs", c_int), ("step", c_int64),
                ("train_loss", c_double)]


PROGRESS_FN = ctypes.CFUNCTYPE(c_int, c_void_p, ctypes.POINTER(ProgressInfo))


class FitOptions(ctypes.Structure):
    _fields_ = [("test", ctypes.POINTER(Array)), ("test_labels", P_u8),
                ("progress", PROGRESS_FN), ("user", c_void_p)]


class FitResult(ctypes.Structure):
    _fields_ = [("train_loss", c_double), ("test_loss", c_double), ("epochs", c_int),
                ("steps", c_int64), ("samples_per_s", c_double)]


def _declare(name, restype, *argtypes):
    f = getattr(lib, name)
    f.restype = restype
    f.argtypes = list(argtypes)


P_Array = ctypes.POINTER(Array)
_declare("clvae_version", c_char_p)
_declare("clvae_last_error", c_char_p)
_declare("clvae_status_str", c_char_p, c_int)
_declare("clvae_devices", c_int, ctypes.POINTER(DeviceInfo), c_int, ctypes.POINTER(c_int))
_declare("clvae_context_create", c_int, c_char_p, ctypes.POINTER(c_void_p))
_declare("clvae_context_free", None, c_void_p)
_declare("clvae_vae_create", c_int, c_void_p, c_char_p, ctypes.POINTER(c_char_p), c_int,
         ctypes.POINTER(c_void_p))
_declare("clvae_vae_create_from_string", c_int, c_void_p, c_char_p, ctypes.POINTER(c_char_p),
         c_int, ctypes.POINTER(c_void_p))
_declare("clvae_vae_load", c_int, c_void_p, c_char_p, ctypes.POINTER(c_void_p))
_declare("clvae_vae_free", None, c_void_p)
_declare("clvae_vae_get_info", c_int, c_void_p, ctypes.POINTER(VaeInfo))
_declare("clvae_vae_fit", c_int, c_void_p, P_Array, P_u8, ctypes.POINTER(FitOptions),
         ctypes.POINTER(FitResult))
_declare("clvae_trainer_create", c_int, c_void_p, P_Array, P_u8, ctypes.POINTER(FitOptions),
         ctypes.POINTER(c_void_p))
_declare("clvae_trainer_run", c_int, c_void_p, c_int, c_int64, ctypes.POINTER(FitResult))
_declare("clvae_trainer_free", None, c_void_p)
_declare("clvae_vae_encode", c_int, c_void_p, P_Array, P_u8, P_float, P_float)
_declare("clvae_vae_decode", c_int, c_void_p, P_float, c_int64, P_u8, P_float)
_declare("clvae_vae_sample", c_int, c_void_p, c_int64, c_int, c_uint64, P_float)
_declare("clvae_vae_reconstruct", c_int, c_void_p, P_Array, P_u8, P_float)
_declare("clvae_vae_elbo", c_int, c_void_p, P_Array, P_u8, ctypes.POINTER(c_double))
_declare("clvae_vae_iwae", c_int, c_void_p, P_Array, P_u8, c_int, ctypes.POINTER(c_double))
_declare("clvae_vae_save", c_int, c_void_p, c_char_p)
