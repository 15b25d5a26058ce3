"""The TensorFlow backend's native kernels, built from ``source/tf_ops`` at first use.

    DPT_TF_NATIVE   0: do not build or load them (TensorFlow's own kernels run)   default: 1
    DPT_CACHE_DIR   where built libraries are kept      default: $XDG_CACHE_HOME/dptensor,
                                                         else ~/.cache/dptensor

``batch_product`` is ``tf.linalg.matmul`` for batched operands, run by the ``DptBatchProduct``
op (``source/tf_ops/batch_product.cc``) when one side of the product is thin (at most ``THIN``
wide, see ``_fits``), such as the 4 columns of the environment matrix in the descriptor's R~^T G): TensorFlow's
float64 ``BatchMatMulV2`` runs those 2-4x slower, and in an energy training step they took a
quarter of the op time. The op's gradients are products of the same op (see ``_gradient``), so
force training can differentiate them again.

``tab_eval`` evaluates a compressed model's tables (``dptensor.model.tabulate.tab_eval``) by the
``DptTabEval`` op (``source/tf_ops/tab_eval.cc``); its gradient in s is the same op one order
higher, so forces and Hessians differentiate through it. ``tab_contract`` is the descriptor's
R~^T G from a table (``dptensor.model.tabulate.tab_contract``) by the fused ``DptTabContract`` op
(``source/tf_ops/tab_contract.cc``), which never holds G; its gradient is the op
``DptTabContractGrad``, whose own gradient is written with ``DptTabEval`` and products (see
``_contract_grad_gradient``), so that nested tapes work.

The ops are compiled into one library, once per TensorFlow version, CPU and source text (about
a minute with g++), and cached (``dptensor.utils.native_build``); the compiler is ``$CXX`` or
``g++``. Without a compiler, or when the sources are not there (an install that is not a clone
of the repository), the backend logs why once and runs TensorFlow's own ops: the same numbers to
round-off, more slowly. Only training sessions use the batch product, so that frozen models of
uncompressed models load in TensorFlow alone; a compressed model's SavedModel holds
``DptTabContract`` and ``DptTabEval`` and needs this library loaded first (``freeze.load_frozen``
does it).
"""

import functools
import hashlib
import logging
import math
import subprocess
from pathlib import Path

from dptensor.errors import DptError
from dptensor.utils import native_build
from dptensor_tf.einsum import _dims
from dptensor_tf.env import tf

NATIVE_ENV = "DPT_TF_NATIVE"
CACHE_ENV = native_build.CACHE_ENV
CACHE_SUB = "tf_ops"
LIBRARY_NAME = "dptensor_tf_ops"
THIN = 16  # widest thin side that the native product takes
ROW = 32  # shortest rows of the right operand that it takes (its inner loops run along them)
SOURCE_DIR = Path(__file__).resolve().parents[2] / "source" / "tf_ops"
SOURCE = SOURCE_DIR / "batch_product.cc"
TAB_SOURCES = (SOURCE_DIR / "tab_eval.cc", SOURCE_DIR / "tab_contract.cc")
# included by TAB_SOURCES: in the cache key, not compiled alone
HEADERS = (SOURCE_DIR / "tabulate.h", *native_build.COMMON_HEADERS)
COMPILE_FLAGS = ["-shared", "-fPIC", "-O3", "-fopenmp-simd", "-march=native"]
COMPILE_TIMEOUT = native_build.COMPILE_TIMEOUT  # seconds

log = logging.getLogger("dptensor.tf")


def enabled():
    """False when DPT_TF_NATIVE turns the native kernels off."""
    return native_build.enabled(NATIVE_ENV)


def cache_dir():
    return native_build.cache_dir(CACHE_SUB)


def _compiler():
    return native_build.compiler()


def _sources():
    return [SOURCE, *TAB_SOURCES]


def _missing():
    """The sources and headers that this install lacks."""
    return [s for s in (*_sources(), *HEADERS) if not s.is_file()]


def _key():
    """The cache key's part beyond the sources' text: TensorFlow's version and the headers' text."""
    digest = hashlib.sha256(b"".join(h.read_bytes() for h in HEADERS)).hexdigest()
    return f"{tf.__version__} {digest}"


def _command(sources, output):
    return [_compiler(), *COMPILE_FLAGS, *tf.sysconfig.get_compile_flags(), *map(str, sources), "-o",
            str(output), *tf.sysconfig.get_link_flags()]


def library_path(sources=None):
    """Where the library built from ``sources`` for this TensorFlow, CPU and compiler is kept."""
    return native_build.library_path(sources or _sources(), _command, LIBRARY_NAME, CACHE_SUB,
                                     extra_key=_key())


def build(sources=None):
    """Compile ``sources`` into the cache (atomically: a finished library or none) -> its path."""
    sources = sources or _sources()
    if not library_path(sources).exists():
        log.info("building the TensorFlow kernels %s (once for this TensorFlow and CPU, about a minute)",
                 ", ".join(s.name for s in sources))
    return native_build.build_cached(sources, _command, LIBRARY_NAME, CACHE_SUB, extra_key=_key(),
                                     timeout=COMPILE_TIMEOUT)


_library = None  # the first library loaded in this process: the ops and their gradients use it


@functools.lru_cache(maxsize=None)
def load():
    """The op library (built if needed), or None when it is turned off or cannot be built (the
    reason is logged once)."""
    global _library
    if not enabled():
        return None
    if _library is not None:
        return _library
    missing = _missing()
    if missing:
        log.info("TensorFlow native kernels not available (no %s in this install): using TensorFlow's "
                 "own ops (BatchMatMulV2)", missing[0])
        return None
    try:
        _library = _load_built()
    except (OSError, DptError, RuntimeError, subprocess.SubprocessError, tf.errors.OpError) as exc:
        log.warning("TensorFlow native kernel not built, using TensorFlow's own ops (BatchMatMulV2; "
                    "slower; set %s=0 to skip the attempt): %s", NATIVE_ENV, exc)
        return None
    _register_gradients()
    return _library


def why_unavailable():
    """Why ``load()`` gives None, in words for an error message."""
    if not enabled():
        return f"{NATIVE_ENV}=0 turns it off"
    missing = _missing()
    if missing:
        return f"this install has no {missing[0]} (it is not a clone of the repository)"
    return "it could not be built or loaded (the warning logged above says why)"


@functools.lru_cache(maxsize=None)
def _register_gradients():
    """Once per process (TensorFlow refuses a second registration under the same name)."""
    tf.RegisterGradient("DptBatchProduct")(_gradient)
    tf.RegisterGradient("DptTabEval")(_tab_gradient)
    tf.RegisterGradient("DptTabContract")(_contract_gradient)
    tf.RegisterGradient("DptTabContractGrad")(_contract_grad_gradient)


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


# tabulated embedding nets ------------------------------------------------------------------
def tab_eval_fits(coef, s):
    """Whether ``tab_eval`` runs the native op for these operands: float32 or float64 of one
    dtype, the library built, and no GPU (the op has a CPU kernel only)."""
    return (coef.dtype in (tf.float32, tf.float64) and coef.dtype == s.dtype
            and not tf.config.list_physical_devices("GPU") and load() is not None)


def _grid_tensor(grid):
    """The grid list (lo, h1, n1, h2, n2) as the op's float64 input, n1 and n2 truncated as
    ``tabulate.grid_bounds`` does."""
    lo, h1, n1, h2, n2 = (float(grid[0]), float(grid[1]), int(grid[2]), float(grid[3]), int(grid[4]))
    return tf.constant([lo, h1, n1, h2, n2], tf.float64)


def tab_eval(coef, s, grid, order=0):
    """``dptensor.model.tabulate.tab_eval`` (coef nint x 6 x M, s n -> n x M) by the native op;
    call only where ``tab_eval_fits``."""
    return _library.dpt_tab_eval(coef, s, _grid_tensor(grid), order=int(order))


def _tab_gradient(op, grad):
    """d/ds of the order-r table is the order-(r + 1) table (0 outside, as the held ends); the
    table's coefficients and grid are constants."""
    coef, s, grid = op.inputs
    higher = _library.dpt_tab_eval(coef, s, grid, order=op.get_attr("order") + 1)
    return None, tf.reduce_sum(grad * higher, axis=-1), None


def tab_contract_fits(coef, s, r):
    """Whether ``tab_contract`` runs the native op: as ``tab_eval_fits``, with r of the same
    dtype and of shape s.shape + [4] (ranks known)."""
    rank = s.shape.rank
    return (rank is not None and rank >= 1 and r.shape.rank == rank + 1 and r.shape[-1] == 4
            and r.dtype == s.dtype and tab_eval_fits(coef, s))


def tab_contract(coef, s, r, grid):
    """``dptensor.model.tabulate.tab_contract`` (coef nint x 6 x M, s ... x w, r ... x w x 4
    -> ... x 4 x M) by the native op, the leading dimensions folded into one; call only where
    ``tab_contract_fits``."""
    coef, s, r = (tf.convert_to_tensor(x) for x in (coef, s, r))
    dims = _dims(s)
    b, w = math.prod(dims[:-1]), dims[-1]  # not -1: no reshape infers a size from an empty tensor
    out = _library.dpt_tab_contract(coef, tf.reshape(s, [b, w]), tf.reshape(r, [b, w, 4]),
                                    _grid_tensor(grid))
    return tf.reshape(out, [*dims[:-1], 4, _dims(coef)[-1]])


def _contract_gradient(op, grad):
    """grad_s and grad_r by DptTabContractGrad; the table's coefficients and grid are constants."""
    coef, s, r, grid = op.inputs
    grad_s, grad_r = _library.dpt_tab_contract_grad(coef, s, r, grid, grad)
    return None, grad_s, grad_r, None


def _tables(coef, s, grid, orders):
    """The tables of the given orders at s (B x w), each B x w x M, by DptTabEval."""
    flat, shape = tf.reshape(s, [-1]), tf.concat([tf.shape(s), tf.shape(coef)[-1:]], 0)
    return [tf.reshape(_library.dpt_tab_eval(coef, flat, grid, order=k), shape) for k in orders]


def _contract_grad_gradient(op, up_s, up_r):
    """The gradient of DptTabContractGrad(coef, s, r, grid, u) = (grad_s, grad_r), from
    grad_s = sum_m G' * (r u) and grad_r = G u^T (G, G', G'' at s: B x w x M); written with
    DptTabEval and products, themselves differentiable (third derivatives)."""
    coef, s, r, grid, u = op.inputs
    up_s = (tf.zeros_like(s) if up_s is None else up_s)[..., None]  # B x w x 1
    up_r = tf.zeros_like(r) if up_r is None else up_r  # B x w x 4
    g0, g1, g2 = _tables(coef, s, grid, (0, 1, 2))
    ru, qu = tf.linalg.matmul(r, u), tf.linalg.matmul(up_r, u)  # B x w x M
    d_s = tf.reduce_sum(up_s * g2 * ru + g1 * qu, axis=-1)
    d_r = up_s * tf.linalg.matmul(g1, u, transpose_b=True)
    d_u = (tf.linalg.matmul(r * up_s, g1, transpose_a=True)
           + tf.linalg.matmul(up_r, g0, transpose_a=True))  # B x 4 x M
    return None, d_s, d_r, None, d_u
