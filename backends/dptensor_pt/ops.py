"""The ``dptensor.model.ops`` operations on torch tensors (same names, same meaning)."""

import torch
import torch.nn.functional as F

from dptensor_pt import activation
from dptensor_pt.contract import EXPR as SLOT_EXPR, slot_contraction

_DTYPES = {"float32": torch.float32, "float64": torch.float64}


class TorchOps:
    name = "torch"
    index_dtype = torch.int64

    @staticmethod
    def asarray(x, dtype=None):
        if isinstance(x, torch.Tensor):
            return x if dtype is None else x.to(dtype)
        t = torch.as_tensor(x)
        return t if dtype is None else t.to(dtype)

    @staticmethod
    def astype(x, dtype):
        return x.to(dtype)

    @staticmethod
    def float_dtype(name):
        return _DTYPES[str(name)]

    @staticmethod
    def dtype_of(x):
        return x.dtype

    @staticmethod
    def zeros(shape, dtype):
        return torch.zeros(shape, dtype=dtype)

    @staticmethod
    def eye(n, dtype):
        return torch.eye(n, dtype=dtype)

    @staticmethod
    def shape(x):
        return tuple(x.shape)

    @staticmethod
    def reshape(x, shape):
        return torch.reshape(x, shape)

    @staticmethod
    def split(x, sizes, axis):
        return list(torch.split(x, [int(s) for s in sizes], dim=axis))

    @staticmethod
    def concat(xs, axis):
        return torch.cat(xs, dim=axis)

    @staticmethod
    def transpose(x, axes):
        return x.permute(*axes)

    @staticmethod
    def gather_rows(x, index):
        return torch.gather(x, 1, index[:, :, None].expand(-1, -1, x.shape[-1]))

    @staticmethod
    def scatter_rows(index, values, n):
        nf, _, d = values.shape
        out = torch.zeros((nf, n, d), dtype=values.dtype, device=values.device)
        return out.scatter_add(1, index[:, :, None].expand(-1, -1, d), values)

    @staticmethod
    def take(x, index, axis=0):
        if isinstance(index, torch.Tensor) and index.dim() == 1:
            # index_select's gradient is an index_add, much cheaper than advanced indexing's
            # accumulating index_put on CPU
            return torch.index_select(x, axis, index)
        if axis != 0:
            return torch.movedim(torch.movedim(x, axis, 0)[index], 0, axis)
        return x[index]

    @staticmethod
    def where(cond, a, b):
        return torch.where(cond, a, b)

    @staticmethod
    def nonzero(x):
        return torch.nonzero(x).reshape(-1)

    @staticmethod
    def cumsum(x):
        return torch.cumsum(x, dim=0)

    @staticmethod
    def arange(n):
        return torch.arange(n, dtype=torch.int64)

    @staticmethod
    def sqrt(x):
        return torch.sqrt(x)

    @staticmethod
    def abs(x):
        return torch.abs(x)

    @staticmethod
    def minimum(x, bound):
        if not isinstance(bound, torch.Tensor):
            bound = torch.as_tensor(bound, dtype=x.dtype)
        return torch.minimum(x, bound)

    @staticmethod
    def sum(x, axis=None, keepdims=False):
        if axis is None:
            return torch.sum(x)
        return torch.sum(x, dim=axis, keepdim=keepdims)

    @staticmethod
    def matmul(a, b):
        return torch.matmul(a, b)

    @staticmethod
    def affine(x, w, b):
        return torch.addmm(b, x, w)

    @staticmethod
    def einsum(expr, *xs):
        if expr == SLOT_EXPR:  # the descriptor's R~^T G: see contract.py
            return slot_contraction(*xs)
        return torch.einsum(expr, *xs)

    tanh = staticmethod(activation.tanh)  # 2 sigmoid(2x) - 1 in float64: see activation.py
    relu = staticmethod(torch.relu)
    sigmoid = staticmethod(torch.sigmoid)
    softplus = staticmethod(F.softplus)

    @staticmethod
    def gelu(x):
        return F.gelu(x, approximate="tanh")

    def tab_eval(self, coef, s, grid, order=0):
        """See ``dptensor.model.ops.NumpyOps.tab_eval``: the native op ``dptensor::tab_eval``
        where it is built (``dptensor_pt.native``), else the generic gather and Horner code."""
        from dptensor_pt import native

        if native.usable(coef, s):
            return native.tab_eval(coef, s, grid, order)
        from dptensor.model.tabulate import tab_eval

        return tab_eval(self, coef, s, grid, order)

    def tab_contract(self, coef, s, r, grid):
        """See ``dptensor.model.ops.NumpyOps.tab_contract``: the fused native op
        ``dptensor::tab_contract`` where it is built, else the generic ``tab_eval`` and product
        (also under ``torch.func`` transforms, which the op has no rules for)."""
        from dptensor_pt import native

        if native.usable(coef, s, r) and not torch._C._are_functorch_transforms_active():
            return native.tab_contract(coef, s, r, grid)
        from dptensor.model.tabulate import tab_contract

        return tab_contract(self, coef, s, r, grid)


torch_ops = TorchOps()
