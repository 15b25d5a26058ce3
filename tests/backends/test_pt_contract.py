"""The PyTorch backend's slot contraction (dptensor_pt/contract.py) equals torch.einsum in value
and in first and second derivatives, on the strided blocks the descriptor passes, under torch.func
transforms, and inside a make_fx trace; TorchOps.einsum takes it for the descriptor's expression."""

import pytest

torch = pytest.importorskip("torch")

from dptensor_pt.contract import EXPR, SlotContraction, slot_contraction  # noqa: E402
from dptensor_pt.ops import torch_ops  # noqa: E402

TOL = 1e-13


def _operands(requires_grad=True):
    """A type block of an environment matrix (a strided view, as ``split`` gives) and an embedding."""
    gen = torch.Generator().manual_seed(1)
    em = torch.randn(2, 5, 9, 4, generator=gen, dtype=torch.float64, requires_grad=requires_grad)
    g = torch.randn(2, 5, 6, 7, generator=gen, dtype=torch.float64, requires_grad=requires_grad)
    return em, torch.split(em, [3, 6], dim=2)[1], g


def _force_like_loss(fn):
    """As force training does, differentiate the contraction's gradient once more: returns the
    contraction, its gradients d_em and d_g (kept in the graph), and the gradient for em and g
    of a loss made of all three."""
    em, r, g = _operands()
    out = fn(EXPR, r, g)
    weights = torch.linspace(-1, 1, out.numel(), dtype=torch.float64).reshape(out.shape)
    d_em, d_g = torch.autograd.grad((out * out * weights).sum(), [em, g], create_graph=True)
    loss = (d_em ** 2).sum() + (d_g ** 3).sum() + (out ** 2).sum()
    return out, d_em, d_g, torch.autograd.grad(loss, [em, g])


def test_values_and_derivatives_match_einsum():
    ours = _force_like_loss(lambda e, r, g: torch_ops.einsum(e, r, g))
    ref = _force_like_loss(torch.einsum)
    for a, b in zip([*ours[:3], *ours[3]], [*ref[:3], *ref[3]]):
        assert a.shape == b.shape
        assert torch.allclose(a, b, rtol=0, atol=TOL * (1 + float(b.detach().abs().max())))


def test_gradcheck_and_gradgradcheck():
    _, r, g = _operands()
    assert torch.autograd.gradcheck(SlotContraction.apply, (r, g))
    assert torch.autograd.gradgradcheck(SlotContraction.apply, (r, g))


def test_gradients_keep_the_embedding_layout():
    """The point of the module: the gradient for g (first and second order) has g's strides."""
    em, r, g = _operands()
    out = slot_contraction(r, g)
    (d_g,) = torch.autograd.grad((out ** 2).sum(), [g], create_graph=True)
    assert d_g.is_contiguous()
    (dd_g,) = torch.autograd.grad(torch.autograd.grad((out ** 2).sum(), [em], create_graph=True)[0].sum(), [g])
    assert dd_g.is_contiguous()


def test_under_vmap_takes_plain_einsum():
    _, r, g = _operands(requires_grad=False)
    rs, gs = torch.stack([r, 2 * r]), torch.stack([g, -g])  # a batch of two operand pairs
    got = torch.func.vmap(slot_contraction)(rs, gs)
    want = torch.stack([torch.einsum(EXPR, a, b) for a, b in zip(rs, gs)])
    assert torch.allclose(got, want, rtol=0, atol=TOL)


def test_traced_by_make_fx():
    from torch.fx.experimental.proxy_tensor import make_fx

    def force(r, g):
        r = r.detach().requires_grad_(True)
        (d,) = torch.autograd.grad(slot_contraction(r, g).sum(), r)
        return d

    _, r, g = _operands(requires_grad=False)
    graph = make_fx(force, tracing_mode="fake")(r.contiguous(), g)
    targets = [str(n.target) for n in graph.graph.nodes if n.op == "call_function"]
    assert any("bmm" in t for t in targets)
    assert torch.allclose(graph(r.contiguous(), g), force(r, g), rtol=0, atol=TOL)
