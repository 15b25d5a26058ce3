"""The TensorFlow backend's native kernel, built from ``source/tf_ops`` at first use.

    DPT_TF_NATIVE   0: do not build or load it (TensorFlow's own kernels run)   default: 1
    DPT_CACHE_DIR   where built libraries are kept      default: $XDG_CACHE_HOME/dptensor,
                                                         else ~/.cache/dptensor

``batch_product`` is ``tf.linalg.matmul`` for batched operands, run by the ``DptBatchProduct``
op (``source/tf_ops/batch_product.cc``) when one side of the product is thin (at most ``THIN``
wide, see ``_fits``), such as the 4 columns of the environment matrix in the descriptor's R~^T G): TensorFlow's
float64 ``BatchMatMulV2`` runs those 2-4x slower, and in an energy training step they took a
quarter of the op time. The op's gradients are products of the same op (see ``_gradient``), so
force training can differentiate them again.

The library is compiled once per TensorFlow version, CPU and source text (about 30 s with g++)
and cached; the compiler is ``$CXX`` or ``g++``. Without a compiler, or when the source is not
there (an install that is not a clone of the repository), the backend logs why once and runs
``tf.linalg.matmul``: the same numbers to round-off, more slowly. Only training sessions use the
op: frozen models keep TensorFlow's own ops, so that TensorFlow loads them alone.
"""

import functools
import hashlib
import logging
import os
import platform
import subprocess
from pathlib import Path

from dptensor.errors import DptError
from dptensor.utils.atomic import atomic_path
from dptensor_tf.einsum import _dims
from dptensor_tf.env import tf

NATIVE_ENV = "DPT_TF_NATIVE"
CACHE_ENV = "DPT_CACHE_DIR"
THIN = 16  # widest thin side that the native product takes
ROW = 32  # shortest rows of the right operand that it takes (its inner loops run along them)
SOURCE = Path(__file__).resolve().parents[2] / "source" / "tf_ops" / "batch_product.cc"
COMPILE_FLAGS = ["-shared", "-fPIC", "-O3", "-fopenmp-simd", "-march=native"]
COMPILE_TIMEOUT = 900  # seconds

log = logging.getLogger("dptensor.tf")


def enabled():
    """False when DPT_TF_NATIVE turns the native kernel off."""
    return os.environ.get(NATIVE_ENV, "1").strip().lower() not in ("0", "false", "no", "off")


def cache_dir():
    root = os.environ.get(CACHE_ENV) or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(Path.home(), ".cache"), "dptensor")
    return Path(root) / "tf_ops"


def _cpu():
    """The CPU's model and instruction sets (the library is built for the CPU it runs on)."""
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        return platform.machine() + platform.processor()
    wanted = ("model name", "flags", "Features")
    return "\n".join(sorted({ln for ln in lines if ln.split(":")[0].strip() in wanted}))


def _compiler():
    return os.environ.get("CXX") or "g++"


def _command(source, output):
    return [_compiler(), *COMPILE_FLAGS, *tf.sysconfig.get_compile_flags(), str(source), "-o", str(output),
            *tf.sysconfig.get_link_flags()]


def library_path(source=SOURCE):
    """Where the library built from ``source`` for this TensorFlow, CPU and compiler is kept."""
    key = hashlib.sha256()
    for part in (source.read_bytes(), tf.__version__.encode(), _cpu().encode(),
                 " ".join(_command("SRC", "OUT")).encode()):
        key.update(part)
    return cache_dir() / f"batch_product-{key.hexdigest()[:16]}.so"


def build(source=SOURCE):
    """Compile ``source`` into the cache (atomically, world-readable: a finished library or
    none) -> its path."""
    target = library_path(source)
    if target.exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    log.info("building the TensorFlow kernel %s (once for this TensorFlow and CPU, about half a minute)",
             source.name)
    with atomic_path(target) as tmp:
        run = subprocess.run(_command(source, tmp), capture_output=True, text=True, timeout=COMPILE_TIMEOUT)
        if run.returncode != 0:
            tail = "\n".join(run.stderr.strip().splitlines()[-5:])
            raise RuntimeError(f"{_compiler()} exited with {run.returncode}:\n{tail}")
    return target


_library = None  # the first library loaded in this process: the op and its gradient use it


@functools.lru_cache(maxsize=None)
def load():
    """The op library (built if needed), or None when it is turned off or cannot be built (the
    reason is logged once)."""
    global _library
    if not enabled():
        return None
    if _library is not None:
        return _library
    if not SOURCE.is_file():
        log.info("TensorFlow native kernel not available (no %s in this install): using BatchMatMulV2",
                 SOURCE)
        return None
    try:
        _library = _load_built()
    except (OSError, DptError, RuntimeError, subprocess.SubprocessError, tf.errors.OpError) as exc:
        log.warning("TensorFlow native kernel not built, using BatchMatMulV2 (slower; set %s=0 to "
                    "skip the attempt): %s", NATIVE_ENV, exc)
        return None
    _register_gradient()
    return _library


@functools.lru_cache(maxsize=None)
def _register_gradient():
    """Once per process (TensorFlow refuses a second registration under the same name)."""
    tf.RegisterGradient("DptBatchProduct")(_gradient)


def _load_built():
    path = build()
    try:
        return tf.load_op_library(str(path))
    except tf.errors.OpError:  # a damaged library in the cache: build it once more
        log.warning("the cached TensorFlow kernel %s did not load; building it again", path)
        path.unlink(missing_ok=True)
        return tf.load_op_library(str(build()))


def _product(a, y, mode):
    return _library.dpt_batch_product(a, y, mode=mode)


def _gradient(op, grad):
    a, y = op.inputs
    mode = op.get_attr("mode")
    mode = mode.decode() if isinstance(mode, bytes) else mode
    if mode == "nn":  # out = a y
        return _product(grad, y, "nt"), _product(a, grad, "tn")
    if mode == "tn":  # out = a^T y
        return _product(y, grad, "nt"), _product(a, grad, "nn")
    return _product(grad, y, "nn"), _product(grad, a, "tn")  # out = a y^T


def _fits(a, y, transpose_a, transpose_b):
    """Whether the native op is the faster: a static size of the product (rows, inner or
    columns) at most THIN, and rows of y at least ROW long. (The product R~^T G and its
    derivatives fit; the descriptor's M1 x 4 by 4 x M2 product does not.)"""
    rows = a.shape[-1] if transpose_a else a.shape[-2]
    inner = a.shape[-2] if transpose_a else a.shape[-1]
    cols = y.shape[-2] if transpose_b else y.shape[-1]
    long_rows = y.shape[-1] is not None and y.shape[-1] >= ROW
    return long_rows and any(d is not None and d <= THIN for d in (rows, inner, cols))


def _same_batch(a, y):
    """Whether a and y (rank 3 or more) have the same batch dimensions, known statically
    (the op does not broadcast them as matmul does)."""
    if a.shape.rank is None or a.shape.rank < 3 or a.shape.rank != y.shape.rank:
        return False
    lead_a, lead_y = a.shape[:-2].as_list(), y.shape[:-2].as_list()
    return None not in lead_a and lead_a == lead_y


def batch_product(a, y, transpose_a=False, transpose_b=False):
    """``tf.linalg.matmul(a, y, transpose_a, transpose_b)`` for operands with the same batch
    dimensions (rank 3 or more), by the native op where it is built and the product is thin."""
    if (transpose_a and transpose_b) or a.dtype not in (tf.float32, tf.float64) or a.dtype != y.dtype \
            or not _same_batch(a, y) or not _fits(a, y, transpose_a, transpose_b) or load() is None:
        return tf.linalg.matmul(a, y, transpose_a=transpose_a, transpose_b=transpose_b)
    mode = "tn" if transpose_a else "nt" if transpose_b else "nn"
    da, dy = _dims(a), _dims(y)
    out = _product(tf.reshape(a, [-1, *da[-2:]]), tf.reshape(y, [-1, *dy[-2:]]), mode)
    rows = da[-1] if transpose_a else da[-2]
    cols = dy[-2] if transpose_b else dy[-1]
    return tf.reshape(out, [*da[:-2], rows, cols])

