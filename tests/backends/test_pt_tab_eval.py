"""The PyTorch kernel of tabulated embedding nets (source/pt_ops/tab_eval.cc, built at first use):
the numbers of the definition ``dptensor.model.tabulate.tab_eval`` for every order, inside, at
the knots and outside the table; first and second derivatives by autograd; the generic fallback;
tracing and scripting as ``dpt freeze`` does; a clear error for a compressed model without the
kernel; and the cached build of ``dptensor.utils.native_build``."""

import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from dptensor_pt import native  # noqa: E402
from pt_tab_helpers import kernel, small_table, table  # noqa: E402,F401 (fixtures)
from dptensor_pt.freeze import trace_to_script  # noqa: E402
from dptensor_pt.ops import torch_ops  # noqa: E402

from dptensor.model.ops import numpy_ops  # noqa: E402
from dptensor.model.tabulate import grid_bounds, knots, tab_eval  # noqa: E402
from dptensor.utils import native_build  # noqa: E402

TOL = {np.float64: 1e-12, np.float32: 2e-6}  # relative to the largest |value| of the output


def _s_values(grid, dtype=np.float64, seed=0):
    """Inside (fine and wide parts), every knot, lo, hi and end exactly, the next numbers below lo
    and above end, far below lo and beyond end (the last five)."""
    lo, _, _, _, _, hi, end = (dtype(x) for x in grid_bounds(grid))
    inside = np.random.default_rng(seed).uniform(lo, end, 300)
    outside = [np.nextafter(lo, dtype(-np.inf)), lo - dtype(0.3), np.nextafter(end, dtype(np.inf)),
               end + dtype(2.0)]
    return np.concatenate([inside, knots(grid), [lo, hi, end], outside]).astype(dtype)


@pytest.mark.parametrize("order", [0, 1, 2, 3, 6])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_values_equal_the_definition(kernel, table, order, dtype):
    coef, grid = table
    s = _s_values(grid, dtype)
    want = tab_eval(numpy_ops, coef.astype(dtype), s, grid, order)
    got = native.tab_eval(torch.tensor(coef.astype(dtype)), torch.tensor(s), grid, order)
    assert got.dtype == torch.tensor(s).dtype and got.shape == want.shape
    scale = max(float(np.abs(want).max()), 1.0)
    np.testing.assert_allclose(got.numpy(), want, rtol=0, atol=TOL[dtype] * scale)
    if order > 0:  # held constant outside [lo, end]
        assert not got[-4:].any() and (got[:-4].any() or order > 5)


def test_torch_ops_runs_the_kernel_and_the_fallback_agrees(kernel, table, monkeypatch):
    coef, grid = table
    c, s = torch.tensor(coef), torch.tensor(_s_values(grid, seed=1))
    fast = [torch_ops.tab_eval(c, s, grid, r) for r in range(3)]
    assert native.usable(c, s)
    monkeypatch.setenv(native.NATIVE_ENV, "0")
    assert not native.usable(c, s)
    for r in range(3):
        torch.testing.assert_close(fast[r], torch_ops.tab_eval(c, s, grid, r), rtol=0, atol=1e-12)


def _force_like(tab, coef, s, w, grid):
    """(e, de/ds, d(de/ds)/ds . 1) for e = sum w G(s^2): first and second derivatives by autograd."""
    s = s.detach().requires_grad_(True)
    e = (w * tab(coef, s * s, grid, 0)).sum()
    (ds,) = torch.autograd.grad(e, s, create_graph=True)
    (dds,) = torch.autograd.grad(ds.sum(), s)
    return e, ds, dds


def test_derivatives_equal_the_generic_code(kernel, small_table):
    coef, grid = small_table
    s = torch.linspace(-1.2, 2.4, 50, dtype=torch.float64)  # s^2 spans both parts and beyond end
    w = torch.randn(50, coef.shape[2], generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    generic = lambda c, x, g, r: tab_eval(torch_ops, c, x, g, r)  # noqa: E731
    for got, want in zip(_force_like(native.tab_eval, coef, s, w, grid),
                         _force_like(generic, coef, s, w, grid)):
        torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("order", [0, 1])
def test_gradcheck(kernel, small_table, order):
    coef, grid = small_table
    # away from the knots (the third derivative jumps there), below lo and beyond end too
    s = torch.tensor([-1.3, -0.93, 0.04, 0.52, 1.77, 2.61, 4.33, 6.5], dtype=torch.float64,
                     requires_grad=True)
    fn = lambda x: native.tab_eval(coef, x, grid, order)  # noqa: E731
    assert torch.autograd.gradcheck(fn, (s,))
    assert torch.autograd.gradgradcheck(fn, (s,))


def test_trace_and_script_for_other_sizes(kernel, small_table):
    """make_fx with symbolic sizes and torch.jit.script, as ``dpt freeze``: the value and the
    derivative (tab_eval_vjp) run for sizes other than the example's."""
    coef, grid = small_table

    def energy_force(r):
        with torch.enable_grad():
            r = r.detach().requires_grad_(True)
            e = torch_ops.tab_eval(coef, (r * r).sum(-1), grid, 0).sum()
            (f,) = torch.autograd.grad(e, r, create_graph=True)
            return e, f

    script = trace_to_script(energy_force, [torch.zeros(5, 3, dtype=torch.float64)])
    assert "dptensor.tab_eval" in script.code and "dptensor.tab_eval_vjp" in script.code
    for n in (3, 11):
        r = torch.rand(n, 3, generator=torch.Generator().manual_seed(n), dtype=torch.float64)
        want = energy_force(r)
        for _ in range(2):  # TorchScript profiles the first call, optimizes from the second
            for got, ref in zip(script(r), want):
                torch.testing.assert_close(got, ref.detach(), rtol=1e-12, atol=1e-12)


_FRESH_PROCESS = """
import json, sys
from dptensor_pt.freeze import load_frozen
try:
    load_frozen(sys.argv[1])
except Exception as exc:
    print(json.dumps([type(exc).__name__, str(exc)]))
"""


def test_load_frozen_without_the_kernel_says_why(kernel, small_table, tmp_path):
    coef, grid = small_table
    script = trace_to_script(lambda s: torch_ops.tab_eval(coef, s, grid, 0),
                             [torch.zeros(4, dtype=torch.float64)])
    path = tmp_path / "compressed.pth"
    script.save(str(path))
    env = {**os.environ, native.NATIVE_ENV: "0"}
    proc = subprocess.run([sys.executable, "-c", _FRESH_PROCESS, str(path)], env=env, check=False,
                          capture_output=True, text=True, timeout=120)
    kind, message = json.loads(proc.stdout.strip().splitlines()[-1])
    assert kind == "ModelFileError"
    assert "compressed model" in message and f"{native.NATIVE_ENV} is set to 0" in message


@pytest.mark.parametrize("args, words", [
    ((torch.zeros(4, 5, 3), torch.zeros(3)), "nint x 6 x M"),
    ((torch.zeros(4, 6, 3), torch.zeros(3, 1)), "1-D"),
    ((torch.zeros(4, 6, 3), torch.zeros(3, dtype=torch.float64)), "one dtype"),
    ((torch.zeros(4, 6, 3, dtype=torch.int64), torch.zeros(3, dtype=torch.int64)), "float32 or float64"),
])
def test_bad_operands_are_refused(kernel, args, words):
    with pytest.raises(RuntimeError, match=words):
        torch.ops.dptensor.tab_eval(*args, -1.0, 0.1, 2, 0.2, 0)


# dptensor.utils.native_build -------------------------------------------------------------------
def _c_command(sources, output):
    return [native_build.compiler(), "-shared", "-fPIC", "-x", "c++", *sources, "-o", str(output)]


def test_build_cached_compiles_once_per_source_text(tmp_path, monkeypatch):
    if shutil.which(native_build.compiler()) is None:
        pytest.skip(f"no C++ compiler ({native_build.compiler()})")
    monkeypatch.setenv(native_build.CACHE_ENV, str(tmp_path / "cache"))
    source = tmp_path / "one.cc"
    source.write_text("extern \"C\" int one() { return 1; }\n")
    first = native_build.build_cached([source], _c_command, "one", "test")
    assert first.parent == tmp_path / "cache" / "test" and first.is_file()
    stamp = first.stat().st_mtime_ns
    assert native_build.build_cached([source], _c_command, "one", "test") == first
    assert first.stat().st_mtime_ns == stamp  # not compiled again
    source.write_text("extern \"C\" int one() { return 2 - 1; }\n")
    assert native_build.library_path([source], _c_command, "one", "test") != first
    source.write_text("this is not C++\n")
    with pytest.raises(RuntimeError, match="exited with"):
        native_build.build_cached([source], _c_command, "one", "test")
    assert sorted(p.name for p in first.parent.iterdir()) == [first.name]  # no half-written file
