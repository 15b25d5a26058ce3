"""The array operations the reference math is written against.

The model code in ``dptensor.model`` calls ``ops.<name>(...)`` and never a framework directly, so
one implementation of the physics serves numpy (this module), PyTorch and TensorFlow (each backend
supplies an ``Ops`` subclass with the same method names). Only operations the math needs are here;
each is a one-liner in every framework.
"""

import numpy as np


class NumpyOps:
    """numpy implementation; also the definition of each operation's meaning."""

    name = "numpy"
    index_dtype = np.int64

    # creation / conversion -------------------------------------------------------------
    @staticmethod
    def asarray(x, dtype=None):
        return np.asarray(x, dtype=dtype)

    @staticmethod
    def astype(x, dtype):
        return x.astype(dtype, copy=False)

    @staticmethod
    def float_dtype(name):
        """The framework dtype for 'float32' / 'float64'."""
        return np.dtype(name)

    @staticmethod
    def dtype_of(x):
        return x.dtype

    @staticmethod
    def zeros(shape, dtype):
        return np.zeros(shape, dtype=dtype)

    @staticmethod
    def eye(n, dtype):
        return np.eye(n, dtype=dtype)

    # shape ------------------------------------------------------------------------------
    @staticmethod
    def shape(x):
        return tuple(x.shape)

    @staticmethod
    def reshape(x, shape):
        return np.reshape(x, shape)

    @staticmethod
    def split(x, sizes, axis):
        """x cut along ``axis`` into consecutive parts of the given sizes (which sum to its
        length); the gradient of all parts is one concatenation, not a zero fill per part."""
        return np.split(x, np.cumsum(sizes)[:-1], axis=axis)

    @staticmethod
    def concat(xs, axis):
        return np.concatenate(xs, axis=axis)

    @staticmethod
    def transpose(x, axes):
        return np.transpose(x, axes)

    # indexing ---------------------------------------------------------------------------
    @staticmethod
    def gather_rows(x, index):
        """x: nf x n x d, index: nf x m (int, valid) -> nf x m x d with out[f, k] = x[f, index[f, k]]."""
        return np.take_along_axis(x, index[:, :, None], axis=1)

    @staticmethod
    def scatter_rows(index, values, n):
        """The adjoint of gather_rows: index nf x m (int, valid), values nf x m x d -> nf x n x d
        with out[f, i] = sum of values[f, k] over the k where index[f, k] == i."""
        nf, _, d = values.shape
        out = np.zeros((nf, n, d), dtype=values.dtype)
        for f in range(nf):
            np.add.at(out[f], index[f], values[f])
        return out

    @staticmethod
    def take(x, index, axis=0):
        """x indexed by an integer array along one axis (numpy.take semantics)."""
        return np.take(x, index, axis=axis)

    @staticmethod
    def where(cond, a, b):
        return np.where(cond, a, b)

    @staticmethod
    def nonzero(x):
        """Positions (index_dtype) of the true entries of a 1-D bool array, in order."""
        return np.nonzero(x)[0].astype(np.int64)

    @staticmethod
    def cumsum(x):
        """Inclusive running sum of a 1-D array."""
        return np.cumsum(x)

    @staticmethod
    def arange(n):
        """0 .. n-1 as index_dtype."""
        return np.arange(n, dtype=np.int64)

    # math -------------------------------------------------------------------------------
    @staticmethod
    def sqrt(x):
        return np.sqrt(x)

    @staticmethod
    def abs(x):
        return np.abs(x)

    @staticmethod
    def minimum(x, bound):
        """Elementwise min(x, bound); bound a Python number or an array of x's dtype."""
        return np.minimum(x, bound)

    @staticmethod
    def sum(x, axis=None, keepdims=False):
        return np.sum(x, axis=axis, keepdims=keepdims)

    @staticmethod
    def matmul(a, b):
        return np.matmul(a, b)

    @staticmethod
    def affine(x, w, b):
        """x @ w + b for a matrix x (frameworks fuse the bias into the product)."""
        return x @ w + b

    @staticmethod
    def einsum(expr, *xs):
        return np.einsum(expr, *xs)

    @staticmethod
    def tanh(x):
        return np.tanh(x)

    @staticmethod
    def relu(x):
        return np.maximum(x, 0)

    @staticmethod
    def softplus(x):
        return np.logaddexp(x, 0.0)

    @staticmethod
    def sigmoid(x):
        return 1.0 / (1.0 + np.exp(-x))

    @staticmethod
    def gelu(x):
        # tanh approximation, as DeePMD-kit's "gelu" (its "gelu_tf")
        return 0.5 * x * (1.0 + np.tanh(np.sqrt(2.0 / np.pi) * (x + 0.044715 * x**3)))

    # tabulated embedding ----------------------------------------------------------------
    def tab_eval(self, coef, s, grid, order=0):
        """The order-th s-derivative of a tabulated embedding net at s (1-D): n x M1. Defined by
        ``dptensor.model.tabulate.tab_eval``; backends may run a native kernel instead."""
        from dptensor.model.tabulate import tab_eval

        return tab_eval(self, coef, s, grid, order)

    def tab_contract(self, coef, s, r, grid):
        """R~^T G with G read from a table: s ... x w, r ... x w x 4 -> ... x 4 x M1.
        Defined by ``dptensor.model.tabulate.tab_contract``; backends may fuse it natively."""
        from dptensor.model.tabulate import tab_contract

        return tab_contract(self, coef, s, r, grid)


numpy_ops = NumpyOps()
