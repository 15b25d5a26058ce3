"""The descriptor's slot contraction R~^T G with gradients laid out for double backward.

``einsum("flnd,flnm->fldm", R, G)`` (per atom, the sum over neighbor slots n of R~ (n x 4) and the
embedding G (n x M1)) is one batched product. Its gradient with respect to G, R dxyz, is an
(n x 4)(4 x M1) product whose output is as large as G. Force training differentiates that gradient
once more, and autograd's formula for the gradient of ``dR = dxyz G^T`` (torch's einsum computes it
as a product with G^T as right operand) gives the second-order term for G as an M1 x n product that
is then transposed and copied to G's layout, and added to the first-order term read across strides:
in the water energy step these copies and strided sums of G-sized tensors took about a tenth of the
op time.

``SlotContraction`` returns the same values, with the backward written as ``dR = G dxyz^T`` (G the
left operand) and ``dG = R dxyz``: autograd differentiates those into products whose G-sized outputs
already have G's layout. Under ``torch.func`` transforms (which a custom Function would need vmap
rules for) the plain einsum runs; both give the same numbers up to round-off.
"""

import torch

EXPR = "flnd,flnm->fldm"


def _fold(x):
    """nf x nloc x a x b -> (nf*nloc) x a x b (a view for the tensors the descriptor passes)."""
    return x.reshape(-1, x.shape[-2], x.shape[-1])


class SlotContraction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, r, g):
        ctx.save_for_backward(r, g)
        out = torch.bmm(_fold(r).transpose(1, 2), _fold(g))
        return out.reshape(*r.shape[:-2], r.shape[-1], g.shape[-1])

    @staticmethod
    def backward(ctx, grad):
        r, g = ctx.saved_tensors
        grad3 = _fold(grad)
        grad_r = grad_g = None
        if ctx.needs_input_grad[0]:
            grad_r = torch.bmm(_fold(g), grad3.transpose(1, 2)).reshape(r.shape)
        if ctx.needs_input_grad[1]:
            grad_g = torch.bmm(_fold(r), grad3).reshape(g.shape)
        return grad_r, grad_g


def slot_contraction(r, g):
    """einsum("flnd,flnm->fldm", r, g)."""
    if torch._C._are_functorch_transforms_active():
        return torch.einsum(EXPR, r, g)
    return SlotContraction.apply(r, g)
