"""Learning curves from ``lcurve.out`` (dptensor's or DeePMD-kit's): one log-scale panel per
quantity, training and validation RMSE against the step, and the learning rate.

The file (see ``dptensor.train.lcurve``) starts with ``# step rmse_val rmse_trn rmse_e_val
rmse_e_trn ... lr``; every other line is one row of numbers, ``nan`` where a quantity had no label.
"""

import math

import numpy as np

from dptensor.errors import DataError
from dptensor.plot.figure import check_output, panel_grid, save_figure

SETS = {"trn": "training", "val": "validation"}
STYLE = {"trn": {"color": "tab:blue"}, "val": {"color": "tab:orange"}}
# column stem -> panel title (the energy and virial RMSEs are per atom, see dptensor.train.loss)
TITLES = {
    "rmse": "total loss (sqrt of the weighted sum)",
    "rmse_e": "energy per atom (eV)",
    "rmse_f": "force (eV/A)",
    "rmse_v": "virial per atom (eV)",
    "rmse_ae": "atom energy (eV)",
    "rmse_h": "Hessian (eV/A^2)",
    "rmse_lc": "atomic tensor",
    "rmse_gl": "global tensor (per selected atom)",
    "lr": "learning rate",
}
STEP, LR = "step", "lr"


def read_lcurve(path):
    """lcurve.out -> {column name: float64 array}, rows in file order (``nan`` kept).

    DataError for a missing file, a missing header or a row of another length."""
    try:
        with open(path) as fh:
            lines = fh.read().splitlines()
    except OSError as err:
        raise DataError(f"{path}: cannot read the learning curve ({err.strerror})") from None
    if not lines or not lines[0].startswith("#"):
        raise DataError(f"{path}: no header line '# step rmse_trn ... lr'; is it an lcurve.out?")
    names = lines[0].lstrip("#").split()
    if not names or names[0] != STEP:
        raise DataError(f"{path}: the header {names} does not start with 'step'")
    rows = []
    for lineno, line in enumerate(lines[1:], start=2):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        fields = line.split()
        if len(fields) != len(names):
            raise DataError(f"{path}:{lineno}: {len(fields)} values, but the header names "
                            f"{len(names)} columns")
        try:
            rows.append([float(x) for x in fields])
        except ValueError:
            raise DataError(f"{path}:{lineno}: not a row of numbers: {line.strip()!r}") from None
    if not rows:
        raise DataError(f"{path}: the learning curve has no rows yet")
    table = np.array(rows, dtype=np.float64)
    keep = latest_rows(table[:, 0])
    return {name: table[keep, i] for i, name in enumerate(names)}


def latest_rows(steps):
    """Indices of the rows that tell the latest story: a restart appends rows from its
    checkpoint's step on, which supersede the earlier run's rows at those and later steps."""
    keep, lowest = [], math.inf
    for i in range(len(steps) - 1, -1, -1):
        if steps[i] < lowest:
            keep.append(i)
            lowest = steps[i]
    return np.array(keep[::-1], dtype=np.int64)


def lcurve_panels(columns):
    """{column: values} -> [(stem, {"trn"|"val"|"lr": column name})], one per panel, in file
    order; columns holding only nan are left out, and so are panels left empty."""
    panels = {}
    for name in columns:
        if name == STEP or np.isnan(columns[name]).all():
            continue
        stem, _, which = name.rpartition("_")
        if name == LR:
            stem, which = LR, LR
        elif which not in SETS:
            stem, which = name, "trn"  # a column of another tool: plot it as it is
        panels.setdefault(stem, {})[which] = name
    return list(panels.items())


def _draw_panel(ax, steps, columns, stem, lines):
    for which, name in sorted(lines.items(), key=lambda item: item[0] != "trn"):
        label = SETS.get(which)
        ax.plot(steps, columns[name], label=label, lw=1.4, **STYLE.get(which, {"color": "k"}))
    ax.set_yscale("log")
    ax.set_title(TITLES.get(stem, stem), fontsize=11)
    ax.set_xlabel("step")
    ax.set_ylabel("RMSE" if stem != LR else "lr")
    ax.grid(True, which="major", alpha=0.35)
    ax.grid(True, which="minor", alpha=0.12)
    if any(w in SETS for w in lines):
        ax.legend(frameon=False, fontsize=9)


def plot_lcurve(lcurve_path, output):
    """Draw ``lcurve_path`` into the image file ``output`` (.png, .pdf or .svg); returns the
    output path. The y axes are logarithmic (values <= 0 are not drawn)."""
    check_output(output)
    columns = read_lcurve(lcurve_path)
    panels = lcurve_panels(columns)
    if not panels:
        raise DataError(f"{lcurve_path}: every column is nan; nothing to plot")
    fig, axes = panel_grid(len(panels))
    for ax, (stem, lines) in zip(axes, panels):
        _draw_panel(ax, columns[STEP], columns, stem, lines)
    fig.suptitle(f"learning curve: {lcurve_path}", fontsize=12)
    return save_figure(fig, output)


__all__ = ["latest_rows", "lcurve_panels", "plot_lcurve", "read_lcurve"]
