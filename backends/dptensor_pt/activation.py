"""tanh for the PyTorch backend, computed as 2 sigmoid(2x) - 1 in float64.

PyTorch's CPU ``tanh`` does not vectorize float64 here (about 3 ns per element with two threads,
twice ``sigmoid``'s time), and tanh is the activation of every embedding and fitting layer of
the examples. ``2 sigmoid(2x) - 1`` equals tanh(x) up to a few units of round-off of 1 (absolute:
the same terms that round-off in the next layer's sums already carry) and takes 0.6-0.75 of the
time, in place on one buffer. Its backward is aten's ``tanh_backward(grad, y)``, which autograd
can differentiate again (force training differentiates the energy twice).

Two cases use other forms, and all give the same numbers to round-off:

- under ``torch.func`` transforms (the Hessian's vmap of jvp) plain ``torch.tanh``, whose
  forward-mode and batching rules are built in;
- while ``dpt freeze`` traces the model into a graph (fake tensors), the same formula with
  out-of-place ops: the frozen graph is differentiated again for the Hessian, and autograd rejects a
  saved tensor that an in-place op changed afterwards.

float32 keeps ``torch.tanh``, which is vectorized, and so do tensors of fewer than
``MIN_ELEMENTS`` elements in eager mode: the composite runs four ops and an autograd node instead
of one, which costs more than it saves on small tensors (the dipole example's layers). The frozen
graph, traced once for every size, takes the composite.
"""

import torch
from torch._subclasses.fake_tensor import is_fake


def _tanh_in_place(x):
    y = torch.mul(x, 2.0)
    torch.sigmoid_(y)
    return y.mul_(2.0).sub_(1.0)


def _tanh_out_of_place(x):
    return torch.sub(torch.sigmoid(torch.mul(x, 2.0)) * 2.0, 1.0)


class _Tanh(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, traced):
        y = _tanh_out_of_place(x) if traced else _tanh_in_place(x)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, grad):
        (y,) = ctx.saved_tensors
        return torch.ops.aten.tanh_backward(grad, y), None


MIN_ELEMENTS = 1 << 15


def tanh(x):
    if x.dtype != torch.float64 or torch._C._are_functorch_transforms_active():
        return torch.tanh(x)
    traced = is_fake(x)
    if not traced and x.numel() < MIN_ELEMENTS:  # a traced graph serves every size
        return torch.tanh(x)
    return _Tanh.apply(x, traced)
