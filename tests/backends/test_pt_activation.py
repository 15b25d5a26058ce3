"""The PyTorch backend's float64 tanh (2 sigmoid(2x) - 1, dptensor_pt/activation.py) equals
torch.tanh to round-off in value, first and second derivatives, under torch.func transforms and in
a make_fx trace (the frozen model's path), and leaves other dtypes to torch.tanh."""

import pytest

torch = pytest.importorskip("torch")

from dptensor_pt import activation  # noqa: E402

TOL = 1e-14


@pytest.fixture(autouse=True)
def composite_at_every_size(monkeypatch):
    """The tests' small tensors take the composite too (eager mode leaves small ones to torch.tanh)."""
    monkeypatch.setattr(activation, "MIN_ELEMENTS", 0)


def _inputs():
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(64, 25, generator=gen, dtype=torch.float64) * 4.0
    edges = torch.tensor([0.0, -0.0, 1e-300, -1e-8, 19.0, -19.0, 40.0, -40.0, 710.0, -710.0],
                         dtype=torch.float64)
    return torch.cat([x.reshape(-1), edges])


def test_values_match_torch_tanh():
    x = _inputs()
    assert torch.allclose(activation.tanh(x), torch.tanh(x), rtol=0, atol=TOL)
    assert torch.equal(activation.tanh(torch.tensor([710.0, -710.0], dtype=torch.float64)),
                       torch.tensor([1.0, -1.0], dtype=torch.float64))


def test_input_is_not_changed():
    x = _inputs()
    before = x.clone()
    activation.tanh(x)
    assert torch.equal(x, before)


def test_first_and_second_derivatives():
    x = _inputs()[:200].clone().requires_grad_(True)
    (g,) = torch.autograd.grad(activation.tanh(x).sum(), x, create_graph=True)
    (g2,) = torch.autograd.grad((g * x).sum(), x)
    xr = x.detach().clone().requires_grad_(True)
    (gr,) = torch.autograd.grad(torch.tanh(xr).sum(), xr, create_graph=True)
    (g2r,) = torch.autograd.grad((gr * xr).sum(), xr)
    assert torch.allclose(g, gr, rtol=0, atol=TOL)
    assert torch.allclose(g2, g2r, rtol=0, atol=TOL)
    small = torch.randn(6, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradgradcheck(activation.tanh, (small,))


def test_forward_over_reverse_under_vmap():
    x = torch.linspace(-3, 3, 7, dtype=torch.float64)

    def grad_sum(v):
        return torch.func.grad(lambda u: activation.tanh(u).sum())(v)

    tangents = torch.eye(7, dtype=torch.float64)
    hess = torch.func.vmap(lambda t: torch.func.jvp(grad_sum, (x,), (t,))[1])(tangents)
    expect = torch.diag(-2 * torch.tanh(x) * (1 - torch.tanh(x) ** 2))
    assert torch.allclose(hess, expect, rtol=0, atol=TOL)


def test_traced_graph_is_out_of_place_and_differentiable_again(monkeypatch):
    """The freeze trace takes the composite whatever the example's size (the graph serves all)."""
    from torch.fx.experimental.proxy_tensor import make_fx

    monkeypatch.setattr(activation, "MIN_ELEMENTS", 10**9)

    def force(x):
        x = x.detach().requires_grad_(True)
        (g,) = torch.autograd.grad(activation.tanh(x).sum(), x, create_graph=True)
        return g

    x = _inputs()[:50]
    graph = make_fx(force, tracing_mode="fake")(x)
    targets = [str(n.target) for n in graph.graph.nodes if n.op == "call_function"]
    assert not [t for t in targets if t.split(".")[-2].endswith("_")], targets  # no in-place aten op
    assert "aten.sigmoid.default" in targets, targets
    xr = x.clone().requires_grad_(True)
    g = graph(xr)
    assert torch.allclose(g, 1 - torch.tanh(x) ** 2, rtol=0, atol=TOL)


def test_small_tensors_use_torch_tanh_in_eager_mode(monkeypatch):
    monkeypatch.setattr(activation, "MIN_ELEMENTS", 1000)
    small, large = torch.randn(999, dtype=torch.float64), torch.randn(1000, dtype=torch.float64)
    assert torch.equal(activation.tanh(small), torch.tanh(small))
    assert torch.equal(activation.tanh(large), activation._tanh_in_place(large))


def test_float32_uses_torch_tanh():
    x = _inputs().float()
    assert torch.equal(activation.tanh(x), torch.tanh(x))
