"""The ``dptensor.model.ops`` operations on TensorFlow tensors (same names, same meaning).

Shapes may be partly unknown (a SavedModel takes any number of frames and atoms): ``shape``
returns a Python int for each static dimension and a scalar int32 tensor for each dynamic one,
and every op that takes a shape accepts such a mix, so the reference math runs unchanged.
"""

import numpy as np

from dptensor_tf import native
from dptensor_tf.einsum import einsum
from dptensor_tf.env import tf

_DTYPES = {"float32": tf.float32, "float64": tf.float64}


def _is_tf(x):
    return isinstance(x, (tf.Tensor, tf.Variable))


class TFOps:
    name = "tensorflow"
    index_dtype = tf.int64

    # creation / conversion -------------------------------------------------------------
    @staticmethod
    def asarray(x, dtype=None):
        t = x if _is_tf(x) else tf.convert_to_tensor(np.asarray(x))
        return t if dtype is None or t.dtype == dtype else tf.cast(t, dtype)

    @staticmethod
    def astype(x, dtype):
        return x if x.dtype == dtype else tf.cast(x, dtype)

    @staticmethod
    def float_dtype(name):
        return _DTYPES[str(name)]

    @staticmethod
    def dtype_of(x):
        return x.dtype

    @staticmethod
    def zeros(shape, dtype):
        return tf.zeros(shape, dtype=dtype)

    @staticmethod
    def eye(n, dtype):
        return tf.eye(n, dtype=dtype)

    # shape ------------------------------------------------------------------------------
    @staticmethod
    def shape(x):
        static = x.shape.as_list()
        if None not in static:
            return tuple(static)
        dynamic = tf.shape(x)
        return tuple(d if d is not None else dynamic[i] for i, d in enumerate(static))

    @staticmethod
    def reshape(x, shape):
        return tf.reshape(x, shape)

    @staticmethod
    def split(x, sizes, axis):
        return tf.split(x, [int(s) for s in sizes], axis=axis)

    @staticmethod
    def concat(xs, axis):
        return tf.concat(xs, axis=axis)

    @staticmethod
    def transpose(x, axes):
        return tf.transpose(x, perm=axes)

    # indexing ---------------------------------------------------------------------------
    @staticmethod
    def gather_rows(x, index):
        return tf.gather(x, index, batch_dims=1)

    @staticmethod
    def scatter_rows(index, values, n):
        shape = tf.shape(values)
        nf, m, d = shape[0], shape[1], shape[2]
        index = tf.cast(index, tf.int32)
        flat = tf.reshape(index + n * tf.range(nf)[:, None], [-1])
        out = tf.math.unsorted_segment_sum(tf.reshape(values, [-1, d]), flat, nf * n)
        return tf.reshape(out, [nf, n, d])

    @staticmethod
    def take(x, index, axis=0):
        return tf.gather(x, index, axis=axis)

    @staticmethod
    def where(cond, a, b):
        return tf.where(cond, a, b)

    @staticmethod
    def nonzero(x):
        return tf.reshape(tf.where(x), [-1])

    @staticmethod
    def cumsum(x):
        return tf.math.cumsum(x, axis=0)

    @staticmethod
    def arange(n):
        return tf.range(n, dtype=tf.int64)

    # math -------------------------------------------------------------------------------
    @staticmethod
    def sqrt(x):
        return tf.sqrt(x)

    @staticmethod
    def abs(x):
        return tf.abs(x)

    @staticmethod
    def minimum(x, bound):
        return tf.minimum(x, tf.cast(bound, x.dtype))

    @staticmethod
    def sum(x, axis=None, keepdims=False):
        return tf.reduce_sum(x, axis=axis, keepdims=keepdims)

    @staticmethod
    def matmul(a, b):
        """numpy matmul; a batch of rows times one matrix (the network layers) runs as a single
        2-D product, which TF's CPU kernels do much faster than a broadcast batch matmul."""
        if b.shape.rank == 2 and a.shape.rank > 2:
            lead = TFOps.shape(a)[:-1]
            flat = tf.matmul(tf.reshape(a, (-1, TFOps.shape(a)[-1])), b)
            return tf.reshape(flat, (*lead, TFOps.shape(b)[-1]))
        return tf.matmul(a, b)

    @staticmethod
    def affine(x, w, b):
        return tf.nn.bias_add(tf.matmul(x, w), b)

    @staticmethod
    def einsum(expr, *xs):
        return einsum(expr, *xs)  # batched products as BatchMatMul: see einsum.py

    tanh = staticmethod(tf.tanh)
    relu = staticmethod(tf.nn.relu)
    sigmoid = staticmethod(tf.sigmoid)
    softplus = staticmethod(tf.nn.softplus)

    @staticmethod
    def gelu(x):
        # the reference formula: tf.nn.gelu(approximate=True) differs from it by ~1e-9 in float64
        return 0.5 * x * (1.0 + tf.tanh(np.sqrt(2.0 / np.pi) * (x + 0.044715 * x * x * x)))

    def tab_eval(self, coef, s, grid, order=0):
        """See ``dptensor.model.ops.NumpyOps.tab_eval``: the native ``DptTabEval`` where it is
        built, in training sessions and frozen models alike (a compressed model exists for its
        speed), else the generic gather and Horner code."""
        coef, s = self.asarray(coef), self.asarray(s)
        if native.tab_eval_fits(coef, s):
            return native.tab_eval(coef, s, grid, order)
        from dptensor.model.tabulate import tab_eval

        return tab_eval(self, coef, s, grid, order)

    def tab_contract(self, coef, s, r, grid):
        """See ``dptensor.model.ops.NumpyOps.tab_contract``: the fused native ``DptTabContract``
        where it is built, in training sessions and frozen models alike, else ``tab_eval`` and a
        batched product."""
        coef, s, r = self.asarray(coef), self.asarray(s), self.asarray(r)
        if native.tab_contract_fits(coef, s, r):
            return native.tab_contract(coef, s, r, grid)
        from dptensor.model.tabulate import tab_contract

        return tab_contract(self, coef, s, r, grid)


tf_ops = TFOps()


class NativeTFOps(TFOps):
    """``TFOps`` whose thin batched products run the native kernel (``native.py``)."""

    @staticmethod
    def einsum(expr, *xs):
        return einsum(expr, *xs, product=native.batch_product)


def training_ops():
    """The ops of training sessions: the native kernel's where it is built (it has a CPU kernel
    only, so not with a GPU), else ``tf_ops``."""
    if tf.config.list_physical_devices("GPU") or native.load() is None:
        return tf_ops
    return NativeTFOps()
