"""The fused PyTorch kernel of a compressed descriptor's R~^T G (source/pt_ops/tab_contract.cc):
the numbers of the definition ``dptensor.model.tabulate.tab_contract`` inside, at and outside the
table, with zero rows of r and runs of equal s (empty slots); gradients of first, second and third
order against the generic code and by gradcheck; TorchOps' choice and fallback; tracing and
scripting as ``dpt freeze`` does; clear errors for bad operands."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from dptensor_pt import native  # noqa: E402
from pt_tab_helpers import kernel, small_table, table  # noqa: E402,F401 (fixtures)
from dptensor_pt.freeze import trace_to_script  # noqa: E402
from dptensor_pt.ops import torch_ops  # noqa: E402

from dptensor.model.ops import numpy_ops  # noqa: E402
from dptensor.model.tabulate import grid_bounds, knots, tab_contract  # noqa: E402

TOL = {np.float64: 1e-12, np.float32: 1e-5}  # relative to the largest |value| of the output


def _operands(grid, dtype=np.float64, seed=0):
    """s 2 x 3 x 40 and r 2 x 3 x 40 x 4: inside, knots, lo, end, below lo and beyond end; zero
    rows of r; a run of empty slots (one s, one row of r) and a run of one s with other rows."""
    rng = np.random.default_rng(seed)
    lo, _, _, _, _, _, end = grid_bounds(grid)
    special = [lo, end, np.nextafter(lo, -np.inf), lo - 0.3, np.nextafter(end, np.inf), end + 2.0]
    s = rng.uniform(lo, end, (2, 3, 40))
    s[..., :6] = special
    s[..., 6:10] = rng.choice(knots(grid), 4)
    s[..., 30:] = s[..., 29:30]  # slots 29 .. 39 share one s
    r = rng.normal(size=(2, 3, 40, 4))
    r[..., 34:, :] = r[..., 33:34, :]  # and 33 .. 39 one row of r, as empty slots do
    r[0, 1, 12] = r[1, 2, 31] = r[1, 0, 5] = r[0, 2, 29] = 0.0  # 29: the first of a run
    return s.astype(dtype), r.astype(dtype)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_values_equal_the_definition(kernel, table, dtype):
    coef, grid = table
    s, r = _operands(grid, dtype)
    want = tab_contract(numpy_ops, coef.astype(dtype), s, r, grid)
    got = native.tab_contract(torch.tensor(coef.astype(dtype)), torch.tensor(s), torch.tensor(r), grid)
    assert got.dtype == torch.tensor(s).dtype and got.shape == want.shape == (2, 3, 4, 100)
    scale = max(float(np.abs(want).max()), 1.0)
    np.testing.assert_allclose(got.numpy(), want, rtol=0, atol=TOL[dtype] * scale)


def test_nan_and_infinite_inputs_behave_as_the_definition(kernel, small_table):
    """NaN s reaches the output and the gradient, even on a zero row of r (NaN * 0); infinite s
    holds the table's end values."""
    coef, grid = small_table
    s = np.array([[[0.5, np.nan, np.inf, -np.inf, np.nan]]])
    r = np.ones((1, 1, 5, 4))
    r[0, 0, 4] = 0.0
    want = tab_contract(numpy_ops, coef.numpy(), s, r, grid)
    st = torch.tensor(s, requires_grad=True)
    got = native.tab_contract(coef, st, torch.tensor(r), grid)
    np.testing.assert_allclose(got.detach().numpy(), want, rtol=1e-12, atol=1e-12)
    (grad,) = torch.autograd.grad(got.sum(), st)
    g = grad.numpy()[0, 0]
    assert np.isnan(g[[1, 4]]).all() and np.isfinite(g[[0, 2, 3]]).all()
    assert not g[[2, 3]].any()  # outside the table: no slope


def test_empty_and_one_dimensional_operands(kernel, small_table):
    coef, grid = small_table
    assert native.tab_contract(coef, torch.zeros(0, 7, dtype=torch.float64),
                               torch.zeros(0, 7, 4, dtype=torch.float64), grid).shape == (0, 4, 8)
    empty = native.tab_contract(coef, torch.zeros(3, 0, dtype=torch.float64),
                                torch.zeros(3, 0, 4, dtype=torch.float64), grid)
    assert empty.shape == (3, 4, 8) and not empty.any()
    s, r = torch.full((1, 1, 5), 0.3, dtype=torch.float64), torch.ones(1, 1, 5, 4, dtype=torch.float64)
    want = torch.tensor(tab_contract(numpy_ops, coef.numpy(), s.numpy(), r.numpy(), grid))
    torch.testing.assert_close(native.tab_contract(coef, s[0, 0], r[0, 0], grid), want[0, 0])


def _force_like(fn, coef, s, r, grid):
    """As force training does: the energy's gradients in s and r kept in the graph and
    differentiated once more."""
    s, r = s.detach().requires_grad_(True), r.detach().requires_grad_(True)
    out = fn(coef, s, r, grid)
    weights = torch.linspace(-1, 1, out.numel(), dtype=s.dtype).reshape(out.shape)
    energy = (out * out * weights).sum()
    d_s, d_r = torch.autograd.grad(energy, [s, r], create_graph=True)
    dd_s, dd_r = torch.autograd.grad((d_s ** 2).sum() + (d_r ** 2).sum() + energy, [s, r])
    return out, d_s, d_r, dd_s, dd_r


def test_derivatives_equal_the_generic_code(kernel, small_table):
    coef, grid = small_table
    s, r = (torch.tensor(x) for x in _operands(grid, seed=3))
    generic = lambda c, x, y, g: tab_contract(torch_ops, c, x, y, g)  # noqa: E731
    for got, want in zip(_force_like(native.tab_contract, coef, s, r, grid),
                         _force_like(generic, coef, s, r, grid)):
        torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12 * (1 + float(want.detach().abs().max())))


def test_gradcheck_to_third_order(kernel, small_table):
    coef, grid = small_table
    # away from the knots (the third derivative jumps there), below lo and beyond end too; a
    # zero row of r and two slots of one s
    s = torch.tensor([[-1.3, -0.93, 0.04, 0.04], [1.77, 2.61, 4.33, 6.5]], dtype=torch.float64,
                     requires_grad=True)
    r = torch.randn(2, 4, 4, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    r[0, 1] = 0.0
    r.requires_grad_(True)
    g = torch.randn(2, 4, 8, generator=torch.Generator().manual_seed(3), dtype=torch.float64,
                    requires_grad=True)
    fn = lambda x, y: native.tab_contract(coef, x, y, grid)  # noqa: E731
    assert torch.autograd.gradcheck(fn, (s, r))
    assert torch.autograd.gradgradcheck(fn, (s, r))
    args = native._grid_args(coef, grid, "test")
    grad_fn = lambda x, y, z: torch.ops.dptensor.tab_contract_grad(coef, x, y, z, *args)  # noqa: E731
    assert torch.autograd.gradcheck(grad_fn, (s, r, g))
    assert torch.autograd.gradgradcheck(grad_fn, (s, r, g))
    grad_r_only = lambda x, y, z: grad_fn(x, y, z)[1]  # noqa: E731  (no cotangent for grad_s)
    assert torch.autograd.gradcheck(grad_r_only, (s, r, g))


def test_torch_ops_runs_the_kernel_and_the_fallback_agrees(kernel, table, monkeypatch):
    coef, grid = table
    c, s, r = (torch.tensor(x) for x in (coef, *_operands(grid, seed=1)))
    fast = torch_ops.tab_contract(c, s, r, grid)
    assert native.usable(c, s, r) and not native.usable(c, s, r.float())
    monkeypatch.setenv(native.NATIVE_ENV, "0")
    assert not native.usable(c, s, r)
    torch.testing.assert_close(fast, torch_ops.tab_contract(c, s, r, grid), rtol=0, atol=1e-12)


def test_trace_and_script_for_other_sizes(kernel, small_table):
    """make_fx with symbolic sizes and torch.jit.script, as ``dpt freeze``: the value and the
    gradient (tab_contract_grad) run for sizes other than the example's."""
    coef, grid = small_table

    def energy_force(em):
        with torch.enable_grad():
            em = em.detach().requires_grad_(True)
            e = (torch_ops.tab_contract(coef, em[..., 0], em, grid) ** 2).sum()
            (f,) = torch.autograd.grad(e, em, create_graph=True)
            return e, f

    script = trace_to_script(energy_force, [torch.zeros(2, 5, 6, 4, dtype=torch.float64)])
    assert "dptensor.tab_contract(" in script.code and "dptensor.tab_contract_grad" in script.code
    for shape in ((3, 4, 9, 4), (1, 7, 2, 4)):
        em = torch.rand(*shape, generator=torch.Generator().manual_seed(shape[1]), dtype=torch.float64)
        want = energy_force(em)
        for _ in range(2):  # TorchScript profiles the first call, optimizes from the second
            for got, ref in zip(script(em), want):
                torch.testing.assert_close(got, ref.detach(), rtol=1e-12, atol=1e-12)


def _bad_contract(coef_shape, s_shape, r_shape, dtype=torch.float32, r_dtype=None):
    z = lambda shape, dt=dtype: torch.zeros(shape, dtype=dt)  # noqa: E731
    return torch.ops.dptensor.tab_contract(z(coef_shape), z(s_shape), z(r_shape, r_dtype or dtype),
                                           -1.0, 0.1, 2, 0.2)


def _bad_grad(grad):
    return torch.ops.dptensor.tab_contract_grad(torch.zeros(4, 6, 5), torch.zeros(2, 3), torch.zeros(2, 3, 4),
                                                grad, -1.0, 0.1, 2, 0.2)


@pytest.mark.parametrize("call, words", [
    (lambda: _bad_contract((4, 5, 3), (2, 3), (2, 3, 4)), "nint x 6 x M"),
    (lambda: _bad_contract((4, 6, 3), (6,), (6, 4)), "s must be B x w"),
    (lambda: _bad_contract((4, 6, 3), (2, 3), (2, 3, 3)), "r must be B x w x 4"),
    (lambda: _bad_contract((4, 6, 3), (2, 3), (2, 3, 4), r_dtype=torch.float64), "one dtype"),
    (lambda: _bad_contract((4, 6, 3), (2, 3), (2, 3, 4), dtype=torch.int64), "float32 or float64"),
    (lambda: _bad_grad(torch.zeros(2, 4, 3)), "grad must be B x 4 x M"),
    (lambda: _bad_grad(torch.zeros(2, 4, 5, dtype=torch.float64)), "one dtype"),
])
def test_bad_operands_are_refused(kernel, call, words):
    with pytest.raises(RuntimeError, match=words):
        call()


def test_wrapper_checks_shapes_and_the_grid(kernel, small_table):
    coef, grid = small_table
    s = torch.zeros(2, 3, dtype=torch.float64)
    with pytest.raises(ValueError, match="r ... x w x 4"):
        native.tab_contract(coef, s, torch.zeros(2, 4, 4, dtype=torch.float64), grid)
    with pytest.raises(ValueError, match="intervals on a grid"):
        native.tab_contract(coef[:-1], s, torch.zeros(2, 3, 4, dtype=torch.float64), grid)
