"""Model compression (``dpt compress``): the se_e2_a descriptor's embedding nets replaced by tables
(``dptensor.model.tabulate``), as DeePMD-kit's ``dp compress`` does.

An embedding net's input is the normalized radial value s = (R0 - davg) / dstd of a slot, with
R0 = sw(r) / r. It is smallest for an empty slot or a neighbor at the cutoff (R0 = 0) and largest
for the closest neighbor, R0 <= 1 / r_min. So a table of net k (center type ti, neighbor type tj,
or tj alone with ``type_one_side``) spans [lo, hi]:

    lo = min over its slots of (0 - davg) / dstd,   hi = max over its slots of (1 / r_min - davg) / dstd

with r_min the smallest neighbor distance of the training data (``min_nbor_dist``), in
intervals ``step`` wide, continued to lo + extrapolate * (hi - lo) with intervals ``frequency``
times wider, for configurations closer than the training data came.
"""

import numpy as np

from dptensor.errors import DptError
from dptensor.model.ops import numpy_ops
from dptensor.model.tabulate import build_table, knots, make_grid, tab_eval

DEFAULTS = {"step": 0.01, "extrapolate": 5.0, "frequency": 10}  # dp compress's -s, -e, -f


def net_slots(desc, k):
    """(center types, first slot, slot count) of the slots that embedding net k serves."""
    if desc.type_one_side:
        centers, tj = list(range(desc.ntypes)), k
    else:
        centers, tj = [k // desc.ntypes], k % desc.ntypes
    return centers, int(sum(desc.sel[:tj])), int(desc.sel[tj])


def net_range(desc, k, min_nbor_dist):
    """(lo, hi) of net k's input over the data (see the module docstring)."""
    centers, start, n = net_slots(desc, k)
    v = desc.variables
    if n == 0:  # a type with no slots: the net never runs; any range will do
        centers, start, n = centers, 0, max(1, desc.nnei)
    davg = np.asarray(v["davg"])[centers, start:start + n, 0]
    dstd = np.asarray(v["dstd"])[centers, start:start + n, 0]
    return float(np.min(-davg / dstd)), float(np.max((1.0 / min_nbor_dist - davg) / dstd))


def table_error(desc, k, coef, grid):
    """Largest |table - net| over the interval midpoints of net k, relative to max |net|."""
    x = knots(grid)
    mid = 0.5 * (x[1:] + x[:-1])
    net = desc.nets[k].call(numpy_ops, desc.variables["embeddings"][k], mid[:, None].astype(coef.dtype))
    diff = tab_eval(numpy_ops, coef, mid.astype(coef.dtype), grid) - net
    return float(np.max(np.abs(diff)) / max(np.max(np.abs(net)), 1e-300))


def compress_model(model, min_nbor_dist, step=DEFAULTS["step"], extrapolate=DEFAULTS["extrapolate"],
                   frequency=DEFAULTS["frequency"]):
    """Tabulate the descriptor's embedding nets (in place) -> the largest relative table error
    (``table_error``) over the nets."""
    desc = model.descriptor
    if desc.compress is not None:
        raise DptError("the model is already compressed")
    if not (min_nbor_dist > 0 and np.isfinite(min_nbor_dist)):
        raise DptError(f"min_nbor_dist must be a positive distance in Angstrom (got {min_nbor_dist})")
    grids, tables, worst = [], [], 0.0
    for k in range(desc.n_nets):
        lo, hi = net_range(desc, k, min_nbor_dist)
        grid = make_grid(lo, hi, step, extrapolate, frequency)
        coef = build_table(desc.nets[k], desc.variables["embeddings"][k], grid)
        worst = max(worst, table_error(desc, k, coef, grid))
        grids.append(grid)
        tables.append(coef)
    desc.compress = {"min_nbor_dist": float(min_nbor_dist), "step": float(step),
                     "extrapolate": float(extrapolate), "frequency": int(frequency), "grids": grids}
    desc.variables["tables"] = tables
    return worst


def table_bytes(model):
    """Size of a compressed model's tables in bytes (0 when not compressed)."""
    return int(sum(np.asarray(t).nbytes for t in model.descriptor.variables.get("tables", [])))


__all__ = ["compress_model", "net_range", "table_error", "table_bytes", "DEFAULTS"]
