"""Tabulated embedding nets (``dpt compress``): each net G(s) of the se_e2_a descriptor replaced by
piecewise quintic polynomials in its scalar input s.

A table covers s from ``lo`` on a grid of ``n1`` intervals of width ``h1`` (up to hi = lo + n1 h1,
the largest s that the training data reach) followed by ``n2`` wider intervals of width ``h2``
(the extrapolation region, up to end = hi + n2 h2). On interval k, with x_k its left end and
t = s - x_k,

    G(s) ~= sum_p coef[k, p] t^p,   p = 0 .. 5      (coef: n1 + n2 x 6 x M1)

whose coefficients match G, G' and G'' of the net at both ends of the interval (quintic Hermite),
so the table and its first two derivatives are continuous. Outside [lo, end] the table is held
constant: G at the nearest end, every derivative 0. (s >= lo always holds up to round-off: lo is
the normalized radial value of an empty slot, and s grows as a neighbor comes closer.)

``tab_eval`` is the definition that the backends' native kernels follow (``ops.tab_eval``).
"""

import math

import numpy as np

from dptensor.model.ops import numpy_ops

DEGREE = 5
# grid: (lo, h1, n1, h2, n2); n1 and n2 are stored as floats in JSON-friendly lists
GRID_FIELDS = ("lo", "h1", "n1", "h2", "n2")
# intervals per table at most: 100,000 hold 480 MB of float64 coefficients for 100 outputs
MAX_INTERVALS = 100_000


def grid_bounds(grid):
    """(lo, h1, n1, h2, n2, hi, end) of a grid list."""
    lo, h1, n1, h2, n2 = (float(grid[0]), float(grid[1]), int(grid[2]), float(grid[3]), int(grid[4]))
    hi = lo + n1 * h1
    return lo, h1, n1, h2, n2, hi, hi + n2 * h2


def knots(grid):
    """The n1 + n2 + 1 interval ends of a grid (numpy float64)."""
    lo, h1, n1, h2, n2, hi, _ = grid_bounds(grid)
    return np.concatenate([lo + h1 * np.arange(n1), hi + h2 * np.arange(n2 + 1)])


def _falling(p, r):
    """p! / (p - r)!: the factor of t^(p - r) in the r-th derivative of t^p."""
    return math.prod(range(p - r + 1, p + 1))


def tab_eval(ops, coef, s, grid, order=0):
    """The order-th derivative in s of the tabulated net at s (1-D, n), n x M1, in coef's dtype.

    ``ops`` is any ``dptensor.model.ops`` namespace: this is the generic definition (a gather of
    each row's coefficients and Horner's rule); backends run a native kernel where it is built."""
    lo, h1, n1, h2, n2, hi, end = grid_bounds(grid)
    nint = n1 + n2
    fine = s < hi
    pos = ops.where(fine, (s - lo) / h1, n1 + (s - hi) / h2)
    # clamped to [0, nint - 1] before truncating (= floor there): s < lo by round-off and NaN take
    # interval 0, s beyond the table (inf too) the last; NaN then reaches the output through t
    last = ops.astype(pos >= nint - 1, ops.dtype_of(s)) * (nint - 1)
    pos = ops.where((pos > 0) & (pos < nint - 1), pos, last)
    k = ops.astype(pos, ops.index_dtype)
    kf = ops.astype(k, ops.dtype_of(s))
    left = ops.where(k < n1, lo + kf * h1, hi + (kf - n1) * h2)
    zero = 0.0 * pos  # finite where s is not
    clamped = ops.where(s > end, zero + end, ops.where(s < lo, zero + lo, s))
    t = (clamped - left)[:, None]  # n x 1
    c = ops.take(coef, k, axis=0)  # n x 6 x M1
    out = None
    for p in range(DEGREE, order - 1, -1):
        term = c[:, p, :] * float(_falling(p, order))
        out = term if out is None else out * t + term
    if out is None:  # order above the degree
        return 0.0 * c[:, 0, :]
    if order > 0:
        inside = ops.astype((s >= lo) & (s <= end), ops.dtype_of(s))[:, None]
        out = out * inside
    return out


def tab_contract(ops, coef, s, r, grid):
    """sum over slots n of r[..., n, :]^T G(s[..., n]), the descriptor's R~^T G with the
    embedding read from a table: s ... x w, r ... x w x 4 -> ... x 4 x M1. The definition
    (``tab_eval`` and a product); backends fuse the two in a native kernel, which never holds G."""
    shape = ops.shape(s)
    g = ops.reshape(ops.tab_eval(coef, ops.reshape(s, (-1,)), grid, 0), (*shape, ops.shape(coef)[-1]))
    return ops.einsum("flnd,flnm->fldm", r, g)


def hermite_coefficients(x, y, d1, d2):
    """Quintic Hermite coefficients (n-1 x 6 x M) on the intervals of the sorted knots x (n) from
    the values y and derivatives d1, d2 (n x M) at the knots."""
    h = np.diff(x)[:, None]
    a0, a1, a2 = y[:-1], d1[:-1], d2[:-1] / 2.0
    dy = y[1:] - (a0 + a1 * h + a2 * h * h)  # what the cubic to quintic terms must add at the right end
    dd1 = (d1[1:] - (a1 + 2.0 * a2 * h)) * h
    dd2 = (d2[1:] - 2.0 * a2) * h * h
    a3 = (10.0 * dy - 4.0 * dd1 + 0.5 * dd2) / h**3
    a4 = (-15.0 * dy + 7.0 * dd1 - dd2) / h**4
    a5 = (6.0 * dy - 3.0 * dd1 + 0.5 * dd2) / h**5
    return np.stack([a0, a1, a2, a3, a4, a5], axis=1)


def make_grid(lo, hi, step, extrapolate, frequency):
    """The grid of a table over [lo, hi] with intervals ``step`` wide, continued with intervals
    ``frequency * step`` wide up to lo + extrapolate * (hi - lo) (DeePMD-kit's ``dp compress``
    -s, -e and -f)."""
    if not (0 < step < math.inf and 1 <= extrapolate < math.inf and 1 <= frequency < math.inf):
        raise ValueError(f"compress: need a finite step > 0, extrapolate >= 1 and frequency >= 1 "
                         f"(got {step}, {extrapolate}, {frequency})")
    if not (math.isfinite(lo) and math.isfinite(hi) and hi > lo):
        raise ValueError(f"compress: bad table range [{lo}, {hi}]")
    n1 = max(1, int(math.ceil((hi - lo) / step - 1e-9)))
    h2 = step * frequency
    n2 = int(math.ceil((extrapolate - 1.0) * (hi - lo) / h2 - 1e-9)) if extrapolate > 1 else 0
    if n1 + n2 > MAX_INTERVALS:
        raise ValueError(f"compress: a table of {n1 + n2} intervals over [{lo:.4g}, {hi:.4g}] "
                         f"(more than {MAX_INTERVALS}): take a larger step, or check the smallest "
                         "neighbor distance, which sets the range")
    return [float(lo), float(step), float(n1), float(h2), float(n2)]


def build_table(net, variables, grid):
    """coef (n1 + n2 x 6 x M1, the net's precision) of one embedding net on a grid."""
    x = knots(grid)
    v64 = {"layers": [{k: np.asarray(a, np.float64) for k, a in layer.items()} for layer in variables["layers"]]}
    y, d1, d2 = net.call_derivs(numpy_ops, v64, x[:, None])
    return hermite_coefficients(x, y, d1, d2).astype(np.dtype(net.precision))


__all__ = ["tab_eval", "tab_contract", "build_table", "make_grid", "knots", "grid_bounds", "hermite_coefficients"]
