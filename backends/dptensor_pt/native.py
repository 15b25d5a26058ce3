"""The PyTorch backend's native kernels, built from ``source/pt_ops`` at first use.

    DPT_PT_NATIVE   0: do not build or load it (the generic torch code runs)   default: 1
    DPT_CACHE_DIR   where built libraries are kept      default: $XDG_CACHE_HOME/dptensor,
                                                         else ~/.cache/dptensor

``tab_eval`` evaluates a compressed model's tabulated embedding nets (``dpt compress``,
``dptensor.model.tabulate.tab_eval`` is the definition) with the op ``dptensor::tab_eval``
(``source/pt_ops/tab_eval.cc``): the generic code gathers an n x 6 x M copy of the coefficients
and runs Horner's rule on it, about 10x slower. The op's derivative in s is the same op with
order + 1 (``_backward``), so forces, force training and Hessians differentiate it again; its
shape function (``_fake``) lets ``dpt freeze`` trace it with symbolic sizes. A frozen compressed
model calls the op, so loading one needs the library (``load``, or libdptensor_api_cc in C++).

``tab_contract`` is the descriptor's R~^T G with G from a table (``tabulate.tab_contract``), fused
(``source/pt_ops/tab_contract.cc``): the generic code writes G (as large as the descriptor's input
times M) and runs batched products on it, about 5x slower. Its gradient is the fused op
``dptensor::tab_contract_grad``, whose own derivatives are written with the ops above and ``bmm``
(``_backward_contract_grad``): forces run fused, force training and derivatives of any order
(of a frozen graph too) stay exact.

The library is compiled once per torch version, CPU and source text (half a minute with g++) and
cached; the compiler is ``$CXX`` or ``g++``. Without a compiler, or when the source is not there
(an install that is not a clone of the repository), the backend logs why once and runs the
generic code: the same numbers to round-off, more slowly.
"""

import functools
import logging
import os
import subprocess
from pathlib import Path

import torch

from dptensor.errors import DptError
from dptensor.utils import native_build

NATIVE_ENV = "DPT_PT_NATIVE"
SOURCE = Path(__file__).resolve().parents[2] / "source" / "pt_ops"  # the folder of the sources
SOURCES = [SOURCE / "tab_eval.cc", SOURCE / "tab_contract.cc"]
# not compiled alone; hashed into the cache key with the sources
HEADERS = [SOURCE / "tabulate.h", *native_build.COMMON_HEADERS]
OP_NAME = "dptensor::tab_eval"
VJP_NAME = "dptensor::tab_eval_vjp"  # sum_j grad_j tab_eval_j: the gradient, fused
CONTRACT_NAME = "dptensor::tab_contract"
CONTRACT_GRAD_NAME = "dptensor::tab_contract_grad"
COMPILE_FLAGS = ["-shared", "-fPIC", "-std=c++20", "-O3", "-march=native", "-fopenmp-simd",
                 "-fopenmp"]  # -fopenmp: at::parallel_for runs on torch's OpenMP threads

log = logging.getLogger("dptensor.pt")


def enabled():
    """False when DPT_PT_NATIVE turns the native kernel off."""
    return native_build.enabled(NATIVE_ENV)


def _torch_lib_dir():
    return os.path.join(os.path.dirname(torch.__file__), "lib")


def _command(sources, output):
    """g++ argv: the op library linked against the running torch (found at run time by rpath;
    libgomp resolves to torch's own, so there is one OpenMP runtime). Headers among ``sources``
    are left out of the command (the .cc files include them)."""
    from torch.utils import cpp_extension

    sources = [s for s in sources if not str(s).endswith(".h")]
    lib = _torch_lib_dir()
    abi = int(bool(torch._C._GLIBCXX_USE_CXX11_ABI))
    return [native_build.compiler(), *COMPILE_FLAGS, f"-D_GLIBCXX_USE_CXX11_ABI={abi}",
            *[f"-I{p}" for p in cpp_extension.include_paths()], *sources, "-o", str(output),
            f"-L{lib}", "-ltorch", "-ltorch_cpu", "-lc10", f"-Wl,-rpath,{lib}"]


def build(sources=None):
    """The cached library built from ``sources`` (default: SOURCES and HEADERS; compiled first if
    needed) -> its path."""
    sources = [*SOURCES, *HEADERS] if sources is None else list(sources)
    return native_build.build_cached(sources, _command, "pt_ops", "pt_ops",
                                     extra_key=torch.__version__, log=log)


def sources_present():
    """Whether this install has the kernels' source files (a clone of the repository)."""
    return all(p.is_file() for p in [*SOURCES, *HEADERS])


def _op_registered():
    try:
        return all(torch._C._dispatch_has_kernel_for_dispatch_key(name, "CPU")
                   for name in (OP_NAME, CONTRACT_NAME))
    except RuntimeError:  # no such operator
        return False


def load():
    """True when the op is loaded (built if needed), False when it is turned off or cannot be
    built (the reason is logged once)."""
    return enabled() and _load_once()


@functools.lru_cache(maxsize=None)
def _load_once():
    if not sources_present():
        log.info("PyTorch native kernels not available (no %s in this install): using generic code",
                 SOURCE)
        return False
    try:
        _load_built()
    except (OSError, DptError, RuntimeError, subprocess.SubprocessError) as exc:
        log.warning("PyTorch native kernel not built, using the generic code (slower; set %s=0 to "
                    "skip the attempt): %s", NATIVE_ENV, exc)
        return False
    _register_python_parts()
    return True


def _load_built():
    if _op_registered():  # already in this process (e.g. loaded by hand)
        return
    path = build()
    try:
        torch.ops.load_library(str(path))
    except OSError:  # a damaged library in the cache: build it once more
        log.warning("the cached PyTorch kernel %s did not load; building it again", path)
        path.unlink(missing_ok=True)
        torch.ops.load_library(str(build()))


@functools.lru_cache(maxsize=None)
def _register_python_parts():
    """Autograd and the fake (shape) kernels, once per process."""
    torch.library.register_fake(OP_NAME)(_fake)
    torch.library.register_fake(VJP_NAME)(_fake_vjp)
    torch.library.register_autograd(OP_NAME, _backward, setup_context=_setup_context)
    torch.library.register_autograd(VJP_NAME, _backward_vjp, setup_context=_setup_context)
    torch.library.register_fake(CONTRACT_NAME)(_fake_contract)
    torch.library.register_fake(CONTRACT_GRAD_NAME)(_fake_contract_grad)
    torch.library.register_autograd(CONTRACT_NAME, _backward_contract, setup_context=_setup_context)
    torch.library.register_autograd(CONTRACT_GRAD_NAME, _backward_contract_grad,
                                    setup_context=_setup_context)


def _fake(coef, s, lo, h1, n1, h2, order):
    return s.new_empty((s.shape[0], coef.shape[2]))


def _fake_vjp(coef, s, grad, lo, h1, n1, h2, order):
    return s.new_empty((s.shape[0],))


def _fake_contract(coef, s, r, lo, h1, n1, h2):
    return s.new_empty((s.shape[0], 4, coef.shape[2]))


def _fake_contract_grad(coef, s, r, grad, lo, h1, n1, h2):
    return s.new_empty(s.shape), r.new_empty(r.shape)


def _setup_context(ctx, inputs, output):
    tensors = [x for x in inputs if isinstance(x, torch.Tensor)]  # coef, s (, r) (, grad)
    ctx.save_for_backward(*tensors)
    ctx.grid = inputs[len(tensors):]  # lo, h1, n1, h2 (, order)


def _backward(ctx, grad):
    """out = tab_eval(r) (n x M): d/ds sum_j grad_j out_j = tab_eval_vjp(grad, r + 1). The
    table gets no gradient (it is not trained)."""
    coef, s = ctx.saved_tensors
    *grid, order = ctx.grid
    grad_s = _ops().tab_eval_vjp(coef, s, grad, *grid, order + 1) if ctx.needs_input_grad[1] else None
    return None, grad_s, None, None, None, None, None


def _backward_vjp(ctx, grad):
    """out_i = sum_j g_ij tab_eval(r)_ij (n): d/ds_i = tab_eval_vjp(g, r + 1)_i, d/dg_ij =
    tab_eval(r)_ij."""
    coef, s, g = ctx.saved_tensors
    *grid, order = ctx.grid
    grad_s = grad_g = None
    if ctx.needs_input_grad[1]:
        grad_s = grad * _ops().tab_eval_vjp(coef, s, g, *grid, order + 1)
    if ctx.needs_input_grad[2]:
        grad_g = grad[:, None] * _ops().tab_eval(coef, s, *grid, order)
    return None, grad_s, grad_g, None, None, None, None, None


def _backward_contract(ctx, grad):
    """out = tab_contract(s, r) (B x 4 x M): both gradients by the fused op, which has its own
    derivatives (so create_graph needs no other path)."""
    coef, s, r = ctx.saved_tensors
    if not (ctx.needs_input_grad[1] or ctx.needs_input_grad[2]):
        return (None,) * 7
    grad_s, grad_r = _ops().tab_contract_grad(coef, s, r, grad, *ctx.grid)
    return (None, grad_s if ctx.needs_input_grad[1] else None,
            grad_r if ctx.needs_input_grad[2] else None, None, None, None, None)


def _backward_contract_grad(ctx, bar_s, bar_r):
    """(P, Q) = tab_contract_grad(s, r, g): P_bj = sum_m G'_bjm (r_bj . g_b)_m, Q_bjd =
    sum_m G_bjm g_bdm. With bar_s, bar_r their cotangents (B x w, B x w x 4):
    d/dg = (bar_s r)^T G' + bar_r^T G, d/dr = bar_s (G' g^T), d/ds = bar_s sum_m G'' (r g)_m
    + sum_d bar_r (G' g^T). Written with tab_eval, tab_eval_vjp and bmm, which autograd
    differentiates again (G and G' are materialized here: only second derivatives pay that)."""
    coef, s, r, g = ctx.saved_tensors
    n, w = s.shape
    flat = s.reshape(-1)
    g0 = _ops().tab_eval(coef, flat, *ctx.grid, 0).reshape(n, w, -1)  # B x w x M
    g1 = _ops().tab_eval(coef, flat, *ctx.grid, 1).reshape(n, w, -1)
    g1_g = torch.bmm(g1, g.transpose(1, 2))  # B x w x 4
    grad_g = torch.bmm((bar_s[..., None] * r).transpose(1, 2), g1) + torch.bmm(bar_r.transpose(1, 2), g0)
    grad_r = bar_s[..., None] * g1_g
    rg = torch.bmm(r, g).reshape(n * w, -1)  # B w x M
    grad_s = bar_s * _ops().tab_eval_vjp(coef, flat, rg, *ctx.grid, 2).reshape(n, w) + (bar_r * g1_g).sum(-1)
    return None, grad_s, grad_r, grad_g, None, None, None, None


def _ops():
    return torch.ops.dptensor


def usable(coef, *tensors):
    """Whether the ops can take these operands: CPU float32/float64 tensors of one dtype."""
    operands = (coef, *tensors)
    return (all(isinstance(x, torch.Tensor) for x in operands)
            and coef.dtype in (torch.float32, torch.float64)
            and all(x.dtype == coef.dtype and x.device.type == "cpu" for x in operands) and load())


def _grid_args(coef, grid, name):
    """(lo, h1, n1, h2), the ops' grid arguments, of a grid list that fits the table coef."""
    lo, h1, n1, h2, n2 = (float(grid[0]), float(grid[1]), int(grid[2]), float(grid[3]), int(grid[4]))
    if coef.shape[0] != n1 + n2:
        raise ValueError(f"{name}: a table of {coef.shape[0]} intervals on a grid of {n1} + {n2}")
    return lo, h1, n1, h2


def tab_eval(coef, s, grid, order=0):
    """``dptensor.model.tabulate.tab_eval`` by the native op (call ``usable`` first)."""
    return torch.ops.dptensor.tab_eval(coef, s, *_grid_args(coef, grid, "tab_eval"), int(order))


def tab_contract(coef, s, r, grid):
    """``dptensor.model.tabulate.tab_contract`` by the native op (call ``usable`` first): s ... x w,
    r ... x w x 4 -> ... x 4 x M; the leading dimensions are folded into one for the op."""
    if s.dim() < 1 or tuple(r.shape) != (*s.shape, 4):
        raise ValueError(f"tab_contract: need s ... x w and r ... x w x 4, got {tuple(s.shape)} "
                         f"and {tuple(r.shape)}")
    lead, w = s.shape[:-1], s.shape[-1]
    s2 = s.reshape(1, w) if s.dim() == 1 else s.flatten(0, -2)  # B x w (B = 0 allowed)
    out = torch.ops.dptensor.tab_contract(coef, s2, r.reshape(s2.shape[0], w, 4),
                                          *_grid_args(coef, grid, "tab_contract"))
    return out.reshape(*lead, 4, coef.shape[2])
