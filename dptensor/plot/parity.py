"""Parity plots of ``dpt test --plot``: predicted against reference values, one panel per compared
quantity, pooled over all systems, with the RMSE in the legend."""

from dataclasses import dataclass

import numpy as np

from dptensor.errors import DataError
from dptensor.plot.figure import check_output, panel_grid, plain_ticks, save_figure

# a panel draws at most this many points (an even stride through the values): beyond it a
# scatter is a solid cloud and the file grows for nothing. The RMSE uses every value.
MAX_POINTS = 50_000
PANEL_SIZE = (3.9, 3.9)  # square panels: the diagonal is at 45 degrees


@dataclass
class ParityPanel:
    """One quantity: ``data`` and ``pred`` are flat float64 arrays of equal length."""

    title: str
    unit: str
    data: np.ndarray
    pred: np.ndarray
    rmse: float


def parity_panels(results, quantities):
    """``test_model(..., keep_values=True)`` results -> ParityPanel per quantity that any
    system compared, in the order of ``quantities`` (``dptensor.testing.quantities``)."""
    panels = []
    for q in quantities:
        found = [r["values"][q.name] for r in results["systems"] if q.name in r.get("values", {})]
        if not found:
            continue
        data = np.concatenate([np.ravel(d) for d, _ in found])
        pred = np.concatenate([np.ravel(p) for _, p in found])
        panels.append(ParityPanel(q.title, q.unit, data, pred, results["total"][q.name]["rmse"]))
    return panels


def _thin(x, y):
    step = max(1, -(-x.size // MAX_POINTS))
    return x[::step], y[::step]


def _draw_panel(ax, panel):
    unit = f" ({panel.unit})" if panel.unit else ""
    x, y = _thin(panel.data, panel.pred)
    lo = float(min(x.min(), y.min()))
    hi = float(max(x.max(), y.max()))
    pad = 0.04 * (hi - lo) if hi > lo else max(abs(hi), 1.0) * 0.04
    lo, hi = lo - pad, hi + pad
    ax.plot([lo, hi], [lo, hi], color="0.45", lw=1.0, ls="--", zorder=1)
    # a few points must be visible, a cloud of many must not become one blot
    label = f"RMSE = {panel.rmse:.3e}{unit}\n{panel.data.size} values"
    ax.scatter(x, y, s=14 if x.size < 1000 else 5, alpha=0.55, linewidths=0, color="tab:blue",
               zorder=2, rasterized=True, label=label)
    ax.set_xlim(lo, hi)
    ax.set_ylim(lo, hi)
    ax.set_aspect("equal", adjustable="box")
    plain_ticks(ax, nbins=4)
    ax.set_title(panel.title, fontsize=11)
    ax.set_xlabel(f"reference{unit}")
    ax.set_ylabel(f"predicted{unit}")
    ax.grid(True, alpha=0.3)
    ax.legend(loc="upper left", frameon=False, fontsize=9, markerscale=2.5, handletextpad=0.2)


def plot_parity(panels, output, title=None):
    """Draw ParityPanels into the image file ``output`` (.png, .pdf or .svg); returns its path."""
    check_output(output)
    panels = [p for p in panels if np.size(p.data)]
    if not panels:
        raise DataError("no quantity was compared, so there is nothing to plot")
    fig, axes = panel_grid(len(panels), PANEL_SIZE)
    for ax, panel in zip(axes, panels):
        _draw_panel(ax, panel)
    if title:
        fig.suptitle(title, fontsize=12)
    return save_figure(fig, output)


__all__ = ["MAX_POINTS", "ParityPanel", "parity_panels", "plot_parity"]
